//! Object and bucket tagging: round trips, the tag count header, S3's limits and characters,
//! malformed documents, missing targets, and tags across `kill -9`.

use crate::support::*;

fn bucket_name(prefix: &str, base: &str) -> String {
    if prefix.is_empty() {
        format!("{base}-root")
    } else {
        format!("{base}-prefix")
    }
}

fn put_tags(client: &mut Client, target: &str, tags: &[(&str, &str)]) -> Response {
    client.request("PUT", &format!("{target}?tagging"), &[], tagging_document(tags).as_bytes())
}

fn get_tags(client: &mut Client, target: &str) -> Vec<(String, String)> {
    let response = client.get(&format!("{target}?tagging")).expect(200, "GetTagging");
    assert_eq!(xml_values(&response.body, "Tagging").len(), 1, "{response}");
    assert_eq!(xml_values(&response.body, "TagSet").len(), 1, "{response}");
    tags_of(&response.body)
}

#[test]
fn object_tagging_round_trip_and_tag_count() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "tags-object");
        create_bucket(&mut client, prefix, &bucket);
        for (name, size) in [("inline", 100usize), ("block", 200_000), ("empty", 0)] {
            let object = format!("{prefix}/{bucket}/{name}");
            let data = random_bytes(size, size as u64);
            client.request("PUT", &object, &[("Content-Type", "text/x-tags")], &data).expect(200, "PUT");
            let before = client.head(&object).expect(200, "HEAD before");
            // No tags: an empty TagSet and no count.
            assert_eq!(get_tags(&mut client, &object), vec![]);
            assert_eq!(before.header("x-amz-tagging-count"), None, "{before}");
            let tags = [("project", "blue sky"), ("cost-center", "12:34/56@x.y_z+w=v"), ("empty", "")];
            let response = put_tags(&mut client, &object, &tags).expect(200, "PutObjectTagging");
            assert!(response.body.is_empty(), "{response}");
            assert_eq!(get_tags(&mut client, &object), owned_tags(&tags));
            for got in [client.get(&object).expect(200, "GET"), client.head(&object).expect(200, "HEAD")] {
                assert_eq!(got.header("x-amz-tagging-count"), Some("3"), "{got}");
                // Tagging changes neither the bytes' validators nor the metadata.
                assert_eq!(got.etag(), before.etag(), "{got}");
                assert_eq!(got.header("last-modified"), before.header("last-modified"), "{got}");
                assert_eq!(got.header("content-type"), Some("text/x-tags"), "{got}");
            }
            assert!(client.get(&object).body == data, "tagging changed the bytes of {name}");
            // A second put replaces the whole set.
            put_tags(&mut client, &object, &[("only", "one")]).expect(200, "replace tags");
            assert_eq!(get_tags(&mut client, &object), owned_tags(&[("only", "one")]));
            assert_eq!(client.head(&object).header("x-amz-tagging-count"), Some("1"));
            // versionId=null addresses the only version; others are refused.
            assert_eq!(
                tags_of(&client.get(&format!("{object}?tagging&versionId=null")).expect(200, "null").body).len(),
                1
            );
            client
                .request(
                    "PUT",
                    &format!("{object}?tagging&versionId=null"),
                    &[],
                    tagging_document(&[("v", "n")]).as_bytes(),
                )
                .expect(200, "PUT with versionId=null");
            client.get(&format!("{object}?tagging&versionId=xyz")).expect_error(400, "InvalidArgument", "versionId");
            // Delete: 204, then empty, no count.
            client.delete(&format!("{object}?tagging")).expect(204, "DeleteObjectTagging");
            assert_eq!(get_tags(&mut client, &object), vec![]);
            assert_eq!(client.head(&object).header("x-amz-tagging-count"), None);
            assert!(client.get(&object).expect(200, "object kept").body == data, "deleting tags changed {name}");
            // An empty TagSet removes the tags too.
            put_tags(&mut client, &object, &[("x", "1")]).expect(200, "tag again");
            put_tags(&mut client, &object, &[]).expect(200, "empty TagSet");
            assert_eq!(get_tags(&mut client, &object), vec![]);
        }
    }
}

#[test]
fn tags_with_unicode_and_escaped_characters_round_trip() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "tags-chars");
    let tags = [("ключ", "значение"), ("日本", "東京 タワー"), ("a b", "c < d"), ("x", "1 & 2")];
    // `<` and `&` are not in S3's tag alphabet: the document is refused, nothing stored.
    client.put("/tags-chars/k", b"v").expect(200, "PUT");
    put_tags(&mut client, "/tags-chars/k", &tags[2..3]).expect_error(400, "InvalidTag", "<");
    put_tags(&mut client, "/tags-chars/k", &tags[3..]).expect_error(400, "InvalidTag", "&");
    put_tags(&mut client, "/tags-chars/k", &tags[..2]).expect(200, "unicode tags");
    assert_eq!(get_tags(&mut client, "/tags-chars/k"), owned_tags(&tags[..2]));
    // The x-amz-tagging header form, percent-encoded.
    let header = format!("{}={}&plain=a%2Bb%3Dc", encode_query("ключ"), encode_query("зна чение"));
    client.request("PUT", "/tags-chars/h", &[("x-amz-tagging", &header)], b"v").expect(200, "PUT with x-amz-tagging");
    assert_eq!(get_tags(&mut client, "/tags-chars/h"), owned_tags(&[("ключ", "зна чение"), ("plain", "a+b=c")]));
    // A 128-character key of multibyte characters is within the limit (characters, not bytes).
    let long_key = "ü".repeat(128);
    let long_value = "é".repeat(256);
    put_tags(&mut client, "/tags-chars/k", &[(&long_key, &long_value)]).expect(200, "128/256 multibyte characters");
    assert_eq!(get_tags(&mut client, "/tags-chars/k"), owned_tags(&[(&long_key, &long_value)]));
}

#[test]
fn bucket_tagging_round_trip() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "tags-bucket");
        create_bucket(&mut client, prefix, &bucket);
        let target = format!("{prefix}/{bucket}");
        let none = client.get(&format!("{target}?tagging")).expect_error(404, "NoSuchTagSet", "no bucket tags");
        assert_eq!(xml_value(&none.body, "BucketName"), bucket);
        let tags = [("team", "storage"), ("env", "test run")];
        put_tags(&mut client, &target, &tags).expect(204, "PutBucketTagging");
        assert_eq!(get_tags(&mut client, &target), owned_tags(&tags));
        put_tags(&mut client, &target, &[("replaced", "yes")]).expect(204, "PutBucketTagging again");
        assert_eq!(get_tags(&mut client, &target), owned_tags(&[("replaced", "yes")]));
        // Bucket tags are not object tags.
        client.put(&format!("{target}/obj"), b"x").expect(200, "PUT object");
        assert_eq!(get_tags(&mut client, &format!("{target}/obj")), vec![]);
        assert_eq!(client.head(&format!("{target}/obj")).header("x-amz-tagging-count"), None);
        client.delete(&format!("{target}?tagging")).expect(204, "DeleteBucketTagging");
        client.get(&format!("{target}?tagging")).expect_error(404, "NoSuchTagSet", "after delete");
        client.delete(&format!("{target}?tagging")).expect(204, "DeleteBucketTagging twice");
        // Missing bucket.
        let missing = format!("{prefix}/no-such-bucket-tags");
        client.get(&format!("{missing}?tagging")).expect_error(404, "NoSuchBucket", "GET missing bucket");
        put_tags(&mut client, &missing, &[("a", "b")]).expect_error(404, "NoSuchBucket", "PUT missing bucket");
        client.delete(&format!("{missing}?tagging")).expect_error(404, "NoSuchBucket", "DELETE missing bucket");
    }
}

#[test]
fn tag_limits_and_invalid_tags_are_refused() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = bucket_name(prefix, "tags-limits");
        create_bucket(&mut client, prefix, &bucket);
        let object = format!("{prefix}/{bucket}/obj");
        let bucket_target = format!("{prefix}/{bucket}");
        client.put(&object, b"data").expect(200, "PUT");
        put_tags(&mut client, &object, &[("before", "1")]).expect(200, "initial object tags");
        put_tags(&mut client, &bucket_target, &[("before", "1")]).expect(204, "initial bucket tags");
        let names: Vec<String> = (0..51).map(|index| format!("key{index}")).collect();
        let many = |count: usize| names[..count].iter().map(|name| (name.as_str(), "v")).collect::<Vec<_>>();
        // Counts: 10 per object, 50 per bucket.
        put_tags(&mut client, &object, &many(10)).expect(200, "10 object tags");
        assert_eq!(get_tags(&mut client, &object).len(), 10);
        put_tags(&mut client, &object, &many(11)).expect_error(400, "BadRequest", "11 object tags");
        put_tags(&mut client, &bucket_target, &many(50)).expect(204, "50 bucket tags");
        assert_eq!(get_tags(&mut client, &bucket_target).len(), 50);
        put_tags(&mut client, &bucket_target, &many(51)).expect_error(400, "BadRequest", "51 bucket tags");
        // Lengths, duplicates, the aws: prefix, characters.
        let key_128 = "k".repeat(128);
        let key_129 = "k".repeat(129);
        let value_256 = "v".repeat(256);
        let value_257 = "v".repeat(257);
        put_tags(&mut client, &object, &[(&key_128, &value_256)]).expect(200, "128-char key, 256-char value");
        for target in [&object, &bucket_target] {
            for (tags, what) in [
                (vec![(key_129.as_str(), "v")], "129-char key"),
                (vec![("k", value_257.as_str())], "257-char value"),
                (vec![("dup", "1"), ("dup", "2")], "duplicate keys"),
                (vec![("aws:reserved", "1")], "aws: prefix"),
                (vec![("", "1")], "empty key"),
                (vec![("star*", "1")], "invalid character"),
            ] {
                put_tags(&mut client, target, &tags).expect_error(400, "InvalidTag", &format!("{target}: {what}"));
            }
            for (document, what) in [
                ("not xml", "not XML"),
                ("<Tagging><TagSet><Tag><Key>k</Key>", "truncated"),
                ("<Tagging></Tagging>", "no TagSet"),
                ("<Other><TagSet></TagSet></Other>", "wrong root"),
                ("<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", "Tag without Value"),
                ("<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>", "Tag without Key"),
            ] {
                client.request("PUT", &format!("{target}?tagging"), &[], document.as_bytes()).expect_error(
                    400,
                    "MalformedXML",
                    &format!("{target}: {what}"),
                );
            }
        }
        // Refused puts kept the last accepted sets.
        assert_eq!(get_tags(&mut client, &object), owned_tags(&[(&key_128, &value_256)]));
        assert_eq!(get_tags(&mut client, &bucket_target).len(), 50);
        // The x-amz-tagging header obeys the same rules.
        let eleven: Vec<String> = (0..11).map(|index| format!("k{index}=v")).collect();
        client.request("PUT", &format!("{object}-h"), &[("x-amz-tagging", &eleven.join("&"))], b"x").expect_error(
            400,
            "BadRequest",
            "11 tags in x-amz-tagging",
        );
        client.request("PUT", &format!("{object}-h"), &[("x-amz-tagging", "a=1&a=2")], b"x").expect_error(
            400,
            "InvalidTag",
            "duplicate in x-amz-tagging",
        );
        client.head(&format!("{object}-h")).expect(404, "refused PUTs store nothing");
        // Missing object or bucket.
        let missing = format!("{prefix}/{bucket}/missing");
        put_tags(&mut client, &missing, &[("a", "b")]).expect_error(404, "NoSuchKey", "PUT tags of a missing key");
        client.get(&format!("{missing}?tagging")).expect_error(404, "NoSuchKey", "GET tags of a missing key");
        client.delete(&format!("{missing}?tagging")).expect_error(404, "NoSuchKey", "DELETE tags of a missing key");
        client.head(&missing).expect(404, "tagging a missing key does not create it");
        put_tags(&mut client, &format!("{prefix}/no-such-bucket-tags/k"), &[("a", "b")]).expect_error(
            404,
            "NoSuchBucket",
            "tags of a key in a missing bucket",
        );
    }
}

#[test]
fn tags_survive_kill_9() {
    let mut server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "tags-restart");
    create_bucket(&mut client, "/api/v1/s3", "tags-restart-untagged");
    let large = random_bytes(300_000, 9);
    client.put("/tags-restart/small", b"small").expect(200, "PUT small");
    client.put("/tags-restart/large", &large).expect(200, "PUT large");
    client.request("PUT", "/tags-restart/header", &[("x-amz-tagging", "h=1&i=2")], b"h").expect(200, "PUT header");
    client.put("/tags-restart/untagged", b"u").expect(200, "PUT untagged");
    put_tags(&mut client, "/tags-restart/small", &[("s", "1")]).expect(200, "tag small");
    put_tags(&mut client, "/tags-restart/large", &[("l", "1"), ("m", "2")]).expect(200, "tag large");
    put_tags(&mut client, "/tags-restart/untagged", &[("gone", "soon")]).expect(200, "tag");
    client.delete("/tags-restart/untagged?tagging").expect(204, "untag");
    put_tags(&mut client, "/tags-restart", &[("bucket", "tag")]).expect(204, "bucket tags");
    put_tags(&mut client, "/tags-restart-untagged", &[("bucket", "gone")]).expect(204, "bucket tags");
    client.delete("/tags-restart-untagged?tagging").expect(204, "delete bucket tags");
    for round in 1..=2 {
        server.kill9_and_restart();
        let mut client = server.client();
        let context = format!("after kill -9 #{round}");
        assert_eq!(get_tags(&mut client, "/tags-restart/small"), owned_tags(&[("s", "1")]), "{context}");
        assert_eq!(get_tags(&mut client, "/tags-restart/large"), owned_tags(&[("l", "1"), ("m", "2")]), "{context}");
        assert_eq!(get_tags(&mut client, "/tags-restart/header"), owned_tags(&[("h", "1"), ("i", "2")]), "{context}");
        assert_eq!(get_tags(&mut client, "/tags-restart/untagged"), vec![], "{context}");
        assert_eq!(client.head("/tags-restart/large").header("x-amz-tagging-count"), Some("2"), "{context}");
        assert!(client.get("/tags-restart/large").body == large, "{context}: tagged bytes");
        assert_eq!(get_tags(&mut client, "/tags-restart"), owned_tags(&[("bucket", "tag")]), "{context}");
        client.get("/tags-restart-untagged?tagging").expect_error(404, "NoSuchTagSet", &context);
    }
}
