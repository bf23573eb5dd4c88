//! AWS Signature Version 2 (legacy clients such as boto 2 and s3cmd): HMAC-SHA1 over the
//! method, Content-MD5, Content-Type, date, canonicalised `x-amz-*` headers and resource.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::http::request::RequestHead;

/// Query parameters that are part of the canonical resource (S3's sub-resources and
/// response overrides), in the order S3 sorts them.
const SIGNED_SUBRESOURCES: &[&str] = &[
    "acl",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The string to sign. `date` is the Date header, or the `Expires` value of a presigned URL
/// (empty when `x-amz-date` is used instead, which then appears among the amz headers).
pub(crate) fn string_to_sign(
    head: &RequestHead,
    date: &str,
    raw_path: &str,
    query: &[(String, Option<String>)],
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(head.method.as_str());
    out.push('\n');
    out.push_str(head.header("content-md5").unwrap_or(""));
    out.push('\n');
    out.push_str(head.header("content-type").unwrap_or(""));
    out.push('\n');
    out.push_str(date);
    out.push('\n');
    let mut amz: Vec<(String, String)> = Vec::new();
    for (name, value) in &head.headers {
        let name = name.as_str();
        if name.starts_with("x-amz-") {
            let value = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
            match amz.iter_mut().find(|(existing, _)| existing == name) {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                None => amz.push((name.to_string(), value)),
            }
        }
    }
    amz.sort();
    for (name, value) in amz {
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str(raw_path);
    let mut subresources: Vec<(&str, Option<&str>)> = query
        .iter()
        .filter(|(name, _)| SIGNED_SUBRESOURCES.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_deref()))
        .collect();
    subresources.sort();
    for (index, (name, value)) in subresources.iter().enumerate() {
        out.push(if index == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

pub(crate) fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Object GET" of the S3 SigV2 documentation (RESTAuthentication).
    #[test]
    fn aws_example_object_get() {
        let mut head = RequestHead::default();
        head.parse(b"GET /photos/puppy.jpg HTTP/1.1\r\nHost: awsexamplebucket1.us-west-1.s3.amazonaws.com\r\nDate: Tue, 27 Mar 2007 19:36:42 +0000\r\n\r\n")
            .unwrap();
        let to_sign =
            string_to_sign(&head, "Tue, 27 Mar 2007 19:36:42 +0000", "/awsexamplebucket1/photos/puppy.jpg", &[]);
        assert_eq!(to_sign, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg");
        assert_eq!(signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &to_sign), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    }

    #[test]
    fn amz_headers_and_subresources_are_canonical() {
        let mut head = RequestHead::default();
        head.parse(b"PUT /b/k HTTP/1.1\r\nContent-Type: text/plain\r\nX-Amz-Meta-B: 2\r\nx-amz-date: D\r\nX-Amz-Meta-A:  1 \r\n\r\n").unwrap();
        let query = vec![
            ("uploadId".to_string(), Some("u".to_string())),
            ("partNumber".to_string(), Some("3".to_string())),
            ("other".to_string(), Some("x".to_string())),
        ];
        let to_sign = string_to_sign(&head, "", "/b/k", &query);
        assert_eq!(
            to_sign,
            "PUT\n\ntext/plain\n\nx-amz-date:D\nx-amz-meta-a:1\nx-amz-meta-b:2\n/b/k?partNumber=3&uploadId=u"
        );
    }
}
