//! s3core in front of an upstream object store (`--upstream`): the upstream is the source of
//! truth, this node keeps a cache of its object data.
//!
//! - Reads (`read`): GET and HEAD (of a part too: `partNumber` asks the upstream for the
//!   part's span) resolve the object's current version (`objects`, fresh for
//!   `--upstream-revalidate`), then serve the requested bytes from pages of
//!   `CACHE_PAGE_BYTES` keyed by (bucket, key, ETag, page), each fetched from the upstream
//!   once (`pages`: a page's owner core fetches it, readers on any core wait for that one
//!   fetch) with `If-Match` on the version, so a page can never belong to another version.
//! - Writes (`write`, `multipart`): acknowledged only once the upstream acknowledged them,
//!   bodies streamed through (`client_body`); what this core knew of the object is forgotten.
//!   A PutObject fills the cache on its way (staged pages, published under the ETag the
//!   upstream answered before the client hears of it); multipart uploads are the upstream's
//!   own (its UploadId is the client's) and do not fill it.
//! - Everything else passes through (`forward`): CopyObject and UploadPartCopy (server-side
//!   copies upstream), listings, tagging, bucket actions and sub-resources, answered as the
//!   upstream answered. ACLs (`acl`) are answered as without an upstream, after an existence
//!   check there. Only `Unsupported` sub-resources answer 501, as without an upstream.

mod acl;
mod client_body;
mod forward;
mod multipart;
pub(crate) mod objects;
pub(crate) mod pages;
mod read;
mod write;

use std::rc::Rc;

use objects::KnownObjects;
use pages::PageRouter;

use forward::{answer, forward_of, no_content, pass, pass_copy, pass_document};

use super::router::Action;
use super::{Response, S3Request};
use crate::cache::ObjectVersion;
use crate::error::S3Error;
use crate::s3_error;
use crate::upstream::Upstream;

/// One core's view of the upstream: its client, its known objects and every page.
pub(crate) struct Lake {
    pub(crate) upstream: Rc<Upstream>,
    pub(crate) objects: KnownObjects,
    pub(crate) pages: PageRouter,
}

/// The bytes `offset..offset + length` of an upstream object version: the body of a GET in
/// front of an upstream, sent from cache pages by the connection (`server::send_object`).
#[derive(Debug)]
pub(crate) struct LakeSlice {
    pub(crate) version: ObjectVersion,
    pub(crate) offset: u64,
    pub(crate) length: u64,
}

/// Runs `action` against the upstream. Every action the router knows is served: reads from
/// the cache, writes through, the rest passed through (`forward`); only `Unsupported`
/// sub-resources answer 501, as without an upstream.
pub(crate) async fn handle(lake: &Lake, request: &mut S3Request<'_>, action: Action) -> Result<Response, S3Error> {
    let upstream = &lake.upstream;
    match action {
        Action::GetObject { bucket, key } => read::get_object(lake, request, bucket, key, false).await,
        Action::HeadObject { bucket, key } => read::get_object(lake, request, bucket, key, true).await,
        Action::PutObject { bucket, key } => write::put_object(lake, request, bucket, key).await,
        Action::DeleteObject { bucket, key } => write::delete_object(lake, bucket, key).await,
        Action::DeleteObjects { bucket } => write::delete_objects(lake, request, bucket).await,
        Action::CopyObject { bucket, key } => {
            // A server-side copy upstream; the answer is the upstream's CopyObjectResult.
            let copied = pass_copy(lake, request, &bucket, &key, "CopyObjectResult").await;
            lake.objects.forget(&bucket, &key);
            copied
        }
        Action::CreateMultipartUpload { bucket, key } => multipart::create(lake, request, &bucket, &key).await,
        Action::UploadPart { bucket, key } => multipart::upload_part(lake, request, &bucket, &key).await,
        Action::UploadPartCopy { bucket, key } => pass_copy(lake, request, &bucket, &key, "CopyPartResult").await,
        Action::CompleteMultipartUpload { bucket, key } => multipart::complete(lake, request, &bucket, &key).await,
        Action::AbortMultipartUpload { bucket, key } => {
            no_content(pass(lake, request, "DELETE", &bucket, Some(&key)).await)
        }
        Action::ListParts { bucket, key } => pass(lake, request, "GET", &bucket, Some(&key)).await,
        Action::ListMultipartUploads { bucket } => pass(lake, request, "GET", &bucket, None).await,
        Action::GetObjectTagging { bucket, key } => pass(lake, request, "GET", &bucket, Some(&key)).await,
        Action::PutObjectTagging { bucket, key } => {
            let forward = forward_of(request, "PUT", &bucket, Some(&key))?;
            let tagged = pass_document(lake, request, &forward).await;
            // HEAD answers carry the tag count: what this core knew is out of date.
            lake.objects.forget(&bucket, &key);
            tagged
        }
        Action::DeleteObjectTagging { bucket, key } => {
            let deleted = pass(lake, request, "DELETE", &bucket, Some(&key)).await;
            lake.objects.forget(&bucket, &key);
            no_content(deleted)
        }
        Action::GetBucketTagging { bucket } => pass(lake, request, "GET", &bucket, None).await,
        Action::PutBucketTagging { bucket } => {
            let forward = forward_of(request, "PUT", &bucket, None)?;
            no_content(pass_document(lake, request, &forward).await)
        }
        Action::DeleteBucketTagging { bucket } => no_content(pass(lake, request, "DELETE", &bucket, None).await),
        Action::GetBucketLocation { bucket } | Action::GetBucketVersioning { bucket } => {
            pass(lake, request, "GET", &bucket, None).await
        }
        Action::GetAcl { bucket, key } => acl::get_acl(lake, &bucket, key.as_deref()).await,
        Action::PutAcl { bucket, key } => acl::put_acl(lake, request, &bucket, key.as_deref()).await,
        Action::ListObjects { bucket } => answer(upstream.list_objects(&bucket, &parameters(request)).await?),
        Action::ListObjectsV2 { bucket } => answer(upstream.list_objects_v2(&bucket, &parameters(request)).await?),
        Action::ListBuckets => answer(upstream.list_buckets().await?),
        Action::CreateBucket { bucket } => {
            upstream.create_bucket(&bucket).await?;
            Ok(Response::ok().header("Location", format_args!("/{bucket}")))
        }
        Action::DeleteBucket { bucket } => {
            upstream.delete_bucket(&bucket).await?;
            Ok(Response::no_content())
        }
        Action::HeadBucket { bucket } => {
            upstream.head_bucket(&bucket).await?;
            Ok(Response::ok())
        }
        Action::Unsupported { what } => Err(s3_error!(NotImplemented, "{what} is not implemented")),
    }
}

/// The request's query parameters, to pass on (less those authenticating it to s3core).
fn parameters<'a>(request: &'a S3Request<'_>) -> Vec<(&'a str, &'a str)> {
    request
        .query
        .pairs()
        .iter()
        .filter(|(name, _)| !forward::authenticates(name))
        .map(|(name, value)| (name.as_str(), value.as_deref().unwrap_or("")))
        .collect()
}
