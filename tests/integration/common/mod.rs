//! Shared helpers of the integration tests: a server process per test (fresh data dir,
//! ephemeral port, killed on drop) and a small blocking HTTP/1.1 client over a raw
//! `TcpStream`, so tests keep full control of the bytes on the wire.
#![allow(dead_code)]

use std::fmt;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use md5::{Digest, Md5};

/// How long a test waits for the server to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Socket read/write timeout: a hung server fails the test instead of hanging CI.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The two ways the API is served: path-style at the root and under Alluxio's prefix.
pub const PREFIXES: [&str; 2] = ["", "/api/v1/s3"];

// ------------------------------------------------------------------------------------------
// Server process
// ------------------------------------------------------------------------------------------

/// One `s3core` process on a fresh data dir. Killed (SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub cores: usize,
    extra_args: Vec<String>,
    /// Holds `data/` (the server's data dir) and the servers' stderr logs.
    root: tempfile::TempDir,
    starts: usize,
    /// A data dir chosen by the test (e.g. on a small filesystem) instead of `root/data`.
    data_dir_override: Option<PathBuf>,
}

impl Server {
    /// A server with `--cores 2` and default flags.
    pub fn start() -> Server {
        Server::start_with(2, &[])
    }

    pub fn start_with(cores: usize, extra_args: &[&str]) -> Server {
        Server::start_in(None, cores, extra_args)
    }

    /// A server on `data_dir` (or a fresh temp dir when `None`).
    pub fn start_in(data_dir: Option<PathBuf>, cores: usize, extra_args: &[&str]) -> Server {
        let root = tempfile::Builder::new().prefix("s3core-it-").tempdir().expect("temp dir");
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            cores,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            root,
            starts: 0,
            data_dir_override: data_dir,
        };
        server.spawn();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir_override.clone().unwrap_or_else(|| self.root.path().join("data"))
    }

    fn log_path(&self, start: usize) -> PathBuf {
        self.root.path().join(format!("stderr-{start}.log"))
    }

    /// The stderr of the current process (so far).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("stderr log file");
        let mut command = Command::new(server_binary());
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--cores")
            .arg(self.cores.to_string())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Hermetic: flags only, never the environment of whoever runs the suite.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("S3CORE_") {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().expect("spawn s3core");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut sender = Some(sender);
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if let Some(port) = line.trim().strip_prefix("s3core listening on http://") {
                            if let Some(sender) = sender.take() {
                                let _ = sender.send(port.to_string());
                            }
                        }
                    }
                }
            }
        });
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                self.addr = addr.parse().unwrap_or_else(|_| panic!("bad listening address {addr:?}"));
                self.child = Some(child);
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "s3core did not report its port within {START_TIMEOUT:?} (exit: {status:?}); stderr:\n{}",
                    std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
                );
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }

    /// SIGKILL, wait, and start again on the same data dir (new port).
    pub fn kill9_and_restart(&mut self) {
        let cores = self.cores;
        self.kill9_and_restart_with_cores(cores);
    }

    /// Like `kill9_and_restart`, with another `--cores`.
    pub fn kill9_and_restart_with_cores(&mut self, cores: usize) {
        self.kill();
        self.cores = cores;
        self.spawn();
    }

    /// Like `kill9_and_restart`, with other extra flags from now on (e.g. without a fault plan).
    pub fn kill9_and_restart_with_args(&mut self, extra_args: &[&str]) {
        self.kill();
        self.extra_args = extra_args.iter().map(|arg| arg.to_string()).collect();
        self.spawn();
    }

    /// Runs the binary on a fresh data dir with `extra_args` (and `env`), expecting it to refuse
    /// to start: its exit code and stderr. Panics if it is still running after the start timeout.
    pub fn start_expecting_failure(extra_args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let root = tempfile::Builder::new().prefix("s3core-it-").tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3core"));
        command.args(["--listen", "127.0.0.1:0", "--cores", "1", "--data-dir"]).arg(root.path().join("data"));
        command.args(extra_args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("S3CORE_") {
                command.env_remove(&name);
            }
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawn s3core");
        let deadline = Instant::now() + START_TIMEOUT;
        while child.try_wait().expect("wait for s3core").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("s3core {extra_args:?} {env:?} kept running: it should have refused to start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("s3core output");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    }

    /// Whether the process is still running.
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Raw bytes on a new connection; the raw answer (see `send_raw_full`).
    pub fn send_raw(&self, bytes: &[u8]) -> Vec<u8> {
        send_raw_full(self.addr, bytes).bytes
    }

    /// A normal request on a NEW connection must succeed: the server is still serving.
    pub fn assert_serving(&mut self, context: &str) {
        assert!(self.is_running(), "{context}: the server process died; stderr:\n{}", self.stderr());
        let mut client = self.client();
        let response = client.get("/");
        assert_eq!(response.status, 200, "{context}: ListBuckets on a new connection failed: {response}");
        let name = "alive-check";
        let create = client.put(&format!("/{name}"), b"");
        assert!(create.status == 200 || create.status == 409, "{context}: {create}");
        let body = format!("alive after {context}");
        client.put(&format!("/{name}/probe"), body.as_bytes()).expect(200, context);
        let got = client.get(&format!("/{name}/probe")).expect(200, context);
        assert_eq!(got.body, body.as_bytes(), "{context}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ------------------------------------------------------------------------------------------
// HTTP client
// ------------------------------------------------------------------------------------------

/// A parsed HTTP response.
#[derive(Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header fields in order, names as received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Interim (1xx) responses received before this one.
    pub interim: Vec<u16>,
}

impl Response {
    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Every value of a header, case-insensitive.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status (printing the whole response otherwise) and returns self.
    #[track_caller]
    pub fn expect(self, status: u16, context: &str) -> Response {
        assert_eq!(self.status, status, "{context}: unexpected status; response:\n{self}");
        self
    }

    /// Asserts an S3 error answer: status and `<Code>`.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str, context: &str) -> Response {
        assert_eq!(self.status, status, "{context}: unexpected status; response:\n{self}");
        assert_eq!(
            error_code(&self.body).as_deref(),
            Some(code),
            "{context}: unexpected error code; response:\n{self}"
        );
        self
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|value| value.trim().parse().expect("numeric Content-Length"))
    }

    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.status, self.reason)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        let text = String::from_utf8_lossy(&self.body);
        if text.len() > 2000 {
            write!(f, "\n{}... ({} bytes)", &text[..text.floor_char_boundary_compat(2000)], self.body.len())
        } else {
            write!(f, "\n{text}")
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut index: usize) -> usize {
        while !self.is_char_boundary(index) {
            index -= 1;
        }
        index
    }
}

/// A keep-alive HTTP/1.1 connection (opened lazily; re-opened only after the server announced
/// `Connection: close`, so keep-alive is observable through `connections_opened`).
pub struct Client {
    pub addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Bytes received beyond the responses parsed so far (pipelining).
    pending: Vec<u8>,
    pub connections_opened: usize,
    write_error: Option<String>,
}

/// The server binary: this build's, or `S3CORE_TEST_BIN` to run the suite against another
/// build (e.g. the previous commit's, to show a regression test fails without its fix).
pub fn server_binary() -> std::ffi::OsString {
    std::env::var_os("S3CORE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_s3core").into())
}

/// Connects with the test timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|error| panic!("connect {addr}: {error}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None, pending: Vec::new(), connections_opened: 0, write_error: None }
    }

    fn stream(&mut self) -> &mut TcpStream {
        if self.stream.is_none() {
            self.stream = Some(connect(self.addr));
            self.connections_opened += 1;
            self.pending.clear();
            self.write_error = None;
        }
        self.stream.as_mut().unwrap()
    }

    /// Drops the current connection; the next request opens a new one.
    pub fn reconnect(&mut self) {
        self.stream = None;
        self.pending.clear();
    }

    /// Sends one request and reads its final response (skipping, but recording, 1xx).
    /// Adds `Host`, and `Content-Length` for PUT/POST or a non-empty body unless the headers
    /// already frame the body (Content-Length or Transfer-Encoding).
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let head = build_head(method, path, headers, body.len(), true);
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes);
        self.read_final_response(method == "HEAD")
    }

    /// Like `request`, without adding a Content-Length.
    pub fn request_unframed(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let head = build_head(method, path, headers, body.len(), false);
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.send(&bytes);
        self.read_final_response(method == "HEAD")
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
        let stream = self.stream();
        if let Err(error) = stream.write_all(bytes) {
            self.write_error = Some(error.to_string());
        }
    }

    /// Reads responses until a final (non-1xx) one.
    pub fn read_final_response(&mut self, head_request: bool) -> Response {
        let mut interim = Vec::new();
        loop {
            let mut response = self.read_response(head_request);
            if (100..200).contains(&response.status) {
                interim.push(response.status);
                continue;
            }
            response.interim = interim;
            return response;
        }
    }

    /// Reads exactly one response (a 1xx included) from the current connection.
    /// `head_request`: the response has no body whatever its Content-Length says.
    pub fn read_response(&mut self, head_request: bool) -> Response {
        if self.stream.is_none() {
            panic!("read_response without a connection");
        }
        let head_end = loop {
            if let Some(end) = find(&self.pending, b"\r\n\r\n") {
                break end + 4;
            }
            if self.fill() == 0 {
                panic!(
                    "connection closed before a complete response head (write error: {:?}); got {:?}",
                    self.write_error,
                    String::from_utf8_lossy(&self.pending)
                );
            }
        };
        let head_bytes: Vec<u8> = self.pending.drain(..head_end).collect();
        let (status, reason, headers) = parse_head(&head_bytes);
        let mut response = Response { status, reason, headers, body: Vec::new(), interim: Vec::new() };
        let bodiless = head_request || (100..200).contains(&status) || status == 204 || status == 304;
        if !bodiless {
            let chunked = response.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
            if chunked {
                response.body = self.read_chunked_body();
            } else if let Some(length) = response.content_length() {
                let length = length as usize;
                while self.pending.len() < length {
                    if self.fill() == 0 {
                        panic!(
                            "connection closed after {} of {length} body bytes; head:\n{}",
                            self.pending.len(),
                            String::from_utf8_lossy(&head_bytes)
                        );
                    }
                }
                response.body = self.pending.drain(..length).collect();
            } else {
                // No framing: the body runs to the end of the connection.
                while self.fill() > 0 {}
                response.body = std::mem::take(&mut self.pending);
            }
        }
        if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.stream = None;
            self.write_error = None;
        }
        response
    }

    fn read_chunked_body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(end) = find(&self.pending, b"\r\n") {
                    break end;
                }
                assert!(self.fill() > 0, "connection closed inside a chunked body");
            };
            let line: Vec<u8> = self.pending.drain(..line_end + 2).collect();
            let text = String::from_utf8_lossy(&line[..line_end]).into_owned();
            let size = usize::from_str_radix(text.split(';').next().unwrap().trim(), 16).expect("chunk size");
            if size == 0 {
                // Trailers up to the empty line.
                loop {
                    let end = loop {
                        if let Some(end) = find(&self.pending, b"\r\n") {
                            break end;
                        }
                        assert!(self.fill() > 0, "connection closed inside chunked trailers");
                    };
                    self.pending.drain(..end + 2);
                    if end == 0 {
                        return body;
                    }
                }
            }
            while self.pending.len() < size + 2 {
                assert!(self.fill() > 0, "connection closed inside a chunk");
            }
            body.extend(self.pending.drain(..size));
            self.pending.drain(..2);
        }
    }

    /// Reads more bytes into `pending`; 0 at end of stream. Panics on a timeout.
    fn fill(&mut self) -> usize {
        let mut buffer = [0u8; 64 * 1024];
        let stream = self.stream.as_mut().expect("connection");
        loop {
            match stream.read(&mut buffer) {
                Ok(read) => {
                    self.pending.extend_from_slice(&buffer[..read]);
                    return read;
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!(
                        "the server did not answer within {IO_TIMEOUT:?} (got so far: {:?})",
                        String::from_utf8_lossy(&self.pending)
                    )
                }
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return 0,
                Err(error) => panic!("reading the response: {error}"),
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
        self.stream()
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

pub fn build_head(method: &str, path: &str, headers: &[(&str, &str)], body_len: usize, add_length: bool) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
        head.push_str("Host: 127.0.0.1\r\n");
    }
    let framed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding"));
    if add_length && !framed && (body_len > 0 || method == "PUT" || method == "POST") {
        head.push_str(&format!("Content-Length: {body_len}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

fn parse_head(head: &[u8]) -> (u16, String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    assert!(version.starts_with("HTTP/1."), "not an HTTP/1.x status line: {status_line:?}");
    let status: u16 =
        parts.next().and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("bad header line {line:?}"));
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    (status, reason, headers)
}

/// Parses one complete response (Content-Length framed or bodiless) at the start of `bytes`.
/// `None` when incomplete.
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let end = find(bytes, b"\r\n\r\n")? + 4;
    let (status, reason, headers) = parse_head(&bytes[..end]);
    let mut response = Response { status, reason, headers, body: Vec::new(), interim: Vec::new() };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Some(response);
    }
    let length = response.content_length().unwrap_or(0) as usize;
    if bytes.len() < end + length {
        return None;
    }
    response.body = bytes[end..end + length].to_vec();
    Some(response)
}

/// Parses every complete response in `bytes`, in order (1xx included).
pub fn parse_responses(mut bytes: &[u8]) -> Vec<Response> {
    let mut responses = Vec::new();
    while let Some(response) = parse_response(bytes) {
        let head_end = find(bytes, b"\r\n\r\n").unwrap() + 4;
        bytes = &bytes[head_end + response.body.len()..];
        responses.push(response);
    }
    responses
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

// ------------------------------------------------------------------------------------------
// XML and digests
// ------------------------------------------------------------------------------------------

/// The texts of every `<tag>` element, in document order, entities decoded. `<tag/>` gives "".
/// Nested elements of the same name are not supported (S3 documents have none).
pub fn xml_values(body: impl AsRef<[u8]>, tag: &str) -> Vec<String> {
    xml_blocks(body, tag).iter().map(|inner| xml_unescape(inner)).collect()
}

/// The raw inner XML of every `<tag>` element, in document order.
pub fn xml_blocks(body: impl AsRef<[u8]>, tag: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(body.as_ref()).into_owned();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(&open) {
        let start = at + found;
        let after = start + open.len();
        let rest = &text[after..];
        // `<tag>`, `<tag attr...>` or `<tag/>`, never `<tagOther>`.
        match rest.chars().next() {
            Some('>') => {
                let content_start = after + 1;
                let Some(end) = text[content_start..].find(&close) else { break };
                out.push(text[content_start..content_start + end].to_string());
                at = content_start + end + close.len();
            }
            Some('/') if rest.starts_with("/>") => {
                out.push(String::new());
                at = after + 2;
            }
            Some(' ') => {
                let Some(gt) = rest.find('>') else { break };
                if rest[..gt].ends_with('/') {
                    out.push(String::new());
                    at = after + gt + 1;
                } else {
                    let content_start = after + gt + 1;
                    let Some(end) = text[content_start..].find(&close) else { break };
                    out.push(text[content_start..content_start + end].to_string());
                    at = content_start + end + close.len();
                }
            }
            _ => at = after,
        }
    }
    out
}

/// The single value of `<tag>`; panics when absent or repeated.
#[track_caller]
pub fn xml_value(body: impl AsRef<[u8]>, tag: &str) -> String {
    let values = xml_values(body.as_ref(), tag);
    assert_eq!(values.len(), 1, "expected exactly one <{tag}> in {}", String::from_utf8_lossy(body.as_ref()));
    values.into_iter().next().unwrap()
}

pub fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&amp;", "&")
}

pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The `<Code>` of an S3 error document.
pub fn error_code(body: &[u8]) -> Option<String> {
    xml_values(body, "Code").into_iter().next()
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `"<md5 hex>"`, as S3 sends ETags of single-part objects.
pub fn quoted_md5(bytes: &[u8]) -> String {
    format!("\"{}\"", md5_hex(bytes))
}

pub fn md5_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(bytes))
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deterministic pseudo-random bytes (splitmix64): reproducible failures, no dependency.
pub fn random_bytes(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(length + 8);
    while out.len() < length {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(length);
    out
}

/// Percent-encodes every byte outside RFC 3986's unreserved set, keeping `/` (for paths).
pub fn encode_path(key: &str) -> String {
    let mut out = String::new();
    for &byte in key.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value (everything outside unreserved, `/` included).
pub fn encode_query(value: &str) -> String {
    let mut out = String::new();
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the timestamp form of S3 listings.
pub fn is_iso8601_millis(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 24
        && bytes.iter().enumerate().all(|(index, &byte)| match index {
            4 | 7 => byte == b'-',
            10 => byte == b'T',
            13 | 16 => byte == b':',
            19 => byte == b'.',
            23 => byte == b'Z',
            _ => byte.is_ascii_digit(),
        })
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as HTTP dates are sent.
pub fn is_http_date(text: &str) -> bool {
    httpdate_parse(text).is_some()
}

/// Parses an IMF-fixdate into seconds since the epoch.
pub fn httpdate_parse(text: &str) -> Option<u64> {
    let parts: Vec<&str> = text.split(' ').collect();
    if parts.len() != 6 || parts[5] != "GMT" || !parts[0].ends_with(',') {
        return None;
    }
    let day: u64 = parts[1].parse().ok()?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == parts[2])? as u64 + 1;
    let year: u64 = parts[3].parse().ok()?;
    let time: Vec<u64> = parts[4].split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if time.len() != 3 || parts[1].len() != 2 || parts[4].len() != 8 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + time[0] * 3600 + time[1] * 60 + time[2])
}

/// An IMF-fixdate for `seconds` since the epoch.
pub fn http_date(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let weekday = WEEKDAYS[(days % 7) as usize];
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Creates a bucket through `prefix`, asserting 200.
#[track_caller]
pub fn create_bucket(client: &mut Client, prefix: &str, bucket: &str) {
    client.put(&format!("{prefix}/{bucket}"), b"").expect(200, &format!("create bucket {prefix}/{bucket}"));
}

/// Lists a whole bucket with ListObjectsV2 (following continuation tokens) and returns the keys.
pub fn list_all_keys_v2(client: &mut Client, prefix: &str, bucket: &str, query: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let mut target = format!("{prefix}/{bucket}?list-type=2{query}");
        if let Some(token) = &token {
            target.push_str(&format!("&continuation-token={}", encode_query(token)));
        }
        let response = client.get(&target).expect(200, &target);
        keys.extend(xml_values(&response.body, "Key"));
        if xml_value(&response.body, "IsTruncated") == "true" {
            token = Some(xml_value(&response.body, "NextContinuationToken"));
        } else {
            return keys;
        }
    }
    panic!("listing never ended");
}

/// A path with nothing before the bucket but `prefix`.
pub fn path(prefix: &str, rest: &str) -> String {
    format!("{prefix}/{rest}")
}

/// Whether `path` exists under `dir` (recursively), for "nothing escaped the data dir" checks.
pub fn tree_contains_file_named(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        entry.file_name().to_string_lossy() == name || (path.is_dir() && tree_contains_file_named(&path, name))
    })
}

// ------------------------------------------------------------------------------------------
// Block files (reclamation checks)
// ------------------------------------------------------------------------------------------

impl Server {
    /// Number of block files under `DATA/blocks/*/` (every core's directory). A hard link
    /// (a copy) counts as one more name.
    pub fn block_file_count(&self) -> usize {
        let Ok(cores) = std::fs::read_dir(self.data_dir().join("blocks")) else { return 0 };
        cores
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| std::fs::read_dir(entry.path()).map(|files| files.flatten().count()).unwrap_or(0))
            .sum()
    }

    /// Waits (at most 5 s: unlinks run after the acknowledgement) until exactly `expected`
    /// block files exist, then asserts it.
    #[track_caller]
    pub fn expect_block_files(&self, expected: usize, context: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut count = self.block_file_count();
        while count != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            count = self.block_file_count();
        }
        assert_eq!(count, expected, "{context}: block files under {}", self.data_dir().join("blocks").display());
    }
}

// ------------------------------------------------------------------------------------------
// Multipart uploads
// ------------------------------------------------------------------------------------------

/// CreateMultipartUpload on `object` (`PREFIX/bucket/key`, key already encoded); the UploadId.
#[track_caller]
pub fn initiate_upload(client: &mut Client, object: &str, headers: &[(&str, &str)]) -> String {
    let response = client.request("POST", &format!("{object}?uploads"), headers, b"").expect(200, "initiate");
    xml_value(&response.body, "UploadId")
}

/// UploadPart; returns the response (ETag in its header).
pub fn upload_part_request(client: &mut Client, object: &str, upload_id: &str, number: &str, data: &[u8]) -> Response {
    client.put(&format!("{object}?partNumber={number}&uploadId={upload_id}"), data)
}

/// UploadPart that must succeed; the quoted ETag.
#[track_caller]
pub fn upload_part(client: &mut Client, object: &str, upload_id: &str, number: u32, data: &[u8]) -> String {
    let response = upload_part_request(client, object, upload_id, &number.to_string(), data);
    let response = response.expect(200, &format!("UploadPart {number}"));
    response.etag().expect("ETag of a part").to_string()
}

/// The CompleteMultipartUpload document for `(part number, quoted ETag)` pairs, in order.
pub fn complete_document(parts: &[(u32, &str)]) -> String {
    let mut document = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (number, etag) in parts {
        document.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>", xml_escape(etag)));
    }
    document.push_str("</CompleteMultipartUpload>");
    document
}

/// CompleteMultipartUpload with `parts`; the response, whatever it is.
pub fn complete_upload(client: &mut Client, object: &str, upload_id: &str, parts: &[(u32, &str)]) -> Response {
    client.post(&format!("{object}?uploadId={upload_id}"), complete_document(parts).as_bytes())
}

/// S3's multipart ETag, quoted: MD5 of the concatenated binary MD5s of the parts, `-N`.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut digests = Vec::new();
    for part in parts {
        digests.extend_from_slice(&Md5::digest(part));
    }
    format!("\"{}-{}\"", md5_hex(&digests), parts.len())
}

/// The `<Tagging>` document of `tags`.
pub fn tagging_document(tags: &[(&str, &str)]) -> String {
    let mut document = String::from("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>");
    for (key, value) in tags {
        document.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_escape(key), xml_escape(value)));
    }
    document.push_str("</TagSet></Tagging>");
    document
}

/// The tags of a `<Tagging>` answer, in document order.
pub fn tags_of(body: &[u8]) -> Vec<(String, String)> {
    xml_blocks(body, "Tag").iter().map(|tag| (xml_value(tag, "Key"), xml_value(tag, "Value"))).collect()
}

/// `(key, value)` pairs as owned strings, to compare with `tags_of`.
/// A tag set as GetObjectTagging / GetBucketTagging answer it: sorted by key, as S3 does.
pub fn owned_tags(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut owned: Vec<(String, String)> =
        tags.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    owned.sort();
    owned
}

/// The shard of `bucket` among `shards` (the server's FNV-1a, see `shard::shard_for`).
pub fn shard_of(bucket: &str, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bucket.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}
