//! A shard on its owning core: the namespace of the buckets that hash to it, and the journal
//! that makes every change durable before it is acknowledged.
//!
//! Every mutation follows one recipe, with no await between its steps 1–3:
//! 1. check preconditions against the current state (bucket exists, conditional headers);
//! 2. apply the journal entry to the in-memory state (`ShardState::apply`);
//! 3. append the same entry to the journal's pending batch;
//! 4. await the group commit; only then reply and unlink the blocks the change released.
//!
//! A failed flush rebuilds the state from the durable journal (see `group_sync`). A journal
//! fenced after a checkpoint whose rename could not be made durable refuses every write with
//! 503 ServiceUnavailable before anything is applied; reads go on.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::super::store::blocks::BlockStore;
use crate::error::S3Error;
use crate::s3_error;
use crate::store::group_sync::{Checkpoint, GroupSync};
use crate::store::index::{ListPage, ListQuery, Released, ShardState};
use crate::store::journal::{self, Journal};
use crate::store::journal_entry::JournalEntry;
use crate::store::record::{
    BucketRecord, ObjectAttributes, ObjectRecord, Pair, PartRecord, SharedRecord, UploadRecord,
};

/// A conditional write (`If-None-Match: *`, `If-Match: etag`), checked atomically at commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// Only if no object exists under the key.
    IfAbsent,
    /// Only if the current object's ETag is one of these (`*`: any object).
    IfMatch(Vec<String>),
}

impl WriteCondition {
    fn check(&self, current: Option<&SharedRecord>) -> Result<(), S3Error> {
        match (self, current) {
            (WriteCondition::Always, _) => Ok(()),
            (WriteCondition::IfAbsent, None) => Ok(()),
            (WriteCondition::IfAbsent, Some(_)) => Err(s3_error!(PreconditionFailed)),
            (WriteCondition::IfMatch(_), None) => Err(s3_error!(NoSuchKey)),
            (WriteCondition::IfMatch(etags), Some(record)) => {
                if etags.iter().any(|etag| etag == "*" || *etag == record.etag) {
                    Ok(())
                } else {
                    Err(s3_error!(PreconditionFailed))
                }
            }
        }
    }
}

/// The outcome of one key of a DeleteObjects request.
pub(crate) type DeleteOutcome = Result<(), S3Error>;

pub struct Shard {
    journal_path: PathBuf,
    state: Rc<RefCell<ShardState>>,
    journal: Journal,
    blocks: Rc<BlockStore>,
    /// Journal length that triggers a checkpoint (`--journal-checkpoint-bytes`).
    checkpoint_bytes: u64,
    rebuilds: Rc<Rebuilds>,
}

/// Rebuilds of the state from the durable journal after a failed flush. Reading and replaying
/// a journal of tens of MiB is blocking I/O and CPU work, so it runs on the blocking pool;
/// meanwhile every operation on the shard waits (`Shard::ready`), so none sees entries that
/// were applied in memory but never became durable. Failures during a rebuild start a newer
/// one; only the newest one's result is installed.
#[derive(Default)]
struct Rebuilds {
    started: std::cell::Cell<u64>,
    finished: std::cell::Cell<u64>,
    waiters: RefCell<Vec<std::task::Waker>>,
}

impl Rebuilds {
    fn start(self: &Rc<Self>, state: Rc<RefCell<ShardState>>, path: PathBuf, durable_length: u64) {
        let generation = self.started.get() + 1;
        self.started.set(generation);
        let this = self.clone();
        monoio::spawn(async move {
            let read_path = path.clone();
            let replayed = monoio::spawn_blocking(move || durable_state(&read_path, durable_length))
                .await
                .unwrap_or_else(|_| Err("the blocking pool dropped the rebuild".to_string()));
            if this.started.get() != generation {
                return; // a newer failure started a newer rebuild
            }
            install(&state, &path, replayed);
            this.finished.set(generation);
            for waker in this.waiters.borrow_mut().drain(..) {
                waker.wake();
            }
        });
    }

    fn poll_ready(&self, context: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.finished.get() == self.started.get() {
            return std::task::Poll::Ready(());
        }
        self.waiters.borrow_mut().push(context.waker().clone());
        std::task::Poll::Pending
    }
}

impl Shard {
    pub fn new(
        state: ShardState,
        journal_path: PathBuf,
        journal: Rc<GroupSync>,
        blocks: Rc<BlockStore>,
        checkpoint_bytes: u64,
    ) -> Rc<Shard> {
        let state = Rc::new(RefCell::new(state));
        let rebuilds = Rc::new(Rebuilds::default());
        let (rebuild_state, rebuild_path, rebuild_gate) = (state.clone(), journal_path.clone(), rebuilds.clone());
        journal.set_on_failure(move |durable_length| {
            rebuild_gate.start(rebuild_state.clone(), rebuild_path.clone(), durable_length);
        });
        Rc::new(Shard { journal_path, state, journal: Journal::new(journal), blocks, checkpoint_bytes, rebuilds })
    }

    /// Waits while the state is being rebuilt after a failed flush (see `Rebuilds`); at once
    /// otherwise. Every operation passes here first (`ShardRouter::call_shard`).
    pub(crate) fn ready(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |context| self.rebuilds.poll_ready(context))
    }

    // ----- buckets -----

    pub(crate) async fn create_bucket(&self, bucket: String, now_ms: u64) -> Result<(), S3Error> {
        if self.state.borrow().bucket(&bucket).is_some() {
            return Err(s3_error!(BucketAlreadyOwnedByYou));
        }
        self.mutate(JournalEntry::CreateBucket { bucket, created_ms: now_ms }).await
    }

    pub(crate) async fn delete_bucket(&self, bucket: String) -> Result<(), S3Error> {
        {
            let state = self.state.borrow();
            let index = state.bucket(&bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
            if !index.objects.is_empty() {
                return Err(s3_error!(BucketNotEmpty));
            }
        }
        self.mutate(JournalEntry::DeleteBucket { bucket }).await
    }

    pub(crate) fn bucket_record(&self, bucket: &str) -> Result<BucketRecord, S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        index.record.clone().ok_or_else(|| s3_error!(NoSuchBucket))
    }

    /// This shard's buckets with their creation times.
    pub fn list_buckets(&self) -> Vec<(String, u64)> {
        let state = self.state.borrow();
        state
            .buckets
            .iter()
            .filter_map(|(name, index)| index.record.as_ref().map(|r| (name.clone(), r.created_ms)))
            .collect()
    }

    pub(crate) async fn set_bucket_tags(&self, bucket: String, tags: Option<Vec<Pair>>) -> Result<(), S3Error> {
        self.bucket_record(&bucket)?;
        self.mutate(JournalEntry::SetBucketTags { bucket, tags }).await
    }

    // ----- objects -----

    pub(crate) fn get_object(&self, bucket: &str, key: &str) -> Result<SharedRecord, S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        index.objects.get(key.as_bytes()).cloned().ok_or_else(|| s3_error!(NoSuchKey))
    }

    pub(crate) async fn put_object(
        &self,
        bucket: String,
        key: String,
        record: SharedRecord,
        condition: WriteCondition,
    ) -> Result<(), S3Error> {
        {
            let state = self.state.borrow();
            let index = state.bucket(&bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
            condition.check(index.objects.get(key.as_bytes()))?;
        }
        self.mutate(JournalEntry::PutObject { bucket, key, record }).await
    }

    /// Deletes a key; a missing key is a success, as in S3.
    pub(crate) async fn delete_object(&self, bucket: String, key: String) -> Result<(), S3Error> {
        let exists = {
            let state = self.state.borrow();
            let index = state.bucket(&bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
            index.objects.contains_key(key.as_bytes())
        };
        if !exists {
            // Absent maybe only because of a delete not yet durable: wait for it.
            return self.barrier().await;
        }
        self.mutate(JournalEntry::DeleteObject { bucket, key }).await
    }

    /// Deletes many keys with one journal flush.
    pub(crate) async fn delete_objects(
        &self,
        bucket: String,
        keys: Vec<String>,
    ) -> Result<Vec<DeleteOutcome>, S3Error> {
        let mut released = Released::default();
        let mut changed = false;
        {
            self.check_writable()?;
            let mut state = self.state.borrow_mut();
            if state.bucket(&bucket).is_none() {
                return Err(s3_error!(NoSuchBucket));
            }
            for key in &keys {
                if state.object(&bucket, key).is_none() {
                    continue;
                }
                let entry = JournalEntry::DeleteObject { bucket: bucket.clone(), key: key.clone() };
                released.blocks.extend(state.apply(&entry).blocks);
                self.journal.append(&entry);
                changed = true;
            }
        }
        if changed {
            self.commit(released).await?;
        } else {
            self.barrier().await?;
        }
        Ok(keys.iter().map(|_| Ok(())).collect())
    }

    pub(crate) fn list_objects(&self, bucket: &str, query: &ListQuery) -> Result<ListPage, S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        Ok(index.list(query))
    }

    /// Replaces an object's tags (`None`: removes them), keeping its data and metadata.
    pub(crate) async fn set_object_tags(&self, bucket: String, key: String, tags: Vec<Pair>) -> Result<(), S3Error> {
        let current = self.get_object(&bucket, &key)?;
        let record = std::sync::Arc::new(ObjectRecord { tags, ..(*current).clone() });
        self.mutate(JournalEntry::PutObject { bucket, key, record }).await
    }

    // ----- multipart uploads -----

    pub(crate) async fn create_upload(
        &self,
        bucket: String,
        key: String,
        upload_id: String,
        initiated_ms: u64,
        attributes: ObjectAttributes,
    ) -> Result<(), S3Error> {
        self.bucket_record(&bucket)?;
        self.mutate(JournalEntry::CreateUpload { bucket, key, upload_id, initiated_ms, attributes }).await
    }

    /// The upload `upload_id` for `key` (NoSuchUpload when absent or for another key).
    pub(crate) fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord, S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        match index.uploads.get(upload_id) {
            Some(upload) if upload.key == key => Ok(upload.clone()),
            _ => Err(s3_error!(NoSuchUpload)),
        }
    }

    /// Checks that an upload exists for `key`, without copying it.
    pub(crate) fn check_upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        match index.uploads.get(upload_id) {
            Some(upload) if upload.key == key => Ok(()),
            _ => Err(s3_error!(NoSuchUpload)),
        }
    }

    /// Every upload of a bucket, sorted by key then upload id.
    pub(crate) fn uploads(&self, bucket: &str) -> Result<Vec<(String, UploadRecord)>, S3Error> {
        let state = self.state.borrow();
        let index = state.bucket(bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
        let mut uploads: Vec<(String, UploadRecord)> = index
            .uploads
            .iter()
            .map(|(id, upload)| (id.clone(), UploadRecord { parts: Default::default(), ..upload.clone() }))
            .collect();
        uploads.sort_by(|a, b| (a.1.key.as_str(), a.0.as_str()).cmp(&(b.1.key.as_str(), b.0.as_str())));
        Ok(uploads)
    }

    pub(crate) async fn put_part(
        &self,
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        part: PartRecord,
    ) -> Result<(), S3Error> {
        self.check_upload(&bucket, &key, &upload_id)?;
        self.mutate(JournalEntry::PutPart { bucket, upload_id, part_number, part }).await
    }

    /// Completes an upload atomically: readers see the old object or the new one. `build`
    /// checks the upload's parts and makes the record; it runs with no await before the commit.
    pub(crate) async fn complete_upload(
        &self,
        bucket: String,
        key: String,
        upload_id: String,
        build: impl FnOnce(&UploadRecord) -> Result<ObjectRecord, S3Error>,
    ) -> Result<SharedRecord, S3Error> {
        let record = {
            let state = self.state.borrow();
            let index = state.bucket(&bucket).ok_or_else(|| s3_error!(NoSuchBucket))?;
            match index.uploads.get(&upload_id) {
                Some(upload) if upload.key == key => std::sync::Arc::new(build(upload)?),
                _ => return Err(s3_error!(NoSuchUpload)),
            }
        };
        self.mutate(JournalEntry::CompleteUpload { bucket, upload_id, key, record: record.clone() }).await?;
        Ok(record)
    }

    /// A completion repeated after it succeeded: the object it made, when that is still the
    /// key's current object and has `etag` (the same parts were named), acknowledged once it
    /// is durable (the first completion may still be waiting for its flush). NoSuchUpload
    /// otherwise.
    pub(crate) async fn completed_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        etag: &str,
    ) -> Result<SharedRecord, S3Error> {
        let record = self.get_object(bucket, key).map_err(|_| s3_error!(NoSuchUpload))?;
        if record.completed_upload.as_deref() != Some(upload_id) || record.etag != etag {
            return Err(s3_error!(NoSuchUpload));
        }
        self.barrier().await?;
        Ok(record)
    }

    pub(crate) async fn abort_upload(&self, bucket: String, key: String, upload_id: String) -> Result<(), S3Error> {
        self.check_upload(&bucket, &key, &upload_id)?;
        self.mutate(JournalEntry::AbortUpload { bucket, upload_id }).await
    }

    // ----- the mutation recipe -----

    /// Applies, journals and commits one entry.
    async fn mutate(&self, entry: JournalEntry) -> Result<(), S3Error> {
        self.check_writable()?;
        let released = self.state.borrow_mut().apply(&entry);
        self.journal.append(&entry);
        self.commit(released).await
    }

    /// Acknowledges a request that changed nothing only once the state it observed is durable.
    async fn barrier(&self) -> Result<(), S3Error> {
        self.check_writable()?;
        self.journal.barrier().await.map_err(|error| self.journal_error("journal barrier", &error))
    }

    /// Refuses writes once the journal is fenced (see `GroupSync::is_fenced`), before any
    /// change is applied in memory.
    fn check_writable(&self) -> Result<(), S3Error> {
        if self.journal.group_sync().is_fenced() {
            return Err(fenced_error());
        }
        Ok(())
    }

    /// The answer to a write whose journal commit failed.
    fn journal_error(&self, context: &str, error: &io::Error) -> S3Error {
        if self.journal.group_sync().is_fenced() {
            log::error!("{}: {context}: {error} (journal fenced)", self.journal_path.display());
            return fenced_error();
        }
        S3Error::from_io(context, error)
    }

    /// Waits for the pending batch to be durable, then frees what it released.
    async fn commit(&self, released: Released) -> Result<(), S3Error> {
        match self.journal.commit().await {
            Ok(()) => {
                self.checkpoint_if_long();
                if !released.blocks.is_empty() {
                    // Unlinking is cleanup: it must not delay the acknowledgement. Readers that
                    // raced with this change retry their lookup when a block is gone.
                    let blocks = self.blocks.clone();
                    monoio::spawn(async move {
                        for block in released.blocks {
                            blocks.remove(block).await;
                        }
                    });
                }
                Ok(())
            }
            Err(error) => Err(self.journal_error("journal commit", &error)),
        }
    }
}

/// What a shard holds and what its journal did, for a metrics scrape.
#[derive(Debug, Clone)]
pub(crate) struct ShardReport {
    pub(crate) sizes: crate::store::index::ShardSizes,
    pub(crate) journal: crate::store::group_sync::JournalStats,
    /// The journal file's durable length.
    pub(crate) journal_bytes: u64,
    /// Writes refused until a restart (see `GroupSync::is_fenced`).
    pub(crate) fenced: bool,
}

impl Shard {
    /// A copy of this shard's numbers (cheap: the sizes are kept by `ShardState::apply`).
    pub(crate) fn report(&self) -> ShardReport {
        let sync = self.journal.group_sync();
        ShardReport {
            sizes: self.state.borrow().sizes(),
            journal: sync.stats(),
            journal_bytes: sync.durable_length(),
            fenced: sync.is_fenced(),
        }
    }

    /// Whether this shard refuses writes until a restart.
    pub(crate) fn is_fenced(&self) -> bool {
        self.journal.group_sync().is_fenced()
    }

    /// Waits until everything appended to the journal is durable (at shutdown).
    pub(crate) async fn flush(&self) -> io::Result<()> {
        self.journal.group_sync().barrier().await
    }

    /// Starts an online checkpoint once the journal outgrows `checkpoint_bytes`, which
    /// bounds both disk use and recovery time. The snapshot is taken here, synchronously, so
    /// it holds exactly the entries appended so far (see `GroupSync::rotate`).
    fn checkpoint_if_long(&self) {
        let sync = self.journal.group_sync();
        let threshold = self.checkpoint_bytes.max(2 * sync.checkpoint_length());
        if sync.durable_length() <= threshold || sync.rotation_pending() {
            return;
        }
        // The snapshot is taken here, on the core (reference counts and names); encoding it,
        // the bulk of the work, runs on the blocking pool.
        let started = std::time::Instant::now();
        let entries: Vec<JournalEntry> = self.state.borrow().snapshot_entries().collect();
        log::debug!(
            "{}: checkpoint snapshot of {} entries took {:?} on the core",
            self.journal_path.display(),
            entries.len(),
            started.elapsed()
        );
        let checkpoint = Checkpoint::Encode(Box::new(move || journal::encode_checkpoint(entries)));
        sync.rotate(checkpoint, self.journal_path.clone());
    }
}

/// Writes on a fenced journal: whatever errno fenced it, the client should retry (elsewhere or
/// after a restart), and the data it can read is intact.
fn fenced_error() -> S3Error {
    s3_error!(
        ServiceUnavailable,
        "This bucket's metadata journal cannot be made durable: writes are refused until the server restarts; reads still work."
    )
}

/// Replaces the in-memory state with what the durable journal holds, after a failed flush.
fn install(state: &RefCell<ShardState>, path: &Path, replayed: Result<journal::Replay, String>) {
    match replayed {
        Ok(replay) => {
            *state.borrow_mut() = replay.state;
            log::warn!("{}: state rebuilt from {} durable journal entries", path.display(), replay.entries);
        }
        Err(error) => {
            // This process's view is stale and the journal cannot give it back now. Stop
            // rather than serve a namespace that disagrees with what the journal holds: a
            // restart replays it again (and refuses it, with the same offset, if an entry
            // does not decode).
            log::error!("{}: cannot rebuild state after a failed flush: {error}; stopping", path.display());
            std::process::abort();
        }
    }
}

/// The state held by the first `durable_length` bytes of the journal at `path`.
fn durable_state(path: &Path, durable_length: u64) -> Result<journal::Replay, String> {
    let mut bytes = std::fs::read(path).map_err(|error| format!("cannot read the journal: {error}"))?;
    bytes.truncate(durable_length as usize);
    let replay = journal::replay_bytes(&bytes).map_err(|error| format!("journal replay failed: {error}"))?;
    if replay.valid_length < durable_length {
        // Durable bytes end with a complete batch: a shorter valid prefix would drop
        // acknowledged entries.
        return Err(format!("only {} of {durable_length} durable bytes replay", replay.valid_length));
    }
    Ok(replay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::{encode_frame, JOURNAL_MAGIC};

    #[test]
    fn a_rebuild_over_an_undecodable_durable_entry_fails_naming_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shard.journal");
        let mut bytes = JOURNAL_MAGIC.to_vec();
        encode_frame(&JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }, &mut bytes);
        let offset = bytes.len();
        let payload = [99u8, 7];
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        encode_frame(&JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 }, &mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let error = durable_state(&path, bytes.len() as u64).expect_err("the rebuild must not skip entries");
        assert!(error.contains(&format!("byte {offset}")), "{error}");
        assert_eq!(durable_state(&path, offset as u64).unwrap().entries, 1, "the prefix before it is fine");
    }
}
