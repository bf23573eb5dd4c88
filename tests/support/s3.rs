//! S3 requests and documents the tests build over and over: URL encoding, buckets, listings,
//! multipart uploads, tagging documents, and the shard a bucket lands on.

use md5::{Digest, Md5};

use super::client::Client;
use super::data::md5_hex;
use super::message::Response;
use super::xml::{xml_blocks, xml_escape, xml_value, xml_values};

/// The two ways the API is served: path-style at the root and under Alluxio's prefix.
pub const PREFIXES: [&str; 2] = ["", "/api/v1/s3"];

/// Percent-encodes every byte outside RFC 3986's unreserved set, keeping `/` (for paths).
pub fn encode_path(key: &str) -> String {
    let mut out = String::new();
    for &byte in key.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Percent-encodes a query value (everything outside unreserved, `/` included).
pub fn encode_query(value: &str) -> String {
    let mut out = String::new();
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Creates a bucket through `prefix`, asserting 200.
#[track_caller]
pub fn create_bucket(client: &mut Client, prefix: &str, bucket: &str) {
    client.put(&format!("{prefix}/{bucket}"), b"").expect(200, &format!("create bucket {prefix}/{bucket}"));
}

/// Lists a whole bucket with ListObjectsV2 (following continuation tokens) and returns the keys.
pub fn list_all_keys_v2(client: &mut Client, prefix: &str, bucket: &str, query: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let mut target = format!("{prefix}/{bucket}?list-type=2{query}");
        if let Some(token) = &token {
            target.push_str(&format!("&continuation-token={}", encode_query(token)));
        }
        let response = client.get(&target).expect(200, &target);
        keys.extend(xml_values(&response.body, "Key"));
        if xml_value(&response.body, "IsTruncated") == "true" {
            token = Some(xml_value(&response.body, "NextContinuationToken"));
        } else {
            return keys;
        }
    }
    panic!("listing never ended");
}

/// A path with nothing before the bucket but `prefix`.
pub fn path(prefix: &str, rest: &str) -> String {
    format!("{prefix}/{rest}")
}

/// CreateMultipartUpload on `object` (`PREFIX/bucket/key`, key already encoded); the UploadId.
#[track_caller]
pub fn initiate_upload(client: &mut Client, object: &str, headers: &[(&str, &str)]) -> String {
    let response = client.request("POST", &format!("{object}?uploads"), headers, b"").expect(200, "initiate");
    xml_value(&response.body, "UploadId")
}

/// UploadPart; returns the response (ETag in its header).
pub fn upload_part_request(client: &mut Client, object: &str, upload_id: &str, number: &str, data: &[u8]) -> Response {
    client.put(&format!("{object}?partNumber={number}&uploadId={upload_id}"), data)
}

/// UploadPart that must succeed; the quoted ETag.
#[track_caller]
pub fn upload_part(client: &mut Client, object: &str, upload_id: &str, number: u32, data: &[u8]) -> String {
    let response = upload_part_request(client, object, upload_id, &number.to_string(), data);
    let response = response.expect(200, &format!("UploadPart {number}"));
    response.etag().expect("ETag of a part").to_string()
}

/// The CompleteMultipartUpload document for `(part number, quoted ETag)` pairs, in order.
pub fn complete_document(parts: &[(u32, &str)]) -> String {
    let mut document = String::from("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (number, etag) in parts {
        document.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>", xml_escape(etag)));
    }
    document.push_str("</CompleteMultipartUpload>");
    document
}

/// CompleteMultipartUpload with `parts`; the response, whatever it is.
pub fn complete_upload(client: &mut Client, object: &str, upload_id: &str, parts: &[(u32, &str)]) -> Response {
    client.post(&format!("{object}?uploadId={upload_id}"), complete_document(parts).as_bytes())
}

/// S3's multipart ETag, quoted: MD5 of the concatenated binary MD5s of the parts, `-N`.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut digests = Vec::new();
    for part in parts {
        digests.extend_from_slice(&Md5::digest(part));
    }
    format!("\"{}-{}\"", md5_hex(&digests), parts.len())
}

/// The `<Tagging>` document of `tags`.
pub fn tagging_document(tags: &[(&str, &str)]) -> String {
    let mut document = String::from("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>");
    for (key, value) in tags {
        document.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_escape(key), xml_escape(value)));
    }
    document.push_str("</TagSet></Tagging>");
    document
}

/// The tags of a `<Tagging>` answer, in document order.
pub fn tags_of(body: &[u8]) -> Vec<(String, String)> {
    xml_blocks(body, "Tag").iter().map(|tag| (xml_value(tag, "Key"), xml_value(tag, "Value"))).collect()
}

/// `(key, value)` pairs as owned strings, to compare with `tags_of`.
/// A tag set as GetObjectTagging / GetBucketTagging answer it: sorted by key, as S3 does.
pub fn owned_tags(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut owned: Vec<(String, String)> =
        tags.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
    owned.sort();
    owned
}

/// The shard of `bucket` among `shards` (the server's FNV-1a, see `shard::shard_for`).
pub fn shard_of(bucket: &str, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bucket.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % shards as u64) as usize
}
