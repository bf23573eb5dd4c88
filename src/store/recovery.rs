//! Opening a data directory at start: identify it, replay every shard's journal (cutting torn
//! tails; removing checkpoints a crash left unfinished), checkpoint long journals, make the
//! journals' names durable, and reclaim block files no committed record references (orphans
//! of crashed writes). Runs on the main thread before any core starts serving, so the
//! plain blocking `std::fs` calls here never stall a request.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::durable::{create_directory, replace_file, sync_directory};
use super::index::ShardState;
use super::journal::{self, ReplayError, JOURNAL_MAGIC};
use super::layout;
use super::record::BlockId;

/// A data directory that cannot be served; the message says what to do.
#[derive(Debug)]
pub struct OpenError(pub String);

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OpenError {}

fn io_error(what: &str, path: &Path, error: io::Error) -> OpenError {
    OpenError(format!("{what} {}: {error}", path.display()))
}

/// A recovered shard, ready to be moved to its owning core.
pub struct RecoveredShard {
    pub(crate) id: usize,
    pub state: ShardState,
    pub journal_path: PathBuf,
    pub journal_length: u64,
}

/// Everything the cores need to start serving.
pub struct Recovered {
    pub shards: Vec<RecoveredShard>,
    /// Per core: one past the largest block sequence on disk.
    pub(crate) next_block_sequence: Vec<u64>,
}

/// Opens (or creates) the data directory for `cores` cores; journals longer than
/// `checkpoint_bytes` are checkpointed.
pub fn open(root: &Path, cores: usize, checkpoint_bytes: u64) -> Result<Recovered, OpenError> {
    let started = Instant::now();
    let shards = open_format(root, cores)?;
    let meta = layout::meta_directory(root);
    create_directory(&meta).map_err(|e| io_error("cannot create", root, e))?;
    let mut recovered = Vec::with_capacity(shards);
    let mut referenced = HashSet::new();
    let mut entries = 0;
    for id in 0..shards {
        let shard = open_shard(root, id, checkpoint_bytes)?;
        referenced.extend(shard.0.state.referenced_blocks());
        entries += shard.1;
        recovered.push(shard.0);
    }
    // A checkpoint renamed over its journal just before a crash has a name that may not be
    // durable yet; the journals about to be served and appended to must keep theirs.
    sync_directory(&meta).map_err(|e| io_error("cannot sync", &meta, e))?;
    let (next_block_sequence, orphans) = reclaim_blocks(root, cores, &referenced)?;
    log::info!(
        "recovered {} shards ({entries} journal entries, {} blocks referenced, {orphans} orphan blocks reclaimed) in {:?}",
        shards,
        referenced.len(),
        started.elapsed()
    );
    Ok(Recovered { shards: recovered, next_block_sequence })
}

/// Reads the format file, or writes one into a new or empty directory. The shard count is
/// fixed when the directory is created; later starts with another `--cores` spread the same
/// shards over the new number of cores.
fn open_format(root: &Path, cores: usize) -> Result<usize, OpenError> {
    create_directory(root).map_err(|e| io_error("cannot create data directory", root, e))?;
    let format_path = layout::format_path(root);
    match fs::read_to_string(&format_path) {
        Ok(text) => layout::parse_format(&text)
            .map_err(|reason| OpenError(format!("{} is not a usable s3core data directory: {reason}", root.display()))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let mut entries = fs::read_dir(root).map_err(|e| io_error("cannot read", root, e))?;
            if entries.next().is_some() {
                return Err(OpenError(format!(
                    "{} is not empty and has no {}: refusing to use a foreign directory (point --data-dir at an empty or s3core directory)",
                    root.display(),
                    layout::FORMAT_FILE
                )));
            }
            let shards = cores;
            replace_file(&format_path, layout::format_text(shards).as_bytes())
                .map_err(|e| io_error("cannot write", &format_path, e))?;
            Ok(shards)
        }
        Err(error) => Err(io_error("cannot read", &format_path, error)),
    }
}

fn open_shard(root: &Path, id: usize, checkpoint_bytes: u64) -> Result<(RecoveredShard, u64), OpenError> {
    let path = layout::journal_path(root, id);
    remove_unfinished_checkpoint(&path)?;
    if !path.exists() {
        replace_file(&path, JOURNAL_MAGIC).map_err(|e| io_error("cannot create", &path, e))?;
    }
    let replay = journal::replay_file(&path).map_err(|error| match error {
        ReplayError::Io(error) => io_error("cannot read journal", &path, error),
        ReplayError::Foreign => OpenError(format!("{} is not an s3core journal", path.display())),
        ReplayError::Corrupt { offset } => OpenError(format!(
            "{} is corrupt at byte {offset}: complete entries follow a damaged one, so cutting it would lose acknowledged writes; refusing to start (restore the file from a backup, or move it away to start that shard empty)",
            path.display()
        )),
        ReplayError::Undecodable { offset, reason } => OpenError(format!(
            "{} has an entry at byte {offset} with a valid checksum that this build cannot decode ({reason}): not a torn write but a bug or a journal written by another s3core version; refusing to start (run the version that wrote it, or keep the file for a bug report)",
            path.display()
        )),
    })?;
    let mut length = replay.valid_length;
    if length > checkpoint_bytes {
        let checkpoint = journal::checkpoint_bytes(&replay.state);
        replace_file(&path, &checkpoint).map_err(|e| io_error("cannot checkpoint", &path, e))?;
        log::info!("shard {id}: journal of {length} bytes checkpointed to {} bytes", checkpoint.len());
        length = checkpoint.len() as u64;
    }
    let shard = RecoveredShard { id, state: replay.state, journal_path: path, journal_length: length };
    Ok((shard, replay.entries))
}

/// Removes the file of an online checkpoint that a crash interrupted before its rename (see
/// `GroupSync::rotate`): the journal beside it is complete.
fn remove_unfinished_checkpoint(journal: &Path) -> Result<(), OpenError> {
    let unfinished = journal.with_extension("checkpoint");
    match fs::remove_file(&unfinished) {
        Ok(()) => {
            log::warn!(
                "{}: removed an unfinished checkpoint (a crash during a journal rotation)",
                unfinished.display()
            );
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io_error("cannot remove", &unfinished, error)),
    }
}

/// Deletes unreferenced block files and finds each core's next block sequence.
fn reclaim_blocks(root: &Path, cores: usize, referenced: &HashSet<BlockId>) -> Result<(Vec<u64>, u64), OpenError> {
    let blocks = layout::blocks_directory(root);
    create_directory(&blocks).map_err(|e| io_error("cannot create", &blocks, e))?;
    let mut next = vec![0u64; cores];
    let mut orphans = 0;
    for entry in fs::read_dir(&blocks).map_err(|e| io_error("cannot read", &blocks, e))? {
        let entry = entry.map_err(|e| io_error("cannot read", &blocks, e))?;
        let Some(core) = entry.file_name().to_str().and_then(|name| name.parse::<u16>().ok()) else {
            log::warn!("ignoring unexpected entry {} in {}", entry.path().display(), blocks.display());
            continue;
        };
        let directory = entry.path();
        let mut largest = None;
        let mut removed_here = false;
        for block in fs::read_dir(&directory).map_err(|e| io_error("cannot read", &directory, e))? {
            let block = block.map_err(|e| io_error("cannot read", &directory, e))?;
            let Some(sequence) = block.file_name().to_str().and_then(layout::parse_block_name) else {
                log::warn!("ignoring unexpected file {}", block.path().display());
                continue;
            };
            largest = largest.max(Some(sequence));
            if !referenced.contains(&BlockId { core, sequence }) {
                fs::remove_file(block.path()).map_err(|e| io_error("cannot reclaim", &block.path(), e))?;
                orphans += 1;
                removed_here = true;
            }
        }
        if removed_here {
            sync_directory(&directory).map_err(|e| io_error("cannot sync", &directory, e))?;
        }
        if let (Some(slot), Some(largest)) = (next.get_mut(core as usize), largest) {
            *slot = largest + 1;
        }
    }
    for core in 0..cores {
        let directory = layout::core_blocks_directory(root, core as u16);
        create_directory(&directory).map_err(|e| io_error("cannot create", &directory, e))?;
    }
    Ok((next, orphans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_left_unfinished_by_a_crash_is_removed_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        open(&root, 1, crate::limits::JOURNAL_COMPACT_BYTES).unwrap();
        let journal = layout::journal_path(&root, 0);
        let unfinished = journal.with_extension("checkpoint");
        fs::write(&unfinished, b"half a checkpoint").unwrap();
        let journal_bytes = fs::read(&journal).unwrap();
        open(&root, 1, crate::limits::JOURNAL_COMPACT_BYTES).unwrap();
        assert!(!unfinished.exists(), "an unfinished checkpoint must not outlive the start");
        assert_eq!(fs::read(&journal).unwrap(), journal_bytes, "the journal itself is untouched");
    }

    #[test]
    fn a_journal_entry_that_does_not_decode_stops_the_start_naming_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        open(&root, 1, crate::limits::JOURNAL_COMPACT_BYTES).unwrap();
        let path = layout::journal_path(&root, 0);
        let mut bytes = fs::read(&path).unwrap();
        let offset = bytes.len();
        // A frame with a valid CRC around an entry type this build does not know.
        let payload = [99u8, 0, 0, 0, 0];
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        fs::write(&path, &bytes).unwrap();
        let error = match open(&root, 1, crate::limits::JOURNAL_COMPACT_BYTES) {
            Ok(_) => panic!("a start over an undecodable journal entry must fail"),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(&format!("byte {offset}")), "{error}");
        assert_eq!(fs::read(&path).unwrap(), bytes, "the journal must be left as it was, not cut");
    }
}
