//! The upstream client (`s3core::upstream`) driven from this test binary against real
//! servers: a second s3core process with credentials (every operation, large streamed
//! bodies, ranges, conditions, errors), the same process killed, restarted and frozen
//! (faults), s3core behind a TLS terminator made here with a test CA (tls), and SeaweedFS's
//! `weed` (seaweedfs). Nothing here is a mock: every answer comes from a real server.
//!
//! The client runs on a monoio runtime of the test thread, as it runs on a core's runtime in
//! the server.

mod faults;
mod operations;
pub(crate) mod seaweedfs;
mod tls;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use md5::{Digest, Md5};

use s3core::upstream::{BodySink, BodySource, Upstream, UpstreamCredentials, UpstreamSettings};

use crate::support::server_binary;

pub const ACCESS_KEY: &str = "AKIDUPSTREAMTEST";
pub const SECRET_KEY: &str = "upstream/Secret+Key=with-signs";

/// Runs `future` on a fresh monoio runtime (io_uring where the kernel has it, epoll
/// otherwise), with timers and a blocking pool, as a server core has.
pub fn run<F: Future>(future: F) -> F::Output {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .attach_thread_pool(Box::new(monoio::blocking::DefaultThreadPool::new(1)))
        .build()
        .expect("monoio runtime");
    runtime.block_on(future)
}

/// Like `run`, on monoio's legacy (epoll) driver, which the server falls back to where
/// io_uring is missing: timeouts and cancellation take other paths there.
pub fn run_legacy<F: Future>(future: F) -> F::Output {
    let mut runtime =
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().expect("legacy monoio runtime");
    runtime.block_on(future)
}

/// Settings for `url` signed with the test keys.
pub fn settings(url: &str) -> UpstreamSettings {
    let credentials = UpstreamCredentials::new(ACCESS_KEY, SECRET_KEY).expect("credentials");
    UpstreamSettings::new(url, Some(credentials), "us-east-1", None).expect("upstream settings")
}

pub fn client(settings: UpstreamSettings) -> Upstream {
    Upstream::new(Arc::new(settings))
}

/// A free loopback port (bound and released: a race with other processes is unlikely).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The 8-byte word `index` of the test pattern `seed` (splitmix64): any range of a large
/// body can be computed without holding the body.
fn pattern_word(seed: u64, index: u64) -> [u8; 8] {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)).to_le_bytes()
}

/// Bytes `offset..offset + length` of pattern `seed`.
pub fn pattern(seed: u64, offset: u64, length: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(length + 16);
    let mut index = offset / 8;
    let skip = (offset % 8) as usize;
    while out.len() < length + skip {
        out.extend_from_slice(&pattern_word(seed, index));
        index += 1;
    }
    out.drain(..skip);
    out.truncate(length);
    out
}

/// A body made on the fly from the pattern, never held whole: the client pulls it piece by
/// piece. It cannot rewind (as a client's upload flowing through cannot), and records the
/// largest piece asked for and the MD5 of what it gave.
pub struct PatternBody {
    seed: u64,
    length: u64,
    position: u64,
    md5: Md5,
    pub largest_piece: usize,
    /// Called with the position after each piece (a test kills the upstream mid-body).
    on_progress: Option<Box<dyn FnMut(u64)>>,
}

impl PatternBody {
    pub fn new(seed: u64, length: u64) -> PatternBody {
        PatternBody { seed, length, position: 0, md5: Md5::new(), largest_piece: 0, on_progress: None }
    }

    pub fn on_progress(mut self, callback: impl FnMut(u64) + 'static) -> Self {
        self.on_progress = Some(Box::new(callback));
        self
    }

    /// The quoted MD5 of the whole pattern (what an upstream's ETag is for a single PUT).
    pub fn etag(seed: u64, length: u64) -> String {
        let mut md5 = Md5::new();
        let mut offset = 0;
        while offset < length {
            let piece = (length - offset).min(1 << 20) as usize;
            md5.update(pattern(seed, offset, piece));
            offset += piece as u64;
        }
        format!("\"{}\"", md5.finalize().iter().map(|byte| format!("{byte:02x}")).collect::<String>())
    }

    pub fn given(&self) -> u64 {
        self.position
    }
}

impl BodySource for PatternBody {
    fn length(&self) -> u64 {
        self.length
    }

    async fn fill(&mut self, mut buffer: Vec<u8>, max_bytes: usize) -> (std::io::Result<usize>, Vec<u8>) {
        let take = (max_bytes as u64).min(self.length - self.position) as usize;
        let bytes = pattern(self.seed, self.position, take);
        self.md5.update(&bytes);
        buffer.extend_from_slice(&bytes);
        self.position += take as u64;
        self.largest_piece = self.largest_piece.max(take);
        if let Some(callback) = self.on_progress.as_mut() {
            callback(self.position);
        }
        (Ok(take), buffer)
    }
}

/// A sink that checks a body against the pattern as it arrives, holding nothing.
pub struct PatternSink {
    seed: u64,
    /// Offset in the pattern of the next byte expected.
    pub offset: u64,
    pub received: u64,
    pub largest_piece: usize,
    pub mismatch_at: Option<u64>,
}

impl PatternSink {
    pub fn new(seed: u64, offset: u64) -> PatternSink {
        PatternSink { seed, offset, received: 0, largest_piece: 0, mismatch_at: None }
    }
}

impl BodySink for PatternSink {
    async fn write(&mut self, buffer: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let expected = pattern(self.seed, self.offset, buffer.len());
        if self.mismatch_at.is_none() && expected != buffer {
            let at = expected.iter().zip(&buffer).position(|(a, b)| a != b).unwrap_or(0);
            self.mismatch_at = Some(self.received + at as u64);
        }
        self.offset += buffer.len() as u64;
        self.received += buffer.len() as u64;
        self.largest_piece = self.largest_piece.max(buffer.len());
        (Ok(()), buffer)
    }
}

/// A second s3core process, the upstream: credentials on, one core, on a port it keeps
/// across restarts (the client's endpoint does not change). Killed on drop.
pub struct UpstreamServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    root: tempfile::TempDir,
    extra_args: Vec<String>,
    starts: usize,
}

impl UpstreamServer {
    pub fn start(extra_args: &[&str]) -> UpstreamServer {
        let root = tempfile::Builder::new().prefix("s3core-upstream-").tempdir().expect("temp dir");
        let mut server = UpstreamServer {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            starts: 0,
        };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.root.path().join(format!("stderr-{}.log", self.starts))).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.root.path().join(format!("stderr-{}.log", self.starts))).expect("log");
        let mut command = Command::new(server_binary());
        command
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--cores", "1", "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("S3CORE_") {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().expect("spawn the upstream s3core");
        self.addr = wait_for_listening(&mut child, &self.stderr());
        self.child = Some(child);
    }

    /// SIGKILL, as a crash or an operator's kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("upstream running").id()
    }

    /// SIGSTOP: the process stops answering, its sockets stay open (a stalled store).
    pub fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    pub fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A frozen process is killed all the same; CONT first keeps no zombie stopped.
            signal(child.id(), "-CONT");
        }
        self.kill();
    }
}

pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(signal).arg(pid.to_string()).status().expect("kill(1)");
    assert!(status.success(), "kill {signal} {pid} failed");
}

/// Reads the child's stdout until s3core prints its address.
fn wait_for_listening(child: &mut Child, log_hint: &str) -> SocketAddr {
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let mut sender = Some(sender);
        while reader.read_line(&mut line).map(|read| read > 0).unwrap_or(false) {
            if let Some(address) = line.trim().strip_prefix("s3core listening on http://") {
                if let Some(sender) = sender.take() {
                    let _ = sender.send(address.to_string());
                }
            }
            line.clear();
        }
    });
    match receiver.recv_timeout(Duration::from_secs(10)) {
        Ok(address) => address.parse().expect("listening address"),
        Err(_) => {
            let _ = child.kill();
            panic!("the upstream s3core did not start; stderr so far: {log_hint}");
        }
    }
}

/// Writes `text` to `dir/name`, returning the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}
