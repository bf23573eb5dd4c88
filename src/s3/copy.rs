//! Server-side copies: CopyObject and the source half of UploadPartCopy.
//!
//! A copy never rewrites object bytes: each source block gets a second name (a hard link) on
//! the destination's core, so a copy of any size costs one link per block plus one metadata
//! commit, and deleting either object later never affects the other. Sources in other
//! buckets, on other cores, work the same way: only metadata crosses cores.

use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};

use super::conditional::check_read;
use super::documents::multipart::copy_result;
use super::metadata::WriteMetadata;
use super::object::lookup;
use super::tags::parse_tagging_header;
use super::Response;
use super::{CoreServices, S3Request};
use crate::dates::now_ms;
use crate::encoding::{hex, percent_decode_utf8};
use crate::error::S3Error;
use crate::limits::{COPY_SOURCE_BYTES_MAX, KEY_BYTES_MAX};
use crate::s3_error;
use crate::shard::owner::WriteCondition;
use crate::store::record::{slice_extents, Extent, ObjectData, ObjectRecord, SharedRecord};

/// Parses `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, optionally with
/// `?versionId=null` (there are no other versions).
pub(crate) fn parse_copy_source(value: &str) -> Result<(String, String), S3Error> {
    let (path, version) = match value.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (value, None),
    };
    if let Some(query) = version {
        match query.strip_prefix("versionId=") {
            Some("null") => {}
            _ => return Err(s3_error!(InvalidArgument, "Invalid version id specified")),
        }
    }
    let path = path.strip_prefix('/').unwrap_or(path);
    let invalid =
        || s3_error!(InvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey");
    let (bucket, key) = path.split_once('/').ok_or_else(invalid)?;
    let bucket = percent_decode_utf8(bucket, false).ok_or_else(invalid)?;
    let key = percent_decode_utf8(key, false).ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(s3_error!(KeyTooLongError));
    }
    Ok((bucket, key))
}

/// The copy source named by the request, after its `x-amz-copy-source-if-*` conditions.
pub(crate) async fn copy_source(
    services: &CoreServices,
    request: &S3Request<'_>,
) -> Result<(String, String, SharedRecord), S3Error> {
    let header = request.head.header("x-amz-copy-source").ok_or_else(|| s3_error!(InvalidRequest))?;
    let (bucket, key) = parse_copy_source(header)?;
    let record = lookup(services, &bucket, &key).await?;
    check_read(request.head, &record, "x-amz-copy-source-")?;
    Ok((bucket, key, record))
}

/// New names for the bytes `offset..offset + length` of `data`: linked blocks (or an inline
/// slice). Durable when this returns.
pub(crate) async fn share_data(
    services: &CoreServices,
    data: &ObjectData,
    offset: u64,
    length: u64,
) -> Result<ObjectData, S3Error> {
    let extents = match data {
        ObjectData::Inline(bytes) => {
            return Ok(ObjectData::Inline(bytes.slice(offset as usize..(offset + length) as usize)));
        }
        ObjectData::Blocks(extents) => extents,
    };
    let pieces: Vec<Extent> = slice_extents(extents, offset, length).collect();
    let blocks = services
        .blocks
        .link_all(pieces.iter().map(|piece| piece.block).collect())
        .await
        .map_err(|error| S3Error::from_io("linking blocks", &error))?;
    let linked: Vec<Extent> = pieces.iter().zip(blocks).map(|(piece, block)| Extent { block, ..*piece }).collect();
    if let Err(error) = services.blocks.sync_directory().await {
        discard_extents(services, &linked).await;
        return Err(S3Error::from_io("syncing block links", &error));
    }
    Ok(ObjectData::Blocks(linked))
}

async fn discard_extents(services: &CoreServices, extents: &[Extent]) {
    for extent in extents {
        services.blocks.remove(extent.block).await;
    }
}

/// Writes `bytes` into a new sealed block (a part copied from an inline object).
pub(crate) async fn write_block(services: &CoreServices, bytes: Bytes) -> Result<Extent, S3Error> {
    let (block, file) = services.blocks.create().await.map_err(|error| S3Error::from_io("creating a block", &error))?;
    let length = bytes.len() as u64;
    let (written, _) = file.write_all_at(bytes, 0).await;
    let sealed = match written {
        Ok(()) => services.blocks.seal(&file).await,
        Err(error) => Err(error),
    };
    let _ = file.close().await;
    if let Err(error) = sealed {
        services.blocks.remove(block).await;
        return Err(S3Error::from_io("writing a block", &error));
    }
    Ok(Extent { block, offset: 0, length })
}

/// Hex MD5 of a byte range of an object, reading (not copying) its blocks.
pub(crate) async fn range_md5(
    services: &CoreServices,
    record: &ObjectRecord,
    offset: u64,
    length: u64,
) -> Result<String, S3Error> {
    if offset == 0 && length == record.size && !record.etag.contains('-') {
        return Ok(record.etag.clone());
    }
    let mut hasher = Md5::new();
    match &record.data {
        ObjectData::Inline(bytes) => hasher.update(&bytes[offset as usize..(offset + length) as usize]),
        ObjectData::Blocks(extents) => {
            let buffer = services.buffers.take();
            let (result, buffer) =
                services.blocks.read_extents(extents, offset, length, buffer, &mut |piece| hasher.update(piece)).await;
            services.buffers.give(buffer);
            result.map_err(|error| S3Error::from_io("reading a copy source", &error))?;
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn directive(request: &S3Request<'_>, header: &str) -> Result<bool, S3Error> {
    match request.head.header(header) {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(value) => Err(s3_error!(InvalidArgument, "Unknown {header}: {value}")),
    }
}

pub(crate) async fn copy_object(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let replace_metadata = directive(request, "x-amz-metadata-directive")?;
    let replace_tags = directive(request, "x-amz-tagging-directive")?;
    let (source_bucket, source_key, source) = copy_source(services, request).await?;
    if source_bucket == bucket && source_key == key && !replace_metadata {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    if source.size > COPY_SOURCE_BYTES_MAX {
        return Err(s3_error!(
            InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: {COPY_SOURCE_BYTES_MAX}"
        ));
    }
    let metadata = if replace_metadata {
        WriteMetadata::from_head(request.head)?
    } else {
        WriteMetadata {
            content_type: source.content_type.clone(),
            stored_headers: source.stored_headers.clone(),
            user_metadata: source.user_metadata.clone(),
        }
    };
    let tags = match (replace_tags, request.head.header("x-amz-tagging")) {
        (true, Some(value)) => parse_tagging_header(value)?,
        (true, None) => Vec::new(),
        (false, _) => source.tags.clone(),
    };
    // A copy made in one request has a plain MD5 ETag, even from a multipart source (S3
    // does the same); computing it reads the source once but writes nothing.
    let etag = range_md5(services, &source, 0, source.size).await?;
    let data = share_data(services, &source.data, 0, source.size).await?;
    let record = Arc::new(ObjectRecord {
        size: source.size,
        etag,
        last_modified_ms: now_ms(),
        content_type: metadata.content_type,
        stored_headers: metadata.stored_headers,
        user_metadata: metadata.user_metadata,
        tags,
        checksum: source.checksum.clone(),
        // A copy made in one request is a single-part object, as in S3.
        part_sizes: Vec::new(),
        completed_upload: None,
        data: data.clone(),
    });
    let (etag, last_modified_ms) = (record.etag.clone(), record.last_modified_ms);
    let committed = services
        .shards
        .call(&bucket.clone(), move |shard| async move {
            shard.put_object(bucket, key, record, WriteCondition::Always).await
        })
        .await;
    if let Err(error) = committed {
        super::upload::discard(services, &data).await;
        return Err(error);
    }
    Ok(Response::xml(copy_result("CopyObjectResult", &etag, last_modified_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(parse_copy_source("b/k").unwrap(), ("b".into(), "k".into()));
        assert_eq!(parse_copy_source("/b/a%20b/c%3F").unwrap(), ("b".into(), "a b/c?".into()));
        assert_eq!(parse_copy_source("/b/k?versionId=null").unwrap(), ("b".into(), "k".into()));
        assert!(parse_copy_source("/b/k?versionId=3").is_err());
        assert!(parse_copy_source("bucketonly").is_err());
        assert!(parse_copy_source("/b/").is_err());
    }
}
