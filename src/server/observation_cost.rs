//! What observing one request costs a core, for `benches/observation.rs`: the calls the
//! connection loop makes per finished request when metrics are on (an admin listener exists)
//! and when the access log is on, without a server around them. Issue 14 bounds these costs
//! (2% of a 4 KiB GET for metrics, 5% for the access log); a loaded VM's throughput runs are
//! noisier than that, so the bench measures the added nanoseconds directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::access_log::{CoreAccessLog, Entry, Writer};
use super::stats::{CoreStats, Outcome};
use crate::config::AccessLogDestination;
use crate::s3::action_kind::ActionKind;

/// One core's recorders, as a core holds them.
pub struct ObservationCost {
    stats: CoreStats,
    log: CoreAccessLog,
    writer: Writer,
    peer: SocketAddr,
}

impl ObservationCost {
    /// Recorders with the access log written to `log_file` by its writer thread.
    pub fn new(log_file: PathBuf) -> Result<ObservationCost, String> {
        let writer = Writer::start(&AccessLogDestination::File(log_file), 1)?;
        let log = writer.for_core();
        let peer = SocketAddr::from(([127, 0, 0, 1], 50_000));
        Ok(ObservationCost { stats: CoreStats::new(true), log, writer, peer })
    }

    /// What metrics cost one GetObject answered 200: `request_started`, `request_finished`
    /// with its outcome (status, duration and time-to-first-byte histograms) and its bytes.
    pub fn record_metrics(&self, duration_us: u64) {
        self.stats.request_started();
        let outcome = Outcome {
            kind: ActionKind::GetObject,
            status: 200,
            error: None,
            auth_refusal: None,
            duration_us,
            ttfb_us: duration_us,
        };
        self.stats.request_finished(Some(&outcome));
        self.stats.add_bytes(180, 4_400);
    }

    /// What the access log costs one GetObject: the time stamp and the line, formatted into
    /// the core's buffer (handed to the writer thread when full), as `finish_request` does.
    pub fn record_access_log(&self, duration_us: u64) {
        let time = crate::dates::iso8601_bytes(crate::dates::now_ms());
        self.log.record(&Entry {
            time: std::str::from_utf8(&time).unwrap_or(""),
            request_id: "00000000000A1B2C",
            remote: self.peer,
            action: ActionKind::GetObject.as_str(),
            bucket: Some("warehouse"),
            key: Some("t/dt=2026-11-25/part-00000.parquet"),
            status: 200,
            error: None,
            bytes_in: 180,
            bytes_out: 4_400,
            ttfb_ms: duration_us as f64 / 1000.0,
            duration_ms: duration_us as f64 / 1000.0,
            user_agent: Some("Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux lang/python#3.11.7"),
        });
    }

    /// Hands the last lines over and waits for the writer.
    pub fn finish(self) {
        self.log.flush();
        drop(self.log);
        self.writer.finish(Duration::from_secs(10));
    }
}
