//! Object actions: PutObject, GetObject, HeadObject, DeleteObject.

use std::sync::Arc;

use http::StatusCode;

use super::conditional::{check_read, write_condition};
use super::metadata::{attributes_from_head, object_headers};
use super::names::check_version_id;
use super::range::{parse_range, RangeRequest};
use super::upload::{check_upload_length, discard, receive_body};
use super::{CoreServices, S3Request};
use super::{ObjectSlice, Response, ResponseBody, StoredObject};
use crate::dates::now_ms;
use crate::error::{S3Error, S3ErrorCode};
use crate::limits::OBJECT_BYTES_MAX;
use crate::s3_error;
use crate::store::record::{ObjectRecord, SharedRecord};

/// `response-*` query parameters a GET may use to override response headers.
const RESPONSE_OVERRIDES: &[(&str, &str)] = &[
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

pub(crate) async fn put_object(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
) -> Result<Response, S3Error> {
    let attributes = attributes_from_head(request.head)?;
    let condition = write_condition(request.head)?;
    check_upload_length(request, OBJECT_BYTES_MAX)?;
    // Refuse before taking a large body when the bucket is missing (the commit checks again).
    let small =
        request.body.declared_length().is_some_and(|length| length <= crate::limits::INLINE_OBJECT_BYTES_MAX as u64);
    if !small {
        let bucket = bucket.clone();
        services.shards.call(&bucket.clone(), move |shard| async move { shard.bucket_record(&bucket) }).await?;
    }
    let body = receive_body(services, request, OBJECT_BYTES_MAX, true).await?;
    let etag = body.md5_hex();
    let record = Arc::new(ObjectRecord {
        size: body.size,
        etag: etag.clone(),
        last_modified_ms: now_ms(),
        content_type: attributes.content_type,
        stored_headers: attributes.stored_headers,
        user_metadata: attributes.user_metadata,
        tags: attributes.tags,
        checksum: body.checksum.clone(),
        part_sizes: Vec::new(),
        completed_upload: None,
        data: body.data.clone(),
    });
    let committed = services
        .shards
        .call(&bucket.clone(), move |shard| async move { shard.put_object(bucket, key, record, condition).await })
        .await;
    if let Err(error) = committed {
        discard(services, &body.data).await;
        return Err(error);
    }
    Ok(Response::ok().header("ETag", format_args!("\"{etag}\"")))
}

/// Looks an object up on its bucket's shard.
pub(crate) async fn lookup(services: &CoreServices, bucket: &str, key: &str) -> Result<SharedRecord, S3Error> {
    let (bucket_name, key) = (bucket.to_string(), key.to_string());
    services.shards.call(bucket, move |shard| async move { shard.get_object(&bucket_name, &key) }).await
}

pub(crate) async fn get_object(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
    head_only: bool,
) -> Result<Response, S3Error> {
    check_version_id(request.query)?;
    let record = lookup(services, &bucket, &key).await?;
    if let Err(error) = check_read(request.head, &record, "") {
        // 304 and 412 still carry the validators, as S3 sends them.
        if error.code == S3ErrorCode::NotModified {
            return Ok(Response::new(StatusCode::NOT_MODIFIED)
                .header("ETag", format_args!("\"{}\"", record.etag))
                .header("Last-Modified", crate::dates::http_date(record.last_modified_ms)));
        }
        return Err(error);
    }
    let overrides: Vec<(&str, &str)> = RESPONSE_OVERRIDES
        .iter()
        .filter_map(|(parameter, header)| request.query.get(parameter).map(|value| (*header, value)))
        .collect();
    let part_number = match request.query.get("partNumber") {
        None => None,
        Some(text) => Some(text.parse::<u32>().ok().filter(|number| *number >= 1).ok_or_else(|| {
            s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
        })?),
    };
    let range = match part_number {
        Some(number) => part_range(&record, number)?,
        None => parse_range(request.head.header("range"), record.size),
    };
    let (status, offset, length) = match range {
        RangeRequest::Whole => (StatusCode::OK, 0, record.size),
        RangeRequest::Partial { start, length } => (StatusCode::PARTIAL_CONTENT, start, length),
        RangeRequest::Unsatisfiable => {
            return Err(s3_error!(
                InvalidRange,
                "The requested range is not satisfiable (object size {})",
                record.size
            ));
        }
    };
    let mut response = Response::new(status);
    object_headers(&mut response, &record, &overrides);
    if part_number.is_some() && !record.part_sizes.is_empty() {
        response.push_header("x-amz-mp-parts-count", record.part_sizes.len());
    }
    let checksum_mode =
        request.head.header("x-amz-checksum-mode").is_some_and(|mode| mode.eq_ignore_ascii_case("ENABLED"));
    if let (true, Some((name, value))) = (checksum_mode && status == StatusCode::OK, &record.checksum) {
        response.push_header(name, value);
        // Multipart composite checksums end in `-N`; everything else covers the whole object.
        response.push_header("x-amz-checksum-type", if value.contains('-') { "COMPOSITE" } else { "FULL_OBJECT" });
    }
    if status == StatusCode::PARTIAL_CONTENT {
        match length {
            // An empty part of a multipart object has no byte range to name.
            0 => response.push_header("Content-Range", format_args!("bytes */{}", record.size)),
            _ => response
                .push_header("Content-Range", format_args!("bytes {}-{}/{}", offset, offset + length - 1, record.size)),
        }
    }
    response.body = if head_only {
        ResponseBody::HeadOnly { length }
    } else {
        ResponseBody::Stored(StoredObject::Local(ObjectSlice { record, offset, length }))
    };
    Ok(response)
}

/// The bytes of part `number` (GetObject/HeadObject `partNumber`): a range of a multipart
/// object, or the whole of a single-part one (its only part).
fn part_range(record: &ObjectRecord, number: u32) -> Result<RangeRequest, S3Error> {
    if record.part_sizes.is_empty() {
        return if number == 1 { Ok(RangeRequest::Whole) } else { Err(s3_error!(InvalidPartNumber)) };
    }
    let index = number as usize - 1;
    let Some(length) = record.part_sizes.get(index) else {
        return Err(s3_error!(InvalidPartNumber));
    };
    let start: u64 = record.part_sizes[..index].iter().sum();
    Ok(RangeRequest::Partial { start, length: *length })
}

pub(crate) async fn delete_object(services: &CoreServices, bucket: String, key: String) -> Result<Response, S3Error> {
    services.shards.call(&bucket.clone(), move |shard| async move { shard.delete_object(bucket, key).await }).await?;
    Ok(Response::no_content())
}
