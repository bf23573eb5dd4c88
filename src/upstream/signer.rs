//! Signing upstream requests with SigV4 header authentication, from the same primitives the
//! server verifies with (`crate::sigv4`).
//!
//! Every header the client sends is signed except the hop-by-hop and framing ones a proxy may
//! rewrite (`content-length`, `expect`, `connection`, `transfer-encoding`, `user-agent`);
//! that always covers `host`, `x-amz-date`, `x-amz-content-sha256` and every `x-amz-*`.
//! The payload hash is the body's SHA-256 when the client has it before sending (bodiless
//! requests and small documents) and `UNSIGNED-PAYLOAD` for streamed bodies. The day's
//! signing key is derived once per core and day.

use std::cell::RefCell;

use super::settings::UpstreamCredentials;
use crate::sigv4;

/// Headers never signed (see the module header).
const UNSIGNED_HEADERS: [&str; 5] = ["connection", "content-length", "expect", "transfer-encoding", "user-agent"];

/// A request to sign: what the canonical request is built from.
pub(crate) struct Unsigned<'a> {
    pub(crate) method: &'a str,
    /// The decoded path, prefix included.
    pub(crate) path: &'a [u8],
    /// Decoded query pairs (`None`: a name without a value, such as `uploads`).
    pub(crate) query: &'a [(String, Option<String>)],
    /// Lower-case names and values, `host` among them.
    pub(crate) headers: &'a [(String, String)],
    /// Hex SHA-256 of the body, `UNSIGNED-PAYLOAD`, or `EMPTY_SHA256`.
    pub(crate) payload_hash: &'a str,
}

pub(crate) struct Signer {
    credentials: Option<UpstreamCredentials>,
    region: String,
    service: String,
    /// `(yyyymmdd, key)` of the last day signed for.
    day_key: RefCell<Option<(String, [u8; 32])>>,
}

impl Signer {
    pub(crate) fn new(credentials: Option<UpstreamCredentials>, region: &str, service: &str) -> Signer {
        Signer { credentials, region: region.to_string(), service: service.to_string(), day_key: RefCell::new(None) }
    }

    /// The `Authorization` value of `request` at `timestamp` (`yyyymmddThhmmssZ`, which the
    /// request must also carry as `x-amz-date`); `None` when anonymous.
    pub(crate) fn authorization(&self, request: &Unsigned<'_>, timestamp: &str) -> Option<String> {
        let credentials = self.credentials.as_ref()?;
        let date = timestamp.get(..8).unwrap_or(timestamp);
        let key = self.key_for(credentials, date);
        let mut signed: Vec<(&str, String)> = request
            .headers
            .iter()
            .filter(|(name, _)| !UNSIGNED_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| (name.as_str(), sigv4::canonical_header_value([value.as_bytes()])))
            .collect();
        signed.sort_by(|a, b| a.0.cmp(b.0));
        // Several fields of one name are one canonical header, values joined with commas.
        let mut merged: Vec<(&str, String)> = Vec::with_capacity(signed.len());
        for (name, value) in signed {
            match merged.last_mut() {
                Some((last, joined)) if *last == name => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => merged.push((name, value)),
            }
        }
        let pairs: Vec<(&str, &str)> = merged.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let canonical = sigv4::canonical_request(
            request.method,
            &sigv4::canonical_uri(request.path),
            &sigv4::canonical_query(request.query),
            &pairs,
            request.payload_hash,
        );
        let scope = sigv4::scope(date, &self.region, &self.service);
        let signature = sigv4::signature(&key, &sigv4::string_to_sign(timestamp, &scope, &canonical));
        let names: Vec<&str> = pairs.iter().map(|(name, _)| *name).collect();
        Some(format!(
            "{} Credential={}/{scope},SignedHeaders={},Signature={signature}",
            sigv4::ALGORITHM,
            credentials.access_key(),
            names.join(";")
        ))
    }

    fn key_for(&self, credentials: &UpstreamCredentials, date: &str) -> [u8; 32] {
        let mut cached = self.day_key.borrow_mut();
        match &*cached {
            Some((day, key)) if day == date => *key,
            _ => {
                let key = sigv4::signing_key(credentials.secret_key(), date, &self.region, &self.service);
                *cached = Some((date.to_string(), key));
                key
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::{sha256_hex, EMPTY_SHA256};

    const ACCESS: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const TIMESTAMP: &str = "20130524T000000Z";

    fn signer() -> Signer {
        Signer::new(Some(UpstreamCredentials::new(ACCESS, SECRET).unwrap()), "us-east-1", "s3")
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    /// The Authorization header of "Example: GET Object" (S3 SigV4 documentation), exactly.
    /// The same vector `s3::auth::sigv4` verifies.
    #[test]
    fn aws_example_get_object() {
        let headers = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", TIMESTAMP),
            ("user-agent", "s3core"),
        ]);
        let request =
            Unsigned { method: "GET", path: b"/test.txt", query: &[], headers: &headers, payload_hash: EMPTY_SHA256 };
        assert_eq!(
            signer().authorization(&request, TIMESTAMP).unwrap(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// "Example: PUT Object": a signed payload hash, a Date header and a storage class.
    #[test]
    fn aws_example_put_object() {
        let body = b"Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let headers = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", TIMESTAMP),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", &hash),
            ("content-length", "21"),
        ]);
        let request =
            Unsigned { method: "PUT", path: b"/test$file.text", query: &[], headers: &headers, payload_hash: &hash };
        assert_eq!(
            signer().authorization(&request, TIMESTAMP).unwrap(),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,\
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    /// "Example: GET Bucket (List Objects)": the query is sorted and encoded.
    #[test]
    fn aws_example_list_objects() {
        let headers = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", TIMESTAMP),
            ("x-amz-content-sha256", EMPTY_SHA256),
        ]);
        let query =
            vec![("prefix".to_string(), Some("J".to_string())), ("max-keys".to_string(), Some("2".to_string()))];
        let request =
            Unsigned { method: "GET", path: b"/", query: &query, headers: &headers, payload_hash: EMPTY_SHA256 };
        let authorization = signer().authorization(&request, TIMESTAMP).unwrap();
        assert!(
            authorization.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            "{authorization}"
        );
    }

    #[test]
    fn anonymous_signs_nothing_and_the_day_key_follows_the_date() {
        let anonymous = Signer::new(None, "us-east-1", "s3");
        let headers = headers(&[("host", "h")]);
        let request = Unsigned { method: "GET", path: b"/", query: &[], headers: &headers, payload_hash: EMPTY_SHA256 };
        assert!(anonymous.authorization(&request, TIMESTAMP).is_none());
        let signer = signer();
        let first = signer.authorization(&request, "20130524T000000Z").unwrap();
        let next_day = signer.authorization(&request, "20130525T000000Z").unwrap();
        assert!(next_day.contains("/20130525/us-east-1/s3/aws4_request"), "{next_day}");
        assert_ne!(first.rsplit('=').next(), next_day.rsplit('=').next());
        assert_eq!(signer.authorization(&request, "20130524T000000Z").unwrap(), first, "the cached key is the day's");
    }
}
