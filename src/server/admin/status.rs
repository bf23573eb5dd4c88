//! The status page: a static HTML page (no external assets, a little vanilla JavaScript) that
//! polls `/status.json` every second and shows per-core request rates, latency percentiles,
//! bytes in and out, shard sizes and disk space. Rates are computed in the browser from two
//! successive polls, so the server keeps no history.

use serde_json::{json, Value};

use crate::metrics::Distribution;
use crate::s3::action_kind::ActionKind;
use crate::server::lifecycle::{Lifecycle, Phase};

use super::metrics::{COMMIT, VERSION};
use super::scrape::Scraped;

pub(crate) const PAGE: &str = include_str!("status.html");

/// Percentiles of a latency distribution (microseconds), in milliseconds.
fn percentiles(distribution: &Distribution) -> Value {
    let ms = |quantile: f64| distribution.quantile(quantile) as f64 / 1000.0;
    json!({ "count": distribution.count(), "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "p999_ms": ms(0.999) })
}

pub(crate) fn json(scraped: &Scraped, lifecycle: &Lifecycle) -> String {
    let cores: Vec<Value> = scraped
        .cores
        .iter()
        .map(|core| {
            json!({
                "core": core.core,
                "requests": core.counts.total(),
                "in_flight": core.in_flight,
                "connections": core.open_connections,
                "received_bytes": core.counts.received_bytes,
                "sent_bytes": core.counts.sent_bytes,
                "latency": percentiles(&core.counts.all_durations()),
            })
        })
        .collect();
    let actions: Vec<Value> = ActionKind::ALL
        .iter()
        .filter_map(|kind| {
            let distribution = scraped.merged.duration_us[kind.index()].as_ref()?;
            Some(json!({ "action": kind.as_str(), "latency": percentiles(distribution) }))
        })
        .collect();
    let mut sizes = crate::store::index::ShardSizes::default();
    let mut journal_bytes = 0;
    for (_, report) in scraped.cores.iter().flat_map(|core| &core.shards) {
        sizes.buckets += report.sizes.buckets;
        sizes.objects += report.sizes.objects;
        sizes.object_bytes += report.sizes.object_bytes;
        sizes.inline_bytes += report.sizes.inline_bytes;
        sizes.uploads += report.sizes.uploads;
        journal_bytes += report.journal_bytes;
    }
    let errors: u64 = scraped.merged.errors.iter().flat_map(|codes| codes.iter()).sum();
    let phase = match lifecycle.phase() {
        Phase::Starting => "starting",
        Phase::Serving => "serving",
        Phase::Draining => "draining",
    };
    json!({
        "version": VERSION,
        "commit": COMMIT,
        "phase": phase,
        "now_ms": crate::dates::now_ms(),
        "started_unix_s": scraped.started_unix_s,
        "core_count": scraped.core_count,
        "cores": cores,
        "totals": {
            "requests": scraped.merged.total(),
            "errors": errors,
            "received_bytes": scraped.merged.received_bytes,
            "sent_bytes": scraped.merged.sent_bytes,
            "latency": percentiles(&scraped.merged.all_durations()),
        },
        "actions": actions,
        "shards": {
            "buckets": sizes.buckets,
            "objects": sizes.objects,
            "object_bytes": sizes.object_bytes,
            "inline_bytes": sizes.inline_bytes,
            "uploads": sizes.uploads,
            "journal_bytes": journal_bytes,
        },
        "journal": {
            "flushes": scraped.journal.flushes,
            "fsync": percentiles(&scraped.journal.fsync_us),
        },
        "disk": scraped.filesystem.map(|filesystem| json!({
            "free_bytes": filesystem.free_bytes,
            "size_bytes": filesystem.size_bytes,
        })),
        "cache": scraped.lake.as_ref().map(|lake| cache_json(&lake.cache)),
    })
    .to_string()
}

/// In front of an upstream: the page cache of every core together. `hit_ratio` is the share of
/// page lookups that found the page stored (a lookup that waited for another's fetch is not a
/// hit; it is counted in `coalesced`); null before the first lookup.
fn cache_json(cache: &crate::cache::stats::CacheCounts) -> Value {
    let lookups = cache.hits + cache.misses + cache.coalesced;
    json!({
        "hits": cache.hits,
        "misses": cache.misses,
        "coalesced": cache.coalesced,
        "hit_ratio": (lookups > 0).then(|| cache.hits as f64 / lookups as f64),
        "upstream_bytes": cache.upstream_bytes,
        "served_bytes": cache.served_bytes,
        "resident_bytes": cache.resident_bytes,
        "capacity_bytes": cache.capacity_bytes,
    })
}
