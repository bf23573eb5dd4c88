//! One core: a pinned thread running a monoio runtime that owns a listener, a mailbox, its
//! shards and its block store. Everything here is `!Send` and stays on this thread.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::Arc;

use monoio::blocking::DefaultThreadPool;
use monoio::fs::OpenOptions;
use monoio::net::{ListenerOpts, TcpListener};
use monoio::time::TimeDriver;
use monoio::{FusionDriver, FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::connection_loop;
use super::context::CoreContext;
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
}

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
            Ok((listener, context)) => {
                let address = listener.local_addr().map_err(|e| e.to_string());
                let _ = ready.send(address);
                accept_loop(listener, context, connections_max).await;
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

async fn start(plan: CorePlan) -> Result<(TcpListener, Rc<CoreContext>), String> {
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
    let shards = ShardRouter::new(core, plan.config.cores, local, plan.senders);
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
    let context = Rc::new(CoreContext { services, config: plan.config });
    if core == 0 && context.services.lake.is_some() {
        monoio::spawn(probe_upstream(context.clone()));
    }
    Ok((listener, context))
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

async fn accept_loop(listener: TcpListener, context: Rc<CoreContext>, connections_max: usize) {
    let core = context.services.core;
    let open_connections = Rc::new(Cell::new(0usize));
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off briefly instead of spinning.
                log::warn!("core {core}: accept failed: {error}");
                monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if open_connections.get() >= connections_max {
            log::warn!("core {core}: {} connections open, refusing one", open_connections.get());
            drop(stream);
            continue;
        }
        if let Err(error) = stream.set_nodelay(true) {
            log::debug!("set_nodelay failed: {error}");
        }
        open_connections.set(open_connections.get() + 1);
        let (context, open_connections) = (context.clone(), open_connections.clone());
        monoio::spawn(async move {
            connection_loop::serve(context, stream).await;
            open_connections.set(open_connections.get() - 1);
        });
    }
}
