//! Metric primitives, shared by every layer that counts something: a `Distribution` (an
//! HdrHistogram with an exact sum) and the Prometheus text `Exposition` writer.
//!
//! How metrics flow (see docs/DESIGN.md, "Operations"): each core records into plain,
//! `!Sync` structures it alone owns (non-atomic increments, one histogram record per value);
//! nothing is shared or contended on the request path. At scrape time the admin listener asks
//! every core, by message, for a copy of its numbers, merges the copies and renders them once.
//! A feature that wants its own counters (the upstream cache, the cluster) adds a recorder to
//! its per-core state, a field to the core's snapshot and a render function: the endpoint,
//! the merge and the transport stay as they are.

mod distribution;
mod exposition;

pub(crate) use distribution::Distribution;
pub(crate) use exposition::{Exposition, MetricKind};

/// Largest latency the distributions tell apart, in microseconds (an hour); longer ones are
/// recorded as this (their sum stays exact).
pub(crate) const LATENCY_US_MAX: u64 = 3_600_000_000;

/// The buckets latency histograms are exposed with, in microseconds (25 µs to a minute).
pub(crate) const LATENCY_BOUNDS_US: &[u64] = &[
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// Distributions of microseconds are exposed in seconds.
pub(crate) const MICROS_PER_SECOND: f64 = 1e6;
