//! The node-local cache of an upstream object store: object data in pages of
//! `CACHE_PAGE_BYTES`, keyed by (bucket, key, the upstream's ETag, page index), so a cached
//! page can never belong to another version of its object.
//!
//! - `page_file`: a page on disk (header naming it, CRC-32C of its data, the data).
//! - `index`: the pages a core owns, single flight for misses, CLOCK eviction.
//! - `CoreCache`: one core's pages: fetch a missing page once (from a `PageSource`, the
//!   upstream), store it, read it back verified.
//! - `stats`: what a core's share counts (hits, misses, bytes, evictions), for /metrics.
//!
//! Pages are not fsynced: the upstream is the source of truth. What a crash can leave is a
//! missing page (fetched again) or, after a power cut, a page file whose data is torn; every
//! page found at start is served only after its data matched its checksum.

pub(crate) mod index;
pub(crate) mod page_file;
pub(crate) mod staged;
pub(crate) mod stats;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use monoio::fs::{File, OpenOptions};
use sha2::{Digest, Sha256};

use crate::encoding::hex;
use index::{FetchFailure, Lookup, PageId, PageIndex};
use page_file::{PageHeader, PAGE_DATA_OFFSET};
use stats::CacheCounts;

/// One version of an object of the upstream, as the cache knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectVersion {
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// The upstream's ETag, without quotes.
    pub(crate) etag: String,
    pub(crate) size_bytes: u64,
}

impl ObjectVersion {
    /// Offset and length of page `index`.
    pub(crate) fn page_span(&self, index: u64, page_bytes: u64) -> (u64, u64) {
        let offset = index * page_bytes;
        (offset, page_bytes.min(self.size_bytes.saturating_sub(offset)))
    }

    /// The identity of page `index`: a digest of every field that names it.
    pub(crate) fn page_id(&self, index: u64) -> PageId {
        let mut digest = Sha256::new();
        for field in [self.bucket.as_bytes(), self.key.as_bytes(), self.etag.as_bytes()] {
            digest.update((field.len() as u64).to_le_bytes());
            digest.update(field);
        }
        digest.update(self.size_bytes.to_le_bytes());
        digest.update(index.to_le_bytes());
        let full = digest.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&full[..16]);
        id
    }
}

/// Where a miss gets its bytes: the upstream, asked for exactly this version.
pub(crate) trait PageSource {
    /// Bytes `offset..offset + length` of `version`; `FetchFailure::Changed` when the upstream
    /// now holds another version (its `If-Match` answered 412).
    fn fetch<'a>(
        &'a self,
        version: &'a ObjectVersion,
        offset: u64,
        length: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchFailure>> + 'a>>;
}

/// The cache's directory layout: `ROOT/pages/XX/<32 hex digits>` (XX: the first byte, so no
/// directory holds more than a 256th of the pages).
#[derive(Debug, Clone)]
pub(crate) struct CacheDirectory {
    root: PathBuf,
}

impl CacheDirectory {
    pub(crate) fn new(root: &Path) -> Self {
        CacheDirectory { root: root.to_path_buf() }
    }

    pub(crate) fn page_path(&self, id: &PageId) -> PathBuf {
        let name = hex(id);
        self.root.join("pages").join(&name[..2]).join(name)
    }

    /// Where a write stages the pages it fills (`ROOT/staging/NAME`): on the pages'
    /// filesystem, so publishing one is a rename, and outside `pages/`, so nothing staged is
    /// ever taken for a page.
    pub(crate) fn staging_path(&self, name: &str) -> PathBuf {
        self.root.join("staging").join(name)
    }

    /// Creates the fan-out directories and an empty staging directory (at start, before any
    /// core runs: what a crash left staged belongs to no write any more).
    pub(crate) fn create(&self) -> io::Result<()> {
        for first in 0..=255u8 {
            std::fs::create_dir_all(self.root.join("pages").join(hex(&[first])))?;
        }
        let staging = self.root.join("staging");
        match std::fs::remove_dir_all(&staging) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        std::fs::create_dir_all(staging)
    }

    /// Every page file on disk with its header, for the index a restart begins with (headers
    /// only: data is checked when first read). Unreadable or foreign files and temporaries a
    /// crash left are removed. Runs on the main thread before any core starts.
    pub(crate) fn scan(&self) -> io::Result<Vec<(PageId, PageHeader)>> {
        let mut pages = Vec::new();
        for first in 0..=255u8 {
            let directory = self.root.join("pages").join(hex(&[first]));
            let entries = match std::fs::read_dir(&directory) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            for entry in entries {
                let path = entry?.path();
                match read_header(&path) {
                    Some((id, header)) if path == self.page_path(&id) => pages.push((id, header)),
                    _ => {
                        log::info!("cache: removing {} (not a whole page file)", path.display());
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        Ok(pages)
    }
}

/// The header of the page file at `path`, and the id it must have had (its name is checked
/// against it by the caller).
fn read_header(path: &Path) -> Option<(PageId, PageHeader)> {
    use std::io::Read;
    let mut block = vec![0u8; PAGE_DATA_OFFSET as usize];
    let mut file = std::fs::File::open(path).ok()?;
    file.read_exact(&mut block).ok()?;
    let header = PageHeader::decode(&block).ok()?;
    let version = ObjectVersion {
        bucket: header.bucket.clone(),
        key: header.key.clone(),
        etag: header.etag.clone(),
        size_bytes: header.object_bytes,
    };
    Some((version.page_id(header.index), header))
}

/// A page a reader may read now.
#[derive(Debug, Clone)]
pub(crate) struct CachedPage {
    pub(crate) id: PageId,
    pub(crate) path: PathBuf,
    pub(crate) length_bytes: u64,
    /// Whether its data was checked (or written) by this process; if not, the reader checks.
    pub(crate) verified: bool,
}

/// The pages one core owns.
pub(crate) struct CoreCache {
    directory: CacheDirectory,
    index: RefCell<PageIndex>,
    page_bytes: u64,
    /// This core's counters (its gauges are read from the index at snapshot time).
    counts: Cell<CacheCounts>,
    /// This core's share of `--cache-capacity` (what a write may fill is bounded by it).
    capacity_bytes: u64,
}

impl CoreCache {
    pub(crate) fn new(directory: CacheDirectory, capacity_bytes: u64, page_bytes: u64) -> Self {
        CoreCache {
            directory,
            index: RefCell::new(PageIndex::new(capacity_bytes)),
            page_bytes,
            counts: Cell::new(CacheCounts::default()),
            capacity_bytes,
        }
    }

    pub(crate) fn directory(&self) -> &CacheDirectory {
        &self.directory
    }

    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Makes a page staged by a write (a whole page file at `staged`, header included) this
    /// core's page `id`, servable from now on. Readers that miss it meanwhile wait, as for a
    /// fetch. A page already here or being fetched is the same bytes (same version, same
    /// index): the staged copy is dropped. `false` when it was not published.
    pub(crate) async fn publish(&self, id: PageId, staged: &Path, length_bytes: u64) -> bool {
        if !matches!(self.index.borrow().lookup(&id), Lookup::Absent) {
            let _ = monoio::fs::remove_file(staged).await;
            return false;
        }
        self.index.borrow_mut().begin_fill(id);
        let victims = self.index.borrow_mut().make_room(length_bytes);
        self.count(|counts| counts.evictions += victims.len() as u64);
        for victim in victims {
            let _ = monoio::fs::remove_file(self.directory.page_path(&victim)).await;
        }
        let renamed = monoio::fs::rename(staged, self.directory.page_path(&id)).await;
        if renamed.is_err() {
            let _ = monoio::fs::remove_file(staged).await;
        }
        let outcome = renamed.map(|()| length_bytes).map_err(|error| FetchFailure::Local(error.to_string()));
        let published = outcome.is_ok();
        self.index.borrow_mut().finish_fill(id, outcome);
        published
    }

    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> u64 {
        self.index.borrow().used_bytes()
    }

    fn count(&self, update: impl FnOnce(&mut CacheCounts)) {
        let mut counts = self.counts.get();
        update(&mut counts);
        self.counts.set(counts);
    }

    /// Object data this core sent to a client from pages (of any owner).
    pub(crate) fn count_served(&self, bytes: u64) {
        self.count(|counts| counts.served_bytes += bytes);
    }

    /// This core's numbers now, gauges included.
    pub(crate) fn counts(&self) -> CacheCounts {
        let index = self.index.borrow();
        CacheCounts {
            resident_bytes: index.used_bytes(),
            resident_pages: index.ready_pages(),
            capacity_bytes: index.capacity_bytes(),
            ..self.counts.get()
        }
    }

    /// Adds a page found on disk at start.
    pub(crate) fn adopt(&self, id: PageId, length_bytes: u64) {
        self.index.borrow_mut().insert_existing(id, length_bytes);
    }

    /// Page `index` of `version`: on disk already, or fetched from `source` once however many
    /// readers miss it at the same time.
    pub(crate) async fn page(
        &self,
        version: &ObjectVersion,
        index: u64,
        source: &dyn PageSource,
    ) -> Result<CachedPage, FetchFailure> {
        let id = version.page_id(index);
        let path = self.directory.page_path(&id);
        // A lookup counts once, as what it first found: a hit, a wait on another's fetch
        // (coalesced), or a fetch of its own (a miss; a fetch after a wait counts too).
        let mut counted = false;
        loop {
            let lookup = self.index.borrow().lookup(&id);
            match lookup {
                Lookup::Ready { length_bytes, verified } => {
                    if !counted {
                        self.count(|counts| counts.hits += 1);
                    }
                    return Ok(CachedPage { id, path, length_bytes, verified });
                }
                Lookup::Filling(flight) => {
                    if !counted {
                        self.count(|counts| counts.coalesced += 1);
                        counted = true;
                    }
                    // The fetch's outcome is this reader's too; on success the page is ready.
                    flight.wait().await?;
                }
                Lookup::Absent => {
                    self.count(|counts| counts.misses += 1);
                    counted = true;
                    self.index.borrow_mut().begin_fill(id);
                    // Ends the flight even if this future is dropped mid-fetch (its reader
                    // went away): otherwise the page's waiters, and every later reader of
                    // it, would wait for good.
                    let mut guard = FillGuard { cache: self, id, done: false };
                    let outcome = self.fill(version, index, &path, source).await;
                    guard.done = true;
                    let length = outcome.as_ref().map(|length| *length).map_err(Clone::clone);
                    match &outcome {
                        Ok(length) => self.count(|counts| counts.upstream_bytes += length),
                        Err(_) => self.count(|counts| counts.fetch_failures += 1),
                    }
                    self.index.borrow_mut().finish_fill(id, length);
                    outcome?;
                }
            }
        }
    }

    async fn fill(
        &self,
        version: &ObjectVersion,
        index: u64,
        path: &Path,
        source: &dyn PageSource,
    ) -> Result<u64, FetchFailure> {
        let (offset, length) = version.page_span(index, self.page_bytes);
        let data = source.fetch(version, offset, length).await?;
        if data.len() as u64 != length {
            return Err(FetchFailure::Upstream(format!("{} bytes for a page of {length}", data.len())));
        }
        let header = PageHeader {
            bucket: version.bucket.clone(),
            key: version.key.clone(),
            etag: version.etag.clone(),
            object_bytes: version.size_bytes,
            index,
            length_bytes: length,
            data_crc32c: crc32c::crc32c(&data),
        };
        let victims = self.index.borrow_mut().make_room(length);
        self.count(|counts| counts.evictions += victims.len() as u64);
        for victim in victims {
            let _ = monoio::fs::remove_file(self.directory.page_path(&victim)).await;
        }
        write_page(path, header.encode(), data).await.map_err(|error| FetchFailure::Local(error.to_string()))?;
        Ok(length)
    }

    /// Records that a page's data matched its checksum (checked by any core's reader).
    pub(crate) fn mark_verified(&self, id: &PageId) {
        self.index.borrow().mark_verified(id);
    }

    /// Forgets a page whose file is gone or damaged, and unlinks it: the next reader fetches
    /// it again.
    pub(crate) async fn forget(&self, id: &PageId) {
        if self.index.borrow_mut().remove(id) {
            self.count(|counts| counts.dropped += 1);
            log::warn!("cache: page {} is gone or damaged; it will be fetched again", hex(id));
            let _ = monoio::fs::remove_file(self.directory.page_path(id)).await;
        }
    }

    /// The data of `page`, checked against its header when this process has not checked it
    /// yet; `None` (and forgotten) when it is gone or damaged. (Readers on other cores use
    /// `read_page_data` and tell the owner.)
    #[cfg(test)]
    pub(crate) async fn read(&self, page: &CachedPage) -> Option<Vec<u8>> {
        match read_page_data(&page.path, page.length_bytes, !page.verified).await {
            Some(data) => {
                self.mark_verified(&page.id);
                Some(data)
            }
            None => {
                self.forget(&page.id).await;
                None
            }
        }
    }
}

/// Ends an abandoned fill: its waiters get a failure and the next reader fetches again.
struct FillGuard<'a> {
    cache: &'a CoreCache,
    id: PageId,
    done: bool,
}

impl Drop for FillGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cache.count(|counts| counts.fetch_failures += 1);
            let failure = FetchFailure::Local("the fetch was abandoned".into());
            self.cache.index.borrow_mut().finish_fill(self.id, Err(failure));
        }
    }
}

/// The data of the page file at `path` (`length_bytes` long); with `check`, only when its
/// header is whole and its data matches the header's checksum. `None`: gone, short or damaged.
pub(crate) async fn read_page_data(path: &Path, length_bytes: u64, check: bool) -> Option<Vec<u8>> {
    let file = File::open(path).await.ok()?;
    let (start, total) = if check { (0, PAGE_DATA_OFFSET + length_bytes) } else { (PAGE_DATA_OFFSET, length_bytes) };
    let (result, mut bytes) = file.read_exact_at(Vec::with_capacity(total as usize), start).await;
    let _ = file.close().await;
    result.ok()?;
    if check {
        let header = PageHeader::decode(&bytes[..PAGE_DATA_OFFSET as usize]).ok()?;
        if !header.matches(&bytes[PAGE_DATA_OFFSET as usize..]) {
            return None;
        }
        bytes.drain(..PAGE_DATA_OFFSET as usize);
    }
    Some(bytes)
}

/// Writes a page under a temporary name and renames it into place: readers and a restart
/// see a whole file or none.
async fn write_page(path: &Path, header: Vec<u8>, data: Vec<u8>) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    let file = OpenOptions::new().write(true).create(true).truncate(true).open(&temporary).await?;
    let (written, _) = file.write_all_at(header, 0).await;
    let written = match written {
        Ok(()) => file.write_all_at(data, PAGE_DATA_OFFSET).await.0,
        Err(error) => Err(error),
    };
    let _ = file.close().await;
    let renamed = match written {
        Ok(()) => monoio::fs::rename(&temporary, path).await,
        Err(error) => Err(error),
    };
    if renamed.is_err() {
        let _ = monoio::fs::remove_file(&temporary).await;
    }
    renamed
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// The bytes of one object version, counting the fetches made of it.
    struct Object {
        version: ObjectVersion,
        bytes: Vec<u8>,
        fetches: Cell<u32>,
        /// The version the "upstream" holds now (a different ETag: fetches answer Changed).
        current_etag: RefCell<String>,
    }

    impl Object {
        fn new(size: usize) -> Rc<Object> {
            let bytes: Vec<u8> = (0..size).map(|index| (index * 7 % 251) as u8).collect();
            let version = ObjectVersion {
                bucket: "lake".into(),
                key: "t/part-0.parquet".into(),
                etag: "e1".into(),
                size_bytes: size as u64,
            };
            Rc::new(Object { version, bytes, fetches: Cell::new(0), current_etag: RefCell::new("e1".into()) })
        }
    }

    impl PageSource for Object {
        fn fetch<'a>(
            &'a self,
            version: &'a ObjectVersion,
            offset: u64,
            length: u64,
        ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchFailure>> + 'a>> {
            Box::pin(async move {
                self.fetches.set(self.fetches.get() + 1);
                // Long enough that concurrent readers all miss while it runs.
                monoio::time::sleep(std::time::Duration::from_millis(20)).await;
                if *self.current_etag.borrow() != version.etag {
                    return Err(FetchFailure::Changed);
                }
                Ok(self.bytes[offset as usize..(offset + length) as usize].to_vec())
            })
        }
    }

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build().unwrap()
    }

    fn cache(dir: &Path, capacity: u64) -> Rc<CoreCache> {
        let directory = CacheDirectory::new(dir);
        directory.create().unwrap();
        Rc::new(CoreCache::new(directory, capacity, 1024))
    }

    #[test]
    fn concurrent_misses_make_one_fetch_and_every_reader_gets_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let cache = cache(dir.path(), 1 << 20);
            let object = Object::new(3000);
            let mut readers = Vec::new();
            for _ in 0..32 {
                let (cache, object) = (cache.clone(), object.clone());
                readers.push(monoio::spawn(async move {
                    let page = cache.page(&object.version, 1, object.as_ref()).await.unwrap();
                    cache.read(&page).await.unwrap()
                }));
            }
            for reader in readers {
                assert_eq!(reader.await, object.bytes[1024..2048]);
            }
            assert_eq!(object.fetches.get(), 1, "one fetch for 32 concurrent misses");
            let counts = cache.counts();
            assert_eq!((counts.misses, counts.coalesced, counts.hits), (1, 31, 0), "{counts:?}");
            assert_eq!(counts.upstream_bytes, 1024);
            cache.page(&object.version, 1, object.as_ref()).await.unwrap();
            assert_eq!(cache.counts().hits, 1);
            // The last page is short.
            let last = cache.page(&object.version, 2, object.as_ref()).await.unwrap();
            assert_eq!(cache.read(&last).await.unwrap(), object.bytes[2048..]);
            assert_eq!(cache.used_bytes(), 1024 + 952);
            let counts = cache.counts();
            assert_eq!((counts.resident_pages, counts.resident_bytes, counts.capacity_bytes), (2, 1976, 1 << 20));
        });
    }

    #[test]
    fn a_fill_whose_reader_goes_away_releases_its_waiters() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let cache = cache(dir.path(), 1 << 20);
            let object = Object::new(2048);
            let (waiter_cache, waiter_object) = (cache.clone(), object.clone());
            let waiter = monoio::spawn(async move {
                // Starts once the fill below is under way: it waits on that fill.
                monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                waiter_cache.page(&waiter_object.version, 0, waiter_object.as_ref()).await
            });
            // The fetching reader leaves (its future dropped) before its 20 ms fetch ends.
            let short = std::time::Duration::from_millis(5);
            let abandoned = monoio::time::timeout(short, cache.page(&object.version, 0, object.as_ref())).await;
            assert!(abandoned.is_err(), "the fill was still running");
            let waited = monoio::time::timeout(std::time::Duration::from_secs(1), waiter).await;
            assert!(matches!(waited, Ok(Err(FetchFailure::Local(_)))), "the waiter was released with a failure");
            let page = cache.page(&object.version, 0, object.as_ref()).await.expect("the next reader fetches");
            assert_eq!(cache.read(&page).await.unwrap(), object.bytes[..1024]);
        });
    }

    #[test]
    fn a_changed_upstream_object_fails_the_fetch_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let cache = cache(dir.path(), 1 << 20);
            let object = Object::new(2048);
            *object.current_etag.borrow_mut() = "e2".into();
            let outcome = cache.page(&object.version, 0, object.as_ref()).await;
            assert_eq!(outcome.unwrap_err(), FetchFailure::Changed);
            assert_eq!(cache.used_bytes(), 0);
            assert!(!cache.directory.page_path(&object.version.page_id(0)).exists());
        });
    }

    #[test]
    fn a_restart_serves_whole_pages_and_refetches_torn_ones() {
        let dir = tempfile::tempdir().unwrap();
        let object = Object::new(4096);
        runtime().block_on(async {
            let cache = cache(dir.path(), 1 << 20);
            for index in 0..4 {
                cache.page(&object.version, index, object.as_ref()).await.unwrap();
            }
        });
        assert_eq!(object.fetches.get(), 4);
        // A power cut tore page 2's data; page 3's file lost its tail; a temporary remained.
        let directory = CacheDirectory::new(dir.path());
        let torn = directory.page_path(&object.version.page_id(2));
        let mut bytes = std::fs::read(&torn).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&torn, bytes).unwrap();
        let cut = directory.page_path(&object.version.page_id(3));
        let length = std::fs::metadata(&cut).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&cut).unwrap().set_len(length - 10).unwrap();
        std::fs::write(torn.with_extension("tmp"), b"half a page").unwrap();
        let found = directory.scan().unwrap();
        assert_eq!(found.len(), 4, "headers are whole; data is checked when read");
        assert!(!torn.with_extension("tmp").exists(), "temporaries are removed");
        runtime().block_on(async {
            let cache = cache(dir.path(), 1 << 20);
            for (id, header) in found {
                cache.adopt(id, header.length_bytes);
            }
            for index in 0..4u64 {
                let span = (index * 1024) as usize..((index + 1) * 1024) as usize;
                let page = cache.page(&object.version, index, object.as_ref()).await.unwrap();
                let data = match cache.read(&page).await {
                    Some(data) => data,
                    // Damaged: forgotten; asking again fetches it.
                    None => {
                        assert!(index >= 2, "page {index} was whole");
                        let page = cache.page(&object.version, index, object.as_ref()).await.unwrap();
                        cache.read(&page).await.unwrap()
                    }
                };
                assert_eq!(data, object.bytes[span]);
            }
        });
        assert_eq!(object.fetches.get(), 4 + 2, "only the two damaged pages were fetched again");
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let cache = cache(dir.path(), 4 * 1024);
            let object = Object::new(16 * 1024);
            for index in 0..16 {
                let page = cache.page(&object.version, index, object.as_ref()).await.unwrap();
                let span = (index * 1024) as usize..((index + 1) * 1024) as usize;
                assert_eq!(cache.read(&page).await.unwrap(), object.bytes[span]);
                assert!(cache.used_bytes() <= 4 * 1024);
            }
            let files = std::fs::read_dir(dir.path().join("pages"))
                .unwrap()
                .map(|entry| std::fs::read_dir(entry.unwrap().path()).unwrap().count())
                .sum::<usize>();
            assert_eq!(files, 4, "evicted pages are unlinked");
            assert_eq!(cache.counts().evictions, 12);
        });
    }
}
