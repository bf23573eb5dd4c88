//! Actions sent on to the upstream as the client asked them and answered as the upstream
//! answered (multipart, copy, tagging, bucket sub-resources): the upstream's status, its
//! document byte for byte and the headers S3 answers these actions with. The client's
//! signature, credentials and framing stop here; the request is rebuilt and signed with
//! s3core's upstream credentials.

use http::StatusCode;

use super::Lake;
use crate::error::S3Error;
use crate::limits::XML_BODY_BYTES_MAX;
use crate::s3::metadata::WriteMetadata;
use crate::s3::{Response, ResponseBody, S3Request};
use crate::s3_error;
use crate::upstream::{Document, Forward, InMemoryBody};
use crate::xml::{tree, XmlWriter};

/// Request headers passed on as they came, besides Content-Type, the standard stored headers
/// and `x-amz-meta-*` (`WriteMetadata`, which drops `aws-chunked`: framing between the
/// client and s3core only). Copy sources, conditions, directives, checksums: everything an
/// S3 write action reads from headers.
const FORWARDED_HEADERS: &[&str] = &[
    "content-md5",
    "if-match",
    "if-none-match",
    "x-amz-checksum-algorithm",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
    "x-amz-copy-source",
    "x-amz-copy-source-if-match",
    "x-amz-copy-source-if-modified-since",
    "x-amz-copy-source-if-none-match",
    "x-amz-copy-source-if-unmodified-since",
    "x-amz-copy-source-range",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-tagging",
    "x-amz-tagging-directive",
];

/// Headers of the upstream's answer relayed to the client.
const ANSWERED_HEADERS: &[&str] = &[
    "etag",
    "x-amz-abort-date",
    "x-amz-abort-rule-id",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
    "x-amz-checksum-type",
    "x-amz-copy-source-version-id",
    "x-amz-server-side-encryption",
    "x-amz-version-id",
];

/// Query parameters that authenticate a presigned request to s3core: they are not the
/// upstream's to see (s3core signs its own request).
const AUTHENTICATION_PARAMETERS: &[&str] = &[
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
    "awsaccesskeyid",
    "signature",
    "expires",
];

/// The request's query parameters to pass on, less those authenticating it to s3core.
pub(super) fn query_parameters(request: &S3Request<'_>) -> Vec<(String, Option<String>)> {
    request.query.pairs().iter().filter(|(name, _)| !authenticates(name)).cloned().collect()
}

/// Whether query parameter `name` authenticates a presigned request to s3core.
pub(super) fn authenticates(name: &str) -> bool {
    AUTHENTICATION_PARAMETERS.iter().any(|parameter| name.eq_ignore_ascii_case(parameter))
}

/// The client's headers that the upstream acts on.
pub(super) fn forwarded_headers(request: &S3Request<'_>) -> Result<Vec<(String, String)>, S3Error> {
    let metadata = WriteMetadata::from_head(request.head)?;
    let mut headers = Vec::new();
    if let Some(content_type) = metadata.content_type {
        headers.push(("content-type".to_string(), content_type));
    }
    headers.extend(metadata.stored_headers);
    headers.extend(metadata.user_metadata.into_iter().map(|(name, value)| (format!("x-amz-meta-{name}"), value)));
    for name in FORWARDED_HEADERS {
        if let Some(value) = request.head.header(name) {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    Ok(headers)
}

/// The request as a `Forward` of `method` to `bucket` (and `key`).
pub(super) fn forward_of<'a>(
    request: &S3Request<'_>,
    method: &'static str,
    bucket: &'a str,
    key: Option<&'a str>,
) -> Result<Forward<'a>, S3Error> {
    Ok(Forward {
        method,
        bucket,
        key,
        query: query_parameters(request),
        headers: forwarded_headers(request)?,
        idempotent: method != "POST",
    })
}

/// Sends the request on without a body and answers with the upstream's answer.
pub(super) async fn pass(
    lake: &Lake,
    request: &S3Request<'_>,
    method: &'static str,
    bucket: &str,
    key: Option<&str>,
) -> Result<Response, S3Error> {
    let forward = forward_of(request, method, bucket, key)?;
    answer(lake.upstream.forward(&forward, InMemoryBody::empty()).await?)
}

/// Sends the request on with its XML document (read whole, bounded) and answers with the
/// upstream's answer.
pub(super) async fn pass_document(
    lake: &Lake,
    request: &mut S3Request<'_>,
    forward: &Forward<'_>,
) -> Result<Response, S3Error> {
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    answer(lake.upstream.forward_document(forward, document).await?)
}

/// Sends a copy (CopyObject, UploadPartCopy) on and answers with its result, whose root is
/// `root` (`CopyObjectResult`, `CopyPartResult`), in S3's shape (`copy_result`).
pub(super) async fn pass_copy(
    lake: &Lake,
    request: &S3Request<'_>,
    bucket: &str,
    key: &str,
    root: &str,
) -> Result<Response, S3Error> {
    let forward = forward_of(request, "PUT", bucket, Some(key))?;
    let mut document = lake.upstream.forward(&forward, InMemoryBody::empty()).await?;
    document.body = copy_result(&document.body, root)?;
    answer(document)
}

/// Elements of a copy result relayed besides the ETag.
const COPY_RESULT_ELEMENTS: &[&str] =
    &["LastModified", "ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256"];

/// The upstream's copy result rewritten in S3's shape: the same ETag and LastModified, the
/// ETag quoted as S3 sends it (SeaweedFS sends it bare, and SDKs compare it with the quoted
/// ETag of a GET).
fn copy_result(document: &[u8], root: &str) -> Result<Vec<u8>, S3Error> {
    let unreadable = || s3_error!(InternalError, "The upstream store sent a {root} s3core cannot read.");
    let parsed = tree::parse(document, XML_BODY_BYTES_MAX).map_err(|_| unreadable())?;
    let etag = parsed.child_text("ETag").map(str::trim).filter(|etag| !etag.is_empty());
    let (true, Some(etag)) = (parsed.name == root, etag) else { return Err(unreadable()) };
    let mut xml = XmlWriter::with_declaration();
    xml.open_root(root);
    for name in COPY_RESULT_ELEMENTS {
        if let Some(text) = parsed.child_text(name) {
            xml.element(name, text);
        }
    }
    if etag.starts_with('"') {
        xml.element("ETag", etag);
    } else {
        xml.element("ETag", &format!("\"{etag}\""));
    }
    xml.close(root);
    Ok(xml.finish())
}

/// A success answered as S3 answers the action: 204 No Content (PutBucketTagging,
/// DeleteBucketTagging, DeleteObjectTagging, AbortMultipartUpload), where a store may say 200
/// (SeaweedFS does for PutBucketTagging). Errors are left as they are.
pub(super) fn no_content(answered: Result<Response, S3Error>) -> Result<Response, S3Error> {
    let mut response = answered?;
    if response.status.is_success() && response.status != StatusCode::NO_CONTENT {
        if !matches!(response.body, ResponseBody::Empty) {
            // A document S3 does not send, with its Content-Type: nothing of it is kept.
            return Ok(Response::no_content());
        }
        response.status = StatusCode::NO_CONTENT;
    }
    Ok(response)
}

/// The upstream's answer as the client's: status, S3's headers of these actions, and the
/// document as it came.
pub(super) fn answer(document: Document) -> Result<Response, S3Error> {
    let status = StatusCode::from_u16(document.status)
        .map_err(|_| s3_error!(ServiceUnavailable, "the upstream store answered status {}", document.status))?;
    let mut response = Response::new(status);
    for name in ANSWERED_HEADERS {
        if let Some(value) = document.headers.get(*name).and_then(|value| value.to_str().ok()) {
            response.push_header(name, value);
        }
    }
    if !document.body.is_empty() {
        let content_type =
            document.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("application/xml");
        response.push_header("Content-Type", content_type);
        response.body = ResponseBody::Bytes(document.body);
    }
    Ok(response)
}
