//! The tagging actions: Get/Put/DeleteObjectTagging and Get/Put/DeleteBucketTagging. Tag
//! rules and documents are in `tags`.

use super::names::check_version_id;
use super::object::lookup;
use super::tags::{decode_tagging, encode_tagging, BUCKET_TAGS_MAX, OBJECT_TAGS_MAX};
use super::Response;
use super::{CoreServices, S3Request};
use crate::error::S3Error;
use crate::limits::XML_BODY_BYTES_MAX;
use crate::s3_error;
use crate::store::record::Pair;

/// S3 answers tag sets sorted by key, whatever order they were set in.
fn in_key_order(mut tags: Vec<Pair>) -> Vec<Pair> {
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags
}

pub(crate) async fn get_bucket_tagging(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    let record =
        services.shards.call(&bucket.clone(), move |shard| async move { shard.bucket_record(&bucket) }).await?;
    match record.tags {
        Some(tags) => Ok(Response::xml(encode_tagging(&in_key_order(tags)))),
        None => Err(s3_error!(NoSuchTagSet)),
    }
}

pub(crate) async fn put_bucket_tagging(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    let tags = decode_tagging(&document, BUCKET_TAGS_MAX)?;
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.set_bucket_tags(bucket, Some(tags)).await })
        .await?;
    Ok(Response::no_content())
}

pub(crate) async fn delete_bucket_tagging(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.set_bucket_tags(bucket, None).await })
        .await?;
    Ok(Response::no_content())
}

pub(crate) async fn get_object_tagging(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    check_version_id(request.query)?;
    let record = lookup(services, &bucket, &key).await?;
    Ok(Response::xml(encode_tagging(&in_key_order(record.tags.clone()))))
}

pub(crate) async fn put_object_tagging(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    check_version_id(request.query)?;
    let document = request.read_document(XML_BODY_BYTES_MAX).await?;
    let tags = decode_tagging(&document, OBJECT_TAGS_MAX)?;
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.set_object_tags(bucket, key, tags).await })
        .await?;
    Ok(Response::ok())
}

pub(crate) async fn delete_object_tagging(
    services: &CoreServices,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.set_object_tags(bucket, key, Vec::new()).await })
        .await?;
    Ok(Response::no_content())
}
