//! The probes: live from the start, ready only once every core serves, and not ready while a
//! shard's journal refuses writes.

use std::time::{Duration, Instant};

use super::{exchange, Launch};
use crate::support::random_bytes;

#[test]
fn readiness_waits_for_recovery_while_liveness_answers_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A data directory with something to recover.
    {
        let node = Launch::new(&data).start();
        assert_eq!(exchange(node.s3(), "PUT", "/recovered", b"").status, 200);
        assert_eq!(exchange(node.s3(), "PUT", "/recovered/key", b"value").status, 200);
    }
    let mut node = Launch::new(&data).args(&["--start-delay-ms", "3000"]).spawn();
    node.wait_for_admin();
    let (status, body) = node.admin_get("/health/live", &[]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = node.admin_get("/health/ready", &[]);
    assert_eq!(status, 503, "ready before recovery: {body}");
    assert!(body.contains("starting"), "{body}");
    assert!(node.s3.is_none(), "the S3 listener must not be announced before recovery");
    node.wait_for_s3();
    let (status, body) = node.admin_get("/health/ready", &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(exchange(node.s3(), "GET", "/recovered/key", b"").body, b"value");
}

#[test]
fn a_fenced_journal_makes_the_server_not_ready() {
    // Same fault as journal_faults.rs: the directory fsync after a checkpoint's rename never
    // succeeds, so the shard refuses writes until a restart.
    let plan = "directory-fsync:count=forever;checkpoint-write:after=1,count=forever";
    let dir = tempfile::tempdir().unwrap();
    let node = Launch::new(&dir.path().join("data"))
        .cores(1)
        .args(&["--journal-checkpoint-bytes", "16384", "--fault-injection", plan])
        .start();
    let s3 = node.s3();
    assert_eq!(exchange(s3, "PUT", "/fencing", b"").status, 200);
    assert_eq!(node.admin_get("/health/ready", &[]).0, 200);
    let mut refused = false;
    for index in 0..30u64 {
        let put = exchange(s3, "PUT", &format!("/fencing/k{index:02}"), &random_bytes(3000, index));
        if put.status == 503 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the journal was never fenced");
    let deadline = Instant::now() + Duration::from_secs(5);
    let (status, body) = loop {
        let (status, body) = node.admin_get("/health/ready", &[]);
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 503, "a server whose journal refuses writes must not be ready: {body}");
    assert!(body.contains("refuse writes"), "{body}");
    assert_eq!(node.admin_get("/health/live", &[]).0, 200, "it is still alive: reads work");
    assert_eq!(node.metrics().value("s3core_journal_fenced_shards"), 1.0);
}
