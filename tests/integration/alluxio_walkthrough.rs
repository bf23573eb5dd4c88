//! The curl walkthrough of Alluxio's S3 API documentation (`shared/seeds/000_cf98862a634faea3.txt`,
//! "REST API" section), replayed step by step against `/api/v1/s3`, expecting the answers
//! Amazon S3 would give (not Alluxio's quirks: `<Name>testbucket</Name>` rather than
//! `/testbucket`, quoted ETags rather than empty ones).

use crate::support::*;

const API: &str = "/api/v1/s3";

/// Stands in for the walkthrough's LICENSE file (26847 bytes of text).
fn license() -> Vec<u8> {
    let line = b"Licensed under the Apache License, Version 2.0 (the \"License\"); you may not use this file.\n";
    line.iter().copied().cycle().take(26_847).collect()
}

/// `curl -i -X PUT -T FILE URL`: curl sends `Expect: 100-continue` and waits for the 100.
fn curl_upload(client: &mut Client, path: &str, data: &[u8]) -> Response {
    let length = data.len().to_string();
    let head = build_head(
        "PUT",
        path,
        &[("User-Agent", "curl/7.54.0"), ("Accept", "*/*"), ("Content-Length", &length), ("Expect", "100-continue")],
        data.len(),
        false,
    );
    client.send(head.as_bytes());
    let interim = client.read_response(false);
    assert_eq!(interim.status, 100, "curl -T waits for HTTP/1.1 100 Continue; got {interim}");
    client.send(data);
    client.read_final_response(false)
}

fn contents_keys(body: &[u8]) -> Vec<String> {
    xml_blocks(body, "Contents").iter().map(|c| xml_value(c, "Key")).collect()
}

#[test]
fn alluxio_rest_api_walkthrough() {
    let server = Server::start();
    // Every curl invocation is its own connection.
    let curl = || server.client();
    let license = license();
    let etag = quoted_md5(&license);

    // Create a bucket.
    let response = curl().put(&format!("{API}/testbucket"), b"").expect(200, "create bucket");
    assert_eq!(response.content_length(), Some(0));
    assert!(response.header("date").is_some_and(is_http_date));

    // List the empty bucket.
    let response = curl().get(&format!("{API}/testbucket")).expect(200, "list empty bucket");
    assert_eq!(response.header("content-type"), Some("application/xml"));
    let body = &response.body;
    assert!(response.text().contains("<ListBucketResult"), "{response}");
    assert_eq!(xml_value(body, "Name"), "testbucket");
    assert_eq!(xml_values(body, "Prefix"), vec![""]);
    assert_eq!(xml_value(body, "MaxKeys"), "1000");
    assert_eq!(xml_value(body, "IsTruncated"), "false");
    assert!(contents_keys(body).is_empty());

    // Upload an object with curl -T.
    let response = curl_upload(&mut curl(), &format!("{API}/testbucket/testobject"), &license).expect(200, "PUT -T");
    assert_eq!(response.etag(), Some(etag.as_str()));
    assert_eq!(response.content_length(), Some(0));

    // Get it back.
    let response = curl().get(&format!("{API}/testbucket/testobject")).expect(200, "GET object");
    assert_eq!(response.body, license);
    assert_eq!(response.content_length(), Some(26_847));
    let last_modified = response.header("last-modified").expect("Last-Modified");
    let modified = httpdate_parse(last_modified).unwrap_or_else(|| panic!("Last-Modified {last_modified:?}"));
    assert!(modified.abs_diff(now_seconds()) < 300);
    assert_eq!(response.etag(), Some(etag.as_str()));

    // List a bucket with one object.
    let response = curl().get(&format!("{API}/testbucket")).expect(200, "list one object");
    let body = &response.body;
    assert_eq!(xml_value(body, "Name"), "testbucket");
    assert_eq!(xml_value(body, "IsTruncated"), "false");
    let contents = xml_blocks(body, "Contents");
    assert_eq!(contents.len(), 1);
    assert_eq!(xml_value(&contents[0], "Key"), "testobject");
    assert_eq!(xml_value(&contents[0], "ETag"), etag);
    assert_eq!(xml_value(&contents[0], "Size"), "26847");
    assert_eq!(xml_value(&contents[0], "StorageClass"), "STANDARD");
    assert!(is_iso8601_millis(&xml_value(&contents[0], "LastModified")));

    // Upload more and page through them with max-keys and continuation-token.
    for key in ["key1", "key2", "key3"] {
        curl_upload(&mut curl(), &format!("{API}/testbucket/{key}"), &license).expect(200, key);
    }
    let response = curl().get(&format!("{API}/testbucket?max-keys=2")).expect(200, "?max-keys=2");
    let body = &response.body;
    assert_eq!(xml_value(body, "Name"), "testbucket");
    assert_eq!(contents_keys(body), vec!["key1", "key2"]);
    assert_eq!(xml_value(body, "MaxKeys"), "2");
    assert_eq!(xml_value(body, "IsTruncated"), "true");
    let tokens = xml_values(body, "NextContinuationToken");
    assert_eq!(
        tokens.len(),
        1,
        "the walkthrough pages with the NextContinuationToken of `?max-keys=2`, which has none here:\n{response}"
    );
    let token = tokens[0].clone();
    assert!(!token.is_empty());
    for content in xml_blocks(body, "Contents") {
        assert_eq!(xml_value(&content, "ETag"), etag);
        assert_eq!(xml_value(&content, "Size"), "26847");
    }

    let response = curl()
        .get(&format!("{API}/testbucket?max-keys=2&continuation-token={}", encode_query(&token)))
        .expect(200, "?max-keys=2&continuation-token");
    let body = &response.body;
    assert_eq!(xml_value(body, "Name"), "testbucket");
    assert_eq!(contents_keys(body), vec!["key3", "testobject"]);
    assert_eq!(xml_value(body, "ContinuationToken"), token);
    assert_eq!(xml_value(body, "KeyCount"), "2");
    assert_eq!(xml_value(body, "MaxKeys"), "2");
    assert_eq!(xml_value(body, "IsTruncated"), "false");
    assert!(xml_values(body, "NextContinuationToken").is_empty());

    // Delete the objects.
    for key in ["key1", "key2", "key3", "testobject"] {
        let response = curl().delete(&format!("{API}/testbucket/{key}")).expect(204, &format!("DELETE {key}"));
        assert!(response.body.is_empty());
        curl().get(&format!("{API}/testbucket/{key}")).expect_error(404, "NoSuchKey", key);
    }

    // Delete the empty bucket.
    curl().delete(&format!("{API}/testbucket")).expect(204, "DELETE bucket");
    curl().get(&format!("{API}/testbucket")).expect_error(404, "NoSuchBucket", "bucket gone");
    let response = curl().get(API).expect(200, "ListBuckets");
    assert!(xml_values(&response.body, "Bucket").is_empty());
}

#[test]
fn alluxio_walkthrough_pages_with_a_token_from_a_v2_listing() {
    // The same paging with list-type=2 on the first page, which every S3 client sends.
    let server = Server::start();
    let mut client = server.client();
    client.put(&format!("{API}/testbucket"), b"").expect(200, "create");
    for key in ["testobject", "key1", "key2", "key3"] {
        client.put(&format!("{API}/testbucket/{key}"), &license()).expect(200, key);
    }
    let response = client.get(&format!("{API}/testbucket?list-type=2&max-keys=2")).expect(200, "page 1");
    assert_eq!(contents_keys(&response.body), vec!["key1", "key2"]);
    assert_eq!(xml_value(&response.body, "IsTruncated"), "true");
    let token = xml_value(&response.body, "NextContinuationToken");
    // The walkthrough's follow-up omits list-type=2.
    let response = client
        .get(&format!("{API}/testbucket?max-keys=2&continuation-token={}", encode_query(&token)))
        .expect(200, "page 2 without list-type");
    assert_eq!(contents_keys(&response.body), vec!["key3", "testobject"]);
    assert_eq!(xml_value(&response.body, "IsTruncated"), "false");
}
