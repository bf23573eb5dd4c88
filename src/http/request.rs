//! The request head: parsed with httparse from the connection buffer into a reusable struct.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

use crate::limits::{REQUEST_HEADERS_COUNT_MAX, REQUEST_HEAD_BYTES_MAX, REQUEST_TARGET_BYTES_MAX};

/// Why a request head was refused. Small and plain: this is the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The head is larger than `REQUEST_HEAD_BYTES_MAX` or has too many fields (431).
    TooLarge,
    /// The request target is longer than `REQUEST_TARGET_BYTES_MAX`.
    TargetTooLong,
    /// Not HTTP/1.x or not parseable (400).
    Malformed,
}

/// A parsed request head, reused across the requests of a connection.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    /// The raw request target (path and query, still percent-encoded).
    pub target: String,
    pub headers: HeaderMap,
    /// HTTP/1.0 (0) or HTTP/1.1 (1).
    pub version_minor: u8,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: Method::GET,
            target: String::new(),
            headers: HeaderMap::with_capacity(32),
            version_minor: 1,
        }
    }
}

impl RequestHead {
    /// Parses a head at the start of `buffer`. `Ok(None)`: more bytes are needed.
    /// `Ok(Some(n))`: the head took `n` bytes and `self` holds it.
    pub fn parse(&mut self, buffer: &[u8]) -> Result<Option<usize>, HeadError> {
        let mut fields = [httparse::EMPTY_HEADER; REQUEST_HEADERS_COUNT_MAX];
        let mut request = httparse::Request::new(&mut fields);
        let consumed = match request.parse(buffer) {
            Ok(httparse::Status::Complete(consumed)) => consumed,
            Ok(httparse::Status::Partial) => {
                return if buffer.len() >= REQUEST_HEAD_BYTES_MAX { Err(HeadError::TooLarge) } else { Ok(None) };
            }
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        };
        if consumed > REQUEST_HEAD_BYTES_MAX {
            return Err(HeadError::TooLarge);
        }
        let method = request.method.ok_or(HeadError::Malformed)?;
        let target = request.path.ok_or(HeadError::Malformed)?;
        if target.len() > REQUEST_TARGET_BYTES_MAX {
            return Err(HeadError::TargetTooLong);
        }
        self.method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed)?;
        self.target.clear();
        self.target.push_str(target);
        self.version_minor = request.version.ok_or(HeadError::Malformed)?;
        self.headers.clear();
        for field in request.headers.iter() {
            let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| HeadError::Malformed)?;
            let value = HeaderValue::from_bytes(field.value).map_err(|_| HeadError::Malformed)?;
            self.headers.append(name, value);
        }
        Ok(Some(consumed))
    }

    /// A header's value as text (`None` when absent or not visible ASCII / UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        let value = self.headers.get(name)?;
        match value.to_str() {
            Ok(text) => Some(text),
            Err(_) => std::str::from_utf8(value.as_bytes()).ok(),
        }
    }

    /// Whether the client asked to keep the connection open after this request.
    pub fn wants_keep_alive(&self) -> bool {
        let connection = self.header("connection").map(str::to_ascii_lowercase);
        match self.version_minor {
            0 => connection.is_some_and(|value| value.contains("keep-alive")),
            _ => !connection.is_some_and(|value| value.contains("close")),
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.version_minor >= 1 && self.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_complete_head_and_reports_its_length() {
        let raw = b"PUT /b/k?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Amz-Meta-A: \xc3\xa9\r\n\r\nabc";
        let mut head = RequestHead::default();
        let consumed = head.parse(raw).unwrap().unwrap();
        assert_eq!(&raw[consumed..], b"abc");
        assert_eq!(head.method, Method::PUT);
        assert_eq!(head.target, "/b/k?x=1");
        assert_eq!(head.header("content-length"), Some("3"));
        assert_eq!(head.header("x-amz-meta-a"), Some("é"));
        assert!(head.wants_keep_alive());
    }

    #[test]
    fn partial_heads_wait_for_more_bytes() {
        let mut head = RequestHead::default();
        assert_eq!(head.parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
    }

    #[test]
    fn oversized_and_malformed_heads_are_refused() {
        let mut head = RequestHead::default();
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(REQUEST_HEAD_BYTES_MAX + 1, b'a');
        assert_eq!(head.parse(&huge), Err(HeadError::TooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=REQUEST_HEADERS_COUNT_MAX {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(head.parse(&many), Err(HeadError::TooLarge));
        assert_eq!(head.parse(b"\x00\x01garbage\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(head.parse(b"GET / HTTP/2.0\r\n\r\n"), Err(HeadError::Malformed));
    }

    #[test]
    fn connection_semantics_follow_the_version() {
        let mut head = RequestHead::default();
        head.parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!head.wants_keep_alive());
        head.parse(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!head.wants_keep_alive());
        head.parse(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert!(head.expects_continue());
    }
}
