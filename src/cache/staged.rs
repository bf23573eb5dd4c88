//! Pages a write fills while its body flows to the upstream. They are staged first: data
//! written under names in `staging/` with no header yet, so nothing (no reader, no restart)
//! can take them for pages of any version. Only once the upstream acknowledged the write
//! does `seal` give each page the header naming the version the upstream answered with (its
//! ETag, whatever the store makes of it), after which the owner cores publish them
//! (`CoreCache::publish`, a rename). A write that fails (client gone, upstream refusal)
//! discards what it staged; a staged object dropped unsealed unlinks its files.
//!
//! Each piece is copied into one spare buffer and written by a spawned task while the piece
//! goes upstream: awaiting the write before the send made a 64 MiB PUT about a fifth slower.
//! One write is in flight at a time, so a page's pieces land in order.

use std::ops::Range;
use std::path::PathBuf;
use std::rc::Rc;

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

/// The write of one piece into a staged page, running while the piece also goes upstream;
/// it gives back the spare buffer it wrote from.
type PieceWrite = monoio::task::JoinHandle<(std::io::Result<()>, Vec<u8>)>;

/// The pages of one object being written, in order.
pub(crate) struct StagedObject {
    directory: CacheDirectory,
    /// Unique among the writes staging now (the page index is appended).
    name: String,
    page_bytes: u64,
    length_bytes: u64,
    /// Bytes handed to page writes so far.
    written_bytes: u64,
    /// The page being written (each page file is written in one pass).
    file: Option<Rc<File>>,
    pages: Vec<StagedPage>,
    /// The piece being written, at most one: the next waits for it (so the pieces of a page
    /// land in order and one spare buffer serves the whole object).
    in_flight: Option<PieceWrite>,
    /// What pieces are copied into for their write, so the client's buffer goes back to the
    /// upstream at once: the write no longer delays the upstream send.
    spare: Vec<u8>,
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
            in_flight: None,
            spare: Vec::new(),
            failed: false,
        }
    }

    /// Stages `buffer[range]`, the next bytes of the object, and gives the buffer back at
    /// once: the bytes are copied into the spare buffer and written while the caller sends
    /// them upstream (the previous piece's write is awaited first). A failure to write
    /// locally only gives up caching this object.
    pub(crate) async fn append(&mut self, buffer: Vec<u8>, range: Range<usize>) -> Vec<u8> {
        let mut start = range.start;
        while start < range.end && !self.failed {
            let offset_in_page = self.written_bytes % self.page_bytes;
            let take = ((self.page_bytes - offset_in_page) as usize).min(range.end - start);
            if let Err(error) = self.write_piece(&buffer[start..start + take], offset_in_page).await {
                log::warn!("cache: cannot stage a written page ({error}); this object is not cached");
                self.failed = true;
                self.file = None;
            }
            start += take;
        }
        buffer
    }

    /// Waits for the piece being written, if any.
    async fn settle(&mut self) -> std::io::Result<()> {
        let Some(write) = self.in_flight.take() else { return Ok(()) };
        let (written, spare) = write.await;
        self.spare = spare;
        written
    }

    async fn write_piece(&mut self, piece: &[u8], offset_in_page: u64) -> std::io::Result<()> {
        self.settle().await?;
        if offset_in_page == 0 {
            let path = self.directory.staging_path(&format!("{}-{}", self.name, self.pages.len()));
            // Listed before it is known to exist: whatever happens, it is unlinked.
            self.pages.push(StagedPage { path: path.clone(), length_bytes: 0, data_crc32c: 0 });
            let file = OpenOptions::new().write(true).create(true).truncate(true).open(&path).await?;
            self.file = Some(Rc::new(file));
        }
        let (Some(page), Some(file)) = (self.pages.last_mut(), self.file.clone()) else {
            return Err(std::io::Error::other("no staged page is open"));
        };
        page.data_crc32c = crc32c::crc32c_append(page.data_crc32c, piece);
        page.length_bytes += piece.len() as u64;
        self.written_bytes += piece.len() as u64;
        if self.written_bytes.is_multiple_of(self.page_bytes) || self.written_bytes == self.length_bytes {
            // The page's last piece: the file closes when its write lets go of it.
            self.file = None;
        }
        let mut spare = std::mem::take(&mut self.spare);
        spare.clear();
        spare.extend_from_slice(piece);
        // Spawned, so it proceeds while the caller awaits the upstream. Should the write be
        // abandoned (the request dropped), the task only writes into an unlinked file.
        self.in_flight = Some(monoio::spawn(async move {
            let (written, spare) = file.write_all_at(spare, PAGE_DATA_OFFSET + offset_in_page).await;
            (written, spare)
        }));
        Ok(())
    }

    /// The staged pages as pages of `version` (the upstream acknowledged the write): each
    /// gets its header. `None`, with everything unlinked, when anything is missing.
    pub(crate) async fn seal(mut self, version: &ObjectVersion) -> Option<Vec<SealedPage>> {
        if let Err(error) = self.settle().await {
            log::warn!("cache: cannot stage a written page ({error}); this object is not cached");
            self.failed = true;
        }
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
        let _ = self.settle().await;
        self.file = None;
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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::path::Path;
    use std::pin::Pin;

    use super::*;
    use crate::cache::index::FetchFailure;
    use crate::cache::{CoreCache, PageSource};

    const PAGE_BYTES: u64 = 1024;

    /// An upstream that must not be asked: staged pages are served without a fetch.
    struct NoFetches;

    impl PageSource for NoFetches {
        fn fetch<'a>(
            &'a self,
            _: &'a ObjectVersion,
            _: u64,
            _: u64,
        ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchFailure>> + 'a>> {
            Box::pin(async { Err(FetchFailure::Upstream("a staged page was fetched".into())) })
        }
    }

    fn version(size_bytes: u64) -> ObjectVersion {
        ObjectVersion { bucket: "lake".into(), key: "t/out".into(), etag: "not-an-md5-7".into(), size_bytes }
    }

    fn staging_files(root: &Path) -> usize {
        std::fs::read_dir(root.join("staging")).unwrap().count()
    }

    /// Stages `data` in pieces of `piece` bytes, as a body flows through.
    async fn stage(directory: &CacheDirectory, name: &str, data: &[u8], piece: usize) -> StagedObject {
        let mut staged = StagedObject::new(directory.clone(), name.into(), data.len() as u64, PAGE_BYTES);
        for chunk in data.chunks(piece) {
            // A buffer with unrelated bytes before the piece, as the upstream client hands it.
            let mut buffer = b"head".to_vec();
            buffer.extend_from_slice(chunk);
            let buffer = staged.append(buffer, 4..4 + chunk.len()).await;
            assert_eq!(&buffer[4..], chunk, "the buffer comes back as it was");
        }
        staged
    }

    #[test]
    fn staged_pages_sealed_and_published_are_served_without_a_fetch() {
        let dir = tempfile::tempdir().unwrap();
        monoio::start::<monoio::LegacyDriver, _>(async {
            let directory = CacheDirectory::new(dir.path());
            directory.create().unwrap();
            let cache = CoreCache::new(directory.clone(), 1 << 20, PAGE_BYTES);
            let data: Vec<u8> = (0..2500u32).map(|index| (index * 13 % 251) as u8).collect();
            // Pieces of 700 bytes cross every page boundary.
            let staged = stage(&directory, "0-0", &data, 700).await;
            assert_eq!(
                cache.page(&version(2500), 0, &NoFetches).await.unwrap_err(),
                FetchFailure::Upstream("a staged page was fetched".into()),
                "nothing servable before publication"
            );
            let sealed = staged.seal(&version(2500)).await.unwrap();
            assert_eq!(sealed.iter().map(|page| page.length_bytes).collect::<Vec<_>>(), vec![1024, 1024, 452]);
            for page in sealed {
                assert!(cache.publish(page.id, &page.path, page.length_bytes).await);
            }
            assert_eq!(staging_files(dir.path()), 0, "every staged page was published");
            for index in 0..3u64 {
                let page = cache.page(&version(2500), index, &NoFetches).await.unwrap();
                let span = (index * PAGE_BYTES) as usize..(((index + 1) * PAGE_BYTES) as usize).min(data.len());
                // Read with its checksum checked, as after a restart.
                let read = crate::cache::read_page_data(&page.path, page.length_bytes, true).await.unwrap();
                assert_eq!(read, data[span]);
            }
            // A restart finds them as pages of that version.
            let found = directory.scan().unwrap();
            assert_eq!(found.len(), 3);
            assert!(found.iter().all(|(_, header)| header.etag == "not-an-md5-7"));
        });
    }

    #[test]
    fn failed_or_incomplete_writes_leave_nothing_staged() {
        let dir = tempfile::tempdir().unwrap();
        monoio::start::<monoio::LegacyDriver, _>(async {
            let directory = CacheDirectory::new(dir.path());
            directory.create().unwrap();
            let data = vec![7u8; 3000];
            // The write failed: discarded.
            stage(&directory, "0-1", &data, 1000).await.discard().await;
            assert_eq!(staging_files(dir.path()), 0);
            // The client left after 2000 of 3000 bytes: sealing refuses.
            let staged = stage(&directory, "0-2", &data[..2000], 1000).await;
            let mut short = StagedObject::new(directory.clone(), "0-3".into(), 3000, PAGE_BYTES);
            short.append(data[..2000].to_vec(), 0..2000).await;
            assert!(short.seal(&version(3000)).await.is_none(), "an incomplete body is not sealed");
            // Whole, but the upstream's version is another size: not sealed either.
            assert!(staged.seal(&version(3000)).await.is_none(), "a size that is not the version's");
            assert_eq!(staging_files(dir.path()), 0);
            // Dropped midway (its request's future was dropped): unlinked too.
            drop(stage(&directory, "0-4", &data[..1500], 1000).await);
            assert_eq!(staging_files(dir.path()), 0);
        });
    }
}
