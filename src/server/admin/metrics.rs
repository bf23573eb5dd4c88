//! The Prometheus exposition of a scrape. Names follow Prometheus conventions: prefixed
//! `s3core_`, base units in the name (`_seconds`, `_bytes`), counters end in `_total`.
//! A feature with counters of its own adds a field to `CoreSnapshot` and a `render_*`
//! function here, or in a file of its own (`lake_metrics`, the upstream and its cache).

use crate::error::S3ErrorCode;
use crate::metrics::{Exposition, MetricKind, LATENCY_BOUNDS_US, MICROS_PER_SECOND};
use crate::s3::action_kind::ActionKind;
use crate::server::lifecycle::Phase;
use crate::server::stats::AuthRefusal;

use super::scrape::Scraped;

/// Writers per group commit.
const BATCH_BOUNDS: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// The version and the commit the binary was built from (`build.rs`).
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const COMMIT: &str = env!("S3CORE_COMMIT");

pub(crate) fn render(scraped: &Scraped) -> String {
    let mut out = Exposition::new();
    render_process(&mut out, scraped);
    render_requests(&mut out, scraped);
    render_cores(&mut out, scraped);
    render_journal(&mut out, scraped);
    render_shards(&mut out, scraped);
    render_access_log(&mut out, scraped);
    if let Some(lake) = &scraped.lake {
        super::lake_metrics::render_lake(&mut out, lake);
    }
    out.finish()
}

fn render_process(out: &mut Exposition, scraped: &Scraped) {
    out.family("s3core_build_info", MetricKind::Gauge, "The version and commit of the running binary (always 1).");
    out.sample("s3core_build_info", &[("version", VERSION), ("commit", COMMIT)], 1);
    out.family("s3core_start_time_seconds", MetricKind::Gauge, "When the process started, in seconds since the epoch.");
    out.sample("s3core_start_time_seconds", &[], scraped.started_unix_s);
    out.family("s3core_draining", MetricKind::Gauge, "1 once a shutdown signal came (the server drains), else 0.");
    out.sample("s3core_draining", &[], u64::from(scraped.phase == Phase::Draining));
    out.family("s3core_cores", MetricKind::Gauge, "Cores (threads with their own runtime and listener).");
    out.sample("s3core_cores", &[], scraped.core_count as u64);
    out.family("s3core_cores_answering", MetricKind::Gauge, "Cores that answered this scrape in time.");
    out.sample("s3core_cores_answering", &[], scraped.cores.len() as u64);
    if let Some(filesystem) = scraped.filesystem {
        out.family(
            "s3core_data_filesystem_free_bytes",
            MetricKind::Gauge,
            "Bytes the data directory's file system still has for s3core (f_bavail).",
        );
        out.sample("s3core_data_filesystem_free_bytes", &[], filesystem.free_bytes);
        out.family("s3core_data_filesystem_size_bytes", MetricKind::Gauge, "Size of the data directory's file system.");
        out.sample("s3core_data_filesystem_size_bytes", &[], filesystem.size_bytes);
    }
}

fn render_requests(out: &mut Exposition, scraped: &Scraped) {
    let merged = &scraped.merged;
    out.family("s3core_requests_total", MetricKind::Counter, "Requests answered, by S3 action and HTTP status.");
    for kind in ActionKind::ALL {
        for (status, count) in merged.statuses(*kind) {
            let status = status.to_string();
            out.sample("s3core_requests_total", &[("action", kind.as_str()), ("status", &status)], count);
        }
    }
    out.family("s3core_s3_errors_total", MetricKind::Counter, "Error answers, by S3 action and S3 error code.");
    for kind in ActionKind::ALL {
        for code in S3ErrorCode::ALL {
            let count = merged.errors[kind.index()][code.index()];
            if count > 0 {
                out.sample("s3core_s3_errors_total", &[("action", kind.as_str()), ("code", code.as_str())], count);
            }
        }
    }
    for (name, help, distributions) in [
        (
            "s3core_request_duration_seconds",
            "Time from a request's complete head to the end of its answer, by S3 action.",
            &merged.duration_us,
        ),
        (
            "s3core_request_time_to_first_byte_seconds",
            "Time from a request's complete head to the first byte of its answer, by S3 action.",
            &merged.ttfb_us,
        ),
    ] {
        out.family(name, MetricKind::Histogram, help);
        for kind in ActionKind::ALL {
            if let Some(distribution) = &distributions[kind.index()] {
                out.histogram(name, &[("action", kind.as_str())], distribution, LATENCY_BOUNDS_US, MICROS_PER_SECOND);
            }
        }
    }
    out.family(
        "s3core_auth_refusals_total",
        MetricKind::Counter,
        "Requests authentication refused, by reason (signatures, keys, clock skew, payload hashes).",
    );
    for reason in AuthRefusal::ALL {
        out.sample("s3core_auth_refusals_total", &[("reason", reason.label())], merged.auth_refusals[*reason as usize]);
    }
}

fn render_cores(out: &mut Exposition, scraped: &Scraped) {
    type Field = fn(&crate::server::control::CoreSnapshot) -> u64;
    let families: [(&str, MetricKind, &str, Field); 7] = [
        ("s3core_core_requests_total", MetricKind::Counter, "Requests answered by each core.", |s| s.counts.total()),
        ("s3core_requests_in_flight", MetricKind::Gauge, "Requests being served by each core.", |s| s.in_flight),
        ("s3core_connections_open", MetricKind::Gauge, "Client connections open on each core.", |s| s.open_connections),
        ("s3core_connections_accepted_total", MetricKind::Counter, "Client connections each core accepted.", |s| {
            s.counts.connections_accepted
        }),
        (
            "s3core_connections_refused_total",
            MetricKind::Counter,
            "Connections closed at once because the core held its maximum.",
            |s| s.counts.connections_refused,
        ),
        (
            "s3core_received_bytes_total",
            MetricKind::Counter,
            "Bytes received from clients (heads and bodies), by core.",
            |s| s.counts.received_bytes,
        ),
        ("s3core_sent_bytes_total", MetricKind::Counter, "Bytes sent to clients, by core.", |s| s.counts.sent_bytes),
    ];
    for (name, kind, help, field) in families {
        out.family(name, kind, help);
        for snapshot in &scraped.cores {
            out.sample(name, &[("core", &snapshot.core.to_string())], field(snapshot));
        }
    }
}

fn render_journal(out: &mut Exposition, scraped: &Scraped) {
    let journal = &scraped.journal;
    let counters: [(&str, &str, u64); 4] = [
        (
            "s3core_journal_flushes_total",
            "Group commits (one write and one fsync each) of the metadata journals.",
            journal.flushes,
        ),
        (
            "s3core_journal_flush_failures_total",
            "Group commits that failed (their writers got 503 or 507).",
            journal.failures,
        ),
        ("s3core_journal_flushed_bytes_total", "Bytes the group commits wrote.", journal.flushed_bytes),
        ("s3core_journal_checkpoints_total", "Checkpoints renamed over a journal.", journal.checkpoints),
    ];
    for (name, help, value) in counters {
        out.family(name, MetricKind::Counter, help);
        out.sample(name, &[], value);
    }
    out.family("s3core_journal_batch_writers", MetricKind::Histogram, "Writers acknowledged by each group commit.");
    out.histogram("s3core_journal_batch_writers", &[], &journal.batch_writers, BATCH_BOUNDS, 1.0);
    out.family("s3core_journal_fsync_duration_seconds", MetricKind::Histogram, "Duration of each journal fsync.");
    out.histogram(
        "s3core_journal_fsync_duration_seconds",
        &[],
        &journal.fsync_us,
        LATENCY_BOUNDS_US,
        MICROS_PER_SECOND,
    );
    let fenced = scraped.cores.iter().flat_map(|core| &core.shards).filter(|(_, shard)| shard.fenced).count();
    out.family(
        "s3core_journal_fenced_shards",
        MetricKind::Gauge,
        "Shards whose journal refuses writes until a restart (the server is not ready).",
    );
    out.sample("s3core_journal_fenced_shards", &[], fenced as u64);
}

fn render_shards(out: &mut Exposition, scraped: &Scraped) {
    type Field = fn(&crate::shard::ShardReport) -> u64;
    let families: [(&str, &str, Field); 6] = [
        ("s3core_shard_buckets", "Buckets in each metadata shard.", |r| r.sizes.buckets),
        ("s3core_shard_objects", "Objects in each metadata shard.", |r| r.sizes.objects),
        ("s3core_shard_object_bytes", "Bytes of the objects in each shard.", |r| r.sizes.object_bytes),
        (
            "s3core_shard_inline_bytes",
            "Bytes of small object bodies kept inline (in memory and the journal), by shard.",
            |r| r.sizes.inline_bytes,
        ),
        ("s3core_multipart_uploads_in_progress", "Multipart uploads created and not completed or aborted.", |r| {
            r.sizes.uploads
        }),
        ("s3core_shard_journal_bytes", "Length of each shard's metadata journal.", |r| r.journal_bytes),
    ];
    for (name, help, field) in families {
        out.family(name, MetricKind::Gauge, help);
        for (id, report) in scraped.cores.iter().flat_map(|core| &core.shards) {
            out.sample(name, &[("shard", &id.to_string())], field(report));
        }
    }
}

fn render_access_log(out: &mut Exposition, scraped: &Scraped) {
    let Some(errors) = scraped.access_log_errors else { return };
    let (lines, dropped) = scraped
        .cores
        .iter()
        .filter_map(|core| core.access_log)
        .fold((0, 0), |(lines, dropped), (l, d)| (lines + l, dropped + d));
    out.family("s3core_access_log_lines_total", MetricKind::Counter, "Access log lines handed to the writer thread.");
    out.sample("s3core_access_log_lines_total", &[], lines);
    out.family(
        "s3core_access_log_dropped_lines_total",
        MetricKind::Counter,
        "Access log lines dropped because the writer fell behind (never waited for).",
    );
    out.sample("s3core_access_log_dropped_lines_total", &[], dropped);
    out.family("s3core_access_log_write_errors_total", MetricKind::Counter, "Failed writes of the access log.");
    out.sample("s3core_access_log_write_errors_total", &[], errors);
}
