//! Request authentication.
//!
//! Two modes. With no credentials configured every request is accepted, whatever its
//! Authorization header (Alluxio's proxy behaves so; meant for a trusted node). With
//! credentials, every request must carry a valid SigV4 (header or presigned URL) or SigV2
//! (header or query) signature; the payload hash, or each aws-chunked chunk signature, is then
//! verified as the body streams in (`http::body`).

pub(crate) mod body_check;
pub(crate) mod sigv2;
pub(crate) mod sigv4;

pub(crate) use body_check::{BodyVerification, ChunkSigning};

use std::collections::HashMap;
use std::path::Path;

use crate::dates::{amz_date, now_ms, parse_amz_date, parse_http_date};
use crate::error::S3Error;
use crate::http::request::RequestHead;
use crate::s3_error;

/// Largest clock difference accepted between client and server, as in S3.
pub(crate) const CLOCK_SKEW_MS_MAX: u64 = 15 * 60 * 1000;
/// Longest validity of a SigV4 presigned URL, as in S3 (seven days).
pub(crate) const PRESIGNED_EXPIRES_S_MAX: u64 = 7 * 24 * 3600;

/// Access keys and their secrets. Empty: open mode.
#[derive(Default, Clone)]
pub(crate) struct Credentials {
    keys: HashMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_keys", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl Credentials {
    pub(crate) fn is_open(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn insert(&mut self, access_key: &str, secret_key: &str) {
        self.keys.insert(access_key.to_string(), secret_key.to_string());
    }

    fn secret(&self, access_key: &str) -> Result<&str, S3Error> {
        self.keys.get(access_key).map(String::as_str).ok_or_else(|| {
            s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
        })
    }

    /// Reads a credentials file: one `ACCESS_KEY SECRET_KEY` (or `ACCESS_KEY:SECRET_KEY`) pair
    /// per line; blank lines and `#` comments are ignored.
    pub(crate) fn load_file(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pair = line.split_once(':').or_else(|| line.split_once(char::is_whitespace));
            match pair {
                Some((access, secret)) if !access.trim().is_empty() && !secret.trim().is_empty() => {
                    self.insert(access.trim(), secret.trim());
                }
                _ => return Err(format!("{}:{}: expected ACCESS_KEY SECRET_KEY", path.display(), number + 1)),
            }
        }
        Ok(())
    }
}

/// Compares without leaking where two signatures differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn denied(message: &str) -> S3Error {
    s3_error!(AccessDenied, "{message}")
}

fn mismatch() -> S3Error {
    s3_error!(
        SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )
}

fn malformed(detail: &str) -> S3Error {
    s3_error!(AuthorizationHeaderMalformed, "The authorization header is malformed; {detail}")
}

/// The request as authentication sees it.
pub(crate) struct SignedRequest<'a> {
    pub(crate) head: &'a RequestHead,
    /// The path as sent (percent-encoded, with any prefix).
    pub(crate) raw_path: &'a str,
    /// The path decoded (bytes), for SigV4's canonical URI.
    pub(crate) decoded_path: &'a [u8],
    /// The API path prefix, for SigV2 clients that sign the path without it.
    pub(crate) prefix: &'a str,
    /// The bucket of a virtual-hosted request (SigV2 signs `/bucket/key` then).
    pub(crate) virtual_bucket: Option<&'a str>,
    pub(crate) query: &'a [(String, Option<String>)],
}

impl SignedRequest<'_> {
    fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_deref().unwrap_or(""))
    }
}

/// Verifies a request's signature. `Ok` carries what the body must still prove.
pub(crate) fn authenticate(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
) -> Result<BodyVerification, S3Error> {
    if credentials.is_open() {
        return Ok(BodyVerification::default());
    }
    let now = now_ms();
    match request.head.header("authorization") {
        Some(value) if value.starts_with("AWS4-HMAC-SHA256") => verify_v4_header(credentials, request, value, now),
        Some(value) if value.starts_with("AWS ") => verify_v2_header(credentials, request, value, now),
        Some(_) => Err(s3_error!(InvalidArgument, "Unsupported Authorization Type")),
        None if request.query_value("X-Amz-Algorithm").is_some() => verify_v4_presigned(credentials, request, now),
        None if request.query_value("AWSAccessKeyId").is_some() => verify_v2_presigned(credentials, request, now),
        None => Err(denied("Access Denied")),
    }
}

fn check_skew(request_ms: u64, now: u64) -> Result<(), S3Error> {
    if request_ms.abs_diff(now) > CLOCK_SKEW_MS_MAX {
        return Err(s3_error!(
            RequestTimeTooSkewed,
            "The difference between the request time and the current time is too large."
        ));
    }
    Ok(())
}

/// `Credential=AK/20130524/us-east-1/s3/aws4_request` split into key and scope parts.
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

fn parse_credential(text: &str) -> Result<Credential<'_>, S3Error> {
    let mut parts = text.rsplitn(5, '/');
    let terminator = parts.next();
    let service = parts.next();
    let region = parts.next();
    let date = parts.next();
    let access_key = parts.next();
    match (access_key, date, region, service, terminator) {
        (Some(access_key), Some(date), Some(region), Some(service), Some("aws4_request")) if date.len() == 8 => {
            Ok(Credential { access_key, date, region, service })
        }
        _ => Err(malformed(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        )),
    }
}

fn verify_v4(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    credential: &Credential<'_>,
    timestamp: &str,
    signed_headers: &str,
    payload_hash: &str,
    signature: &str,
) -> Result<[u8; 32], S3Error> {
    let secret = credentials.secret(credential.access_key)?;
    if !timestamp.starts_with(credential.date) {
        return Err(malformed("the credential date does not match the request date."));
    }
    let headers: Vec<&str> = signed_headers.split(';').filter(|name| !name.is_empty()).collect();
    if !headers.contains(&"host") {
        return Err(denied("There were headers present in the request which were not signed: host"));
    }
    let scope = crate::sigv4::scope(credential.date, credential.region, credential.service);
    let key = crate::sigv4::signing_key(secret, credential.date, credential.region, credential.service);
    let matches = |path: &[u8], host: Option<&str>| {
        let canonical = sigv4::canonical_request(request.head, path, request.query, &headers, payload_hash, host);
        let to_sign = crate::sigv4::string_to_sign(timestamp, &scope, &canonical);
        let expected = crate::sigv4::signature(&key, &to_sign);
        let matched = constant_time_eq(expected.as_bytes(), signature.as_bytes());
        if !matched {
            log::debug!("SigV4 mismatch; canonical request was:\n{canonical}");
        }
        matched
    };
    if matches(request.decoded_path, None) {
        return Ok(key);
    }
    if let Some(prefixed) = PrefixedHost::of(request) {
        if matches(prefixed.path, Some(&prefixed.host)) {
            return Ok(key);
        }
    }
    Err(mismatch())
}

/// The canonical form s3cmd signs under a path prefix: it can only reach a prefixed endpoint
/// as `host_base = host:port/api/v1/s3`, and then signs that whole value as the `host` header
/// and the path without the prefix. Accepted for requests that came in under the prefix only.
struct PrefixedHost<'a> {
    host: String,
    path: &'a [u8],
}

impl<'a> PrefixedHost<'a> {
    fn of(request: &SignedRequest<'a>) -> Option<PrefixedHost<'a>> {
        if request.prefix.is_empty() {
            return None;
        }
        let rest = request.decoded_path.strip_prefix(request.prefix.as_bytes())?;
        let path: &[u8] = match rest {
            [] => b"/",
            [b'/', ..] => rest,
            _ => return None,
        };
        let host = request.head.header("host")?.trim();
        Some(PrefixedHost { host: format!("{host}{}", request.prefix), path })
    }
}

fn verify_v4_header(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    value: &str,
    now: u64,
) -> Result<BodyVerification, S3Error> {
    let fields = value.strip_prefix(crate::sigv4::ALGORITHM).unwrap_or("");
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        match field.trim().split_once('=') {
            Some(("Credential", text)) => credential = Some(text.trim()),
            Some(("SignedHeaders", text)) => signed_headers = Some(text.trim()),
            Some(("Signature", text)) => signature = Some(text.trim()),
            _ => {}
        }
    }
    let (Some(credential), Some(signed_headers), Some(signature)) = (credential, signed_headers, signature) else {
        return Err(malformed("it must contain Credential, SignedHeaders and Signature."));
    };
    let credential = parse_credential(credential)?;
    let timestamp = match (request.head.header("x-amz-date"), request.head.header("date")) {
        (Some(amz), _) => amz.trim().to_string(),
        (None, Some(date)) => {
            let ms = parse_http_date(date)
                .ok_or_else(|| denied("AWS authentication requires a valid Date or x-amz-date header"))?;
            amz_date(ms)
        }
        (None, None) => return Err(denied("AWS authentication requires a valid Date or x-amz-date header")),
    };
    let request_ms = parse_amz_date(&timestamp)
        .ok_or_else(|| denied("AWS authentication requires a valid Date or x-amz-date header"))?;
    check_skew(request_ms, now)?;
    // S3 requires the payload hash with header authentication (curl's --aws-sigv4 before 8.0
    // omitted it): say what is missing rather than that the signature does not match.
    let payload_hash = request
        .head
        .header("x-amz-content-sha256")
        .ok_or_else(|| s3_error!(InvalidRequest, "Missing required header for this request: x-amz-content-sha256"))?
        .trim()
        .to_string();
    let key = verify_v4(credentials, request, &credential, &timestamp, signed_headers, &payload_hash, signature)?;
    let scope = crate::sigv4::scope(credential.date, credential.region, credential.service);
    let mut verification = BodyVerification::default();
    match payload_hash.as_str() {
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" | "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
            verification.chunk_signing = Some(ChunkSigning {
                key,
                timestamp,
                scope,
                previous: signature.to_string(),
                signed_trailer: payload_hash.ends_with("TRAILER"),
            });
        }
        hash if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            verification.payload_sha256 = Some(hash.to_ascii_lowercase());
        }
        crate::sigv4::UNSIGNED_PAYLOAD | "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => {}
        _ => {
            return Err(s3_error!(
                InvalidArgument,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-*, or a SHA256 value."
            ))
        }
    }
    Ok(verification)
}

fn verify_v4_presigned(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    now: u64,
) -> Result<BodyVerification, S3Error> {
    if request.query_value("X-Amz-Algorithm") != Some(crate::sigv4::ALGORITHM) {
        return Err(s3_error!(InvalidArgument, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\""));
    }
    let required = |name: &str| {
        request
            .query_value(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| denied(&format!("Query-string authentication version 4 requires the {name} parameter")))
    };
    let credential = parse_credential(required("X-Amz-Credential")?)?;
    let timestamp = required("X-Amz-Date")?;
    let expires: u64 = required("X-Amz-Expires")?
        .parse()
        .map_err(|_| s3_error!(AuthorizationQueryParametersError, "X-Amz-Expires should be a number"))?;
    if expires > PRESIGNED_EXPIRES_S_MAX {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        ));
    }
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let signature = required("X-Amz-Signature")?;
    let request_ms =
        parse_amz_date(timestamp).ok_or_else(|| denied("X-Amz-Date must be in the ISO8601 Long Format"))?;
    if request_ms > now + CLOCK_SKEW_MS_MAX {
        return Err(denied("Request is not valid yet"));
    }
    if now > request_ms + expires * 1000 {
        return Err(denied("Request has expired"));
    }
    let payload_hash = request.query_value("X-Amz-Content-Sha256").unwrap_or(crate::sigv4::UNSIGNED_PAYLOAD);
    verify_v4(credentials, request, &credential, timestamp, signed_headers, payload_hash, signature)?;
    Ok(BodyVerification::default())
}

/// Tries the resource with and without the API prefix: legacy clients differ on whether the
/// prefix is part of what they sign.
fn verify_v2(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    access_key: &str,
    date: &str,
    signature: &str,
) -> Result<(), S3Error> {
    let secret = credentials.secret(access_key)?;
    let stripped = match request.raw_path.strip_prefix(request.prefix) {
        Some(rest) if !request.prefix.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
            Some(if rest.is_empty() { "/" } else { rest })
        }
        _ => None,
    };
    let virtual_path = request.virtual_bucket.map(|bucket| format!("/{bucket}{}", request.raw_path));
    let mut candidates: Vec<String> = virtual_path
        .into_iter()
        .chain(std::iter::once(request.raw_path.to_string()))
        .chain(stripped.map(str::to_string))
        .collect();
    // botocore signs a bucket-level path-style request as `/bucket/` while sending `/bucket`.
    let bucket_only: Vec<String> = candidates
        .iter()
        .filter(|path| path.len() > 1 && !path[1..].contains('/'))
        .map(|path| format!("{path}/"))
        .collect();
    candidates.extend(bucket_only);
    for path in &candidates {
        let to_sign = sigv2::string_to_sign(request.head, date, path, request.query);
        let expected = sigv2::signature(secret, &to_sign);
        if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Ok(());
        }
    }
    Err(mismatch())
}

/// Parses SigV2's Date forms: RFC 7231 dates, and the `+0000` variant many clients send.
fn parse_v2_date(text: &str) -> Option<u64> {
    parse_http_date(text).or_else(|| parse_http_date(&text.trim().replace("+0000", "GMT")))
}

fn verify_v2_header(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    value: &str,
    now: u64,
) -> Result<BodyVerification, S3Error> {
    let (access_key, signature) =
        value["AWS ".len()..].trim().rsplit_once(':').ok_or_else(|| malformed("expected AWS ACCESS_KEY:SIGNATURE."))?;
    let (date_line, date) = match (request.head.header("x-amz-date"), request.head.header("date")) {
        (Some(amz), _) => ("", amz),
        (None, Some(date)) => (date, date),
        (None, None) => return Err(denied("AWS authentication requires a valid Date or x-amz-date header")),
    };
    let request_ms =
        parse_v2_date(date).ok_or_else(|| denied("AWS authentication requires a valid Date or x-amz-date header"))?;
    check_skew(request_ms, now)?;
    verify_v2(credentials, request, access_key, date_line, signature)?;
    Ok(BodyVerification::default())
}

fn verify_v2_presigned(
    credentials: &Credentials,
    request: &SignedRequest<'_>,
    now: u64,
) -> Result<BodyVerification, S3Error> {
    let access_key = request.query_value("AWSAccessKeyId").unwrap_or("");
    let signature = request
        .query_value("Signature")
        .ok_or_else(|| denied("Query-string authentication requires the Signature parameter"))?;
    let expires = request
        .query_value("Expires")
        .and_then(|value| value.parse::<u64>().ok())
        .ok_or_else(|| denied("Query-string authentication requires the Expires parameter"))?;
    if now > expires.saturating_mul(1000) {
        return Err(denied("Request has expired"));
    }
    verify_v2(credentials, request, access_key, &expires.to_string(), signature)?;
    Ok(BodyVerification::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_and_debug_hide_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "# team keys\nAK1 secret-one\nAK2:secret-two\n\n").unwrap();
        let mut credentials = Credentials::default();
        credentials.load_file(&path).unwrap();
        assert_eq!(credentials.secret("AK1").unwrap(), "secret-one");
        assert_eq!(credentials.secret("AK2").unwrap(), "secret-two");
        assert!(!format!("{credentials:?}").contains("secret"));
        std::fs::write(&path, "only-one-field\n").unwrap();
        assert!(Credentials::default().load_file(&path).is_err());
    }

    fn head(raw: &str) -> RequestHead {
        let mut head = RequestHead::default();
        head.parse(raw.as_bytes()).unwrap();
        head
    }

    #[test]
    fn s3cmd_prefixed_host_form_applies_under_the_prefix_only() {
        let head = head("GET /api/v1/s3/bucket/key HTTP/1.1\r\nHost: node:39999\r\n\r\n");
        let signed = |decoded_path: &'static [u8], prefix: &'static str| SignedRequest {
            head: &head,
            raw_path: "",
            decoded_path,
            prefix,
            virtual_bucket: None,
            query: &[],
        };
        let form = PrefixedHost::of(&signed(b"/api/v1/s3/bucket/key", "/api/v1/s3")).unwrap();
        assert_eq!((form.host.as_str(), form.path), ("node:39999/api/v1/s3", &b"/bucket/key"[..]));
        let root = PrefixedHost::of(&signed(b"/api/v1/s3", "/api/v1/s3")).unwrap();
        assert_eq!(root.path, b"/");
        assert!(PrefixedHost::of(&signed(b"/bucket/key", "/api/v1/s3")).is_none(), "not under the prefix");
        assert!(PrefixedHost::of(&signed(b"/api/v1/s3x/key", "/api/v1/s3")).is_none(), "a longer segment");
        assert!(PrefixedHost::of(&signed(b"/api/v1/s3/bucket", "")).is_none(), "no prefix configured");
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
