//! Operating s3core (issue 14): metrics, probes, graceful shutdown, the access log and the
//! configuration layers, each checked against the real binary.
//!
//! These tests start their own processes (`Node`) rather than `common::Server`: they need the
//! admin listener's address, chosen flags and environment, a fixed S3 port across restarts,
//! and signals other than SIGKILL.

mod configuration;
mod health;
mod metrics;
mod shutdown;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{parse_response, server_binary, IO_TIMEOUT};

/// How long a start may take (recovery of a small data dir is milliseconds).
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// One s3core process.
pub struct Node {
    child: Child,
    pub s3: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    lines: mpsc::Receiver<String>,
    stderr_path: PathBuf,
    /// Every stdout line seen so far.
    pub stdout: Vec<String>,
}

/// What a node is started with.
pub struct Launch<'a> {
    pub data_dir: &'a Path,
    /// `None`: an ephemeral port.
    pub port: Option<u16>,
    pub cores: usize,
    pub args: Vec<String>,
}

impl<'a> Launch<'a> {
    pub fn new(data_dir: &'a Path) -> Launch<'a> {
        Launch { data_dir, port: None, cores: 2, args: Vec::new() }
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    pub fn cores(mut self, cores: usize) -> Self {
        self.cores = cores;
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Spawns the process, without waiting for anything.
    pub fn spawn(self) -> Node {
        let stderr_path = self.data_dir.with_extension(format!("stderr-{}.log", unique()));
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut command = Command::new(server_binary());
        let listen = format!("127.0.0.1:{}", self.port.unwrap_or(0));
        let cores = self.cores.to_string();
        command.args(["--listen", &listen, "--cores", &cores, "--data-dir"]).arg(self.data_dir);
        command.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(stderr));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("S3CORE_") {
                command.env_remove(&name);
            }
        }
        let mut child = command.spawn().expect("spawn s3core");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Node { child, s3: None, admin: None, lines, stderr_path, stdout: Vec::new() }
    }

    /// Spawns and waits until the S3 listener serves.
    pub fn start(self) -> Node {
        let mut node = self.spawn();
        node.wait_for_s3();
        node
    }
}

/// A number unique in this test process (file names).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Node {
    /// Reads stdout until `wanted` is known or the start times out.
    fn wait_for(&mut self, what: &str, done: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + START_TIMEOUT;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("s3core admin listening on http://") {
                        self.admin = Some(address.trim().parse().expect("admin address"));
                    } else if let Some(address) = line.strip_prefix("s3core listening on http://") {
                        self.s3 = Some(address.trim().parse().expect("S3 address"));
                    }
                    self.stdout.push(line);
                }
                Err(_) => panic!("s3core did not print its {what} line in time; stderr:\n{}", self.stderr()),
            }
        }
    }

    pub fn wait_for_admin(&mut self) {
        self.wait_for("admin listening", |node| node.admin.is_some());
    }

    pub fn wait_for_s3(&mut self) {
        self.wait_for("listening", |node| node.s3.is_some());
    }

    pub fn s3(&self) -> SocketAddr {
        self.s3.expect("S3 listener")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`TERM`, `INT`, `KILL`) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg("-s").arg(signal).arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, and the exit status (the test fails if it takes longer than `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(timeout)
            .unwrap_or_else(|| panic!("s3core still runs {timeout:?} after SIGTERM; stderr:\n{}", self.stderr()))
    }

    /// A GET on the admin listener: (status, body).
    pub fn admin_get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let admin = self.admin.expect("admin listener");
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = TcpStream::connect(admin).expect("connect to the admin listener");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("admin reply");
        let response = parse_response(&reply).unwrap_or_else(|| panic!("bad admin reply {reply:?}"));
        (response.status, response.text())
    }

    pub fn metrics(&self) -> Metrics {
        let (status, body) = self.admin_get("/metrics", &[]);
        assert_eq!(status, 200, "{body}");
        Metrics::parse(&body)
    }

    /// The metrics once no request is in flight and no connection open (the counts of a
    /// request are final once its in-flight count is given back).
    pub fn settled_metrics(&self) -> Metrics {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let metrics = self.metrics();
            let busy = metrics.sum("s3core_requests_in_flight") + metrics.sum("s3core_connections_open");
            if busy == 0.0 {
                return metrics;
            }
            assert!(Instant::now() < deadline, "requests or connections still open:\n{}", metrics.text);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// A parsed Prometheus text exposition.
pub struct Metrics {
    pub text: String,
    /// `name{labels}` as written → value.
    pub series: BTreeMap<String, f64>,
}

impl Metrics {
    pub fn parse(text: &str) -> Metrics {
        let mut series = BTreeMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
            let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            assert!(series.insert(name.to_string(), value).is_none(), "series {name} twice");
        }
        Metrics { text: text.to_string(), series }
    }

    /// The value of one series, written exactly as exposed (`name{a="x",b="y"}`); 0 if absent.
    pub fn value(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// The sum of every series of family `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.series.iter().filter(|(series, _)| series.split('{').next() == Some(name)).map(|(_, value)| value).sum()
    }

    /// The `(le, count)` buckets of histogram `name` with `labels` (`action="GetObject"`).
    pub fn buckets(&self, name: &str, labels: &str) -> Vec<(String, f64)> {
        let prefix =
            if labels.is_empty() { format!("{name}_bucket{{le=\"") } else { format!("{name}_bucket{{{labels},le=\"") };
        self.series
            .iter()
            .filter_map(|(series, value)| {
                let le = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                Some((le.to_string(), *value))
            })
            .collect()
    }
}

/// A free TCP port on 127.0.0.1 (bound and released: a restart reuses it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What `exchange` saw.
pub struct Exchange {
    pub request: Vec<u8>,
    pub reply: Vec<u8>,
    pub status: u16,
    /// Everything after the response head.
    pub body: Vec<u8>,
}

/// One request on a fresh connection, with `Connection: close`: what was sent and received,
/// byte for byte.
pub fn exchange(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> Exchange {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: s3core-ops-test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(&request).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("reply");
    let text = String::from_utf8_lossy(&reply);
    let status = text.get(9..12).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("bad reply {text:?}"));
    let body_start = crate::support::find(&reply, b"\r\n\r\n").map_or(reply.len(), |end| end + 4);
    let body = reply[body_start..].to_vec();
    Exchange { request, reply, status, body }
}
