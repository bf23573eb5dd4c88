//! Object operations against the upstream: HeadObject, GetObject (streamed, with Range and
//! conditions), PutObject (streamed), CopyObject (server-side), DeleteObject, DeleteObjects
//! and object tagging, with the typed answers the cache needs (`ObjectHead`).

use http::HeaderMap;

use super::body::{BodySink, BodySource, InMemoryBody};
use super::client::{Answer, Call, Document, Upstream, Want};
use super::documents;
use super::error::UpstreamError;
use super::response::{ResponseBody, ResponseHead};
use crate::dates::parse_http_date;
use crate::encoding::percent_encode;
use crate::limits::UPSTREAM_BODY_PIECE_BYTES;

/// What the upstream said about an object: the fields the cache keys and serves by, and all
/// headers as received, to relay.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    pub status: u16,
    /// Quoted (`"9b2cf535f27731c974343645a3985328"`, or `"...-N"` for multipart); a bare
    /// value from the upstream is quoted, so ETags compare and go back in `If-Match` as is.
    pub etag: Option<String>,
    /// Of this answer's body (a range's length for 206).
    pub content_length: Option<u64>,
    pub content_range: Option<ContentRange>,
    /// As sent (an HTTP date), and in milliseconds since the epoch when it parses.
    pub last_modified: Option<String>,
    pub last_modified_ms: Option<u64>,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` fields: names without the prefix, lower-case, in received order.
    pub metadata: Vec<(String, String)>,
    pub version_id: Option<String>,
    pub headers: HeaderMap,
}

impl ObjectHead {
    pub(crate) fn from_head(head: &ResponseHead) -> ObjectHead {
        let text = |name: &str| head.header(name).map(|value| value.trim().to_string());
        let metadata = head
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let suffix = name.as_str().strip_prefix("x-amz-meta-")?;
                Some((suffix.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            })
            .collect();
        let last_modified = text("last-modified");
        ObjectHead {
            status: head.status,
            etag: text("etag").map(|etag| documents::quoted_etag(&etag)),
            content_length: text("content-length").and_then(|value| value.parse().ok()),
            content_range: text("content-range").and_then(|value| ContentRange::parse(&value)),
            last_modified_ms: last_modified.as_deref().and_then(parse_http_date),
            last_modified,
            content_type: text("content-type"),
            metadata,
            version_id: text("x-amz-version-id"),
            headers: head.headers.clone(),
        }
    }

    fn require_etag(self, operation: &str) -> Result<ObjectHead, UpstreamError> {
        if self.etag.as_deref().is_none_or(str::is_empty) {
            return Err(UpstreamError::Protocol(format!("{operation} answered without an ETag")));
        }
        Ok(self)
    }
}

/// `Content-Range: bytes first-last/total` of a 206 answer (`total` unknown: `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    pub fn parse(text: &str) -> Option<ContentRange> {
        let (range, total) = text.trim().strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
        let total = match total.trim() {
            "*" => None,
            number => Some(number.parse().ok()?),
        };
        (first <= last && total.is_none_or(|total| last < total)).then_some(ContentRange { first, last, total })
    }
}

/// The `Range` of a GET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    Inclusive { first: u64, last: u64 },
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-length`: the last `length` bytes.
    Suffix(u64),
}

impl ByteRange {
    fn header(self) -> String {
        match self {
            ByteRange::Inclusive { first, last } => format!("bytes={first}-{last}"),
            ByteRange::From(first) => format!("bytes={first}-"),
            ByteRange::Suffix(length) => format!("bytes=-{length}"),
        }
    }
}

/// Range and conditions of a GET or HEAD.
#[derive(Debug, Clone, Default)]
pub struct GetOptions {
    pub range: Option<ByteRange>,
    /// Answer only if the ETag is this one (412 PreconditionFailed otherwise): the cache fetches
    /// pages of a version it knows.
    pub if_match: Option<String>,
    /// Answer only if the ETag differs (304 NotModified otherwise): revalidation.
    pub if_none_match: Option<String>,
}

/// Headers of an upload: content type, user metadata and others to pass through.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    /// `x-amz-meta-*` pairs, names without the prefix.
    pub metadata: Vec<(String, String)>,
    /// Further headers sent as given (Cache-Control, Content-Disposition, Content-Encoding,
    /// Expires, x-amz-storage-class, x-amz-tagging, Content-MD5, ...).
    pub headers: Vec<(String, String)>,
    /// `If-None-Match` (`*`: create only if absent).
    pub if_none_match: Option<String>,
    /// `If-Match`: replace only this version.
    pub if_match: Option<String>,
}

impl PutOptions {
    pub(crate) fn apply<'a>(&self, mut call: Call<'a>) -> Call<'a> {
        if let Some(content_type) = &self.content_type {
            call = call.header("content-type", content_type);
        }
        for (name, value) in &self.metadata {
            call = call.header(&format!("x-amz-meta-{name}"), value);
        }
        for (name, value) in &self.headers {
            call = call.header(name, value);
        }
        if let Some(etag) = &self.if_none_match {
            call = call.header("if-none-match", etag);
        }
        if let Some(etag) = &self.if_match {
            call = call.header("if-match", etag);
        }
        call
    }
}

/// How CopyObject treats the source and the new object's headers.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Copy only if the source's ETag is this one (`x-amz-copy-source-if-match`).
    pub source_if_match: Option<String>,
    /// `Some`: the new object gets these headers (`x-amz-metadata-directive: REPLACE`);
    /// `None`: it keeps the source's.
    pub replace: Option<PutOptions>,
}

/// A GET's answer: the head, and the body still on the wire.
#[derive(Debug)]
pub struct ObjectResponse {
    pub head: ObjectHead,
    pub body: ResponseBody,
}

/// `Content-MD5` of a document: DeleteObjects requires one, and it costs nothing for the
/// other small documents.
pub(crate) fn content_md5(document: &[u8]) -> String {
    use base64::Engine;
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(document))
}

fn stream(answer: Answer) -> Result<(ResponseHead, ResponseBody), UpstreamError> {
    match answer {
        Answer::Stream(head, body) => Ok((head, body)),
        Answer::Document(_) => Err(UpstreamError::Protocol("expected a streamed answer".into())),
    }
}

pub(crate) fn document(answer: Answer) -> Result<Document, UpstreamError> {
    match answer {
        Answer::Document(document) => Ok(document),
        Answer::Stream(..) => Err(UpstreamError::Protocol("expected a document".into())),
    }
}

fn conditions<'a>(mut call: Call<'a>, options: &GetOptions) -> Call<'a> {
    if let Some(range) = options.range {
        call = call.header("range", &range.header());
    }
    if let Some(etag) = &options.if_match {
        call = call.header("if-match", etag);
    }
    if let Some(etag) = &options.if_none_match {
        call = call.header("if-none-match", etag);
    }
    call
}

impl Upstream {
    /// HeadObject. A missing object is `UpstreamError::Response` with status 404 (HEAD
    /// answers carry no document: the code is `NotFound`).
    pub async fn head_object(
        &self,
        bucket: &str,
        key: &str,
        options: &GetOptions,
    ) -> Result<ObjectHead, UpstreamError> {
        let call = conditions(Call::new("HEAD", Some(bucket), Some(key)), options);
        let (head, _) = stream(self.execute(&call, &mut InMemoryBody::empty(), Want::Stream).await?)?;
        Ok(ObjectHead::from_head(&head))
    }

    /// HeadObject of part `part_number` of a multipart object: its `content_range` is the
    /// part's span of the object (and its total size), its ETag the object's.
    pub async fn head_object_part(
        &self,
        bucket: &str,
        key: &str,
        part_number: u32,
    ) -> Result<ObjectHead, UpstreamError> {
        let call = Call::new("HEAD", Some(bucket), Some(key)).query("partNumber", Some(&part_number.to_string()));
        let (head, _) = stream(self.execute(&call, &mut InMemoryBody::empty(), Want::Stream).await?)?;
        Ok(ObjectHead::from_head(&head))
    }

    /// GetObject, the body left to read from `ObjectResponse::body` (read it to the end to
    /// reuse the connection). Only the head is retried: a body that breaks off is
    /// `UpstreamError::Interrupted`, and the caller may ask again from where it stopped.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        options: &GetOptions,
    ) -> Result<ObjectResponse, UpstreamError> {
        let call = conditions(Call::new("GET", Some(bucket), Some(key)), options);
        let (head, body) = stream(self.execute(&call, &mut InMemoryBody::empty(), Want::Stream).await?)?;
        Ok(ObjectResponse { head: ObjectHead::from_head(&head), body })
    }

    /// GetObject streamed into `sink` piece by piece; the head once the body is complete.
    pub async fn get_object_into<S: BodySink>(
        &self,
        bucket: &str,
        key: &str,
        options: &GetOptions,
        sink: &mut S,
    ) -> Result<ObjectHead, UpstreamError> {
        let mut response = self.get_object(bucket, key, options).await?;
        response.body.copy_to(sink, UPSTREAM_BODY_PIECE_BYTES).await?;
        Ok(response.head)
    }

    /// PutObject with a body of known length, streamed from `body`. Retried on failures
    /// only while the body can be replayed (`BodySource::rewind`) or was not started.
    pub async fn put_object<B: BodySource>(
        &self,
        bucket: &str,
        key: &str,
        mut body: B,
        options: &PutOptions,
    ) -> Result<ObjectHead, UpstreamError> {
        let call = options.apply(Call::new("PUT", Some(bucket), Some(key)));
        let head = head_of(self.execute(&call, &mut body, Want::Document).await?)?;
        ObjectHead::from_head(&head).require_etag("PutObject")
    }

    /// Server-side CopyObject of `source_bucket/source_key` to `bucket/key`: the new ETag
    /// and LastModified come from the `CopyObjectResult` document.
    pub async fn copy_object(
        &self,
        source_bucket: &str,
        source_key: &str,
        bucket: &str,
        key: &str,
        options: &CopyOptions,
    ) -> Result<ObjectHead, UpstreamError> {
        let source = format!("/{}", percent_encode(format!("{source_bucket}/{source_key}").as_bytes(), true));
        let mut call = Call::new("PUT", Some(bucket), Some(key)).header("x-amz-copy-source", &source);
        if let Some(etag) = &options.source_if_match {
            call = call.header("x-amz-copy-source-if-match", etag);
        }
        if let Some(replace) = &options.replace {
            call = replace.apply(call.header("x-amz-metadata-directive", "REPLACE"));
        }
        let document = document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)?;
        let (etag, last_modified) = documents::copy_result(&document.body)?;
        let mut object = ObjectHead::from_head(&head_of(Answer::Document(document))?);
        object.etag = Some(etag);
        object.last_modified = last_modified;
        object.last_modified_ms = None;
        Ok(object)
    }

    /// DeleteObject (S3 answers 204 whether or not the key existed).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<ObjectHead, UpstreamError> {
        let call = Call::new("DELETE", Some(bucket), Some(key));
        let head = head_of(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)?;
        Ok(ObjectHead::from_head(&head))
    }

    /// DeleteObjects of up to 1000 keys; the `DeleteResult` document, raw, to relay.
    pub async fn delete_objects(&self, bucket: &str, keys: &[&str], quiet: bool) -> Result<Document, UpstreamError> {
        let body = documents::delete(keys, quiet);
        let call = Call::new("POST", Some(bucket), None)
            .query("delete", None)
            .header("content-md5", &content_md5(&body))
            .header("content-type", "application/xml")
            // Deleting the same keys again leaves the same state.
            .idempotent(true);
        document(self.execute(&call, &mut InMemoryBody::new(body), Want::Document).await?)
    }

    /// GetObjectTagging: the tags in document order.
    pub async fn get_object_tagging(&self, bucket: &str, key: &str) -> Result<Vec<(String, String)>, UpstreamError> {
        let call = Call::new("GET", Some(bucket), Some(key)).query("tagging", None);
        let document = document(self.execute(&call, &mut InMemoryBody::empty(), Want::Document).await?)?;
        documents::tags(&document.body)
    }

    /// PutObjectTagging: replaces the object's tag set.
    pub async fn put_object_tagging(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(&str, &str)],
    ) -> Result<(), UpstreamError> {
        let body = documents::tagging(tags);
        let call = Call::new("PUT", Some(bucket), Some(key))
            .query("tagging", None)
            .header("content-md5", &content_md5(&body))
            .header("content-type", "application/xml");
        self.execute(&call, &mut InMemoryBody::new(body), Want::Document).await?;
        Ok(())
    }
}

/// The head of a document answer (PUT and DELETE answers carry no body worth keeping; it
/// was read whole, checked for an `<Error>` and dropped, which lets the connection be reused).
pub(crate) fn head_of(answer: Answer) -> Result<ResponseHead, UpstreamError> {
    let document = document(answer)?;
    Ok(ResponseHead { status: document.status, headers: document.headers, keep_alive: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::response::parse_head;

    #[test]
    fn object_heads_carry_what_the_cache_needs() {
        let raw = "HTTP/1.1 206 Partial Content\r\nETag: \"abc\"\r\nContent-Length: 10\r\n\
                   Content-Range: bytes 0-9/100\r\nLast-Modified: Tue, 29 Aug 2017 22:36:03 GMT\r\n\
                   Content-Type: text/plain\r\nx-amz-meta-Owner: ana\r\nx-amz-meta-b: 2\r\nx-amz-version-id: v1\r\n\r\n";
        let (head, _) = parse_head(raw.as_bytes()).unwrap().unwrap();
        let object = ObjectHead::from_head(&head);
        assert_eq!(object.status, 206);
        assert_eq!(object.etag.as_deref(), Some("\"abc\""));
        assert_eq!(object.content_length, Some(10));
        assert_eq!(object.content_range, Some(ContentRange { first: 0, last: 9, total: Some(100) }));
        assert_eq!(object.last_modified_ms, Some(1_504_046_163_000));
        assert_eq!(object.content_type.as_deref(), Some("text/plain"));
        assert_eq!(object.metadata, vec![("owner".to_string(), "ana".to_string()), ("b".to_string(), "2".to_string())]);
        assert_eq!(object.version_id.as_deref(), Some("v1"));
        assert!(object.clone().require_etag("test").is_ok());
        let (bare, _) = parse_head(b"HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert!(matches!(ObjectHead::from_head(&bare).require_etag("PutObject"), Err(UpstreamError::Protocol(_))));
    }

    #[test]
    fn content_ranges_and_byte_ranges() {
        assert_eq!(ContentRange::parse("bytes 5-5/*"), Some(ContentRange { first: 5, last: 5, total: None }));
        for bad in ["bytes 9-5/100", "bytes 0-100/100", "items 0-1/2", "bytes 0-x/2", "bytes */100"] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
        assert_eq!(ByteRange::Inclusive { first: 0, last: 9 }.header(), "bytes=0-9");
        assert_eq!(ByteRange::From(7).header(), "bytes=7-");
        assert_eq!(ByteRange::Suffix(3).header(), "bytes=-3");
    }

    #[test]
    fn documents_get_their_md5() {
        // MD5 of nothing is d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}
