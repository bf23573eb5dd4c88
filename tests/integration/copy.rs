//! CopyObject: source forms and key encodings, metadata and tagging directives, copies onto
//! themselves, missing sources, copy-source conditions, copies across buckets on different
//! shards, independence of source and copy, and sources of every storage shape.

use crate::support::*;

const MIB: usize = 1024 * 1024;

fn bucket_name(prefix: &str, base: &str) -> String {
    if prefix.is_empty() {
        format!("{base}-root")
    } else {
        format!("{base}-prefix")
    }
}

/// CopyObject of `source` (the `x-amz-copy-source` value) to `target` (a request path).
fn copy(client: &mut Client, target: &str, source: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("x-amz-copy-source", source)];
    all.extend_from_slice(headers);
    client.request("PUT", target, &all, b"")
}

/// Asserts a CopyObjectResult with `etag` and a timestamp.
#[track_caller]
fn assert_copy_result(response: &Response, etag: &str) {
    assert_eq!(xml_values(&response.body, "CopyObjectResult").len(), 1, "{response}");
    assert_eq!(xml_value(&response.body, "ETag"), etag, "{response}");
    assert!(is_iso8601_millis(&xml_value(&response.body, "LastModified")), "{response}");
}

fn user_metadata(response: &Response) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = response
        .headers
        .iter()
        .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-amz-meta-"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    pairs.sort();
    pairs
}

fn object_tags(client: &mut Client, object: &str) -> Vec<(String, String)> {
    tags_of(&client.get(&format!("{object}?tagging")).expect(200, "GetObjectTagging").body)
}

#[test]
fn copy_object_keeps_bytes_metadata_and_tags_by_default() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-default");
        create_bucket(&mut client, prefix, &bucket);
        for (name, size) in [("block", 300_000usize), ("inline", 3 * 1024), ("empty", 0)] {
            let data = random_bytes(size, size as u64);
            let source = format!("{prefix}/{bucket}/src-{name}");
            client
                .request(
                    "PUT",
                    &source,
                    &[
                        ("Content-Type", "image/png"),
                        ("x-amz-meta-color", "blue"),
                        ("x-amz-meta-size", "large"),
                        ("Cache-Control", "max-age=60"),
                        ("Content-Disposition", "inline"),
                        ("x-amz-tagging", "a=1&b=two"),
                    ],
                    &data,
                )
                .expect(200, "PUT source");
            // Without and with a leading slash.
            for (index, copy_source) in
                [format!("{bucket}/src-{name}"), format!("/{bucket}/src-{name}")].iter().enumerate()
            {
                let target = format!("{prefix}/{bucket}/dst-{name}-{index}");
                let response = copy(&mut client, &target, copy_source, &[]).expect(200, "CopyObject");
                assert_copy_result(&response, &quoted_md5(&data));
                for got in [client.get(&target).expect(200, "GET copy"), client.head(&target).expect(200, "HEAD copy")]
                {
                    assert_eq!(got.etag(), Some(quoted_md5(&data).as_str()), "{got}");
                    assert_eq!(got.content_length(), Some(size as u64), "{got}");
                    assert_eq!(got.header("content-type"), Some("image/png"), "{got}");
                    assert_eq!(got.header("cache-control"), Some("max-age=60"), "{got}");
                    assert_eq!(got.header("content-disposition"), Some("inline"), "{got}");
                    assert_eq!(got.header("x-amz-tagging-count"), Some("2"), "{got}");
                    assert_eq!(
                        user_metadata(&got),
                        [
                            ("x-amz-meta-color".to_string(), "blue".to_string()),
                            ("x-amz-meta-size".into(), "large".into())
                        ]
                    );
                }
                assert!(client.get(&target).body == data, "copy of {name}: bytes differ");
                assert_eq!(object_tags(&mut client, &target), owned_tags(&[("a", "1"), ("b", "two")]));
            }
        }
    }
}

#[test]
fn copy_sources_are_url_decoded() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-encoded");
        create_bucket(&mut client, prefix, &bucket);
        for (index, key) in ["dir/a b/file name.txt", "ünïcödé/€ 100/日本語.bin", "plus+sign&amp=eq"].iter().enumerate()
        {
            let data = random_bytes(10_000 + index, index as u64);
            client.put(&format!("{prefix}/{bucket}/{}", encode_path(key)), &data).expect(200, key);
            let target_key = format!("copies/{key} copy");
            let target = format!("{prefix}/{bucket}/{}", encode_path(&target_key));
            let source = format!("/{bucket}/{}", encode_path(key));
            copy(&mut client, &target, &source, &[]).expect(200, &format!("copy of {key:?}"));
            assert!(client.get(&target).expect(200, "GET copy").body == data, "{key}");
            // `?versionId=null` on the source is the only version.
            let versioned = format!("{source}?versionId=null");
            copy(&mut client, &format!("{target}-v"), &versioned, &[]).expect(200, "versionId=null source");
            assert!(client.get(&format!("{target}-v")).body == data);
            let keys = list_all_keys_v2(&mut client, prefix, &bucket, "&prefix=copies%2F");
            assert!(keys.contains(&target_key), "{keys:?} lacks {target_key:?}");
        }
        let source = format!("/{bucket}/{}", encode_path("dir/a b/file name.txt"));
        copy(&mut client, &format!("{prefix}/{bucket}/x"), &format!("{source}?versionId=abc"), &[]).expect_error(
            400,
            "InvalidArgument",
            "a real versionId on the source",
        );
        for bad in ["justabucket", &format!("/{bucket}/"), "/"] {
            copy(&mut client, &format!("{prefix}/{bucket}/x"), bad, &[]).expect_error(
                400,
                "InvalidArgument",
                &format!("x-amz-copy-source {bad:?}"),
            );
        }
    }
}

#[test]
fn metadata_directive_replace_takes_the_requests_metadata() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-replace");
        create_bucket(&mut client, prefix, &bucket);
        let source = format!("{prefix}/{bucket}/src");
        let data = random_bytes(50_000, 1);
        client
            .request(
                "PUT",
                &source,
                &[
                    ("Content-Type", "text/plain"),
                    ("x-amz-meta-old", "yes"),
                    ("Cache-Control", "no-cache"),
                    ("x-amz-tagging", "keep=me"),
                ],
                &data,
            )
            .expect(200, "PUT source");
        let copy_source = format!("/{bucket}/src");
        // REPLACE metadata: the request's type and x-amz-meta-*; tags still copied.
        let target = format!("{prefix}/{bucket}/replaced");
        copy(
            &mut client,
            &target,
            &copy_source,
            &[
                ("x-amz-metadata-directive", "REPLACE"),
                ("Content-Type", "application/json"),
                ("x-amz-meta-new", "fresh"),
                ("x-amz-meta-second", "2"),
            ],
        )
        .expect(200, "REPLACE");
        let head = client.head(&target).expect(200, "HEAD");
        assert_eq!(head.header("content-type"), Some("application/json"), "{head}");
        assert_eq!(
            user_metadata(&head),
            [("x-amz-meta-new".to_string(), "fresh".to_string()), ("x-amz-meta-second".into(), "2".into())]
        );
        assert_eq!(head.header("cache-control"), None, "REPLACE drops the source's stored headers: {head}");
        assert_eq!(head.header("x-amz-tagging-count"), Some("1"), "{head}");
        assert_eq!(object_tags(&mut client, &target), owned_tags(&[("keep", "me")]));
        assert!(client.get(&target).body == data);
        // REPLACE tags: the request's x-amz-tagging; metadata still copied.
        let target = format!("{prefix}/{bucket}/retagged");
        copy(
            &mut client,
            &target,
            &copy_source,
            &[("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", "new=tag&other=x%20y")],
        )
        .expect(200, "tagging REPLACE");
        assert_eq!(object_tags(&mut client, &target), owned_tags(&[("new", "tag"), ("other", "x y")]));
        let head = client.head(&target).expect(200, "HEAD");
        assert_eq!(head.header("content-type"), Some("text/plain"), "{head}");
        assert_eq!(head.header("x-amz-meta-old"), Some("yes"), "{head}");
        // REPLACE tags without x-amz-tagging: no tags.
        let target = format!("{prefix}/{bucket}/untagged");
        copy(&mut client, &target, &copy_source, &[("x-amz-tagging-directive", "REPLACE")]).expect(200, "no tags");
        assert_eq!(object_tags(&mut client, &target), vec![]);
        assert_eq!(client.head(&target).header("x-amz-tagging-count"), None);
        // An explicit COPY is the default; x-amz-tagging is ignored with COPY.
        let target = format!("{prefix}/{bucket}/explicit-copy");
        copy(
            &mut client,
            &target,
            &copy_source,
            &[
                ("x-amz-metadata-directive", "COPY"),
                ("x-amz-tagging-directive", "COPY"),
                ("x-amz-tagging", "ignored=1"),
            ],
        )
        .expect(200, "COPY");
        assert_eq!(client.head(&target).header("x-amz-meta-old"), Some("yes"));
        assert_eq!(object_tags(&mut client, &target), owned_tags(&[("keep", "me")]));
        // Unknown directives and invalid tags.
        for (header, value) in [("x-amz-metadata-directive", "MERGE"), ("x-amz-tagging-directive", "KEEP")] {
            copy(&mut client, &format!("{prefix}/{bucket}/bad"), &copy_source, &[(header, value)]).expect_error(
                400,
                "InvalidArgument",
                &format!("{header}: {value}"),
            );
        }
        copy(
            &mut client,
            &format!("{prefix}/{bucket}/bad"),
            &copy_source,
            &[("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", "aws:no=1")],
        )
        .expect_error(400, "InvalidTag", "aws: tag");
        client.head(&format!("{prefix}/{bucket}/bad")).expect(404, "refused copies create nothing");
    }
}

#[test]
fn copy_onto_itself_needs_replace() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-self");
        create_bucket(&mut client, prefix, &bucket);
        for (name, size) in [("block", 200_000usize), ("inline", 100)] {
            let object = format!("{prefix}/{bucket}/{name}");
            let data = random_bytes(size, 2);
            client
                .request("PUT", &object, &[("Content-Type", "text/old"), ("x-amz-meta-v", "1")], &data)
                .expect(200, "PUT");
            let source = format!("{bucket}/{name}");
            copy(&mut client, &object, &source, &[]).expect_error(400, "InvalidRequest", "self copy without REPLACE");
            copy(&mut client, &object, &source, &[("x-amz-metadata-directive", "COPY")]).expect_error(
                400,
                "InvalidRequest",
                "self copy with COPY",
            );
            assert_eq!(client.head(&object).header("x-amz-meta-v"), Some("1"), "a refused copy changed metadata");
            let response = copy(
                &mut client,
                &object,
                &source,
                &[("x-amz-metadata-directive", "REPLACE"), ("Content-Type", "text/new"), ("x-amz-meta-v", "2")],
            );
            assert_copy_result(&response.expect(200, "self copy with REPLACE"), &quoted_md5(&data));
            let got = client.get(&object).expect(200, "GET");
            assert!(got.body == data, "a self copy changed the bytes");
            assert_eq!(got.header("content-type"), Some("text/new"));
            assert_eq!(got.header("x-amz-meta-v"), Some("2"));
        }
    }
    // One block object per prefix: the self copy's link replaced the original name.
    server.expect_block_files(2, "after self copies");
}

#[test]
fn missing_sources_and_destinations() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-missing");
        create_bucket(&mut client, prefix, &bucket);
        client.put(&format!("{prefix}/{bucket}/src"), &random_bytes(100_000, 3)).expect(200, "PUT");
        let missing_key = copy(&mut client, &format!("{prefix}/{bucket}/dst"), &format!("/{bucket}/nope"), &[]);
        missing_key.expect_error(404, "NoSuchKey", "missing source key");
        copy(&mut client, &format!("{prefix}/{bucket}/dst"), "/no-such-source-bucket/src", &[]).expect_error(
            404,
            "NoSuchBucket",
            "missing source bucket",
        );
        // A missing destination bucket: refused, and the linked block is discarded.
        copy(&mut client, &format!("{prefix}/no-such-target-bucket/dst"), &format!("/{bucket}/src"), &[]).expect_error(
            404,
            "NoSuchBucket",
            "missing destination bucket",
        );
        client.head(&format!("{prefix}/{bucket}/dst")).expect(404, "nothing copied");
    }
    server.expect_block_files(2, "a refused copy must not leave a linked block behind");
}

#[test]
fn copy_source_conditions() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-conditions");
        create_bucket(&mut client, prefix, &bucket);
        let data = random_bytes(20_000, 4);
        client.put(&format!("{prefix}/{bucket}/src"), &data).expect(200, "PUT");
        let etag = quoted_md5(&data);
        let source = format!("/{bucket}/src");
        let target = format!("{prefix}/{bucket}/dst");
        let past = http_date(now_seconds() - 3600);
        let future = http_date(now_seconds() + 3600);
        for (header, value, status) in [
            ("x-amz-copy-source-if-match", "\"0123456789abcdef0123456789abcdef\"", 412),
            ("x-amz-copy-source-if-match", etag.as_str(), 200),
            ("x-amz-copy-source-if-match", "*", 200),
            ("x-amz-copy-source-if-none-match", etag.as_str(), 412),
            ("x-amz-copy-source-if-none-match", "*", 412),
            ("x-amz-copy-source-if-none-match", "\"0123456789abcdef0123456789abcdef\"", 200),
            ("x-amz-copy-source-if-unmodified-since", past.as_str(), 412),
            ("x-amz-copy-source-if-unmodified-since", future.as_str(), 200),
            ("x-amz-copy-source-if-modified-since", future.as_str(), 412),
            ("x-amz-copy-source-if-modified-since", past.as_str(), 200),
        ] {
            client.delete(&target).expect(204, "reset the target");
            let response = copy(&mut client, &target, &source, &[(header, value)]);
            let context = format!("{header}: {value}");
            if status == 200 {
                assert_copy_result(&response.expect(200, &context), &etag);
                assert!(client.get(&target).body == data, "{context}");
            } else {
                response.expect_error(412, "PreconditionFailed", &context);
                client.head(&target).expect(404, &format!("{context}: nothing copied"));
            }
        }
    }
}

/// Two buckets whose shards are owned by different cores of a `--cores 2` server.
fn buckets_on_both_shards(base: &str) -> (String, String) {
    let mut by_shard: [Option<String>; 2] = [None, None];
    for index in 0.. {
        let name = format!("{base}-{index}");
        let shard = shard_of(&name, 2);
        if by_shard[shard].is_none() {
            by_shard[shard] = Some(name);
        }
        if let [Some(first), Some(second)] = &by_shard {
            return (first.clone(), second.clone());
        }
    }
    unreachable!()
}

#[test]
fn cross_bucket_copies_between_shards_of_different_cores() {
    let server = Server::start_with(2, &[]);
    let (left, right) = buckets_on_both_shards("copy-shard");
    assert_ne!(shard_of(&left, 2), shard_of(&right, 2));
    let objects = [("big", random_bytes(2 * MIB + 5, 5)), ("small", random_bytes(2000, 6)), ("zero", Vec::new())];
    let mut client = server.client();
    create_bucket(&mut client, "", &left);
    create_bucket(&mut client, "/api/v1/s3", &right);
    for (name, data) in &objects {
        client.put(&format!("/{left}/{name}"), data).expect(200, "PUT left");
    }
    // Several connections: with SO_REUSEPORT they land on both cores, so some copies are made
    // on a core that owns neither, one or both buckets.
    for round in 0..4 {
        let mut client = server.client();
        for (name, data) in &objects {
            let there = format!("/api/v1/s3/{right}/{name}-{round}");
            copy(&mut client, &there, &format!("/{left}/{name}"), &[]).expect(200, "left → right");
            let back = format!("/{left}/{name}-back-{round}");
            copy(&mut client, &back, &format!("{right}/{name}-{round}"), &[]).expect(200, "right → left");
            for path in [there, back] {
                let got = client.get(&path).expect(200, &path);
                assert!(got.body == *data, "{path}: bytes differ");
                assert_eq!(got.etag(), Some(quoted_md5(data).as_str()), "{path}");
            }
        }
    }
}

#[test]
fn source_and_copy_are_independent() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "copy-independent");
    create_bucket(&mut client, "", "copy-independent-2");
    let data = random_bytes(MIB + 17, 7);
    // Delete the source: the copy still reads back.
    client.put("/copy-independent/src", &data).expect(200, "PUT");
    copy(&mut client, "/copy-independent-2/copy", "/copy-independent/src", &[]).expect(200, "copy");
    client.delete("/copy-independent/src").expect(204, "delete source");
    server.expect_block_files(1, "the copy's own name");
    let got = client.get("/copy-independent-2/copy").expect(200, "GET copy after deleting the source");
    assert!(got.body == data);
    // Delete the copy: the source still reads back.
    client.put("/copy-independent/src2", &data).expect(200, "PUT");
    copy(&mut client, "/copy-independent/copy2", "/copy-independent/src2", &[]).expect(200, "copy");
    client.delete("/copy-independent/copy2").expect(204, "delete copy");
    assert!(client.get("/copy-independent/src2").expect(200, "GET source after deleting the copy").body == data);
    // Overwrite the source: the copy keeps the old bytes.
    let other = random_bytes(MIB, 8);
    client.put("/copy-independent/src2", &other).expect(200, "overwrite source");
    copy(&mut client, "/copy-independent/copy3", "/copy-independent/src2", &[]).expect(200, "copy");
    client.put("/copy-independent/src2", &data).expect(200, "overwrite source again");
    assert!(client.get("/copy-independent/copy3").body == other);
    assert!(client.get("/copy-independent/src2").body == data);
    // copy, src2, copy3
    server.expect_block_files(3, "before deleting everything");
    for path in ["/copy-independent-2/copy", "/copy-independent/src2", "/copy-independent/copy3"] {
        client.delete(path).expect(204, path);
    }
    server.expect_block_files(0, "after deleting everything");
}

#[test]
fn copy_of_a_multipart_object_reads_back_byte_identical() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "copy-multipart");
        create_bucket(&mut client, prefix, &bucket);
        let source = format!("{prefix}/{bucket}/multi");
        let upload_id = initiate_upload(&mut client, &source, &[("x-amz-meta-from", "multipart")]);
        let parts = [random_bytes(MIB, 9), random_bytes(MIB + 1, 10), random_bytes(3000, 11)];
        let etags: Vec<String> =
            (0..3).map(|i| upload_part(&mut client, &source, &upload_id, i as u32 + 1, &parts[i])).collect();
        complete_upload(&mut client, &source, &upload_id, &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])])
            .expect(200, "complete");
        let whole = parts.concat();
        let target = format!("{prefix}/{bucket}/multi-copy");
        let response = copy(&mut client, &target, &format!("{bucket}/multi"), &[]).expect(200, "copy");
        // A copy made in one request has the plain MD5 as its ETag.
        assert_copy_result(&response, &quoted_md5(&whole));
        let got = client.get(&target).expect(200, "GET copy");
        assert!(got.body == whole, "the copy of the multipart object differs");
        assert_eq!(got.etag(), Some(quoted_md5(&whole).as_str()));
        assert_eq!(got.header("x-amz-meta-from"), Some("multipart"));
        let range = client.request("GET", &target, &[("Range", &format!("bytes={}-{}", MIB - 1, MIB))], b"");
        assert_eq!(range.expect(206, "range of the copy").body, whole[MIB - 1..=MIB]);
        // The source is unchanged, with its multipart ETag.
        let source_got = client.get(&source).expect(200, "GET source");
        assert!(source_got.body == whole);
        assert_eq!(source_got.etag(), Some(multipart_etag(&[&parts[0], &parts[1], &parts[2]]).as_str()));
        client.delete(&source).expect(204, "delete source");
        assert!(client.get(&target).expect(200, "GET copy after deleting the source").body == whole);
    }
}

#[test]
fn copies_survive_kill_9() {
    let mut server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "copy-restart");
    let data = random_bytes(MIB + 3, 12);
    client.put("/copy-restart/src", &data).expect(200, "PUT");
    copy(
        &mut client,
        "/copy-restart/dst",
        "/copy-restart/src",
        &[("x-amz-metadata-directive", "REPLACE"), ("x-amz-meta-k", "v")],
    )
    .expect(200, "copy");
    client.delete("/copy-restart/src").expect(204, "delete source");
    server.kill9_and_restart();
    let mut client = server.client();
    let got = client.get("/copy-restart/dst").expect(200, "GET copy after kill -9");
    assert!(got.body == data);
    assert_eq!(got.header("x-amz-meta-k"), Some("v"));
    client.get("/copy-restart/src").expect_error(404, "NoSuchKey", "deleted source");
    server.expect_block_files(1, "after restart");
}
