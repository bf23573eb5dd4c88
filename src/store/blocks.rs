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

pub struct BlockStore {
    root: PathBuf,
    core: u16,
    next_sequence: Cell<u64>,
    directory_sync: Rc<GroupSync>,
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
        })
    }

    /// Whether the filesystem can take `bytes` more of object data and still keep
    /// `STORAGE_RESERVE_BYTES` free, so that metadata changes (deletes above all) can always
    /// be journaled and a full disk is left by deleting. `statvfs` is a cheap metadata call.
    pub(crate) fn has_room_for(&self, bytes: u64) -> bool {
        match free_bytes(&self.root) {
            Ok(free) => free >= bytes.saturating_add(crate::limits::STORAGE_RESERVE_BYTES),
            Err(error) => {
                log::warn!("statvfs on {} failed: {error}", self.root.display());
                true
            }
        }
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

    /// Gives `source` (any core's block) a second name owned by this core: a copy that moves
    /// no bytes. The filesystem's link count is the reference count, so deleting either
    /// object later never touches the other's data. Durable once `sync_directory` returns.
    ///
    /// `link(2)` is a short metadata operation with no io_uring equivalent in monoio; it runs
    /// inline on this core.
    pub(crate) fn link(&self, source: BlockId) -> io::Result<BlockId> {
        let sequence = self.next_sequence.get();
        self.next_sequence.set(sequence + 1);
        let block = BlockId { core: self.core, sequence };
        std::fs::hard_link(layout::block_path(&self.root, source), layout::block_path(&self.root, block))?;
        Ok(block)
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

/// Bytes available to unprivileged writers on the filesystem of `path`.
fn free_bytes(path: &Path) -> io::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(stats.blocks_available() as u64 * stats.fragment_size() as u64)
}
