//! Writes in front of an upstream: acknowledged only once the upstream acknowledged them.
//! A PUT's body flows from the client's connection to the upstream piece by piece, never held
//! whole; a client that leaves mid-body makes the upstream request fail, so no object is made.
//! What this core knew of a written or deleted object is forgotten, so its next read asks the
//! upstream (other cores revalidate by their `--upstream-revalidate` period).

use std::io;

use super::{relay, Lake};
use crate::error::S3Error;
use crate::http::body::BodyError;
use crate::limits::{OBJECT_BYTES_MAX, XML_BODY_BYTES_MAX};
use crate::s3::documents::delete::decode_delete;
use crate::s3::metadata::WriteMetadata;
use crate::s3::upload::check_upload_length;
use crate::s3::{Response, S3Request};
use crate::s3_error;
use crate::upstream::{BodySource, PutOptions, UpstreamError};

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

/// A client's request body as the upstream client's `BodySource`: read from the connection
/// as the upstream takes it. Not replayable.
struct ClientBody<'r, 'a> {
    request: &'r mut S3Request<'a>,
    length: u64,
    /// Why the client's body failed (its own S3 error, not the upstream's).
    failure: Option<BodyError>,
}

impl BodySource for ClientBody<'_, '_> {
    fn length(&self) -> u64 {
        self.length
    }

    async fn fill(&mut self, mut buffer: Vec<u8>, max_bytes: usize) -> (io::Result<usize>, Vec<u8>) {
        let request = &mut *self.request;
        match request.body.read_into(request.connection, &mut buffer, max_bytes).await {
            Ok(read) => (Ok(read), buffer),
            Err(error) => {
                let message = error.to_string();
                self.failure = Some(error);
                (Err(io::Error::other(message)), buffer)
            }
        }
    }
}

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
    let mut body = ClientBody { request, length, failure: None };
    let written = lake.upstream.put_object(&bucket, &key, &mut body, &options).await;
    lake.objects.forget(&bucket, &key);
    let head = match written {
        Ok(head) => head,
        Err(UpstreamError::Source(_)) if body.failure.is_some() => {
            return Err(body.failure.take().map(S3Error::from).unwrap_or_else(|| s3_error!(IncompleteBody)));
        }
        Err(error) => return Err(error.into()),
    };
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
    let answer = lake.upstream.delete_objects(&bucket, &keys, delete.quiet).await;
    for key in &delete.keys {
        lake.objects.forget(&bucket, key);
    }
    relay(answer?)
}
