//! AWS Signature Version 4, the primitives both sides of s3core use: the server verifies
//! requests with them (`s3::auth`) and the upstream client signs its own (`upstream::signer`),
//! so one canonical form is computed in one place.
//!
//! Everything here is a pure function of text: the canonical request (URI, sorted query,
//! signed headers, payload hash), the string to sign, the derived signing key, and the
//! chained signatures of aws-chunked bodies and their trailers. Nothing here reads a request
//! head; the caller hands in header values, already taken from its own representation.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encoding::{hex, percent_encode};

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

/// `date/region/service/aws4_request`, the credential scope.
pub(crate) fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

/// The canonical URI of a decoded path: every byte but the unreserved ones and `/` escaped.
/// S3 encodes the path once (other services twice) and never normalises it.
pub(crate) fn canonical_uri(decoded_path: &[u8]) -> String {
    percent_encode(decoded_path, true)
}

/// The canonical query string from decoded (name, value) pairs, minus `X-Amz-Signature`:
/// names and values encoded, pairs sorted, a missing value signed as empty.
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

/// A header's canonical value: each field trimmed with runs of spaces collapsed, several
/// fields of one name joined with commas.
pub(crate) fn canonical_header_value<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> String {
    let values: Vec<String> = fields
        .into_iter()
        .map(|value| String::from_utf8_lossy(value).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    values.join(",")
}

/// The canonical request. `headers` are the signed headers as (lower-case name, canonical
/// value), in the order they are signed (sorted by name, as the signer lists them).
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let mut canonical = String::with_capacity(512);
    canonical.push_str(method);
    canonical.push('\n');
    canonical.push_str(canonical_uri);
    canonical.push('\n');
    canonical.push_str(canonical_query);
    canonical.push('\n');
    for (name, value) in headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    for (index, (name, _)) in headers.iter().enumerate() {
        if index > 0 {
            canonical.push(';');
        }
        canonical.push_str(name);
    }
    canonical.push('\n');
    canonical.push_str(payload_hash);
    canonical
}

/// `AWS4-HMAC-SHA256 \n timestamp \n scope \n hex(sha256(canonical request))`.
pub(crate) fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The hex signature of a string to sign.
pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex(&hmac_sha256(key, string_to_sign.as_bytes()))
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

    /// "Example: GET Object" of the S3 SigV4 documentation, from its canonical parts: the
    /// canonical request and the signature are the published ones.
    #[test]
    fn aws_example_get_object_from_canonical_parts() {
        let canonical = canonical_request(
            "GET",
            &canonical_uri(b"/test.txt"),
            &canonical_query(&[]),
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
        );
        assert_eq!(
            canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let scope = scope("20130524", "us-east-1", "s3");
        let to_sign = string_to_sign("20130524T000000Z", &scope, &canonical);
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(signature(&key, &to_sign), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    }

    #[test]
    fn canonical_pieces_follow_the_specification() {
        assert_eq!(canonical_uri("/my bucket/a+b/é".as_bytes()), "/my%20bucket/a%2Bb/%C3%A9");
        let query = [
            ("uploads".to_string(), None),
            ("prefix".to_string(), Some("a b/c".to_string())),
            ("X-Amz-Signature".to_string(), Some("dropped".to_string())),
            ("max-keys".to_string(), Some("2".to_string())),
        ];
        assert_eq!(canonical_query(&query), "max-keys=2&prefix=a%20b%2Fc&uploads=");
        let fields: [&[u8]; 2] = [b"  a   b ", b"c"];
        assert_eq!(canonical_header_value(fields), "a b,c");
    }
}
