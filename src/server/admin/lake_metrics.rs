//! The families of s3core in front of an upstream (`--upstream`): the page cache and the
//! upstream client, every core's numbers summed. Absent without an upstream.

use crate::metrics::{Exposition, MetricKind, LATENCY_BOUNDS_US, MICROS_PER_SECOND};
use crate::server::control::LakeCounts;
use crate::upstream::stats::{FailureKind, Operation, Outcome};

pub(super) fn render_lake(out: &mut Exposition, lake: &LakeCounts) {
    render_cache(out, lake);
    render_upstream(out, lake);
}

fn render_cache(out: &mut Exposition, lake: &LakeCounts) {
    let cache = &lake.cache;
    let counters: [(&str, &str, u64); 8] = [
        ("s3core_cache_hits_total", "Page lookups that found the page in the cache.", cache.hits),
        ("s3core_cache_misses_total", "Page lookups that fetched the page from the upstream.", cache.misses),
        (
            "s3core_cache_coalesced_waits_total",
            "Page lookups that waited for another reader's fetch of the same page (single flight).",
            cache.coalesced,
        ),
        (
            "s3core_cache_upstream_bytes_total",
            "Object data fetched from the upstream into cache pages.",
            cache.upstream_bytes,
        ),
        (
            "s3core_cache_fetch_failures_total",
            "Page fetches that failed (upstream error, changed version, or the page not stored).",
            cache.fetch_failures,
        ),
        ("s3core_cache_served_bytes_total", "Object data sent to clients from cache pages.", cache.served_bytes),
        ("s3core_cache_evictions_total", "Pages evicted to stay within the capacity.", cache.evictions),
        (
            "s3core_cache_dropped_pages_total",
            "Pages forgotten because their data failed its checksum or their file was gone.",
            cache.dropped,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, MetricKind::Counter, help);
        out.sample(name, &[], value);
    }
    let gauges: [(&str, &str, u64); 3] = [
        ("s3core_cache_bytes", "Bytes of object data in cache pages on disk.", cache.resident_bytes),
        ("s3core_cache_pages", "Cache pages on disk.", cache.resident_pages),
        ("s3core_cache_capacity_bytes", "The cache's capacity (--cache-capacity).", cache.capacity_bytes),
    ];
    for (name, help, value) in gauges {
        out.family(name, MetricKind::Gauge, help);
        out.sample(name, &[], value);
    }
}

fn render_upstream(out: &mut Exposition, lake: &LakeCounts) {
    let upstream = &lake.upstream;
    out.family(
        "s3core_upstream_requests_total",
        MetricKind::Counter,
        "Operations sent to the upstream, by S3 operation and outcome (ok, client_error, server_error, unavailable, failed), retries done.",
    );
    for operation in Operation::ALL {
        for outcome in Outcome::ALL {
            let count = upstream.requests[*operation as usize][*outcome as usize];
            if count > 0 {
                let labels = [("operation", operation.label()), ("outcome", outcome.label())];
                out.sample("s3core_upstream_requests_total", &labels, count);
            }
        }
    }
    out.family(
        "s3core_upstream_errors_total",
        MetricKind::Counter,
        "Failed upstream attempts by kind (timeout, connect, tls, reset, throttled, 5xx, denied, protocol); retried ones count too.",
    );
    for kind in FailureKind::ALL {
        out.sample("s3core_upstream_errors_total", &[("kind", kind.label())], upstream.failures[*kind as usize]);
    }
    out.family("s3core_upstream_retries_total", MetricKind::Counter, "Upstream attempts made again after a failure.");
    out.sample("s3core_upstream_retries_total", &[], upstream.retries);
    let name = "s3core_upstream_request_duration_seconds";
    out.family(
        name,
        MetricKind::Histogram,
        "Upstream operations from the first attempt to the answer's head (a document: its end), retries included, by operation.",
    );
    for operation in Operation::ALL {
        if let Some(distribution) = &upstream.latency_us[*operation as usize] {
            out.histogram(
                name,
                &[("operation", operation.label())],
                distribution,
                LATENCY_BOUNDS_US,
                MICROS_PER_SECOND,
            );
        }
    }
}
