//! Conditional requests: `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since` on reads (RFC 7232 as S3 applies it), and the conditional-write
//! headers of PutObject.

use crate::dates::parse_http_date;
use crate::error::S3Error;
use crate::http::request::RequestHead;
use crate::s3_error;
use crate::shard::owner::WriteCondition;
use crate::store::record::ObjectRecord;

/// The ETags listed in an `If-Match` / `If-None-Match` value, without quotes or `W/`.
pub fn etag_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/").trim_matches('"').to_string())
        .filter(|tag| !tag.is_empty())
        .collect()
}

fn matches(value: &str, etag: &str) -> bool {
    etag_list(value).iter().any(|tag| tag == "*" || tag == etag)
}

/// Evaluates read preconditions in RFC 7232 order. `Err` is the answer to send instead
/// (412 PreconditionFailed or 304 NotModified).
pub fn check_read(head: &RequestHead, record: &ObjectRecord, prefix: &str) -> Result<(), S3Error> {
    check_read_version(head, &record.etag, record.last_modified_ms, prefix)
}

/// `check_read` for an object known by its ETag (unquoted) and modification time.
pub(crate) fn check_read_version(
    head: &RequestHead,
    etag: &str,
    last_modified_ms: u64,
    prefix: &str,
) -> Result<(), S3Error> {
    let (if_match, if_none_match) =
        (head.header(&format!("{prefix}if-match")), head.header(&format!("{prefix}if-none-match")));
    let modified_s = last_modified_ms / 1000;
    if let Some(value) = if_match {
        if !matches(value, etag) {
            return Err(s3_error!(PreconditionFailed));
        }
    } else if let Some(since) = head.header(&format!("{prefix}if-unmodified-since")).and_then(parse_http_date) {
        if modified_s > since / 1000 {
            return Err(s3_error!(PreconditionFailed));
        }
    }
    if let Some(value) = if_none_match {
        if matches(value, etag) {
            return Err(not_modified_or_failed(prefix));
        }
    } else if let Some(since) = head.header(&format!("{prefix}if-modified-since")).and_then(parse_http_date) {
        if modified_s <= since / 1000 {
            return Err(not_modified_or_failed(prefix));
        }
    }
    Ok(())
}

/// A read answers 304; a copy source condition answers 412 (there is nothing to "not modify").
fn not_modified_or_failed(prefix: &str) -> S3Error {
    if prefix.is_empty() {
        s3_error!(NotModified)
    } else {
        s3_error!(PreconditionFailed)
    }
}

/// The condition of a conditional PUT: `If-None-Match: *` or `If-Match: etag`.
pub fn write_condition(head: &RequestHead) -> Result<WriteCondition, S3Error> {
    match (head.header("if-none-match"), head.header("if-match")) {
        (Some(_), Some(_)) => Err(s3_error!(NotImplemented, "If-Match and If-None-Match together are not supported")),
        (Some(value), None) if value.trim() == "*" => Ok(WriteCondition::IfAbsent),
        (Some(_), None) => Err(s3_error!(NotImplemented, "If-None-Match on writes only supports *")),
        (None, Some(value)) => Ok(WriteCondition::IfMatch(etag_list(value))),
        (None, None) => Ok(WriteCondition::Always),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3ErrorCode;
    use crate::store::record::ObjectData;

    fn record() -> ObjectRecord {
        ObjectRecord {
            size: 1,
            etag: "abc".into(),
            last_modified_ms: 1_504_046_163_613, // Tue, 29 Aug 2017 22:36:03 GMT
            content_type: None,
            stored_headers: vec![],
            user_metadata: vec![],
            tags: vec![],
            checksum: None,
            part_sizes: Vec::new(),
            completed_upload: None,
            data: ObjectData::Inline(Default::default()),
        }
    }

    fn outcome(headers: &str) -> Result<(), S3ErrorCode> {
        let mut head = RequestHead::default();
        head.parse(format!("GET /b/k HTTP/1.1\r\n{headers}\r\n").as_bytes()).unwrap();
        check_read(&head, &record(), "").map_err(|error| error.code)
    }

    #[test]
    fn read_conditions_follow_rfc_7232() {
        use S3ErrorCode::*;
        assert_eq!(outcome(""), Ok(()));
        assert_eq!(outcome("If-Match: \"abc\"\r\n"), Ok(()));
        assert_eq!(outcome("If-Match: \"x\", \"abc\"\r\n"), Ok(()));
        assert_eq!(outcome("If-Match: *\r\n"), Ok(()));
        assert_eq!(outcome("If-Match: \"x\"\r\n"), Err(PreconditionFailed));
        assert_eq!(outcome("If-None-Match: \"abc\"\r\n"), Err(NotModified));
        assert_eq!(outcome("If-None-Match: \"x\"\r\n"), Ok(()));
        assert_eq!(outcome("If-Modified-Since: Tue, 29 Aug 2017 22:36:03 GMT\r\n"), Err(NotModified));
        assert_eq!(outcome("If-Modified-Since: Tue, 29 Aug 2017 22:36:02 GMT\r\n"), Ok(()));
        assert_eq!(outcome("If-Unmodified-Since: Tue, 29 Aug 2017 22:36:02 GMT\r\n"), Err(PreconditionFailed));
        assert_eq!(outcome("If-Unmodified-Since: Tue, 29 Aug 2017 22:36:03 GMT\r\n"), Ok(()));
        // If-Match that holds overrides If-Unmodified-Since; If-None-Match overrides
        // If-Modified-Since.
        assert_eq!(outcome("If-Match: \"abc\"\r\nIf-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n"), Ok(()));
        assert_eq!(outcome("If-None-Match: \"x\"\r\nIf-Modified-Since: Wed, 01 Jan 2031 00:00:00 GMT\r\n"), Ok(()));
        assert_eq!(outcome("If-Modified-Since: garbage\r\n"), Ok(()));
    }

    #[test]
    fn write_conditions() {
        let parse = |headers: &str| {
            let mut head = RequestHead::default();
            head.parse(format!("PUT /b/k HTTP/1.1\r\n{headers}\r\n").as_bytes()).unwrap();
            write_condition(&head)
        };
        assert_eq!(parse("").unwrap(), WriteCondition::Always);
        assert_eq!(parse("If-None-Match: *\r\n").unwrap(), WriteCondition::IfAbsent);
        assert_eq!(parse("If-Match: \"abc\"\r\n").unwrap(), WriteCondition::IfMatch(vec!["abc".into()]));
        assert_eq!(parse("If-None-Match: \"abc\"\r\n").unwrap_err().code, S3ErrorCode::NotImplemented);
    }
}
