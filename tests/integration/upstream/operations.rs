//! Every operation of the upstream client against a real s3core with credentials: signed and
//! accepted, bytes and ETags checked, a 64 MiB body streamed both ways in pieces, ranges,
//! conditions, multipart, copies, tags, listings, deletes, and error documents parsed.
//! `operation_suite` is shared with the SeaweedFS test; `Flavour` names where stores differ.

use std::time::Instant;

use s3core::upstream::{
    ByteRange, CompletedPart, CopyOptions, GetOptions, InMemoryBody, PutOptions, Upstream, UpstreamCredentials,
    UpstreamError, UpstreamSettings,
};

use super::{client, pattern, run, settings, PatternBody, PatternSink, UpstreamServer, ACCESS_KEY, SECRET_KEY};
use crate::support::{md5_hex, multipart_etag, quoted_md5, xml_values, Server};

/// Where an upstream store answers differently from s3core (each difference is asserted,
/// so a change on either side shows).
pub struct Flavour {
    pub name: &'static str,
    /// The code of CreateBucket on a bucket one already owns.
    pub bucket_exists_code: &'static str,
    /// Smallest part size other than the last.
    pub part_bytes: u64,
    /// The size of the large streamed body.
    pub large_bytes: u64,
}

pub const S3CORE: Flavour = Flavour {
    name: "s3core",
    bucket_exists_code: "BucketAlreadyOwnedByYou",
    part_bytes: 1 << 20,
    large_bytes: 64 << 20,
};

/// `UpstreamError::Response` with this status and code, or a panic saying what came instead.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(result: Result<T, UpstreamError>, status: u16, code: &str, context: &str) {
    match result {
        Err(UpstreamError::Response(response)) => {
            assert_eq!((response.status, response.code.as_str()), (status, code), "{context}: {response}");
        }
        other => panic!("{context}: expected {status} {code}, got {other:?}"),
    }
}

/// Reads a whole GET body into memory through the reader API, in pieces of `piece` bytes.
pub async fn read_all(upstream: &Upstream, bucket: &str, key: &str, options: &GetOptions) -> (u16, Vec<u8>) {
    let mut response = upstream.get_object(bucket, key, options).await.unwrap_or_else(|e| panic!("GET {key}: {e}"));
    let mut out = Vec::new();
    let mut buffer = Vec::with_capacity(4096);
    loop {
        buffer.clear();
        let (read, back) = response.body.read(buffer).await;
        buffer = back;
        match read.unwrap_or_else(|e| panic!("GET {key} body: {e}")) {
            0 => break,
            _ => out.extend_from_slice(&buffer),
        }
    }
    assert!(response.body.is_done());
    (response.head.status, out)
}

/// Runs every operation against `upstream` in a fresh bucket `bucket`.
pub async fn operation_suite(upstream: &Upstream, flavour: &Flavour, bucket: &str) {
    let name = flavour.name;
    // Buckets.
    upstream.create_bucket(bucket).await.unwrap_or_else(|e| panic!("{name}: CreateBucket: {e}"));
    expect_error(upstream.create_bucket(bucket).await, 409, flavour.bucket_exists_code, "CreateBucket again");
    assert_eq!(upstream.head_bucket(bucket).await.expect("HeadBucket").status, 200);
    expect_error(upstream.head_bucket("no-such-bucket-here").await, 404, "NotFound", "HeadBucket of a missing bucket");
    let buckets = upstream.list_buckets().await.expect("ListBuckets");
    assert_eq!(buckets.status, 200);
    assert!(xml_values(&buckets.body, "Name").contains(&bucket.to_string()), "{name}: ListBuckets lists {bucket}");

    // A small object with headers and user metadata.
    let small = b"hello, upstream".to_vec();
    let options = PutOptions {
        content_type: Some("text/plain".into()),
        metadata: vec![("owner".into(), "lake team".into())],
        ..PutOptions::default()
    };
    let put = upstream.put_object(bucket, "dir/small.txt", InMemoryBody::new(small.clone()), &options).await;
    let put = put.unwrap_or_else(|e| panic!("{name}: PutObject: {e}"));
    assert_eq!(put.etag.as_deref(), Some(quoted_md5(&small).as_str()), "{name}: PutObject's ETag is the MD5");
    let head = upstream.head_object(bucket, "dir/small.txt", &GetOptions::default()).await.expect("HeadObject");
    assert_eq!(head.etag, put.etag);
    assert_eq!(head.content_length, Some(small.len() as u64));
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
    assert_eq!(head.metadata, vec![("owner".to_string(), "lake team".to_string())], "{name}: user metadata");
    assert!(head.last_modified_ms.is_some(), "{name}: Last-Modified parses: {:?}", head.last_modified);
    let (status, bytes) = read_all(upstream, bucket, "dir/small.txt", &GetOptions::default()).await;
    assert_eq!((status, bytes.as_slice()), (200, small.as_slice()));

    // Keys that need encoding, in the path and in the signature.
    let odd_key = "dir/a b+c=d&e/é€ (1).txt";
    upstream
        .put_object(bucket, odd_key, InMemoryBody::new(b"odd".to_vec()), &PutOptions::default())
        .await
        .expect("odd key");
    let (_, bytes) = read_all(upstream, bucket, odd_key, &GetOptions::default()).await;
    assert_eq!(bytes, b"odd");

    // Ranges and conditions.
    let etag = put.etag.clone().expect("etag");
    let range = |range| GetOptions { range: Some(range), ..GetOptions::default() };
    let mut ranged =
        upstream.get_object(bucket, "dir/small.txt", &range(ByteRange::Inclusive { first: 7, last: 14 })).await;
    let ranged = ranged.as_mut().expect("ranged GET");
    assert_eq!(ranged.head.status, 206);
    let content_range = ranged.head.content_range.expect("Content-Range");
    assert_eq!((content_range.first, content_range.last, content_range.total), (7, 14, Some(small.len() as u64)));
    let (_, suffix) = read_all(upstream, bucket, "dir/small.txt", &range(ByteRange::Suffix(8))).await;
    assert_eq!(suffix, &small[small.len() - 8..]);
    let (_, from) = read_all(upstream, bucket, "dir/small.txt", &range(ByteRange::From(13))).await;
    assert_eq!(from, &small[13..]);
    let matching = GetOptions { if_match: Some(etag.clone()), ..GetOptions::default() };
    assert_eq!(read_all(upstream, bucket, "dir/small.txt", &matching).await.1, small);
    let stale = GetOptions { if_match: Some("\"0123456789abcdef0123456789abcdef\"".into()), ..GetOptions::default() };
    expect_error(upstream.get_object(bucket, "dir/small.txt", &stale).await, 412, "PreconditionFailed", "If-Match");
    expect_error(
        upstream.head_object(bucket, "dir/small.txt", &stale).await,
        412,
        "PreconditionFailed",
        "HEAD If-Match",
    );
    let fresh = GetOptions { if_none_match: Some(etag.clone()), ..GetOptions::default() };
    expect_error(upstream.get_object(bucket, "dir/small.txt", &fresh).await, 304, "NotModified", "If-None-Match");

    // A large body streamed both ways, never whole in the client: pieces of at most 256 KiB.
    let large = flavour.large_bytes;
    let started = Instant::now();
    let mut source = PatternBody::new(7, large);
    let put = upstream.put_object(bucket, "large.bin", &mut source, &PutOptions::default()).await;
    let put = put.unwrap_or_else(|e| panic!("{name}: large PutObject: {e}"));
    assert_eq!(source.given(), large);
    assert!(source.largest_piece <= 256 * 1024, "{name}: source asked for {} at once", source.largest_piece);
    assert_eq!(put.etag, Some(PatternBody::etag(7, large)), "{name}: large ETag");
    let mut sink = PatternSink::new(7, 0);
    let head =
        upstream.get_object_into(bucket, "large.bin", &GetOptions::default(), &mut sink).await.expect("large GET");
    assert_eq!((sink.received, sink.mismatch_at), (large, None), "{name}: large body back intact");
    assert!(sink.largest_piece <= 256 * 1024, "{name}: sink got {} at once", sink.largest_piece);
    assert_eq!(head.content_length, Some(large));
    eprintln!("{name}: {} MiB PUT + GET in {:?}", large >> 20, started.elapsed());
    // A range deep inside it, checked against the pattern.
    let deep = ByteRange::Inclusive { first: large / 2 + 3, last: large / 2 + 3 + 999_999 };
    let mut sink = PatternSink::new(7, large / 2 + 3);
    let head = upstream.get_object_into(bucket, "large.bin", &range(deep), &mut sink).await.expect("deep range");
    assert_eq!((head.status, sink.received, sink.mismatch_at), (206, 1_000_000, None), "{name}: deep range");

    // Multipart: two full parts streamed and a short last one from memory.
    let part = flavour.part_bytes;
    let upload = upstream.create_multipart_upload(bucket, "multi.bin", &PutOptions::default()).await;
    let upload = upload.unwrap_or_else(|e| panic!("{name}: CreateMultipartUpload: {e}"));
    let mut parts = Vec::new();
    for (number, seed) in [(1u32, 11u64), (2, 12)] {
        let etag = upstream.upload_part(bucket, "multi.bin", &upload, number, PatternBody::new(seed, part)).await;
        let etag = etag.unwrap_or_else(|e| panic!("{name}: UploadPart {number}: {e}"));
        assert_eq!(etag, PatternBody::etag(seed, part), "{name}: part {number} ETag");
        parts.push(CompletedPart { part_number: number, etag });
    }
    let last = b"the end".to_vec();
    let last_etag = upstream.upload_part(bucket, "multi.bin", &upload, 3, InMemoryBody::new(last.clone())).await;
    parts.push(CompletedPart { part_number: 3, etag: last_etag.expect("part 3") });
    let completed = upstream.complete_multipart_upload(bucket, "multi.bin", &upload, &parts).await;
    let completed = completed.unwrap_or_else(|e| panic!("{name}: CompleteMultipartUpload: {e}"));
    let whole: Vec<Vec<u8>> = vec![pattern(11, 0, part as usize), pattern(12, 0, part as usize), last.clone()];
    let slices: Vec<&[u8]> = whole.iter().map(Vec::as_slice).collect();
    assert_eq!(completed.etag, Some(multipart_etag(&slices)), "{name}: multipart ETag");
    let (_, bytes) = read_all(upstream, bucket, "multi.bin", &GetOptions::default()).await;
    assert_eq!(md5_hex(&bytes), md5_hex(&whole.concat()), "{name}: multipart body");
    // An aborted upload takes no more parts.
    let aborted = upstream.create_multipart_upload(bucket, "gone.bin", &PutOptions::default()).await.expect("create");
    upstream.abort_multipart_upload(bucket, "gone.bin", &aborted).await.expect("AbortMultipartUpload");
    let late = upstream.upload_part(bucket, "gone.bin", &aborted, 1, InMemoryBody::new(b"x".to_vec())).await;
    expect_error(late, 404, "NoSuchUpload", "UploadPart after abort");

    // Server-side copies.
    let copied = upstream.copy_object(bucket, "dir/small.txt", bucket, "copy.txt", &CopyOptions::default()).await;
    let copied = copied.unwrap_or_else(|e| panic!("{name}: CopyObject: {e}"));
    assert_eq!(copied.etag.as_deref(), Some(quoted_md5(&small).as_str()), "{name}: copy ETag");
    assert!(copied.last_modified.is_some());
    assert_eq!(read_all(upstream, bucket, "copy.txt", &GetOptions::default()).await.1, small);
    let copy_head = upstream.head_object(bucket, "copy.txt", &GetOptions::default()).await.expect("head copy");
    assert_eq!(copy_head.metadata, vec![("owner".to_string(), "lake team".to_string())], "{name}: metadata copied");
    let replace = CopyOptions {
        replace: Some(PutOptions { content_type: Some("application/x-test".into()), ..PutOptions::default() }),
        source_if_match: Some(etag.clone()),
    };
    upstream.copy_object(bucket, "dir/small.txt", bucket, "copy2.txt", &replace).await.expect("copy REPLACE");
    let replaced = upstream.head_object(bucket, "copy2.txt", &GetOptions::default()).await.expect("head copy2");
    assert_eq!(replaced.content_type.as_deref(), Some("application/x-test"));
    assert!(replaced.metadata.is_empty(), "{name}: REPLACE drops the metadata: {:?}", replaced.metadata);
    let stale_source =
        CopyOptions { source_if_match: Some("\"ffffffffffffffffffffffffffffffff\"".into()), replace: None };
    let refused = upstream.copy_object(bucket, "dir/small.txt", bucket, "copy3.txt", &stale_source).await;
    expect_error(refused, 412, "PreconditionFailed", "CopyObject x-amz-copy-source-if-match");

    // Tags.
    upstream.put_object_tagging(bucket, "copy.txt", &[("tier", "hot"), ("a", "1 2")]).await.expect("PutObjectTagging");
    let mut tags = upstream.get_object_tagging(bucket, "copy.txt").await.expect("GetObjectTagging");
    tags.sort();
    assert_eq!(tags, vec![("a".to_string(), "1 2".to_string()), ("tier".to_string(), "hot".to_string())]);

    // Listings, relayed raw.
    let listing = upstream.list_objects_v2(bucket, &[("prefix", "dir/"), ("delimiter", "/")]).await.expect("ListV2");
    assert_eq!(listing.status, 200);
    assert_eq!(xml_values(&listing.body, "Key"), vec!["dir/small.txt".to_string()], "{name}: ListObjectsV2");
    assert_eq!(xml_values(&listing.body, "Prefix").iter().filter(|p| p.as_str() == "dir/a b+c=d&e/").count(), 1);
    let page = upstream.list_objects_v2(bucket, &[("max-keys", "2")]).await.expect("ListV2 page");
    assert_eq!(xml_values(&page.body, "IsTruncated"), vec!["true".to_string()]);
    let token = xml_values(&page.body, "NextContinuationToken").pop().expect("continuation token");
    let next = upstream.list_objects_v2(bucket, &[("max-keys", "1000"), ("continuation-token", &token)]).await;
    let mut all: Vec<String> = xml_values(&page.body, "Key");
    all.extend(xml_values(&next.expect("ListV2 next page").body, "Key"));
    let expected = ["copy.txt", "copy2.txt", odd_key, "dir/small.txt", "large.bin", "multi.bin"];
    assert_eq!(all, expected, "{name}: every key once, in order, over two pages");
    let v1 = upstream.list_objects(bucket, &[("prefix", "copy"), ("marker", "copy.txt")]).await.expect("ListObjects");
    assert_eq!(xml_values(&v1.body, "Key"), vec!["copy2.txt".to_string()], "{name}: ListObjects v1 after a marker");

    // Errors, parsed from the upstream's documents.
    let missing = upstream.get_object(bucket, "no/such/key", &GetOptions::default()).await;
    match missing {
        Err(UpstreamError::Response(response)) => {
            assert_eq!((response.status, response.code.as_str()), (404, "NoSuchKey"));
            assert!(!response.message.is_empty(), "{name}: the message is parsed");
            assert!(String::from_utf8_lossy(&response.body).contains("<Code>NoSuchKey</Code>"), "raw document kept");
            assert_eq!(response.attempts, 1, "a 404 is not retried");
        }
        other => panic!("{name}: GET of a missing key: {other:?}"),
    }
    expect_error(
        upstream.list_objects_v2("no-such-bucket-here", &[]).await,
        404,
        "NoSuchBucket",
        "list a missing bucket",
    );
    expect_error(upstream.delete_bucket(bucket).await, 409, "BucketNotEmpty", "DeleteBucket of a full bucket");

    // Deletes.
    assert_eq!(upstream.delete_object(bucket, "copy2.txt").await.expect("DeleteObject").status, 204);
    expect_error(upstream.head_object(bucket, "copy2.txt", &GetOptions::default()).await, 404, "NotFound", "deleted");
    let keys = ["dir/small.txt", odd_key, "large.bin", "multi.bin", "copy.txt", "never-existed"];
    let result = upstream.delete_objects(bucket, &keys, false).await.expect("DeleteObjects");
    let deleted = xml_values(&result.body, "Key");
    for key in keys {
        assert!(deleted.contains(&key.to_string()), "{name}: DeleteObjects reports {key}: {deleted:?}");
    }
    let rest = upstream.list_objects_v2(bucket, &[]).await.expect("list after deletes");
    assert!(xml_values(&rest.body, "Key").is_empty(), "{name}: bucket empty: {}", String::from_utf8_lossy(&rest.body));
    assert_eq!(upstream.delete_bucket(bucket).await.expect("DeleteBucket").status, 204);
    expect_error(upstream.head_bucket(bucket).await, 404, "NotFound", "deleted bucket");

    // Keep-alive: the exchanges above left reusable connections, not one per request.
    assert!(upstream.idle_connections() >= 1, "{name}: connections are kept alive");
}

#[test]
fn upstream_every_operation_against_s3core() {
    let server = UpstreamServer::start(&[]);
    run(async {
        let upstream = client(settings(&server.url()));
        operation_suite(&upstream, &S3CORE, "lake").await;
        // About 70 requests, one at a time; a connection is replaced only after an answer
        // that closes it (an upload refused before its body).
        let opened = upstream.connections_opened();
        assert!(opened <= 3, "connections are reused: {opened} opened");
    });
}

/// The endpoint's path prefix is part of every request path and of what is signed; a host
/// name (not an address) goes through the client's name lookup.
#[test]
fn upstream_under_a_path_prefix_and_by_host_name() {
    let server = Server::start_with(1, &["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]);
    run(async {
        let prefixed = client(settings(&format!("http://{}/api/v1/s3", server.addr)));
        prefixed.create_bucket("prefixed").await.expect("CreateBucket under the prefix");
        prefixed
            .put_object("prefixed", "k", InMemoryBody::new(b"v".to_vec()), &PutOptions::default())
            .await
            .expect("PUT");
        let listing = prefixed.list_buckets().await.expect("ListBuckets under the prefix");
        assert!(xml_values(&listing.body, "Name").contains(&"prefixed".to_string()));
        let by_name = client(settings(&format!("http://localhost:{}", server.addr.port())));
        let (_, bytes) = read_all(&by_name, "prefixed", "k", &GetOptions::default()).await;
        assert_eq!(bytes, b"v");
    });
}

/// Signatures are really checked: the same client with a wrong secret is refused, and the
/// refusal is parsed; an upstream s3core in open mode accepts unsigned requests.
#[test]
fn upstream_wrong_secret_is_refused_and_anonymous_works_where_open() {
    let server = UpstreamServer::start(&[]);
    run(async {
        let wrong = UpstreamCredentials::new(ACCESS_KEY, "not-the-secret").unwrap();
        let upstream = client(UpstreamSettings::new(&server.url(), Some(wrong), "us-east-1", None).unwrap());
        let refused = upstream.list_buckets().await;
        expect_error(refused, 403, "SignatureDoesNotMatch", "wrong secret");
        let anonymous = client(UpstreamSettings::new(&server.url(), None, "us-east-1", None).unwrap());
        expect_error(anonymous.list_buckets().await, 403, "AccessDenied", "unsigned against a signed server");
    });
    let open = Server::start_with(1, &[]);
    run(async {
        let anonymous =
            client(UpstreamSettings::new(&format!("http://{}", open.addr), None, "us-east-1", None).unwrap());
        anonymous.create_bucket("open").await.expect("anonymous CreateBucket in open mode");
    });
}

/// The server with `--upstream`: each core builds its client, core 0 probes the upstream at
/// start, and neither key ever reaches the log (at debug level either).
#[test]
fn upstream_flags_start_the_client_and_keep_keys_out_of_logs() {
    let upstream = UpstreamServer::start(&[]);
    let url = upstream.url();
    let good = Server::start_with(
        2,
        &[
            "--upstream",
            &url,
            "--upstream-access-key",
            ACCESS_KEY,
            "--upstream-secret-key",
            SECRET_KEY,
            "--log-level",
            "debug",
        ],
    );
    let bad = Server::start_with(
        1,
        &["--upstream", &url, "--upstream-access-key", ACCESS_KEY, "--upstream-secret-key", "wrong-secret-value"],
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !(good.stderr().contains("reachable") && bad.stderr().contains("not usable yet")) && Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (good_log, bad_log) = (good.stderr(), bad.stderr());
    assert!(good_log.contains(&format!("upstream {url}: reachable (ListBuckets answered 200)")), "{good_log}");
    assert!(bad_log.contains("SignatureDoesNotMatch"), "{bad_log}");
    for log in [&good_log, &bad_log] {
        for secret in [ACCESS_KEY, SECRET_KEY, "wrong-secret-value"] {
            assert!(!log.contains(secret), "a key in the log:\n{log}");
        }
    }
    let (code, stderr) = Server::start_expecting_failure(&["--upstream", "ftp://nowhere"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--upstream"), "{stderr}");
    let (code, stderr) =
        Server::start_expecting_failure(&["--upstream-access-key", "a", "--upstream-secret-key", "b"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    // Keys from the environment work the same, and are never echoed either.
    let env = [("S3CORE_UPSTREAM_ACCESS_KEY", ACCESS_KEY), ("S3CORE_UPSTREAM_SECRET_KEY", SECRET_KEY)];
    let (code, stderr) = Server::start_expecting_failure(&["--upstream", "http://h", "--upstream-ca-file", "/x"], &env);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY) && !stderr.contains(ACCESS_KEY), "{stderr}");
}
