//! HTTP/1.1 on the wire: keep-alive, pipelining, `Expect: 100-continue`, chunked and
//! aws-chunked bodies, HEAD framing, standard response headers, connection closing.

use std::collections::HashSet;
use std::io::Write;

use crate::support::*;

/// `Transfer-Encoding: chunked` framing of `data` in pieces of `sizes` (cycled), with a chunk
/// extension on the first chunk.
fn http_chunked(data: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut index = 0;
    while at < data.len() {
        let size = sizes[index % sizes.len()].min(data.len() - at);
        if index == 0 {
            out.extend_from_slice(format!("{size:x};name=value\r\n").as_bytes());
        } else {
            out.extend_from_slice(format!("{size:X}\r\n").as_bytes());
        }
        out.extend_from_slice(&data[at..at + size]);
        out.extend_from_slice(b"\r\n");
        at += size;
        index += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The base64 big-endian CRC32 that SDKs send in `x-amz-checksum-crc32`.
fn crc32_base64(data: &[u8]) -> String {
    base64(&crc32fast::hash(data).to_be_bytes())
}

/// aws-chunked as the SDKs send it with STREAMING-UNSIGNED-PAYLOAD-TRAILER.
fn aws_chunked_unsigned(data: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{}\r\n\r\n", crc32_base64(data)).as_bytes());
    out
}

/// aws-chunked as SigV4 streaming uploads send it (STREAMING-AWS4-HMAC-SHA256-PAYLOAD).
fn aws_chunked_signed(data: &[u8], chunk: usize) -> Vec<u8> {
    let signature = |index: usize| format!("{:064x}", index as u128 * 0x1234_5678_9abc_def1 + 7);
    let mut out = Vec::new();
    let mut index = 0;
    for piece in data.chunks(chunk) {
        out.extend_from_slice(format!("{:x};chunk-signature={}\r\n", piece.len(), signature(index)).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
        index += 1;
    }
    out.extend_from_slice(format!("0;chunk-signature={}\r\n\r\n", signature(index)).as_bytes());
    out
}

const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/s3/aws4_request, \
    SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "keepalive-root" } else { "keepalive-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for index in 0..10 {
            let body = random_bytes(100 + index * 1000, index as u64);
            let key = format!("{prefix}/{bucket}/object-{index}");
            let put = client.put(&key, &body).expect(200, "put on a kept-alive connection");
            assert_eq!(put.etag(), Some(quoted_md5(&body).as_str()));
            assert!(put.header("connection").is_none(), "keep-alive PUT must not announce close: {put}");
            let got = client.get(&key).expect(200, "get on a kept-alive connection");
            assert_eq!(got.body, body);
        }
        client.delete(&format!("{prefix}/{bucket}/object-0")).expect(204, "delete");
        client.head(&format!("{prefix}/{bucket}/object-1")).expect(200, "head");
        client.get(&format!("{prefix}/{bucket}/missing")).expect_error(404, "NoSuchKey", "missing key");
        client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list");
        // An error answer keeps the connection too.
        client.get(&format!("{prefix}/{bucket}/after-error")).expect_error(404, "NoSuchKey", "after error");
        assert_eq!(client.connections_opened, 1, "every request must have reused the first connection");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "pipeline-root" } else { "pipeline-prefix" };
        create_bucket(&mut client, prefix, bucket);
        let small = b"hello pipelined world".to_vec();
        let large = random_bytes(20_000, 42);
        let k1 = format!("{prefix}/{bucket}/k1");
        let k2 = format!("{prefix}/{bucket}/k2");
        let mut batch = Vec::new();
        let mut add = |method: &str, path: &str, body: &[u8]| {
            batch.extend_from_slice(build_head(method, path, &[], body.len(), true).as_bytes());
            batch.extend_from_slice(body);
        };
        add("PUT", &k1, &small);
        add("PUT", &k2, &large);
        add("GET", &k1, b"");
        add("HEAD", &k2, b"");
        add("GET", &k2, b"");
        add("GET", &format!("{prefix}/{bucket}/nope"), b"");
        add("DELETE", &k1, b"");
        add("GET", &k1, b"");
        client.send(&batch);
        let put1 = client.read_response(false).expect(200, "pipelined PUT k1");
        assert_eq!(put1.etag(), Some(quoted_md5(&small).as_str()));
        let put2 = client.read_response(false).expect(200, "pipelined PUT k2");
        assert_eq!(put2.etag(), Some(quoted_md5(&large).as_str()));
        let get1 = client.read_response(false).expect(200, "pipelined GET k1");
        assert_eq!(get1.body, small);
        let head2 = client.read_response(true).expect(200, "pipelined HEAD k2");
        assert_eq!(head2.content_length(), Some(large.len() as u64));
        let get2 = client.read_response(false).expect(200, "pipelined GET k2");
        assert_eq!(get2.body, large);
        client.read_response(false).expect_error(404, "NoSuchKey", "pipelined GET of a missing key");
        client.read_response(false).expect(204, "pipelined DELETE");
        client.read_response(false).expect_error(404, "NoSuchKey", "pipelined GET after DELETE");
        assert!(client.pending().is_empty(), "bytes after the last response: {:?}", client.pending());
        // The connection is still usable afterwards.
        client.get(&k2).expect(200, "after the pipeline");
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn expect_100_continue_gets_interim_response_before_the_final_one() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "continue-root" } else { "continue-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for (index, size) in [26_847usize, 100, 2 * 1024 * 1024 + 3].into_iter().enumerate() {
            let body = random_bytes(size, 100 + index as u64);
            let key = format!("{prefix}/{bucket}/object-{size}");
            let length = size.to_string();
            let head = build_head(
                "PUT",
                &key,
                &[("Content-Length", &length), ("Expect", "100-continue"), ("User-Agent", "curl/8.5.0")],
                size,
                false,
            );
            client.send(head.as_bytes());
            // Only the head is sent: the server must answer 100 before we send anything else.
            let interim = client.read_response(false);
            assert_eq!(interim.status, 100, "expected HTTP/1.1 100 Continue before the body, got {interim}");
            assert!(interim.body.is_empty());
            client.send(&body);
            let done = client.read_final_response(false).expect(200, "PUT after 100 Continue");
            assert_eq!(done.etag(), Some(quoted_md5(&body).as_str()));
            assert!(done.interim.is_empty(), "a second interim response: {:?}", done.interim);
            let got = client.get(&key).expect(200, "GET after an Expect PUT");
            assert_eq!(got.body, body, "{key}");
        }
        assert_eq!(client.connections_opened, 1);
    }
}

/// Regression: the botocore bundled with the AWS CLI misread the next response on a kept-alive
/// connection when an empty-bodied `Expect: 100-continue` PUT (`aws s3 sync` of an empty file)
/// got its final answer with no `100 Continue` first.
#[test]
fn expect_100_continue_with_an_empty_body_still_gets_the_interim_response() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "continue-empty");
    let head =
        build_head("PUT", "/continue-empty/empty", &[("Content-Length", "0"), ("Expect", "100-continue")], 0, false);
    client.send(head.as_bytes());
    let interim = client.read_response(false);
    assert_eq!(interim.status, 100, "expected 100 Continue first, got {interim}");
    let done = client.read_final_response(false).expect(200, "empty PUT after 100 Continue");
    assert_eq!(done.etag(), Some(quoted_md5(b"").as_str()));
    // The connection stays in step: the next request gets its own answer.
    let got = client.get("/continue-empty/empty").expect(200, "GET on the same connection");
    assert!(got.body.is_empty());
    assert_eq!(client.connections_opened, 1);
}

#[test]
fn expect_100_continue_refused_request_gets_its_final_answer_without_the_body() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        // A large PUT to a missing bucket: refused before the body is wanted.
        let head = build_head(
            "PUT",
            &format!("{prefix}/no-such-bucket/key"),
            &[("Content-Length", "10485760"), ("Expect", "100-continue")],
            0,
            false,
        );
        client.send(head.as_bytes());
        let answer = client.read_response(false);
        assert_eq!(answer.status, 404, "a refused Expect request gets the final answer, not 100: {answer}");
        assert_eq!(error_code(&answer.body).as_deref(), Some("NoSuchBucket"));
        // The body was never sent, so the connection cannot be reused: the server says so.
        assert_eq!(
            answer.header("connection").map(str::to_ascii_lowercase).as_deref(),
            Some("close"),
            "the server must close a connection whose announced body it did not read: {answer}"
        );
    }
    let mut server = server;
    server.assert_serving("Expect refused");
}

#[test]
fn transfer_encoding_chunked_put_stores_the_decoded_bytes() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "chunked-root" } else { "chunked-prefix" };
        create_bucket(&mut client, prefix, bucket);
        let cases: [(usize, &[usize]); 4] =
            [(0, &[1]), (10, &[3, 1, 4]), (4096 + 17, &[1000, 7, 3000]), (3 * 1024 * 1024 + 5, &[65_536, 100_003, 1])];
        for (index, (size, pieces)) in cases.into_iter().enumerate() {
            let data = random_bytes(size, 200 + index as u64);
            let key = format!("{prefix}/{bucket}/chunked-{size}");
            let response =
                client.request("PUT", &key, &[("Transfer-Encoding", "chunked")], &http_chunked(&data, pieces));
            let response = response.expect(200, &format!("chunked PUT of {size} bytes"));
            assert_eq!(response.etag(), Some(quoted_md5(&data).as_str()), "ETag is the MD5 of the decoded bytes");
            let got = client.get(&key).expect(200, "GET a chunked upload");
            assert_eq!(got.body.len(), size);
            assert!(got.body == data, "chunked upload of {size} bytes came back different");
            assert_eq!(got.header("content-length"), Some(size.to_string().as_str()));
        }
        // The connection stays in step after chunked bodies.
        client.get(&format!("{prefix}/{bucket}?list-type=2")).expect(200, "list after chunked");
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn aws_chunked_unsigned_payload_trailer_stores_exactly_the_decoded_bytes() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "awschunked-root" } else { "awschunked-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for (index, (size, chunk)) in
            [(0usize, 64 * 1024), (11, 64 * 1024), (70_000, 65_536), (2 * 1024 * 1024 + 9, 65_536)]
                .into_iter()
                .enumerate()
        {
            let data = random_bytes(size, 300 + index as u64);
            let framed = aws_chunked_unsigned(&data, chunk);
            let key = format!("{prefix}/{bucket}/unsigned-{size}");
            let decoded = size.to_string();
            let response = client.request(
                "PUT",
                &key,
                &[
                    ("Content-Encoding", "aws-chunked"),
                    ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                    ("x-amz-decoded-content-length", &decoded),
                    ("x-amz-trailer", "x-amz-checksum-crc32"),
                    ("x-amz-sdk-checksum-algorithm", "CRC32"),
                ],
                &framed,
            );
            let response = response.expect(200, &format!("aws-chunked PUT of {size} bytes"));
            assert_eq!(response.etag(), Some(quoted_md5(&data).as_str()), "ETag is the MD5 of the decoded bytes");
            let got = client.get(&key).expect(200, "GET an aws-chunked upload");
            assert_eq!(got.body.len(), size, "stored size of an aws-chunked upload");
            assert!(got.body == data, "aws-chunked upload of {size} bytes came back different");
            // aws-chunked is framing, not a stored Content-Encoding.
            assert!(
                got.header("content-encoding").is_none_or(|value| !value.contains("aws-chunked")),
                "aws-chunked leaked into the stored Content-Encoding: {got}"
            );
            let head = client.head(&key).expect(200, "HEAD an aws-chunked upload");
            assert_eq!(head.content_length(), Some(size as u64));
        }
        // aws-chunked with a real content encoding keeps the real one.
        let data = b"pretend-gzip".to_vec();
        let key = format!("{prefix}/{bucket}/gzip");
        client
            .request(
                "PUT",
                &key,
                &[
                    ("Content-Encoding", "aws-chunked,gzip"),
                    ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                    ("x-amz-decoded-content-length", &data.len().to_string()),
                ],
                &aws_chunked_unsigned(&data, 5),
            )
            .expect(200, "aws-chunked,gzip");
        let got = client.get(&key).expect(200, "GET aws-chunked,gzip");
        assert_eq!(got.body, data);
        assert_eq!(got.header("content-encoding"), Some("gzip"));
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn aws_chunked_signed_streaming_payload_stores_exactly_the_decoded_bytes() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "signed-root" } else { "signed-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for (index, (size, chunk)) in
            [(1usize, 8192), (4096, 1000), (200_000, 65_536), (1024 * 1024 + 1, 8192)].into_iter().enumerate()
        {
            let data = random_bytes(size, 400 + index as u64);
            let framed = aws_chunked_signed(&data, chunk);
            let key = format!("{prefix}/{bucket}/signed-{size}");
            let decoded = size.to_string();
            let response = client.request(
                "PUT",
                &key,
                &[
                    ("Content-Encoding", "aws-chunked"),
                    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                    ("x-amz-decoded-content-length", &decoded),
                    ("x-amz-date", "20261125T120000Z"),
                    ("Authorization", AUTHORIZATION),
                ],
                &framed,
            );
            let response = response.expect(200, &format!("signed aws-chunked PUT of {size} bytes"));
            assert_eq!(response.etag(), Some(quoted_md5(&data).as_str()));
            let got = client.get(&key).expect(200, "GET a signed aws-chunked upload");
            assert_eq!(got.body.len(), size);
            assert!(got.body == data, "signed aws-chunked upload of {size} bytes came back different");
        }
        // Without Content-Encoding: the STREAMING- sha256 alone announces aws-chunked.
        let data = random_bytes(5000, 499);
        let key = format!("{prefix}/{bucket}/signed-no-encoding");
        client
            .request(
                "PUT",
                &key,
                &[
                    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                    ("x-amz-decoded-content-length", &data.len().to_string()),
                ],
                &aws_chunked_signed(&data, 1024),
            )
            .expect(200, "signed aws-chunked without Content-Encoding");
        assert_eq!(client.get(&key).expect(200, "GET").body, data);
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn aws_chunked_inside_transfer_encoding_chunked_is_decoded_twice() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "double-framing");
    let data = random_bytes(150_000, 77);
    let framed = aws_chunked_unsigned(&data, 65_536);
    client
        .request(
            "PUT",
            "/double-framing/k",
            &[
                ("Transfer-Encoding", "chunked"),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                ("x-amz-decoded-content-length", &data.len().to_string()),
            ],
            &http_chunked(&framed, &[4096, 333]),
        )
        .expect(200, "aws-chunked over chunked");
    assert!(client.get("/double-framing/k").expect(200, "GET").body == data);
}

#[test]
fn head_sends_headers_without_a_body_and_the_connection_stays_usable() {
    let server = Server::start();
    for prefix in PREFIXES {
        let mut client = server.client();
        let bucket = if prefix.is_empty() { "head-root" } else { "head-prefix" };
        create_bucket(&mut client, prefix, bucket);
        for (index, size) in [0usize, 5000, 1024 * 1024 + 7].into_iter().enumerate() {
            let data = random_bytes(size, 500 + index as u64);
            let key = format!("{prefix}/{bucket}/object-{size}");
            client.put(&key, &data).expect(200, "PUT");
            // HEAD and GET pipelined: a body after the HEAD answer would corrupt the GET answer.
            let mut batch = build_head("HEAD", &key, &[], 0, true).into_bytes();
            batch.extend_from_slice(build_head("GET", &key, &[], 0, true).as_bytes());
            client.send(&batch);
            let head = client.read_response(true).expect(200, "HEAD");
            assert_eq!(head.content_length(), Some(size as u64), "HEAD Content-Length is the object size: {head}");
            assert_eq!(head.etag(), Some(quoted_md5(&data).as_str()));
            assert!(head.header("last-modified").is_some_and(is_http_date), "{head}");
            let get = client.read_response(false).expect(200, "GET after HEAD");
            assert!(get.body == data, "GET after HEAD returned other bytes");
            assert!(client.pending().is_empty());
        }
        // HEAD of a missing key: 404 without a body, connection still in step.
        let mut batch = build_head("HEAD", &format!("{prefix}/{bucket}/missing"), &[], 0, true).into_bytes();
        batch.extend_from_slice(build_head("GET", &format!("{prefix}/{bucket}/object-5000"), &[], 0, true).as_bytes());
        client.send(&batch);
        client.read_response(true).expect(404, "HEAD missing");
        let get = client.read_response(false).expect(200, "GET after HEAD 404");
        assert_eq!(get.body.len(), 5000);
        // HEAD of a bucket: no body either.
        let mut batch = build_head("HEAD", &format!("{prefix}/{bucket}"), &[], 0, true).into_bytes();
        batch.extend_from_slice(build_head("GET", &format!("{prefix}/{bucket}/object-0"), &[], 0, true).as_bytes());
        client.send(&batch);
        client.read_response(true).expect(200, "HEAD bucket");
        let get = client.read_response(false).expect(200, "GET after HEAD bucket");
        assert!(get.body.is_empty());
        assert!(client.pending().is_empty());
        assert_eq!(client.connections_opened, 1);
    }
}

#[test]
fn every_response_has_a_request_id_and_a_date() {
    let server = Server::start();
    let mut client = server.client();
    let mut responses = Vec::new();
    responses.push(client.put("/ids-bucket", b""));
    responses.push(client.put("/ids-bucket", b""));
    responses.push(client.put("/api/v1/s3/ids-bucket/k", b"0123456789"));
    let etag = responses.last().unwrap().etag().unwrap_or_default().to_string();
    responses.push(client.get("/ids-bucket/k"));
    responses.push(client.head("/ids-bucket/k"));
    responses.push(client.request("GET", "/ids-bucket/k", &[("Range", "bytes=0-3")], b""));
    responses.push(client.request("GET", "/ids-bucket/k", &[("If-None-Match", &etag)], b""));
    responses.push(client.request("GET", "/ids-bucket/k", &[("Range", "bytes=50-")], b""));
    responses.push(client.get("/ids-bucket/missing"));
    responses.push(client.get("/"));
    responses.push(client.get("/ids-bucket?list-type=2"));
    responses.push(client.get("/ids-bucket?policy"));
    responses.push(client.post("/", b""));
    responses.push(client.delete("/ids-bucket/k"));
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 409, 200, 200, 200, 206, 304, 416, 404, 200, 200, 501, 405, 204]);
    // A head the server refuses before routing.
    responses.push(send_raw_full(server.addr, b"\x00\x01\x02garbage\r\n\r\n").response());
    let now = now_seconds();
    let mut ids = HashSet::new();
    for response in &responses {
        let id = response.header("x-amz-request-id").unwrap_or_else(|| panic!("no x-amz-request-id: {response}"));
        assert!(!id.is_empty());
        assert!(ids.insert(id.to_string()), "request id {id} repeated");
        let date = response.header("date").unwrap_or_else(|| panic!("no Date: {response}"));
        let seconds = httpdate_parse(date).unwrap_or_else(|| panic!("Date is not an IMF-fixdate: {date:?}"));
        assert!(seconds.abs_diff(now) < 300, "Date {date} is far from now");
    }
}

#[test]
fn error_responses_carry_s3_error_documents() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "errors");
    let response = client.get("/errors/missing-key").expect_error(404, "NoSuchKey", "missing key");
    assert_eq!(response.header("content-type"), Some("application/xml"));
    assert_eq!(xml_value(&response.body, "Resource"), "/errors/missing-key");
    assert_eq!(Some(xml_value(&response.body, "RequestId").as_str()), response.header("x-amz-request-id"));
    assert!(!xml_value(&response.body, "Message").is_empty());
    assert_eq!(response.content_length(), Some(response.body.len() as u64));
}

#[test]
fn connection_close_is_honoured() {
    let server = Server::start();
    let mut client = server.client();
    create_bucket(&mut client, "", "closing");
    for request in [
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        "PUT /closing/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc".to_string(),
        "GET /closing/k HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n".to_string(),
        "GET /closing/missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        // HTTP/1.0 closes unless asked to keep alive.
        "GET /closing/k HTTP/1.0\r\n\r\n".to_string(),
    ] {
        let mut stream = connect(server.addr);
        stream.write_all(request.as_bytes()).unwrap();
        let reply = read_reply(&mut stream);
        let responses = parse_responses(&reply.bytes);
        assert_eq!(responses.len(), 1, "{request:?}: {:?}", String::from_utf8_lossy(&reply.bytes));
        assert!(reply.closed, "the server kept the connection open after {request:?}");
        assert!(
            responses[0].header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
            "{request:?}: no Connection: close in {}",
            responses[0]
        );
    }
    assert_eq!(client.get("/closing/k").expect(200, "GET").body, b"abc");
    // HTTP/1.0 with keep-alive stays open.
    let mut stream = connect(server.addr);
    stream.write_all(b"GET /closing/k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
    let reply = read_reply(&mut stream);
    assert!(!reply.closed, "HTTP/1.0 keep-alive was closed");
    assert_eq!(reply.response().body, b"abc");
}
