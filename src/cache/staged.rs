//! Pages a write fills while its body flows to the upstream. They are staged first: data
//! written under names in `staging/` with no header yet, so nothing (no reader, no restart)
//! can take them for pages of any version. Only once the upstream acknowledged the write
//! does `seal` give each page the header naming the version the upstream answered with (its
//! ETag, whatever the store makes of it), after which the owner cores publish them
//! (`CoreCache::publish`, a rename). A write that fails (client gone, upstream refusal)
//! discards what it staged; a staged object dropped unsealed unlinks its files.

use std::ops::Range;
use std::path::PathBuf;

use monoio::buf::IoBuf;
use monoio::fs::{File, OpenOptions};

use super::index::PageId;
use super::page_file::{PageHeader, PAGE_DATA_OFFSET};
use super::{CacheDirectory, ObjectVersion};

/// One staged page: its file and what was written to it.
#[derive(Debug)]
struct StagedPage {
    path: PathBuf,
    length_bytes: u64,
    data_crc32c: u32,
}

/// A page sealed for one version, for its owner to publish.
#[derive(Debug)]
pub(crate) struct SealedPage {
    pub(crate) id: PageId,
    pub(crate) path: PathBuf,
    pub(crate) length_bytes: u64,
}

/// The pages of one object being written, in order.
pub(crate) struct StagedObject {
    directory: CacheDirectory,
    /// Unique among the writes staging now (the page index is appended).
    name: String,
    page_bytes: u64,
    length_bytes: u64,
    written_bytes: u64,
    /// The page being written (each page file is written in one pass, then closed).
    file: Option<File>,
    pages: Vec<StagedPage>,
    /// A local write failed: the upload goes on, but nothing of it is cached.
    failed: bool,
}

impl StagedObject {
    pub(crate) fn new(directory: CacheDirectory, name: String, length_bytes: u64, page_bytes: u64) -> Self {
        StagedObject {
            directory,
            name,
            page_bytes,
            length_bytes,
            written_bytes: 0,
            file: None,
            pages: Vec::new(),
            failed: false,
        }
    }

    /// Stages `buffer[range]`, the next bytes of the object, and gives the buffer back
    /// (moved into the writes and out again: no copy). A failure to write locally only
    /// gives up caching this object.
    pub(crate) async fn append(&mut self, mut buffer: Vec<u8>, range: Range<usize>) -> Vec<u8> {
        let mut start = range.start;
        while start < range.end && !self.failed {
            let offset_in_page = self.written_bytes % self.page_bytes;
            let take = ((self.page_bytes - offset_in_page) as usize).min(range.end - start);
            buffer = match self.write_piece(buffer, start..start + take, offset_in_page).await {
                Ok(buffer) => buffer,
                Err((error, buffer)) => {
                    log::warn!("cache: cannot stage a written page ({error}); this object is not cached");
                    self.failed = true;
                    self.file = None;
                    buffer
                }
            };
            start += take;
        }
        buffer
    }

    async fn write_piece(
        &mut self,
        buffer: Vec<u8>,
        piece: Range<usize>,
        offset_in_page: u64,
    ) -> Result<Vec<u8>, (std::io::Error, Vec<u8>)> {
        if offset_in_page == 0 {
            let path = self.directory.staging_path(&format!("{}-{}", self.name, self.pages.len()));
            let opened = OpenOptions::new().write(true).create(true).truncate(true).open(&path).await;
            // Listed before it is known to exist: whatever happens, it is unlinked.
            self.pages.push(StagedPage { path, length_bytes: 0, data_crc32c: 0 });
            match opened {
                Ok(file) => self.file = Some(file),
                Err(error) => return Err((error, buffer)),
            }
        }
        let (Some(page), Some(file)) = (self.pages.last_mut(), self.file.as_ref()) else {
            return Err((std::io::Error::other("no staged page is open"), buffer));
        };
        page.data_crc32c = crc32c::crc32c_append(page.data_crc32c, &buffer[piece.clone()]);
        let length = (piece.end - piece.start) as u64;
        let (written, slice) = file.write_all_at(buffer.slice(piece), PAGE_DATA_OFFSET + offset_in_page).await;
        let buffer = slice.into_inner();
        if let Err(error) = written {
            return Err((error, buffer));
        }
        page.length_bytes += length;
        self.written_bytes += length;
        if self.written_bytes % self.page_bytes == 0 || self.written_bytes == self.length_bytes {
            if let Some(file) = self.file.take() {
                let _ = file.close().await;
            }
        }
        Ok(buffer)
    }

    /// The staged pages as pages of `version` (the upstream acknowledged the write): each
    /// gets its header. `None`, with everything unlinked, when anything is missing.
    pub(crate) async fn seal(mut self, version: &ObjectVersion) -> Option<Vec<SealedPage>> {
        let whole = !self.failed
            && self.written_bytes == self.length_bytes
            && version.size_bytes == self.length_bytes
            && self.file.is_none();
        if !whole {
            self.discard().await;
            return None;
        }
        let mut sealed = Vec::with_capacity(self.pages.len());
        for (index, page) in self.pages.iter().enumerate() {
            let header = PageHeader {
                bucket: version.bucket.clone(),
                key: version.key.clone(),
                etag: version.etag.clone(),
                object_bytes: version.size_bytes,
                index: index as u64,
                length_bytes: page.length_bytes,
                data_crc32c: page.data_crc32c,
            };
            let written = match OpenOptions::new().write(true).open(&page.path).await {
                Ok(file) => {
                    let (written, _) = file.write_all_at(header.encode(), 0).await;
                    let _ = file.close().await;
                    written
                }
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                log::warn!("cache: cannot seal a written page ({error}); this object is not cached");
                self.discard().await;
                return None;
            }
            let id = version.page_id(index as u64);
            sealed.push(SealedPage { id, path: page.path.clone(), length_bytes: page.length_bytes });
        }
        // The files now belong to the sealed pages (their publishers unlink what they refuse).
        self.pages.clear();
        Some(sealed)
    }

    /// Unlinks everything staged (the write failed).
    pub(crate) async fn discard(mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.close().await;
        }
        for page in self.pages.drain(..) {
            let _ = monoio::fs::remove_file(&page.path).await;
        }
    }
}

impl Drop for StagedObject {
    /// Only reached with files left when the write's future was dropped midway (its
    /// connection task ended): unlinked here at once, as no task is left to await it. An
    /// unlink does not wait on data, and this is not a path any successful write takes.
    fn drop(&mut self) {
        for page in self.pages.drain(..) {
            let _ = std::fs::remove_file(&page.path);
        }
    }
}
