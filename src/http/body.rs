//! Streaming request bodies: the handler pulls decoded bytes in bounded pieces; nothing is
//! ever buffered whole.
//!
//! Two layers: the transfer framing (`Content-Length` or `Transfer-Encoding: chunked`) and an
//! optional content framing (`aws-chunked`, which SDKs use for streaming signatures and
//! checksum trailers; its decoded bytes are the object). `Expect: 100-continue` is answered
//! when the handler first asks for body bytes, so a request refused before that never makes
//! the client send its body.

use std::fmt;

use http::StatusCode;

use super::chunked::{ChunkDecoder, ChunkError, ChunkEvent};
use super::connection::Connection;
use super::request::RequestHead;
use crate::limits::{BODY_BYTES_PER_S_MIN, CONNECTION_BUFFER_BYTES, READ_TIMEOUT_MS};

/// Checks a body as it streams in: the layer above (SigV4 payload hashes and aws-chunked
/// chunk signatures, in `s3::auth`) sees every chunk boundary, every decoded byte in order,
/// and the trailers. A refusal fails the read that found it, so nothing unverified is ever
/// committed.
pub(crate) trait BodyCheck {
    /// An aws-chunked chunk of `size` bytes starts (0: the last); `extensions` are its size
    /// line's extensions (e.g. `chunk-signature=...`).
    fn chunk_start(&mut self, size: u64, extensions: &str) -> Result<(), CheckFailure>;
    /// Decoded body bytes, in order.
    fn data(&mut self, bytes: &[u8]);
    /// The body is complete; `trailers` are the fields after the last chunk.
    fn end(&mut self, trailers: &[(String, String)]) -> Result<(), CheckFailure>;
}

/// What a `BodyCheck` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckFailure {
    /// A chunk (or trailer) signature of an aws-chunked body.
    ChunkSignature,
    /// The digest of the whole body differs from the one its head announced.
    PayloadDigest,
}

/// Why a body could not be framed or read. `error.rs` maps each to the S3 error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// A `Content-Length` that is not a decimal number.
    InvalidContentLength,
    /// Several `Content-Length` fields that disagree (a request could hide another in its body).
    ConflictingContentLengths,
    /// `Content-Length` and `Transfer-Encoding` together.
    LengthWithTransferEncoding,
    /// A transfer coding other than `chunked`.
    UnsupportedTransferEncoding,
    /// An `x-amz-decoded-content-length` that is not a number.
    InvalidDecodedLength,
    /// The client stopped sending, or could not be sent `100 Continue`, in time.
    Stalled(String),
    /// The body ended before its framing said it would.
    Incomplete(String),
    /// Chunk framing that does not parse.
    Framing(ChunkError),
    /// A `BodyCheck` refused the body.
    Check(CheckFailure),
    /// Larger than the caller's limit (`read_all`).
    TooLarge { limit_bytes: usize },
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::InvalidContentLength => f.write_str("Content-Length is not a number"),
            BodyError::ConflictingContentLengths => f.write_str("conflicting Content-Length headers"),
            BodyError::LengthWithTransferEncoding => f.write_str("Content-Length and Transfer-Encoding together"),
            BodyError::UnsupportedTransferEncoding => {
                f.write_str("Transfer-Encoding other than chunked is not supported")
            }
            BodyError::InvalidDecodedLength => f.write_str("x-amz-decoded-content-length is not a number"),
            BodyError::Stalled(detail) | BodyError::Incomplete(detail) => f.write_str(detail),
            BodyError::Framing(error) => write!(f, "malformed chunked body: {error:?}"),
            BodyError::Check(failure) => write!(f, "body check failed: {failure:?}"),
            BodyError::TooLarge { limit_bytes } => write!(f, "the request body is larger than {limit_bytes} bytes"),
        }
    }
}

impl std::error::Error for BodyError {}

#[derive(Debug)]
enum Transfer {
    Length { remaining: u64 },
    Chunked(ChunkDecoder),
}

/// The state of the current request's body.
pub(crate) struct BodyReader {
    transfer: Transfer,
    /// `aws-chunked` content framing, when the client used it.
    content: Option<ChunkDecoder>,
    /// `x-amz-decoded-content-length` for aws-chunked bodies.
    decoded_length: Option<u64>,
    continue_pending: bool,
    /// The client sent `Expect: 100-continue` (even with an empty body).
    continue_expected: bool,
    finished: bool,
    /// An I/O or framing failure: the connection's byte stream is no longer in step.
    broken: bool,
    continue_sent: bool,
    /// Verification the layer above armed (signatures, payload digest).
    check: Option<Box<dyn BodyCheck>>,
    /// When the handler first asked for body bytes, and raw bytes received since: the body's
    /// deadline grows with what arrives (`BODY_BYTES_PER_S_MIN`).
    started: Option<std::time::Instant>,
    received_bytes: u64,
    /// What the check refused, if it did (authentication refusals are counted by reason).
    check_failure: Option<CheckFailure>,
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyReader")
            .field("transfer", &self.transfer)
            .field("aws_chunked", &self.content.is_some())
            .field("finished", &self.finished)
            .field("broken", &self.broken)
            .field("checked", &self.check.is_some())
            .finish()
    }
}

impl BodyReader {
    /// Works out the body framing from the head.
    pub(crate) fn from_head(head: &RequestHead) -> Result<BodyReader, BodyError> {
        let mut encodings = head.headers.get_all("transfer-encoding").iter();
        let chunked = match (encodings.next(), encodings.next()) {
            (None, _) => false,
            (Some(value), None) if value.as_bytes().eq_ignore_ascii_case(b"chunked") => true,
            _ => return Err(BodyError::UnsupportedTransferEncoding),
        };
        // Several Content-Length fields that disagree would let a request hide another in its
        // body (RFC 9112 section 6.3): refuse them.
        let mut length = None;
        for value in head.headers.get_all("content-length") {
            let parsed = std::str::from_utf8(value.as_bytes())
                .ok()
                .map(str::trim)
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or(BodyError::InvalidContentLength)?;
            if length.is_some_and(|earlier| earlier != parsed) {
                return Err(BodyError::ConflictingContentLengths);
            }
            length = Some(parsed);
        }
        let transfer = match (chunked, length) {
            (true, Some(_)) => return Err(BodyError::LengthWithTransferEncoding),
            (true, None) => Transfer::Chunked(ChunkDecoder::new()),
            (false, length) => Transfer::Length { remaining: length.unwrap_or(0) },
        };
        let aws_chunked = head
            .header("content-encoding")
            .is_some_and(|value| value.split(',').any(|part| part.trim().eq_ignore_ascii_case("aws-chunked")))
            || head.header("x-amz-content-sha256").is_some_and(|value| value.starts_with("STREAMING-"));
        let decoded_length = match head.header("x-amz-decoded-content-length") {
            None => None,
            Some(value) => Some(value.trim().parse::<u64>().map_err(|_| BodyError::InvalidDecodedLength)?),
        };
        let finished = matches!(transfer, Transfer::Length { remaining: 0 });
        Ok(BodyReader {
            transfer,
            content: aws_chunked.then(ChunkDecoder::new),
            decoded_length,
            continue_pending: head.expects_continue() && !finished,
            continue_expected: head.expects_continue(),
            finished,
            broken: false,
            continue_sent: false,
            check: None,
            started: None,
            received_bytes: 0,
            check_failure: None,
        })
    }

    /// Arms a check of the body as it arrives. An empty body is checked at once (a handler
    /// may never read it).
    pub(crate) fn verify(&mut self, mut check: Box<dyn BodyCheck>) -> Result<(), BodyError> {
        if self.finished {
            let checked = check.end(&[]).map_err(BodyError::Check);
            self.note_failure(&checked);
            return checked;
        }
        self.check = Some(check);
        Ok(())
    }

    /// The size of the decoded body when the head tells it (`Content-Length`, or
    /// `x-amz-decoded-content-length` for aws-chunked). `None`: chunked, size unknown.
    pub(crate) fn declared_length(&self) -> Option<u64> {
        if self.content.is_some() {
            return self.decoded_length;
        }
        match self.transfer {
            Transfer::Length { remaining } => Some(remaining),
            Transfer::Chunked(_) => None,
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the final response should be preceded by `100 Continue`: the client asked for
    /// it, the body is complete without one (e.g. `Content-Length: 0`), and none was sent.
    /// Some clients (the botocore bundled with the AWS CLI) misread the next response on a
    /// kept-alive connection when an expected `100 Continue` never came.
    pub(crate) fn owes_interim_continue(&self) -> bool {
        self.continue_expected && self.finished && !self.continue_sent
    }

    /// Raw bytes still expected under Content-Length framing (for draining decisions).
    pub(crate) fn raw_remaining(&self) -> Option<u64> {
        match self.transfer {
            Transfer::Length { remaining } => Some(remaining),
            Transfer::Chunked(_) => None,
        }
    }

    /// Trailer fields of an aws-chunked or chunked body, available once it is finished.
    pub(crate) fn trailers(&self) -> Vec<(String, String)> {
        let mut trailers = Vec::new();
        if let Transfer::Chunked(decoder) = &self.transfer {
            trailers.extend(decoder.trailers.iter().cloned());
        }
        if let Some(decoder) = &self.content {
            trailers.extend(decoder.trailers.iter().cloned());
        }
        trailers
    }

    /// Appends up to `limit` decoded body bytes to `out`. Returns the number appended; 0 means
    /// the body is complete.
    pub(crate) async fn read_into(
        &mut self,
        connection: &mut Connection,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, BodyError> {
        let result = self.read_into_inner(connection, out, limit).await;
        if result.is_err() {
            self.broken = true;
            self.note_failure(&result);
        }
        result
    }

    fn note_failure<T>(&mut self, result: &Result<T, BodyError>) {
        if let Err(BodyError::Check(failure)) = result {
            self.check_failure = Some(*failure);
        }
    }

    /// What the armed check refused, if it refused the body.
    pub(crate) fn check_failure(&self) -> Option<CheckFailure> {
        self.check_failure
    }

    async fn read_into_inner(
        &mut self,
        connection: &mut Connection,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<usize, BodyError> {
        if self.finished || limit == 0 {
            return Ok(0);
        }
        if self.continue_pending {
            self.continue_pending = false;
            self.continue_sent = true;
            let interim = format!("HTTP/1.1 {} Continue\r\n\r\n", StatusCode::CONTINUE.as_u16());
            connection
                .write_all(interim.into_bytes())
                .await
                .map_err(|error| BodyError::Stalled(format!("could not send 100 Continue: {error}")))?;
        }
        let before = out.len();
        if out.capacity() - out.len() < limit {
            out.reserve(limit);
        }
        loop {
            if connection.unread().is_empty() {
                let timeout_ms = self.read_timeout_ms()?;
                if let (Transfer::Length { remaining }, None) = (&mut self.transfer, &self.content) {
                    // Plain length-framed body: read from the socket straight into `out`.
                    let want = (*remaining).min(limit as u64) as usize;
                    let read = connection.read_direct(out, want, timeout_ms).await.map_err(stalled)?;
                    self.received_bytes += read as u64;
                    if read == 0 {
                        return Err(BodyError::Incomplete("the connection closed inside the body".into()));
                    }
                    *remaining -= read as u64;
                    if let Some(check) = &mut self.check {
                        check.data(&out[before..]);
                    }
                    if *remaining == 0 {
                        self.finished = true;
                        self.check_complete()?;
                    }
                    return Ok(read);
                }
                let read = connection.read_more(timeout_ms, CONNECTION_BUFFER_BYTES).await.map_err(stalled)?;
                self.received_bytes += read as u64;
                if read == 0 {
                    return Err(BodyError::Incomplete("the connection closed inside the body".into()));
                }
            }
            let produced_limit = limit - (out.len() - before);
            self.decode_buffered(connection, out, produced_limit)?;
            let produced = out.len() - before;
            if self.finished {
                self.check_complete()?;
            }
            if produced > 0 || self.finished {
                return Ok(produced);
            }
        }
    }

    /// How long the next socket read may wait: `READ_TIMEOUT_MS`, or less when the body's
    /// deadline (a grace of `READ_TIMEOUT_MS` plus one second per `BODY_BYTES_PER_S_MIN`
    /// received) comes sooner. Past the deadline the body is refused as too slow.
    fn read_timeout_ms(&mut self) -> Result<u64, BodyError> {
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        let allowed_ms =
            READ_TIMEOUT_MS.saturating_add(self.received_bytes.saturating_mul(1000) / BODY_BYTES_PER_S_MIN);
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if elapsed_ms >= allowed_ms {
            return Err(BodyError::Stalled(format!(
                "the body arrived slower than {BODY_BYTES_PER_S_MIN} bytes/s ({} bytes in {elapsed_ms} ms)",
                self.received_bytes
            )));
        }
        Ok((allowed_ms - elapsed_ms).min(READ_TIMEOUT_MS))
    }

    /// Decodes from the connection's unread bytes into `out` (at most `limit` raw bytes, so at
    /// most `limit` decoded bytes), showing the check every chunk start and decoded byte in
    /// stream order.
    fn decode_buffered(
        &mut self,
        connection: &mut Connection,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), BodyError> {
        let unread = connection.unread();
        let mut content_error = None;
        let content = &mut self.content;
        let check = &mut self.check;
        let mut deliver = |data: &[u8]| match content {
            Some(decoder) if content_error.is_none() => {
                let mut on_event = |event: ChunkEvent<'_>| match event {
                    ChunkEvent::Start { size, extensions } => {
                        if let Some(check) = check.as_mut() {
                            if let Err(failure) = check.chunk_start(size, extensions) {
                                content_error.get_or_insert(BodyError::Check(failure));
                            }
                        }
                    }
                    ChunkEvent::Data(decoded) => {
                        if let Some(check) = check.as_mut() {
                            check.data(decoded);
                        }
                        out.extend_from_slice(decoded);
                    }
                };
                match decoder.decode_events(data, &mut on_event) {
                    Ok(used) if used < data.len() => {
                        content_error.get_or_insert(BodyError::Framing(ChunkError::BadTrailer));
                    }
                    Ok(_) => {}
                    Err(error) => {
                        content_error.get_or_insert(BodyError::Framing(error));
                    }
                }
            }
            Some(_) => {}
            None => {
                if let Some(check) = check.as_mut() {
                    check.data(data);
                }
                out.extend_from_slice(data);
            }
        };
        let consumed = match &mut self.transfer {
            Transfer::Length { remaining } => {
                let take = (*remaining).min(unread.len() as u64).min(limit as u64) as usize;
                deliver(&unread[..take]);
                *remaining -= take as u64;
                if *remaining == 0 {
                    self.finished = true;
                }
                take
            }
            Transfer::Chunked(decoder) => {
                let take = unread.len().min(limit);
                let used = decoder.decode(&unread[..take], &mut deliver).map_err(BodyError::Framing)?;
                if decoder.is_done() {
                    self.finished = true;
                }
                used
            }
        };
        connection.consume(consumed);
        match content_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// At the end of the body: the aws-chunked framing must be complete and agree with the
    /// announced decoded length, and the check must accept the body and its trailers.
    fn check_complete(&mut self) -> Result<(), BodyError> {
        if let Some(decoder) = &self.content {
            if !decoder.is_done() {
                return Err(BodyError::Incomplete("the aws-chunked body ended before its final chunk".into()));
            }
            if let Some(expected) = self.decoded_length {
                if decoder.decoded_bytes != expected {
                    return Err(BodyError::Incomplete(format!(
                        "decoded {} bytes but x-amz-decoded-content-length is {expected}",
                        decoder.decoded_bytes
                    )));
                }
            }
        }
        let Some(mut check) = self.check.take() else { return Ok(()) };
        // The trailers of the framing that carried the body: an aws-chunked body's own
        // trailer section is what its trailer signature covers.
        let trailers: &[(String, String)] = match (&self.content, &self.transfer) {
            (Some(decoder), _) | (None, Transfer::Chunked(decoder)) => &decoder.trailers,
            (None, Transfer::Length { .. }) => &[],
        };
        check.end(trailers).map_err(BodyError::Check)
    }

    /// Reads a whole small body (an XML document) of at most `max_bytes`.
    pub(crate) async fn read_all(
        &mut self,
        connection: &mut Connection,
        max_bytes: usize,
    ) -> Result<Vec<u8>, BodyError> {
        let too_large = BodyError::TooLarge { limit_bytes: max_bytes };
        if self.declared_length().is_some_and(|length| length > max_bytes as u64) {
            return Err(too_large);
        }
        let mut body = Vec::new();
        loop {
            let room = max_bytes + 1 - body.len();
            if self.read_into(connection, &mut body, room).await? == 0 {
                return Ok(body);
            }
            if body.len() > max_bytes {
                return Err(too_large);
            }
        }
    }

    /// Reads and discards the rest of the body, up to `max_bytes`. Returns whether the body
    /// is now complete (so the connection can serve the next request).
    pub(crate) async fn drain(&mut self, connection: &mut Connection, max_bytes: u64) -> bool {
        if self.finished {
            return true;
        }
        if self.broken || self.continue_pending {
            // The client has not sent the body (it waits for 100 Continue) or the stream is
            // out of step: the connection cannot be reused.
            return false;
        }
        let mut scratch = Vec::with_capacity(CONNECTION_BUFFER_BYTES);
        let mut drained = 0u64;
        while drained <= max_bytes {
            scratch.clear();
            match self.read_into(connection, &mut scratch, CONNECTION_BUFFER_BYTES).await {
                Ok(0) => return true,
                Ok(read) => drained += read as u64,
                Err(_) => return false,
            }
        }
        false
    }
}

fn stalled(error: std::io::Error) -> BodyError {
    BodyError::Stalled(format!("reading the body: {error}"))
}
