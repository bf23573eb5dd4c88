//! The real `s3core` binary as a child process: started on port 0 (the port is read from its
//! listening line), SIGKILLed at any moment, restarted on the same data dir; and what it
//! left on disk.
//!
//! Servers are hermetic: they get flags only, never the `S3CORE_*` environment of whoever
//! runs the suite. Two variables choose what runs:
//! - `S3CORE_TEST_BIN`: the binary (default: this build's), e.g. the previous commit's, to show
//!   a regression test fails without its fix;
//! - `S3CORE_TEST_SERVER_ARGS`: flags, separated by spaces, given to every server before the
//!   test's own (which win when both set one), e.g. `--io-driver legacy --md5-kernel scalar`:
//!   test.sh runs the integration suite again with them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::client::Client;

/// How long a start may take to print its listening line, unless the options say otherwise.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The server binary: this build's, or `S3CORE_TEST_BIN` to run the suites against another
/// build.
pub fn server_binary() -> std::ffi::OsString {
    std::env::var_os("S3CORE_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_s3core").into())
}

/// The flags of `S3CORE_TEST_SERVER_ARGS`, which every server of the suites gets first.
pub fn switch_args() -> Vec<String> {
    std::env::var("S3CORE_TEST_SERVER_ARGS").unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// A `Command` for the server binary with `S3CORE_TEST_SERVER_ARGS` first and no `S3CORE_*`
/// variable in its environment.
pub fn server_command() -> Command {
    let mut command = Command::new(server_binary());
    command.args(switch_args());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("S3CORE_") {
            command.env_remove(&name);
        }
    }
    command
}

/// How a server starts. `ServerOptions::new(cores)` gives the integration tests' defaults.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub cores: usize,
    /// Flags after `--listen`, `--data-dir` and `--cores`, at every start.
    pub args: Vec<String>,
    /// The data dir; `None`: `data/` in the server's own temp dir.
    pub data_dir: Option<PathBuf>,
    /// Where each start's stderr goes (`stderr-N.log`); `None`: the server's own temp dir,
    /// removed with the server. A directory the caller owns outlives the server, so a
    /// failing run can keep its logs.
    pub log_dir: Option<PathBuf>,
    /// How long a start (recovery included) may take to print its listening line.
    pub start_timeout: Duration,
}

impl ServerOptions {
    pub fn new(cores: usize) -> ServerOptions {
        ServerOptions { cores, args: Vec::new(), data_dir: None, log_dir: None, start_timeout: START_TIMEOUT }
    }
}

/// One `s3core` process at a time on one data dir. Killed (SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub cores: usize,
    args: Vec<String>,
    /// Holds `data/` and the stderr logs unless the options name other places; removed on drop.
    _root: tempfile::TempDir,
    data_dir: PathBuf,
    log_dir: PathBuf,
    start_timeout: Duration,
    /// Processes started so far (the current one is number `starts`).
    pub starts: usize,
    /// How long the last start took (spawn to the listening line): recovery time.
    pub last_start: Duration,
}

impl Server {
    /// A server with `--cores 2` and default flags.
    pub fn start() -> Server {
        Server::start_with(2, &[])
    }

    pub fn start_with(cores: usize, extra_args: &[&str]) -> Server {
        Server::start_in(None, cores, extra_args)
    }

    /// A server on `data_dir` (or a fresh temp dir when `None`).
    pub fn start_in(data_dir: Option<PathBuf>, cores: usize, extra_args: &[&str]) -> Server {
        let args = extra_args.iter().map(|arg| arg.to_string()).collect();
        Server::start_with_options(ServerOptions { data_dir, args, ..ServerOptions::new(cores) })
    }

    pub fn start_with_options(options: ServerOptions) -> Server {
        let root = tempfile::Builder::new().prefix("s3core-it-").tempdir().expect("temp dir");
        let data_dir = options.data_dir.unwrap_or_else(|| root.path().join("data"));
        let log_dir = options.log_dir.unwrap_or_else(|| root.path().to_path_buf());
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            cores: options.cores,
            args: options.args,
            _root: root,
            data_dir,
            log_dir,
            start_timeout: options.start_timeout,
            starts: 0,
            last_start: Duration::ZERO,
        };
        server.spawn();
        server
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    pub fn log_path(&self, start: usize) -> PathBuf {
        self.log_dir.join(format!("stderr-{start}.log"))
    }

    /// The stderr of the current (or last) process, so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_path(self.starts)).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).expect("stderr log file");
        let mut command = server_command();
        command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--cores")
            .arg(self.cores.to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
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
        match receiver.recv_timeout(self.start_timeout) {
            Ok(addr) => {
                self.addr = addr.parse().unwrap_or_else(|_| panic!("bad listening address {addr:?}"));
                self.child = Some(child);
                self.last_start = started.elapsed();
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "s3core did not report its address within {:?} (exit: {status:?}) on {}; stderr:\n{}",
                    self.start_timeout,
                    self.data_dir.display(),
                    self.stderr()
                );
            }
        }
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap: no exit code runs, nothing is flushed.
    /// Nothing happens when the process is already gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGKILL (unless already dead), wait, and start again on the same data dir (new port).
    pub fn kill9_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Like `kill9_and_restart`, with another `--cores`.
    pub fn kill9_and_restart_with_cores(&mut self, cores: usize) {
        self.kill9();
        self.cores = cores;
        self.spawn();
    }

    /// Like `kill9_and_restart`, with other extra flags from now on (e.g. without a fault plan).
    pub fn kill9_and_restart_with_args(&mut self, extra_args: &[&str]) {
        self.kill9();
        self.set_args(extra_args.iter().map(|arg| arg.to_string()).collect());
        self.spawn();
    }

    /// The extra flags of the next starts.
    pub fn set_args(&mut self, args: Vec<String>) {
        self.args = args;
    }

    /// Runs the binary on a fresh data dir with `extra_args` (and `env`), expecting it to refuse
    /// to start: its exit code and stderr. Panics if it is still running after the start timeout.
    pub fn start_expecting_failure(extra_args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
        let root = tempfile::Builder::new().prefix("s3core-it-").tempdir().expect("temp dir");
        let mut command = server_command();
        command.args(["--listen", "127.0.0.1:0", "--cores", "1", "--data-dir"]).arg(root.path().join("data"));
        command.args(extra_args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("spawn s3core");
        let deadline = Instant::now() + START_TIMEOUT;
        while child.try_wait().expect("wait for s3core").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("s3core {extra_args:?} {env:?} kept running: it should have refused to start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("s3core output");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Whether the process is still running (it must be, until we kill it).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Raw bytes on a new connection; the raw answer (see `send_raw_full`).
    pub fn send_raw(&self, bytes: &[u8]) -> Vec<u8> {
        super::client::send_raw_full(self.addr, bytes).bytes
    }

    /// A normal request on a NEW connection must succeed: the server is still serving.
    pub fn assert_serving(&mut self, context: &str) {
        assert!(self.is_running(), "{context}: the server process died; stderr:\n{}", self.stderr());
        let mut client = self.client();
        let response = client.get("/");
        assert_eq!(response.status, 200, "{context}: ListBuckets on a new connection failed: {response}");
        let name = "alive-check";
        let create = client.put(&format!("/{name}"), b"");
        assert!(create.status == 200 || create.status == 409, "{context}: {create}");
        let body = format!("alive after {context}");
        client.put(&format!("/{name}/probe"), body.as_bytes()).expect(200, context);
        let got = client.get(&format!("/{name}/probe")).expect(200, context);
        assert_eq!(got.body, body.as_bytes(), "{context}");
    }

    /// Number of block files under `DATA/blocks/*/` (every core's directory). A hard link
    /// (a copy) counts as one more name.
    pub fn block_file_count(&self) -> usize {
        let Ok(cores) = std::fs::read_dir(self.data_dir().join("blocks")) else { return 0 };
        cores
            .flatten()
            .filter(|entry| entry.path().is_dir())
            .map(|entry| std::fs::read_dir(entry.path()).map(|files| files.flatten().count()).unwrap_or(0))
            .sum()
    }

    /// Waits (at most 5 s: unlinks run after the acknowledgement) until exactly `expected`
    /// block files exist, then asserts it.
    #[track_caller]
    pub fn expect_block_files(&self, expected: usize, context: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut count = self.block_file_count();
        while count != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            count = self.block_file_count();
        }
        assert_eq!(count, expected, "{context}: block files under {}", self.data_dir().join("blocks").display());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether `path` exists under `dir` (recursively), for "nothing escaped the data dir" checks.
pub fn tree_contains_file_named(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|entry| {
        let path = entry.path();
        entry.file_name().to_string_lossy() == name || (path.is_dir() && tree_contains_file_named(&path, name))
    })
}
