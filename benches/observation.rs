//! The per-request cost of observing requests (issue 14): metrics recording and the JSON
//! access log line, in nanoseconds, to set beside a 4 KiB GET's CPU time (`perf/run.sh`'s
//! get-4k rate on one core: 1 / req/s). Run: `cargo bench --bench observation`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use s3core::server::observation_cost::ObservationCost;

fn observation(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let cost = ObservationCost::new(dir.path().join("access.log")).unwrap();
    let mut group = c.benchmark_group("observation");
    let mut duration_us = 0u64;
    group.bench_function("metrics per request", |b| {
        b.iter(|| {
            duration_us = (duration_us + 37) % 5_000;
            cost.record_metrics(black_box(duration_us))
        })
    });
    group.bench_function("access log line per request", |b| {
        b.iter(|| {
            duration_us = (duration_us + 37) % 5_000;
            cost.record_access_log(black_box(duration_us))
        })
    });
    group.finish();
    cost.finish();
}

criterion_group!(benches, observation);
criterion_main!(benches);
