//! The run driver: create the bucket, preload what the phases read, run the phases in order, and
//! report each one. Preloading happens outside every measured window and at most once per size
//! class per run.

use crate::client::{Body, Client, Method, Request};
use crate::config::{Bound, Config};
use crate::engine::{self, Spec};
use crate::http::Collect;
use crate::phase::{KeyKind, Phase, SizeClass, LIST_OBJECT_BYTES};
use crate::report::{self, Row};
use crate::workload::{make_payload, Work};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Time limit of one preload step (it is bounded by its key count too).
const PRELOAD_DURATION_MAX: Duration = Duration::from_secs(600);
/// Time limit of a `scan-*` pass, whatever `--duration` says (a cold pass through a slow cache
/// must be allowed to finish; one that does not is a failure).
const SCAN_DURATION_MAX: Duration = Duration::from_secs(600);
/// The payload buffer (every PUT body is a prefix of it) is at most this long; longer bodies
/// (the 1 GiB preload) repeat it.
const PAYLOAD_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Runs every phase; returns true when all succeeded.
pub fn run(config: &Config) -> bool {
    let payload = make_payload(payload_bytes(config));
    let mut rows = Vec::new();
    let mut all_ok = true;
    let mut preloaded = [None::<bool>; SizeClass::ALL.len()];

    let setup_ok = !config.setup || setup(config, &payload);
    for &phase in &config.phases {
        let ready = setup_ok
            && match phase.reads() {
                Some(class) if config.preload => {
                    *preloaded[class as usize].get_or_insert_with(|| preload(config, &payload, class))
                }
                _ => true,
            };
        let row = if ready {
            run_phase(config, phase, &payload)
        } else {
            eprintln!("[{phase}] not run: its setup failed");
            Row::not_run(phase.to_string(), config.connections, 1)
        };
        all_ok &= row.ok;
        if let Some(path) = &config.csv {
            if let Err(e) = report::append_csv(path, &row, &config.label, &config.endpoint_url) {
                eprintln!("cannot append to {}: {e}", path.display());
                all_ok = false;
            }
        }
        rows.push(row);
    }
    if !rows.is_empty() {
        let _ = report::print_table(&mut io::stdout().lock(), &rows);
    }
    all_ok && setup_ok
}

fn run_phase(config: &Config, phase: Phase, payload: &[u8]) -> Row {
    let mut spec = Spec {
        name: phase.to_string(),
        work: Work::Phase(phase),
        connections: config.connections,
        warmup: config.warmup,
        bound: config.bound,
    };
    let scan = match phase {
        Phase::Scan(class) => Some(config.objects(class)),
        _ => None,
    };
    if let Some(objects) = scan {
        // A warm-up would read objects before the clock starts: a scan measures the first
        // read of each one. The tickets are the shared cursor over the object indexes.
        spec.warmup = Duration::ZERO;
        spec.bound = Bound::Count(objects, SCAN_DURATION_MAX);
    }
    let outcome = engine::execute(&spec, config, payload);
    print_error_samples(&outcome.name, &outcome.error_samples);
    let mut row = Row::from_outcome(&outcome);
    if let Some(objects) = scan.filter(|&n| outcome.requests < n) {
        eprintln!("[{phase}] read {} of {objects} objects before its time limit: FAILED", outcome.requests);
        row.ok = false;
    }
    row
}

/// The length of the payload buffer: the largest body any PUT of this run sends, at most
/// `PAYLOAD_BYTES_MAX` (longer ones repeat it).
fn payload_bytes(config: &Config) -> u64 {
    let mut bytes = LIST_OBJECT_BYTES;
    for phase in &config.phases {
        match phase {
            Phase::Put(class) => bytes = bytes.max(class.bytes()),
            Phase::Mix => bytes = bytes.max(SizeClass::K4.bytes()),
            _ => {}
        }
        if let (Some(class), true) = (phase.reads(), config.preload || config.prepare_dir.is_some()) {
            bytes = bytes.max(class.bytes());
        }
    }
    bytes.min(PAYLOAD_BYTES_MAX)
}

/// Creates the bucket and the list keys; false on failure.
fn setup(config: &Config, payload: &[u8]) -> bool {
    if let Err(e) = create_bucket(config) {
        eprintln!("creating bucket {:?} failed: {e}", config.bucket);
        return false;
    }
    if config.preload_list_keys > 0 {
        let work = Work::Preload { kind: KeyKind::List, bytes: LIST_OBJECT_BYTES };
        return put_keys(config, payload, "preload-list", work, config.preload_list_keys);
    }
    true
}

/// PUT /bucket: 200, or 409 BucketAlreadyOwnedByYou, is success. Some single-user servers
/// (s3s-fs) answer 409 BucketAlreadyExists to their only user; then a successful HEAD /bucket
/// shows the bucket is ours to use.
fn create_bucket(config: &Config) -> Result<(), String> {
    let endpoint = config.setup_endpoint().clone();
    let mut client = Client::new(endpoint, &config.bucket, config.io_timeout, config.credentials.clone());
    let mut body = Vec::new();
    let put = Request { method: Method::Put, key: None, query: "", range: None, body: Body::EMPTY };
    let collect = Collect { buf: &mut body, limit: 4096 };
    let response = client.send(&put, Some(collect)).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body).chars().take(300).collect::<String>();
    match response.status {
        200..=299 => Ok(()),
        409 if text.contains("BucketAlreadyOwnedByYou") => Ok(()),
        409 => {
            let head = Request { method: Method::Head, key: None, query: "", range: None, body: Body::EMPTY };
            match client.send(&head, None) {
                Ok(r) if (200..300).contains(&r.status) => Ok(()),
                Ok(r) => Err(format!("HTTP 409: {text}; then HEAD /{}: HTTP {}", config.bucket, r.status)),
                Err(e) => Err(format!("HTTP 409: {text}; then HEAD /{}: {e}", config.bucket)),
            }
        }
        status => Err(format!("HTTP {status}: {text}")),
    }
}

fn preload(config: &Config, payload: &[u8], class: SizeClass) -> bool {
    let work = Work::Preload { kind: KeyKind::Object(class), bytes: class.bytes() };
    put_keys(config, payload, &format!("preload-{}", class.name()), work, config.objects(class))
}

/// PUTs `count` keys with up to `--connections` connections; true when all succeeded.
fn put_keys(config: &Config, payload: &[u8], name: &str, work: Work, count: u64) -> bool {
    let spec = Spec {
        name: name.to_string(),
        work,
        connections: config.connections.min(usize::try_from(count).unwrap_or(usize::MAX)).max(1),
        warmup: Duration::ZERO,
        bound: Bound::Count(count, PRELOAD_DURATION_MAX),
    };
    let outcome = engine::execute(&spec, config, payload);
    print_error_samples(name, &outcome.error_samples);
    let ok = outcome.errors == 0 && outcome.requests == count;
    eprintln!(
        "[{name}] {} of {count} objects in {:.2}s, {} errors{}",
        outcome.requests,
        outcome.elapsed.as_secs_f64(),
        outcome.errors,
        if ok { "" } else { ": FAILED" }
    );
    ok
}

fn print_error_samples(name: &str, samples: &[String]) {
    for s in samples {
        eprintln!("[{name}] error: {s}");
    }
}

/// `--prepare-dir`: writes DIR/BUCKET/obj-<size>-<i> for every size class the phases read (all
/// classes up to 64 MiB when no phase reads any), for a static server such as nginx.
pub fn prepare_dir(config: &Config, dir: &Path) -> io::Result<()> {
    let mut classes: Vec<SizeClass> =
        SizeClass::ALL.into_iter().filter(|c| config.phases.iter().any(|p| p.reads() == Some(*c))).collect();
    if classes.is_empty() {
        classes = SizeClass::ALL.into_iter().filter(|c| *c != SizeClass::G1).collect();
    }
    let largest = classes.iter().map(|c| c.bytes()).max().unwrap_or(0);
    let payload = make_payload(largest.min(PAYLOAD_BYTES_MAX));
    let bucket_dir = dir.join(&config.bucket);
    std::fs::create_dir_all(&bucket_dir)?;
    let mut key = String::new();
    for class in classes {
        for index in 0..config.objects(class) {
            crate::phase::write_key(&mut key, KeyKind::Object(class), index);
            let mut file = io::BufWriter::new(std::fs::File::create(bucket_dir.join(&key))?);
            let mut left = class.bytes();
            while left > 0 {
                let piece = payload.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                file.write_all(&payload[..piece])?;
                left -= piece as u64;
            }
            file.flush()?;
        }
        eprintln!("wrote {} x {} under {}", config.objects(class), class.name(), bucket_dir.display());
    }
    Ok(())
}
