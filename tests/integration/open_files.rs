//! The open-files limit: the server fits its connection limit to the descriptors it may
//! open, and a request that still finds the descriptor table full gets a retryable 503
//! SlowDown, while the core goes on serving. `prlimit` (util-linux) changes the limits of the
//! running server, as an operator or a container runtime could.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// The address of the ready line `s3core listening on http://ADDR` (stdout drained after it).
fn read_listen_address(stdout: std::process::ChildStdout) -> SocketAddr {
    let mut lines = BufReader::new(stdout).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("s3core listening on http://").map(str::to_string))
        .expect("ready line");
    std::thread::spawn(move || lines.for_each(drop));
    addr.parse().expect("listening address")
}

/// Sets the soft limit only (lowering the hard one could not be undone).
fn set_open_files_limit(pid: u32, limit: u64) {
    let status = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success(), "prlimit failed: {status}");
}

fn open_descriptors(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read /proc/PID/fd").count() as u64
}

fn soft_open_files_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read /proc/PID/limits");
    let line = limits.lines().find(|line| line.starts_with("Max open files")).expect("open files line");
    line.split_whitespace().nth(3).and_then(|value| value.parse().ok()).expect("soft limit")
}

#[test]
fn a_full_descriptor_table_answers_slow_down_and_the_core_keeps_serving() {
    let server = Server::start_with(1, &[]);
    let pid = server.pid();
    let mut client = server.client();
    client.put("/fds", b"").expect(200, "create bucket");
    let body = random_bytes(64 * 1024, 1); // beyond the inline size: needs a block file
    client.put("/fds/before", &body).expect(200, "PUT before");
    // The limit bounds descriptor numbers, not their count: at 3 (stdio taken) no new
    // descriptor can be made, while every open one stays usable.
    assert!(open_descriptors(pid) > 3);
    set_open_files_limit(pid, 3);
    let refused = client.request("PUT", "/fds/during", &[], &body);
    refused.expect_error(503, "SlowDown", "PUT with a full descriptor table");
    // Reading a stored object needs a descriptor too: the same retryable answer, on the same
    // connection, never a dropped connection or a crash.
    client.get("/fds/before").expect_error(503, "SlowDown", "GET with a full descriptor table");
    assert_eq!(client.connections_opened, 1, "the connection was kept");
    set_open_files_limit(pid, 4096);
    client.put("/fds/after", &body).expect(200, "PUT once descriptors are free");
    assert_eq!(client.get("/fds/before").expect(200, "GET after").body, body);
    client.get("/fds/during").expect_error(404, "NoSuchKey", "the refused PUT left nothing");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[test]
fn a_low_hard_limit_lowers_the_connection_limit_at_start() {
    // Start the server through prlimit with a hard limit of 300 descriptors, one core.
    let directory = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new("prlimit")
        .arg("--nofile=300:300")
        .arg(server_binary())
        .args(switch_args())
        .args(["--listen", "127.0.0.1:0", "--cores", "1", "--data-dir"])
        .arg(directory.path().join("data"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start s3core under prlimit");
    let addr = read_listen_address(child.stdout.take().expect("stdout"));
    // (300 - fixed descriptors) / 2 per connection: well under 4096. Connections beyond the
    // limit are accepted and closed at once; the ones within it are served.
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(connect(addr));
    }
    let mut served = 0;
    for stream in &mut held {
        stream.set_read_timeout(Some(Duration::from_secs(2))).expect("read timeout");
        if stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
            continue;
        }
        let mut reply = [0u8; 16];
        if matches!(stream.read(&mut reply), Ok(read) if reply[..read].starts_with(b"HTTP/1.1 200")) {
            served += 1;
        }
    }
    assert!((100..200).contains(&served), "{served} of 200 connections served under a 300-descriptor limit");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let mut client = Client::new(addr);
    client.get("/").expect(200, "served again once connections closed");
    let pid = child.id();
    assert_eq!(soft_open_files_limit(pid), 300);
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("connections per core instead of 4096"), "{log}");
    assert!(!log.contains("accept failed"), "descriptors ran out anyway: {log}");
}
