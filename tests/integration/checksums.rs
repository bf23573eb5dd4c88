//! `x-amz-checksum-*` on uploads: verified by default (BadDigest), returned with
//! `x-amz-checksum-mode: ENABLED`, and not enforced under `--skip-checksum-verification`.

use crate::support::*;

/// CRC-32 of "123456789" (the catalogue check value 0xCBF43926), base64 of its big-endian bytes.
const CHECK_INPUT: &[u8] = b"123456789";
const CHECK_CRC32: &str = "y/Q5Jg==";

#[test]
fn checksums_are_verified_stored_and_returned() {
    let server = Server::start();
    let mut client = server.client();
    client.put("/sums", b"").expect(200, "create bucket");
    client
        .request("PUT", "/sums/good", &[("x-amz-checksum-crc32", CHECK_CRC32)], CHECK_INPUT)
        .expect(200, "a correct checksum");
    client.request("PUT", "/sums/bad", &[("x-amz-checksum-crc32", "AAAAAA==")], CHECK_INPUT).expect_error(
        400,
        "BadDigest",
        "a wrong checksum",
    );
    client.head("/sums/bad").expect(404, "a refused upload leaves nothing");
    let plain = client.get("/sums/good").expect(200, "GET without checksum mode");
    assert_eq!(plain.header("x-amz-checksum-crc32"), None);
    let with_mode = client
        .request("GET", "/sums/good", &[("x-amz-checksum-mode", "ENABLED")], b"")
        .expect(200, "GET with checksum mode");
    assert_eq!(with_mode.header("x-amz-checksum-crc32"), Some(CHECK_CRC32));
    assert_eq!(with_mode.body, CHECK_INPUT);
    client.request("PUT", "/sums/malformed", &[("x-amz-checksum-crc32", "not base64!")], CHECK_INPUT).expect_error(
        400,
        "InvalidRequest",
        "a malformed checksum value",
    );
}

#[test]
fn the_operator_switch_turns_checksum_enforcement_off() {
    let server = Server::start_with(2, &["--skip-checksum-verification"]);
    let mut client = server.client();
    client.put("/lenient", b"").expect(200, "create bucket");
    client
        .request("PUT", "/lenient/k", &[("x-amz-checksum-crc32", "AAAAAA==")], CHECK_INPUT)
        .expect(200, "a wrong checksum is accepted when verification is off");
    assert_eq!(client.get("/lenient/k").expect(200, "read back").body, CHECK_INPUT);
    // Content-MD5 is still verified.
    client.request("PUT", "/lenient/md5", &[("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")], CHECK_INPUT).expect_error(
        400,
        "BadDigest",
        "Content-MD5 stays enforced",
    );
}
