//! Starting and stopping the server: start the admin listener (probes answer while the data
//! directory is recovered), recover, start one pinned thread per core, each with its own
//! monoio runtime (io_uring, or the legacy driver where io_uring is missing or the test switch
//! `--io-driver legacy` asks for it), `SO_REUSEPORT` listener, mailboxes and the shards it
//! owns; then wait for a shutdown signal and drain.

mod access_log;
mod admin;
mod connection_loop;
mod context;
mod control;
mod core;
mod drain;
mod lifecycle;
mod logging;
#[doc(hidden)]
pub mod observation_cost;
mod open_files;
mod send_object;
mod shutdown;
mod stats;
mod zero_copy;

use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;

use crate::config::{Config, IoDriver};
use crate::limits::{CONTROL_MAILBOX_CAPACITY, MAILBOX_CAPACITY};
use crate::shard::{owner_core, router};
use crate::store::recovery;
use lifecycle::Lifecycle;
pub use logging::init_logging;

#[derive(Debug)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// Runs the server until a shutdown signal (SIGTERM or SIGINT) has drained it.
pub fn run(config: Config) -> Result<(), StartError> {
    let config = Arc::new(config);
    let lifecycle = Lifecycle::new();
    // Signals first: one that comes during recovery drains the server as soon as it serves.
    let (events_sender, events) = mpsc::channel();
    shutdown::watch_signals(events_sender.clone())?;
    if let Some(listen) = config.admin_listen {
        let settings = admin::AdminSettings {
            token: config.metrics_token.clone(),
            data_dir: config.data_dir.clone(),
            cores: config.cores,
        };
        let address = admin::start(listen, lifecycle.clone(), settings)?;
        println!("s3core admin listening on http://{address}");
        let _ = std::io::stdout().flush();
        log::info!("admin listener on http://{address} (/metrics, /health/live, /health/ready, /)");
    }
    log_test_knobs(&config);
    let io_uring = monoio::utils::detect_uring();
    if config.io_driver == IoDriver::Uring && !io_uring {
        return Err(StartError(
            "--io-driver uring: io_uring (with the operations monoio uses) is unavailable here".into(),
        ));
    }
    if config.start_delay_ms > 0 {
        log::warn!("waiting {} ms before recovery (a test setting)", config.start_delay_ms);
        std::thread::sleep(std::time::Duration::from_millis(config.start_delay_ms));
    }
    // Before recovery: replayed inline bodies are charged to the same budget.
    crate::store::inline_budget::INLINE_BODIES.set_budget(config.inline_budget_bytes);
    let recovered = recovery::open(&config.data_dir, config.cores, config.journal_checkpoint_bytes)
        .map_err(|e| StartError(e.to_string()))?;
    let shard_count = recovered.shards.len();
    let open_files = open_files::settle(config.cores, shard_count).map_err(StartError)?;
    let access_log = match &config.access_log {
        Some(destination) => Some(access_log::Writer::start(destination, config.cores).map_err(StartError)?),
        None => None,
    };
    if let Some(writer) = &access_log {
        lifecycle.set_access_log_errors(writer.write_errors.clone());
    }
    let (senders, mut mailboxes) = router::mailboxes(config.cores, MAILBOX_CAPACITY);
    let (controls, mut control_mailboxes): (Vec<_>, Vec<_>) =
        (0..config.cores).map(|_| flume::bounded(CONTROL_MAILBOX_CAPACITY)).unzip();
    let mut shards_by_core: Vec<Vec<recovery::RecoveredShard>> = (0..config.cores).map(|_| Vec::new()).collect();
    for shard in recovered.shards {
        shards_by_core[owner_core(shard.id, config.cores)].push(shard);
    }
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    if config.cores > cpus.len() && !cpus.is_empty() {
        log::warn!("{} cores requested on {} CPUs: several cores share a CPU", config.cores, cpus.len());
    }
    log_drivers(&config, io_uring);
    if let Some(upstream) = &config.upstream {
        log::info!("upstream store: {upstream:?}");
    }
    if config.s3.credentials.is_open() && !config.listen.ip().is_loopback() {
        log::warn!(
            "no credentials configured and listening on {}: anyone who can reach this address can read and write all data (set --access-key/--secret-key or --credentials-file)",
            config.listen
        );
    }

    let mut lake_plans = lake_plans(&config)?;
    let blocking = monoio::blocking::DefaultThreadPool::new(crate::limits::BLOCKING_THREADS);
    let mut threads = Vec::with_capacity(config.cores);
    let mut listen = config.listen;
    for (core, owned) in shards_by_core.into_iter().enumerate() {
        let (ready_sender, ready) = mpsc::channel();
        let plan = core::CorePlan {
            core,
            cpu: (!cpus.is_empty()).then(|| cpus[core % cpus.len()]),
            listen,
            config: config.clone(),
            shard_count,
            owned,
            next_block_sequence: recovered.next_block_sequence[core],
            senders: senders.clone(),
            connections_max: open_files.connections_per_core,
            blocking: blocking.clone(),
            mailbox: mailboxes.remove(0),
            lake: lake_plans.as_mut().map(|plans| plans.remove(0)),
            control: control_mailboxes.remove(0),
            metrics: config.admin_listen.is_some(),
            access_log: access_log.as_ref().map(access_log::Writer::for_core),
        };
        let ended = events_sender.clone();
        let thread = std::thread::Builder::new()
            .name(format!("s3core-{core}"))
            .spawn(move || {
                core::run_core(plan, ready_sender);
                let _ = ended.send(shutdown::Event::CoreEnded(core));
            })
            .map_err(|e| StartError(format!("cannot start core {core}: {e}")))?;
        threads.push(thread);
        // Core 0 binds first (port 0 becomes a real port); the others join its port.
        let bound: SocketAddr =
            ready.recv().map_err(|_| StartError(format!("core {core} stopped while starting")))?.map_err(StartError)?;
        listen = bound;
    }
    drop(senders);
    lifecycle.serving(controls.clone());
    println!("s3core listening on http://{listen}");
    let _ = std::io::stdout().flush();
    log::info!(
        "serving {} with {} cores, {shard_count} shards, API at / and {}",
        config.data_dir.display(),
        config.cores,
        if config.path_prefix.is_empty() { "(no prefix)" } else { &config.path_prefix }
    );
    match events.recv() {
        Ok(shutdown::Event::Signal) => {
            let grace = std::time::Duration::from_millis(config.shutdown_grace_ms);
            shutdown::drain_and_stop(&lifecycle, &controls, threads, grace);
            if let Some(writer) = access_log {
                writer.finish(std::time::Duration::from_millis(crate::limits::SHUTDOWN_FLUSH_TIMEOUT_MS));
            }
            Ok(())
        }
        Ok(shutdown::Event::CoreEnded(core)) => Err(StartError(format!("core {core} stopped (see the log above)"))),
        Err(_) => Err(StartError("every core stopped".into())),
    }
}

/// Installs the fault plan, and says loudly that test-only settings are on.
fn log_test_knobs(config: &Config) {
    if let Some(rules) = &config.fault_injection {
        let plan = crate::store::faults::install(rules.clone());
        log::warn!("FAULT INJECTION IS ON (test only): journal I/O will fail on purpose: {plan}");
    }
    if config.journal_checkpoint_bytes != crate::limits::JOURNAL_COMPACT_BYTES {
        log::warn!(
            "journal checkpoint threshold set to {} bytes (a test setting; default {})",
            config.journal_checkpoint_bytes,
            crate::limits::JOURNAL_COMPACT_BYTES
        );
    }
}

/// Says which I/O driver and MD5 kernel every core runs, and whether a test forced them.
/// In front of an upstream: each core's share of the page cache. The cache directory is
/// created and scanned here, before any core runs: pages a previous run left are adopted by
/// their owner cores (headers checked now, data when first read), leftovers are removed.
fn lake_plans(config: &Config) -> Result<Option<Vec<crate::s3::lake::pages::LakePlan>>, StartError> {
    use crate::s3::lake::pages::{page_mailboxes, page_owner, LakePlan};
    if config.upstream.is_none() {
        return Ok(None);
    }
    let directory = crate::cache::CacheDirectory::new(&config.data_dir.join("cache"));
    directory.create().map_err(|error| StartError(format!("cannot create the cache directory: {error}")))?;
    let started = std::time::Instant::now();
    let found = directory.scan().map_err(|error| StartError(format!("cannot scan the cache directory: {error}")))?;
    let (senders, mailboxes) = page_mailboxes(config.cores, crate::limits::PAGE_MAILBOX_CAPACITY);
    let mut plans: Vec<LakePlan> = mailboxes
        .into_iter()
        .map(|mailbox| LakePlan { senders: senders.clone(), mailbox, directory: directory.clone(), pages: Vec::new() })
        .collect();
    let (mut pages, mut bytes) = (0, 0);
    for (id, header) in found {
        pages += 1;
        bytes += header.length_bytes;
        plans[page_owner(&id, config.cores)].pages.push((id, header.length_bytes));
    }
    log::info!("cache: {pages} pages ({bytes} bytes) found in {:?}", started.elapsed());
    Ok(Some(plans))
}

fn log_drivers(config: &Config, io_uring: bool) {
    match config.io_driver {
        IoDriver::Auto if io_uring => log::info!("I/O driver: io_uring"),
        IoDriver::Auto => {
            log::warn!(
                "I/O driver: legacy (epoll): io_uring is unavailable here, falling back to monoio's legacy driver"
            )
        }
        IoDriver::Uring => log::info!("I/O driver: io_uring (forced by --io-driver uring)"),
        IoDriver::Legacy => log::warn!("I/O driver: legacy (epoll) (forced by --io-driver legacy, a test setting)"),
    }
    let kernel = config.md5_kernel.description();
    if config.md5_kernel_forced {
        log::warn!("MD5 kernel: {kernel} (forced by --md5-kernel, a test setting)");
    } else {
        log::info!("MD5 kernel: {kernel}");
    }
}
