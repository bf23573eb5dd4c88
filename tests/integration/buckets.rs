//! Bucket actions: create, head, delete, list, location, naming rules, unsupported
//! sub-resources and methods.

use crate::support::*;

#[test]
fn create_bucket_answers_200_with_location_and_refuses_a_second_create() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = if prefix.is_empty() { "created-at-root" } else { "created-under-prefix" };
        let response = client.put(&format!("{prefix}/{bucket}"), b"").expect(200, "create");
        assert_eq!(response.header("location"), Some(format!("/{bucket}").as_str()));
        // Again, through both URL styles.
        for again in PREFIXES {
            client.put(&format!("{again}/{bucket}"), b"").expect_error(409, "BucketAlreadyOwnedByYou", "second create");
        }
        client.head(&format!("{prefix}/{bucket}")).expect(200, "head after create");
    }
}

#[test]
fn create_bucket_accepts_a_location_configuration_and_refuses_malformed_xml() {
    let server = Server::start();
    let mut client = server.client();
    let configuration = b"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
        <LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>";
    client.put("/with-configuration", configuration).expect(200, "create with configuration");
    client.head("/with-configuration").expect(200, "head");
    client.put("/bad-configuration", b"<CreateBucketConfiguration>").expect_error(400, "MalformedXML", "bad XML");
    client.head("/bad-configuration").expect(404, "a refused create leaves no bucket");
}

#[test]
fn invalid_bucket_names_are_refused() {
    let server = Server::start();
    let mut client = server.client();
    let long = "a".repeat(64);
    let names = [
        "ab",
        "UPPER",
        "Mixed-case",
        "a..b",
        "192.168.1.1",
        long.as_str(),
        "-abc",
        "abc-",
        "bucket_1",
        "a.-b",
        "xn--abc",
    ];
    for prefix in PREFIXES {
        for name in names {
            client.put(&format!("{prefix}/{name}"), b"").expect_error(
                400,
                "InvalidBucketName",
                &format!("create {name:?}"),
            );
        }
    }
    // 3 and 63 characters are the limits, inclusive.
    client.put("/abc", b"").expect(200, "3 characters");
    client.put(&format!("/{}", "b".repeat(63)), b"").expect(200, "63 characters");
    let listing = client.get("/").expect(200, "ListBuckets");
    let mut expected = vec!["abc".to_string(), "b".repeat(63)];
    expected.sort();
    assert_eq!(xml_values(&listing.body, "Name"), expected, "only the valid buckets exist");
}

#[test]
fn head_bucket_existing_and_missing() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "present");
    for prefix in PREFIXES {
        let response = client.head(&format!("{prefix}/present")).expect(200, "head existing");
        assert!(response.body.is_empty());
        client.head(&format!("{prefix}/absent")).expect(404, "head missing");
    }
}

#[test]
fn delete_bucket_refuses_non_empty_then_deletes_then_is_missing() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = if prefix.is_empty() { "doomed-root" } else { "doomed-prefix" };
        create_bucket(&mut client, prefix, bucket);
        client.put(&format!("{prefix}/{bucket}/k"), b"x").expect(200, "put");
        client.delete(&format!("{prefix}/{bucket}")).expect_error(409, "BucketNotEmpty", "delete non-empty");
        client.head(&format!("{prefix}/{bucket}")).expect(200, "still there");
        assert_eq!(client.get(&format!("{prefix}/{bucket}/k")).expect(200, "object kept").body, b"x");
        client.delete(&format!("{prefix}/{bucket}/k")).expect(204, "delete object");
        let deleted = client.delete(&format!("{prefix}/{bucket}")).expect(204, "delete empty bucket");
        assert!(deleted.body.is_empty());
        client.head(&format!("{prefix}/{bucket}")).expect(404, "head deleted");
        client.delete(&format!("{prefix}/{bucket}")).expect_error(404, "NoSuchBucket", "delete again");
        client.get(&format!("{prefix}/{bucket}?list-type=2")).expect_error(404, "NoSuchBucket", "list deleted");
        client.put(&format!("{prefix}/{bucket}/k"), b"x").expect_error(404, "NoSuchBucket", "put into deleted");
        // The name can be created again, empty.
        create_bucket(&mut client, prefix, bucket);
        let listing = client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list re-created");
        assert_eq!(xml_value(&listing.body, "KeyCount"), "0");
    }
    client.delete("/never-existed").expect_error(404, "NoSuchBucket", "delete missing");
}

#[test]
fn list_buckets_lists_names_sorted_with_creation_dates() {
    let server = Server::start();
    let mut client = server.client();
    let empty = client.get("/").expect(200, "ListBuckets empty");
    assert!(xml_values(&empty.body, "Bucket").is_empty());
    assert_eq!(xml_blocks(&empty.body, "Buckets").len(), 1, "an empty <Buckets> element: {empty}");
    let names = ["zulu", "alpha", "mike-2", "mike-10", "0-digits-first", "bravo.dotted", "yankee", "charlie"];
    for (index, name) in names.iter().enumerate() {
        let prefix = PREFIXES[index % 2];
        create_bucket(&mut client, prefix, name);
    }
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    let now = now_seconds();
    for target in ["/", "/api/v1/s3", "/api/v1/s3/"] {
        let response = client.get(target).expect(200, target);
        assert_eq!(response.header("content-type"), Some("application/xml"));
        let body = response.text();
        assert!(body.contains("<ListAllMyBucketsResult"), "{body}");
        let buckets = xml_blocks(&response.body, "Bucket");
        let listed: Vec<String> = buckets.iter().map(|b| xml_value(b, "Name")).collect();
        assert_eq!(listed, expected, "{target}: names in sorted order");
        for bucket in &buckets {
            let date = xml_value(bucket, "CreationDate");
            assert!(is_iso8601_millis(&date), "CreationDate {date:?}");
            let year: u64 = date[..4].parse().unwrap();
            let this_year = 1970 + now / 31_556_952;
            assert!(year.abs_diff(this_year) <= 1, "CreationDate {date} is not now-ish");
        }
        let owner = xml_blocks(&response.body, "Owner");
        assert_eq!(owner.len(), 1, "one Owner: {body}");
        assert!(!xml_value(&owner[0], "ID").is_empty());
    }
    // Deleting one removes it from the list.
    client.delete("/mike-10").expect(204, "delete");
    let response = client.get("/").expect(200, "ListBuckets");
    expected.retain(|name| name != "mike-10");
    assert_eq!(xml_values(&response.body, "Name"), expected);
}

#[test]
fn bucket_location_is_the_default_region_document() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "located");
    for prefix in PREFIXES {
        let response = client.get(&format!("{prefix}/located?location")).expect(200, "GetBucketLocation");
        assert_eq!(response.header("content-type"), Some("application/xml"));
        // us-east-1 is the empty constraint.
        assert_eq!(xml_values(&response.body, "LocationConstraint"), vec![String::new()], "{response}");
        assert!(!response.text().contains("ListBucketResult"), "?location answered a listing: {response}");
        client.get(&format!("{prefix}/unlocated?location")).expect_error(404, "NoSuchBucket", "location of missing");
    }
}

#[test]
fn bucket_versioning_is_never_enabled() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "unversioned");
    let response = client.get("/unversioned?versioning").expect(200, "GetBucketVersioning");
    assert!(response.text().contains("<VersioningConfiguration"), "{response}");
    assert!(xml_values(&response.body, "Status").is_empty(), "versioning must not look enabled: {response}");
}

#[test]
fn unsupported_sub_resources_answer_501_not_implemented() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "subresources");
    client.put("/subresources/k", b"data").expect(200, "put");
    for prefix in PREFIXES {
        for (method, target) in [
            ("GET", "/subresources?policy"),
            ("PUT", "/subresources?policy"),
            ("GET", "/subresources?cors"),
            ("GET", "/subresources?lifecycle"),
            ("GET", "/subresources/k?torrent"),
            ("GET", "/subresources?versions"),
        ] {
            let target = format!("{prefix}{target}");
            let response = client.request(method, &target, &[], b"");
            response.expect_error(501, "NotImplemented", &format!("{method} {target}"));
        }
    }
    // Nothing was changed by the refused requests.
    assert_eq!(client.get("/subresources/k").expect(200, "object").body, b"data");
}

/// SDK existence probes (`doesBucketExistV2` in the AWS SDK for Java, used by Hadoop s3a and
/// Trino) read the bucket ACL: the owner's FULL_CONTROL answers them. Sharing is refused.
#[test]
fn acls_report_private_ownership_and_refuse_sharing() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "acls");
    client.put("/acls/k", b"data").expect(200, "put");
    for prefix in PREFIXES {
        for target in ["/acls?acl", "/acls/k?acl"] {
            let response = client.get(&format!("{prefix}{target}")).expect(200, target);
            assert_eq!(xml_values(&response.body, "Permission"), ["FULL_CONTROL"], "{response}");
            assert!(response.text().contains("<AccessControlPolicy"), "{response}");
        }
        client.request("PUT", &format!("{prefix}/acls?acl"), &[("x-amz-acl", "private")], b"").expect(200, "private");
        client.request("PUT", &format!("{prefix}/acls/k?acl"), &[("x-amz-acl", "public-read")], b"").expect_error(
            501,
            "NotImplemented",
            "public-read",
        );
        client
            .request(
                "PUT",
                &format!("{prefix}/acls?acl"),
                &[("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")],
                b"",
            )
            .expect_error(501, "NotImplemented", "grant headers");
        client.get(&format!("{prefix}/missing-bucket?acl")).expect_error(404, "NoSuchBucket", "missing bucket");
        client.get(&format!("{prefix}/acls/missing?acl")).expect_error(404, "NoSuchKey", "missing key");
    }
}

#[test]
fn unsupported_methods_answer_405() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "methods");
    for prefix in PREFIXES {
        for (method, target) in [
            ("POST", "/"),
            ("PUT", "/"),
            ("DELETE", "/"),
            ("PATCH", "/methods"),
            ("POST", "/methods"),
            ("PATCH", "/methods/k"),
        ] {
            let target =
                if target == "/" && !prefix.is_empty() { prefix.to_string() } else { format!("{prefix}{target}") };
            client.request(method, &target, &[], b"").expect_error(
                405,
                "MethodNotAllowed",
                &format!("{method} {target}"),
            );
        }
    }
    client.head("/methods").expect(200, "bucket unchanged");
}
