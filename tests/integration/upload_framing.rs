//! What S3 requires of an upload's framing, answered before any resource is looked at:
//! a length (411 MissingContentLength), a size within the limits (400 EntityTooLarge before
//! any free-space check), and a body that keeps arriving (400 RequestTimeout when it dribbles
//! in below the minimum rate, however regular the dribble).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn put_object_and_upload_part_without_a_length_answer_411() {
    let server = Server::start();
    let mut client = server.client();
    client.put("/framing", b"").expect(200, "create bucket");
    let created = client.post("/framing/part?uploads", b"").expect(200, "create upload");
    let upload_id = xml_value(&created.body, "UploadId");
    for target in ["/framing/plain".to_string(), format!("/framing/part?partNumber=1&uploadId={upload_id}")] {
        // Neither Content-Length nor Transfer-Encoding: the body's end cannot be known.
        let reply = send_raw_full(server.addr, format!("PUT {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        reply.response().expect_error(411, "MissingContentLength", &target);
    }
    // With a length, both work.
    client.put("/framing/plain", b"abc").expect(200, "put with a length");
    client
        .request("PUT", &format!("/framing/part?partNumber=1&uploadId={upload_id}"), &[], b"abc")
        .expect(200, "part with a length");
}

#[test]
fn a_size_beyond_the_limit_is_entity_too_large_before_any_space_check() {
    let server = Server::start();
    let mut client = server.client();
    client.put("/huge", b"").expect(200, "create bucket");
    let created = client.post("/huge/mp?uploads", b"").expect(200, "create upload");
    let upload_id = xml_value(&created.body, "UploadId");
    // 2^63 bytes: no disk has room, but the size limit is what S3 names.
    for target in ["/huge/object".to_string(), format!("/huge/mp?partNumber=1&uploadId={upload_id}")] {
        let head = format!("PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n");
        let reply = send_raw_full(server.addr, head.as_bytes());
        reply.response().expect_error(400, "EntityTooLarge", &target);
    }
    // Just above the single-PUT limit (5 GiB) too.
    let head = "PUT /huge/object HTTP/1.1\r\nHost: x\r\nContent-Length: 5368709121\r\n\r\n";
    send_raw_full(server.addr, head.as_bytes()).response().expect_error(400, "EntityTooLarge", "5 GiB + 1");
    client.get("/huge/object").expect_error(404, "NoSuchKey", "nothing was stored");
}

#[test]
fn a_body_dribbled_below_the_minimum_rate_is_cut_off() {
    let mut server = Server::start();
    let mut client = server.client();
    client.put("/slow", b"").expect(200, "create bucket");
    let mut stream = connect(server.addr);
    let started = Instant::now();
    stream.write_all(b"PUT /slow/body HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n").expect("send head");
    let mut answered = Vec::new();
    // 100 bytes every 2 s: each read arrives well within the 30 s read timeout, but at 50 B/s
    // the body would take almost six hours.
    for _ in 0..40 {
        if stream.write_all(&[b'x'; 100]).is_err() {
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(1), &mut answered) || !answered.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let _ = closed_within(&mut stream, Duration::from_secs(5), &mut answered);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answered);
    assert!(text.starts_with("HTTP/1.1 400"), "expected 400 RequestTimeout, got {text:?} after {elapsed:?}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    assert!(elapsed < Duration::from_secs(45), "the body deadline did not hold: {elapsed:?}");
    client.get("/slow/body").expect_error(404, "NoSuchKey", "nothing of the slow body was stored");
    server.assert_serving("after a slow body");
}
