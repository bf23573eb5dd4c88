//! A minimal blocking HTTP/1.1 client over `std::net::TcpStream` (keep-alive, Content-Length
//! framing), written for the crash test: every failure is an `Err`, never a panic, because a
//! request in flight when the server is killed must be recorded as "no answer", not crash the
//! worker.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A socket read/write timeout: a hung server is reported, not waited on forever.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The ETag header without its quotes.
    pub fn etag(&self) -> Option<String> {
        self.header("etag").map(|value| value.trim().trim_matches('"').to_string())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A one-line summary for messages: status and the start of the body.
    pub fn summary(&self) -> String {
        let text = self.text();
        let cut: String = text.chars().take(300).collect();
        format!("{} {}", self.status, cut.replace('\n', " "))
    }
}

/// Why there is no answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be opened: the request was never sent.
    Connect(std::io::Error),
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
            Failure::Connect(error) => write!(f, "connect: {error}"),
            Failure::NoAnswer(why) => write!(f, "no answer: {why}"),
        }
    }
}

/// One keep-alive connection, re-opened after any failure or `Connection: close`.
pub struct Client {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client { addr, stream: None, buffer: Vec::new() }
    }

    fn connect(&mut self) -> Result<(), Failure> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).map_err(Failure::Connect)?;
            let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
            let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.buffer.clear();
        }
        Ok(())
    }

    /// Sends one request and reads its answer. `path` is already percent-encoded.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Response, Failure> {
        self.connect()?;
        let result = self.exchange(method, path, headers, body);
        match &result {
            Ok(response) if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) => {
                self.stream = None
            }
            Ok(_) => {}
            Err(_) => self.stream = None,
        }
        result
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> Result<Response, Failure> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "PUT" || method == "POST" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let stream = self.stream.as_mut().expect("connected");
        let sent = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
        if let Err(error) = sent {
            return Err(Failure::NoAnswer(format!("write: {error}")));
        }
        self.read_response(method == "HEAD")
    }

    fn fill(&mut self) -> Result<(), Failure> {
        let stream = self.stream.as_mut().expect("connected");
        let mut chunk = [0u8; 64 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) => Err(Failure::NoAnswer("connection closed".into())),
            Ok(read) => {
                self.buffer.extend_from_slice(&chunk[..read]);
                Ok(())
            }
            Err(error) => Err(Failure::NoAnswer(format!("read: {error}"))),
        }
    }

    fn read_response(&mut self, head_request: bool) -> Result<Response, Failure> {
        loop {
            let head_end = loop {
                if let Some(at) = self.buffer.windows(4).position(|window| window == b"\r\n\r\n") {
                    break at + 4;
                }
                self.fill()?;
            };
            let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
            self.buffer.drain(..head_end);
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap_or_default();
            let status: u16 = status_line
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .ok_or_else(|| Failure::NoAnswer(format!("bad status line {status_line:?}")))?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .collect();
            if (100..200).contains(&status) {
                continue;
            }
            let mut response = Response { status, headers, body: Vec::new() };
            if head_request || status == 204 || status == 304 {
                return Ok(response);
            }
            let length: usize = match response.header("content-length") {
                Some(value) => value.parse().map_err(|_| Failure::NoAnswer(format!("bad Content-Length {value}")))?,
                None => return Err(Failure::NoAnswer("answer without Content-Length".into())),
            };
            while self.buffer.len() < length {
                self.fill()?;
            }
            response.body = self.buffer.drain(..length).collect();
            return Ok(response);
        }
    }
}

/// Percent-encodes a key for a request path (every byte but unreserved ones and `/`).
pub fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes a query parameter value (every byte but unreserved ones).
pub fn encode_query_value(text: &str) -> String {
    encode_path(text).replace('/', "%2F")
}

/// The text of every `<name>...</name>` element, in order, with XML entities decoded.
pub fn xml_values(document: &[u8], name: &str) -> Vec<String> {
    xml_raw_values(document, name).iter().map(|raw| xml_unescape(raw)).collect()
}

/// The `<name>` elements' inner documents, undecoded (e.g. each `<Contents>` of a listing).
pub fn xml_blocks(document: &[u8], name: &str) -> Vec<Vec<u8>> {
    xml_raw_values(document, name).into_iter().map(String::into_bytes).collect()
}

fn xml_raw_values(document: &[u8], name: &str) -> Vec<String> {
    let text = String::from_utf8_lossy(document);
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut values = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        values.push(rest[..end].to_string());
        rest = &rest[end + close.len()..];
    }
    values
}

pub fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// XML-escapes text for a request document.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
