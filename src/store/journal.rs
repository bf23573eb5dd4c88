//! A shard's metadata journal: an append-only file of checksummed entries.
//!
//! File format: an 8-byte magic, then frames of `[u32 payload length][u32 CRC-32 of payload]
//! [payload]`, little-endian. Replay stops at the first frame that is incomplete, empty, too
//! large or fails its checksum: that is a torn tail from a crash mid-append, and it is cut off.
//! Entries before it were acknowledged only after the fsync that covered them. A frame whose
//! checksum is valid but whose entry does not decode is not a torn write (a bug, or a journal
//! of another version): replay refuses the journal rather than cut acknowledged entries.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::codec::CodecError;
use super::group_sync::GroupSync;
use super::index::ShardState;
use super::journal_entry::{JournalEntry, BATCH_END_PAYLOAD_BYTES};
use crate::limits::JOURNAL_RECORD_BYTES_MAX;

/// Identifies an s3core journal (and its version) so a foreign file is never replayed.
pub const JOURNAL_MAGIC: &[u8; 8] = b"S3CJRN01";
const FRAME_HEADER_BYTES: usize = 8;

/// Appends one framed entry to `out`.
pub fn encode_frame(entry: &JournalEntry, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    entry.encode(out);
    let payload = &out[start + FRAME_HEADER_BYTES..];
    let length = payload.len() as u32;
    let checksum = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&checksum.to_le_bytes());
}

/// What replaying a journal found.
#[derive(Debug)]
pub struct Replay {
    pub state: ShardState,
    pub entries: u64,
    /// Length of the valid prefix; bytes after it are a torn tail.
    pub valid_length: u64,
    pub file_length: u64,
}

#[derive(Debug)]
pub enum ReplayError {
    Io(io::Error),
    Foreign,
    /// A damaged entry at `offset` with complete later batches after it: cutting there would
    /// lose acknowledged writes, so the journal is refused.
    Corrupt {
        offset: u64,
    },
    /// A frame at `offset` whose checksum is valid but whose entry this build cannot decode:
    /// a bug or a journal written by another version, never a torn write.
    Undecodable {
        offset: u64,
        reason: CodecError,
    },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::Io(error) => write!(f, "{error}"),
            ReplayError::Foreign => f.write_str("not an s3core journal"),
            ReplayError::Corrupt { offset } => {
                write!(f, "damaged entry at byte {offset} with complete batches after it")
            }
            ReplayError::Undecodable { offset, reason } => {
                write!(f, "the entry at byte {offset} has a valid checksum but does not decode ({reason})")
            }
        }
    }
}

/// Rebuilds a shard's state from the journal bytes.
pub fn replay_bytes(bytes: &[u8]) -> Result<Replay, ReplayError> {
    if bytes.len() < JOURNAL_MAGIC.len() || &bytes[..JOURNAL_MAGIC.len()] != JOURNAL_MAGIC {
        return Err(ReplayError::Foreign);
    }
    let mut state = ShardState::default();
    let mut position = JOURNAL_MAGIC.len();
    let mut entries = 0;
    // Where the current batch can have begun: right after the previous batch's end.
    let mut batch_floor = position as u64;
    loop {
        match next_frame(bytes, position) {
            Frame::Entry(JournalEntry::BatchEnd { start }, next) => {
                // A batch end names where its batch began: after the previous batch, before
                // itself. Anything else was never written by a flush (a bug or a skewed
                // version), whatever its checksum says.
                if !(batch_floor..position as u64).contains(&start) {
                    let reason = CodecError("a batch end names a start outside its batch");
                    return Err(ReplayError::Undecodable { offset: position as u64, reason });
                }
                entries += 1;
                position = next;
                batch_floor = position as u64;
            }
            Frame::Entry(entry, next) => {
                state.apply(&entry);
                entries += 1;
                position = next;
            }
            Frame::Undecodable(reason) => return Err(ReplayError::Undecodable { offset: position as u64, reason }),
            Frame::Torn => break,
        }
    }
    if later_batch_follows(bytes, position) {
        return Err(ReplayError::Corrupt { offset: position as u64 });
    }
    Ok(Replay { state, entries, valid_length: position as u64, file_length: bytes.len() as u64 })
}

/// Whether a valid BatchEnd of a batch that began after `damaged` lies beyond it. A torn tail
/// (the last batch, partly written when the power went) has none: no batch is written before
/// the previous one is durable.
fn later_batch_follows(bytes: &[u8], damaged: usize) -> bool {
    let frame_bytes = FRAME_HEADER_BYTES + BATCH_END_PAYLOAD_BYTES;
    (damaged + 1..bytes.len().saturating_sub(frame_bytes - 1)).any(|at| {
        let header = &bytes[at..at + FRAME_HEADER_BYTES];
        if u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize != BATCH_END_PAYLOAD_BYTES {
            return false;
        }
        match next_frame(bytes, at) {
            Frame::Entry(JournalEntry::BatchEnd { start }, _) => start > damaged as u64,
            _ => false,
        }
    })
}

/// The frame that closes a batch beginning at `start`.
pub fn batch_end_frame(start: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + BATCH_END_PAYLOAD_BYTES);
    encode_frame(&JournalEntry::BatchEnd { start }, &mut out);
    out
}

/// What the bytes at a position of a journal hold.
enum Frame {
    /// A complete entry, and the position after it.
    Entry(JournalEntry, usize),
    /// Incomplete, oversized, empty or failing its checksum: a torn tail starts here.
    Torn,
    /// A valid checksum around a payload that does not decode. A torn write does not produce
    /// a matching CRC-32; a bug or another version's entry does: never cut as a torn tail.
    Undecodable(CodecError),
}

fn next_frame(bytes: &[u8], position: usize) -> Frame {
    let Some(header) = bytes.get(position..position + FRAME_HEADER_BYTES) else {
        return Frame::Torn;
    };
    let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let checksum = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    // No entry is empty. An empty frame with CRC 0 (valid for no bytes) is what zeros past
    // the written end look like, which a power cut can leave.
    if length == 0 || length > JOURNAL_RECORD_BYTES_MAX {
        return Frame::Torn;
    }
    let start = position + FRAME_HEADER_BYTES;
    let Some(payload) = bytes.get(start..start + length) else {
        return Frame::Torn;
    };
    if crc32fast::hash(payload) != checksum {
        return Frame::Torn;
    }
    match JournalEntry::decode(payload) {
        Ok(entry) => Frame::Entry(entry, start + length),
        Err(reason) => Frame::Undecodable(reason),
    }
}

/// Reads and replays a journal file, cutting a torn tail off durably.
pub(crate) fn replay_file(path: &Path) -> Result<Replay, ReplayError> {
    let bytes = fs::read(path).map_err(ReplayError::Io)?;
    let replay = replay_bytes(&bytes)?;
    // What is replayed will be served: make it durable first. A batch the previous process
    // wrote but had not fsynced when it died is in the page cache; without this fsync a power
    // cut after restart could take back state that clients have already seen.
    if replay.valid_length == replay.file_length {
        OpenOptions::new().write(true).open(path).and_then(|file| file.sync_all()).map_err(ReplayError::Io)?;
    }
    if replay.valid_length < replay.file_length {
        log::warn!(
            "{}: cutting a torn tail of {} bytes after {} entries",
            path.display(),
            replay.file_length - replay.valid_length,
            replay.entries
        );
        let file = OpenOptions::new().write(true).open(path).map_err(ReplayError::Io)?;
        file.set_len(replay.valid_length).map_err(ReplayError::Io)?;
        file.sync_all().map_err(ReplayError::Io)?;
    }
    Ok(replay)
}

/// The bytes of a fresh journal holding exactly `state`: a checkpoint.
pub fn checkpoint_bytes(state: &ShardState) -> Vec<u8> {
    encode_checkpoint(state.snapshot_entries())
}

/// The bytes of a fresh journal holding `entries` (a snapshot taken earlier: the shard
/// encodes its checkpoints on the blocking pool).
pub(crate) fn encode_checkpoint(entries: impl IntoIterator<Item = JournalEntry>) -> Vec<u8> {
    let mut out = JOURNAL_MAGIC.to_vec();
    for entry in entries {
        encode_frame(&entry, &mut out);
    }
    out
}

/// The live journal of a shard: entries are framed into the pending group-commit batch.
pub(crate) struct Journal {
    sync: Rc<GroupSync>,
    frame: std::cell::RefCell<Vec<u8>>,
}

impl Journal {
    pub(crate) fn new(sync: Rc<GroupSync>) -> Self {
        Journal { sync, frame: std::cell::RefCell::new(Vec::with_capacity(4096)) }
    }

    pub(crate) fn group_sync(&self) -> &Rc<GroupSync> {
        &self.sync
    }

    /// Adds an entry to the pending batch. Call `commit` right after, with no await between
    /// the state change, the append and the commit, so journal order is apply order.
    pub(crate) fn append(&self, entry: &JournalEntry) {
        let mut frame = self.frame.borrow_mut();
        frame.clear();
        encode_frame(entry, &mut frame);
        self.sync.append(&frame);
    }

    pub(crate) fn commit(&self) -> super::group_sync::BatchWait {
        self.sync.commit()
    }

    /// Waits until every entry appended so far is durable (see `GroupSync::barrier`).
    pub(crate) async fn barrier(&self) -> std::io::Result<()> {
        self.sync.barrier().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal_with(entries: &[JournalEntry]) -> Vec<u8> {
        let mut bytes = JOURNAL_MAGIC.to_vec();
        for entry in entries {
            encode_frame(entry, &mut bytes);
        }
        bytes
    }

    #[test]
    fn replay_stops_at_a_torn_tail() {
        let entries = [
            JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 },
            JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 },
        ];
        let bytes = journal_with(&entries);
        let whole = replay_bytes(&bytes).unwrap();
        assert_eq!(whole.entries, 2);
        assert_eq!(whole.valid_length, bytes.len() as u64);
        let first_end = journal_with(&entries[..1]).len();
        for cut in first_end..bytes.len() {
            let replay = replay_bytes(&bytes[..cut]).unwrap();
            assert_eq!(replay.entries, 1, "cut at {cut}");
            assert_eq!(replay.valid_length, first_end as u64);
        }
    }

    #[test]
    fn replay_stops_at_a_flipped_bit() {
        let entries = [JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }];
        let mut bytes = journal_with(&entries);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(replay_bytes(&bytes).unwrap().entries, 0);
    }

    #[test]
    fn damage_before_a_later_batch_is_corruption_not_a_torn_tail() {
        let mut bytes = JOURNAL_MAGIC.to_vec();
        let first_start = bytes.len() as u64;
        encode_frame(&JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }, &mut bytes);
        bytes.extend(batch_end_frame(first_start));
        let damaged = bytes.len();
        encode_frame(&JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 }, &mut bytes);
        bytes.extend(batch_end_frame(damaged as u64));
        let second_start = bytes.len() as u64;
        encode_frame(&JournalEntry::CreateBucket { bucket: "c".into(), created_ms: 3 }, &mut bytes);
        bytes.extend(batch_end_frame(second_start));
        assert_eq!(replay_bytes(&bytes).unwrap().entries, 6);
        // Damage in the last batch: a torn tail, cut.
        let mut torn = bytes.clone();
        torn[second_start as usize + 9] ^= 0xFF;
        assert_eq!(replay_bytes(&torn).unwrap().valid_length, second_start);
        // Damage in an earlier batch: refused.
        let mut corrupt = bytes.clone();
        corrupt[damaged + 9] ^= 0xFF;
        assert!(matches!(replay_bytes(&corrupt), Err(ReplayError::Corrupt { offset }) if offset == damaged as u64));
    }

    /// A frame around `payload` with a correct length and CRC.
    fn raw_frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_frame_with_a_valid_checksum_that_does_not_decode_is_refused_not_cut() {
        let entries = [JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }];
        let mut bytes = journal_with(&entries);
        let offset = bytes.len() as u64;
        // Entry type 99 does not exist in this build: a newer s3core, or a bug, wrote it.
        bytes.extend(raw_frame(&[99, 1, 2, 3]));
        match replay_bytes(&bytes) {
            Err(ReplayError::Undecodable { offset: at, .. }) => assert_eq!(at, offset),
            other => panic!("an undecodable entry with a valid CRC must refuse the replay, got {other:?}"),
        }
        // Also when complete entries follow it.
        encode_frame(&JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 }, &mut bytes);
        assert!(matches!(replay_bytes(&bytes), Err(ReplayError::Undecodable { offset: at, .. }) if at == offset));
    }

    #[test]
    fn a_zero_filled_tail_is_a_torn_tail() {
        // A power cut can leave the file longer than what was written, with zeros: the header
        // of an empty payload whose CRC (0) is valid. No entry is ever empty.
        let entries = [JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }];
        let mut bytes = journal_with(&entries);
        let valid = bytes.len() as u64;
        bytes.extend([0u8; 64]);
        let replay = replay_bytes(&bytes).unwrap();
        assert_eq!((replay.entries, replay.valid_length), (1, valid));
    }

    #[test]
    fn a_batch_end_naming_a_start_outside_its_batch_is_refused() {
        let mut bytes = JOURNAL_MAGIC.to_vec();
        let first = bytes.len() as u64;
        encode_frame(&JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 }, &mut bytes);
        bytes.extend(batch_end_frame(first));
        let second = bytes.len() as u64;
        encode_frame(&JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 }, &mut bytes);
        let good = [bytes.clone(), batch_end_frame(second)].concat();
        assert_eq!(replay_bytes(&good).unwrap().entries, 4);
        // A start inside the previous batch, or at the batch end itself, was never written.
        for start in [first, bytes.len() as u64] {
            let bad = [bytes.clone(), batch_end_frame(start)].concat();
            match replay_bytes(&bad) {
                Err(ReplayError::Undecodable { offset, .. }) => assert_eq!(offset, bytes.len() as u64),
                other => panic!("start {start}: expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn foreign_files_are_refused() {
        assert!(matches!(replay_bytes(b"hello world"), Err(ReplayError::Foreign)));
        assert!(matches!(replay_bytes(b""), Err(ReplayError::Foreign)));
    }

    #[test]
    fn checkpoint_replays_to_the_same_state() {
        let entries = [
            JournalEntry::CreateBucket { bucket: "a".into(), created_ms: 1 },
            JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 2 },
            JournalEntry::DeleteBucket { bucket: "a".into() },
        ];
        let state = replay_bytes(&journal_with(&entries)).unwrap().state;
        let again = replay_bytes(&checkpoint_bytes(&state)).unwrap();
        assert_eq!(again.entries, 1);
        assert!(again.state.bucket("b").is_some() && again.state.bucket("a").is_none());
    }
}
