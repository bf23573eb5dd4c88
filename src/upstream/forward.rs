//! Any S3 action sent on as a client asked for it: the operations of s3core in front of an
//! upstream that need nothing of the answer but to relay it (multipart, copy, tagging,
//! bucket sub-resources). The request is rebuilt and signed here, never copied raw: the
//! client's own signature and credentials stop at s3core.

use super::body::BodySource;
use super::client::{Call, Document, Upstream, Want};
use super::error::UpstreamError;
use super::object::document;

/// One action to send on: what the client asked, less its signature.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    pub method: &'static str,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    /// Decoded query pairs (`None`: a bare name such as `uploads` or `tagging`).
    pub query: Vec<(String, Option<String>)>,
    /// Headers to send as given (the caller chooses which of the client's pass).
    pub headers: Vec<(String, String)>,
    /// Whether sending it twice is harmless, so a failed attempt may be retried.
    pub idempotent: bool,
}

impl Upstream {
    /// Sends `forward` with `body` and returns the upstream's whole answer (an `<Error>`
    /// document, also one sent with a 200, is `UpstreamError::Response`).
    pub async fn forward<B: BodySource>(&self, forward: &Forward<'_>, mut body: B) -> Result<Document, UpstreamError> {
        let mut call = Call::new(forward.method, Some(forward.bucket), forward.key).idempotent(forward.idempotent);
        call.query.clone_from(&forward.query);
        call.headers.clone_from(&forward.headers);
        document(self.execute(&call, &mut body, Want::Document).await?)
    }
}

impl Upstream {
    /// Sends `forward` with an XML document as its body (tagging, CompleteMultipartUpload),
    /// signed with its hash and given a `Content-MD5` when the client sent none (S3 requires
    /// one for several of these).
    pub async fn forward_document(&self, forward: &Forward<'_>, document: Vec<u8>) -> Result<Document, UpstreamError> {
        let mut forward = forward.clone();
        if !document.is_empty() && !forward.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-md5")) {
            forward.headers.push(("content-md5".to_string(), super::object::content_md5(&document)));
        }
        self.forward(&forward, super::body::InMemoryBody::new(document)).await
    }
}
