//! HTTP/1.1 client wire format, written by hand so that the generator costs little per request.
//!
//! * [`write_request_head`] appends a request head to a reused buffer (no allocation once the
//!   buffer has grown to its working size).
//! * [`ResponseReader`] parses a status line and headers and then consumes the body, framed by
//!   `Content-Length`, `Transfer-Encoding: chunked`, or the connection's end. Body bytes pass
//!   through one reused buffer and are discarded, or copied into a caller's buffer up to a limit
//!   (the `list` phase needs the XML, error responses need their message).
//!
//! Invariants: the reader never drops bytes that belong to the next response on the same
//! connection (keep-alive and pipelining are safe); every head and chunk-size line is bounded
//! (`RESPONSE_HEAD_BYTES_MAX`, `CHUNK_LINE_BYTES_MAX`), so a broken peer cannot make it grow.

use std::io::{self, IoSlice, Read, Write};
use std::time::Instant;

/// A response head larger than this is refused: S3 heads are a few hundred bytes.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Per-connection read buffer. Large enough that a 64 MiB body takes ~256 reads, small enough
/// that 1,024 connections fit in 256 MiB.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;
/// A chunk-size line (hex size plus extensions) or a trailer line longer than this is refused.
const CHUNK_LINE_BYTES_MAX: usize = 4 * 1024;
/// At most this many 1xx interim responses are skipped before the final one.
const INTERIM_RESPONSES_MAX: usize = 8;

#[derive(Debug)]
pub enum HttpError {
    Io(io::Error),
    /// The peer closed the connection before a complete response arrived.
    Closed,
    HeadTooLarge,
    Malformed(&'static str),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
            HttpError::Closed => f.write_str("connection closed before a complete response"),
            HttpError::HeadTooLarge => f.write_str("response head too large"),
            HttpError::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// What the caller learns about one response; the body itself was discarded or collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Bytes of body received (after de-chunking).
    pub body_bytes: u64,
    /// False when the server asked to close, or the body ran to the connection's end.
    pub keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    NoBody,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    framing: Framing,
    keep_alive: bool,
}

/// Where body bytes go: discarded, or appended to `buf` until it holds `limit` bytes.
pub struct Collect<'a> {
    pub buf: &'a mut Vec<u8>,
    pub limit: usize,
}

/// Appends `METHOD target HTTP/1.1` and the given headers to `out`. `target` is the
/// already-encoded path plus `?query` when there is one. `Content-Length` is written when
/// `content_length` is `Some`.
pub fn write_request_head(
    out: &mut Vec<u8>,
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    content_length: Option<u64>,
    headers: &[(&str, &str)],
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(length) = content_length {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, length);
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `value` without going through `fmt`.
pub fn push_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes `head` then `body` with as few system calls as the kernel allows (one `writev` for a
/// small request), handling short writes.
pub fn write_head_and_body<W: Write>(out: &mut W, mut head: &[u8], mut body: &[u8]) -> io::Result<()> {
    while !head.is_empty() {
        let written = match out.write_vectored(&[IoSlice::new(head), IoSlice::new(body)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if written < head.len() {
            head = &head[written..];
        } else {
            body = &body[written - head.len()..];
            head = &[];
        }
    }
    out.write_all(body)
}

/// Writes `head`, then `bytes` of body made of `pattern` repeated (the last copy cut short):
/// a body larger than any buffer the generator holds (a 1 GiB preload) streams from a shorter
/// one. The first piece goes out with the head in one `writev`, as for any other request.
pub fn write_head_and_repeated_body<W: Write>(out: &mut W, head: &[u8], pattern: &[u8], bytes: u64) -> io::Result<()> {
    assert!(bytes == 0 || !pattern.is_empty(), "a body needs a pattern to repeat");
    let first = pattern.len().min(usize::try_from(bytes).unwrap_or(usize::MAX));
    write_head_and_body(out, head, &pattern[..first])?;
    let mut left = bytes - first as u64;
    while left > 0 {
        let piece = pattern.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        out.write_all(&pattern[..piece])?;
        left -= piece as u64;
    }
    Ok(())
}

/// Reads responses from one connection, keeping bytes that arrive early for the next response.
pub struct ResponseReader {
    buf: Box<[u8]>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// When the first byte of the response being read arrived (time to first byte); set by
    /// the first read that returns data, or at the start when bytes were already buffered.
    first_byte_at: Option<Instant>,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self::with_capacity(READ_BUFFER_BYTES)
    }
}

impl ResponseReader {
    pub fn with_capacity(bytes: usize) -> Self {
        assert!(bytes >= RESPONSE_HEAD_BYTES_MAX, "the buffer must hold a whole head");
        ResponseReader { buf: vec![0u8; bytes].into_boxed_slice(), start: 0, end: 0, first_byte_at: None }
    }

    /// Forgets buffered bytes: call when the connection is replaced.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// When the first byte of the last response read arrived (`None` if nothing arrived).
    pub fn first_byte_at(&self) -> Option<Instant> {
        self.first_byte_at
    }

    /// Bytes already received beyond the last complete response.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads one complete response. `head_request` must be true for a HEAD request, whose
    /// response carries `Content-Length` but no body.
    pub fn read_response<R: Read>(
        &mut self,
        src: &mut R,
        head_request: bool,
        mut collect: Option<Collect<'_>>,
    ) -> Result<Response, HttpError> {
        self.first_byte_at = (self.start < self.end).then(Instant::now);
        let mut interim = 0;
        let head = loop {
            let head = self.read_head(src, head_request)?;
            if (100..200).contains(&head.status) {
                interim += 1;
                if interim > INTERIM_RESPONSES_MAX {
                    return Err(HttpError::Malformed("too many 1xx responses"));
                }
                continue;
            }
            break head;
        };
        let body_bytes = match head.framing {
            Framing::NoBody => 0,
            Framing::Length(length) => {
                self.consume(src, length, &mut collect)?;
                length
            }
            Framing::Chunked => self.consume_chunked(src, &mut collect)?,
            Framing::UntilClose => self.consume_until_close(src, &mut collect)?,
        };
        let keep_alive = head.keep_alive && head.framing != Framing::UntilClose;
        Ok(Response { status: head.status, body_bytes, keep_alive })
    }

    /// Reads more bytes after `end`, compacting first when the buffer's tail is full.
    /// Returns the number of bytes read (0 at end of stream).
    fn fill<R: Read>(&mut self, src: &mut R) -> Result<usize, HttpError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            match src.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    if n > 0 && self.first_byte_at.is_none() {
                        self.first_byte_at = Some(Instant::now());
                    }
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(HttpError::Io(e)),
            }
        }
    }

    fn read_head<R: Read>(&mut self, src: &mut R, head_request: bool) -> Result<Head, HttpError> {
        // Bytes before `scanned` are known not to start "\r\n\r\n".
        let mut scanned = self.start;
        loop {
            if let Some(at) = find(&self.buf[scanned..self.end], b"\r\n\r\n") {
                let head_end = scanned + at + 4;
                let head = parse_head(&self.buf[self.start..head_end], head_request)?;
                self.start = head_end;
                return Ok(head);
            }
            if self.end - self.start >= RESPONSE_HEAD_BYTES_MAX {
                return Err(HttpError::HeadTooLarge);
            }
            let offset = self.end.saturating_sub(3).max(self.start) - self.start;
            if self.fill(src)? == 0 {
                return Err(HttpError::Closed);
            }
            // `fill` may have moved the unconsumed bytes to the front.
            scanned = self.start + offset;
        }
    }

    /// Consumes exactly `length` body bytes.
    fn consume<R: Read>(
        &mut self,
        src: &mut R,
        mut length: u64,
        collect: &mut Option<Collect<'_>>,
    ) -> Result<(), HttpError> {
        while length > 0 {
            if self.start == self.end && self.fill(src)? == 0 {
                return Err(HttpError::Closed);
            }
            let available = (self.end - self.start) as u64;
            let take = available.min(length) as usize;
            if let Some(c) = collect.as_mut() {
                let room = c.limit.saturating_sub(c.buf.len()).min(take);
                c.buf.extend_from_slice(&self.buf[self.start..self.start + room]);
            }
            self.start += take;
            length -= take as u64;
        }
        Ok(())
    }

    fn consume_until_close<R: Read>(
        &mut self,
        src: &mut R,
        collect: &mut Option<Collect<'_>>,
    ) -> Result<u64, HttpError> {
        let mut total = 0u64;
        loop {
            let available = (self.end - self.start) as u64;
            self.consume(src, available, collect)?;
            total += available;
            if self.fill(src)? == 0 {
                return Ok(total);
            }
        }
    }

    fn consume_chunked<R: Read>(&mut self, src: &mut R, collect: &mut Option<Collect<'_>>) -> Result<u64, HttpError> {
        let mut total = 0u64;
        loop {
            let (line_start, line_end) = self.read_line(src)?;
            let size = parse_chunk_size(&self.buf[line_start..line_end])?;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    let (a, b) = self.read_line(src)?;
                    if a == b {
                        return Ok(total);
                    }
                }
            }
            self.consume(src, size, collect)?;
            total = total.checked_add(size).ok_or(HttpError::Malformed("chunked body too large"))?;
            let (a, b) = self.read_line(src)?;
            if a != b {
                return Err(HttpError::Malformed("chunk not followed by CRLF"));
            }
        }
    }

    /// Consumes one line and returns its bounds in `buf`, without the line ending. The bounds
    /// stay valid until the next `fill`.
    fn read_line<R: Read>(&mut self, src: &mut R) -> Result<(usize, usize), HttpError> {
        let mut scanned = 0;
        loop {
            if let Some(at) = self.buf[self.start + scanned..self.end].iter().position(|&b| b == b'\n') {
                let line_start = self.start;
                let newline = self.start + scanned + at;
                self.start = newline + 1;
                let line_end =
                    if newline > line_start && self.buf[newline - 1] == b'\r' { newline - 1 } else { newline };
                return Ok((line_start, line_end));
            }
            scanned = self.end - self.start;
            if scanned >= CHUNK_LINE_BYTES_MAX {
                return Err(HttpError::Malformed("chunk line too long"));
            }
            if self.fill(src)? == 0 {
                return Err(HttpError::Closed);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or(&[]);
    let digits = trim(digits);
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::Malformed("bad chunk size"));
    }
    let mut size = 0u64;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(HttpError::Malformed("bad chunk size")),
        };
        size = size * 16 + u64::from(v);
    }
    Ok(size)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0')))
}

/// True when the comma-separated header value contains `token`, ignoring case.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

fn parse_head(head: &[u8], head_request: bool) -> Result<Head, HttpError> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().ok_or(HttpError::Malformed("empty head"))?;
    // "HTTP/1.1 200 OK": version, a space, three digits, then an optional reason.
    if status_line.len() < 12 || !status_line.starts_with(b"HTTP/1.") || status_line[8] != b' ' {
        return Err(HttpError::Malformed("bad status line"));
    }
    let http10 = status_line[7] == b'0';
    let status = parse_decimal(&status_line[9..12])
        .filter(|s| (100..600).contains(s))
        .ok_or(HttpError::Malformed("bad status code"))? as u16;
    if status_line.len() > 12 && status_line[12] != b' ' {
        return Err(HttpError::Malformed("bad status line"));
    }
    let mut content_length = None;
    let mut chunked = false;
    let mut keep_alive = !http10;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').ok_or(HttpError::Malformed("header without colon"))?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_decimal(value).ok_or(HttpError::Malformed("bad content-length"))?;
            if content_length.is_some_and(|l| l != length) {
                return Err(HttpError::Malformed("conflicting content-length"));
            }
            content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = has_token(value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            if has_token(value, b"close") {
                keep_alive = false;
            } else if has_token(value, b"keep-alive") {
                keep_alive = true;
            }
        }
    }
    let framing = if head_request || status == 204 || status == 304 || status < 200 {
        Framing::NoBody
    } else if chunked {
        // RFC 9112 6.3: Transfer-Encoding overrides Content-Length.
        Framing::Chunked
    } else if let Some(length) = content_length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    Ok(Head { status, framing, keep_alive })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Hands out at most `step` bytes per read, to exercise every boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.data.len().min(self.step).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn read_all(wire: &[u8], step: usize, head_flags: &[bool]) -> Vec<(Response, Vec<u8>)> {
        let mut reader = ResponseReader::with_capacity(RESPONSE_HEAD_BYTES_MAX);
        let mut src = Trickle { data: wire, step };
        head_flags
            .iter()
            .map(|&head| {
                let mut body = Vec::new();
                let r =
                    reader.read_response(&mut src, head, Some(Collect { buf: &mut body, limit: usize::MAX })).unwrap();
                (r, body)
            })
            .collect()
    }

    #[test]
    fn content_length_body() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\nhello";
        for step in [1, 2, 3, 7, 1000] {
            let got = read_all(wire, step, &[false]);
            assert_eq!(got[0].0, Response { status: 200, body_bytes: 5, keep_alive: true });
            assert_eq!(got[0].1, b"hello");
        }
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nx-trailer: 1\r\n\r\n";
        for step in [1, 2, 5, 1000] {
            let got = read_all(wire, step, &[false]);
            assert_eq!(got[0].0.body_bytes, 15);
            assert_eq!(got[0].1, b"hello, world!!!");
            assert!(got[0].0.keep_alive);
        }
    }

    #[test]
    fn keep_alive_pipeline_keeps_following_responses() {
        let mut wire = Vec::new();
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
        wire.extend_from_slice(b"HTTP/1.1 206 Partial Content\r\ncontent-length: 2\r\n\r\nde");
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"); // HEAD: no body
        wire.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnop\r\n0\r\n\r\n");
        wire.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nz");
        for step in [1, 4, 13, 100_000] {
            let got = read_all(&wire, step, &[false, false, true, false, false, false]);
            let statuses: Vec<u16> = got.iter().map(|(r, _)| r.status).collect();
            assert_eq!(statuses, [200, 206, 200, 404, 204, 200]);
            let bodies: Vec<&[u8]> = got.iter().map(|(_, b)| b.as_slice()).collect();
            assert_eq!(bodies, [&b"abc"[..], b"de", b"", b"nop", b"", b"z"]);
            assert!(got[..5].iter().all(|(r, _)| r.keep_alive));
            assert!(!got[5].0.keep_alive);
        }
    }

    #[test]
    fn body_until_close_and_http10() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nstream";
        let got = read_all(wire, 2, &[false]);
        assert_eq!(got[0].0, Response { status: 200, body_bytes: 6, keep_alive: false });
        let wire = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(read_all(wire, 2, &[false])[0].0.keep_alive);
    }

    #[test]
    fn interim_100_continue_is_skipped() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(read_all(wire, 3, &[false])[0].0.status, 200);
    }

    #[test]
    fn large_body_larger_than_buffer_is_counted_not_kept() {
        let body_len = RESPONSE_HEAD_BYTES_MAX * 5 + 17;
        let mut wire = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n").into_bytes();
        wire.resize(wire.len() + body_len, b'x');
        wire.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let mut reader = ResponseReader::with_capacity(RESPONSE_HEAD_BYTES_MAX);
        let mut src = Cursor::new(wire);
        let mut kept = Vec::new();
        let r = reader.read_response(&mut src, false, Some(Collect { buf: &mut kept, limit: 10 })).unwrap();
        assert_eq!(r.body_bytes, body_len as u64);
        assert_eq!(kept, b"xxxxxxxxxx");
        let r = reader.read_response(&mut src, false, None).unwrap();
        assert_eq!(r.body_bytes, 2);
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn malformed_and_truncated_responses_are_errors() {
        let cases: [&[u8]; 7] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5",
            b"SMTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
        ];
        for wire in cases {
            let mut reader = ResponseReader::with_capacity(RESPONSE_HEAD_BYTES_MAX);
            let result = reader.read_response(&mut Cursor::new(wire), false, None);
            assert!(result.is_err(), "{:?}", String::from_utf8_lossy(wire));
        }
    }

    #[test]
    fn oversized_head_is_refused() {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        while wire.len() <= RESPONSE_HEAD_BYTES_MAX {
            wire.extend_from_slice(b"x-filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut reader = ResponseReader::with_capacity(RESPONSE_HEAD_BYTES_MAX);
        let result = reader.read_response(&mut Cursor::new(wire), false, None);
        assert!(matches!(result, Err(HttpError::HeadTooLarge)));
    }

    #[test]
    fn request_head_layout() {
        let mut out = Vec::new();
        write_request_head(&mut out, "PUT", "/b/k", "", "h:1", Some(4096), &[("Range", "bytes=0-9")]);
        assert_eq!(out, b"PUT /b/k HTTP/1.1\r\nHost: h:1\r\nContent-Length: 4096\r\nRange: bytes=0-9\r\n\r\n");
        out.clear();
        write_request_head(&mut out, "GET", "/b", "list-type=2", "h", None, &[]);
        assert_eq!(out, b"GET /b?list-type=2 HTTP/1.1\r\nHost: h\r\n\r\n");
        for v in [0u64, 7, 10, 4096, u64::MAX] {
            out.clear();
            push_decimal(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }

    #[test]
    fn head_and_body_survive_short_writes() {
        struct Short(Vec<u8>);
        impl Write for Short {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                let n = b.len().min(3);
                self.0.extend_from_slice(&b[..n]);
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = Short(Vec::new());
        write_head_and_body(&mut out, b"head-", b"body").unwrap();
        assert_eq!(out.0, b"head-body");
        let mut out = Short(Vec::new());
        write_head_and_repeated_body(&mut out, b"h:", b"abcd", 10).unwrap();
        assert_eq!(out.0, b"h:abcdabcdab");
        let mut out = Short(Vec::new());
        write_head_and_repeated_body(&mut out, b"h:", b"abcd", 3).unwrap();
        assert_eq!(out.0, b"h:abc");
        let mut out = Short(Vec::new());
        write_head_and_repeated_body(&mut out, b"h:", b"", 0).unwrap();
        assert_eq!(out.0, b"h:");
    }

    #[test]
    fn first_byte_time_is_per_response() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 204 No Content\r\n\r\n";
        let mut src = Cursor::new(&wire[..]);
        let mut reader = ResponseReader::with_capacity(RESPONSE_HEAD_BYTES_MAX);
        assert_eq!(reader.first_byte_at(), None);
        let before = Instant::now();
        reader.read_response(&mut src, false, None).unwrap();
        let first = reader.first_byte_at().expect("bytes arrived");
        assert!(first >= before);
        // The second response was already buffered: its first byte is "now", not the first's.
        reader.read_response(&mut src, false, None).unwrap();
        assert!(reader.first_byte_at().expect("buffered") >= first);
    }
}
