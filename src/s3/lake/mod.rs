//! s3core in front of an upstream object store (`--upstream`): the upstream is the source of
//! truth, this node keeps a cache of its object data.
//!
//! - Reads (`read`): GET and HEAD resolve the object's current version (`objects`, fresh for
//!   `--upstream-revalidate`), then serve the requested bytes from pages of
//!   `CACHE_PAGE_BYTES` keyed by (bucket, key, ETag, page), each fetched from the upstream
//!   once (`pages`: a page's owner core fetches it, readers on any core wait for that one
//!   fetch) with `If-Match` on the version, so a page can never belong to another version.
//! - Writes (`write`): PutObject, DeleteObject and DeleteObjects go through to the upstream and
//!   are acknowledged only once it acknowledged them; what this core knew of the object is
//!   forgotten.
//! - Listings and bucket actions pass through. Actions not listed in `handle` answer
//!   501 NotImplemented in this mode (multipart, copy, tagging, ACLs: not yet).

pub(crate) mod objects;
pub(crate) mod pages;
mod read;
mod write;

use std::rc::Rc;

use objects::KnownObjects;
use pages::PageRouter;

use super::router::Action;
use super::{Response, ResponseBody, S3Request};
use crate::cache::ObjectVersion;
use crate::error::S3Error;
use crate::s3_error;
use crate::upstream::{Document, Upstream};

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

/// Runs `action` against the upstream.
pub(crate) async fn handle(lake: &Lake, request: &mut S3Request<'_>, action: Action) -> Result<Response, S3Error> {
    let upstream = &lake.upstream;
    match action {
        Action::GetObject { bucket, key } => read::get_object(lake, request, bucket, key, false).await,
        Action::HeadObject { bucket, key } => read::get_object(lake, request, bucket, key, true).await,
        Action::PutObject { bucket, key } => write::put_object(lake, request, bucket, key).await,
        Action::DeleteObject { bucket, key } => write::delete_object(lake, bucket, key).await,
        Action::DeleteObjects { bucket } => write::delete_objects(lake, request, bucket).await,
        Action::ListObjects { bucket } => relay(upstream.list_objects(&bucket, &parameters(request)).await?),
        Action::ListObjectsV2 { bucket } => relay(upstream.list_objects_v2(&bucket, &parameters(request)).await?),
        Action::ListBuckets => relay(upstream.list_buckets().await?),
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
        other => {
            let debug = format!("{other:?}");
            let name = debug.split([' ', '{']).next().unwrap_or("This action");
            Err(s3_error!(NotImplemented, "{name} is not available in front of an upstream store yet"))
        }
    }
}

/// The request's query parameters, to pass on.
fn parameters<'a>(request: &'a S3Request<'_>) -> Vec<(&'a str, &'a str)> {
    request.query.pairs().iter().map(|(name, value)| (name.as_str(), value.as_deref().unwrap_or(""))).collect()
}

/// An upstream document answered as it came.
fn relay(document: Document) -> Result<Response, S3Error> {
    let status = http::StatusCode::from_u16(document.status)
        .map_err(|_| s3_error!(ServiceUnavailable, "the upstream store answered status {}", document.status))?;
    let content_type =
        document.headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("application/xml");
    Ok(Response::new(status).header("Content-Type", content_type.to_string()).body(ResponseBody::Bytes(document.body)))
}
