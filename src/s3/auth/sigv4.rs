//! AWS Signature Version 4 as S3 defines it: the canonical request (URI encoding, sorted
//! query, signed headers, payload hash), the string to sign and the derived signing key, for
//! the Authorization header, presigned URLs and aws-chunked chunk signatures.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encoding::{hex, percent_encode};
use crate::http::request::RequestHead;

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty string, in hex (chunk signatures hash an empty "headers" part).
pub(crate) const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `AWS4<secret>` → date → region → service → `aws4_request`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let date_key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let region_key = hmac_sha256(&date_key, region.as_bytes());
    let service_key = hmac_sha256(&region_key, service.as_bytes());
    hmac_sha256(&service_key, b"aws4_request")
}

/// The canonical query string from decoded (name, value) pairs, minus `X-Amz-Signature`.
pub(crate) fn canonical_query(pairs: &[(String, Option<String>)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(name, _)| name != "X-Amz-Signature")
        .map(|(name, value)| {
            (percent_encode(name.as_bytes(), false), percent_encode(value.as_deref().unwrap_or("").as_bytes(), false))
        })
        .collect();
    encoded.sort();
    encoded.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("&")
}

/// A header value as SigV4 canonicalises it: trimmed, runs of spaces collapsed; several
/// fields of one name joined with commas.
fn canonical_header_value(head: &RequestHead, name: &str) -> String {
    let values: Vec<String> = head
        .headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    values.join(",")
}

/// The canonical request for `head`, with the decoded request path. `host`, when given,
/// stands for the Host header's value (see `auth::PrefixedHost`).
pub(crate) fn canonical_request(
    head: &RequestHead,
    decoded_path: &[u8],
    query: &[(String, Option<String>)],
    signed_headers: &[&str],
    payload_hash: &str,
    host: Option<&str>,
) -> String {
    let mut canonical = String::with_capacity(512);
    canonical.push_str(head.method.as_str());
    canonical.push('\n');
    canonical.push_str(&percent_encode(decoded_path, true));
    canonical.push('\n');
    canonical.push_str(&canonical_query(query));
    canonical.push('\n');
    for name in signed_headers {
        canonical.push_str(name);
        canonical.push(':');
        match (host, *name) {
            (Some(host), "host") => canonical.push_str(host),
            _ => canonical.push_str(&canonical_header_value(head, name)),
        }
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(payload_hash);
    canonical
}

/// `AWS4-HMAC-SHA256 \n timestamp \n scope \n hex(sha256(canonical request))`.
pub(crate) fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The signature of one aws-chunked chunk, chained on the previous one.
pub(crate) fn chunk_signature(
    key: &[u8; 32],
    timestamp: &str,
    scope: &str,
    previous: &str,
    chunk_sha256_hex: &str,
) -> String {
    let to_sign =
        format!("AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256_hex}");
    hex(&hmac_sha256(key, to_sign.as_bytes()))
}

/// The signature of the trailer section of a signed-trailer aws-chunked body.
pub(crate) fn trailer_signature(
    key: &[u8; 32],
    timestamp: &str,
    scope: &str,
    previous: &str,
    trailer_sha256_hex: &str,
) -> String {
    let to_sign = format!("AWS4-HMAC-SHA256-TRAILER\n{timestamp}\n{scope}\n{previous}\n{trailer_sha256_hex}");
    hex(&hmac_sha256(key, to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

    fn head(raw: &str) -> RequestHead {
        let mut head = RequestHead::default();
        head.parse(raw.as_bytes()).unwrap();
        head
    }

    /// "Example: GET Object" of the S3 SigV4 documentation.
    #[test]
    fn aws_example_get_object() {
        let head = head(
            "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nRange: bytes=0-9\r\n\
             x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
             x-amz-date: 20130524T000000Z\r\n\r\n",
        );
        let canonical = canonical_request(
            &head,
            b"/test.txt",
            &[],
            &["host", "range", "x-amz-content-sha256", "x-amz-date"],
            EMPTY_SHA256,
            None,
        );
        let to_sign = string_to_sign("20130524T000000Z", SCOPE, &canonical);
        assert_eq!(to_sign.lines().last().unwrap(), "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(
            hex(&hmac_sha256(&key, to_sign.as_bytes())),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// "Example: GET Bucket Lifecycle" and "Get Bucket (List Objects)" of the same page.
    #[test]
    fn aws_example_list_objects_query() {
        let head = head(
            "GET /?max-keys=2&prefix=J HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\
             x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
             x-amz-date: 20130524T000000Z\r\n\r\n",
        );
        let query =
            vec![("max-keys".to_string(), Some("2".to_string())), ("prefix".to_string(), Some("J".to_string()))];
        let canonical =
            canonical_request(&head, b"/", &query, &["host", "x-amz-content-sha256", "x-amz-date"], EMPTY_SHA256, None);
        let to_sign = string_to_sign("20130524T000000Z", SCOPE, &canonical);
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(
            hex(&hmac_sha256(&key, to_sign.as_bytes())),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// The presigned URL example of the S3 query-string authentication page.
    #[test]
    fn aws_example_presigned_url() {
        let head = head("GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n");
        let query: Vec<(String, Option<String>)> = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Expires", "86400"),
            ("X-Amz-SignedHeaders", "host"),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), Some(value.to_string())))
        .collect();
        let canonical = canonical_request(&head, b"/test.txt", &query, &["host"], UNSIGNED_PAYLOAD, None);
        let to_sign = string_to_sign("20130524T000000Z", SCOPE, &canonical);
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(
            hex(&hmac_sha256(&key, to_sign.as_bytes())),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    /// The streaming (aws-chunked) example: seed signature and the first chunk's signature.
    #[test]
    fn aws_example_chunk_signature() {
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
        let chunk = vec![b'a'; 65536];
        let signature = chunk_signature(&key, "20130524T000000Z", SCOPE, seed, &sha256_hex(&chunk));
        assert_eq!(signature, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
    }
}
