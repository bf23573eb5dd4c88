//! Storage faults on a real small filesystem (a tmpfs mounted for the test, so root: ignored by
//! default, test.sh runs it with `--ignored` as root, which CI is):
//! a full disk answers 507 InsufficientStorage, existing objects stay readable, and the server
//! recovers by itself when space returns. (A read-only remount cannot be forced while the
//! server holds its journal open for writing, so EROFS → 503 is covered by the unit test of
//! the error mapping in `src/error.rs`.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

/// A tmpfs of `size_mib` mounted on a fresh directory; unmounted on drop.
struct SmallFilesystem {
    mount_point: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size_mib: u64) -> SmallFilesystem {
        let mount_point = tempfile::Builder::new().prefix("s3core-small-fs-").tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(mount_point.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "this test mounts a small tmpfs and needs root (CI runs as root): mount failed: {status}"
        );
        SmallFilesystem { mount_point }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.mount_point.path()).status();
    }
}

fn data_dir(filesystem: &SmallFilesystem) -> Option<PathBuf> {
    Some(filesystem.path().join("data"))
}

#[test]
#[ignore = "mounts a small tmpfs: needs root (test.sh runs it with --ignored as root)"]
fn a_full_disk_refuses_writes_keeps_data_and_recovers_when_space_returns() {
    let filesystem = SmallFilesystem::mount(32);
    let mut server = Server::start_in(data_dir(&filesystem), 2, &[]);
    let mut client = server.client();
    client.put("/full", b"").expect(200, "create bucket");
    let small = random_bytes(100, 1);
    client.put("/full/small", &small).expect(200, "small object before filling");
    let chunk = random_bytes(1024 * 1024, 2);
    let mut stored = Vec::new();
    let mut refused = None;
    for index in 0..64 {
        let key = format!("/full/chunk-{index}");
        let response = client.request("PUT", &key, &[], &chunk);
        if response.status == 200 {
            stored.push(key);
            continue;
        }
        refused = Some(response);
        break;
    }
    let refused = refused.expect("a 32 MiB filesystem must fill up within 64 MiB of PUTs");
    assert_eq!(refused.status, 507, "full disk: {refused}");
    assert_eq!(error_code(&refused.body).as_deref(), Some("InsufficientStorage"));
    assert!(stored.len() >= 10, "only {} MiB fit on a 32 MiB filesystem", stored.len());
    // Reads keep working, and nothing half-written is visible.
    let mut client = server.client();
    assert_eq!(client.get("/full/small").expect(200, "read on a full disk").body, small);
    assert_eq!(client.get(&stored[0]).expect(200, "read on a full disk").body, chunk);
    let listing = client.get("/full?list-type=2").expect(200, "list on a full disk");
    assert_eq!(xml_values(&listing.body, "Key").len(), stored.len() + 1);
    // Deleting frees space (the metadata reserve makes deletes possible on a full disk) ...
    for key in &stored[..4] {
        client.delete(key).expect(204, "delete on a full disk");
    }
    // ... and writes succeed again without a restart (unlinks are asynchronous: retry briefly).
    let mut accepted = false;
    for _ in 0..50 {
        if client.request("PUT", "/full/after", &[], &chunk).status == 200 {
            accepted = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(accepted, "writes must succeed again once space is freed");
    assert_eq!(client.get("/full/after").expect(200, "read back").body, chunk);
    // What was acknowledged survives a restart.
    server.kill9_and_restart();
    let mut client = server.client();
    assert_eq!(client.get("/full/small").expect(200, "after restart").body, small);
    assert_eq!(client.get(&stored[5]).expect(200, "after restart").body, chunk);
    client.get(&stored[0]).expect_error(404, "NoSuchKey", "a deleted object stays deleted");
    drop(server);
}
