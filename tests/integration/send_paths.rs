//! The two ways object bytes leave the server give the same bytes: the io_uring copy path
//! (the default) and sendfile (`--sendfile-min-bytes`), for whole objects, ranges inside one
//! block, ranges across the parts of a multipart object, and many GETs at once.
//!
//! sendfile is only ever used for ranges `cachestat(2)` finds in the page cache, so without it
//! (kernels before 6.5) every body is copied: the tests that need sendfile are then reported
//! ignored, and each test checks from the server's log (`sendfile(2) in use`, logged once)
//! which path really ran. test.sh also runs the whole integration suite with
//! `--sendfile-min-bytes 1` (every cached body by sendfile), see README.md, Tests.

use std::thread;

use crate::support::*;

/// Objects of several sizes, one of them multipart with parts of unequal size; returns
/// `(key path, bytes)` pairs.
fn store_objects(client: &mut Client, bucket: &str) -> Vec<(String, Vec<u8>)> {
    client.put(&format!("/{bucket}"), b"").expect(200, "create bucket");
    let mut objects = Vec::new();
    for (index, size) in [5_000usize, 70_000, 300_000, 3 * 1024 * 1024 + 17].into_iter().enumerate() {
        let key = format!("/{bucket}/single-{size}");
        let data = random_bytes(size, index as u64 + 1);
        client.put(&key, &data).expect(200, "put");
        objects.push((key, data));
    }
    let key = format!("/{bucket}/multipart");
    let parts = [random_bytes(1024 * 1024 + 3, 11), random_bytes(1024 * 1024, 12), random_bytes(200_001, 13)];
    let upload_id = initiate_upload(client, &key, &[]);
    let etags: Vec<String> =
        parts.iter().enumerate().map(|(i, part)| upload_part(client, &key, &upload_id, i as u32 + 1, part)).collect();
    let listed: Vec<(u32, &str)> = etags.iter().enumerate().map(|(i, etag)| (i as u32 + 1, etag.as_str())).collect();
    complete_upload(client, &key, &upload_id, &listed).expect(200, "complete");
    objects.push((key, parts.concat()));
    objects
}

fn check_reads(client: &mut Client, objects: &[(String, Vec<u8>)], context: &str) {
    for (key, data) in objects {
        let whole = client.get(key).expect(200, context);
        assert!(whole.body == *data, "{context}: {key} whole body differs");
        let length = data.len();
        for (first, last) in [(0, 0), (1, length / 2), (length / 3, length - 1), (length - 1, length - 1)] {
            let range = format!("bytes={first}-{last}");
            let part = client.request("GET", key, &[("Range", &range)], b"").expect(206, context);
            assert_eq!(part.content_length(), Some((last - first + 1) as u64), "{context}: {key} {range}");
            assert!(part.body == data[first..=last], "{context}: {key} {range} bytes differ");
        }
        let head = client.head(key).expect(200, context);
        assert_eq!(head.content_length(), Some(length as u64), "{context}: HEAD {key}");
    }
}

/// Whether the server logged that a body range went out with sendfile (once per process).
fn used_sendfile(server: &Server) -> bool {
    server.stderr().contains("sendfile(2) in use")
}

/// Whole objects, ranges and pipelined GETs through a server started with `flag` as
/// `--sendfile-min-bytes`; returns the server for its log.
fn serve_objects_and_ranges(flag: &str, context: &str) -> Server {
    let server = Server::start_with(1, &["--sendfile-min-bytes", flag]);
    let mut client = server.client();
    let objects = store_objects(&mut client, "send-paths");
    check_reads(&mut client, &objects, context);
    // Pipelined on one connection: each response must end exactly where it says.
    let requests: String =
        objects.iter().map(|(key, _)| format!("GET {key} HTTP/1.1\r\nHost: localhost\r\n\r\n")).collect();
    client.send(requests.as_bytes());
    for (key, data) in &objects {
        let response = client.read_response(false).expect(200, context);
        assert!(response.body == *data, "{context}: pipelined {key}");
    }
    server
}

#[test]
fn the_copy_path_serves_the_stored_bytes() {
    // One client at a time never exhausts the copying budget: nothing may go by sendfile.
    let server = serve_objects_and_ranges("0", "copy path");
    assert!(!used_sendfile(&server), "the copy path used sendfile; log:\n{}", server.stderr());
}

#[test]
#[cfg_attr(
    not(s3core_host_cachestat),
    ignore = "the build machine's kernel has no cachestat(2) (Linux 6.5+): sendfile is never chosen there"
)]
fn sendfile_serves_the_stored_bytes() {
    let server = serve_objects_and_ranges("1", "sendfile for every body");
    assert!(used_sendfile(&server), "--sendfile-min-bytes 1 never used sendfile; log:\n{}", server.stderr());
}

#[test]
fn many_concurrent_large_gets_beyond_the_buffer_leases_all_complete() {
    // 96 readers may exceed the 64 buffer leases of the core, so some responses may go out
    // with sendfile while others copy: every byte must still arrive. (Whether the leases run
    // out depends on timing; the next test makes sure they do.)
    let server = Server::start_with(1, &[]);
    let mut client = server.client();
    client.put("/budget", b"").expect(200, "create bucket");
    let data = random_bytes(2 * 1024 * 1024 + 5, 99);
    client.put("/budget/big", &data).expect(200, "put");
    let readers: Vec<_> = (0..96)
        .map(|_| {
            let mut client = server.client();
            let data = data.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    let response = client.get("/budget/big").expect(200, "concurrent GET");
                    assert!(response.body == data, "concurrent GET bytes differ");
                }
            })
        })
        .collect();
    for reader in readers {
        reader.join().expect("reader thread");
    }
}

#[test]
#[cfg_attr(
    not(s3core_host_cachestat),
    ignore = "the build machine's kernel has no cachestat(2) (Linux 6.5+): sendfile is never chosen there"
)]
fn a_get_beyond_the_copying_budget_goes_out_with_sendfile() {
    use std::io::{Read, Write};
    // The copy path holds one of the core's buffer leases for a whole response; readers that
    // stop reading keep theirs while the server waits on the socket. With every lease held, a
    // cached body goes out with sendfile even under --sendfile-min-bytes 0.
    const STALLED_READERS: usize = 64; // BUFFER_LEASES_MAX in src/server/core.rs
    let mut server = Server::start_with(1, &["--sendfile-min-bytes", "0"]);
    let mut client = server.client();
    client.put("/budget", b"").expect(200, "create bucket");
    // Far more than the socket buffers hold, so that every stalled response stays unfinished.
    let data = random_bytes(16 * 1024 * 1024, 7);
    client.put("/budget/big", &data).expect(200, "put");
    let mut stalled = Vec::new();
    for _ in 0..STALLED_READERS {
        let mut stream = connect(server.addr);
        stream.write_all(b"GET /budget/big HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
        let mut start = [0u8; 16];
        stream.read_exact(&mut start).expect("the response starts");
        assert!(start.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&start));
        stalled.push(stream);
    }
    assert!(!used_sendfile(&server), "sendfile before the leases ran out; log:\n{}", server.stderr());
    let got = client.get("/budget/big").expect(200, "GET with every lease held");
    assert!(got.body == data, "the GET beyond the copying budget got other bytes");
    assert!(used_sendfile(&server), "every lease was held and sendfile was not used; log:\n{}", server.stderr());
    drop(stalled);
    server.assert_serving("stalled readers gone");
}

/// Five clients ask for 8 MiB and leave after the first bytes; the server keeps serving.
/// Returns the server for its log.
fn clients_leave_mid_body(flag: &str) -> Server {
    use std::io::{Read, Write};
    let mut server = Server::start_with(1, &["--sendfile-min-bytes", flag]);
    let mut client = server.client();
    client.put("/leavers", b"").expect(200, "create bucket");
    let data = random_bytes(8 * 1024 * 1024, 5);
    client.put("/leavers/big", &data).expect(200, "put");
    for _ in 0..5 {
        // Ask for 8 MiB, read a little, then close with most of the body unsent.
        let mut stream = connect(server.addr);
        stream.write_all(b"GET /leavers/big HTTP/1.1\r\nHost: localhost\r\n\r\n").expect("request");
        let mut start = [0u8; 4096];
        let read = stream.read(&mut start).expect("first bytes");
        assert!(read > 0 && start.starts_with(b"HTTP/1.1 200"), "--sendfile-min-bytes {flag}");
        drop(stream);
    }
    server.assert_serving(&format!("clients leaving mid-body, --sendfile-min-bytes {flag}"));
    let again = client.get("/leavers/big").expect(200, "a full GET afterwards");
    assert!(again.body == data, "--sendfile-min-bytes {flag}: bytes after the leavers");
    server
}

#[test]
fn clients_leaving_mid_body_on_the_copy_path_leave_the_server_serving() {
    let server = clients_leave_mid_body("0");
    assert!(!used_sendfile(&server), "the copy path used sendfile; log:\n{}", server.stderr());
}

#[test]
#[cfg_attr(
    not(s3core_host_cachestat),
    ignore = "the build machine's kernel has no cachestat(2) (Linux 6.5+): sendfile is never chosen there"
)]
fn clients_leaving_mid_body_with_sendfile_leave_the_server_serving() {
    let server = clients_leave_mid_body("1");
    assert!(used_sendfile(&server), "--sendfile-min-bytes 1 never used sendfile; log:\n{}", server.stderr());
}
