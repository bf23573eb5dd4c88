//! The real `s3core` binary as a child process on a given data dir: started, SIGKILLed at any
//! moment, restarted on the same dir; and what its logs say about journal checkpoints.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Recovery replays whole journals: allow it time on a busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    data_dir: PathBuf,
    log_dir: PathBuf,
    pub starts: usize,
    /// How long the last start took (spawn to the listening line): recovery time.
    pub last_start: Duration,
    /// `--journal-checkpoint-bytes` of the next start (`None`: the server's default).
    pub checkpoint_bytes: Option<u64>,
}

impl Server {
    /// Starts a server on `data_dir`; its stderr goes to `log_dir/stderr-N.log`.
    pub fn start(data_dir: &Path, log_dir: &Path, checkpoint_bytes: Option<u64>) -> Server {
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            starts: 0,
            last_start: Duration::ZERO,
            checkpoint_bytes,
        };
        server.spawn();
        server
    }

    pub fn log_path(&self, start: usize) -> PathBuf {
        self.log_dir.join(format!("stderr-{start}.log"))
    }

    /// The stderr of the current (or last) process.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("stderr log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_s3core"));
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--cores", "2", "--multipart-min-part-bytes", "1024", "--log-level", "info"])
            .args(
                self.checkpoint_bytes
                    .iter()
                    .flat_map(|bytes| ["--journal-checkpoint-bytes".to_string(), bytes.to_string()]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        // Flags only: the S3CORE_CRASH_* knobs of this test (and anything else) stay out.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("S3CORE_") {
                command.env_remove(&name);
            }
        }
        let started = Instant::now();
        let mut child = command.spawn().expect("spawn s3core");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let mut sender = Some(sender);
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if let Some(addr) = line.trim().strip_prefix("s3core listening on http://") {
                            if let Some(sender) = sender.take() {
                                let _ = sender.send(addr.to_string());
                            }
                        }
                    }
                }
            }
        });
        match receiver.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                self.addr = addr.parse().unwrap_or_else(|_| panic!("bad listening address {addr:?}"));
                self.child = Some(child);
                self.last_start = started.elapsed();
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "s3core did not report its address within {START_TIMEOUT:?} (exit: {status:?}) on {}; stderr:\n{}",
                    self.data_dir.display(),
                    std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
                );
            }
        }
    }

    /// Whether the process is still running (it must be, until we kill it).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap: no exit code runs, nothing is flushed.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same data dir (new port), after `kill9`.
    pub fn start_again(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Journal checkpoints that server logs report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checkpoints {
    /// Online rotations (`GroupSync::rotate`) that completed.
    pub online: u64,
    /// Checkpoints written by recovery at start.
    pub at_start: u64,
    /// Checkpoint files a crash left unfinished, removed at start: crashes mid-rotation.
    pub unfinished: u64,
}

impl Checkpoints {
    /// Counts the checkpoint lines of one server log.
    pub fn in_log(log: &str) -> Checkpoints {
        let mut counts = Checkpoints::default();
        for line in log.lines() {
            if line.contains("removed an unfinished checkpoint") {
                counts.unfinished += 1;
            } else if line.contains("checkpointed to") {
                if line.contains("s3core::store::recovery") {
                    counts.at_start += 1;
                } else {
                    counts.online += 1;
                }
            }
        }
        counts
    }

    /// Counts over every server log in `log_dir` (`stderr-N.log`).
    pub fn in_logs(log_dir: &Path) -> Checkpoints {
        let mut total = Checkpoints::default();
        let entries = std::fs::read_dir(log_dir).into_iter().flatten().flatten();
        for entry in entries.filter(|entry| entry.file_name().to_string_lossy().starts_with("stderr-")) {
            total.add(Checkpoints::in_log(&std::fs::read_to_string(entry.path()).unwrap_or_default()));
        }
        total
    }

    pub fn add(&mut self, other: Checkpoints) {
        self.online += other.online;
        self.at_start += other.at_start;
        self.unfinished += other.unfinished;
    }
}
