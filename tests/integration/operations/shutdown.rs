//! Graceful shutdown: SIGTERM during uploads and downloads, the grace period, a second
//! signal, and rolling restarts under load.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{exchange, free_port, Launch, Node};
use crate::support::{error_code, find, md5_hex, parse_response, random_bytes, IO_TIMEOUT};

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Reads one response (head and Content-Length body) from `stream`, or `None` if the
/// connection ends first.
fn read_response(stream: &mut TcpStream) -> Option<(crate::support::Response, Vec<u8>)> {
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        if let Some(response) = parse_response(&received) {
            return Some((response, received));
        }
        match stream.read(&mut buffer) {
            Ok(0) => return None,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn wait_until_draining(node: &Node) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = node.admin_get("/health/ready", &[]);
        if status == 503 {
            assert!(body.contains("draining"), "{body}");
            return;
        }
        assert!(Instant::now() < deadline, "readiness never turned 503 after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the server ends `stream` (end of stream or reset) within `wait`, sending nothing.
fn ended_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    // A time-out (WouldBlock/TimedOut) means the connection is still open.
    let ended = match stream.read(&mut byte) {
        Ok(read) => read == 0,
        Err(error) => !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    };
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    ended
}

#[test]
fn sigterm_lets_uploads_downloads_and_heads_being_read_finish_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = Launch::new(&data).start();
    let s3 = node.s3();
    assert_eq!(exchange(s3, "PUT", "/draining", b"").status, 200);
    // Large enough that loopback socket buffers cannot absorb it: the download is in flight.
    let download = random_bytes(24 << 20, 1);
    assert_eq!(exchange(s3, "PUT", "/draining/download", &download).status, 200);
    assert_eq!(exchange(s3, "PUT", "/draining/small", b"small").status, 200);

    // An upload with half its body sent.
    let upload = random_bytes(2 << 20, 2);
    let mut uploading = connect(s3);
    let head = format!("PUT /draining/upload HTTP/1.1\r\nHost: {s3}\r\nContent-Length: {}\r\n\r\n", upload.len());
    uploading.write_all(head.as_bytes()).unwrap();
    uploading.write_all(&upload[..upload.len() / 2]).unwrap();
    // A download of which the client has read a little.
    let mut downloading = connect(s3);
    downloading.write_all(format!("GET /draining/download HTTP/1.1\r\nHost: {s3}\r\n\r\n").as_bytes()).unwrap();
    let mut downloaded = vec![0u8; 64 * 1024];
    downloading.read_exact(&mut downloaded).unwrap();
    // A keep-alive connection, idle after one request.
    let mut idle = connect(s3);
    idle.write_all(format!("GET /draining/small HTTP/1.1\r\nHost: {s3}\r\n\r\n").as_bytes()).unwrap();
    let (response, _) = read_response(&mut idle).expect("a response");
    assert_eq!(response.status, 200);
    // A request whose head is half read.
    let mut half_head = connect(s3);
    half_head.write_all(format!("GET /draining/small HTTP/1.1\r\nHost: {s3}\r\n").as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    node.signal("TERM");
    wait_until_draining(&node);
    assert!(ended_within(&mut idle, Duration::from_secs(3)), "an idle keep-alive connection must be closed");
    let deadline = Instant::now() + Duration::from_secs(3);
    while TcpStream::connect(s3).is_ok() {
        assert!(Instant::now() < deadline, "the S3 listener still accepts connections while draining");
        std::thread::sleep(Duration::from_millis(20));
    }

    half_head.write_all(b"\r\n").unwrap();
    let (response, _) = read_response(&mut half_head).expect("the request being read is answered");
    assert_eq!((response.status, response.body.as_slice()), (200, &b"small"[..]));
    assert_eq!(response.header("connection"), Some("close"), "answers during a drain close their connection");

    uploading.write_all(&upload[upload.len() / 2..]).unwrap();
    let (response, _) = read_response(&mut uploading).expect("the upload is answered");
    assert_eq!(response.status, 200, "{response}");
    assert_eq!(response.etag().map(|etag| etag.trim_matches('"').to_string()), Some(md5_hex(&upload)));

    let mut rest = Vec::new();
    downloading.read_to_end(&mut rest).expect("the rest of the download");
    downloaded.extend_from_slice(&rest);
    let body_start = find(&downloaded, b"\r\n\r\n").unwrap() + 4;
    assert_eq!(downloaded.len() - body_start, download.len(), "the download was cut");
    assert!(downloaded[body_start..] == download[..], "the download's bytes differ");

    let status = node.wait_exit(Duration::from_secs(15)).expect("s3core exits once drained");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", node.stderr());
    let stderr = node.stderr();
    assert!(stderr.contains("shutdown complete"), "{stderr}");

    let node = Launch::new(&data).start();
    let got = exchange(node.s3(), "GET", "/draining/upload", b"");
    assert_eq!((got.status, md5_hex(&got.body)), (200, md5_hex(&upload)), "the acknowledged upload is durable");
}

/// A PUT with half its body sent, on its own connection.
fn half_upload(s3: SocketAddr, key: &str, body: &[u8]) -> TcpStream {
    let mut stream = connect(s3);
    let head = format!("PUT /{key} HTTP/1.1\r\nHost: {s3}\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body[..body.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stream
}

#[test]
fn the_grace_period_bounds_the_drain_and_nothing_unacknowledged_appears() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = Launch::new(&data).args(&["--shutdown-grace-ms", "500"]).start();
    assert_eq!(exchange(node.s3(), "PUT", "/graceful", b"").status, 200);
    let body = random_bytes(1 << 20, 3);
    let mut stalled = half_upload(node.s3(), "graceful/stalled", &body);
    let signalled = Instant::now();
    let status = node.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", node.stderr());
    assert!(signalled.elapsed() < Duration::from_secs(5), "the drain took {:?}", signalled.elapsed());
    assert!(read_response(&mut stalled).is_none(), "a request cut by the grace period must not be acknowledged");
    let node = Launch::new(&data).start();
    assert_eq!(exchange(node.s3(), "GET", "/graceful/stalled", b"").status, 404);
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Launch::new(&dir.path().join("data")).args(&["--shutdown-grace-ms", "60000"]).start();
    assert_eq!(exchange(node.s3(), "PUT", "/impatient", b"").status, 200);
    let _stalled = half_upload(node.s3(), "impatient/stalled", &random_bytes(1 << 20, 4));
    node.signal("TERM");
    wait_until_draining(&node);
    assert!(node.wait_exit(Duration::from_millis(300)).is_none(), "the drain must wait for the upload");
    node.signal("INT");
    let status = node.wait_exit(Duration::from_secs(3)).expect("a second signal exits at once");
    assert_eq!(status.code(), Some(128 + 2), "128 + SIGINT");
}

/// What the load of the rolling restart saw.
#[derive(Default)]
struct Ledger {
    /// key → MD5 of every PUT answered 200.
    acknowledged: BTreeMap<String, String>,
    refused_slow_down: usize,
    connection_errors: usize,
    failures: Vec<String>,
}

/// One request on a kept connection (opened when needed): the response, or `None` when the
/// connection failed before a complete answer (the request was not acknowledged).
fn try_request(stream: &mut Option<TcpStream>, addr: SocketAddr, request: &[u8]) -> Option<crate::support::Response> {
    if stream.is_none() {
        let connected = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
        connected.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        *stream = Some(connected);
    }
    let connection = stream.as_mut()?;
    let answer = connection.write_all(request).ok().and_then(|()| read_response(connection));
    match answer {
        Some((response, _)) if response.header("connection") != Some("close") => Some(response),
        Some((response, _)) => {
            *stream = None;
            Some(response)
        }
        None => {
            *stream = None;
            None
        }
    }
}

fn load(addr: SocketAddr, writer: usize, stop: &AtomicBool, shared: &Mutex<Ledger>) {
    let mut stream = None;
    let mut index = 0u64;
    while !stop.load(Ordering::Relaxed) {
        index += 1;
        let key = format!("w{writer}-{index:05}");
        let body = random_bytes(1024 + (index as usize * 997) % 60_000, index * 31 + writer as u64);
        let mut request =
            format!("PUT /rolling/{key} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n", body.len())
                .into_bytes();
        request.extend_from_slice(&body);
        let outcome = try_request(&mut stream, addr, &request);
        let mut ledger = shared.lock().unwrap();
        match outcome {
            Some(response) if response.status == 200 => drop(ledger.acknowledged.insert(key, md5_hex(&body))),
            Some(response) if response.status == 503 && error_code(&response.body).as_deref() == Some("SlowDown") => {
                ledger.refused_slow_down += 1
            }
            Some(response) => ledger.failures.push(format!("PUT {key}: {response}")),
            None => ledger.connection_errors += 1,
        }
        // Read back an acknowledged key now and then.
        let check = ledger.acknowledged.iter().nth(index as usize % ledger.acknowledged.len().max(1));
        let Some((key, digest)) = check.map(|(key, digest)| (key.clone(), digest.clone())) else { continue };
        drop(ledger);
        let request = format!("GET /rolling/{key} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        let outcome = try_request(&mut stream, addr, request.as_bytes());
        let mut ledger = shared.lock().unwrap();
        match outcome {
            Some(response) if response.status == 200 => {
                if md5_hex(&response.body) != digest {
                    ledger.failures.push(format!("GET {key}: other bytes than acknowledged"));
                }
            }
            Some(response) if response.status == 503 && error_code(&response.body).as_deref() == Some("SlowDown") => {
                ledger.refused_slow_down += 1
            }
            Some(response) => ledger.failures.push(format!("GET {key} (acknowledged): {response}")),
            None => ledger.connection_errors += 1,
        }
        if stream.is_none() {
            // Between two processes: do not spin on refused connections.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn a_rolling_restart_under_load_fails_no_acknowledged_request() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    // A fixed S3 port (clients come back to it); the admin listener takes any free port.
    let launch = |data| Launch::new(data).port(port).args(&["--admin-listen", "127.0.0.1:0"]);
    let mut node = launch(&data).start();
    let addr = node.s3();
    assert_eq!(exchange(addr, "PUT", "/rolling", b"").status, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let writers: Vec<_> = (0..3)
        .map(|writer| {
            let (stop, ledger) = (stop.clone(), ledger.clone());
            std::thread::spawn(move || load(addr, writer, &stop, &ledger))
        })
        .collect();
    for restart in 0..2 {
        std::thread::sleep(Duration::from_millis(800));
        let acknowledged_before = ledger.lock().unwrap().acknowledged.len();
        assert!(acknowledged_before > 0, "no load reached the server before restart {restart}");
        let status = node.terminate(Duration::from_secs(25));
        assert_eq!(status.code(), Some(0), "restart {restart}: {}", node.stderr());
        node = launch(&data).start();
    }
    std::thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("a load thread panicked");
    }
    let ledger = ledger.lock().unwrap();
    assert!(ledger.failures.is_empty(), "failed requests: {:#?}", ledger.failures);
    assert!(ledger.acknowledged.len() > 20, "too little load: {}", ledger.acknowledged.len());
    for (key, digest) in &ledger.acknowledged {
        let got = exchange(addr, "GET", &format!("/rolling/{key}"), b"");
        assert_eq!((got.status, md5_hex(&got.body)), (200, digest.clone()), "acknowledged {key} after the restarts");
    }
    eprintln!(
        "rolling restart: {} acknowledged, {} refused with SlowDown, {} connection errors",
        ledger.acknowledged.len(),
        ledger.refused_slow_down,
        ledger.connection_errors
    );
    assert_eq!(node.terminate(Duration::from_secs(25)).code(), Some(0));
}
