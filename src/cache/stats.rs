//! What one core's share of the cache counts: page lookups by how they were answered, bytes
//! fetched from the upstream and served to clients, evictions. Plain integers the core alone
//! writes (no atomics, no locks), copied out by value for a scrape and summed over the cores
//! there, as the request counters are (`server::stats`).
//!
//! Lookups are counted by the page's owner core (where the index is), served bytes by the
//! core that sent them: both are per core and only their sums mean anything.

/// One core's cache numbers. `Clone` is the snapshot; `merge` sums cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheCounts {
    /// Lookups that found the page on disk.
    pub(crate) hits: u64,
    /// Lookups that found nothing and fetched the page (one per fetch started).
    pub(crate) misses: u64,
    /// Lookups that found the page being fetched and waited for that fetch (single flight).
    pub(crate) coalesced: u64,
    /// Object data fetched from the upstream into pages (whole pages stored).
    pub(crate) upstream_bytes: u64,
    /// Fetches that failed (upstream error, changed version, or the page could not be stored).
    pub(crate) fetch_failures: u64,
    /// Object data sent to clients from pages.
    pub(crate) served_bytes: u64,
    /// Pages removed to make room.
    pub(crate) evictions: u64,
    /// Pages forgotten because their file was damaged (checksum) or gone.
    pub(crate) dropped: u64,
    /// Gauges, filled in when the snapshot is taken.
    pub(crate) resident_bytes: u64,
    pub(crate) resident_pages: u64,
    pub(crate) capacity_bytes: u64,
}

impl CacheCounts {
    /// Adds another core's numbers (gauges too: each core holds its own share).
    pub(crate) fn merge(&mut self, other: &CacheCounts) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.coalesced += other.coalesced;
        self.upstream_bytes += other.upstream_bytes;
        self.fetch_failures += other.fetch_failures;
        self.served_bytes += other.served_bytes;
        self.evictions += other.evictions;
        self.dropped += other.dropped;
        self.resident_bytes += other.resident_bytes;
        self.resident_pages += other.resident_pages;
        self.capacity_bytes += other.capacity_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_sums_every_field() {
        let one = CacheCounts {
            hits: 1,
            misses: 2,
            coalesced: 3,
            upstream_bytes: 4,
            fetch_failures: 5,
            served_bytes: 6,
            evictions: 7,
            dropped: 8,
            resident_bytes: 9,
            resident_pages: 10,
            capacity_bytes: 11,
        };
        let mut sum = CacheCounts::default();
        sum.merge(&one);
        sum.merge(&one);
        let doubled = CacheCounts {
            hits: 2,
            misses: 4,
            coalesced: 6,
            upstream_bytes: 8,
            fetch_failures: 10,
            served_bytes: 12,
            evictions: 14,
            dropped: 16,
            resident_bytes: 18,
            resident_pages: 20,
            capacity_bytes: 22,
        };
        assert_eq!(sum, doubled);
    }
}
