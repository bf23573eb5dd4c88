//! The Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` once per
//! family, then its samples, each family contiguous. Label values are escaped; names are
//! constants of this crate.

use std::fmt::Write as _;

use super::Distribution;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// A scrape's text, written family by family.
#[derive(Default)]
pub(crate) struct Exposition {
    text: String,
}

/// The content type of the format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exposition {
    pub(crate) fn new() -> Exposition {
        Exposition { text: String::with_capacity(64 * 1024) }
    }

    pub(crate) fn content_type() -> &'static str {
        CONTENT_TYPE
    }

    /// Starts a family: every sample written until the next `family` belongs to it.
    pub(crate) fn family(&mut self, name: &str, kind: MetricKind, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample of an integer value.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.text.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.text, " {value}");
    }

    /// The samples of a histogram family `name` (declared with `family(.., Histogram, ..)`):
    /// cumulative `_bucket` counts at each bound of `bounds` (in the distribution's unit),
    /// `+Inf`, `_sum` and `_count`. Values are divided by `divisor` to expose them in another
    /// unit (1e6 for microseconds exposed as seconds; a division keeps 100 µs at 0.0001).
    pub(crate) fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        distribution: &Distribution,
        bounds: &[u64],
        divisor: f64,
    ) {
        let mut bound_text = String::new();
        for bound in bounds {
            bound_text.clear();
            push_f64(&mut bound_text, *bound as f64 / divisor);
            let _ = write!(self.text, "{name}_bucket");
            self.labels(labels, Some(&bound_text));
            let _ = writeln!(self.text, " {}", distribution.count_at_most(*bound));
        }
        let _ = write!(self.text, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.text, " {}", distribution.count());
        let _ = write!(self.text, "{name}_sum");
        self.labels(labels, None);
        self.text.push(' ');
        push_f64(&mut self.text, distribution.sum() as f64 / divisor);
        self.text.push('\n');
        let _ = write!(self.text, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.text, " {}", distribution.count());
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.text.push('{');
        let mut first = true;
        for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.text.push(',');
            }
            first = false;
            self.text.push_str(name);
            self.text.push_str("=\"");
            for character in value.chars() {
                match character {
                    '\\' => self.text.push_str("\\\\"),
                    '"' => self.text.push_str("\\\""),
                    '\n' => self.text.push_str("\\n"),
                    other => self.text.push(other),
                }
            }
            self.text.push('"');
        }
        self.text.push('}');
    }

    pub(crate) fn finish(self) -> String {
        self.text
    }
}

/// A float as Prometheus reads it (Rust's shortest round-trip form has no exponent for the
/// magnitudes used here; integers keep no fraction).
fn push_f64(out: &mut String, value: f64) {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_samples_and_escaped_labels() {
        let mut out = Exposition::new();
        out.family("s3core_things_total", MetricKind::Counter, "Things.");
        out.sample("s3core_things_total", &[("key", "a\"b\\c\nd")], 3);
        out.sample("s3core_things_total", &[], 4);
        out.family("s3core_open", MetricKind::Gauge, "Open things.");
        out.sample("s3core_open", &[("core", "0")], 2);
        assert_eq!(
            out.finish(),
            "# HELP s3core_things_total Things.\n# TYPE s3core_things_total counter\n\
             s3core_things_total{key=\"a\\\"b\\\\c\\nd\"} 3\ns3core_things_total 4\n\
             # HELP s3core_open Open things.\n# TYPE s3core_open gauge\ns3core_open{core=\"0\"} 2\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_and_scaled() {
        let mut distribution = Distribution::new(1_000_000);
        for value in [50, 150, 150, 5000] {
            distribution.record(value);
        }
        let mut out = Exposition::new();
        out.histogram("d_seconds", &[("action", "GetObject")], &distribution, &[100, 1000], 1e6);
        assert_eq!(
            out.finish(),
            "d_seconds_bucket{action=\"GetObject\",le=\"0.0001\"} 1\n\
             d_seconds_bucket{action=\"GetObject\",le=\"0.001\"} 3\n\
             d_seconds_bucket{action=\"GetObject\",le=\"+Inf\"} 4\n\
             d_seconds_sum{action=\"GetObject\"} 0.00535\n\
             d_seconds_count{action=\"GetObject\"} 4\n"
        );
    }
}
