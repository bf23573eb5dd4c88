//! Writes in front of an upstream: acknowledged only once the upstream acknowledged them.
//! A PUT's body flows from the client's connection to the upstream piece by piece, never held
//! whole; a client that leaves mid-body makes the upstream request fail, so no object is made.
//! What this core knew of a written or deleted object is forgotten, so its next read asks the
//! upstream (other cores revalidate by their `--upstream-revalidate` period).
//!
//! A PUT fills the cache on its way: its bytes are staged into pages as they flow to the
//! upstream, and published under the ETag the upstream answered once it acknowledged, before
//! the client hears of it, so a read that follows finds them. A PUT that fails discards them.

use super::client_body::ClientBody;
use super::forward::answer;
use super::Lake;
use crate::cache::ObjectVersion;
use crate::error::S3Error;
use crate::limits::{OBJECT_BYTES_MAX, XML_BODY_BYTES_MAX};
use crate::s3::documents::delete::decode_delete;
use crate::s3::metadata::WriteMetadata;
use crate::s3::upload::check_upload_length;
use crate::s3::{Response, S3Request};
use crate::s3_error;
use crate::upstream::{PutOptions, UpstreamError};

/// Request headers a PUT passes on to the upstream besides type and user metadata.
const PASSED_HEADERS: &[&str] = &[
    "content-md5",
    "x-amz-tagging",
    "x-amz-storage-class",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

pub(super) async fn put_object(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    check_upload_length(request, OBJECT_BYTES_MAX)?;
    let length = request
        .body
        .declared_length()
        .ok_or_else(|| s3_error!(MissingContentLength, "A PUT in front of an upstream store needs its length"))?;
    let metadata = WriteMetadata::from_head(request.head)?;
    let mut options = PutOptions {
        content_type: metadata.content_type.clone(),
        metadata: metadata.user_metadata.clone(),
        headers: metadata.stored_headers.clone(),
        if_none_match: request.head.header("if-none-match").map(str::to_string),
        if_match: request.head.header("if-match").map(str::to_string),
    };
    for name in PASSED_HEADERS {
        if let Some(value) = request.head.header(name) {
            options.headers.push((name.to_string(), value.to_string()));
        }
    }
    let staged = lake.pages.stage(length);
    let mut body = ClientBody::new(request, length, staged);
    let written = lake.upstream.put_object(&bucket, &key, &mut body, &options).await;
    lake.objects.forget(&bucket, &key);
    let staged = body.staged.take();
    let head = match written {
        Ok(head) => head,
        Err(error) => {
            if let Some(staged) = staged {
                staged.discard().await;
            }
            return Err(match error {
                UpstreamError::Source(_) if body.failure.is_some() => {
                    body.failure.take().map(S3Error::from).unwrap_or_else(|| s3_error!(IncompleteBody))
                }
                error => error.into(),
            });
        }
    };
    if let (Some(staged), Some(etag)) = (staged, head.etag.as_deref()) {
        // Pages are keyed by the ETag the upstream answered, whatever it is (an MD5 or not):
        // it is what its HEAD will say of this version.
        let etag = etag.trim_matches('"').to_string();
        let version = ObjectVersion { bucket: bucket.clone(), key: key.clone(), etag, size_bytes: length };
        if let Some(pages) = staged.seal(&version).await {
            lake.pages.publish(pages).await;
        }
    }
    let mut response = Response::ok();
    if let Some(etag) = &head.etag {
        response.push_header("ETag", etag);
    }
    if let Some(version) = &head.version_id {
        response.push_header("x-amz-version-id", version);
    }
    Ok(response)
}

pub(super) async fn delete_object(lake: &Lake, bucket: String, key: String) -> Result<Response, S3Error> {
    let deleted = lake.upstream.delete_object(&bucket, &key).await;
    lake.objects.forget(&bucket, &key);
    deleted?;
    Ok(Response::no_content())
}

pub(super) async fn delete_objects(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    let delete = decode_delete(&document)?;
    let keys: Vec<&str> = delete.keys.iter().map(String::as_str).collect();
    let deleted = lake.upstream.delete_objects(&bucket, &keys, delete.quiet).await;
    for key in &delete.keys {
        lake.objects.forget(&bucket, key);
    }
    answer(deleted?)
}
