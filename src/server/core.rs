//! One core: a pinned thread running a monoio runtime that owns a listener, a mailbox, its
//! shards and its block store. Everything here is `!Send` and stays on this thread.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;

use monoio::blocking::DefaultThreadPool;
use monoio::fs::OpenOptions;
use monoio::net::{ListenerOpts, TcpListener, TcpStream};
use monoio::time::TimeDriver;
use monoio::{FusionDriver, FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::access_log::CoreAccessLog;
use super::connection_loop;
use super::context::CoreContext;
use super::control::{serve_control, Control};
use super::drain::Drain;
use super::stats::CoreStats;
use crate::buffer_pool::BufferPool;
use crate::cache::CoreCache;
use crate::config::{Config, IoDriver};
use crate::hash::md5_batch::Md5Batcher;
use crate::limits::BLOCK_IO_BUFFER_BYTES;
use crate::limits::CACHE_PAGE_BYTES;
use crate::s3::lake::objects::KnownObjects;
use crate::s3::lake::pages::{serve_page_mailbox, LakePlan, PageOwner, PageRouter};
use crate::s3::lake::Lake;
use crate::s3::CoreServices;
use crate::shard::router::{serve_mailbox, Envelope, Mailbox};
use crate::shard::{Shard, ShardRouter};
use crate::store::blocks::BlockStore;
use crate::store::group_sync::GroupSync;
use crate::store::recovery::RecoveredShard;
use crate::upstream::Upstream;

/// Block I/O buffers a core keeps for reuse (more are allocated under load and freed after).
const POOLED_BUFFERS_MAX: usize = 32;
/// Block I/O buffers one core's requests may hold at once (leases of the pool): GETs copying
/// cached data and uploads staging their bodies. Beyond it GETs use sendfile and uploads
/// 64 KiB buffers, so buffer memory stays near `BUFFER_LEASES_MAX * BLOCK_IO_BUFFER_BYTES`
/// (16 MiB) plus 64 KiB per further upload, whatever the connection count.
const BUFFER_LEASES_MAX: usize = 64;
/// Accept backlog of each core's listener.
const LISTEN_BACKLOG: i32 = 1024;

/// Everything a core thread starts from.
pub(crate) struct CorePlan {
    pub(crate) core: usize,
    pub(crate) cpu: Option<core_affinity::CoreId>,
    pub(crate) listen: SocketAddr,
    pub(crate) config: Arc<Config>,
    pub(crate) shard_count: usize,
    pub(crate) owned: Vec<RecoveredShard>,
    pub(crate) next_block_sequence: u64,
    pub(crate) senders: Vec<flume::Sender<Envelope>>,
    /// The process-wide pool for blocking syscalls and heavy CPU work (see `BLOCKING_THREADS`).
    pub(crate) blocking: monoio::blocking::DefaultThreadPool,
    /// Connections this core holds at once (`open_files` fits it to the descriptor limit).
    pub(crate) connections_max: usize,
    pub(crate) mailbox: Mailbox,
    /// In front of an upstream (`--upstream`): this core's share of the page cache.
    pub(crate) lake: Option<LakePlan>,
    /// Scrapes, probes and the shutdown's messages.
    pub(crate) control: flume::Receiver<Control>,
    /// Whether requests are counted (an admin listener exists).
    pub(crate) metrics: bool,
    pub(crate) access_log: Option<CoreAccessLog>,
}

/// How long a draining core keeps taking connections already queued on its listener (each is
/// answered 503 SlowDown), until none arrives for this long.
const BACKLOG_DRAIN_MS: u64 = 10;

pub(crate) fn run_core(plan: CorePlan, ready: mpsc::Sender<Result<SocketAddr, String>>) {
    if let Some(cpu) = plan.cpu {
        if !core_affinity::set_for_current(cpu) {
            log::warn!("core {}: could not pin to CPU {}", plan.core, cpu.id);
        }
    }
    let mut runtime = match build_runtime(plan.config.io_driver, plan.blocking.clone()) {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(format!("core {}: cannot build runtime: {error}", plan.core)));
            return;
        }
    };
    let connections_max = plan.connections_max;
    runtime.block_on(async move {
        let core = plan.core;
        match start(plan).await {
            Ok(Started { listener, context, local, control }) => {
                let address = listener.local_addr().map_err(|e| e.to_string());
                let _ = ready.send(address);
                let (stop_accepting, stop) = futures_channel::oneshot::channel();
                monoio::spawn(accept_loop(listener, context.clone(), connections_max, stop));
                if context.access_log.is_some() {
                    monoio::spawn(flush_access_log(context.clone()));
                }
                // The core runs until the shutdown's `Stop` (its tasks end with the runtime).
                serve_control(control, context, local, stop_accepting).await;
            }
            Err(message) => {
                let _ = ready.send(Err(format!("core {core}: {message}")));
            }
        }
    });
}

/// A core's runtime, on either driver whatever was chosen (one type, so one code path).
type CoreRuntime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

fn build_runtime(driver: IoDriver, blocking: DefaultThreadPool) -> std::io::Result<CoreRuntime> {
    let pool = Box::new(blocking);
    match driver {
        IoDriver::Auto => RuntimeBuilder::<FusionDriver>::new().enable_timer().attach_thread_pool(pool).build(),
        IoDriver::Uring => {
            RuntimeBuilder::<IoUringDriver>::new().enable_timer().attach_thread_pool(pool).build().map(Into::into)
        }
        IoDriver::Legacy => {
            RuntimeBuilder::<LegacyDriver>::new().enable_timer().attach_thread_pool(pool).build().map(Into::into)
        }
    }
}

/// A core ready to serve.
struct Started {
    listener: TcpListener,
    context: Rc<CoreContext>,
    local: Vec<Option<Rc<Shard>>>,
    control: flume::Receiver<Control>,
}

async fn start(plan: CorePlan) -> Result<Started, String> {
    let core = plan.core;
    let root = plan.config.data_dir.clone();
    let blocks = BlockStore::open(&root, core as u16, plan.next_block_sequence)
        .await
        .map_err(|e| format!("cannot open block directory: {e}"))?;
    let blocks = Rc::new(blocks);
    let mut local: Vec<Option<Rc<Shard>>> = (0..plan.shard_count).map(|_| None).collect();
    for shard in plan.owned {
        let file = OpenOptions::new()
            .write(true)
            .open(&shard.journal_path)
            .await
            .map_err(|e| format!("cannot open {}: {e}", shard.journal_path.display()))?;
        let sync = GroupSync::new_journal(file, shard.journal_length, crate::store::journal::batch_end_frame);
        sync.set_fault_plan(crate::store::faults::installed());
        let checkpoint_bytes = plan.config.journal_checkpoint_bytes;
        local[shard.id] = Some(Shard::new(shard.state, shard.journal_path, sync, blocks.clone(), checkpoint_bytes));
    }
    let options = ListenerOpts::new().reuse_port(true).reuse_addr(true).backlog(LISTEN_BACKLOG);
    let listener = TcpListener::bind_with_config(plan.listen, &options)
        .map_err(|e| format!("cannot listen on {}: {e}", plan.listen))?;
    monoio::spawn(serve_mailbox(plan.mailbox, local.clone()));
    let shards = ShardRouter::new(core, plan.config.cores, local.clone(), plan.senders);
    let services = CoreServices {
        core,
        shards,
        blocks,
        buffers: BufferPool::new(BLOCK_IO_BUFFER_BYTES, POOLED_BUFFERS_MAX, BUFFER_LEASES_MAX),
        md5: Md5Batcher::new(plan.config.md5_kernel),
        settings: plan.config.s3.clone(),
        lake: match (plan.lake, &plan.config.upstream) {
            (Some(lake_plan), Some(settings)) => Some(start_lake(core, &plan.config, settings, lake_plan)),
            _ => None,
        },
    };
    let context = CoreContext {
        services,
        config: plan.config,
        stats: CoreStats::new(plan.metrics),
        drain: Rc::new(Drain::default()),
        access_log: plan.access_log,
    };
    let context = Rc::new(context);
    if core == 0 && context.services.lake.is_some() {
        monoio::spawn(probe_upstream(context.clone()));
    }
    Ok(Started { listener, context, local, control: plan.control })
}

/// This core's view of the upstream: its client, its share of the page cache (with the pages
/// found on disk at start that it owns, and its page mailbox served), its known objects.
fn start_lake(
    core: usize,
    config: &Config,
    settings: &Arc<crate::upstream::UpstreamSettings>,
    plan: LakePlan,
) -> Rc<Lake> {
    let upstream = Rc::new(Upstream::new(settings.clone()));
    let capacity_bytes = config.cache_capacity_bytes / config.cores as u64;
    let cache = CoreCache::new(plan.directory, capacity_bytes, CACHE_PAGE_BYTES);
    for (id, length_bytes) in plan.pages {
        cache.adopt(id, length_bytes);
    }
    let owner = Rc::new(PageOwner { cache, upstream: upstream.clone() });
    monoio::spawn(serve_page_mailbox(plan.mailbox, owner.clone()));
    Rc::new(Lake {
        upstream,
        objects: KnownObjects::new(config.upstream_revalidate),
        pages: PageRouter::new(core, owner, plan.senders),
    })
}

/// Says at start whether the upstream answers and accepts our credentials (ListBuckets), so
/// a wrong URL, key or CA shows in the log at once rather than at the first cache miss. The
/// server serves either way: the upstream may come up later.
async fn probe_upstream(context: Rc<CoreContext>) {
    let Some(upstream) = context.services.lake.as_ref().map(|lake| &lake.upstream) else { return };
    let url = upstream.settings().endpoint().url();
    match upstream.list_buckets().await {
        Ok(answer) => log::info!("upstream {url}: reachable (ListBuckets answered {})", answer.status),
        Err(error) => log::warn!("upstream {url}: not usable yet: {error}"),
    }
}

/// Hands the access log's partial buffer to its writer every `ACCESS_LOG_FLUSH_MS`.
async fn flush_access_log(context: Rc<CoreContext>) {
    let period = std::time::Duration::from_millis(crate::limits::ACCESS_LOG_FLUSH_MS);
    loop {
        monoio::time::sleep(period).await;
        if let Some(log) = &context.access_log {
            log.flush();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    context: Rc<CoreContext>,
    connections_max: usize,
    mut stop: futures_channel::oneshot::Receiver<()>,
) {
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        take(accepted, &context, connections_max).await;
    }
    // Draining: connections the kernel already queued on this listener would be reset when it
    // closes; take them, and each request on them is answered 503 SlowDown (retryable).
    let backlog = std::time::Duration::from_millis(BACKLOG_DRAIN_MS);
    while let Ok(accepted) = monoio::time::timeout(backlog, listener.accept()).await {
        take(accepted, &context, connections_max).await;
    }
    drop(listener);
}

/// Starts serving one accepted connection (or refuses it beyond the limit).
async fn take(accepted: std::io::Result<(TcpStream, SocketAddr)>, context: &Rc<CoreContext>, connections_max: usize) {
    let core = context.services.core;
    let (stream, peer) = match accepted {
        Ok(accepted) => accepted,
        Err(error) => {
            // EMFILE and friends: back off briefly instead of spinning.
            log::warn!("core {core}: accept failed: {error}");
            monoio::time::sleep(std::time::Duration::from_millis(10)).await;
            return;
        }
    };
    let open = context.stats.open_connections();
    if open >= connections_max as u64 {
        log::warn!("core {core}: {open} connections open, refusing one");
        context.stats.connection_refused();
        drop(stream);
        return;
    }
    if let Err(error) = stream.set_nodelay(true) {
        log::debug!("set_nodelay failed: {error}");
    }
    context.stats.connection_opened();
    let context = context.clone();
    monoio::spawn(async move {
        connection_loop::serve(&context, stream, peer).await;
        context.stats.connection_closed();
    });
}
