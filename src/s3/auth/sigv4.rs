//! SigV4 verification's view of a request head: the canonical request of a received request,
//! built from its `RequestHead` with the shared primitives of `crate::sigv4` (which the
//! upstream client signs with too).

use crate::http::request::RequestHead;
use crate::sigv4;

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
    let values: Vec<String> = signed_headers
        .iter()
        .map(|name| match (host, *name) {
            (Some(host), "host") => host.to_string(),
            _ => sigv4::canonical_header_value(head.headers.get_all(*name).iter().map(|value| value.as_bytes())),
        })
        .collect();
    let headers: Vec<(&str, &str)> =
        signed_headers.iter().zip(&values).map(|(name, value)| (*name, value.as_str())).collect();
    sigv4::canonical_request(
        head.method.as_str(),
        &sigv4::canonical_uri(decoded_path),
        &sigv4::canonical_query(query),
        &headers,
        payload_hash,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::hex;
    use crate::sigv4::{chunk_signature, hmac_sha256, sha256_hex, signing_key, string_to_sign};
    use crate::sigv4::{EMPTY_SHA256, UNSIGNED_PAYLOAD};

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
