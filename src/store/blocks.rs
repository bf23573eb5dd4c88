//! Block files of one core: created, written and sealed through io_uring.
//!
//! A block is written once by the core that holds the upload's connection, fsynced together
//! with its directory entry (directory fsyncs are group-committed per core), and only then
//! referenced by a metadata commit. Committed blocks are never modified, so any core may read
//! them without coordination. A block is unlinked only after the journal entry that stopped
//! referencing it is durable.

use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use monoio::fs::{File, OpenOptions};

use super::group_sync::GroupSync;
use super::layout;
use super::record::BlockId;
use crate::limits::FREE_SPACE_REFRESH_MS;

pub struct BlockStore {
    root: PathBuf,
    core: u16,
    next_sequence: Cell<u64>,
    directory_sync: Rc<GroupSync>,
    /// The last `statvfs` answer and when it was asked, less what was admitted since.
    free_space: Cell<Option<(std::time::Instant, u64)>>,
}

impl BlockStore {
    /// `next_sequence` comes from recovery: one past the largest sequence on disk.
    pub async fn open(root: &Path, core: u16, next_sequence: u64) -> io::Result<Self> {
        let directory = File::open(layout::core_blocks_directory(root, core)).await?;
        Ok(BlockStore {
            root: root.to_path_buf(),
            core,
            next_sequence: Cell::new(next_sequence),
            directory_sync: GroupSync::new(directory, 0, false),
            free_space: Cell::new(None),
        })
    }

    /// Whether the filesystem can take `bytes` more of object data and still keep
    /// `STORAGE_RESERVE_BYTES` free, so that metadata changes (deletes above all) can always
    /// be journaled and a full disk is left by deleting. The filesystem is asked at most every
    /// `FREE_SPACE_REFRESH_MS` (a `statvfs` per PUT was a syscall on every upload's path);
    /// in between, bytes admitted since count as used. A write that still finds the disk full
    /// fails with ENOSPC, which answers the same 507.
    pub(crate) fn has_room_for(&self, bytes: u64) -> bool {
        let now = std::time::Instant::now();
        let (measured_at, free) = match self.free_space.get() {
            Some((at, free)) if now.duration_since(at).as_millis() < u128::from(FREE_SPACE_REFRESH_MS) => (at, free),
            _ => match free_bytes(&self.root) {
                Ok(free) => (now, free),
                Err(error) => {
                    log::warn!("statvfs on {} failed: {error}", self.root.display());
                    return true;
                }
            },
        };
        let room = free >= bytes.saturating_add(crate::limits::STORAGE_RESERVE_BYTES);
        let left = if room { free - bytes } else { free };
        self.free_space.set(Some((measured_at, left)));
        room
    }

    /// Creates a new, empty block file owned by this core.
    pub(crate) async fn create(&self) -> io::Result<(BlockId, File)> {
        let sequence = self.next_sequence.get();
        self.next_sequence.set(sequence + 1);
        let block = BlockId { core: self.core, sequence };
        let file = OpenOptions::new().write(true).create_new(true).open(layout::block_path(&self.root, block)).await?;
        Ok((block, file))
    }

    /// Makes a fully written block durable: its data, then its directory entry.
    pub(crate) async fn seal(&self, file: &File) -> io::Result<()> {
        file.sync_data().await?;
        self.directory_sync.commit().await
    }

    /// Gives each source (any core's block) a second name owned by this core: a copy that
    /// moves no bytes. The filesystem's link count is the reference count, so deleting either
    /// object later never touches the other's data. Durable once `sync_directory` returns.
    ///
    /// `link(2)` has no io_uring op in monoio: the links run on the blocking pool, all of a
    /// copy's in one task (a 10,000-part object is 10,000 links; inline they stalled every
    /// connection of the core).
    pub(crate) async fn link_all(&self, sources: Vec<BlockId>) -> io::Result<Vec<BlockId>> {
        let first = self.next_sequence.get();
        self.next_sequence.set(first + sources.len() as u64);
        let targets: Vec<BlockId> =
            (0..sources.len() as u64).map(|offset| BlockId { core: self.core, sequence: first + offset }).collect();
        let root = self.root.clone();
        let linked = targets.clone();
        let outcome = monoio::spawn_blocking(move || link_blocks(&root, &sources, &linked)).await;
        match outcome {
            Ok(result) => result.map(|()| targets),
            Err(_) => Err(io::Error::other("the blocking pool dropped a link task")),
        }
    }

    /// Makes directory entries created so far (new blocks, links) durable; group-committed.
    pub(crate) async fn sync_directory(&self) -> io::Result<()> {
        self.directory_sync.commit().await
    }

    /// Reads `length` bytes of the extents from `offset` (object offsets), handing each piece
    /// to `sink`; `buffer` is scratch space (its capacity bounds each read).
    pub(crate) async fn read_extents(
        &self,
        extents: &[super::record::Extent],
        offset: u64,
        length: u64,
        mut buffer: Vec<u8>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> (io::Result<()>, Vec<u8>) {
        for piece in super::record::slice_extents(extents, offset, length) {
            let file = match self.open_block(piece.block).await {
                Ok(file) => file,
                Err(error) => return (Err(error), buffer),
            };
            let mut position = piece.offset;
            let mut remaining = piece.length;
            while remaining > 0 {
                buffer.clear();
                let want = (buffer.capacity() as u64).min(remaining) as usize;
                let (result, slice) = file.read_at(monoio::buf::IoBufMut::slice_mut(buffer, 0..want), position).await;
                buffer = slice.into_inner();
                match result {
                    Ok(0) => return (Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short block")), buffer),
                    Ok(read) => {
                        sink(&buffer[..read]);
                        position += read as u64;
                        remaining -= read as u64;
                    }
                    Err(error) => return (Err(error), buffer),
                }
            }
            let _ = file.close().await;
        }
        (Ok(()), buffer)
    }

    /// Opens a block for reading (any core's block).
    pub(crate) async fn open_block(&self, block: BlockId) -> io::Result<File> {
        File::open(layout::block_path(&self.root, block)).await
    }

    /// Unlinks a block no record references. A missing file is not an error (recovery may
    /// have reclaimed it already).
    pub(crate) async fn remove(&self, block: BlockId) {
        match monoio::fs::remove_file(layout::block_path(&self.root, block)).await {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => log::warn!("could not remove block {block:?}: {error}"),
        }
    }
}

/// Hard-links every source to its target name, on a blocking-pool thread. On a failure the
/// links already made are removed again, so a failed copy leaves nothing behind.
fn link_blocks(root: &Path, sources: &[BlockId], targets: &[BlockId]) -> io::Result<()> {
    debug_assert_eq!(sources.len(), targets.len());
    for (done, (source, target)) in sources.iter().zip(targets).enumerate() {
        if let Err(error) = std::fs::hard_link(layout::block_path(root, *source), layout::block_path(root, *target)) {
            for made in &targets[..done] {
                let _ = std::fs::remove_file(layout::block_path(root, *made));
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Bytes available to unprivileged writers on the filesystem of `path`.
fn free_bytes(path: &Path) -> io::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(stats.blocks_available() as u64 * stats.fragment_size() as u64)
}
