//! Multipart uploads in front of an upstream, each mapped onto the upstream's own multipart
//! upload: the UploadId the client gets is the upstream's (so any s3core node in front of the
//! same upstream can take the next part, and an upload outlives a restart of this one).
//! Parts stream from the client's connection to the upstream as a PUT's body does; a client
//! that leaves mid-part fails that part upstream (the upload stays open for a retry of the
//! part, or an abort, as in S3).
//!
//! Parts do not fill the cache: an object's pages are aligned to its own offsets, which are
//! known only at CompleteMultipartUpload (when the parts and their sizes are chosen), and so
//! is the ETag that names the pages; holding staged parts between requests, across cores and
//! nodes, for uploads that may never complete, costs more than the first read's fetch.

use super::client_body::ClientBody;
use super::forward::{answer, forward_of, pass, pass_document};
use super::Lake;
use crate::error::S3Error;
use crate::limits::PART_BYTES_MAX;
use crate::s3::upload::check_upload_length;
use crate::s3::{Response, S3Request};
use crate::s3_error;
use crate::upstream::{Forward, UpstreamError};

/// CreateMultipartUpload with the client's metadata, tagging and checksum algorithm.
pub(super) async fn create(lake: &Lake, request: &S3Request<'_>, bucket: &str, key: &str) -> Result<Response, S3Error> {
    lake.objects.forget(bucket, key);
    pass(lake, request, "POST", bucket, Some(key)).await
}

/// UploadPart: the part's bytes streamed through, answered with the upstream's part ETag.
pub(super) async fn upload_part(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    check_upload_length(request, PART_BYTES_MAX)?;
    let length = request.body.declared_length().ok_or_else(|| {
        s3_error!(MissingContentLength, "An UploadPart in front of an upstream store needs its length")
    })?;
    let forward = Forward { idempotent: true, ..forward_of(request, "PUT", bucket, Some(key))? };
    let mut body = ClientBody::new(request, length, None);
    match lake.upstream.forward(&forward, &mut body).await {
        Ok(document) => answer(document),
        Err(UpstreamError::Source(_)) if body.failure.is_some() => {
            Err(body.failure.take().map(S3Error::from).unwrap_or_else(|| s3_error!(IncompleteBody)))
        }
        Err(error) => Err(error.into()),
    }
}

/// CompleteMultipartUpload: the client's part list sent on; the upstream's result (an
/// `<Error>` it sends with a 200 included) answered as it came.
pub(super) async fn complete(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    // Completing the same parts again makes the same object: safe to retry.
    let forward = Forward { idempotent: true, ..forward_of(request, "POST", bucket, Some(key))? };
    let completed = pass_document(lake, request, &forward).await;
    lake.objects.forget(bucket, key);
    completed
}
