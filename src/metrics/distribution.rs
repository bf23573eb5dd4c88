//! A distribution of non-negative integer values (latencies in microseconds, batch sizes):
//! an HdrHistogram of 2 significant digits (each recorded value is kept within 1% of itself)
//! plus the exact sum, which Prometheus histograms carry and HdrHistogram does not.
//!
//! Recording is a few arithmetic operations on memory the recording core owns; merging and
//! reading quantiles happen off the request path, at scrape time.

use hdrhistogram::Histogram;

/// Significant decimal digits kept per value: 2 keeps every value within 1% and a histogram
/// of a 1 µs to 1 hour range in about 27 KiB.
const SIGNIFICANT_DIGITS: u8 = 2;

#[derive(Clone)]
pub(crate) struct Distribution {
    histogram: Histogram<u64>,
    /// Exact sum of the recorded values (saturating).
    sum: u64,
}

impl std::fmt::Debug for Distribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distribution").field("count", &self.count()).field("sum", &self.sum).finish()
    }
}

impl Distribution {
    /// A distribution of values from 0 to `highest` (larger values are recorded as `highest`,
    /// and counted exactly in the sum).
    pub(crate) fn new(highest: u64) -> Distribution {
        // Bounds are constants the callers choose (at least 2, see the assertion), so the
        // constructor cannot fail on anything a client controls.
        assert!(highest >= 2, "a distribution needs a range");
        let histogram = Histogram::new_with_bounds(1, highest, SIGNIFICANT_DIGITS).expect("valid histogram bounds");
        Distribution { histogram, sum: 0 }
    }

    /// Records one value.
    #[inline]
    pub(crate) fn record(&mut self, value: u64) {
        self.histogram.saturating_record(value);
        self.sum = self.sum.saturating_add(value);
    }

    /// Adds every value of `other` to this one.
    pub(crate) fn merge(&mut self, other: &Distribution) {
        // Both come from `new` with the same bounds, except when `other` is wider: then its
        // values saturate here rather than being lost.
        if self.histogram.add(&other.histogram).is_err() {
            for value in other.histogram.iter_recorded() {
                let top = self.histogram.high();
                let _ = self.histogram.record_n(value.value_iterated_to().min(top), value.count_at_value());
            }
        }
        self.sum = self.sum.saturating_add(other.sum);
    }

    pub(crate) fn count(&self) -> u64 {
        self.histogram.len()
    }

    pub(crate) fn sum(&self) -> u64 {
        self.sum
    }

    /// The value at quantile `quantile` (0.0 to 1.0); 0 when empty.
    pub(crate) fn quantile(&self, quantile: f64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        self.histogram.value_at_quantile(quantile)
    }

    /// How many recorded values are at most `value` (within the histogram's 1% precision:
    /// values equivalent to `value` count as at most it).
    pub(crate) fn count_at_most(&self, value: u64) -> u64 {
        if self.histogram.is_empty() {
            return 0;
        }
        let value = value.min(self.histogram.high());
        self.histogram.count_between(0, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sums_and_quantiles() {
        let mut distribution = Distribution::new(3_600_000_000);
        for value in 1..=1000 {
            distribution.record(value);
        }
        assert_eq!(distribution.count(), 1000);
        assert_eq!(distribution.sum(), 500_500);
        let median = distribution.quantile(0.5);
        assert!((495..=505).contains(&median), "{median}");
        assert_eq!(distribution.count_at_most(100), 100);
        assert_eq!(distribution.count_at_most(u64::MAX), 1000);
        assert_eq!(Distribution::new(10).quantile(0.99), 0, "empty");
    }

    #[test]
    fn merges_and_saturates_beyond_the_range() {
        let mut a = Distribution::new(1000);
        let mut b = Distribution::new(1000);
        a.record(10);
        b.record(20);
        b.record(5000);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.sum(), 5030, "the sum stays exact");
        assert_eq!(a.count_at_most(20), 2);
        let mut narrow = Distribution::new(100);
        narrow.merge(&a);
        assert_eq!(narrow.count(), 3, "values of a wider distribution are kept, saturated");
    }
}
