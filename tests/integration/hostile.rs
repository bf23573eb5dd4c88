//! Hostile and broken clients: every case gets a clean refusal (or a clean close), and the
//! server keeps serving: after each case a normal request on a NEW connection succeeds.

use std::io::Write;
use std::sync::Barrier;
use std::time::Duration;

use crate::support::*;

/// Sends `bytes` on a new connection; asserts the answer's status and that the server closed.
#[track_caller]
fn refused_and_closed(server: &mut Server, bytes: &[u8], status: u16, context: &str) -> Response {
    let reply = send_raw_full(server.addr, bytes);
    assert!(!reply.bytes.is_empty(), "{context}: the server closed without answering");
    let response = reply.response();
    assert_eq!(response.status, status, "{context}: {response}");
    assert!(reply.closed, "{context}: the server kept the connection open after refusing its head");
    server.assert_serving(context);
    response
}

#[test]
fn garbage_bytes_get_400_and_a_close() {
    let mut server = Server::start();
    for (bytes, context) in [
        (&b"\x00\x01\x02\x03\xff\xfe garbage\r\n\r\n"[..], "binary garbage"),
        (b"GET / HTTP/2.0\r\n\r\n", "HTTP/2.0 request line"),
        (b"GET / FOO/1.1\r\n\r\n", "unknown protocol"),
        (b"GET\r\n\r\n", "request line without a target"),
        (b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", "header without a colon"),
        (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "space in a header name"),
        (b"\r\n\r\n\r\n\r\nx\r\n\r\n", "blank lines then junk"),
    ] {
        let response = refused_and_closed(&mut server, bytes, 400, context);
        assert!(error_code(&response.body).is_some(), "{context}: an S3 error document: {response}");
    }
}

#[test]
fn oversized_heads_get_431_and_a_close() {
    let mut server = Server::start();
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 40 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let response = refused_and_closed(&mut server, &big, 431, "one 40 KiB header");
    assert_eq!(error_code(&response.body).as_deref(), Some("RequestHeaderSectionTooLarge"));

    let mut spread = b"PUT /b/k HTTP/1.1\r\nHost: x\r\n".to_vec();
    for index in 0..30 {
        spread.extend_from_slice(format!("x-amz-meta-h{index}: {}\r\n", "v".repeat(1400)).as_bytes());
    }
    spread.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    refused_and_closed(&mut server, &spread, 431, "40 KiB over 30 headers");

    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for index in 0..200 {
        many.extend_from_slice(format!("X-H{index}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    refused_and_closed(&mut server, &many, 431, "200 headers");

    // A big head without its end (a client that never finishes it) is refused at the limit.
    let mut endless = b"GET / HTTP/1.1\r\nX-Endless: ".to_vec();
    endless.extend(std::iter::repeat_n(b'b', 64 * 1024));
    refused_and_closed(&mut server, &endless, 431, "64 KiB of unfinished head");
}

#[test]
fn a_20_kib_url_gets_400() {
    let mut server = Server::start();
    let request = format!("GET /bucket/{} HTTP/1.1\r\nHost: x\r\n\r\n", "k".repeat(20 * 1024));
    refused_and_closed(&mut server, request.as_bytes(), 400, "20 KiB URL");
    let request = format!("GET /bucket?prefix={} HTTP/1.1\r\nHost: x\r\n\r\n", "p".repeat(20 * 1024));
    refused_and_closed(&mut server, request.as_bytes(), 400, "20 KiB query");
}

#[test]
fn bad_body_framing_gets_400() {
    let mut server = Server::start();
    server.client().put("/framing", b"").expect(200, "bucket");
    for (request, context) in [
        (&b"PUT /framing/k HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc"[..], "non-numeric Content-Length"),
        (b"PUT /framing/k HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "negative Content-Length"),
        (b"PUT /framing/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", "Content-Length 1e3"),
        (
            b"PUT /framing/k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "Content-Length and Transfer-Encoding",
        ),
    ] {
        let response = refused_and_closed(&mut server, request, 400, context);
        assert!(error_code(&response.body).is_some(), "{context}: {response}");
        server.client().get("/framing/k").expect_error(404, "NoSuchKey", context);
    }
    // An unknown transfer coding is refused too (501 as S3 does, or 400).
    let reply = send_raw_full(
        server.addr,
        b"PUT /framing/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let status = reply.response().status;
    assert!(status == 400 || status == 501, "Transfer-Encoding: gzip, chunked: {status}");
    server.assert_serving("unknown transfer coding");
    server.client().get("/framing/k").expect_error(404, "NoSuchKey", "nothing stored");
}

#[test]
fn conflicting_content_lengths_are_refused() {
    // Two different Content-Length values: the body length is ambiguous (request smuggling),
    // RFC 9112 §6.3 requires a 400.
    let mut server = Server::start();
    server.client().put("/smuggle", b"").expect(200, "bucket");
    let request = b"PUT /smuggle/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 32\r\n\r\n\
        helloGET /smuggle/k HTTP/1.1\r\n\r\n";
    let reply = send_raw_full(server.addr, request);
    let responses = parse_responses(&reply.bytes);
    assert!(!responses.is_empty(), "no answer");
    assert_eq!(responses[0].status, 400, "conflicting Content-Length headers were accepted: {}", responses[0]);
    server.assert_serving("conflicting Content-Length");
}

#[test]
fn bad_chunk_framing_gets_a_400_class_error() {
    let mut server = Server::start();
    server.client().put("/chunks", b"").expect(200, "bucket");
    for (body, context) in [
        (&b"zz\r\nhello\r\n0\r\n\r\n"[..], "non-hex chunk size"),
        (b"5\r\nhelloX0\r\n\r\n", "chunk data without CRLF"),
        (b"5\nhello\r\n0\r\n\r\n", "size line without CR"),
        (b"fffffffffffffffff\r\n", "chunk size overflow"),
        (b"3\r\nabc\r\n0\r\nno-colon-trailer\r\n\r\n", "malformed trailer"),
    ] {
        let mut request = b"PUT /chunks/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(body);
        let reply = send_raw_full(server.addr, &request);
        let response = reply.response();
        assert!((400..500).contains(&response.status), "{context}: {response}");
        assert!(reply.closed, "{context}: a body out of step must close the connection");
        server.assert_serving(context);
        server.client().get("/chunks/k").expect_error(404, "NoSuchKey", context);
    }
    // aws-chunked whose decoded size disagrees with x-amz-decoded-content-length.
    let body = b"5\r\nhello\r\n0\r\n\r\n";
    let request = [
        format!(
            "PUT /chunks/k HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nContent-Encoding: aws-chunked\r\n\
             x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-decoded-content-length: 6\r\n\r\n",
            body.len()
        )
        .as_bytes(),
        body,
    ]
    .concat();
    let response = send_raw_full(server.addr, &request).response();
    assert_eq!(response.status, 400, "aws-chunked length mismatch: {response}");
    server.assert_serving("aws-chunked length mismatch");
    server.client().get("/chunks/k").expect_error(404, "NoSuchKey", "nothing stored");
}

#[test]
fn a_client_that_leaves_mid_body_leaves_nothing_visible() {
    let mut server = Server::start();
    server.client().put("/abandoned", b"").expect(200, "bucket");
    server.client().put("/abandoned/existing", b"old").expect(200, "existing");
    for (key, length, sent) in
        [("small", 1000usize, 500usize), ("large", 3 * 1024 * 1024, 1536 * 1024), ("existing", 4000, 10)]
    {
        let data = random_bytes(sent, length as u64);
        // Half-close: the server sees the end of the stream and must refuse the upload.
        let mut stream = connect(server.addr);
        let head = format!("PUT /abandoned/{key} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&data).unwrap();
        shutdown_write(&stream);
        let reply = read_reply(&mut stream);
        if let Some(response) = parse_response(&reply.bytes) {
            assert_eq!(response.status, 400, "{key}: a truncated upload must not succeed: {response}");
        }
        server.assert_serving(&format!("half body of {key}, half-closed"));
        // Abrupt close.
        let mut stream = connect(server.addr);
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&data).unwrap();
        drop(stream);
        std::thread::sleep(Duration::from_millis(200));
        server.assert_serving(&format!("half body of {key}, dropped"));
        let mut client = server.client();
        if key == "existing" {
            assert_eq!(client.get("/abandoned/existing").expect(200, "old kept").body, b"old");
        } else {
            client.get(&format!("/abandoned/{key}")).expect_error(404, "NoSuchKey", key);
        }
    }
    assert_eq!(list_all_keys_v2(&mut server.client(), "", "abandoned", ""), vec!["existing"]);
}

#[test]
fn invalid_percent_encoding_gets_400_invalid_uri() {
    let mut server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "encoding");
    client.put("/encoding/k", b"k").expect(200, "put");
    for prefix in PREFIXES {
        for target in [
            "/encoding/%zz",
            "/encoding/bad%",
            "/encoding/bad%4",
            "/encoding/%FF",
            "/encoding/%C3%28",
            "/encoding/%ED%A0%80",
            "/%FFbucket/k",
            "/encoding?prefix=%zz",
            "/encoding?list-type=2&prefix=%FF",
        ] {
            let target = format!("{prefix}{target}");
            for method in ["GET", "PUT", "HEAD"] {
                let response = client.request(method, &target, &[], b"");
                if method == "HEAD" {
                    response.expect(400, &format!("{method} {target}"));
                } else {
                    response.expect_error(400, "InvalidURI", &format!("{method} {target}"));
                }
            }
        }
    }
    assert_eq!(list_all_keys_v2(&mut client, "", "encoding", ""), vec!["k"], "nothing was stored");
    server.assert_serving("invalid percent-encoding");
}

#[test]
fn delete_objects_with_a_doctype_or_entities_is_malformed() {
    let mut server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "entities");
    client.put("/entities/a", b"a").expect(200, "put");
    let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n\
        <Delete><Object><Key>&lol3;</Key></Object></Delete>";
    let external = "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
        <Delete><Object><Key>&x;</Key></Object></Delete>";
    let named =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE d [<!ENTITY k \"a\">]><Delete><Object><Key>&k;</Key></Object></Delete>";
    let undefined = "<Delete><Object><Key>&undefined;</Key></Object></Delete>";
    for document in [laughs, external, named, undefined] {
        client
            .request(
                "POST",
                "/entities?delete",
                &[("Content-MD5", &md5_base64(document.as_bytes()))],
                document.as_bytes(),
            )
            .expect_error(400, "MalformedXML", document);
    }
    assert_eq!(client.get("/entities/a").expect(200, "entity did not delete a").body, b"a");
    server.assert_serving("DOCTYPE");
}

#[test]
fn an_oversized_upload_is_refused_before_its_body() {
    let mut server = Server::start();
    server.client().put("/oversized", b"").expect(200, "bucket");
    let request = b"PUT /oversized/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5368709121\r\n\r\nstart of a huge body";
    let reply = send_raw_full(server.addr, request);
    let response = reply.response();
    assert_eq!(response.status, 400, "{response}");
    assert_eq!(error_code(&response.body).as_deref(), Some("EntityTooLarge"));
    server.assert_serving("5 GiB + 1 upload");
    server.client().get("/oversized/k").expect_error(404, "NoSuchKey", "nothing stored");
}

#[test]
fn fifty_concurrent_connections_put_and_get() {
    let mut server = Server::start();
    server.client().put("/concurrent", b"").expect(200, "bucket");
    let clients = 50;
    let barrier = Barrier::new(clients);
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for thread in 0..clients {
            let addr = server.addr;
            let barrier = &barrier;
            handles.push(scope.spawn(move || {
                let mut client = Client::new(addr);
                client.get("/").expect(200, "connect");
                barrier.wait();
                for (index, size) in [100usize, 4097, 40_000, 300_000].into_iter().enumerate() {
                    let data = random_bytes(size, (thread * 10 + index) as u64);
                    let path = format!("/concurrent/t{thread:02}/object-{index}");
                    let put = client.put(&path, &data).expect(200, &path);
                    assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()));
                    let got = client.get(&path).expect(200, &path);
                    assert!(got.body == data, "{path}: other bytes");
                }
                // Everyone also writes the same key: one of the versions wins whole.
                let data = random_bytes(10_000, 5_000 + thread as u64);
                client.put("/concurrent/shared", &data).expect(200, "shared");
                assert_eq!(client.connections_opened, 1);
            }));
        }
        for handle in handles {
            handle.join().expect("a client thread failed");
        }
    });
    let mut client = server.client();
    let keys = list_all_keys_v2(&mut client, "", "concurrent", "");
    assert_eq!(keys.len(), clients * 4 + 1);
    let shared = client.get("/concurrent/shared").expect(200, "shared");
    let etag = shared.etag().unwrap().to_string();
    assert!(
        (0..clients).any(|thread| quoted_md5(&random_bytes(10_000, 5_000 + thread as u64)) == etag),
        "the shared key holds none of the written versions"
    );
    assert_eq!(quoted_md5(&shared.body), etag);
    server.assert_serving("50 concurrent clients");
}

/// Slow-loris: a head dribbled in a line every two seconds (each read well inside the 30 s
/// read timeout) is cut off once the whole head has taken 30 s, with 400 RequestTimeout.
#[test]
fn a_dribbled_head_is_cut_off_after_the_read_timeout() {
    let mut server = Server::start();
    let mut stream = connect(server.addr);
    let started = std::time::Instant::now();
    stream.write_all(b"GET / HTTP/1.1\r\n").expect("send request line");
    let mut answered = Vec::new();
    for index in 0..30 {
        std::thread::sleep(Duration::from_secs(2));
        if stream.write_all(format!("X-Slow-{index}: a\r\n").as_bytes()).is_err() {
            break;
        }
        if closed_within(&mut stream, Duration::from_millis(1), &mut answered) || !answered.is_empty() {
            break;
        }
    }
    let _ = closed_within(&mut stream, Duration::from_secs(5), &mut answered);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answered);
    assert!(text.starts_with("HTTP/1.1 400"), "expected 400 RequestTimeout, got {text:?} after {elapsed:?}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    assert!(elapsed < Duration::from_secs(45), "the head deadline did not hold: {elapsed:?}");
    server.assert_serving("after a slow-loris client");
}
