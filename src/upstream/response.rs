//! Upstream responses: the head parsed with `httparse::Response` into a status and a
//! `HeaderMap`, the body's framing (RFC 9112 section 6.3), and `ResponseBody`, which streams
//! the body (Content-Length, chunked through `http::chunked::ChunkDecoder`, or up to the close)
//! without ever holding it whole.
//!
//! A body read to its end hands its connection back to the core's pool when both sides keep
//! it alive; a body dropped unread, or one that failed, closes its connection.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use super::body::BodySink;
use super::error::{Stage, TransportError, UpstreamError};
use super::transport::{Connection, Pool};
use crate::http::chunked::ChunkDecoder;
use crate::limits::{
    UPSTREAM_CONNECTION_BUFFER_BYTES, UPSTREAM_RESPONSE_HEADERS_COUNT_MAX, UPSTREAM_RESPONSE_HEAD_BYTES_MAX,
};

/// A parsed response head.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: HeaderMap,
    /// Whether the upstream keeps the connection open after this response.
    pub(crate) keep_alive: bool,
}

impl ResponseHead {
    /// A header's value as text (`None` when absent or not UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: HEAD answers, 1xx, 204 and 304.
    Empty,
    Length(u64),
    Chunked,
    /// Up to the connection's close (an HTTP/1.0-style answer; the connection is not reused).
    UntilClose,
}

/// Parses a head at the start of `buffer`. `Ok(None)`: more bytes are needed.
pub(crate) fn parse_head(buffer: &[u8]) -> Result<Option<(ResponseHead, usize)>, String> {
    let mut fields = [httparse::EMPTY_HEADER; UPSTREAM_RESPONSE_HEADERS_COUNT_MAX];
    let mut response = httparse::Response::new(&mut fields);
    let consumed = match response.parse(buffer) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if buffer.len() >= UPSTREAM_RESPONSE_HEAD_BYTES_MAX => {
            return Err(format!("response head larger than {UPSTREAM_RESPONSE_HEAD_BYTES_MAX} bytes"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(format!("malformed response head: {error}")),
    };
    let status = response.code.ok_or("response head without a status")?;
    let version_minor = response.version.ok_or("response head without a version")?;
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    for field in response.headers.iter() {
        let name =
            HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| format!("bad header name {:?}", field.name))?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| format!("bad value of header {}", field.name))?;
        headers.append(name, value);
    }
    let connection = headers
        .get_all("connection")
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    let keep_alive = match version_minor {
        0 => connection.contains("keep-alive"),
        _ => !connection.contains("close"),
    };
    Ok(Some((ResponseHead { status, headers, keep_alive }, consumed)))
}

/// The framing of `head`'s body (`request_was_head`: a HEAD answer never has one).
pub(crate) fn framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, String> {
    if request_was_head || (100..200).contains(&head.status) || head.status == 204 || head.status == 304 {
        return Ok(Framing::Empty);
    }
    let mut codings = head.headers.get_all("transfer-encoding").iter().peekable();
    if codings.peek().is_some() {
        let last = codings.last().map(|value| String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase());
        let chunked =
            last.is_some_and(|value| value.rsplit(',').next().is_some_and(|coding| coding.trim() == "chunked"));
        // A response whose last coding is not chunked runs to the close (RFC 9112 6.3.4).
        return Ok(if chunked { Framing::Chunked } else { Framing::UntilClose });
    }
    let mut length = None;
    for value in head.headers.get_all("content-length") {
        let parsed: u64 = std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or("Content-Length is not a number")?;
        if length.is_some_and(|previous| previous != parsed) {
            return Err("conflicting Content-Length fields".into());
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    })
}

enum State {
    Length { remaining: u64 },
    Chunked(Box<ChunkDecoder>),
    UntilClose,
    Done,
}

/// A response body being read from its connection. Read it to the end (`read` until 0,
/// `copy_to`, `read_to_end`) to let the connection be reused; dropping it early closes the
/// connection, which is always safe.
pub struct ResponseBody {
    connection: Option<Connection>,
    state: State,
    /// The connection may be pooled once the body ends (both sides keep it alive and the
    /// request was sent whole).
    reusable: bool,
    pool: Rc<Pool>,
    stall: Duration,
    received_bytes: u64,
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").field("received_bytes", &self.received_bytes).finish()
    }
}

impl ResponseBody {
    pub(crate) fn new(
        connection: Connection,
        framing: Framing,
        reusable: bool,
        pool: Rc<Pool>,
        stall: Duration,
    ) -> ResponseBody {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(remaining) => State::Length { remaining },
            Framing::Chunked => State::Chunked(Box::default()),
            Framing::UntilClose => State::UntilClose,
        };
        let reusable = reusable && !matches!(framing, Framing::UntilClose);
        let mut body = ResponseBody { connection: Some(connection), state, reusable, pool, stall, received_bytes: 0 };
        body.finish_if_done();
        body
    }

    /// Body bytes handed out so far.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Appends the next body bytes to `out`, at most up to its capacity (which must leave
    /// room), and gives it back with the count appended; 0 at the end of the body.
    pub async fn read(&mut self, mut out: Vec<u8>) -> (Result<usize, UpstreamError>, Vec<u8>) {
        if out.capacity() == out.len() {
            out.reserve(UPSTREAM_CONNECTION_BUFFER_BYTES);
        }
        let result = match self.state {
            State::Done => return (Ok(0), out),
            State::Length { remaining } => {
                let (result, back) = self.read_length(out, remaining).await;
                out = back;
                result
            }
            State::Chunked(_) => self.read_chunked(&mut out).await,
            State::UntilClose => self.read_until_close(&mut out).await,
        };
        match result {
            Ok(count) => {
                self.received_bytes += count as u64;
                self.finish_if_done();
                (Ok(count), out)
            }
            Err(cause) => {
                self.connection = None;
                self.state = State::Done;
                (Err(UpstreamError::Interrupted { received_bytes: self.received_bytes, cause }), out)
            }
        }
    }

    async fn read_length(&mut self, mut out: Vec<u8>, remaining: u64) -> (Result<usize, TransportError>, Vec<u8>) {
        let Some(connection) = self.connection.as_mut() else { return (Err(lost()), out) };
        let room = (out.capacity() - out.len()) as u64;
        let want = remaining.min(room) as usize;
        let buffered = connection.unread();
        let count = if !buffered.is_empty() {
            let take = want.min(buffered.len());
            out.extend_from_slice(&buffered[..take]);
            connection.consume(take);
            take
        } else {
            let (result, back) = connection.read_direct(out, want, self.stall).await;
            // A timed-out read keeps its buffer; the connection is dropped with the error.
            out = back.unwrap_or_default();
            match result {
                Ok(0) => return (Err(closed(remaining)), out),
                Ok(count) => count,
                Err(error) => return (Err(TransportError::io(Stage::Body, &error)), out),
            }
        };
        let remaining = remaining - count as u64;
        self.state = if remaining == 0 { State::Done } else { State::Length { remaining } };
        (Ok(count), out)
    }

    async fn read_chunked(&mut self, out: &mut Vec<u8>) -> Result<usize, TransportError> {
        let stall = self.stall;
        let (Some(connection), State::Chunked(decoder)) = (self.connection.as_mut(), &mut self.state) else {
            return Err(lost());
        };
        loop {
            if connection.unread().is_empty() {
                let read = connection
                    .read_more(stall, UPSTREAM_CONNECTION_BUFFER_BYTES)
                    .await
                    .map_err(|error| TransportError::io(Stage::Body, &error))?;
                if read == 0 {
                    return Err(TransportError::new(Stage::Body, io::ErrorKind::UnexpectedEof, "chunked body cut off"));
                }
            }
            // Decoded data is never longer than its input: feeding at most the room left in
            // `out` keeps the decoder from handing out more than fits.
            let room = out.capacity() - out.len();
            let input_length = connection.unread().len().min(room);
            let before = out.len();
            let input = &connection.unread()[..input_length];
            let used = decoder
                .decode(input, &mut |data| out.extend_from_slice(data))
                .map_err(|error| TransportError::new(Stage::Body, io::ErrorKind::InvalidData, format!("{error:?}")))?;
            connection.consume(used);
            let produced = out.len() - before;
            if decoder.is_done() {
                self.state = State::Done;
                return Ok(produced);
            }
            if produced > 0 {
                return Ok(produced);
            }
        }
    }

    async fn read_until_close(&mut self, out: &mut Vec<u8>) -> Result<usize, TransportError> {
        let stall = self.stall;
        let Some(connection) = self.connection.as_mut() else { return Err(lost()) };
        if connection.unread().is_empty() {
            let read = connection
                .read_more(stall, UPSTREAM_CONNECTION_BUFFER_BYTES)
                .await
                .map_err(|error| TransportError::io(Stage::Body, &error))?;
            if read == 0 {
                self.state = State::Done;
                return Ok(0);
            }
        }
        let room = out.capacity() - out.len();
        let take = room.min(connection.unread().len());
        out.extend_from_slice(&connection.unread()[..take]);
        connection.consume(take);
        Ok(take)
    }

    fn finish_if_done(&mut self) {
        if matches!(self.state, State::Done) {
            if let Some(connection) = self.connection.take() {
                if self.reusable {
                    self.pool.put(connection);
                }
            }
        }
    }

    /// Streams the rest of the body into `sink` through one buffer of `buffer_bytes`.
    pub async fn copy_to<S: BodySink>(&mut self, sink: &mut S, buffer_bytes: usize) -> Result<u64, UpstreamError> {
        let mut buffer = Vec::with_capacity(buffer_bytes.max(1));
        let mut total = 0;
        loop {
            buffer.clear();
            let (result, back) = self.read(buffer).await;
            buffer = back;
            match result? {
                0 => return Ok(total),
                count => total += count as u64,
            }
            let (result, back) = sink.write(buffer).await;
            buffer = back;
            result.map_err(UpstreamError::Sink)?;
        }
    }

    /// The rest of the body in memory, refusing more than `limit_bytes` (the connection is
    /// then closed).
    pub async fn read_to_end(&mut self, limit_bytes: usize) -> Result<Vec<u8>, UpstreamError> {
        let mut out = Vec::with_capacity(UPSTREAM_CONNECTION_BUFFER_BYTES.min(limit_bytes.max(1)));
        loop {
            if out.len() == out.capacity() {
                if out.len() >= limit_bytes {
                    // One byte more tells a body of exactly the limit from a longer one.
                    let (result, back) = self.read(Vec::with_capacity(1)).await;
                    if result? == 0 {
                        return Ok(out);
                    }
                    drop(back);
                    self.connection = None;
                    self.state = State::Done;
                    return Err(UpstreamError::Protocol(format!("document larger than {limit_bytes} bytes")));
                }
                out.reserve_exact(out.capacity().min(limit_bytes - out.len()).max(1));
            }
            let (result, back) = self.read(out).await;
            out = back;
            if result? == 0 {
                return Ok(out);
            }
        }
    }
}

fn lost() -> TransportError {
    TransportError::new(Stage::Body, io::ErrorKind::NotConnected, "the connection is gone")
}

fn closed(remaining: u64) -> TransportError {
    TransportError::new(
        Stage::Body,
        io::ErrorKind::UnexpectedEof,
        format!("closed with {remaining} body bytes missing"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_with_keep_alive_by_version() {
        let raw = b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\nx-amz-meta-a: 1\r\n\r\nhello";
        let (head, consumed) = parse_head(raw).unwrap().unwrap();
        assert_eq!((head.status, &raw[consumed..]), (200, &b"hello"[..]));
        assert_eq!(head.header("etag"), Some("\"abc\""));
        assert!(head.keep_alive);
        assert_eq!(framing(&head, false), Ok(Framing::Length(5)));
        assert_eq!(framing(&head, true), Ok(Framing::Empty), "a HEAD answer has no body");
        let (head, _) = parse_head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive);
        assert_eq!(framing(&head, false), Ok(Framing::UntilClose));
        let (head, _) = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap().unwrap();
        assert!(!head.keep_alive, "HTTP/1.0 closes unless asked");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none(), "partial");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let head = |raw: &str| parse_head(raw.as_bytes()).unwrap().unwrap().0;
        let chunked = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(framing(&chunked, false), Ok(Framing::Chunked), "chunked wins over a length");
        assert_eq!(framing(&head("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"), false), Ok(Framing::Empty));
        assert_eq!(framing(&head("HTTP/1.1 204 No Content\r\n\r\n"), false), Ok(Framing::Empty));
        assert!(framing(&head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), false).is_err());
        assert!(framing(&head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"), false).is_err());
        let gzip = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(framing(&gzip, false), Ok(Framing::UntilClose));
    }

    #[test]
    fn oversized_and_malformed_heads_are_refused() {
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(UPSTREAM_RESPONSE_HEAD_BYTES_MAX, b'a');
        assert!(parse_head(&huge).is_err());
        assert!(parse_head(b"SMTP ready\r\n\r\n").is_err());
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for index in 0..=UPSTREAM_RESPONSE_HEADERS_COUNT_MAX {
            many.extend_from_slice(format!("h{index}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(parse_head(&many).is_err());
    }
}
