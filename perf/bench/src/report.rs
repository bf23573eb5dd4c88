//! Results as a human table (stdout) and as CSV rows appended to a file shared by comparison
//! runs (one `label` per system under test).

use crate::engine::Outcome;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Columns are only ever added at the end, so readers of older files (perf/peers/report.py reads
/// by name) keep working; the time-to-first-byte columns came last.
pub const CSV_HEADER: &str = "label,phase,connections,requests,errors,seconds,req_per_s,mib_per_s,\
                              p50_ms,p99_ms,p999_ms,max_ms,mean_ms,status,endpoint,unix_time,\
                              ttfb_p50_ms,ttfb_p99_ms";

/// One table row: a measured phase, or a phase that could not run.
pub struct Row {
    pub phase: String,
    pub connections: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub bytes: u64,
    /// p50, p99, p99.9, max, mean, in milliseconds.
    pub latency_ms: [f64; 5],
    /// Time to first byte, p50 and p99, in milliseconds.
    pub ttfb_ms: [f64; 2],
    pub ok: bool,
}

impl Row {
    pub fn from_outcome(o: &Outcome) -> Row {
        let h = &o.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        let latency_ms = if h.is_empty() {
            [0.0; 5]
        } else {
            [
                ms(h.value_at_quantile(0.50)),
                ms(h.value_at_quantile(0.99)),
                ms(h.value_at_quantile(0.999)),
                ms(h.max()),
                h.mean() / 1000.0,
            ]
        };
        let t = &o.ttfb_us;
        let ttfb_ms =
            if t.is_empty() { [0.0; 2] } else { [ms(t.value_at_quantile(0.50)), ms(t.value_at_quantile(0.99))] };
        Row {
            phase: o.name.clone(),
            connections: o.connections,
            requests: o.requests,
            errors: o.errors,
            seconds: o.elapsed.as_secs_f64(),
            bytes: o.bytes,
            latency_ms,
            ttfb_ms,
            ok: !o.failed(),
        }
    }

    /// A phase that failed before measuring (e.g. its preload failed).
    pub fn not_run(phase: String, connections: usize, errors: u64) -> Row {
        Row {
            phase,
            connections,
            requests: 0,
            errors,
            seconds: 0.0,
            bytes: 0,
            latency_ms: [0.0; 5],
            ttfb_ms: [0.0; 2],
            ok: false,
        }
    }

    pub fn req_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn mib_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / (1024.0 * 1024.0) / self.seconds
        } else {
            0.0
        }
    }

    fn status(&self) -> &'static str {
        if self.ok {
            "ok"
        } else {
            "FAIL"
        }
    }
}

/// The table: the time-to-first-byte columns sit before `status`, which stays last (scripts
/// match `$NF == "ok"` and read MiB/s as the sixth field).
pub fn print_table(out: &mut impl Write, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "{:<11} {:>5} {:>10} {:>7} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  status",
        "phase",
        "conns",
        "requests",
        "errors",
        "req/s",
        "MiB/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "ttfb50 ms",
        "ttfb99 ms"
    )?;
    for r in rows {
        let [p50, p99, p999, max, _] = r.latency_ms;
        let [ttfb50, ttfb99] = r.ttfb_ms;
        writeln!(
            out,
            "{:<11} {:>5} {:>10} {:>7} {:>11.1} {:>9.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}  {}",
            r.phase,
            r.connections,
            r.requests,
            r.errors,
            r.req_per_s(),
            r.mib_per_s(),
            p50,
            p99,
            p999,
            max,
            ttfb50,
            ttfb99,
            r.status()
        )?;
    }
    Ok(())
}

pub fn csv_line(row: &Row, label: &str, endpoint: &str, unix_time: u64) -> String {
    let [p50, p99, p999, max, mean] = row.latency_ms;
    let [ttfb50, ttfb99] = row.ttfb_ms;
    format!(
        "{label},{},{},{},{},{:.3},{:.1},{:.2},{p50:.3},{p99:.3},{p999:.3},{max:.3},{mean:.3},{},{},{unix_time},\
         {ttfb50:.3},{ttfb99:.3}",
        row.phase,
        row.connections,
        row.requests,
        row.errors,
        row.seconds,
        row.req_per_s(),
        row.mib_per_s(),
        row.status(),
        endpoint.replace([',', '"'], "_"),
    )
}

/// Appends `row` to the CSV at `path`, writing the header first when the file is new or empty.
pub fn append_csv(path: &Path, row: &Row, label: &str, endpoint: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut text = String::new();
    if file.metadata()?.len() == 0 {
        text.push_str(CSV_HEADER);
        text.push('\n');
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    text.push_str(&csv_line(row, label, endpoint, now));
    text.push('\n');
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            phase: "get-4k".into(),
            connections: 16,
            requests: 1000,
            errors: 0,
            seconds: 2.0,
            bytes: 1000 * 4096,
            latency_ms: [0.1, 0.5, 0.9, 1.5, 0.2],
            ttfb_ms: [0.05, 0.25],
            ok: true,
        }
    }

    #[test]
    fn csv_has_as_many_fields_as_header() {
        let line = csv_line(&row(), "nginx", "http://127.0.0.1:1", 7);
        assert_eq!(line.split(',').count(), CSV_HEADER.split(',').count());
        assert!(line.starts_with("nginx,get-4k,16,1000,0,2.000,500.0,1.95,0.100,"), "{line}");
        assert!(line.ends_with(",7,0.050,0.250"), "{line}");
    }

    #[test]
    fn csv_header_only_once() {
        let path = std::env::temp_dir().join(format!("s3core-bench-test-{}.csv", std::process::id()));
        let _ = std::fs::remove_file(&path);
        append_csv(&path, &row(), "a", "e").unwrap();
        append_csv(&path, &row(), "b", "e").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert_eq!(text.lines().next(), Some(CSV_HEADER));
    }

    #[test]
    fn table_shows_failures() {
        let mut out = Vec::new();
        print_table(&mut out, &[row(), Row::not_run("get-1m".into(), 16, 1)]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().nth(1).unwrap().ends_with("ok"));
        assert!(text.lines().nth(2).unwrap().ends_with("FAIL"));
    }
}
