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

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates a new, empty block file owned by this core.
    pub async fn create(&self) -> io::Result<(BlockId, File)> {
        let sequence = self.next_sequence.get();
        self.next_sequence.set(sequence + 1);
        let block = BlockId { core: self.core, sequence };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(layout::block_path(&self.root, block))
            .await?;
        Ok((block, file))
    }

    /// Makes a fully written block durable: its data, then its directory entry.
    pub async fn seal(&self, file: &File) -> io::Result<()> {
        file.sync_data().await?;
        self.directory_sync.commit().await
    }

    /// Opens a block for reading (any core's block).
    pub async fn open_block(&self, block: BlockId) -> io::Result<File> {
        File::open(layout::block_path(&self.root, block)).await
    }

    /// Unlinks a block no record references. A missing file is not an error (recovery may
    /// have reclaimed it already).
    pub async fn remove(&self, block: BlockId) {
        match monoio::fs::remove_file(layout::block_path(&self.root, block)).await {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => log::warn!("could not remove block {block:?}: {error}"),
        }
    }
}
