//! `?acl` in front of an upstream: answered as s3core answers it without one (the owner has
//! full control; only a private ACL is accepted), after checking with the upstream that the
//! bucket or object exists. ACLs are not passed through: a client of s3core, holding only
//! s3core's credentials, must not be able to share the lake's data by changing the upstream's
//! ACLs with the credentials s3core holds for it.

use super::Lake;
use crate::error::S3Error;
use crate::s3::acl::{check_private, owner_policy};
use crate::s3::{Response, S3Request};
use crate::s3_error;
use crate::upstream::UpstreamError;

async fn check_exists(lake: &Lake, bucket: &str, key: Option<&str>) -> Result<(), S3Error> {
    match key {
        Some(key) => lake.objects.resolve(&lake.upstream, bucket, key).await.map(|_| ()),
        None => match lake.upstream.head_bucket(bucket).await {
            Ok(_) => Ok(()),
            // A HEAD answer has no document to name the code: a missing bucket is a 404.
            Err(UpstreamError::Response(response)) if response.status == 404 => Err(s3_error!(NoSuchBucket)),
            Err(error) => Err(error.into()),
        },
    }
}

pub(super) async fn get_acl(lake: &Lake, bucket: &str, key: Option<&str>) -> Result<Response, S3Error> {
    check_exists(lake, bucket, key).await?;
    Ok(owner_policy())
}

pub(super) async fn put_acl(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: &str,
    key: Option<&str>,
) -> Result<Response, S3Error> {
    check_exists(lake, bucket, key).await?;
    check_private(request).await?;
    Ok(Response::ok())
}
