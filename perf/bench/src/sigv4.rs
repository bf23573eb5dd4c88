//! AWS Signature Version 4 for S3 requests sent in the `Authorization` header.
//!
//! Bodies are never hashed: every signed request carries
//! `x-amz-content-sha256: UNSIGNED-PAYLOAD`, which S3 accepts on plain HTTP too and which keeps
//! the generator's cost independent of object size. The derived signing key depends only on the
//! date, so it is computed once per day, not per request.
//!
//! Invariant: the caller passes headers already lower-cased, trimmed and sorted by name, and a
//! path and query already encoded as they appear on the wire; the canonical request is built
//! from exactly those bytes, so what is signed is what is sent.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

type HmacSha256 = Hmac<Sha256>;

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "s3";

#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// What one request contributes to its signature.
pub struct SignInput<'a> {
    pub method: &'a str,
    /// The encoded path, exactly as on the request line.
    pub path: &'a str,
    /// The encoded query with parameters sorted by name (see [`canonical_query`]).
    pub query: &'a str,
    /// `(lower-case name, trimmed value)`, sorted by name; must include `host` and `x-amz-date`.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload_hash: &'a str,
    /// `YYYYMMDDTHHMMSSZ`, the value of the `x-amz-date` header.
    pub amz_date: &'a str,
}

pub struct Signer {
    credentials: Credentials,
    /// `YYYYMMDD` that `signing_key` was derived for.
    key_day: String,
    signing_key: [u8; 32],
    /// Reused between requests to avoid reallocating.
    canonical: String,
    string_to_sign: String,
}

impl Signer {
    pub fn new(credentials: Credentials) -> Self {
        Signer {
            credentials,
            key_day: String::new(),
            signing_key: [0; 32],
            canonical: String::with_capacity(512),
            string_to_sign: String::with_capacity(256),
        }
    }

    /// Returns the `Authorization` header value for `input`.
    pub fn authorization(&mut self, input: &SignInput<'_>) -> String {
        assert!(input.amz_date.len() == 16, "x-amz-date must be YYYYMMDDTHHMMSSZ");
        debug_assert!(input.headers.windows(2).all(|w| w[0].0 < w[1].0), "headers must be sorted");
        let day = &input.amz_date[..8];
        if self.key_day != day {
            self.signing_key = derive_signing_key(&self.credentials.secret_key, day, &self.credentials.region);
            self.key_day.clear();
            self.key_day.push_str(day);
        }

        self.canonical.clear();
        let c = &mut self.canonical;
        for part in [input.method, "\n", input.path, "\n", input.query, "\n"] {
            c.push_str(part);
        }
        for (name, value) in input.headers {
            for part in [*name, ":", *value, "\n"] {
                c.push_str(part);
            }
        }
        c.push('\n');
        let signed_headers_at = c.len();
        for (i, (name, _)) in input.headers.iter().enumerate() {
            if i > 0 {
                c.push(';');
            }
            c.push_str(name);
        }
        let signed_headers_end = c.len();
        c.push('\n');
        c.push_str(input.payload_hash);

        let region = self.credentials.region.as_str();
        let s = &mut self.string_to_sign;
        s.clear();
        for part in [ALGORITHM, "\n", input.amz_date, "\n", day, "/", region, "/", SERVICE, "/aws4_request\n"] {
            s.push_str(part);
        }
        push_hex(s, &Sha256::digest(self.canonical.as_bytes()));

        let signature = hmac(&self.signing_key, s.as_bytes());
        let mut header = String::with_capacity(256);
        let _ = write!(
            header,
            "{ALGORITHM} Credential={}/{day}/{region}/{SERVICE}/aws4_request,SignedHeaders={},Signature=",
            self.credentials.access_key,
            &self.canonical[signed_headers_at..signed_headers_end],
        );
        push_hex(&mut header, &signature);
        header
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn derive_signing_key(secret_key: &str, day: &str, region: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret_key}").as_bytes(), day.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// Lower-case hex SHA-256 of `data`.
#[cfg(test)]
fn sha256_hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(64);
    push_hex(&mut out, &Sha256::digest(data));
    out
}

/// Appends `s` percent-encoded as SigV4 wants: unreserved characters (`A-Z a-z 0-9 - . _ ~`)
/// stay, everything else becomes `%XX` (upper-case), except `/` when `keep_slash` (paths).
pub fn uri_encode(out: &mut String, s: &str, keep_slash: bool) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
    }
}

/// Encodes and sorts `(name, value)` pairs into a canonical query string, which is also a valid
/// query to send.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&mut ek, k, false);
            uri_encode(&mut ev, v, false);
            (ek, ev)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Formats seconds since the Unix epoch (UTC) as `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_signer() -> Signer {
        Signer::new(Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        })
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// "Example: GET Object" from the AWS S3 documentation on header-based SigV4.
    #[test]
    fn aws_documentation_get_object_example() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        let date = "20130524T000000Z";
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", date),
        ];
        let input = SignInput {
            method: "GET",
            path: "/test.txt",
            query: "",
            headers: &headers,
            payload_hash: EMPTY_SHA256,
            amz_date: date,
        };
        let mut signer = example_signer();
        let expected = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
                        SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
                        Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
        assert_eq!(signer.authorization(&input), expected);
        // A second use goes through the cached signing key and reused buffers.
        assert_eq!(signer.authorization(&input), expected);
    }

    /// "Example: GET Bucket (List Objects)" from the same AWS page: exercises the query string.
    #[test]
    fn aws_documentation_list_objects_example() {
        let date = "20130524T000000Z";
        let query = canonical_query(&[("prefix", "J"), ("max-keys", "2")]);
        assert_eq!(query, "max-keys=2&prefix=J");
        let headers =
            [("host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", date)];
        let input = SignInput {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_hash: EMPTY_SHA256,
            amz_date: date,
        };
        let auth = example_signer().authorization(&input);
        assert!(auth.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), "{auth}");
    }

    #[test]
    fn dates_and_encoding() {
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_782_400 + 3_661), "20000229T010101Z");
        assert_eq!(amz_date(4_102_444_799), "20991231T235959Z");
        let mut out = String::new();
        uri_encode(&mut out, "list/a b+c=~é", true);
        assert_eq!(out, "list/a%20b%2Bc%3D~%C3%A9");
        out.clear();
        uri_encode(&mut out, "list/", false);
        assert_eq!(out, "list%2F");
        assert_eq!(
            canonical_query(&[("prefix", "list/"), ("list-type", "2"), ("continuation-token", "a+b=")]),
            "continuation-token=a%2Bb%3D&list-type=2&prefix=list%2F"
        );
    }
}
