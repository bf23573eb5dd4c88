//! A blocking HTTP/1.1 client over a raw `TcpStream`, so tests keep full control of the bytes
//! on the wire: keep-alive (a connection is re-opened only after `Connection: close` or a
//! failure, so keep-alive is observable through `connections_opened`), pipelining, 1xx
//! interim answers, Content-Length, chunked and close-delimited bodies. Also raw exchanges on
//! fresh connections, for hostile input.
//!
//! Two ways to ask: `request` and its shorthands panic on anything but a complete answer (the
//! integration tests); `try_request` returns a `Failure` instead (the crash workload, whose
//! request in flight when the server is killed must be recorded as "no answer", not crash
//! the worker).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::message::{build_head, find, parse_head, parse_response, Response};

/// Socket read/write timeout: a hung server fails the test instead of hanging CI.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be opened: the request was never sent.
    Connect { addr: SocketAddr, error: std::io::Error },
    /// The request may have been (partly) sent; no complete answer came back.
    NoAnswer(String),
}

impl Failure {
    pub fn was_sent(&self) -> bool {
        matches!(self, Failure::NoAnswer(_))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect { addr, error } => write!(f, "connect {addr}: {error}"),
            Failure::NoAnswer(why) => write!(f, "no answer: {why}"),
        }
    }
}

/// The answer, or a panic saying why there is none (the integration tests' way).
fn answered(result: Result<Response, Failure>) -> Response {
    match result {
        Ok(response) => response,
        Err(Failure::NoAnswer(why)) => panic!("{why}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// A new connection with `timeout` for reads and writes, Nagle off.
fn open_stream(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, Failure> {
    let opened = TcpStream::connect_timeout(&addr, timeout).and_then(|stream| {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(stream)
    });
    opened.map_err(|error| Failure::Connect { addr, error })
}

/// Connects with the test timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    open_stream(addr, IO_TIMEOUT).unwrap_or_else(|failure| panic!("{failure}"))
}

/// A keep-alive HTTP/1.1 connection, opened lazily.
pub struct Client {
    pub addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Bytes received beyond the responses parsed so far (pipelining).
    pending: Vec<u8>,
    pub connections_opened: usize,
    write_error: Option<String>,
    /// Socket read/write timeout (and connect timeout).
    io_timeout: Duration,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client::with_timeout(addr, IO_TIMEOUT)
    }

    /// A client that waits up to `io_timeout` for each read and write.
    pub fn with_timeout(addr: SocketAddr, io_timeout: Duration) -> Client {
        Client { addr, stream: None, pending: Vec::new(), connections_opened: 0, write_error: None, io_timeout }
    }

    fn try_stream(&mut self) -> Result<&mut TcpStream, Failure> {
        if self.stream.is_none() {
            self.stream = Some(open_stream(self.addr, self.io_timeout)?);
            self.connections_opened += 1;
            self.pending.clear();
            self.write_error = None;
        }
        Ok(self.stream.as_mut().expect("connection just opened"))
    }

    /// Drops the current connection; the next request opens a new one.
    pub fn reconnect(&mut self) {
        self.stream = None;
        self.pending.clear();
    }

    /// Sends one request and reads its final response (skipping, but recording, 1xx).
    /// Adds `Host`, and `Content-Length` for PUT/POST or a non-empty body unless the headers
    /// already frame the body (Content-Length or Transfer-Encoding). Panics without an answer.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        answered(self.exchange(method, path, headers, body, true))
    }

    /// Like `request`, without adding a Content-Length.
    pub fn request_unframed(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        answered(self.exchange(method, path, headers, body, false))
    }

    /// Like `request`, but a missing answer is a `Failure`, and the connection is dropped (the
    /// next request opens a new one).
    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Failure> {
        let result = self.exchange(method, path, headers, body, true);
        if result.is_err() {
            self.reconnect();
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        add_length: bool,
    ) -> Result<Response, Failure> {
        let head = build_head(method, path, headers, body.len(), add_length);
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.try_send(&bytes)?;
        self.try_read_final_response(method == "HEAD")
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    pub fn head(&mut self, path: &str) -> Response {
        self.request("HEAD", path, &[], b"")
    }

    pub fn put(&mut self, path: &str, body: &[u8]) -> Response {
        self.request("PUT", path, &[], body)
    }

    pub fn delete(&mut self, path: &str) -> Response {
        self.request("DELETE", path, &[], b"")
    }

    pub fn post(&mut self, path: &str, body: &[u8]) -> Response {
        self.request("POST", path, &[], body)
    }

    /// Writes raw bytes on the current connection. A write error is remembered rather than
    /// fatal: a server may answer and close before reading a whole body, and its answer is
    /// still read (a missing answer then reports the write error).
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(failure) = self.try_send(bytes) {
            panic!("{failure}");
        }
    }

    /// `send`; fails only when no connection can be opened.
    fn try_send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let stream = self.try_stream()?;
        if let Err(error) = stream.write_all(bytes) {
            self.write_error = Some(error.to_string());
        }
        Ok(())
    }

    /// Reads responses until a final (non-1xx) one.
    pub fn read_final_response(&mut self, head_request: bool) -> Response {
        answered(self.try_read_final_response(head_request))
    }

    fn try_read_final_response(&mut self, head_request: bool) -> Result<Response, Failure> {
        let mut interim = Vec::new();
        loop {
            let mut response = self.try_read_response(head_request)?;
            if (100..200).contains(&response.status) {
                interim.push(response.status);
                continue;
            }
            response.interim = interim;
            return Ok(response);
        }
    }

    /// Reads exactly one response (a 1xx included) from the current connection.
    /// `head_request`: the response has no body whatever its Content-Length says.
    pub fn read_response(&mut self, head_request: bool) -> Response {
        if self.stream.is_none() {
            panic!("read_response without a connection");
        }
        answered(self.try_read_response(head_request))
    }

    fn try_read_response(&mut self, head_request: bool) -> Result<Response, Failure> {
        let head_end = loop {
            if let Some(end) = find(&self.pending, b"\r\n\r\n") {
                break end + 4;
            }
            if self.try_fill()? == 0 {
                return Err(Failure::NoAnswer(format!(
                    "connection closed before a complete response head (write error: {:?}); got {:?}",
                    self.write_error,
                    String::from_utf8_lossy(&self.pending)
                )));
            }
        };
        let head_bytes: Vec<u8> = self.pending.drain(..head_end).collect();
        let (status, reason, headers) = parse_head(&head_bytes).map_err(Failure::NoAnswer)?;
        let mut response = Response { status, reason, headers, body: Vec::new(), interim: Vec::new() };
        let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
        if !bodiless {
            let chunked = response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
            if chunked {
                response.body = self.try_read_chunked_body()?;
            } else if let Some(length) = response.header("content-length") {
                let length: usize =
                    length.trim().parse().map_err(|_| Failure::NoAnswer(format!("bad Content-Length {length:?}")))?;
                while self.pending.len() < length {
                    if self.try_fill()? == 0 {
                        return Err(Failure::NoAnswer(format!(
                            "connection closed after {} of {length} body bytes; head:\n{}",
                            self.pending.len(),
                            String::from_utf8_lossy(&head_bytes)
                        )));
                    }
                }
                response.body = self.pending.drain(..length).collect();
            } else {
                // No framing: the body runs to the end of the connection.
                while self.try_fill()? > 0 {}
                response.body = std::mem::take(&mut self.pending);
            }
        }
        if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.stream = None;
            self.write_error = None;
        }
        Ok(response)
    }

    /// The pending bytes up to the next CRLF (removed, CRLF included), reading more as needed.
    fn try_read_line(&mut self, inside: &str) -> Result<Vec<u8>, Failure> {
        loop {
            if let Some(end) = find(&self.pending, b"\r\n") {
                let mut line: Vec<u8> = self.pending.drain(..end + 2).collect();
                line.truncate(end);
                return Ok(line);
            }
            if self.try_fill()? == 0 {
                return Err(Failure::NoAnswer(format!("connection closed inside {inside}")));
            }
        }
    }

    fn try_read_chunked_body(&mut self) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        loop {
            let line = self.try_read_line("a chunked body")?;
            let text = String::from_utf8_lossy(&line).into_owned();
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| Failure::NoAnswer(format!("bad chunk size line {text:?}")))?;
            if size == 0 {
                // Trailers up to the empty line.
                while !self.try_read_line("chunked trailers")?.is_empty() {}
                return Ok(body);
            }
            while self.pending.len() < size + 2 {
                if self.try_fill()? == 0 {
                    return Err(Failure::NoAnswer("connection closed inside a chunk".into()));
                }
            }
            body.extend(self.pending.drain(..size));
            self.pending.drain(..2);
        }
    }

    /// Reads more bytes into `pending`; 0 at end of stream (or reset).
    fn try_fill(&mut self) -> Result<usize, Failure> {
        let mut buffer = [0u8; 64 * 1024];
        let Some(stream) = self.stream.as_mut() else {
            return Err(Failure::NoAnswer("no connection to read from".into()));
        };
        loop {
            match stream.read(&mut buffer) {
                Ok(read) => {
                    self.pending.extend_from_slice(&buffer[..read]);
                    return Ok(read);
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(Failure::NoAnswer(format!(
                        "the server did not answer within {:?} (got so far: {:?})",
                        self.io_timeout,
                        String::from_utf8_lossy(&self.pending)
                    )));
                }
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(0),
                Err(error) => return Err(Failure::NoAnswer(format!("reading the response: {error}"))),
            }
        }
    }

    /// Whether the server closed the connection: end of stream (or reset) within `wait`,
    /// with no further bytes. `false` when the connection stays open and silent.
    pub fn server_closed(&mut self, wait: Duration) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            // Already dropped after `Connection: close`: probe a fresh read is impossible.
            return true;
        };
        closed_within(stream, wait, &mut self.pending)
    }

    /// The underlying stream (opening it if needed), for half-closes and partial writes.
    pub fn raw_stream(&mut self) -> &mut TcpStream {
        match self.try_stream() {
            Ok(stream) => stream,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Bytes received but not parsed yet.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// Sends raw bytes on a NEW connection and returns everything the server sent back until
    /// it closed the connection, or until one complete response arrived and nothing more came
    /// within 300 ms.
    pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
        send_raw_full(addr, bytes).bytes
    }
}

/// The result of `send_raw_full`.
pub struct RawReply {
    pub bytes: Vec<u8>,
    /// The server closed the connection (end of stream or reset).
    pub closed: bool,
}

impl RawReply {
    /// The first response in `bytes`, parsed.
    pub fn response(&self) -> Response {
        parse_response(&self.bytes)
            .unwrap_or_else(|| panic!("no complete response in {:?}", String::from_utf8_lossy(&self.bytes)))
    }
}

/// Sends `bytes` on a new connection; reads until close, or a complete response plus 300 ms of
/// silence. Write errors (the server may refuse and close before reading everything) are
/// ignored: what it answered is still read.
pub fn send_raw_full(addr: SocketAddr, bytes: &[u8]) -> RawReply {
    let mut stream = connect(addr);
    let _ = stream.write_all(bytes);
    read_reply(&mut stream)
}

/// Reads what the server answers on `stream` (see `send_raw_full`).
pub fn read_reply(stream: &mut TcpStream) -> RawReply {
    let mut received = Vec::new();
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let complete = parse_response(&received).is_some();
        let wait =
            if complete { Duration::from_millis(300) } else { deadline.saturating_duration_since(Instant::now()) };
        if wait.is_zero() {
            panic!("no complete response within {IO_TIMEOUT:?}; got {:?}", String::from_utf8_lossy(&received));
        }
        stream.set_read_timeout(Some(wait)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return RawReply { bytes: received, closed: true },
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if complete {
                    return RawReply { bytes: received, closed: false };
                }
            }
            Err(error) if matches!(error.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return RawReply { bytes: received, closed: true };
            }
            Err(error) => panic!("reading a raw reply: {error}"),
        }
    }
}

/// Whether `stream` reaches end of stream (or reset) within `wait` with no further bytes.
pub fn closed_within(stream: &mut TcpStream, wait: Duration, extra: &mut Vec<u8>) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0u8; 4096];
    let result = loop {
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(read) => {
                extra.extend_from_slice(&buffer[..read]);
                break false;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) if matches!(error.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                break true
            }
            Err(_) => break false,
        }
    };
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    result
}

/// Half-closes the writing side (the server sees end of stream).
pub fn shutdown_write(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
}
