//! The control mailbox of each core: the admin listener asks a core for a copy of its numbers
//! (a scrape) or for its health (a readiness probe), and the shutdown tells it to drain and to
//! stop. Like the shard mailboxes, a bounded channel per core; the core answers on a one-shot
//! channel, so nothing a core owns is ever read from another thread.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::context::CoreContext;
use super::stats::RequestCounts;
use crate::cache::stats::CacheCounts;
use crate::shard::{Shard, ShardReport};
use crate::upstream::stats::UpstreamCounts;

/// What a core's numbers were at one instant.
pub(crate) struct CoreSnapshot {
    pub(crate) core: usize,
    pub(crate) counts: RequestCounts,
    pub(crate) in_flight: u64,
    pub(crate) open_connections: u64,
    /// The shards this core owns, by id.
    pub(crate) shards: Vec<(usize, ShardReport)>,
    /// (lines handed to the access log writer, lines dropped), when the access log is on.
    pub(crate) access_log: Option<(u64, u64)>,
    /// In front of an upstream: the cache's and the upstream client's numbers.
    pub(crate) lake: Option<LakeCounts>,
}

/// A core's numbers about the upstream and its cache (or every core's, merged).
#[derive(Clone)]
pub(crate) struct LakeCounts {
    pub(crate) cache: CacheCounts,
    pub(crate) upstream: UpstreamCounts,
}

impl LakeCounts {
    pub(crate) fn merge(&mut self, other: &LakeCounts) {
        self.cache.merge(&other.cache);
        self.upstream.merge(&other.upstream);
    }
}

/// What a readiness probe needs from a core.
pub(crate) struct CoreHealth {
    /// Owned shards whose journal refuses writes until a restart.
    pub(crate) fenced_shards: Vec<usize>,
}

pub(crate) enum Control {
    Snapshot(oneshot::Sender<CoreSnapshot>),
    Health(oneshot::Sender<CoreHealth>),
    /// Stop accepting, close idle connections, refuse new requests; report on `drained` once
    /// no connection is left or at `deadline`.
    Drain {
        deadline: Instant,
        drained: std::sync::mpsc::Sender<usize>,
    },
    /// Make every owned journal durable, report on `stopped`, and end the core.
    Stop {
        stopped: std::sync::mpsc::Sender<usize>,
    },
}

/// How often a draining core looks whether its connections are gone.
const DRAIN_POLL_MS: u64 = 10;

/// Serves the control mailbox until a `Stop` (or until nobody can send any more). `stop_accepting`
/// ends the accept loop.
pub(crate) async fn serve_control(
    mailbox: flume::Receiver<Control>,
    context: Rc<CoreContext>,
    local: Vec<Option<Rc<Shard>>>,
    stop_accepting: oneshot::Sender<()>,
) {
    let core = context.services.core;
    let mut stop_accepting = Some(stop_accepting);
    while let Ok(message) = mailbox.recv_async().await {
        match message {
            Control::Snapshot(reply) => {
                let _ = reply.send(snapshot(&context, &local));
            }
            Control::Health(reply) => {
                let fenced_shards = owned(&local).filter(|(_, shard)| shard.is_fenced()).map(|(id, _)| id).collect();
                let _ = reply.send(CoreHealth { fenced_shards });
            }
            Control::Drain { deadline, drained } => {
                if let Some(stop) = stop_accepting.take() {
                    let _ = stop.send(());
                }
                let shut = context.drain.begin();
                log::info!(
                    "core {core}: draining: {shut} idle connections closed, {} open",
                    context.stats.open_connections().saturating_sub(shut as u64)
                );
                let context = context.clone();
                monoio::spawn(async move {
                    while context.stats.open_connections() > 0 && Instant::now() < deadline {
                        monoio::time::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
                    }
                    let _ = drained.send(core);
                });
            }
            Control::Stop { stopped } => {
                for (id, shard) in owned(&local) {
                    if let Err(error) = shard.flush().await {
                        log::error!("core {core}: shard {id}: journal flush at shutdown failed: {error}");
                    }
                }
                if let Some(access_log) = &context.access_log {
                    access_log.flush();
                }
                let _ = stopped.send(core);
                return;
            }
        }
    }
}

fn owned(local: &[Option<Rc<Shard>>]) -> impl Iterator<Item = (usize, &Rc<Shard>)> {
    local.iter().enumerate().filter_map(|(id, shard)| shard.as_ref().map(|shard| (id, shard)))
}

fn snapshot(context: &CoreContext, local: &[Option<Rc<Shard>>]) -> CoreSnapshot {
    CoreSnapshot {
        core: context.services.core,
        counts: context.stats.counts(),
        in_flight: context.stats.in_flight(),
        open_connections: context.stats.open_connections(),
        shards: owned(local).map(|(id, shard)| (id, shard.report())).collect(),
        access_log: context.access_log.as_ref().map(|log| log.counts()),
        lake: context
            .services
            .lake
            .as_ref()
            .map(|lake| LakeCounts { cache: lake.pages.cache_counts(), upstream: lake.upstream.counts() }),
    }
}
