//! Acknowledgements given while another client's change to the same key is still on its way
//! to the journal.
//!
//! Two clients DELETE the same (durably present) key at the same moment. The first to reach
//! the shard applies the delete and waits for its group commit; the second finds the key
//! already gone from the in-memory index and is answered 204 at once. If the server dies
//! before the first delete's batch reaches the journal, the key comes back after recovery:
//! the second client holds an acknowledgement of a delete that did not survive. The same
//! holds for DeleteObjects, whose no-op path (no key present) replies without a commit.
//!
//! Each round: PUT the key (acknowledged), keep the shard's journal busy with other writers
//! (so the first delete waits behind a flush in progress), send the two deletes, SIGKILL the
//! server the instant the first 204 arrives, restart, GET the key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use crate::model::{body, Rng};
use crate::support::{md5_base64, xml_values, Client};

#[derive(Clone, Copy, Debug)]
pub enum DeleteKind {
    DeleteObject,
    DeleteObjects,
}

fn send_delete(client: &mut Client, kind: DeleteKind, bucket: &str, key: &str) -> Option<u16> {
    let response = match kind {
        DeleteKind::DeleteObject => client.try_request("DELETE", &format!("/{bucket}/{key}"), &[], b""),
        DeleteKind::DeleteObjects => {
            let document = format!("<Delete><Quiet>true</Quiet><Object><Key>{key}</Key></Object></Delete>");
            let content_md5 = md5_base64(document.as_bytes());
            let headers = [("Content-MD5", content_md5.as_str())];
            client.try_request("POST", &format!("/{bucket}?delete"), &headers, document.as_bytes())
        }
    };
    let response = response.ok()?;
    match kind {
        DeleteKind::DeleteObject => Some(response.status),
        // A DeleteObjects answer is an acknowledgement only without per-key errors.
        DeleteKind::DeleteObjects => {
            Some(if xml_values(&response.body, "Error").is_empty() { response.status } else { 500 })
        }
    }
}

/// What the rounds found.
#[derive(Debug, Default)]
pub struct RaceReport {
    pub rounds: usize,
    /// Rounds where a delete was acknowledged before the kill.
    pub acknowledged: usize,
    /// ... and the key was back after the restart.
    pub came_back: Vec<String>,
}

pub fn racing_deletes(kind: DeleteKind, rounds: usize, budget: Duration, seed: u64) -> RaceReport {
    let root = tempfile::Builder::new().prefix("s3core-race-").tempdir().expect("temp dir");
    let mut server = crate::start_server(&root.path().join("data"), root.path(), None);
    let bucket = "race";
    let mut setup = crate::client(server.addr);
    assert_eq!(setup.try_request("PUT", &format!("/{bucket}"), &[], b"").expect("create bucket").status, 200);
    let mut rng = Rng::new(seed);
    let mut report = RaceReport::default();
    let started = Instant::now();
    for round in 0..rounds {
        if started.elapsed() > budget {
            break;
        }
        report.rounds += 1;
        let key = format!("victim-{round}");
        let mut client = crate::client(server.addr);
        let put = client.try_request("PUT", &format!("/{bucket}/{key}"), &[], b"present").expect("PUT victim");
        assert_eq!(put.status, 200, "PUT {key}: {}", put.summary());
        // Other writers on the same bucket (same shard, same journal): flushes back to back,
        // some slowed by large block writes on the same filesystem.
        let stop = Arc::new(AtomicBool::new(false));
        let noise: Vec<_> = (0..3)
            .map(|writer| {
                let (addr, stop, seed) = (server.addr, stop.clone(), rng.next_u64());
                std::thread::spawn(move || {
                    let mut client = crate::client(addr);
                    let mut rng = Rng::new(seed);
                    let mut index = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let size = if writer == 0 { 256 * 1024 } else { rng.between(1, 2048) as usize };
                        let path = format!("/{bucket}/noise-{writer}-{}", index % 8);
                        index += 1;
                        if client.try_request("PUT", &path, &[], &body(index, size)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        let pid = server.pid() as i32;
        let killed = Arc::new(AtomicBool::new(false));
        let first = Arc::new(Mutex::new(None));
        let barrier = Arc::new(Barrier::new(2));
        let stagger = Duration::from_micros(rng.between(0, 400));
        let racers: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|name| {
                let (addr, killed, first, barrier, key) =
                    (server.addr, killed.clone(), first.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let mut client = crate::client(addr);
                    // Open the connection before the race.
                    let _ = client.try_request("HEAD", &format!("/{bucket}"), &[], b"");
                    barrier.wait();
                    if name == "B" {
                        let until = Instant::now() + stagger;
                        while Instant::now() < until {
                            std::hint::spin_loop();
                        }
                    }
                    let status = send_delete(&mut client, kind, bucket, &key);
                    let acknowledged =
                        status == Some(204) || (status == Some(200) && matches!(kind, DeleteKind::DeleteObjects));
                    if acknowledged && !killed.swap(true, Ordering::SeqCst) {
                        // SAFETY: kill(2) on our own child's pid; no memory is touched.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                        *first.lock().unwrap() = Some(name);
                    }
                })
            })
            .collect();
        for racer in racers {
            racer.join().expect("racer");
        }
        stop.store(true, Ordering::Relaxed);
        server.kill9();
        for writer in noise {
            writer.join().expect("noise writer");
        }
        server.kill9_and_restart();
        let acknowledged_by = *first.lock().unwrap();
        if acknowledged_by.is_none() {
            continue;
        }
        report.acknowledged += 1;
        let mut client = crate::client(server.addr);
        let after = client.try_request("GET", &format!("/{bucket}/{key}"), &[], b"").expect("GET after restart");
        if after.status == 200 {
            report.came_back.push(format!(
                "round {round}: {kind:?} by client {} was answered 2xx, the server was SIGKILLed right after, \
                 and after recovery GET {bucket}/{key} answers 200 ({:?}) (client B started {stagger:?} after A)",
                acknowledged_by.unwrap(),
                String::from_utf8_lossy(&after.body),
            ));
        }
    }
    report
}
