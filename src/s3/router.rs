//! Turns (method, path, query) into one typed `Action`. Path-style addressing at the root and
//! under the configured prefix (`/api/v1/s3` by default) resolve identically.

use http::Method;

use super::uri::Query;
use crate::encoding::percent_decode_utf8;
use crate::error::S3Error;
use crate::limits::KEY_BYTES_MAX;
use crate::s3_error;

/// Every S3 operation the server knows, with the resource it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ListBuckets,
    CreateBucket {
        bucket: String,
    },
    HeadBucket {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    GetBucketLocation {
        bucket: String,
    },
    GetBucketVersioning {
        bucket: String,
    },
    ListObjects {
        bucket: String,
    },
    ListObjectsV2 {
        bucket: String,
    },
    ListMultipartUploads {
        bucket: String,
    },
    DeleteObjects {
        bucket: String,
    },
    GetBucketTagging {
        bucket: String,
    },
    PutBucketTagging {
        bucket: String,
    },
    DeleteBucketTagging {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
    },
    CopyObject {
        bucket: String,
        key: String,
    },
    GetObject {
        bucket: String,
        key: String,
    },
    HeadObject {
        bucket: String,
        key: String,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    GetObjectTagging {
        bucket: String,
        key: String,
    },
    PutObjectTagging {
        bucket: String,
        key: String,
    },
    DeleteObjectTagging {
        bucket: String,
        key: String,
    },
    CreateMultipartUpload {
        bucket: String,
        key: String,
    },
    UploadPart {
        bucket: String,
        key: String,
    },
    UploadPartCopy {
        bucket: String,
        key: String,
    },
    CompleteMultipartUpload {
        bucket: String,
        key: String,
    },
    AbortMultipartUpload {
        bucket: String,
        key: String,
    },
    ListParts {
        bucket: String,
        key: String,
    },
    /// `?acl` of a bucket or object (`key` None for the bucket). ACLs are not modelled: the
    /// owner has full control, which is what SDK existence probes (`getBucketAcl`) expect.
    GetAcl {
        bucket: String,
        key: Option<String>,
    },
    PutAcl {
        bucket: String,
        key: Option<String>,
    },
    /// A real S3 sub-resource this server does not implement (answered 501).
    Unsupported {
        what: String,
    },
}

/// Sub-resources of S3 that we recognise but do not implement: answering 501 lets tools
/// degrade cleanly instead of misreading a listing.
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "analytics",
    "attributes",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metadataTable",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "torrent",
    "versions",
    "website",
];

/// The bucket and key a request path names.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    pub bucket: Option<String>,
    pub key: Option<String>,
}

/// Splits a raw path (no query) into bucket and key, after removing `prefix`.
pub fn parse_path(raw_path: &str, prefix: &str) -> Result<Resource, S3Error> {
    let path = strip_prefix(raw_path, prefix);
    let path = path.strip_prefix('/').ok_or_else(|| s3_error!(InvalidURI))?;
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket, Some(key)),
        None => (path, None),
    };
    if bucket.is_empty() {
        return Ok(Resource { bucket: None, key: None });
    }
    let bucket = percent_decode_utf8(bucket, false).ok_or_else(|| s3_error!(InvalidURI))?;
    let key = match key.filter(|key| !key.is_empty()) {
        None => None,
        Some(key) => {
            let key = percent_decode_utf8(key, false).ok_or_else(|| s3_error!(InvalidURI))?;
            if key.len() > KEY_BYTES_MAX {
                return Err(s3_error!(KeyTooLongError));
            }
            Some(key)
        }
    };
    Ok(Resource { bucket: Some(bucket), key })
}

/// The bucket a virtual-hosted request names in its Host header (`bucket.domain[:port]`), when
/// `domains` (the operator's `--virtual-host-domain` values) include the domain.
pub(crate) fn virtual_host_bucket<'a>(host: &'a str, domains: &[String]) -> Option<&'a str> {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    domains.iter().find_map(|domain| {
        let bucket = host.strip_suffix(domain.as_str())?.strip_suffix('.')?;
        (!bucket.is_empty()).then_some(bucket)
    })
}

/// Splits the path of a virtual-hosted request (the bucket came from the Host header).
pub(crate) fn parse_virtual_hosted_path(bucket: &str, raw_path: &str) -> Result<Resource, S3Error> {
    let path = format!("/{bucket}{raw_path}");
    parse_path(&path, "")
}

/// `/api/v1/s3/b/k` → `/b/k` when the prefix is `/api/v1/s3`; other paths are unchanged.
fn strip_prefix<'a>(path: &'a str, prefix: &str) -> &'a str {
    if prefix.is_empty() {
        return path;
    }
    match path.strip_prefix(prefix) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    }
}

/// Routes a request. `has_copy_source`: the `x-amz-copy-source` header is present.
pub fn route(method: &Method, resource: Resource, query: &Query, has_copy_source: bool) -> Result<Action, S3Error> {
    if query.has("acl") {
        if let Some(bucket) = resource.bucket {
            let key = resource.key;
            return match *method {
                Method::GET => Ok(Action::GetAcl { bucket, key }),
                Method::PUT => Ok(Action::PutAcl { bucket, key }),
                _ => Err(s3_error!(MethodNotAllowed)),
            };
        }
    }
    if let Some(name) = query.names().find(|name| UNSUPPORTED_SUBRESOURCES.contains(name)) {
        return Ok(Action::Unsupported { what: format!("?{name}") });
    }
    let Some(bucket) = resource.bucket else {
        return match *method {
            Method::GET => Ok(Action::ListBuckets),
            _ => Err(s3_error!(MethodNotAllowed)),
        };
    };
    let Some(key) = resource.key else {
        return route_bucket(method, bucket, query);
    };
    let action = match *method {
        Method::PUT if query.has("tagging") => Action::PutObjectTagging { bucket, key },
        Method::PUT if query.has("uploadId") || query.has("partNumber") => {
            if has_copy_source {
                Action::UploadPartCopy { bucket, key }
            } else {
                Action::UploadPart { bucket, key }
            }
        }
        Method::PUT if has_copy_source => Action::CopyObject { bucket, key },
        Method::PUT => Action::PutObject { bucket, key },
        Method::GET if query.has("tagging") => Action::GetObjectTagging { bucket, key },
        Method::GET if query.has("uploadId") => Action::ListParts { bucket, key },
        Method::GET => Action::GetObject { bucket, key },
        Method::HEAD => Action::HeadObject { bucket, key },
        Method::DELETE if query.has("tagging") => Action::DeleteObjectTagging { bucket, key },
        Method::DELETE if query.has("uploadId") => Action::AbortMultipartUpload { bucket, key },
        Method::DELETE => Action::DeleteObject { bucket, key },
        Method::POST if query.has("uploads") => Action::CreateMultipartUpload { bucket, key },
        Method::POST if query.has("uploadId") => Action::CompleteMultipartUpload { bucket, key },
        _ => return Err(s3_error!(MethodNotAllowed)),
    };
    Ok(action)
}

fn route_bucket(method: &Method, bucket: String, query: &Query) -> Result<Action, S3Error> {
    let action = match *method {
        Method::PUT if query.has("tagging") => Action::PutBucketTagging { bucket },
        Method::PUT if query.has("versioning") => Action::Unsupported { what: "PutBucketVersioning".into() },
        Method::PUT => Action::CreateBucket { bucket },
        Method::HEAD => Action::HeadBucket { bucket },
        Method::GET if query.has("tagging") => Action::GetBucketTagging { bucket },
        Method::GET if query.has("location") => Action::GetBucketLocation { bucket },
        Method::GET if query.has("versioning") => Action::GetBucketVersioning { bucket },
        Method::GET if query.has("uploads") => Action::ListMultipartUploads { bucket },
        // Alluxio's walkthrough pages with `continuation-token` alone: that is V2 too.
        Method::GET if query.get("list-type") == Some("2") || query.has("continuation-token") => {
            Action::ListObjectsV2 { bucket }
        }
        Method::GET => Action::ListObjects { bucket },
        Method::DELETE if query.has("tagging") => Action::DeleteBucketTagging { bucket },
        Method::DELETE => Action::DeleteBucket { bucket },
        Method::POST if query.has("delete") => Action::DeleteObjects { bucket },
        _ => return Err(s3_error!(MethodNotAllowed)),
    };
    Ok(action)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "/api/v1/s3";

    fn action(method: Method, target: &str) -> Result<Action, S3Error> {
        action_with(method, target, false)
    }

    fn action_with(method: Method, target: &str, copy: bool) -> Result<Action, S3Error> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let resource = parse_path(path, PREFIX)?;
        route(&method, resource, &Query::parse(query).unwrap(), copy)
    }

    fn b(name: &str) -> String {
        name.to_string()
    }

    #[test]
    fn routes_from_the_s3_api_reference() {
        use Action::*;
        let table: Vec<(Method, &str, Action)> = vec![
            (Method::GET, "/", ListBuckets),
            (Method::PUT, "/bkt", CreateBucket { bucket: b("bkt") }),
            (Method::HEAD, "/bkt", HeadBucket { bucket: b("bkt") }),
            (Method::DELETE, "/bkt/", DeleteBucket { bucket: b("bkt") }),
            (Method::GET, "/bkt", ListObjects { bucket: b("bkt") }),
            (Method::GET, "/bkt?list-type=2&prefix=a", ListObjectsV2 { bucket: b("bkt") }),
            (Method::GET, "/bkt?max-keys=2&continuation-token=key3", ListObjectsV2 { bucket: b("bkt") }),
            (Method::GET, "/bkt?location", GetBucketLocation { bucket: b("bkt") }),
            (Method::GET, "/bkt?uploads", ListMultipartUploads { bucket: b("bkt") }),
            (Method::POST, "/bkt?delete", DeleteObjects { bucket: b("bkt") }),
            (Method::GET, "/bkt?tagging", GetBucketTagging { bucket: b("bkt") }),
            (Method::PUT, "/bkt?tagging", PutBucketTagging { bucket: b("bkt") }),
            (Method::DELETE, "/bkt?tagging", DeleteBucketTagging { bucket: b("bkt") }),
            (Method::PUT, "/bkt/k", PutObject { bucket: b("bkt"), key: b("k") }),
            (Method::GET, "/bkt/a/b/", GetObject { bucket: b("bkt"), key: b("a/b/") }),
            (Method::HEAD, "/bkt/k", HeadObject { bucket: b("bkt"), key: b("k") }),
            (Method::DELETE, "/bkt/k", DeleteObject { bucket: b("bkt"), key: b("k") }),
            (Method::GET, "/bkt/k?tagging", GetObjectTagging { bucket: b("bkt"), key: b("k") }),
            (Method::PUT, "/bkt/k?tagging", PutObjectTagging { bucket: b("bkt"), key: b("k") }),
            (Method::DELETE, "/bkt/k?tagging", DeleteObjectTagging { bucket: b("bkt"), key: b("k") }),
            (Method::POST, "/bkt/k?uploads", CreateMultipartUpload { bucket: b("bkt"), key: b("k") }),
            (Method::PUT, "/bkt/k?partNumber=1&uploadId=2", UploadPart { bucket: b("bkt"), key: b("k") }),
            (Method::GET, "/bkt/k?uploadId=2", ListParts { bucket: b("bkt"), key: b("k") }),
            (Method::POST, "/bkt/k?uploadId=2", CompleteMultipartUpload { bucket: b("bkt"), key: b("k") }),
            (Method::DELETE, "/bkt/k?uploadId=2", AbortMultipartUpload { bucket: b("bkt"), key: b("k") }),
        ];
        for (method, target, expected) in table {
            assert_eq!(action(method.clone(), target).unwrap(), expected, "{method} {target}");
            let prefixed = format!("{PREFIX}{target}");
            assert_eq!(action(method.clone(), &prefixed).unwrap(), expected, "{method} {prefixed}");
        }
        assert_eq!(action_with(Method::PUT, "/bkt/k", true).unwrap(), CopyObject { bucket: b("bkt"), key: b("k") });
        assert_eq!(
            action_with(Method::PUT, "/bkt/k?partNumber=1&uploadId=2", true).unwrap(),
            UploadPartCopy { bucket: b("bkt"), key: b("k") }
        );
    }

    #[test]
    fn keys_are_decoded_and_never_paths() {
        let resource = parse_path("/bkt/a%20b/..%2F../c+d%3F", PREFIX).unwrap();
        assert_eq!(resource.key.as_deref(), Some("a b/../../c+d?"));
        let resource = parse_path("/api/v1/s3/bkt/dt%3D2026-11-25/part-0.parquet", PREFIX).unwrap();
        assert_eq!(resource.bucket.as_deref(), Some("bkt"));
        assert_eq!(resource.key.as_deref(), Some("dt=2026-11-25/part-0.parquet"));
        assert_eq!(parse_path("/api/v1/s3", PREFIX).unwrap(), Resource { bucket: None, key: None });
        // A bucket that merely starts like the prefix is not the prefix.
        let resource = parse_path("/api/v1/s3x/k", PREFIX).unwrap();
        assert_eq!(resource.bucket.as_deref(), Some("api"));
    }

    #[test]
    fn virtual_hosted_requests_take_the_bucket_from_the_host() {
        let domains = vec!["s3.example.com".to_string()];
        assert_eq!(virtual_host_bucket("logs.s3.example.com", &domains), Some("logs"));
        assert_eq!(virtual_host_bucket("my.dotted.bucket.s3.example.com:39999", &domains), Some("my.dotted.bucket"));
        assert_eq!(virtual_host_bucket("s3.example.com", &domains), None);
        assert_eq!(virtual_host_bucket("127.0.0.1:39999", &domains), None);
        assert_eq!(virtual_host_bucket("evils3.example.com", &domains), None);
        let resource = parse_virtual_hosted_path("logs", "/a%20b/c").unwrap();
        assert_eq!(resource, Resource { bucket: Some("logs".into()), key: Some("a b/c".into()) });
        let resource = parse_virtual_hosted_path("logs", "/").unwrap();
        assert_eq!(resource, Resource { bucket: Some("logs".into()), key: None });
    }

    #[test]
    fn bad_paths_and_methods_are_refused() {
        assert_eq!(parse_path("/b/%zz", PREFIX).unwrap_err().code, crate::error::S3ErrorCode::InvalidURI);
        let long = format!("/b/{}", "k".repeat(KEY_BYTES_MAX + 1));
        assert_eq!(parse_path(&long, PREFIX).unwrap_err().code, crate::error::S3ErrorCode::KeyTooLongError);
        assert_eq!(action(Method::POST, "/").unwrap_err().code, crate::error::S3ErrorCode::MethodNotAllowed);
        assert_eq!(action(Method::PATCH, "/b/k").unwrap_err().code, crate::error::S3ErrorCode::MethodNotAllowed);
        assert!(matches!(action(Method::GET, "/b?policy").unwrap(), Action::Unsupported { .. }));
        assert!(matches!(action(Method::GET, "/b/k?torrent").unwrap(), Action::Unsupported { .. }));
        assert_eq!(action(Method::GET, "/b?acl").unwrap(), Action::GetAcl { bucket: b("b"), key: None });
        assert_eq!(action(Method::PUT, "/b/k?acl").unwrap(), Action::PutAcl { bucket: b("b"), key: Some(b("k")) });
    }
}
