//! Object actions: PUT/GET/HEAD/DELETE, metadata, digests, ranges, conditional requests,
//! key encodings and limits, tagging header, versionId and response overrides.

use crate::support::*;

fn bucket_name(prefix: &str, base: &str) -> String {
    if prefix.is_empty() {
        format!("{base}-root")
    } else {
        format!("{base}-prefix")
    }
}

#[test]
fn put_get_round_trips_bytes_of_every_size() {
    let server = Server::start();
    let mut client = server.client();
    let sizes = [0usize, 1, 4095, 4096, 4097, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 7, 5 * 1024 * 1024];
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "sizes");
        create_bucket(&mut client, prefix, &bucket);
        for (index, size) in sizes.into_iter().enumerate() {
            let data = random_bytes(size, 1000 + index as u64);
            let key = format!("{prefix}/{bucket}/object-{size}");
            let put = client.put(&key, &data).expect(200, &format!("PUT {size} bytes"));
            assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()), "ETag of {size} bytes");
            let got = client.get(&key).expect(200, &format!("GET {size} bytes"));
            assert_eq!(got.content_length(), Some(size as u64));
            assert!(got.body == data, "GET of {size} bytes returned other bytes");
            assert_eq!(got.etag(), Some(quoted_md5(&data).as_str()));
            assert_eq!(got.header("accept-ranges"), Some("bytes"));
            assert!(got.header("last-modified").is_some_and(is_http_date), "{got}");
            let head = client.head(&key).expect(200, &format!("HEAD {size} bytes"));
            assert_eq!(head.content_length(), Some(size as u64));
            assert_eq!(head.etag(), Some(quoted_md5(&data).as_str()));
        }
        // The listing reports the same sizes and ETags.
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list");
        let contents = xml_blocks(&listing.body, "Contents");
        assert_eq!(contents.len(), sizes.len());
        for content in contents {
            let key = xml_value(&content, "Key");
            let size: usize = key.strip_prefix("object-").unwrap().parse().unwrap();
            assert_eq!(xml_value(&content, "Size"), size.to_string());
            let index = sizes.iter().position(|s| *s == size).unwrap();
            assert_eq!(xml_value(&content, "ETag"), quoted_md5(&random_bytes(size, 1000 + index as u64)));
        }
    }
}

#[test]
fn content_type_round_trips_and_defaults_to_binary_octet_stream() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "types");
        create_bucket(&mut client, prefix, &bucket);
        let typed = format!("{prefix}/{bucket}/typed");
        client
            .request("PUT", &typed, &[("Content-Type", "text/plain; charset=utf-8")], b"hello")
            .expect(200, "typed PUT");
        let got = client.get(&typed).expect(200, "GET typed");
        assert_eq!(got.header("content-type"), Some("text/plain; charset=utf-8"));
        let head = client.head(&typed).expect(200, "HEAD typed");
        assert_eq!(head.header("content-type"), Some("text/plain; charset=utf-8"));
        let untyped = format!("{prefix}/{bucket}/untyped");
        client.put(&untyped, b"hello").expect(200, "untyped PUT");
        assert_eq!(client.get(&untyped).header("content-type"), Some("binary/octet-stream"));
        assert_eq!(client.head(&untyped).header("content-type"), Some("binary/octet-stream"));
        // A large (block-stored) object keeps its type too.
        let large = format!("{prefix}/{bucket}/large");
        client
            .request("PUT", &large, &[("Content-Type", "application/x-parquet")], &random_bytes(100_000, 1))
            .expect(200, "large typed PUT");
        assert_eq!(client.head(&large).header("content-type"), Some("application/x-parquet"));
    }
}

#[test]
fn user_metadata_and_standard_headers_round_trip() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "metadata");
        create_bucket(&mut client, prefix, &bucket);
        for (name, size) in [("small", 10usize), ("large", 300_000)] {
            let key = format!("{prefix}/{bucket}/{name}");
            client
                .request(
                    "PUT",
                    &key,
                    &[
                        ("x-amz-meta-color", "blue"),
                        ("X-Amz-Meta-Mixed-Case", "Value With Spaces"),
                        ("x-amz-meta-empty-ish", "-"),
                        ("Cache-Control", "max-age=3600, must-revalidate"),
                        ("Content-Disposition", "attachment; filename=\"report.csv\""),
                        ("Content-Language", "de-CH"),
                        ("Expires", "Thu, 01 Dec 2094 16:00:00 GMT"),
                    ],
                    &random_bytes(size, 7),
                )
                .expect(200, "PUT with metadata");
            for response in [client.get(&key).expect(200, "GET"), client.head(&key).expect(200, "HEAD")] {
                assert_eq!(response.header("x-amz-meta-color"), Some("blue"), "{response}");
                assert_eq!(response.header("x-amz-meta-mixed-case"), Some("Value With Spaces"), "{response}");
                assert_eq!(response.header("x-amz-meta-empty-ish"), Some("-"), "{response}");
                assert_eq!(response.header("cache-control"), Some("max-age=3600, must-revalidate"));
                assert_eq!(response.header("content-disposition"), Some("attachment; filename=\"report.csv\""));
                assert_eq!(response.header("content-language"), Some("de-CH"));
                assert_eq!(response.header("expires"), Some("Thu, 01 Dec 2094 16:00:00 GMT"));
            }
        }
        // An object without metadata has none (nothing leaks between objects).
        let plain = format!("{prefix}/{bucket}/plain");
        client.put(&plain, b"x").expect(200, "plain PUT");
        let got = client.get(&plain).expect(200, "plain GET");
        assert!(got.headers.iter().all(|(name, _)| !name.to_ascii_lowercase().starts_with("x-amz-meta-")), "{got}");
        assert!(got.header("cache-control").is_none(), "{got}");
        // Overwriting replaces the metadata entirely.
        let small = format!("{prefix}/{bucket}/small");
        client.request("PUT", &small, &[("x-amz-meta-shape", "round")], b"v2").expect(200, "overwrite");
        let got = client.get(&small).expect(200, "GET overwritten");
        assert_eq!(got.header("x-amz-meta-shape"), Some("round"));
        assert!(got.header("x-amz-meta-color").is_none(), "old metadata survived an overwrite: {got}");
    }
}

#[test]
fn user_metadata_over_2_kib_is_refused() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "big-metadata");
    let value = "v".repeat(2100);
    client.request("PUT", "/big-metadata/k", &[("x-amz-meta-big", &value)], b"data").expect_error(
        400,
        "MetadataTooLarge",
        "2 KiB of metadata",
    );
    client.get("/big-metadata/k").expect_error(404, "NoSuchKey", "refused PUT stored nothing");
}

#[test]
fn content_md5_is_verified() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "digests");
        create_bucket(&mut client, prefix, &bucket);
        for size in [100usize, 4096, 4097, 2 * 1024 * 1024] {
            let data = random_bytes(size, size as u64);
            let other = random_bytes(size, size as u64 + 1);
            let key = format!("{prefix}/{bucket}/object-{size}");
            // Wrong digest on a missing key: refused, nothing created.
            client.request("PUT", &key, &[("Content-MD5", &md5_base64(b"something else"))], &data).expect_error(
                400,
                "BadDigest",
                "wrong Content-MD5",
            );
            client.get(&key).expect_error(404, "NoSuchKey", "a BadDigest PUT must not create the object");
            // Correct digest: stored.
            let put = client.request("PUT", &key, &[("Content-MD5", &md5_base64(&data))], &data);
            assert_eq!(put.expect(200, "correct Content-MD5").etag(), Some(quoted_md5(&data).as_str()));
            // Wrong digest on an existing key: refused, old object kept.
            client.request("PUT", &key, &[("Content-MD5", &md5_base64(&data))], &other).expect_error(
                400,
                "BadDigest",
                "digest of the old bytes with new bytes",
            );
            let got = client.get(&key).expect(200, "GET after a BadDigest overwrite");
            assert!(got.body == data, "a BadDigest PUT replaced the object ({size} bytes)");
            // Not a digest at all.
            for garbage in ["not-base64!!", "", "AAAA", &base64(&[0u8; 15]), &base64(&[0u8; 17])] {
                client.request("PUT", &key, &[("Content-MD5", garbage)], &other).expect_error(
                    400,
                    "InvalidDigest",
                    &format!("Content-MD5 {garbage:?}"),
                );
            }
            assert!(client.get(&key).expect(200, "GET").body == data, "an InvalidDigest PUT replaced the object");
        }
    }
}

#[test]
fn missing_bucket_and_missing_key() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "exists");
    for prefix in PREFIXES {
        client.put(&format!("{prefix}/no-such-bucket/k"), b"small").expect_error(404, "NoSuchBucket", "small PUT");
        client.put(&format!("{prefix}/no-such-bucket/k"), &random_bytes(100_000, 1)).expect_error(
            404,
            "NoSuchBucket",
            "large PUT",
        );
        client.get(&format!("{prefix}/no-such-bucket/k")).expect_error(404, "NoSuchBucket", "GET");
        client.head(&format!("{prefix}/no-such-bucket/k")).expect(404, "HEAD");
        client.delete(&format!("{prefix}/no-such-bucket/k")).expect_error(404, "NoSuchBucket", "DELETE");
        let missing = client.get(&format!("{prefix}/exists/no-such-key")).expect_error(404, "NoSuchKey", "GET missing");
        assert_eq!(xml_value(&missing.body, "Resource"), format!("{prefix}/exists/no-such-key"));
        client.head(&format!("{prefix}/exists/no-such-key")).expect(404, "HEAD missing");
    }
    client.head("/no-such-bucket").expect(404, "refused PUTs created no bucket");
}

#[test]
fn range_requests() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "ranges");
        create_bucket(&mut client, prefix, &bucket);
        for size in [100usize, 50_000] {
            let data = random_bytes(size, 9);
            let key = format!("{prefix}/{bucket}/object-{size}");
            client.put(&key, &data).expect(200, "PUT");
            let cases: Vec<(String, usize, usize)> = vec![
                ("bytes=0-9".into(), 0, 9),
                ("bytes=10-".into(), 10, size - 1),
                ("bytes=-5".into(), size - 5, size - 1),
                ("bytes=0-0".into(), 0, 0),
                (format!("bytes={}-", size - 1), size - 1, size - 1),
                (format!("bytes=5-{}", size + 1000), 5, size - 1),
                (format!("bytes=-{}", size + 1000), 0, size - 1),
            ];
            for (range, first, last) in cases {
                let response = client.request("GET", &key, &[("Range", &range)], b"").expect(206, &range);
                assert_eq!(
                    response.header("content-range"),
                    Some(format!("bytes {first}-{last}/{size}").as_str()),
                    "{range}"
                );
                assert_eq!(response.content_length(), Some((last - first + 1) as u64), "{range}");
                assert!(response.body == data[first..=last], "{range}: other bytes");
                assert_eq!(response.etag(), Some(quoted_md5(&data).as_str()), "{range}: ETag of the whole object");
                // HEAD with a Range announces the same part.
                let head = client.request("HEAD", &key, &[("Range", &range)], b"").expect(206, &range);
                assert_eq!(head.content_length(), Some((last - first + 1) as u64));
            }
            for range in [format!("bytes={size}-"), format!("bytes={}-{}", size + 10, size + 20), "bytes=-0".into()] {
                client.request("GET", &key, &[("Range", &range)], b"").expect_error(
                    416,
                    "InvalidRange",
                    &format!("{range} of {size}"),
                );
            }
            // Unparseable ranges are ignored (RFC 7233): the whole object.
            for range in ["bytes=9-5", "items=0-1", "bytes=a-b"] {
                let response = client.request("GET", &key, &[("Range", range)], b"").expect(200, range);
                assert!(response.body == data, "{range}");
            }
        }
        // Any range of an empty object is unsatisfiable.
        let empty = format!("{prefix}/{bucket}/empty");
        client.put(&empty, b"").expect(200, "PUT empty");
        client.request("GET", &empty, &[("Range", "bytes=0-")], b"").expect_error(416, "InvalidRange", "empty");
    }
}

#[test]
fn range_on_a_5_mib_object_across_the_1_mib_buffer_boundaries() {
    let server = Server::start();
    let mut client = server.client();
    let size = 5 * 1024 * 1024;
    let mib = 1024 * 1024;
    let data = random_bytes(size, 55);
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "bigrange");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/five");
        client.put(&key, &data).expect(200, "PUT 5 MiB");
        for (first, last) in [
            (mib - 10, mib + 10),
            (mib - 1, mib),
            (mib, 2 * mib - 1),
            (mib + 1, 4 * mib + 3),
            (0, mib),
            (3 * mib - 7, size - 1),
            (size - 1, size - 1),
        ] {
            let range = format!("bytes={first}-{last}");
            let response = client.request("GET", &key, &[("Range", &range)], b"").expect(206, &range);
            assert_eq!(response.header("content-range"), Some(format!("bytes {first}-{last}/{size}").as_str()));
            assert_eq!(response.body.len(), last - first + 1, "{range}");
            assert!(response.body == data[first..=last], "{range}: other bytes");
        }
        let suffix = client.request("GET", &key, &[("Range", "bytes=-1048577")], b"").expect(206, "suffix");
        assert!(suffix.body == data[size - mib - 1..]);
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn conditional_get_and_head() {
    let server = Server::start();
    let mut client = server.client();
    let past = http_date(now_seconds() - 86_400 * 365);
    let future = http_date(now_seconds() + 86_400 * 365);
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "conditions");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/k");
        let data = b"conditional content".to_vec();
        let etag = client.put(&key, &data).expect(200, "PUT").etag().unwrap().to_string();
        let wrong = quoted_md5(b"other");
        for method in ["GET", "HEAD"] {
            let head = method == "HEAD";
            let get = |client: &mut Client, headers: &[(&str, &str)]| client.request(method, &key, headers, b"");
            // If-Match.
            let ok = get(&mut client, &[("If-Match", &etag)]).expect(200, "If-Match right");
            if !head {
                assert_eq!(ok.body, data);
            }
            let failed = get(&mut client, &[("If-Match", &wrong)]).expect(412, "If-Match wrong");
            if !head {
                assert_eq!(error_code(&failed.body).as_deref(), Some("PreconditionFailed"));
            }
            get(&mut client, &[("If-Match", "*")]).expect(200, "If-Match *");
            // If-None-Match.
            let not_modified = get(&mut client, &[("If-None-Match", &etag)]).expect(304, "If-None-Match same");
            assert!(not_modified.body.is_empty(), "304 has no body");
            assert_eq!(not_modified.etag(), Some(etag.as_str()), "304 carries the ETag: {not_modified}");
            assert!(not_modified.header("content-length").is_none_or(|v| v == "0"), "{not_modified}");
            let unquoted = etag.trim_matches('"').to_string();
            get(&mut client, &[("If-None-Match", &unquoted)]).expect(304, "If-None-Match unquoted");
            get(&mut client, &[("If-None-Match", &format!("{wrong}, {etag}"))]).expect(304, "If-None-Match list");
            get(&mut client, &[("If-None-Match", &wrong)]).expect(200, "If-None-Match other");
            // Dates.
            get(&mut client, &[("If-Modified-Since", &future)]).expect(304, "If-Modified-Since future");
            get(&mut client, &[("If-Modified-Since", &past)]).expect(200, "If-Modified-Since past");
            get(&mut client, &[("If-Unmodified-Since", &past)]).expect(412, "If-Unmodified-Since past");
            get(&mut client, &[("If-Unmodified-Since", &future)]).expect(200, "If-Unmodified-Since future");
            // RFC 7232 precedence: a holding If-Match overrides If-Unmodified-Since; a holding
            // If-None-Match (no match) overrides If-Modified-Since.
            get(&mut client, &[("If-Match", &etag), ("If-Unmodified-Since", &past)]).expect(200, "If-Match wins");
            get(&mut client, &[("If-None-Match", &wrong), ("If-Modified-Since", &future)])
                .expect(200, "If-None-Match wins");
        }
        // The connection stays usable after 304s and 412s.
        assert_eq!(client.get(&key).expect(200, "after conditionals").body, data);
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn conditional_put() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "condput");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/k");
        // If-None-Match: * creates a missing key and refuses an existing one.
        let v1 = b"version one".to_vec();
        let etag1 = client.request("PUT", &key, &[("If-None-Match", "*")], &v1).expect(200, "create-only on missing");
        let etag1 = etag1.etag().unwrap().to_string();
        client.request("PUT", &key, &[("If-None-Match", "*")], b"version two").expect_error(
            412,
            "PreconditionFailed",
            "create-only on existing",
        );
        assert_eq!(client.get(&key).expect(200, "GET").body, v1, "If-None-Match: * replaced the object");
        // Large body, same rule.
        client.request("PUT", &key, &[("If-None-Match", "*")], &random_bytes(200_000, 3)).expect_error(
            412,
            "PreconditionFailed",
            "create-only large on existing",
        );
        assert_eq!(client.get(&key).expect(200, "GET").body, v1);
        // If-Match: the current ETag replaces, another ETag does not.
        client.request("PUT", &key, &[("If-Match", &quoted_md5(b"nope"))], b"version three").expect_error(
            412,
            "PreconditionFailed",
            "If-Match wrong",
        );
        assert_eq!(client.get(&key).expect(200, "GET").body, v1);
        let v4 = b"version four".to_vec();
        client.request("PUT", &key, &[("If-Match", &etag1)], &v4).expect(200, "If-Match right");
        assert_eq!(client.get(&key).expect(200, "GET").body, v4);
        // If-Match on a missing key: 404.
        client.request("PUT", &format!("{prefix}/{bucket}/absent"), &[("If-Match", &etag1)], b"x").expect_error(
            404,
            "NoSuchKey",
            "If-Match on a missing key",
        );
        client.get(&format!("{prefix}/{bucket}/absent")).expect(404, "not created");
    }
}

#[test]
fn put_without_content_length_is_refused_with_411() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "lengthless");
    for prefix in PREFIXES {
        let key = format!("{prefix}/lengthless/k");
        client.request_unframed("PUT", &key, &[], b"").expect_error(
            411,
            "MissingContentLength",
            "PUT without Content-Length",
        );
        client.get(&key).expect_error(404, "NoSuchKey", "nothing stored");
    }
    // A zero Content-Length is an empty object, not a missing length.
    client.request("PUT", "/lengthless/empty", &[("Content-Length", "0")], b"").expect(200, "Content-Length: 0");
    assert_eq!(client.head("/lengthless/empty").content_length(), Some(0));
}

#[test]
fn overwrite_replaces_and_delete_removes() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "overwrite");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/k");
        // inline → block → inline → empty → block: every overwrite wins.
        for (index, size) in [10usize, 2 * 1024 * 1024, 3000, 0, 70_000].into_iter().enumerate() {
            let data = random_bytes(size, 60 + index as u64);
            client.put(&key, &data).expect(200, "overwrite");
            let got = client.get(&key).expect(200, "GET overwritten");
            assert!(got.body == data, "GET after overwrite #{index} ({size} bytes) returned old bytes");
            assert_eq!(got.etag(), Some(quoted_md5(&data).as_str()));
        }
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list");
        assert_eq!(xml_values(&listing.body, "Key"), vec!["k"], "one key after overwrites");
        assert_eq!(xml_value(&listing.body, "Size"), "70000");
        let deleted = client.delete(&key).expect(204, "DELETE existing");
        assert!(deleted.body.is_empty());
        client.get(&key).expect_error(404, "NoSuchKey", "GET after DELETE");
        client.head(&key).expect(404, "HEAD after DELETE");
        client.delete(&key).expect(204, "DELETE again");
        client.delete(&format!("{prefix}/{bucket}/never-was")).expect(204, "DELETE missing key");
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list");
        assert_eq!(xml_value(&listing.body, "KeyCount"), "0");
    }
}

#[test]
fn keys_with_special_characters_round_trip() {
    let server = Server::start();
    let mut client = server.client();
    // (as sent in the path, the key S3 stores)
    let cases: Vec<(String, String)> = vec![
        ("a/b/c.txt".into(), "a/b/c.txt".into()),
        ("with%20space".into(), "with space".into()),
        ("plus+sign".into(), "plus+sign".into()),
        ("plus%2Bencoded".into(), "plus+encoded".into()),
        ("eq=sign".into(), "eq=sign".into()),
        ("star*".into(), "star*".into()),
        ("question%3Fmark".into(), "question?mark".into()),
        ("hash%23tag".into(), "hash#tag".into()),
        ("percent%25sign".into(), "percent%sign".into()),
        ("amp%26ersand".into(), "amp&ersand".into()),
        ("%C3%A9t%C3%A9/%E2%82%AC/%F0%9F%98%80".into(), "été/€/😀".into()),
        ("../../escape".into(), "../../escape".into()),
        ("a/./b/../c".into(), "a/./b/../c".into()),
        ("encoded%2Fslash".into(), "encoded/slash".into()),
        ("double//slash".into(), "double//slash".into()),
        ("tilde~_-.".into(), "tilde~_-.".into()),
        ("quote%22apos%27".into(), "quote\"apos'".into()),
        ("lt%3Cgt%3E".into(), "lt<gt>".into()),
        ("semi;colon:comma,".into(), "semi;colon:comma,".into()),
    ];
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "special");
        create_bucket(&mut client, prefix, &bucket);
        for (sent, key) in &cases {
            let body = format!("content of {key}");
            client.put(&format!("{prefix}/{bucket}/{sent}"), body.as_bytes()).expect(200, &format!("PUT {sent}"));
            let got = client.get(&format!("{prefix}/{bucket}/{sent}")).expect(200, &format!("GET {sent}"));
            assert_eq!(got.text(), body, "{sent}");
            // The canonical encoding of the same key names the same object.
            let canonical = client.get(&format!("{prefix}/{bucket}/{}", encode_path(key))).expect(200, "canonical");
            assert_eq!(canonical.text(), body, "{sent} vs {}", encode_path(key));
        }
        let mut expected: Vec<String> = cases.iter().map(|(_, key)| key.clone()).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(list_all_keys_v2(&mut client, prefix, &bucket, ""), expected, "listing holds the decoded keys");
        // `..` never escaped the bucket into the file system.
        assert!(!tree_contains_file_named(&server.data_dir(), "escape"), "a key became a file name");
        assert!(!tree_contains_file_named(&server.data_dir().join(".."), "escape"));
    }
}

#[test]
fn directory_markers_are_distinct_keys() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "markers");
        create_bucket(&mut client, prefix, &bucket);
        client
            .request("PUT", &format!("{prefix}/{bucket}/dir/"), &[("Content-Type", "application/x-directory")], b"")
            .expect(200, "PUT dir/");
        let head = client.head(&format!("{prefix}/{bucket}/dir/")).expect(200, "HEAD dir/");
        assert_eq!(head.content_length(), Some(0));
        assert_eq!(head.etag(), Some(quoted_md5(b"").as_str()));
        client.head(&format!("{prefix}/{bucket}/dir")).expect(404, "HEAD dir (no slash)");
        client.get(&format!("{prefix}/{bucket}/dir")).expect_error(404, "NoSuchKey", "GET dir");
        client.put(&format!("{prefix}/{bucket}/dir/file"), b"inside").expect(200, "PUT dir/file");
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2&delimiter=/")).expect(200, "list");
        assert!(xml_values(&listing.body, "Key").is_empty());
        let prefixes: Vec<String> =
            xml_blocks(&listing.body, "CommonPrefixes").iter().map(|b| xml_value(b, "Prefix")).collect();
        assert_eq!(prefixes, vec!["dir/"]);
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2&prefix=dir/")).expect(200, "list dir/");
        assert_eq!(xml_values(&listing.body, "Key"), vec!["dir/", "dir/file"]);
        client.delete(&format!("{prefix}/{bucket}/dir/")).expect(204, "DELETE dir/");
        assert_eq!(client.get(&format!("{prefix}/{bucket}/dir/file")).expect(200, "file stays").body, b"inside");
    }
}

#[test]
fn key_length_limit_is_1024_bytes_of_utf8() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "longkeys");
        create_bucket(&mut client, prefix, &bucket);
        let longest = "k".repeat(1024);
        client.put(&format!("{prefix}/{bucket}/{longest}"), b"1024").expect(200, "1024-byte key");
        assert_eq!(client.get(&format!("{prefix}/{bucket}/{longest}")).expect(200, "GET").body, b"1024");
        let too_long = "k".repeat(1025);
        client.put(&format!("{prefix}/{bucket}/{too_long}"), b"1025").expect_error(
            400,
            "KeyTooLongError",
            "1025-byte key",
        );
        client.get(&format!("{prefix}/{bucket}/{too_long}")).expect_error(400, "KeyTooLongError", "GET 1025");
        // Bytes, not characters: 512 × "é" is 1024 bytes, 513 is 1026.
        let accented = "é".repeat(512);
        client.put(&format!("{prefix}/{bucket}/{}", encode_path(&accented)), b"e").expect(200, "512 é");
        let accented = "é".repeat(513);
        client.put(&format!("{prefix}/{bucket}/{}", encode_path(&accented)), b"e").expect_error(
            400,
            "KeyTooLongError",
            "513 é",
        );
        let keys = list_all_keys_v2(&mut client, prefix, &bucket, "");
        assert_eq!(keys, vec!["k".repeat(1024), "é".repeat(512)]);
    }
}

#[test]
fn hadoop_and_presto_directory_probing() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "warehouse");
        create_bucket(&mut client, prefix, &bucket);
        let data = random_bytes(12_345, 88);
        let key = "warehouse/t/dt=2026-11-25/part-0.parquet";
        client.put(&format!("{prefix}/{bucket}/{key}"), &data).expect(200, "PUT part");
        let head = client.head(&format!("{prefix}/{bucket}/{key}")).expect(200, "HEAD part");
        assert_eq!(head.content_length(), Some(12_345));
        // Encoded `=` names the same key.
        client
            .head(&format!("{prefix}/{bucket}/warehouse/t/dt%3D2026-11-25/part-0.parquet"))
            .expect(200, "HEAD part with %3D");
        client.head(&format!("{prefix}/{bucket}/warehouse/t/dt=2026-11-25/")).expect(404, "HEAD directory");
        client.head(&format!("{prefix}/{bucket}/warehouse/t/dt=2026-11-25")).expect(404, "HEAD directory no slash");
        let listing = client
            .get(&format!("{prefix}/{bucket}?list-type=2&prefix=warehouse/t/dt%3D2026-11-25/&max-keys=1"))
            .expect(200, "probe listing");
        assert_eq!(xml_values(&listing.body, "Key"), vec![key]);
        assert_eq!(xml_value(&listing.body, "KeyCount"), "1");
        assert_eq!(xml_value(&listing.body, "IsTruncated"), "false");
        assert_eq!(xml_values(&listing.body, "Prefix"), vec!["warehouse/t/dt=2026-11-25/"]);
        // The parent "directory" probe with a delimiter sees the partition as a prefix.
        let listing = client
            .get(&format!("{prefix}/{bucket}?list-type=2&prefix=warehouse/t/&delimiter=/&max-keys=1"))
            .expect(200, "parent probe");
        assert_eq!(xml_value(&listing.body, "KeyCount"), "1");
        let prefixes: Vec<String> =
            xml_blocks(&listing.body, "CommonPrefixes").iter().map(|b| xml_value(b, "Prefix")).collect();
        assert_eq!(prefixes, vec!["warehouse/t/dt=2026-11-25/"]);
    }
}

#[test]
fn tagging_header_sets_the_tag_count() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "tags");
        create_bucket(&mut client, prefix, &bucket);
        for (name, size) in [("small", 10usize), ("large", 100_000)] {
            let key = format!("{prefix}/{bucket}/{name}");
            client
                .request("PUT", &key, &[("x-amz-tagging", "project=blue&owner=two%20words")], &random_bytes(size, 5))
                .expect(200, "PUT with tags");
            assert_eq!(client.head(&key).expect(200, "HEAD").header("x-amz-tagging-count"), Some("2"));
            assert_eq!(client.get(&key).expect(200, "GET").header("x-amz-tagging-count"), Some("2"));
        }
        let untagged = format!("{prefix}/{bucket}/untagged");
        client.put(&untagged, b"x").expect(200, "PUT");
        assert!(client.head(&untagged).header("x-amz-tagging-count").is_none());
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        client
            .request("PUT", &format!("{prefix}/{bucket}/too-many"), &[("x-amz-tagging", &eleven.join("&"))], b"x")
            .expect_error(400, "BadRequest", "11 tags (S3: BadRequest, \"Object tags cannot be greater than 10\")");
        client
            .request("PUT", &format!("{prefix}/{bucket}/bad-tag"), &[("x-amz-tagging", "aws:reserved=1")], b"x")
            .expect_error(400, "InvalidTag", "aws: prefix");
        client.head(&format!("{prefix}/{bucket}/bad-tag")).expect(404, "not stored");
        client.head(&format!("{prefix}/{bucket}/too-many")).expect(404, "not stored");
    }
}

#[test]
fn version_id_null_is_the_only_version() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "versions");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/k");
        client.put(&key, b"only version").expect(200, "PUT");
        assert_eq!(client.get(&format!("{key}?versionId=null")).expect(200, "versionId=null").body, b"only version");
        client.head(&format!("{key}?versionId=null")).expect(200, "HEAD versionId=null");
        client.get(&format!("{key}?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")).expect_error(
            400,
            "InvalidArgument",
            "other versionId",
        );
        client.head(&format!("{key}?versionId=abc")).expect(400, "HEAD other versionId");
    }
}

#[test]
fn response_overrides_replace_headers_of_get() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "overrides");
        create_bucket(&mut client, prefix, &bucket);
        let key = format!("{prefix}/{bucket}/k");
        client
            .request("PUT", &key, &[("Content-Type", "text/plain"), ("Cache-Control", "no-cache")], b"data")
            .expect(200, "PUT");
        let response = client
            .get(&format!(
                "{key}?response-content-type=application%2Fjson&response-content-disposition=attachment%3B%20filename%3Dx.json\
                 &response-cache-control=max-age%3D60"
            ))
            .expect(200, "GET with overrides");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("content-disposition"), Some("attachment; filename=x.json"));
        assert_eq!(response.header("cache-control"), Some("max-age=60"));
        assert_eq!(response.header_all("content-type").len(), 1, "one Content-Type: {response}");
        assert_eq!(response.header_all("cache-control").len(), 1, "one Cache-Control: {response}");
        assert_eq!(response.body, b"data");
        // The stored headers are unchanged.
        let plain = client.get(&key).expect(200, "GET");
        assert_eq!(plain.header("content-type"), Some("text/plain"));
        assert_eq!(plain.header("cache-control"), Some("no-cache"));
    }
}
