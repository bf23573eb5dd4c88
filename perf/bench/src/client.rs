//! One keep-alive connection to the endpoint: builds a request (path-style URL, optional SigV4),
//! writes it, reads the response. Blocking `std::net::TcpStream`, `TCP_NODELAY` on, timeouts on
//! every socket operation so no request can hang a worker.
//!
//! Buffers (request head, path, read buffer) live as long as the connection and are reused; a
//! request allocates only when signing (the `Authorization` value and the date string).
//!
//! Time to first byte: from the start of writing the request (the origin of the latency too) to
//! the first response byte read. Not from the end of the write: on loopback, a `writev` can
//! return only after the woken server has run and answered on the same CPU (SeaweedFS shares
//! the generator's CPU in perf/lake.sh), which made that measure read ~0. For a PUT it
//! therefore includes the upload.

use crate::config::Endpoint;
use crate::http::{self, Collect, HttpError, Response, ResponseReader};
use crate::sigv4::{self, Credentials, SignInput, Signer};
use std::fmt;
use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
        }
    }
}

/// A request body: `pattern` repeated (the last copy cut short) to `bytes` bytes, so a body
/// larger than the generator's payload buffer (a 1 GiB preload) needs no buffer of its size.
#[derive(Clone, Copy, Debug)]
pub struct Body<'a> {
    pub pattern: &'a [u8],
    pub bytes: u64,
}

impl<'a> Body<'a> {
    pub const EMPTY: Body<'static> = Body { pattern: &[], bytes: 0 };

    /// `pattern` repeated to `bytes` bytes.
    pub fn repeat(pattern: &'a [u8], bytes: u64) -> Self {
        assert!(bytes == 0 || !pattern.is_empty(), "a body needs a pattern");
        Body { pattern, bytes }
    }
}

/// One request. `key: None` addresses the bucket itself.
pub struct Request<'a> {
    pub method: Method,
    pub key: Option<&'a str>,
    /// Encoded query, parameters sorted by name (see `sigv4::canonical_query`), or "".
    pub query: &'a str,
    /// Inclusive byte range.
    pub range: Option<(u64, u64)>,
    /// Request body (PUT); empty otherwise.
    pub body: Body<'a>,
}

#[derive(Debug)]
pub enum RequestError {
    Connect(io::Error),
    Write(io::Error),
    Read(HttpError),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Connect(e) => write!(f, "connect: {e}"),
            RequestError::Write(e) => write!(f, "write: {e}"),
            RequestError::Read(e) => write!(f, "read: {e}"),
        }
    }
}

pub struct Client {
    endpoint: Endpoint,
    bucket: String,
    io_timeout: Duration,
    stream: Option<TcpStream>,
    reader: ResponseReader,
    signer: Option<Signer>,
    /// Reused: the request head being written.
    head: Vec<u8>,
    /// Reused: the encoded request path.
    path: String,
    /// Reused: the `Range` header value.
    range: String,
    /// Time to first byte of the last response, taken by the caller (`take_ttfb`).
    ttfb: Option<Duration>,
}

impl Client {
    pub fn new(endpoint: Endpoint, bucket: &str, io_timeout: Duration, credentials: Option<Credentials>) -> Self {
        Client {
            endpoint,
            bucket: bucket.to_string(),
            io_timeout,
            stream: None,
            reader: ResponseReader::default(),
            signer: credentials.map(Signer::new),
            head: Vec::with_capacity(1024),
            path: String::with_capacity(256),
            range: String::with_capacity(64),
            ttfb: None,
        }
    }

    /// The time to first byte of the last request sent, once; `None` when it got no byte.
    pub fn take_ttfb(&mut self) -> Option<Duration> {
        self.ttfb.take()
    }

    /// Opens the connection now, so that its cost is not charged to the first request.
    pub fn connect(&mut self) -> Result<(), RequestError> {
        if self.stream.is_none() {
            let stream =
                TcpStream::connect_timeout(&self.endpoint.addr, self.io_timeout).map_err(RequestError::Connect)?;
            let setup = stream
                .set_nodelay(true)
                .and_then(|()| stream.set_read_timeout(Some(self.io_timeout)))
                .and_then(|()| stream.set_write_timeout(Some(self.io_timeout)));
            setup.map_err(RequestError::Connect)?;
            self.reader.reset();
            self.stream = Some(stream);
        }
        Ok(())
    }

    /// Sends `request` and reads the whole response. Body bytes are discarded, or kept in
    /// `collect` up to its limit. Any error closes the connection; the next call reopens it.
    pub fn send(&mut self, request: &Request<'_>, collect: Option<Collect<'_>>) -> Result<Response, RequestError> {
        self.ttfb = None;
        self.connect()?;
        self.build_head(request);
        let stream = self.stream.as_mut().expect("connected above");
        let body = request.body;
        let sent_at = Instant::now();
        if let Err(e) = http::write_head_and_repeated_body(stream, &self.head, body.pattern, body.bytes) {
            self.stream = None;
            return Err(RequestError::Write(e));
        }
        let result = self.reader.read_response(stream, request.method == Method::Head, collect);
        self.ttfb = self.reader.first_byte_at().map(|at| at.saturating_duration_since(sent_at));
        match result {
            Ok(response) => {
                if !response.keep_alive {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.stream = None;
                Err(RequestError::Read(e))
            }
        }
    }

    fn build_head(&mut self, request: &Request<'_>) {
        self.path.clear();
        self.path.push_str(&self.endpoint.path_prefix);
        self.path.push('/');
        self.path.push_str(&self.bucket);
        if let Some(key) = request.key {
            self.path.push('/');
            sigv4::uri_encode(&mut self.path, key, true);
        }
        self.range.clear();
        if let Some((first, last)) = request.range {
            use std::fmt::Write as _;
            let _ = write!(self.range, "bytes={first}-{last}");
        }
        let content_length = (request.method == Method::Put).then_some(request.body.bytes);
        self.head.clear();
        let method = request.method.as_str();
        let Some(signer) = self.signer.as_mut() else {
            let range = [("Range", self.range.as_str())];
            let headers: &[(&str, &str)] = if request.range.is_some() { &range } else { &[] };
            http::write_request_head(
                &mut self.head,
                method,
                &self.path,
                request.query,
                &self.endpoint.host,
                content_length,
                headers,
            );
            return;
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let date = sigv4::amz_date(now);
        let mut signed: [(&str, &str); 4] = [("host", &self.endpoint.host), ("", ""), ("", ""), ("", "")];
        let mut n = 1;
        if request.range.is_some() {
            signed[n] = ("range", &self.range);
            n += 1;
        }
        signed[n] = ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD);
        signed[n + 1] = ("x-amz-date", &date);
        n += 2;
        let authorization = signer.authorization(&SignInput {
            method,
            path: &self.path,
            query: request.query,
            headers: &signed[..n],
            payload_hash: sigv4::UNSIGNED_PAYLOAD,
            amz_date: &date,
        });
        let mut headers: [(&str, &str); 4] = [("", ""); 4];
        let mut m = 0;
        if request.range.is_some() {
            headers[m] = ("Range", &self.range);
            m += 1;
        }
        headers[m] = ("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD);
        headers[m + 1] = ("x-amz-date", &date);
        headers[m + 2] = ("Authorization", &authorization);
        m += 3;
        http::write_request_head(
            &mut self.head,
            method,
            &self.path,
            request.query,
            &self.endpoint.host,
            content_length,
            &headers[..m],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_endpoint;

    #[test]
    fn unsigned_and_signed_heads() {
        let endpoint = parse_endpoint("http://127.0.0.1:9/api").unwrap();
        let mut c = Client::new(endpoint.clone(), "bkt", Duration::from_secs(1), None);
        c.build_head(&Request {
            method: Method::Get,
            key: Some("obj-64m-1"),
            query: "",
            range: Some((3, 10)),
            body: Body::EMPTY,
        });
        assert_eq!(
            String::from_utf8_lossy(&c.head),
            "GET /api/bkt/obj-64m-1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nRange: bytes=3-10\r\n\r\n"
        );
        let credentials = Credentials { access_key: "AK".into(), secret_key: "SK".into(), region: "us-east-1".into() };
        let mut c = Client::new(endpoint, "bkt", Duration::from_secs(1), Some(credentials));
        c.build_head(&Request {
            method: Method::Put,
            key: Some("list/a b"),
            query: "",
            range: None,
            body: Body::repeat(b"xy", 2),
        });
        let head = String::from_utf8_lossy(&c.head).to_string();
        assert!(
            head.starts_with("PUT /api/bkt/list/a%20b HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 2\r\n"),
            "{head}"
        );
        assert!(head.contains("x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"));
        assert!(head.contains("Authorization: AWS4-HMAC-SHA256 Credential=AK/"));
        assert!(head.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature="));
    }
}
