//! Journal I/O failures injected into the real binary (`--fault-injection`, see
//! `store::faults`): a write whose journal flush fails is answered with a 5xx and undone in
//! memory, nothing acknowledged is lost, and the server keeps serving (and writing, once the
//! fault clears). Servers run with `--cores 1` so that "the Nth journal flush" is one shard's
//! Nth flush, and restart without the plan to show what is durable.

use std::collections::BTreeMap;

use crate::support::*;

/// Journal length that makes the shard checkpoint after a few small PUTs.
const SMALL_CHECKPOINT_BYTES: &str = "16384";

/// Every key of `expected` answers with its bytes; every key of `absent` is 404; the listing
/// holds exactly `expected`.
fn verify(client: &mut Client, bucket: &str, expected: &BTreeMap<String, Vec<u8>>, absent: &[String], context: &str) {
    for (key, body) in expected {
        let got = client.get(&format!("/{bucket}/{key}")).expect(200, &format!("{context}: GET {key}"));
        assert!(got.body == *body, "{context}: bytes of {key}");
    }
    for key in absent {
        client.get(&format!("/{bucket}/{key}")).expect_error(404, "NoSuchKey", &format!("{context}: {key}"));
    }
    let listed = list_all_keys_v2(client, "", bucket, "");
    assert_eq!(listed, expected.keys().cloned().collect::<Vec<_>>(), "{context}: listing");
}

#[test]
fn a_failed_journal_fsync_answers_503_undoes_the_change_and_later_writes_succeed() {
    // Journal flushes: 1 creates the bucket, 2 and 3 store `kept` and `victim`; 4 and 5 fail.
    let plan = "journal-fsync:after=3,count=2,errno=EIO";
    let mut server = Server::start_with(1, &["--fault-injection", plan]);
    assert!(server.stderr().contains("FAULT INJECTION IS ON"), "the plan must be announced:\n{}", server.stderr());
    let mut client = server.client();
    client.put("/faults", b"").expect(200, "create bucket");
    let mut expected = BTreeMap::new();
    for (key, body) in [("kept", random_bytes(300, 1)), ("victim", random_bytes(100_000, 2))] {
        client.put(&format!("/faults/{key}"), &body).expect(200, key);
        expected.insert(key.to_string(), body);
    }
    let failed = random_bytes(100_000, 3);
    client.put("/faults/failed-put", &failed).expect_error(503, "ServiceUnavailable", "PUT whose fsync fails");
    client.delete("/faults/victim").expect_error(503, "ServiceUnavailable", "DELETE whose fsync fails");
    // The shard rebuilt its state from the journal: neither change is visible.
    let absent = vec!["failed-put".to_string()];
    verify(&mut client, "faults", &expected, &absent, "after the failed flushes");
    assert!(server.stderr().contains("state rebuilt from"), "no rebuild logged:\n{}", server.stderr());
    // The fault cleared: the same shard writes again.
    let after = random_bytes(5000, 4);
    client.put("/faults/after", &after).expect(200, "PUT after the fault");
    expected.insert("after".into(), after);
    verify(&mut client, "faults", &expected, &absent, "after the fault cleared");
    server.kill9_and_restart_with_args(&[]);
    verify(&mut server.client(), "faults", &expected, &absent, "after kill -9 and restart");
    server.assert_serving("a restart after failed journal fsyncs");
}

#[test]
fn concurrent_writers_of_failing_flushes_all_get_5xx_and_acknowledged_writes_survive() {
    // Three journal writes fail (half of each batch reaches the file first), under 8 writers:
    // failing batches hold several writers, and others wait in the pending batch.
    let plan = "journal-write:after=10,count=3,errno=ENOSPC";
    let mut server = Server::start_with(1, &["--fault-injection", plan]);
    server.client().put("/busy", b"").expect(200, "create bucket");
    let addr = server.addr;
    let writers: Vec<_> = (0..8u64)
        .map(|writer| {
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                let mut outcomes = Vec::new();
                for index in 0..25u64 {
                    let key = format!("w{writer}-{index:02}");
                    let body = random_bytes(100 + (writer * 397 + index * 101) as usize % 3000, writer * 100 + index);
                    let response = client.put(&format!("/busy/{key}"), &body);
                    let code = error_code(&response.body);
                    outcomes.push((key, body, response.status, code));
                }
                outcomes
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    let mut absent = Vec::new();
    for writer in writers {
        for (key, body, status, code) in writer.join().expect("writer thread") {
            match (status, code.as_deref()) {
                (200, _) => drop(expected.insert(key, body)),
                (507, Some("InsufficientStorage")) => absent.push(key),
                _ => panic!(
                    "PUT {key}: a failed journal write must answer 507 InsufficientStorage, got {status} {code:?}"
                ),
            }
        }
    }
    assert!(absent.len() >= 3, "3 failed flushes must fail at least 3 writers, {} failed", absent.len());
    assert!(expected.len() >= 150, "only {} of 200 writes were acknowledged", expected.len());
    let mut client = server.client();
    verify(&mut client, "busy", &expected, &absent, "after the failed flushes");
    server.kill9_and_restart_with_args(&[]);
    verify(&mut server.client(), "busy", &expected, &absent, "after kill -9 and restart");
    server.assert_serving("a restart after failed journal writes");
}

#[test]
fn invalid_test_knobs_stop_the_start() {
    let (code, stderr) = Server::start_expecting_failure(&["--fault-injection", "journal-fsync:after=x"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--fault-injection") && stderr.contains("not a number"), "{stderr}");
    let (code, stderr) = Server::start_expecting_failure(&[], &[("S3CORE_FAULT_INJECTION", "journal-sync")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown fault point"), "{stderr}");
    let (code, stderr) = Server::start_expecting_failure(&["--journal-checkpoint-bytes", "100"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--journal-checkpoint-bytes"), "{stderr}");
}

#[test]
fn checkpoints_that_fail_before_their_rename_keep_the_old_journal_in_use() {
    // The first checkpoint fails writing, the second renaming; the third succeeds.
    let plan = "checkpoint-write:count=1;checkpoint-rename:count=1";
    let mut server =
        Server::start_with(1, &["--journal-checkpoint-bytes", SMALL_CHECKPOINT_BYTES, "--fault-injection", plan]);
    let mut client = server.client();
    client.put("/rotating", b"").expect(200, "create bucket");
    let mut expected = BTreeMap::new();
    for index in 0..40u64 {
        let key = format!("k{index:02}");
        let body = random_bytes(3000, index);
        client.put(&format!("/rotating/{key}"), &body).expect(200, &key);
        expected.insert(key, body);
    }
    let stderr = server.stderr();
    assert_eq!(stderr.matches("checkpoint failed").count(), 2, "two failed checkpoints:\n{stderr}");
    assert!(stderr.contains("checkpointed to"), "a later checkpoint must succeed:\n{stderr}");
    let meta = server.data_dir().join("meta");
    assert!(!tree_contains_file_named(&meta, "shard-000.checkpoint"), "a failed checkpoint left its file");
    verify(&mut client, "rotating", &expected, &[], "after the checkpoints");
    server.kill9_and_restart_with_args(&[]);
    verify(&mut server.client(), "rotating", &expected, &[], "after kill -9 and restart");
}

#[test]
fn a_checkpoint_whose_rename_cannot_be_made_durable_stops_acknowledging_writes() {
    // The journal rotates after a few PUTs; the fsync of the directory that would make the
    // rename over the journal durable always fails, and so does every later checkpoint before
    // its rename: nothing but the journal file in use puts acknowledged writes under its name.
    let plan = "directory-fsync:count=forever;checkpoint-write:after=1,count=forever";
    let args = ["--journal-checkpoint-bytes", SMALL_CHECKPOINT_BYTES, "--fault-injection", plan];
    let mut server = Server::start_with(1, &args);
    let mut client = server.client();
    client.put("/fenced", b"").expect(200, "create bucket");
    let mut acknowledged = BTreeMap::new();
    let mut refused = Vec::new();
    for index in 0..30u64 {
        let key = format!("k{index:02}");
        let body = random_bytes(3000, index);
        let response = client.put(&format!("/fenced/{key}"), &body);
        match (response.status, error_code(&response.body).as_deref()) {
            (200, _) if refused.is_empty() => drop(acknowledged.insert(key, body)),
            (503, Some("ServiceUnavailable")) => refused.push(key),
            _ => panic!("PUT {key} after {} refusals: {response}", refused.len()),
        }
    }
    // Reads continue, and show exactly the acknowledged writes; deletes are writes too.
    verify(&mut client, "fenced", &acknowledged, &refused, "while writes are refused");
    if !refused.is_empty() {
        client.delete("/fenced/k00").expect_error(503, "ServiceUnavailable", "DELETE on a fenced shard");
        client.get("/fenced/k00").expect(200, "the refused DELETE changed nothing");
        assert!(server.stderr().contains("refusing writes on this shard"), "{}", server.stderr());
    }
    server.kill9_and_restart_with_args(&[]);
    let mut client = server.client();
    verify(&mut client, "fenced", &acknowledged, &refused, "after kill -9 and restart");
    assert!(!refused.is_empty(), "a journal whose rename is not durable must stop acknowledging writes");
    assert!(acknowledged.len() >= 4, "the first checkpoint came after {} PUTs", acknowledged.len());
    client.put("/fenced/after-restart", b"writable again").expect(200, "PUT after the restart");
    server.assert_serving("a restart after a refused checkpoint");
}
