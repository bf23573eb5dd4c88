//! Virtual-hosted-style addressing (`bucket.domain/key`) beside path-style, when the operator
//! names the domain.

use crate::support::*;

#[test]
fn virtual_hosted_requests_reach_the_same_objects_as_path_style() {
    let server = Server::start_with(2, &["--virtual-host-domain", "s3.test.local"]);
    let mut client = server.client();
    client.put("/vhost-bucket", b"").expect(200, "create bucket path-style");
    client.put("/vhost-bucket/dir/a%20b.txt", b"hello").expect(200, "put path-style");
    let got = client
        .request("GET", "/dir/a%20b.txt", &[("Host", "vhost-bucket.s3.test.local:39999")], b"")
        .expect(200, "virtual-hosted GET");
    assert_eq!(got.body, b"hello");
    client
        .request("PUT", "/other.txt", &[("Host", "vhost-bucket.s3.test.local")], b"world")
        .expect(200, "virtual-hosted PUT");
    assert_eq!(client.get("/vhost-bucket/other.txt").expect(200, "path-style GET").body, b"world");
    let listing = client
        .request("GET", "/?list-type=2", &[("Host", "vhost-bucket.s3.test.local")], b"")
        .expect(200, "virtual-hosted list");
    assert_eq!(xml_values(&listing.body, "Key"), ["dir/a b.txt", "other.txt"]);
    // The bare domain and other hosts stay path-style.
    let listing = client.request("GET", "/vhost-bucket?list-type=2", &[("Host", "s3.test.local")], b"");
    assert_eq!(xml_values(&listing.expect(200, "bare domain is path-style").body, "Key").len(), 2);
    client.request("GET", "/dir/a%20b.txt", &[("Host", "missing.s3.test.local")], b"").expect_error(
        404,
        "NoSuchBucket",
        "unknown virtual-hosted bucket",
    );
}
