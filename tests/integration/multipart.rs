//! Multipart uploads: create, upload part (and part copy), list parts, list uploads, complete,
//! abort; block files reclaimed; uploads and completed objects across `kill -9`.

use crate::support::*;

const MIB: usize = 1024 * 1024;

fn bucket_name(prefix: &str, base: &str) -> String {
    if prefix.is_empty() {
        format!("{base}-root")
    } else {
        format!("{base}-prefix")
    }
}

fn is_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// `(number, ETag, Size)` of every `<Part>` of a ListParts answer.
fn listed_parts(body: &[u8]) -> Vec<(u32, String, u64)> {
    xml_blocks(body, "Part")
        .iter()
        .map(|part| {
            (
                xml_value(part, "PartNumber").parse().unwrap(),
                xml_value(part, "ETag"),
                xml_value(part, "Size").parse().unwrap(),
            )
        })
        .collect()
}

/// `(Key, UploadId)` of every `<Upload>` of a ListMultipartUploads answer.
fn listed_uploads(body: &[u8]) -> Vec<(String, String)> {
    xml_blocks(body, "Upload").iter().map(|upload| (xml_value(upload, "Key"), xml_value(upload, "UploadId"))).collect()
}

fn common_prefixes(body: &[u8]) -> Vec<String> {
    xml_blocks(body, "CommonPrefixes").iter().map(|block| xml_value(block, "Prefix")).collect()
}

#[test]
fn create_returns_bucket_key_and_distinct_hex_upload_ids() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-create");
        create_bucket(&mut client, prefix, &bucket);
        let key = "dir/a b ü.bin";
        let object = format!("{prefix}/{bucket}/{}", encode_path(key));
        let first = client.request("POST", &format!("{object}?uploads"), &[], b"").expect(200, "initiate 1");
        assert!(first.header("content-type").is_some_and(|t| t.contains("xml")), "{first}");
        assert_eq!(xml_values(&first.body, "InitiateMultipartUploadResult").len(), 1, "{first}");
        assert_eq!(xml_value(&first.body, "Bucket"), bucket);
        assert_eq!(xml_value(&first.body, "Key"), key);
        let first_id = xml_value(&first.body, "UploadId");
        let second_id = initiate_upload(&mut client, &object, &[]);
        assert!(is_upload_id(&first_id), "{first_id:?}");
        assert!(is_upload_id(&second_id), "{second_id:?}");
        assert_ne!(first_id, second_id);
        // Both are listed, for the decoded key.
        let listing = client.get(&format!("{prefix}/{bucket}?uploads")).expect(200, "ListMultipartUploads");
        let mut expected = vec![(key.to_string(), first_id), (key.to_string(), second_id)];
        expected.sort_by(|a, b| a.1.cmp(&b.1));
        let mut listed = listed_uploads(&listing.body);
        listed.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(listed, expected);
        // An upload into a missing bucket.
        client.request("POST", &format!("{prefix}/no-such-bucket-mpu/k?uploads"), &[], b"").expect_error(
            404,
            "NoSuchBucket",
            "initiate in a missing bucket",
        );
    }
}

#[test]
fn content_type_metadata_and_tags_given_at_creation_appear_on_the_completed_object() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-attributes");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/report.csv");
        let upload_id = initiate_upload(
            &mut client,
            &object,
            &[
                ("Content-Type", "text/csv; charset=utf-8"),
                ("x-amz-meta-origin", "multipart test"),
                ("X-Amz-Meta-Run", "7"),
                ("Cache-Control", "no-store"),
                ("x-amz-tagging", "project=blue%20sky&tier=gold"),
            ],
        );
        let part1 = random_bytes(MIB, 1);
        let part2 = random_bytes(100, 2);
        let etag1 = upload_part(&mut client, &object, &upload_id, 1, &part1);
        let etag2 = upload_part(&mut client, &object, &upload_id, 2, &part2);
        complete_upload(&mut client, &object, &upload_id, &[(1, &etag1), (2, &etag2)]).expect(200, "complete");
        for response in [client.get(&object).expect(200, "GET"), client.head(&object).expect(200, "HEAD")] {
            assert_eq!(response.header("content-type"), Some("text/csv; charset=utf-8"), "{response}");
            assert_eq!(response.header("x-amz-meta-origin"), Some("multipart test"), "{response}");
            assert_eq!(response.header("x-amz-meta-run"), Some("7"), "{response}");
            assert_eq!(response.header("cache-control"), Some("no-store"), "{response}");
            assert_eq!(response.header("x-amz-tagging-count"), Some("2"), "{response}");
        }
        let tagging = client.get(&format!("{object}?tagging")).expect(200, "GetObjectTagging");
        assert_eq!(tags_of(&tagging.body), owned_tags(&[("project", "blue sky"), ("tier", "gold")]));
        // Without any: the defaults, and no tag count.
        let plain = format!("{prefix}/{bucket}/plain");
        let upload_id = initiate_upload(&mut client, &plain, &[]);
        let etag = upload_part(&mut client, &plain, &upload_id, 1, b"only part");
        complete_upload(&mut client, &plain, &upload_id, &[(1, &etag)]).expect(200, "complete plain");
        let head = client.head(&plain).expect(200, "HEAD plain");
        assert_eq!(head.header("content-type"), Some("binary/octet-stream"), "{head}");
        assert_eq!(head.header("x-amz-tagging-count"), None, "{head}");
        assert!(head.headers.iter().all(|(name, _)| !name.to_ascii_lowercase().starts_with("x-amz-meta-")), "{head}");
    }
}

#[test]
fn invalid_tagging_header_at_creation_is_refused() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-bad-tags");
    let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
    client.request("POST", "/mpu-bad-tags/k?uploads", &[("x-amz-tagging", &eleven.join("&"))], b"").expect_error(
        400,
        "BadRequest",
        "11 tags at creation",
    );
    client.request("POST", "/mpu-bad-tags/k?uploads", &[("x-amz-tagging", "aws:x=1")], b"").expect_error(
        400,
        "InvalidTag",
        "aws: tag at creation",
    );
    let listing = client.get("/mpu-bad-tags?uploads").expect(200, "list");
    assert_eq!(listed_uploads(&listing.body), vec![], "a refused creation left an upload");
}

#[test]
fn upload_part_etags_digests_part_numbers_and_unknown_uploads() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-parts");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let data = random_bytes(200_000, 3);
        // ETag: the quoted MD5 of the part.
        let put = upload_part_request(&mut client, &object, &upload_id, "1", &data).expect(200, "part 1");
        assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()));
        // A correct Content-MD5 is accepted; a wrong one is BadDigest and stores nothing.
        let target = format!("{object}?partNumber=2&uploadId={upload_id}");
        let put = client.request("PUT", &target, &[("Content-MD5", &md5_base64(&data))], &data);
        assert_eq!(put.expect(200, "correct Content-MD5").etag(), Some(quoted_md5(&data).as_str()));
        let target = format!("{object}?partNumber=3&uploadId={upload_id}");
        client.request("PUT", &target, &[("Content-MD5", &md5_base64(b"other"))], &data).expect_error(
            400,
            "BadDigest",
            "wrong Content-MD5",
        );
        // Part numbers: 1..=10000.
        for bad in ["0", "10001", "abc", "-1", "", "1.5"] {
            upload_part_request(&mut client, &object, &upload_id, bad, b"x").expect_error(
                400,
                "InvalidArgument",
                &format!("partNumber={bad:?}"),
            );
        }
        let put = upload_part_request(&mut client, &object, &upload_id, "10000", b"last").expect(200, "part 10000");
        assert_eq!(put.etag(), Some(quoted_md5(b"last").as_str()));
        // Unknown upload, and a real upload id used with another key.
        upload_part_request(&mut client, &object, "0123456789abcdef0123456789abcdef", "1", b"x").expect_error(
            404,
            "NoSuchUpload",
            "unknown uploadId",
        );
        let other = format!("{prefix}/{bucket}/other-key");
        upload_part_request(&mut client, &other, &upload_id, "1", b"x").expect_error(
            404,
            "NoSuchUpload",
            "uploadId of another key",
        );
        let listing = client.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
        let md5 = quoted_md5(&data);
        assert_eq!(
            listed_parts(&listing.body),
            vec![(1, md5.clone(), 200_000), (2, md5, 200_000), (10000, quoted_md5(b"last"), 4)],
            "the BadDigest part 3 must not be listed"
        );
    }
    // Parts 1, 2 and 10000 of each of the two uploads; the BadDigest body left no file.
    server.expect_block_files(6, "after the parts (BadDigest stored nothing)");
}

#[test]
fn reuploading_a_part_number_replaces_the_part() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-reupload");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let old = random_bytes(MIB + 10, 4);
        let new = random_bytes(MIB + 20, 5);
        let last = random_bytes(5000, 6);
        let old_etag = upload_part(&mut client, &object, &upload_id, 1, &old);
        let last_etag = upload_part(&mut client, &object, &upload_id, 2, &last);
        let new_etag = upload_part(&mut client, &object, &upload_id, 1, &new);
        assert_eq!(new_etag, quoted_md5(&new));
        let listing = client.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
        assert_eq!(
            listed_parts(&listing.body),
            vec![(1, new_etag.clone(), (MIB + 20) as u64), (2, last_etag.clone(), 5000)]
        );
        // The old ETag no longer names a part.
        complete_upload(&mut client, &object, &upload_id, &[(1, &old_etag), (2, &last_etag)]).expect_error(
            400,
            "InvalidPart",
            "the replaced part's ETag",
        );
        let done = complete_upload(&mut client, &object, &upload_id, &[(1, &new_etag), (2, &last_etag)]);
        done.expect(200, "complete with the new part");
        let got = client.get(&object).expect(200, "GET");
        let expected = [new.clone(), last.clone()].concat();
        assert!(got.body == expected, "the object is not new part 1 + part 2");
        assert_eq!(got.etag(), Some(multipart_etag(&[&new, &last]).as_str()));
    }
    // One object of two parts per prefix: the replaced part-1 blocks are gone.
    server.expect_block_files(4, "after replacing parts and completing");
}

#[test]
fn list_parts_pages_with_max_parts_and_part_number_marker() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-list-parts");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/some/key");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let numbers = [1u32, 2, 3, 5, 8];
        let mut expected = Vec::new();
        for number in numbers {
            let data = random_bytes(100 + number as usize, number as u64);
            let etag = upload_part(&mut client, &object, &upload_id, number, &data);
            expected.push((number, etag, data.len() as u64));
        }
        // Everything on one page.
        let all = client.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
        assert_eq!(xml_values(&all.body, "ListPartsResult").len(), 1, "{all}");
        assert_eq!(xml_value(&all.body, "Bucket"), bucket);
        assert_eq!(xml_value(&all.body, "Key"), "some/key");
        assert_eq!(xml_value(&all.body, "UploadId"), upload_id);
        assert_eq!(xml_value(&all.body, "PartNumberMarker"), "0");
        assert_eq!(xml_value(&all.body, "MaxParts"), "1000");
        assert_eq!(xml_value(&all.body, "IsTruncated"), "false");
        assert_eq!(listed_parts(&all.body), expected);
        for part in xml_blocks(&all.body, "Part") {
            assert!(is_iso8601_millis(&xml_value(&part, "LastModified")), "{part}");
        }
        // Pages of two.
        let page = |client: &mut Client, marker: Option<u32>| {
            let mut target = format!("{object}?uploadId={upload_id}&max-parts=2");
            if let Some(marker) = marker {
                target.push_str(&format!("&part-number-marker={marker}"));
            }
            client.get(&target).expect(200, &target)
        };
        let first = page(&mut client, None);
        assert_eq!(listed_parts(&first.body), expected[0..2]);
        assert_eq!(xml_value(&first.body, "MaxParts"), "2");
        assert_eq!(xml_value(&first.body, "IsTruncated"), "true");
        assert_eq!(xml_value(&first.body, "NextPartNumberMarker"), "2");
        let second = page(&mut client, Some(2));
        assert_eq!(xml_value(&second.body, "PartNumberMarker"), "2");
        assert_eq!(listed_parts(&second.body), expected[2..4]);
        assert_eq!(xml_value(&second.body, "IsTruncated"), "true");
        assert_eq!(xml_value(&second.body, "NextPartNumberMarker"), "5");
        let third = page(&mut client, Some(5));
        assert_eq!(listed_parts(&third.body), expected[4..]);
        assert_eq!(xml_value(&third.body, "IsTruncated"), "false");
        // A marker between part numbers starts after it.
        let between = page(&mut client, Some(4));
        assert_eq!(listed_parts(&between.body), expected[3..5]);
        assert_eq!(xml_value(&between.body, "IsTruncated"), "false");
        // Errors.
        client.get(&format!("{object}?uploadId={upload_id}&max-parts=abc")).expect_error(
            400,
            "InvalidArgument",
            "max-parts=abc",
        );
        client.get(&format!("{object}?uploadId=ffffffffffffffffffffffffffffffff")).expect_error(
            404,
            "NoSuchUpload",
            "ListParts of an unknown upload",
        );
        client.get(&format!("{prefix}/{bucket}/another?uploadId={upload_id}")).expect_error(
            404,
            "NoSuchUpload",
            "ListParts with another key",
        );
    }
}

/// The uploads of the listing tests: `(key, upload id)` in listing order (key, then id).
fn create_listing_uploads(client: &mut Client, prefix: &str, bucket: &str) -> Vec<(String, String)> {
    let mut uploads = Vec::new();
    for key in ["a/1", "a/2", "b", "b", "b", "c/x/1", "d"] {
        let id = initiate_upload(client, &format!("{prefix}/{bucket}/{key}"), &[]);
        uploads.push((key.to_string(), id));
    }
    uploads.sort();
    uploads
}

#[test]
fn list_multipart_uploads_prefix_delimiter_and_markers() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-list-uploads");
        create_bucket(&mut client, prefix, &bucket);
        let uploads = create_listing_uploads(&mut client, prefix, &bucket);
        let list = |client: &mut Client, query: &str| {
            let target = format!("{prefix}/{bucket}?uploads{query}");
            client.get(&target).expect(200, &target)
        };
        let all = list(&mut client, "");
        assert_eq!(xml_values(&all.body, "ListMultipartUploadsResult").len(), 1, "{all}");
        assert_eq!(xml_value(&all.body, "Bucket"), bucket);
        assert_eq!(xml_value(&all.body, "IsTruncated"), "false");
        assert_eq!(xml_value(&all.body, "MaxUploads"), "1000");
        assert_eq!(listed_uploads(&all.body), uploads);
        for upload in xml_blocks(&all.body, "Upload") {
            assert!(is_iso8601_millis(&xml_value(&upload, "Initiated")), "{upload}");
            assert_eq!(xml_value(&upload, "StorageClass"), "STANDARD");
        }
        // prefix
        let a = list(&mut client, "&prefix=a%2F");
        assert_eq!(xml_value(&a.body, "Prefix"), "a/");
        assert_eq!(listed_uploads(&a.body), uploads[0..2]);
        let none = list(&mut client, "&prefix=zzz");
        assert_eq!(listed_uploads(&none.body), vec![]);
        // delimiter
        let rolled = list(&mut client, "&delimiter=%2F");
        assert_eq!(xml_value(&rolled.body, "Delimiter"), "/");
        assert_eq!(common_prefixes(&rolled.body), ["a/", "c/"]);
        let expected: Vec<_> = uploads.iter().filter(|(key, _)| !key.contains('/')).cloned().collect();
        assert_eq!(listed_uploads(&rolled.body), expected);
        let nested = list(&mut client, "&prefix=c%2F&delimiter=%2F");
        assert_eq!(common_prefixes(&nested.body), ["c/x/"]);
        assert_eq!(listed_uploads(&nested.body), vec![]);
        // key-marker alone: keys strictly after it.
        let after_b = list(&mut client, "&key-marker=b");
        assert_eq!(xml_value(&after_b.body, "KeyMarker"), "b");
        assert_eq!(listed_uploads(&after_b.body), uploads[5..]);
        // key-marker with upload-id-marker: the rest of that key's uploads, then later keys.
        let marker_id = &uploads[2].1;
        let within_b = list(&mut client, &format!("&key-marker=b&upload-id-marker={marker_id}"));
        assert_eq!(xml_value(&within_b.body, "UploadIdMarker"), *marker_id);
        assert_eq!(listed_uploads(&within_b.body), uploads[3..]);
        // max-uploads pages, following NextKeyMarker / NextUploadIdMarker.
        let first = list(&mut client, "&max-uploads=3");
        assert_eq!(xml_value(&first.body, "MaxUploads"), "3");
        assert_eq!(xml_value(&first.body, "IsTruncated"), "true");
        assert_eq!(listed_uploads(&first.body), uploads[0..3]);
        assert_eq!(xml_value(&first.body, "NextKeyMarker"), uploads[2].0);
        assert_eq!(xml_value(&first.body, "NextUploadIdMarker"), uploads[2].1);
        let mut paged = Vec::new();
        let (mut key_marker, mut id_marker) = (String::new(), String::new());
        for round in 0.. {
            assert!(round < 20, "max-uploads=2 paging never ended");
            let page = list(
                &mut client,
                &format!("&max-uploads=2&key-marker={}&upload-id-marker={id_marker}", encode_query(&key_marker)),
            );
            let listed = listed_uploads(&page.body);
            assert!(listed.len() <= 2, "{page}");
            paged.extend(listed);
            if xml_value(&page.body, "IsTruncated") == "false" {
                break;
            }
            key_marker = xml_value(&page.body, "NextKeyMarker");
            id_marker = xml_value(&page.body, "NextUploadIdMarker");
        }
        assert_eq!(paged, uploads, "pages of 2 must list every upload once, in order");
        // Completed and aborted uploads disappear.
        let (done_key, done_id) = uploads[0].clone();
        let object = format!("{prefix}/{bucket}/{done_key}");
        let etag = upload_part(&mut client, &object, &done_id, 1, b"part");
        complete_upload(&mut client, &object, &done_id, &[(1, &etag)]).expect(200, "complete");
        let (aborted_key, aborted_id) = uploads[3].clone();
        client.delete(&format!("{prefix}/{bucket}/{aborted_key}?uploadId={aborted_id}")).expect(204, "abort");
        let remaining: Vec<_> = uploads.iter().filter(|u| u.1 != done_id && u.1 != aborted_id).cloned().collect();
        assert_eq!(listed_uploads(&list(&mut client, "").body), remaining);
        // Errors.
        client.get(&format!("{prefix}/{bucket}?uploads&max-uploads=x")).expect_error(
            400,
            "InvalidArgument",
            "max-uploads=x",
        );
        client.get(&format!("{prefix}/no-such-bucket-mpu?uploads")).expect_error(404, "NoSuchBucket", "missing bucket");
    }
}

/// Paging a delimited ListMultipartUploads one entry per page (an upload or a common prefix)
/// must end and list every entry exactly once, whatever the server puts in its Next markers.
#[test]
fn list_multipart_uploads_pages_across_common_prefixes() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-list-rolled");
    let uploads = create_listing_uploads(&mut client, "", "mpu-list-rolled");
    // Expected entries in order: a/ (prefix), b, b, b, c/ (prefix), d.
    let mut expected: Vec<String> = vec!["prefix a/".into()];
    expected.extend(uploads.iter().filter(|(key, _)| key == "b").map(|(key, id)| format!("upload {key} {id}")));
    expected.push("prefix c/".into());
    expected.extend(uploads.iter().filter(|(key, _)| key == "d").map(|(key, id)| format!("upload {key} {id}")));
    let mut listed = Vec::new();
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    for round in 0.. {
        assert!(round < 20, "paging never ended; so far {listed:?}");
        let target = format!(
            "/mpu-list-rolled?uploads&delimiter=%2F&max-uploads=1&key-marker={}&upload-id-marker={}",
            encode_query(&key_marker),
            encode_query(&id_marker)
        );
        let page = client.get(&target).expect(200, &target);
        listed.extend(common_prefixes(&page.body).into_iter().map(|prefix| format!("prefix {prefix}")));
        listed.extend(listed_uploads(&page.body).into_iter().map(|(key, id)| format!("upload {key} {id}")));
        if xml_value(&page.body, "IsTruncated") == "false" {
            break;
        }
        let next_key = xml_values(&page.body, "NextKeyMarker");
        assert_eq!(next_key.len(), 1, "a truncated page must carry NextKeyMarker to continue from:\n{page}");
        key_marker = next_key[0].clone();
        id_marker = xml_values(&page.body, "NextUploadIdMarker").into_iter().next().unwrap_or_default();
    }
    assert_eq!(listed, expected);
}

#[test]
fn complete_concatenates_the_parts_with_s3s_etag() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-complete");
        create_bucket(&mut client, prefix, &bucket);
        let key = "data/part file ü.bin";
        let object = format!("{prefix}/{bucket}/{}", encode_path(key));
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let parts = [random_bytes(MIB, 10), random_bytes(MIB + 3, 11), random_bytes(777, 12)];
        let etags: Vec<String> =
            (0..3).map(|i| upload_part(&mut client, &object, &upload_id, i as u32 + 1, &parts[i])).collect();
        let list: Vec<(u32, &str)> = etags.iter().enumerate().map(|(i, e)| (i as u32 + 1, e.as_str())).collect();
        let done = complete_upload(&mut client, &object, &upload_id, &list).expect(200, "complete");
        let expected_etag = multipart_etag(&[&parts[0], &parts[1], &parts[2]]);
        assert_eq!(xml_values(&done.body, "CompleteMultipartUploadResult").len(), 1, "{done}");
        assert_eq!(xml_value(&done.body, "Bucket"), bucket);
        assert_eq!(xml_value(&done.body, "Key"), key);
        assert_eq!(xml_value(&done.body, "ETag"), expected_etag);
        assert!(xml_value(&done.body, "Location").ends_with(&format!("/{bucket}/{}", encode_path(key))), "{done}");
        let whole = parts.concat();
        let got = client.get(&object).expect(200, "GET");
        assert_eq!(got.content_length(), Some(whole.len() as u64));
        assert!(got.body == whole, "GET is not the concatenation of the parts");
        assert_eq!(got.etag(), Some(expected_etag.as_str()));
        let head = client.head(&object).expect(200, "HEAD");
        assert_eq!(head.content_length(), Some((2 * MIB + 3 + 777) as u64));
        assert_eq!(head.etag(), Some(expected_etag.as_str()));
        // versionId=null is the only version.
        let null = client.get(&format!("{object}?versionId=null")).expect(200, "GET versionId=null");
        assert!(null.body == whole);
        client.get(&format!("{object}?versionId=3HL4kqtJlcpXroDTDmJ")).expect_error(
            400,
            "InvalidArgument",
            "versionId",
        );
        // A range across the boundary of parts 1 and 2, and one inside the last part.
        let range = client.request("GET", &object, &[("Range", &format!("bytes={}-{}", MIB - 5, MIB + 4))], b"");
        let range = range.expect(206, "range across parts");
        assert_eq!(range.body, whole[MIB - 5..MIB + 5]);
        let tail = client.request("GET", &object, &[("Range", "bytes=-100")], b"").expect(206, "suffix range");
        assert_eq!(tail.body, whole[whole.len() - 100..]);
        // The listing shows the size and the multipart ETag; the upload is gone.
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list");
        assert_eq!(xml_value(&listing.body, "Size"), whole.len().to_string());
        assert_eq!(xml_value(&listing.body, "ETag"), expected_etag);
        let uploads = client.get(&format!("{prefix}/{bucket}?uploads")).expect(200, "uploads");
        assert_eq!(listed_uploads(&uploads.body), vec![]);
        client.get(&format!("{object}?uploadId={upload_id}")).expect_error(404, "NoSuchUpload", "ListParts after");
        // Completing again with the same parts (a retry after a timeout) answers the same
        // ETag, as S3 does; another part list does not.
        let again = complete_upload(&mut client, &object, &upload_id, &list).expect(200, "complete twice");
        assert_eq!(xml_value(&again.body, "ETag"), expected_etag);
        complete_upload(&mut client, &object, &upload_id, &list[..2]).expect_error(404, "NoSuchUpload", "other parts");
    }
}

#[test]
fn complete_accepts_more_parts_than_a_small_documents_element_bound() {
    // 10,000 parts (S3's limit) make a CompleteMultipartUpload of 30,000 elements and more; the
    // bounded XML reader refused every one past 8,192 elements as MalformedXML. 2,800 parts
    // cross that bound and keep the test short (each part is an fsync); the unit test
    // `decodes_a_complete_request_of_the_most_parts_with_checksums` decodes 10,000.
    const PARTS: u32 = 2_800;
    let server = Server::start_with(1, &["--multipart-min-part-bytes", "1"]);
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-most-parts");
    let object = "/mpu-most-parts/many";
    let upload_id = initiate_upload(&mut client, object, &[]);
    let parts: Vec<Vec<u8>> = (0..PARTS).map(|n| vec![(n % 251) as u8; 3]).collect();
    let etags: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| upload_part(&mut client, object, &upload_id, i as u32 + 1, part))
        .collect();
    let list: Vec<(u32, &str)> = etags.iter().enumerate().map(|(i, e)| (i as u32 + 1, e.as_str())).collect();
    let done = complete_upload(&mut client, object, &upload_id, &list).expect(200, "complete of 2,800 parts");
    let part_refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let expected_etag = multipart_etag(&part_refs);
    assert_eq!(xml_value(&done.body, "ETag"), expected_etag);
    let got = client.get(object).expect(200, "GET");
    assert!(got.body == parts.concat(), "GET is not the concatenation of the 2,800 parts");
}

#[test]
fn complete_refuses_bad_part_lists_and_small_parts() {
    let server = Server::start_with(2, &["--multipart-min-part-bytes", "1048576"]);
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-complete-errors");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let big1 = random_bytes(MIB, 20);
        let big2 = random_bytes(MIB, 21);
        let small = random_bytes(10 * 1024, 22);
        let e1 = upload_part(&mut client, &object, &upload_id, 1, &big1);
        let e2 = upload_part(&mut client, &object, &upload_id, 2, &big2);
        let e3 = upload_part(&mut client, &object, &upload_id, 3, &small);
        let e4 = upload_part(&mut client, &object, &upload_id, 4, &small);
        let complete = |client: &mut Client, parts: &[(u32, &str)]| complete_upload(client, &object, &upload_id, parts);
        complete(&mut client, &[(2, &e2), (1, &e1)]).expect_error(400, "InvalidPartOrder", "out of order");
        complete(&mut client, &[(1, &e1), (1, &e1)]).expect_error(400, "InvalidPartOrder", "repeated part");
        complete(&mut client, &[(1, &e2), (2, &e2)]).expect_error(400, "InvalidPart", "wrong ETag");
        complete(&mut client, &[(1, &e1), (5, &e1)]).expect_error(400, "InvalidPart", "missing part");
        // A 10 KiB part that is not the last.
        complete(&mut client, &[(1, &e1), (3, &e3), (4, &e4)]).expect_error(400, "EntityTooSmall", "small middle");
        for (document, what) in [
            ("not xml at all", "not XML"),
            ("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>", "truncated"),
            ("<CompleteMultipartUpload></CompleteMultipartUpload>", "no parts"),
            ("<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>", "wrong root"),
            ("<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>", "no PartNumber"),
        ] {
            client.post(&format!("{object}?uploadId={upload_id}"), document.as_bytes()).expect_error(
                400,
                "MalformedXML",
                what,
            );
        }
        complete_upload(&mut client, &object, "00000000000000000000000000000000", &[(1, &e1)]).expect_error(
            404,
            "NoSuchUpload",
            "unknown upload",
        );
        complete_upload(&mut client, &format!("{prefix}/{bucket}/other"), &upload_id, &[(1, &e1)]).expect_error(
            404,
            "NoSuchUpload",
            "another key",
        );
        // Nothing was created by the refused completions, and the upload is intact.
        client.get(&object).expect_error(404, "NoSuchKey", "refused completions create nothing");
        let parts = client.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
        assert_eq!(listed_parts(&parts.body).len(), 4);
        // Large parts then one small last part: accepted.
        complete(&mut client, &[(1, &e1), (2, &e2), (3, &e3)]).expect(200, "small last part");
        let got = client.get(&object).expect(200, "GET");
        assert!(got.body == [big1.clone(), big2.clone(), small.clone()].concat());
        assert_eq!(got.etag(), Some(multipart_etag(&[&big1, &big2, &small]).as_str()));
        // A single small part is also the last one.
        let single = format!("{prefix}/{bucket}/single");
        let id = initiate_upload(&mut client, &single, &[]);
        let etag = upload_part(&mut client, &single, &id, 7, b"tiny");
        complete_upload(&mut client, &single, &id, &[(7, &etag)]).expect(200, "single small part");
        assert_eq!(client.get(&single).body, b"tiny");
        assert_eq!(client.head(&single).etag(), Some(multipart_etag(&[b"tiny"]).as_str()));
    }
}

#[test]
fn complete_accepts_unquoted_etags() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-unquoted");
    let upload_id = initiate_upload(&mut client, "/mpu-unquoted/k", &[]);
    let etag = upload_part(&mut client, "/mpu-unquoted/k", &upload_id, 1, b"abc");
    let unquoted = etag.trim_matches('"').to_string();
    complete_upload(&mut client, "/mpu-unquoted/k", &upload_id, &[(1, &unquoted)]).expect(200, "unquoted ETag");
    assert_eq!(client.get("/mpu-unquoted/k").body, b"abc");
}

#[test]
fn completing_a_subset_drops_the_other_parts_and_replaces_an_existing_object() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-subset");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        // An existing block object under the key.
        let existing = random_bytes(300_000, 30);
        client.put(&object, &existing).expect(200, "existing object");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let parts = [random_bytes(MIB, 31), random_bytes(MIB, 32), random_bytes(MIB, 33), random_bytes(50, 34)];
        let etags: Vec<String> =
            (0..4).map(|i| upload_part(&mut client, &object, &upload_id, i as u32 + 1, &parts[i])).collect();
        // Until completion the old object is served.
        assert!(client.get(&object).expect(200, "old object").body == existing);
        complete_upload(&mut client, &object, &upload_id, &[(1, &etags[0]), (3, &etags[2]), (4, &etags[3])])
            .expect(200, "complete parts 1, 3 and 4");
        let got = client.get(&object).expect(200, "GET");
        let expected = [parts[0].clone(), parts[2].clone(), parts[3].clone()].concat();
        assert!(got.body == expected, "the object must be parts 1, 3, 4");
        assert_eq!(got.etag(), Some(multipart_etag(&[&parts[0], &parts[2], &parts[3]]).as_str()));
        assert_eq!(client.head(&object).content_length(), Some(expected.len() as u64));
    }
    // Per prefix: the three parts of the object; part 2 and the replaced object are unlinked.
    server.expect_block_files(6, "after completing a subset over an existing object");
    // Deleting the objects frees everything.
    let mut client = server.client();
    for prefix in PREFIXES {
        client.delete(&format!("{prefix}/{}/obj", bucket_name(prefix, "mpu-subset"))).expect(204, "delete");
    }
    server.expect_block_files(0, "after deleting the multipart objects");
}

#[test]
fn abort_removes_the_upload_and_its_blocks() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-abort");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let etag = upload_part(&mut client, &object, &upload_id, 1, &random_bytes(MIB, 40));
        upload_part(&mut client, &object, &upload_id, 2, &random_bytes(1000, 41));
        let kept_id = initiate_upload(&mut client, &object, &[]);
        upload_part(&mut client, &object, &kept_id, 1, &random_bytes(1000, 42));
        let abort = format!("{object}?uploadId={upload_id}");
        let response = client.delete(&abort).expect(204, "abort");
        assert!(response.body.is_empty());
        client.get(&abort).expect_error(404, "NoSuchUpload", "ListParts after abort");
        upload_part_request(&mut client, &object, &upload_id, "3", b"x").expect_error(
            404,
            "NoSuchUpload",
            "UploadPart after abort",
        );
        complete_upload(&mut client, &object, &upload_id, &[(1, &etag)]).expect_error(
            404,
            "NoSuchUpload",
            "complete after abort",
        );
        client.delete(&abort).expect_error(404, "NoSuchUpload", "abort twice");
        client.delete(&format!("{object}?uploadId=0123456789abcdef0123456789abcdef")).expect_error(
            404,
            "NoSuchUpload",
            "abort unknown",
        );
        client.delete(&format!("{prefix}/{bucket}/other?uploadId={kept_id}")).expect_error(
            404,
            "NoSuchUpload",
            "abort with another key",
        );
        client.get(&object).expect_error(404, "NoSuchKey", "an aborted upload creates nothing");
        // The other upload of the same key is untouched.
        let listing = client.get(&format!("{prefix}/{bucket}?uploads")).expect(200, "uploads");
        assert_eq!(listed_uploads(&listing.body), vec![("obj".to_string(), kept_id.clone())]);
    }
    // Only the part of each kept upload is left.
    server.expect_block_files(2, "after aborting");
}

#[test]
fn upload_part_copy_whole_and_ranged_sources() {
    // Parts of 100 bytes and 3 KiB (copies of an inline source) are completed as middle parts.
    let server = Server::start_with(2, &["--multipart-min-part-bytes", "100"]);
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "mpu-part-copy");
        let source_bucket = bucket_name(prefix, "mpu-part-copy-src");
        create_bucket(&mut client, prefix, &bucket);
        create_bucket(&mut client, prefix, &source_bucket);
        let large = random_bytes(3 * MIB + 11, 50);
        let inline = random_bytes(3 * 1024, 51);
        client.put(&format!("{prefix}/{source_bucket}/large%20src"), &large).expect(200, "large source");
        client.put(&format!("{prefix}/{source_bucket}/inline"), &inline).expect(200, "inline source");
        let object = format!("{prefix}/{bucket}/assembled");
        let upload_id = initiate_upload(&mut client, &object, &[]);
        let copy_part = |client: &mut Client, number: u32, source: &str, range: Option<&str>| {
            let mut headers = vec![("x-amz-copy-source", source)];
            if let Some(range) = range {
                headers.push(("x-amz-copy-source-range", range));
            }
            client.request("PUT", &format!("{object}?partNumber={number}&uploadId={upload_id}"), &headers, b"")
        };
        // Part 1: a range of the large source (no leading slash, encoded space).
        let ranged = copy_part(&mut client, 1, &format!("{source_bucket}/large%20src"), Some("bytes=7-1048590"));
        let ranged = ranged.expect(200, "ranged part copy");
        let part1 = large[7..=1_048_590].to_vec();
        assert_eq!(xml_values(&ranged.body, "CopyPartResult").len(), 1, "{ranged}");
        assert_eq!(xml_value(&ranged.body, "ETag"), quoted_md5(&part1));
        assert!(is_iso8601_millis(&xml_value(&ranged.body, "LastModified")), "{ranged}");
        // Part 2: the whole large source.
        let whole = copy_part(&mut client, 2, &format!("/{source_bucket}/large%20src"), None).expect(200, "whole");
        assert_eq!(xml_value(&whole.body, "ETag"), quoted_md5(&large));
        // Part 3: a range of the inline source; part 4: all of it (versionId=null).
        let ranged_inline = copy_part(&mut client, 3, &format!("/{source_bucket}/inline"), Some("bytes=100-199"));
        assert_eq!(xml_value(&ranged_inline.expect(200, "inline range").body, "ETag"), quoted_md5(&inline[100..200]));
        let source = format!("/{source_bucket}/inline?versionId=null");
        let all_inline = copy_part(&mut client, 4, &source, None).expect(200, "inline whole");
        assert_eq!(xml_value(&all_inline.body, "ETag"), quoted_md5(&inline));
        // ListParts sizes.
        let listing = client.get(&format!("{object}?uploadId={upload_id}")).expect(200, "ListParts");
        let sizes: Vec<u64> = listed_parts(&listing.body).iter().map(|p| p.2).collect();
        assert_eq!(sizes, [part1.len() as u64, large.len() as u64, 100, inline.len() as u64]);
        // Errors.
        let source = format!("/{source_bucket}/large%20src");
        let size = large.len();
        copy_part(&mut client, 5, &source, Some(&format!("bytes={}-{}", size - 10, size))).expect_error(
            416,
            "InvalidRange",
            "range past the end",
        );
        copy_part(&mut client, 5, &source, Some(&format!("bytes={size}-{}", size + 10))).expect_error(
            416,
            "InvalidRange",
            "range starting at the end",
        );
        for bad in ["bytes=10-5", "bytes=abc", "10-20", "bytes=5-"] {
            copy_part(&mut client, 5, &source, Some(bad)).expect_error(400, "InvalidArgument", bad);
        }
        copy_part(&mut client, 5, &format!("/{source_bucket}/missing"), None).expect_error(
            404,
            "NoSuchKey",
            "missing source key",
        );
        copy_part(&mut client, 5, "/no-such-bucket-src/k", None).expect_error(
            404,
            "NoSuchBucket",
            "missing source bucket",
        );
        let target = format!("{object}?partNumber=5&uploadId=0123456789abcdef0123456789abcdef");
        client.request("PUT", &target, &[("x-amz-copy-source", &source)], b"").expect_error(
            404,
            "NoSuchUpload",
            "part copy into an unknown upload",
        );
        // Complete: the bytes are the copied ranges.
        let etags: Vec<String> = listed_parts(&listing.body).into_iter().map(|p| p.1).collect();
        let list: Vec<(u32, &str)> = etags.iter().enumerate().map(|(i, e)| (i as u32 + 1, e.as_str())).collect();
        complete_upload(&mut client, &object, &upload_id, &list).expect(200, "complete");
        let parts = [part1, large.clone(), inline[100..200].to_vec(), inline.clone()];
        let got = client.get(&object).expect(200, "GET");
        assert!(got.body == parts.concat(), "the object is not the copied ranges");
        assert_eq!(got.etag(), Some(multipart_etag(&[&parts[0], &parts[1], &parts[2], &parts[3]]).as_str()));
        // The sources are untouched.
        assert!(client.get(&format!("{prefix}/{source_bucket}/large%20src")).body == large);
        assert!(client.get(&format!("{prefix}/{source_bucket}/inline")).body == inline);
    }
}

#[test]
fn upload_part_copy_of_a_range_across_the_parts_of_a_multipart_source() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-copy-mp");
    let source = "/mpu-copy-mp/source";
    let upload_id = initiate_upload(&mut client, source, &[]);
    let parts = [random_bytes(MIB, 60), random_bytes(MIB, 61), random_bytes(5000, 62)];
    let etags: Vec<String> =
        (0..3).map(|i| upload_part(&mut client, source, &upload_id, i as u32 + 1, &parts[i])).collect();
    complete_upload(&mut client, source, &upload_id, &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])])
        .expect(200, "complete source");
    let whole = parts.concat();
    let target = "/mpu-copy-mp/target";
    let target_id = initiate_upload(&mut client, target, &[]);
    let (first, last) = (MIB - 100, 2 * MIB + 99);
    let copied = client
        .request(
            "PUT",
            &format!("{target}?partNumber=1&uploadId={target_id}"),
            &[
                ("x-amz-copy-source", "/mpu-copy-mp/source"),
                ("x-amz-copy-source-range", &format!("bytes={first}-{last}")),
            ],
            b"",
        )
        .expect(200, "part copy across three source parts");
    let expected = whole[first..=last].to_vec();
    assert_eq!(xml_value(&copied.body, "ETag"), quoted_md5(&expected));
    let etag = xml_value(&copied.body, "ETag");
    complete_upload(&mut client, target, &target_id, &[(1, &etag)]).expect(200, "complete target");
    let got = client.get(target).expect(200, "GET target");
    assert!(got.body == expected, "the copied range differs");
    // Deleting the source leaves the copy intact (its own block names).
    client.delete(source).expect(204, "delete source");
    server.expect_block_files(3, "the target holds links to the three source blocks");
    assert!(client.get(target).expect(200, "GET after deleting the source").body == expected);
    client.delete(target).expect(204, "delete target");
    server.expect_block_files(0, "after deleting both");
}

#[test]
fn uploads_in_progress_and_completed_objects_survive_kill_9() {
    let mut server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "mpu-restart");
    create_bucket(&mut client, "/api/v1/s3", "mpu-restart-b");
    let encoded = "/mpu-restart/big%20object";
    let upload_id =
        initiate_upload(&mut client, encoded, &[("Content-Type", "application/x-restart"), ("x-amz-tagging", "k=v")]);
    let other_id = initiate_upload(&mut client, "/api/v1/s3/mpu-restart-b/other", &[]);
    let parts = [random_bytes(MIB, 70), random_bytes(MIB + 1, 71), random_bytes(12_345, 72)];
    let e1 = upload_part(&mut client, encoded, &upload_id, 1, &parts[0]);
    let e2 = upload_part(&mut client, encoded, &upload_id, 2, &parts[1]);
    let uploads_before = client.get("/mpu-restart?uploads").expect(200, "uploads before").body;
    let parts_before = client.get(&format!("{encoded}?uploadId={upload_id}")).expect(200, "parts before").body;
    assert_eq!(listed_parts(&parts_before).len(), 2);

    server.kill9_and_restart();
    let mut client = server.client();
    let uploads_after = client.get("/mpu-restart?uploads").expect(200, "uploads after restart");
    assert_eq!(listed_uploads(&uploads_after.body), listed_uploads(&uploads_before));
    assert_eq!(listed_uploads(&uploads_after.body), vec![("big object".to_string(), upload_id.clone())]);
    assert_eq!(
        xml_values(&uploads_after.body, "Initiated"),
        xml_values(&uploads_before, "Initiated"),
        "initiation times"
    );
    let other = client.get("/api/v1/s3/mpu-restart-b?uploads").expect(200, "other bucket's uploads");
    assert_eq!(listed_uploads(&other.body), vec![("other".to_string(), other_id)]);
    let parts_after = client.get(&format!("{encoded}?uploadId={upload_id}")).expect(200, "parts after restart");
    assert_eq!(listed_parts(&parts_after.body), listed_parts(&parts_before));
    let e3 = upload_part(&mut client, encoded, &upload_id, 3, &parts[2]);
    complete_upload(&mut client, encoded, &upload_id, &[(1, &e1), (2, &e2), (3, &e3)]).expect(200, "complete");
    let whole = parts.concat();
    let etag = multipart_etag(&[&parts[0], &parts[1], &parts[2]]);
    let check = |client: &mut Client, context: &str| {
        let got = client.get(encoded).expect(200, context);
        assert!(got.body == whole, "{context}: bytes differ");
        assert_eq!(got.etag(), Some(etag.as_str()), "{context}");
        assert_eq!(got.header("content-type"), Some("application/x-restart"), "{context}");
        assert_eq!(got.header("x-amz-tagging-count"), Some("1"), "{context}");
    };
    check(&mut client, "after completing");

    server.kill9_and_restart();
    let mut client = server.client();
    check(&mut client, "after the second kill -9");
    let uploads = client.get("/mpu-restart?uploads").expect(200, "uploads after completion");
    assert_eq!(listed_uploads(&uploads.body), vec![]);
    client.get(&format!("{encoded}?uploadId={upload_id}")).expect_error(404, "NoSuchUpload", "completed upload");
    // The object's 3 parts and the other bucket's (empty) upload: nothing else on disk.
    server.expect_block_files(3, "after the restarts");
}

/// GetObject and HeadObject with `partNumber` address one part of a multipart object (206,
/// Content-Range, x-amz-mp-parts-count), as the AWS SDKs' multipart downloads use them.
#[test]
fn part_numbers_address_the_parts_of_a_completed_upload() {
    let server = Server::start_with(2, &["--multipart-min-part-bytes", "1024"]);
    let mut client = server.client();
    client.put("/by-part", b"").expect(200, "create bucket");
    let parts = [random_bytes(3000, 71), random_bytes(2000, 72), random_bytes(10, 73)];
    let initiated = client.post("/by-part/obj?uploads", b"").expect(200, "initiate");
    let upload_id = xml_value(&initiated.body, "UploadId");
    let mut document = String::from("<CompleteMultipartUpload>");
    for (index, part) in parts.iter().enumerate() {
        let number = index + 1;
        let answer =
            client.put(&format!("/by-part/obj?partNumber={number}&uploadId={upload_id}"), part).expect(200, "part");
        let etag = answer.etag().unwrap_or_default().to_string();
        document.push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"));
    }
    document.push_str("</CompleteMultipartUpload>");
    client.post(&format!("/by-part/obj?uploadId={upload_id}"), document.as_bytes()).expect(200, "complete");
    let mut start = 0;
    for (index, part) in parts.iter().enumerate() {
        let number = index + 1;
        let got = client.get(&format!("/by-part/obj?partNumber={number}")).expect(206, "GET part");
        assert_eq!(got.body, *part, "part {number}");
        assert_eq!(got.header("x-amz-mp-parts-count"), Some("3"));
        let range = format!("bytes {}-{}/5010", start, start + part.len() - 1);
        assert_eq!(got.header("content-range"), Some(range.as_str()));
        let head = client.head(&format!("/by-part/obj?partNumber={number}")).expect(206, "HEAD part");
        assert_eq!(head.content_length(), Some(part.len() as u64));
        start += part.len();
    }
    client.get("/by-part/obj?partNumber=4").expect_error(416, "InvalidPartNumber", "past the last part");
    client.put("/by-part/single", b"whole").expect(200, "single-part object");
    assert_eq!(client.get("/by-part/single?partNumber=1").expect(200, "part 1 of a single-part object").body, b"whole");
    client.get("/by-part/single?partNumber=2").expect_error(416, "InvalidPartNumber", "part 2 of a single-part object");
}
