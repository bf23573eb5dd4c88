//! Gathering the numbers: one message to every core, their copies merged; the data
//! directory's file system; and the readiness verdict.

use std::path::Path;
use std::time::Duration;

use futures_channel::oneshot;

use crate::limits::CORE_REPLY_TIMEOUT_MS;
use crate::server::control::{Control, CoreSnapshot, LakeCounts};
use crate::server::lifecycle::{Lifecycle, Phase};
use crate::server::stats::RequestCounts;
use crate::store::group_sync::JournalStats;

use super::AdminSettings;

/// Space of the data directory's file system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Filesystem {
    /// Bytes an unprivileged writer can still use (`f_bavail`).
    pub(crate) free_bytes: u64,
    pub(crate) size_bytes: u64,
    pub(crate) read_only: bool,
}

pub(crate) fn filesystem(data_dir: &Path) -> Option<Filesystem> {
    let stats = nix::sys::statvfs::statvfs(data_dir).ok()?;
    let fragment = stats.fragment_size() as u64;
    Some(Filesystem {
        free_bytes: (stats.blocks_available() as u64).saturating_mul(fragment),
        size_bytes: (stats.blocks() as u64).saturating_mul(fragment),
        read_only: stats.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
    })
}

/// One scrape: every core's copy, and their merge.
pub(crate) struct Scraped {
    pub(crate) phase: Phase,
    pub(crate) core_count: usize,
    /// The cores that answered, by core number.
    pub(crate) cores: Vec<CoreSnapshot>,
    pub(crate) merged: RequestCounts,
    /// The journals of every shard together.
    pub(crate) journal: JournalStats,
    pub(crate) filesystem: Option<Filesystem>,
    pub(crate) access_log_errors: Option<u64>,
    pub(crate) started_unix_s: u64,
    /// In front of an upstream: every core's cache and upstream numbers, summed.
    pub(crate) lake: Option<LakeCounts>,
}

/// Asks every core for its numbers (all at once) and merges what comes back in time.
pub(crate) async fn scrape(lifecycle: &Lifecycle, settings: &AdminSettings) -> Scraped {
    let mut cores = ask_all(lifecycle, Control::Snapshot).await.into_iter().flatten().collect::<Vec<_>>();
    cores.sort_by_key(|snapshot| snapshot.core);
    let mut merged = RequestCounts::new();
    let mut journal = JournalStats::new();
    let mut lake: Option<LakeCounts> = None;
    for snapshot in &cores {
        merged.merge(&snapshot.counts);
        if let Some(core) = &snapshot.lake {
            lake = Some(match lake.take() {
                Some(mut sum) => {
                    sum.merge(core);
                    sum
                }
                None => core.clone(),
            });
        }
        for (_, shard) in &snapshot.shards {
            journal.merge(&shard.journal);
        }
    }
    Scraped {
        phase: lifecycle.phase(),
        core_count: settings.cores,
        cores,
        merged,
        journal,
        filesystem: filesystem(&settings.data_dir),
        access_log_errors: lifecycle.access_log_errors(),
        started_unix_s: lifecycle.started_unix_s,
        lake,
    }
}

/// Sends `message` (built around a reply channel) to every core, then waits for each reply
/// up to `CORE_REPLY_TIMEOUT_MS`: `None` for a core that did not answer.
async fn ask_all<T>(lifecycle: &Lifecycle, message: fn(oneshot::Sender<T>) -> Control) -> Vec<Option<T>> {
    let mut replies = Vec::new();
    for core in lifecycle.cores() {
        let (reply, answer) = oneshot::channel();
        // A full mailbox means the core is far behind: it counts as not answering.
        replies.push(core.try_send(message(reply)).ok().map(|()| answer));
    }
    let deadline = std::time::Instant::now() + Duration::from_millis(CORE_REPLY_TIMEOUT_MS);
    let mut answers = Vec::with_capacity(replies.len());
    for answer in replies {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        answers.push(match answer {
            Some(answer) => monoio::time::timeout(left, answer).await.ok().and_then(Result::ok),
            None => None,
        });
    }
    answers
}

/// Ready: every core serves and answers, no shard refuses writes, the data directory's file
/// system is writable. `Err` says why not.
pub(crate) async fn readiness(lifecycle: &Lifecycle, data_dir: &Path) -> Result<(), String> {
    match lifecycle.phase() {
        Phase::Starting => return Err("starting (recovering the data directory)".into()),
        Phase::Draining => return Err("draining (shutting down)".into()),
        Phase::Serving => {}
    }
    if filesystem(data_dir).is_some_and(|filesystem| filesystem.read_only) {
        return Err(format!("the data directory {} is on a read-only file system", data_dir.display()));
    }
    let answers = ask_all(lifecycle, Control::Health).await;
    let silent: Vec<usize> = answers.iter().enumerate().filter(|(_, a)| a.is_none()).map(|(core, _)| core).collect();
    if !silent.is_empty() {
        return Err(format!("cores {silent:?} did not answer within {CORE_REPLY_TIMEOUT_MS} ms"));
    }
    let mut fenced: Vec<usize> = answers.into_iter().flatten().flat_map(|health| health.fenced_shards).collect();
    if !fenced.is_empty() {
        fenced.sort_unstable();
        return Err(format!(
            "the journals of shards {fenced:?} refuse writes until a restart (a checkpoint could not be made durable)"
        ));
    }
    Ok(())
}
