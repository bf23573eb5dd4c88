//! Bucket actions: CreateBucket, HeadBucket, DeleteBucket, ListBuckets, and the small
//! read-only bucket sub-resources clients probe (location, versioning).

use super::documents::list;
use super::names::validate_bucket_name;
use super::Response;
use super::{CoreServices, S3Request};
use crate::dates::now_ms;
use crate::error::S3Error;
use crate::limits::XML_BODY_BYTES_MAX;
use crate::xml::XmlWriter;

pub(crate) async fn create_bucket(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
) -> Result<Response, S3Error> {
    validate_bucket_name(&bucket)?;
    // A CreateBucketConfiguration (LocationConstraint) may come along; there is one region.
    let configuration = request.read_document(XML_BODY_BYTES_MAX).await?;
    if !configuration.iter().all(u8::is_ascii_whitespace) {
        crate::xml::tree::parse(&configuration, XML_BODY_BYTES_MAX)?;
    }
    let location = format!("/{bucket}");
    services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.create_bucket(bucket, now_ms()).await })
        .await?;
    Ok(Response::ok().header("Location", location))
}

pub(crate) async fn head_bucket(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    services.shards.call(&bucket.clone(), move |shard| async move { shard.bucket_record(&bucket) }).await?;
    Ok(Response::ok().header("x-amz-bucket-region", "us-east-1"))
}

pub(crate) async fn delete_bucket(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    services.shards.call(&bucket.clone(), move |shard| async move { shard.delete_bucket(bucket).await }).await?;
    Ok(Response::no_content())
}

/// Asks every shard for its buckets and merges them in name order.
pub(crate) async fn list_buckets(services: &CoreServices) -> Result<Response, S3Error> {
    let mut buckets = Vec::new();
    for shard in 0..services.shards.shard_count() {
        let mut part = services.shards.call_shard(shard, |shard| async move { Ok(shard.list_buckets()) }).await?;
        buckets.append(&mut part);
    }
    buckets.sort();
    Ok(Response::xml(list::list_buckets(&buckets)))
}

pub(crate) async fn get_bucket_location(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    services.shards.call(&bucket.clone(), move |shard| async move { shard.bucket_record(&bucket) }).await?;
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("LocationConstraint");
    xml.close("LocationConstraint");
    Ok(Response::xml(xml.finish()))
}

/// Versioning is never enabled: the document is empty, as for a bucket that never had it.
pub(crate) async fn get_bucket_versioning(services: &CoreServices, bucket: String) -> Result<Response, S3Error> {
    services.shards.call(&bucket.clone(), move |shard| async move { shard.bucket_record(&bucket) }).await?;
    let mut xml = XmlWriter::with_declaration();
    xml.open_root("VersioningConfiguration");
    xml.close("VersioningConfiguration");
    Ok(Response::xml(xml.finish()))
}
