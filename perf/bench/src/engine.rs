//! Runs one workload: N OS threads, each a closed loop on its own keep-alive connection, for a
//! warm-up and then a measured window bounded by time and, optionally, by a request count.
//!
//! Each worker records latencies, and times to first byte, in its own `hdrhistogram`s
//! (micro-seconds) and the histograms are merged at the end, so the hot path shares nothing but three relaxed counters that feed the
//! once-a-second progress line. Every loop here ends: workers stop at the time limit (a request
//! in flight is itself bounded by the socket timeout) or when the count's tickets run out.

use crate::config::{Bound, Config};
use crate::workload::{Work, Worker};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// Latencies above this (one hour, in µs) are clamped to it.
const LATENCY_US_MAX: u64 = 3_600_000_000;
const HISTOGRAM_SIGNIFICANT_DIGITS: u8 = 3;
/// Error messages kept per run to print; the rest are only counted.
const ERROR_SAMPLES_MAX: usize = 5;
/// After a failed connect, wait this long before the next try so that a dead endpoint costs
/// bounded CPU instead of a spin.
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

pub struct Spec {
    /// Shown in progress lines and reports ("get-4k", "preload-64m").
    pub name: String,
    pub work: Work,
    pub connections: usize,
    pub warmup: Duration,
    pub bound: Bound,
}

/// What a run measured. `requests` counts successful requests only; `errors` counts every failed
/// one, warm-up included (an error anywhere fails the run).
pub struct Outcome {
    pub name: String,
    pub connections: usize,
    pub requests: u64,
    pub errors: u64,
    /// From the start of measurement to the last measured completion.
    pub elapsed: Duration,
    /// Payload bytes moved by successful measured requests.
    pub bytes: u64,
    pub latency_us: Histogram<u64>,
    /// Time to first byte of the same requests (see `client`).
    pub ttfb_us: Histogram<u64>,
    pub error_samples: Vec<String>,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        self.errors > 0 || self.requests == 0
    }
}

#[derive(Default)]
struct Progress {
    requests: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

struct WorkerResult {
    latency_us: Histogram<u64>,
    ttfb_us: Histogram<u64>,
    requests: u64,
    errors: u64,
    bytes: u64,
    last_done: Option<Instant>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, HISTOGRAM_SIGNIFICANT_DIGITS).expect("constant bounds are valid")
}

/// Shared by the workers of one run.
struct Shared<'a> {
    spec: &'a Spec,
    config: &'a Config,
    payload: &'a [u8],
    measure_start: Instant,
    end: Instant,
    tickets: AtomicU64,
    progress: Progress,
    samples: Mutex<Vec<String>>,
}

pub fn execute(spec: &Spec, config: &Config, payload: &[u8]) -> Outcome {
    assert!(spec.connections > 0, "a run needs a connection");
    let start = Instant::now();
    let measure_start = start + spec.warmup;
    let shared = Shared {
        spec,
        config,
        payload,
        measure_start,
        end: measure_start + spec.bound.time_limit(),
        tickets: AtomicU64::new(0),
        progress: Progress::default(),
        samples: Mutex::new(Vec::new()),
    };
    let results: Vec<WorkerResult> = thread::scope(|scope| {
        let handles: Vec<_> = (0..spec.connections)
            .map(|id| {
                let shared = &shared;
                thread::Builder::new()
                    .name(format!("bench-{id}"))
                    .spawn_scoped(scope, move || worker_loop(shared, id))
                    .expect("spawning a worker thread")
            })
            .collect();
        report_progress(&shared, start, || handles.iter().all(|h| h.is_finished()));
        handles.into_iter().map(|h| h.join().expect("worker panicked")).collect()
    });

    let mut latency_us = new_histogram();
    let mut ttfb_us = new_histogram();
    let (mut requests, mut errors, mut bytes, mut last_done) = (0, 0, 0, None::<Instant>);
    for r in results {
        latency_us.add(&r.latency_us).expect("histograms share bounds");
        ttfb_us.add(&r.ttfb_us).expect("histograms share bounds");
        requests += r.requests;
        errors += r.errors;
        bytes += r.bytes;
        last_done = last_done.max(r.last_done);
    }
    let elapsed = last_done.map_or(Duration::ZERO, |t| t.saturating_duration_since(measure_start));
    Outcome {
        name: spec.name.clone(),
        connections: spec.connections,
        requests,
        errors,
        elapsed,
        bytes,
        latency_us,
        ttfb_us,
        error_samples: shared.samples.into_inner().unwrap_or_default(),
    }
}

fn worker_loop(shared: &Shared<'_>, id: usize) -> WorkerResult {
    let mut worker = Worker::new(shared.config, shared.spec.work, id, shared.spec.connections, shared.payload);
    let mut result = WorkerResult {
        latency_us: new_histogram(),
        ttfb_us: new_histogram(),
        requests: 0,
        errors: 0,
        bytes: 0,
        last_done: None,
    };
    // Connect before the clock matters; a failure here is retried by the first request.
    let _ = worker.client.connect();
    loop {
        let now = Instant::now();
        if now >= shared.end {
            break;
        }
        let measuring = now >= shared.measure_start;
        let mut ticket = 0;
        if let (true, Bound::Count(limit, _)) = (measuring, shared.spec.bound) {
            ticket = shared.tickets.fetch_add(1, Relaxed);
            if ticket >= limit {
                break;
            }
        }
        let started = Instant::now();
        let outcome = worker.step(ticket);
        let done = Instant::now();
        let ttfb = worker.client.take_ttfb();
        match outcome {
            Ok(bytes) if measuring => {
                let micros = u64::try_from(done.duration_since(started).as_micros()).unwrap_or(u64::MAX);
                result.latency_us.saturating_record(micros.max(1));
                if let Some(ttfb) = ttfb {
                    let micros = u64::try_from(ttfb.as_micros()).unwrap_or(u64::MAX);
                    result.ttfb_us.saturating_record(micros.max(1));
                }
                result.requests += 1;
                result.bytes += bytes;
                result.last_done = Some(done);
                shared.progress.requests.fetch_add(1, Relaxed);
                shared.progress.bytes.fetch_add(bytes, Relaxed);
            }
            Ok(_) => {}
            Err(message) => {
                result.errors += 1;
                shared.progress.errors.fetch_add(1, Relaxed);
                if let Ok(mut samples) = shared.samples.lock() {
                    if samples.len() < ERROR_SAMPLES_MAX {
                        samples.push(message.clone());
                    }
                }
                if message.contains("connect:") {
                    thread::sleep(RECONNECT_PAUSE);
                }
            }
        }
    }
    result
}

/// Prints one progress line to stderr per second until `finished()`.
fn report_progress(shared: &Shared<'_>, start: Instant, finished: impl Fn() -> bool) {
    let name = &shared.spec.name;
    let mut next = start + PROGRESS_INTERVAL;
    let (mut last_requests, mut last_at) = (0u64, shared.measure_start);
    while !finished() {
        thread::sleep(POLL_INTERVAL.min(next.saturating_duration_since(Instant::now())));
        let now = Instant::now();
        if now < next {
            continue;
        }
        next += PROGRESS_INTERVAL;
        let requests = shared.progress.requests.load(Relaxed);
        let errors = shared.progress.errors.load(Relaxed);
        let bytes = shared.progress.bytes.load(Relaxed);
        if now < shared.measure_start {
            eprintln!("[{name}] warm-up {:>5.1}s  errors {errors}", now.duration_since(start).as_secs_f64());
            continue;
        }
        let window = now.saturating_duration_since(last_at.max(shared.measure_start)).as_secs_f64().max(1e-9);
        let total = now.duration_since(shared.measure_start).as_secs_f64().max(1e-9);
        eprintln!(
            "[{name}] {:>6.1}s  {requests:>10} req  {:>10.0} req/s  {:>9.1} MiB/s  errors {errors}",
            total,
            (requests - last_requests) as f64 / window,
            bytes as f64 / (1024.0 * 1024.0) / total,
        );
        (last_requests, last_at) = (requests, now);
    }
}
