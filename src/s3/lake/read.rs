//! GetObject and HeadObject in front of an upstream: the current version's headers as the
//! upstream gave them, conditions and ranges evaluated here, and a body the connection sends
//! from cache pages (`LakeSlice`).

use std::rc::Rc;

use http::StatusCode;

use super::{Lake, LakeSlice};
use crate::error::{S3Error, S3ErrorCode};
use crate::limits::PART_NUMBER_MAX;
use crate::s3::conditional::check_read_version;
use crate::s3::names::check_version_id;
use crate::s3::range::{parse_range, RangeRequest};
use crate::s3::{Response, ResponseBody, S3Request, StoredObject};
use crate::s3_error;

/// Headers of the upstream's answer relayed to the client as they came.
const RELAYED_HEADERS: &[&str] = &[
    "last-modified",
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-amz-tagging-count",
    "x-amz-version-id",
    "x-amz-storage-class",
    // Sent with a part (`partNumber`).
    "x-amz-mp-parts-count",
];

pub(super) async fn get_object(
    lake: &Lake,
    request: &mut S3Request<'_>,
    bucket: String,
    key: String,
    head_only: bool,
) -> Result<Response, S3Error> {
    check_version_id(request.query)?;
    let part_number = match request.query.get("partNumber") {
        None => None,
        Some(text) => {
            Some(text.parse::<u32>().ok().filter(|number| (1..=PART_NUMBER_MAX).contains(number)).ok_or_else(|| {
                s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
            })?)
        }
    };
    // A part is a span of the object's current version, served from its pages like a range.
    let (known, part) = match part_number {
        Some(number) => {
            if request.head.header("range").is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter"
                ));
            }
            let (known, offset, length) = lake.objects.resolve_part(&lake.upstream, &bucket, &key, number).await?;
            (Rc::new(known), Some((offset, length)))
        }
        None => (lake.objects.resolve(&lake.upstream, &bucket, &key).await?, None),
    };
    let version = &known.version;
    let last_modified_ms = known.head.last_modified_ms.unwrap_or(0);
    let mut response = Response::new(StatusCode::OK);
    response.push_header("ETag", format_args!("\"{}\"", version.etag));
    response.push_header("Accept-Ranges", "bytes");
    for name in RELAYED_HEADERS {
        if let Some(value) = known.head.headers.get(*name).and_then(|value| value.to_str().ok()) {
            response.push_header(name, value);
        }
    }
    for (name, value) in &known.head.metadata {
        response.push_header(&format!("x-amz-meta-{name}"), value);
    }
    if let Err(error) = check_read_version(request.head, &version.etag, last_modified_ms, "") {
        if error.code == S3ErrorCode::NotModified {
            // 304 carries the validators, as S3 sends them.
            let mut not_modified = Response::new(StatusCode::NOT_MODIFIED);
            not_modified.push_header("ETag", format_args!("\"{}\"", version.etag));
            if let Some(value) = known.head.last_modified.as_deref() {
                not_modified.push_header("Last-Modified", value);
            }
            return Ok(not_modified);
        }
        return Err(error);
    }
    let range = match part {
        Some((start, length)) if length < version.size_bytes => RangeRequest::Partial { start, length },
        Some(_) => RangeRequest::Whole,
        None => parse_range(request.head.header("range"), version.size_bytes),
    };
    let (offset, length) = match range {
        RangeRequest::Whole => (0, version.size_bytes),
        RangeRequest::Partial { start, length } => {
            response.status = StatusCode::PARTIAL_CONTENT;
            response.push_header(
                "Content-Range",
                format_args!("bytes {}-{}/{}", start, start + length - 1, version.size_bytes),
            );
            (start, length)
        }
        RangeRequest::Unsatisfiable => {
            return Err(s3_error!(
                InvalidRange,
                "The requested range is not satisfiable (object size {})",
                version.size_bytes
            ));
        }
    };
    response.body = if head_only {
        ResponseBody::HeadOnly { length }
    } else {
        ResponseBody::Stored(StoredObject::Lake(LakeSlice { version: version.clone(), offset, length }))
    };
    Ok(response)
}
