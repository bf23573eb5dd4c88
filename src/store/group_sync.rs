//! Group commit: many writers share one write + fsync of a file.
//!
//! A writer appends its bytes (or nothing, for a directory) to the pending batch and waits for
//! that batch. One flush task per file writes the whole batch at the durable end of the file and
//! fsyncs once; writers that arrive during a flush join the next batch. Under load one fsync
//! acknowledges as many writers as arrived during the previous one.
//!
//! On a failed write or fsync the file is cut back to its last durable length, every waiting
//! writer (in flight and pending) gets the error, and the owner's `on_failure` hook runs before
//! any other task, so the owner can rebuild its in-memory state from what is durable.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use monoio::fs::File;

/// One group of writers sharing a flush.
#[derive(Default)]
struct Batch {
    /// `None` until the flush ends; then the outcome (an errno on failure).
    outcome: Cell<Option<Result<(), i32>>>,
    wakers: RefCell<Vec<Waker>>,
    /// Whether anyone waits on this batch (a directory batch has no bytes).
    requested: Cell<bool>,
}

impl Batch {
    fn finish(&self, outcome: Result<(), i32>) {
        self.outcome.set(Some(outcome));
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

/// Waits until the batch the writer joined is durable.
pub(crate) struct BatchWait {
    batch: Rc<Batch>,
}

impl Future for BatchWait {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.batch.outcome.get() {
            Some(Ok(())) => Poll::Ready(Ok(())),
            Some(Err(errno)) => Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            None => {
                self.batch.wakers.borrow_mut().push(context.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A requested switch to a fresh file that starts with a checkpoint (journal compaction).
struct Rotation {
    /// Bytes appended before the checkpoint was taken: they still go to the old file.
    old_bytes: Vec<u8>,
    old_batch: Rc<Batch>,
    /// The new file's first bytes: a checkpoint of the state including everything above.
    checkpoint: Vec<u8>,
    /// Where the file lives: the checkpoint is written beside it and renamed over it.
    path: std::path::PathBuf,
}

struct SyncState {
    rotation: Option<Rotation>,
    pending: Vec<u8>,
    /// A spare buffer swapped with `pending` at each flush, so batches reuse memory.
    spare: Vec<u8>,
    batch: Rc<Batch>,
    /// The batch being written and fsynced now, if any.
    in_flight: Option<Rc<Batch>>,
    durable_length: u64,
    flushing: bool,
}

/// A file with group-committed appends (a journal) or group-committed fsyncs (a directory).
/// Runs after a failed flush with the last durable length.
type FailureHook = Box<dyn Fn(u64)>;

pub struct GroupSync {
    /// Swapped for a fresh file by a rotation; operations hold their own `Rc`.
    file: RefCell<Rc<File>>,
    /// `fdatasync` suffices for an appended file (it covers the size); a directory needs fsync.
    data_only: bool,
    state: RefCell<SyncState>,
    on_failure: RefCell<Option<FailureHook>>,
    failures: Cell<u64>,
    flushes: Cell<u64>,
    /// Length of the file right after its last checkpoint (or at open).
    checkpoint_length: Cell<u64>,
    /// Makes the frame that closes a batch starting at the given offset (journals only).
    batch_end: Option<fn(u64) -> Vec<u8>>,
}

impl GroupSync {
    /// `durable_length` is where appends go: the file's length after recovery.
    pub(crate) fn new(file: File, durable_length: u64, data_only: bool) -> Rc<Self> {
        Rc::new(GroupSync {
            file: RefCell::new(Rc::new(file)),
            data_only,
            state: RefCell::new(SyncState {
                rotation: None,
                pending: Vec::new(),
                spare: Vec::new(),
                batch: Rc::new(Batch::default()),
                in_flight: None,
                durable_length,
                flushing: false,
            }),
            on_failure: RefCell::new(None),
            failures: Cell::new(0),
            flushes: Cell::new(0),
            checkpoint_length: Cell::new(durable_length),
            batch_end: None,
        })
    }

    /// A journal: every flushed batch ends with `batch_end(start)` (see `journal::batch_end_frame`).
    pub fn new_journal(file: File, durable_length: u64, batch_end: fn(u64) -> Vec<u8>) -> Rc<Self> {
        let mut sync = GroupSync::new(file, durable_length, true);
        Rc::get_mut(&mut sync).expect("just created").batch_end = Some(batch_end);
        sync
    }

    /// Runs with the last durable length after a failed flush, before other tasks run.
    pub(crate) fn set_on_failure(&self, hook: impl Fn(u64) + 'static) {
        *self.on_failure.borrow_mut() = Some(Box::new(hook));
    }

    /// Adds bytes to the pending batch (append order is file order).
    pub(crate) fn append(&self, bytes: &[u8]) {
        self.state.borrow_mut().pending.extend_from_slice(bytes);
    }

    /// Bytes appended but not yet durable plus durable bytes: the file's logical length.
    #[cfg(test)]
    pub(crate) fn logical_length(&self) -> u64 {
        let state = self.state.borrow();
        state.durable_length + state.pending.len() as u64
    }

    pub(crate) fn durable_length(&self) -> u64 {
        self.state.borrow().durable_length
    }

    /// Number of flushes done (each one write + one fsync).
    #[cfg(test)]
    pub(crate) fn flush_count(&self) -> u64 {
        self.flushes.get()
    }

    /// Length right after the last checkpoint: compaction triggers relative to it, so a state
    /// larger than the threshold is not rewritten on every commit.
    pub(crate) fn checkpoint_length(&self) -> u64 {
        self.checkpoint_length.get()
    }

    /// Whether a rotation is requested and not done yet.
    pub(crate) fn rotation_pending(&self) -> bool {
        self.state.borrow().rotation.is_some()
    }

    /// Starts a new file at `path` holding `checkpoint`, a snapshot of the state that includes
    /// every entry appended so far. Entries appended so far still go to the old file first;
    /// the switch happens atomically by rename once both are durable; later entries go to the
    /// new file. Call with no await between taking the snapshot and this call.
    pub(crate) fn rotate(self: &Rc<Self>, checkpoint: Vec<u8>, path: std::path::PathBuf) {
        {
            let mut state = self.state.borrow_mut();
            if state.rotation.is_some() {
                return;
            }
            let old_bytes = std::mem::take(&mut state.pending);
            let old_batch = std::mem::replace(&mut state.batch, Rc::new(Batch::default()));
            old_batch.requested.set(true);
            state.rotation = Some(Rotation { old_bytes, old_batch, checkpoint, path });
        }
        drop(self.commit());
    }

    /// Waits until everything appended so far is durable, without adding a flush when nothing
    /// is pending. A request that changes nothing but relies on earlier changes (a delete of
    /// a key another request just deleted) is acknowledged only after those are durable.
    pub(crate) async fn barrier(self: &Rc<Self>) -> io::Result<()> {
        let in_flight = {
            let state = self.state.borrow();
            if !state.pending.is_empty() || state.batch.requested.get() || state.rotation.is_some() {
                None
            } else {
                match &state.in_flight {
                    Some(batch) => Some(batch.clone()),
                    None => return Ok(()),
                }
            }
        };
        match in_flight {
            Some(batch) => BatchWait { batch }.await,
            None => self.commit().await,
        }
    }

    /// Joins the pending batch and makes sure a flush task runs.
    pub(crate) fn commit(self: &Rc<Self>) -> BatchWait {
        let mut state = self.state.borrow_mut();
        let batch = state.batch.clone();
        batch.requested.set(true);
        if !state.flushing {
            state.flushing = true;
            let this = self.clone();
            monoio::spawn(async move { this.flush_loop().await });
        }
        BatchWait { batch }
    }

    async fn flush_loop(self: Rc<Self>) {
        loop {
            let rotation = self.state.borrow_mut().rotation.take();
            if let Some(rotation) = rotation {
                if !self.rotate_now(rotation).await {
                    continue;
                }
            }
            let (bytes, batch, offset) = {
                let mut state = self.state.borrow_mut();
                if !state.batch.requested.get() && state.pending.is_empty() {
                    state.flushing = false;
                    return;
                }
                let spare = std::mem::take(&mut state.spare);
                let bytes = std::mem::replace(&mut state.pending, spare);
                let batch = std::mem::replace(&mut state.batch, Rc::new(Batch::default()));
                state.in_flight = Some(batch.clone());
                (bytes, batch, state.durable_length)
            };
            let (outcome, mut bytes) = self.write_and_sync(bytes, offset).await;
            let length = bytes.len() as u64;
            self.flushes.set(self.flushes.get() + 1);
            match outcome {
                Ok(()) => {
                    let mut state = self.state.borrow_mut();
                    state.in_flight = None;
                    state.durable_length = offset + length;
                    bytes.clear();
                    state.spare = bytes;
                    drop(state);
                    batch.finish(Ok(()));
                }
                Err(error) => self.fail(error, offset, batch),
            }
        }
    }

    /// Performs a rotation: old entries made durable in the old file, the checkpoint written,
    /// fsynced and renamed over the old file, the directory fsynced, then the new file in use.
    /// Returns false when the old file's flush failed (the failure path already ran).
    async fn rotate_now(&self, rotation: Rotation) -> bool {
        let offset = self.durable_length();
        self.state.borrow_mut().in_flight = Some(rotation.old_batch.clone());
        let (outcome, written) = self.write_and_sync(rotation.old_bytes, offset).await;
        let length = written.len() as u64;
        self.flushes.set(self.flushes.get() + 1);
        if let Err(error) = outcome {
            self.fail(error, offset, rotation.old_batch);
            return false;
        }
        {
            let mut state = self.state.borrow_mut();
            state.durable_length = offset + length;
            state.in_flight = None;
        }
        rotation.old_batch.finish(Ok(()));
        let checkpoint_length = rotation.checkpoint.len() as u64;
        match write_checkpoint(&rotation.path, rotation.checkpoint).await {
            Ok(file) => {
                *self.file.borrow_mut() = Rc::new(file);
                self.state.borrow_mut().durable_length = checkpoint_length;
                self.checkpoint_length.set(checkpoint_length);
                log::info!(
                    "{}: journal of {} bytes checkpointed to {checkpoint_length} bytes",
                    rotation.path.display(),
                    offset + length
                );
            }
            // The old file is complete and durable: keep appending to it.
            Err(error) => log::warn!("{}: checkpoint failed, journal kept: {error}", rotation.path.display()),
        }
        true
    }

    async fn write_and_sync(&self, mut bytes: Vec<u8>, offset: u64) -> (io::Result<()>, Vec<u8>) {
        if let (Some(batch_end), false) = (self.batch_end, bytes.is_empty()) {
            bytes.extend_from_slice(&batch_end(offset));
        }
        let file = self.file.borrow().clone();
        let bytes = if bytes.is_empty() {
            bytes
        } else {
            let (result, bytes) = file.write_all_at(bytes, offset).await;
            if let Err(error) = result {
                return (Err(error), bytes);
            }
            bytes
        };
        let synced = if self.data_only { file.sync_data().await } else { file.sync_all().await };
        (synced, bytes)
    }

    /// A failed flush: cut the file back, fail everyone waiting, let the owner rebuild.
    fn fail(&self, error: io::Error, durable_length: u64, in_flight: Rc<Batch>) {
        log::error!("group commit flush failed: {error}");
        let errno = error.raw_os_error().unwrap_or(libc::EIO);
        if self.data_only {
            // Cut through a second handle on our own descriptor; a failure here is
            // logged and the torn bytes are cut again by checksums at the next start.
            let cut = truncate_descriptor(self.file.borrow().as_raw_fd(), durable_length);
            if let Err(cut_error) = cut {
                log::error!("could not cut journal back to {durable_length}: {cut_error}");
            }
        }
        let (pending, abandoned) = {
            let mut state = self.state.borrow_mut();
            state.in_flight = None;
            state.pending.clear();
            let abandoned = state.rotation.take().map(|rotation| rotation.old_batch);
            (std::mem::replace(&mut state.batch, Rc::new(Batch::default())), abandoned)
        };
        self.failures.set(self.failures.get() + 1);
        if let Some(hook) = self.on_failure.borrow().as_ref() {
            hook(durable_length);
        }
        in_flight.finish(Err(errno));
        pending.finish(Err(errno));
        if let Some(batch) = abandoned {
            batch.finish(Err(errno));
        }
    }
}

/// Writes a checkpoint beside `path` and renames it over `path`, durably; returns the new file
/// open for appending.
async fn write_checkpoint(path: &std::path::Path, checkpoint: Vec<u8>) -> io::Result<File> {
    let temporary = path.with_extension("checkpoint");
    let file = monoio::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&temporary).await?;
    let (written, _) = file.write_all_at(checkpoint, 0).await;
    let synced = match written {
        Ok(()) => file.sync_all().await,
        Err(error) => Err(error),
    };
    if let Err(error) = synced {
        let _ = monoio::fs::remove_file(&temporary).await;
        return Err(error);
    }
    monoio::fs::rename(&temporary, path).await?;
    let directory = File::open(path.parent().unwrap_or(std::path::Path::new("."))).await?;
    directory.sync_all().await?;
    Ok(file)
}

/// Truncates through a duplicate `std::fs::File`, so no unsafe code is needed here.
fn truncate_descriptor(fd: i32, length: u64) -> io::Result<()> {
    let path = format!("/proc/self/fd/{fd}");
    std::fs::OpenOptions::new().write(true).open(path)?.set_len(length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::{checkpoint_bytes, encode_frame, replay_file, JOURNAL_MAGIC};
    use crate::store::journal_entry::JournalEntry;

    fn frame(entry: &JournalEntry) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(entry, &mut out);
        out
    }

    fn create(bucket: &str) -> JournalEntry {
        JournalEntry::CreateBucket { bucket: bucket.into(), created_ms: 1 }
    }

    /// A fresh journal file (magic only) in a temp dir, and a runtime to drive it.
    fn empty_journal() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        monoio::FusionRuntime<
            monoio::time::TimeDriver<monoio::IoUringDriver>,
            monoio::time::TimeDriver<monoio::LegacyDriver>,
        >,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard.journal");
        std::fs::write(&path, JOURNAL_MAGIC).unwrap();
        let runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new().enable_timer().build().unwrap();
        (dir, path, runtime)
    }

    async fn open_journal(path: &std::path::Path) -> Rc<GroupSync> {
        let file = monoio::fs::OpenOptions::new().write(true).open(path).await.unwrap();
        GroupSync::new_journal(file, JOURNAL_MAGIC.len() as u64, crate::store::journal::batch_end_frame)
    }

    #[test]
    fn rotation_keeps_every_entry_across_the_switch() {
        let (_dir, path, mut runtime) = empty_journal();
        runtime.block_on(async {
            let sync = open_journal(&path).await;
            let mut state = crate::store::index::ShardState::default();
            for name in ["a", "b", "c"] {
                let entry = create(name);
                state.apply(&entry);
                sync.append(&frame(&entry));
            }
            sync.commit().await.unwrap();
            // d is appended before the snapshot (still pending), e after the rotation request.
            let d = create("d");
            state.apply(&d);
            sync.append(&frame(&d));
            let before = sync.commit();
            sync.rotate(checkpoint_bytes(&state), path.clone());
            let e = create("e");
            sync.append(&frame(&e));
            let after = sync.commit();
            before.await.unwrap();
            after.await.unwrap();
            assert_eq!(sync.checkpoint_length(), checkpoint_bytes(&state).len() as u64);
        });
        let replay = replay_file(&path).unwrap();
        let names: Vec<&String> = replay.state.buckets.keys().collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        // The file now starts with the checkpoint (4 entries) followed by e and its batch end.
        assert_eq!(replay.entries, 6);
        assert!(!path.with_extension("checkpoint").exists());
    }

    #[test]
    fn barrier_waits_for_pending_entries_and_costs_nothing_when_idle() {
        let (_dir, path, mut runtime) = empty_journal();
        runtime.block_on(async {
            let sync = open_journal(&path).await;
            sync.barrier().await.unwrap();
            assert_eq!(sync.flush_count(), 0, "an idle barrier must not flush");
            sync.append(&frame(&create("a")));
            let pending = sync.commit();
            sync.barrier().await.unwrap();
            assert_eq!(sync.durable_length(), sync.logical_length(), "the barrier returned before durability");
            pending.await.unwrap();
            let flushes = sync.flush_count();
            sync.barrier().await.unwrap();
            assert_eq!(sync.flush_count(), flushes);
        });
    }
}
