//! Object metadata carried in headers: what a PUT stores (Content-Type, standard headers,
//! `x-amz-meta-*`) and what GET/HEAD send back.

use super::Response;
use crate::dates::http_date;
use crate::error::S3Error;
use crate::http::request::RequestHead;
use crate::limits::USER_METADATA_BYTES_MAX;
use crate::s3_error;
use crate::store::record::{ObjectAttributes, ObjectRecord, Pair};

/// Standard headers S3 stores with an object and returns on GET/HEAD.
pub(crate) const STORED_HEADERS: &[&str] =
    &["cache-control", "content-disposition", "content-encoding", "content-language", "expires"];

const USER_METADATA_PREFIX: &str = "x-amz-meta-";

/// The S3 default when an object was stored without a Content-Type.
pub(crate) const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// Metadata a write request carries.
#[derive(Debug, Default, Clone)]
pub(crate) struct WriteMetadata {
    pub(crate) content_type: Option<String>,
    pub(crate) stored_headers: Vec<Pair>,
    pub(crate) user_metadata: Vec<Pair>,
}

impl WriteMetadata {
    pub(crate) fn from_head(head: &RequestHead) -> Result<WriteMetadata, S3Error> {
        let mut metadata =
            WriteMetadata { content_type: head.header("content-type").map(str::to_string), ..WriteMetadata::default() };
        for name in STORED_HEADERS {
            let Some(value) = head.header(name) else { continue };
            // aws-chunked is transfer framing, not part of the stored object.
            let value = if *name == "content-encoding" { strip_aws_chunked(value) } else { value.to_string() };
            if !value.is_empty() {
                metadata.stored_headers.push((name.to_string(), value));
            }
        }
        let mut user_bytes = 0;
        for (name, value) in &head.headers {
            let Some(user_name) = name.as_str().strip_prefix(USER_METADATA_PREFIX) else { continue };
            let value = std::str::from_utf8(value.as_bytes())
                .map_err(|_| s3_error!(InvalidArgument, "x-amz-meta-{user_name} is not UTF-8"))?;
            user_bytes += user_name.len() + value.len();
            metadata.user_metadata.push((user_name.to_string(), value.to_string()));
        }
        if user_bytes > USER_METADATA_BYTES_MAX {
            return Err(s3_error!(MetadataTooLarge));
        }
        Ok(metadata)
    }
}

/// Everything a new object takes from its write request: metadata headers and
/// `x-amz-tagging` (PutObject, CreateMultipartUpload).
pub(crate) fn attributes_from_head(head: &RequestHead) -> Result<ObjectAttributes, S3Error> {
    let metadata = WriteMetadata::from_head(head)?;
    let tags = match head.header("x-amz-tagging") {
        Some(value) => super::tags::parse_tagging_header(value)?,
        None => Vec::new(),
    };
    Ok(ObjectAttributes {
        content_type: metadata.content_type,
        stored_headers: metadata.stored_headers,
        user_metadata: metadata.user_metadata,
        tags,
        checksum_algorithm: None,
        full_object_checksum: false,
    })
}

fn strip_aws_chunked(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.eq_ignore_ascii_case("aws-chunked") && !part.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Headers of a GET/HEAD answer: validators, type, stored headers, user metadata, tag count.
/// `overrides`: the `response-*` query parameters of a (presigned) GET.
pub(crate) fn object_headers(response: &mut Response, record: &ObjectRecord, overrides: &[(&str, &str)]) {
    response.push_header("ETag", format_args!("\"{}\"", record.etag));
    response.push_header("Last-Modified", http_date(record.last_modified_ms));
    response.push_header("Accept-Ranges", "bytes");
    let content_type =
        overridden(overrides, "content-type").or(record.content_type.as_deref()).unwrap_or(DEFAULT_CONTENT_TYPE);
    response.push_header("Content-Type", content_type);
    for (name, value) in &record.stored_headers {
        let value = overridden(overrides, name).unwrap_or(value);
        response.push_header(name, value);
    }
    for (name, value) in overrides {
        if *name != "content-type" && !record.stored_headers.iter().any(|(stored, _)| stored == name) {
            response.push_header(name, value);
        }
    }
    for (name, value) in &record.user_metadata {
        response.push_header(&format!("{USER_METADATA_PREFIX}{name}"), value);
    }
    if !record.tags.is_empty() {
        response.push_header("x-amz-tagging-count", record.tags.len());
    }
}

fn overridden<'a>(overrides: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    overrides.iter().find(|(header, _)| *header == name).map(|(_, value)| *value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_metadata_and_strips_transfer_encoding() {
        let mut head = RequestHead::default();
        head.parse(
            b"PUT /b/k HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Encoding: aws-chunked,gzip\r\n\
              X-Amz-Meta-Owner: me\r\nCache-Control: no-cache\r\n\r\n",
        )
        .unwrap();
        let metadata = WriteMetadata::from_head(&head).unwrap();
        assert_eq!(metadata.content_type.as_deref(), Some("text/plain"));
        assert_eq!(metadata.user_metadata, vec![("owner".to_string(), "me".to_string())]);
        assert!(metadata.stored_headers.contains(&("content-encoding".to_string(), "gzip".to_string())));
        assert!(metadata.stored_headers.contains(&("cache-control".to_string(), "no-cache".to_string())));
    }

    #[test]
    fn refuses_oversized_user_metadata() {
        let mut head = RequestHead::default();
        let raw = format!("PUT /b/k HTTP/1.1\r\nX-Amz-Meta-Big: {}\r\n\r\n", "v".repeat(USER_METADATA_BYTES_MAX));
        head.parse(raw.as_bytes()).unwrap();
        assert_eq!(WriteMetadata::from_head(&head).unwrap_err().code, crate::error::S3ErrorCode::MetadataTooLarge);
    }
}
