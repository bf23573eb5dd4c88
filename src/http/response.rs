//! Responses: status, extra header lines pre-formatted into one buffer, and a body that is
//! either small bytes (sent with the head in one write) or a stored body the layer above
//! knows how to stream (`O`: for s3, a slice of an object's data, sent from block files by
//! the connection). The wire layer only needs its length.

use std::fmt::Write as _;

use http::StatusCode;

/// A body streamed from storage by the layer above; the head announces its length.
pub(crate) trait StoredBody {
    fn length(&self) -> u64;
}

#[derive(Debug)]
pub(crate) enum ResponseBody<O> {
    Empty,
    Bytes(Vec<u8>),
    /// Stored data, streamed after the head.
    Stored(O),
    /// A HEAD answer: announces `length` but sends nothing.
    HeadOnly {
        length: u64,
    },
}

#[derive(Debug)]
pub(crate) struct Response<O> {
    pub(crate) status: StatusCode,
    /// `Name: value\r\n` lines, in order.
    pub(crate) headers: String,
    pub(crate) body: ResponseBody<O>,
}

impl<O: StoredBody> Response<O> {
    pub(crate) fn new(status: StatusCode) -> Self {
        Response { status, headers: String::new(), body: ResponseBody::Empty }
    }

    pub(crate) fn ok() -> Self {
        Response::new(StatusCode::OK)
    }

    pub(crate) fn no_content() -> Self {
        Response::new(StatusCode::NO_CONTENT)
    }

    /// A 200 with an XML document.
    pub(crate) fn xml(document: Vec<u8>) -> Self {
        Response::ok().header("Content-Type", "application/xml").body(ResponseBody::Bytes(document))
    }

    /// Adds a header line. Values come from our own formatting or stored client headers
    /// that were validated as header values when received.
    pub(crate) fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        self.push_header(name, value);
        self
    }

    pub(crate) fn push_header(&mut self, name: &str, value: impl std::fmt::Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.headers, "{name}: {value}\r\n");
    }

    pub(crate) fn body(mut self, body: ResponseBody<O>) -> Self {
        self.body = body;
        self
    }

    /// The Content-Length this response announces.
    pub(crate) fn content_length(&self) -> u64 {
        match &self.body {
            ResponseBody::Empty => 0,
            ResponseBody::Bytes(bytes) => bytes.len() as u64,
            ResponseBody::Stored(stored) => stored.length(),
            ResponseBody::HeadOnly { length } => *length,
        }
    }

    /// Whether the status forbids a body and a Content-Length (1xx, 204, 304).
    fn bodiless_status(&self) -> bool {
        self.status.is_informational()
            || self.status == StatusCode::NO_CONTENT
            || self.status == StatusCode::NOT_MODIFIED
    }

    /// Serialises the status line and headers (and nothing of the body) into `out`.
    pub(crate) fn write_head(&self, out: &mut Vec<u8>, request_id: &str, keep_alive: bool) {
        let _ = write!(
            VecWriter(out),
            "HTTP/1.1 {} {}\r\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or("")
        );
        crate::dates::with_current_http_date(|date| {
            let _ = write!(VecWriter(out), "Date: {date}\r\n");
        });
        let _ =
            write!(VecWriter(out), "Server: s3core\r\nx-amz-request-id: {request_id}\r\nx-amz-id-2: {request_id}\r\n");
        if !self.bodiless_status() {
            let _ = write!(VecWriter(out), "Content-Length: {}\r\n", self.content_length());
        }
        if !keep_alive {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(self.headers.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// `fmt::Write` over a byte vector, so heads are formatted without an intermediate String.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoStore;

    impl StoredBody for NoStore {
        fn length(&self) -> u64 {
            0
        }
    }

    type Response = super::Response<NoStore>;

    #[test]
    fn head_has_length_ids_and_extra_headers() {
        let response = Response::ok().header("ETag", "\"abc\"").body(ResponseBody::Bytes(b"hello".to_vec()));
        let mut out = Vec::new();
        response.write_head(&mut out, "REQ1", true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(text.contains("\r\nContent-Length: 5\r\n"));
        assert!(text.contains("\r\nx-amz-request-id: REQ1\r\n"));
        assert!(text.ends_with("ETag: \"abc\"\r\n\r\n"));
        assert!(!text.contains("Connection: close"));
    }

    #[test]
    fn no_content_has_no_length_and_close_is_announced() {
        let mut out = Vec::new();
        Response::no_content().write_head(&mut out, "R", false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.contains("Connection: close\r\n"));
    }
}
