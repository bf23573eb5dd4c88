//! DeleteObjects (`POST /bucket?delete`): results, quiet mode, validation of the document.

use crate::support::*;

fn delete_document(keys: &[&str], quiet: bool) -> String {
    let mut document = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    for key in keys {
        document.push_str(&format!("<Object><Key>{}</Key></Object>", xml_escape(key)));
    }
    if quiet {
        document.push_str("<Quiet>true</Quiet>");
    }
    document.push_str("</Delete>");
    document
}

/// POST ?delete with a correct Content-MD5 (as SDKs send it).
fn post_delete(client: &mut Client, prefix: &str, bucket: &str, document: &[u8]) -> Response {
    client.request("POST", &format!("{prefix}/{bucket}?delete"), &[("Content-MD5", &md5_base64(document))], document)
}

#[test]
fn deletes_existing_keys_and_reports_missing_ones_as_deleted() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = if prefix.is_empty() { "multi-root" } else { "multi-prefix" };
        create_bucket(&mut client, prefix, bucket);
        client.put(&format!("{prefix}/{bucket}/one"), b"1").expect(200, "put one");
        client.put(&format!("{prefix}/{bucket}/dir/two"), &random_bytes(100_000, 2)).expect(200, "put two");
        client.put(&format!("{prefix}/{bucket}/keep"), b"kept").expect(200, "put keep");
        let document = delete_document(&["one", "dir/two", "never-existed"], false);
        let response = post_delete(&mut client, prefix, bucket, document.as_bytes()).expect(200, "DeleteObjects");
        assert_eq!(response.header("content-type"), Some("application/xml"));
        assert!(response.text().contains("<DeleteResult"), "{response}");
        let mut deleted: Vec<String> =
            xml_blocks(&response.body, "Deleted").iter().map(|d| xml_value(d, "Key")).collect();
        deleted.sort();
        assert_eq!(deleted, vec!["dir/two", "never-existed", "one"], "S3 reports missing keys as deleted");
        assert!(xml_blocks(&response.body, "Error").is_empty(), "{response}");
        client.get(&format!("{prefix}/{bucket}/one")).expect_error(404, "NoSuchKey", "one deleted");
        client.get(&format!("{prefix}/{bucket}/dir/two")).expect_error(404, "NoSuchKey", "two deleted");
        assert_eq!(client.get(&format!("{prefix}/{bucket}/keep")).expect(200, "keep kept").body, b"kept");
        assert_eq!(list_all_keys_v2(&mut client, prefix, bucket, ""), vec!["keep"]);
    }
}

#[test]
fn quiet_mode_reports_no_deleted_elements() {
    let server = Server::start();
    let mut client = server.client();
    for prefix in PREFIXES {
        let bucket = if prefix.is_empty() { "quiet-root" } else { "quiet-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for key in ["a", "b", "c"] {
            client.put(&format!("{prefix}/{bucket}/{key}"), key.as_bytes()).expect(200, key);
        }
        let document = delete_document(&["a", "b", "missing"], true);
        let response = post_delete(&mut client, prefix, bucket, document.as_bytes()).expect(200, "quiet");
        assert!(response.text().contains("<DeleteResult"), "{response}");
        assert!(xml_blocks(&response.body, "Deleted").is_empty(), "quiet mode lists no <Deleted>: {response}");
        assert!(xml_blocks(&response.body, "Error").is_empty(), "{response}");
        assert_eq!(list_all_keys_v2(&mut client, prefix, bucket, ""), vec!["c"]);
    }
}

#[test]
fn keys_with_xml_special_characters_are_deleted_and_echoed_escaped() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "special-delete");
    let keys = ["a&b", "<tag>", "quote\"d", "space key", "é/€"];
    for key in keys {
        client.put(&format!("/special-delete/{}", encode_path(key)), b"x").expect(200, key);
    }
    let document = delete_document(&keys, false);
    let response = post_delete(&mut client, "", "special-delete", document.as_bytes()).expect(200, "delete");
    let mut deleted: Vec<String> = xml_blocks(&response.body, "Deleted").iter().map(|d| xml_value(d, "Key")).collect();
    deleted.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(deleted, expected);
    assert!(response.text().contains("<Key>a&amp;b</Key>"), "{response}");
    assert!(list_all_keys_v2(&mut client, "", "special-delete", "").is_empty());
}

#[test]
fn malformed_documents_are_refused() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "malformed");
    client.put("/malformed/a", b"a").expect(200, "put");
    for prefix in PREFIXES {
        for document in [
            "not xml at all",
            "<Delete><Object><Key>a</Key></Object>",
            "<Delete><Object><Key>a</Key></Delete>",
            "<Delete></Delete>",
            "<Other><Object><Key>a</Key></Object></Other>",
            "<Delete><Object></Object></Delete>",
            "<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>",
        ] {
            let response = post_delete(&mut client, prefix, "malformed", document.as_bytes());
            response.expect_error(400, "MalformedXML", &format!("document {document:?}"));
        }
    }
    assert_eq!(client.get("/malformed/a").expect(200, "nothing deleted").body, b"a");
}

#[test]
fn more_than_1000_keys_are_refused_and_1000_are_accepted() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "thousand");
    client.put("/thousand/key-0000", b"x").expect(200, "put");
    let names: Vec<String> = (0..1001).map(|i| format!("key-{i:04}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    for prefix in PREFIXES {
        let document = delete_document(&all, false);
        post_delete(&mut client, prefix, "thousand", document.as_bytes()).expect_error(
            400,
            "MalformedXML",
            "1001 keys",
        );
    }
    assert_eq!(client.get("/thousand/key-0000").expect(200, "nothing deleted").body, b"x");
    let document = delete_document(&all[..1000], false);
    let response = post_delete(&mut client, "", "thousand", document.as_bytes()).expect(200, "1000 keys");
    assert_eq!(xml_blocks(&response.body, "Deleted").len(), 1000);
    client.get("/thousand/key-0000").expect(404, "deleted");
}

#[test]
fn content_md5_of_the_document_is_verified() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "md5-delete");
    client.put("/md5-delete/a", b"a").expect(200, "put");
    let document = delete_document(&["a"], false);
    for prefix in PREFIXES {
        client
            .request(
                "POST",
                &format!("{prefix}/md5-delete?delete"),
                &[("Content-MD5", &md5_base64(b"another document"))],
                document.as_bytes(),
            )
            .expect_error(400, "BadDigest", "wrong Content-MD5");
        client
            .request("POST", &format!("{prefix}/md5-delete?delete"), &[("Content-MD5", "garbage")], document.as_bytes())
            .expect_error(400, "InvalidDigest", "garbage Content-MD5");
    }
    assert_eq!(client.get("/md5-delete/a").expect(200, "not deleted").body, b"a");
    // Without Content-MD5 (newer SDKs send a checksum header instead) it is accepted.
    client.post("/md5-delete?delete", document.as_bytes()).expect(200, "no Content-MD5");
    client.get("/md5-delete/a").expect(404, "deleted");
}

#[test]
fn missing_bucket_is_404() {
    let server = Server::start();
    let mut client = server.client();
    let document = delete_document(&["a"], false);
    for prefix in PREFIXES {
        post_delete(&mut client, prefix, "no-such-bucket", document.as_bytes()).expect_error(
            404,
            "NoSuchBucket",
            "missing",
        );
    }
}
