//! HTTP/1.1 messages as bytes, with no socket: request heads built the way the tests need
//! them, responses parsed from what a server sent.

use std::fmt;

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
            super::xml::error_code(&self.body).as_deref(),
            Some(code),
            "{context}: unexpected error code; response:\n{self}"
        );
        self
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|value| value.trim().parse().expect("numeric Content-Length"))
    }

    /// The ETag header as sent (quoted).
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// The ETag header without its quotes.
    pub fn etag_unquoted(&self) -> Option<String> {
        self.etag().map(|value| value.trim().trim_matches('"').to_string())
    }

    /// A one-line summary for messages: status and the start of the body.
    pub fn summary(&self) -> String {
        let text = self.text();
        let cut: String = text.chars().take(300).collect();
        format!("{} {}", self.status, cut.replace('\n', " "))
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
            write!(f, "\n{}... ({} bytes)", &text[..floor_char_boundary(&text, 2000)], self.body.len())
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

/// The largest char boundary of `text` at or before `index`.
fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// A request head: adds `Host` unless given, and (with `add_length`) `Content-Length` for
/// PUT/POST or a non-empty body unless the headers already frame the body (Content-Length or
/// Transfer-Encoding).
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

/// A parsed response head: status, reason phrase, header fields in order.
pub type ResponseHead = (u16, String, Vec<(String, String)>);

/// A response head (status line and fields, up to and including the empty line), or why it is
/// not one.
pub fn parse_head(head: &[u8]) -> Result<ResponseHead, String> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
    }
    let status: u16 =
        parts.next().and_then(|code| code.parse().ok()).ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok((status, reason, headers))
}

/// Parses one complete response (Content-Length framed or bodiless) at the start of `bytes`.
/// `None` when incomplete; panics on bytes that are not an HTTP/1.x response.
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let end = find(bytes, b"\r\n\r\n")? + 4;
    let (status, reason, headers) = parse_head(&bytes[..end]).unwrap_or_else(|why| panic!("{why}"));
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
