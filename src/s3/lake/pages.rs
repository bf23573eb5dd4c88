//! Pages of upstream objects, across cores: each page has an owner core (a hash of its
//! identity), which keeps its index entry and fetches it when it is missing, once however many
//! readers on however many cores miss it. A reader elsewhere asks the owner through its
//! bounded mailbox (as metadata shards are reached), then reads the page file itself: page
//! bytes never cross cores, only the page's name.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use futures_channel::oneshot;

use crate::cache::index::{FetchFailure, PageId};
use crate::cache::staged::{SealedPage, StagedObject};
use crate::cache::{CachedPage, CoreCache, ObjectVersion, PageSource};
use crate::limits::CACHE_PAGE_BYTES;
use crate::upstream::{ByteRange, GetOptions, Upstream, UpstreamError};

type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;
/// Work for a page's owner, built on the asking core; the future it makes never leaves the
/// owner.
pub(crate) type PageJob = Box<dyn FnOnce(Rc<PageOwner>) -> LocalFuture + Send>;

/// A core's half of the cache: the pages it owns and the upstream client that fills them.
pub(crate) struct PageOwner {
    pub(crate) cache: CoreCache,
    pub(crate) upstream: Rc<Upstream>,
}

/// The receiving end of a core's page mailbox.
pub(crate) type PageMailbox = flume::Receiver<PageJob>;

/// One bounded page mailbox per core.
pub(crate) fn page_mailboxes(cores: usize, capacity: usize) -> (Vec<flume::Sender<PageJob>>, Vec<PageMailbox>) {
    (0..cores).map(|_| flume::bounded(capacity)).unzip()
}

/// Serves a core's page mailbox: each job as its own task (a miss waits on the upstream while
/// other jobs go on).
pub(crate) async fn serve_page_mailbox(mailbox: PageMailbox, owner: Rc<PageOwner>) {
    while let Ok(job) = mailbox.recv_async().await {
        monoio::spawn(job(owner.clone()));
        for job in mailbox.drain() {
            monoio::spawn(job(owner.clone()));
        }
    }
}

/// The core that owns page `id` when `cores` cores run (its id is a digest: uniform).
pub(crate) fn page_owner(id: &PageId, cores: usize) -> usize {
    let hash = u64::from_le_bytes([id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]);
    (hash % cores as u64) as usize
}

/// What a core starts its share of the cache from.
pub(crate) struct LakePlan {
    pub(crate) senders: Vec<flume::Sender<PageJob>>,
    pub(crate) mailbox: PageMailbox,
    pub(crate) directory: crate::cache::CacheDirectory,
    /// Pages found on disk at start that this core owns, with their lengths.
    pub(crate) pages: Vec<(PageId, u64)>,
}

/// One core's way to every page.
pub(crate) struct PageRouter {
    core: usize,
    local: Rc<PageOwner>,
    senders: Vec<flume::Sender<PageJob>>,
    /// Writes this core has staged pages for, to name them uniquely.
    staged_writes: Cell<u64>,
}

/// Why a page could not be had.
#[derive(Debug)]
pub(crate) enum PageError {
    Fetch(FetchFailure),
    /// The owner core is gone (shutting down) or dropped the request.
    OwnerGone,
}

impl PageRouter {
    pub(crate) fn new(core: usize, local: Rc<PageOwner>, senders: Vec<flume::Sender<PageJob>>) -> Self {
        PageRouter { core, local, senders, staged_writes: Cell::new(0) }
    }

    /// Staging for the pages of an object of `length_bytes` a write is about to send
    /// upstream; `None` when it is not worth caching: empty (no pages), or larger than this
    /// core's share of the cache (it would push out most of what readers use, and its own
    /// first pages with it).
    pub(crate) fn stage(&self, length_bytes: u64) -> Option<StagedObject> {
        let cache = &self.local.cache;
        if length_bytes == 0 || length_bytes > cache.capacity_bytes() {
            return None;
        }
        let serial = self.staged_writes.get();
        self.staged_writes.set(serial + 1);
        let name = format!("{}-{serial}", self.core);
        Some(StagedObject::new(cache.directory().clone(), name, length_bytes, CACHE_PAGE_BYTES))
    }

    /// Hands sealed pages to their owner cores, which make them servable; returns once every
    /// owner did (so a read that follows the write finds them), with how many were published.
    /// Only page names cross cores, never page bytes.
    pub(crate) async fn publish(&self, pages: Vec<SealedPage>) -> usize {
        let mut by_owner: Vec<Vec<SealedPage>> = (0..self.senders.len()).map(|_| Vec::new()).collect();
        for page in pages {
            by_owner[self.owner_of(&page.id)].push(page);
        }
        let mut published = 0;
        for (owner, pages) in by_owner.into_iter().enumerate().filter(|(_, pages)| !pages.is_empty()) {
            let paths: Vec<_> = pages.iter().map(|page| page.path.clone()).collect();
            let publish_all = move |pages_owner: Rc<PageOwner>| async move {
                let mut published = 0;
                for page in pages {
                    published += usize::from(pages_owner.cache.publish(page.id, &page.path, page.length_bytes).await);
                }
                published
            };
            let outcome = if owner == self.core {
                Ok(publish_all(self.local.clone()).await)
            } else {
                self.on_owner(owner, publish_all).await
            };
            match outcome {
                Ok(count) => published += count,
                // The owner is shutting down: the staged files are nobody's now.
                Err(_) => {
                    for path in paths {
                        let _ = monoio::fs::remove_file(path).await;
                    }
                }
            }
        }
        published
    }

    /// Object data this core sent to a client from pages.
    pub(crate) fn count_served(&self, bytes: u64) {
        self.local.cache.count_served(bytes);
    }

    /// This core's cache numbers (the pages it owns, the bytes it served).
    pub(crate) fn cache_counts(&self) -> crate::cache::stats::CacheCounts {
        self.local.cache.counts()
    }

    fn owner_of(&self, id: &PageId) -> usize {
        page_owner(id, self.senders.len())
    }

    /// Page `index` of `version`, fetched by its owner core if missing.
    pub(crate) async fn page(&self, version: &ObjectVersion, index: u64) -> Result<CachedPage, PageError> {
        let owner = self.owner_of(&version.page_id(index));
        if owner == self.core {
            let source = UpstreamPages { upstream: &self.local.upstream };
            return self.local.cache.page(version, index, &source).await.map_err(PageError::Fetch);
        }
        let version = version.clone();
        self.on_owner(owner, move |owner| async move {
            let source = UpstreamPages { upstream: &owner.upstream };
            owner.cache.page(&version, index, &source).await
        })
        .await?
        .map_err(PageError::Fetch)
    }

    /// Tells a page's owner what a reader found: its data matched (`intact`), or the page is
    /// gone or damaged and must be fetched again.
    pub(crate) async fn report(&self, page: &CachedPage, intact: bool) {
        let id = page.id;
        let owner = self.owner_of(&id);
        let apply = move |owner: Rc<PageOwner>| async move {
            if intact {
                owner.cache.mark_verified(&id);
            } else {
                owner.cache.forget(&id).await;
            }
        };
        if owner == self.core {
            apply(self.local.clone()).await;
        } else {
            let _ = self.on_owner(owner, apply).await;
        }
    }

    /// Runs `work` on core `owner` and returns its result.
    async fn on_owner<T, F, Fut>(&self, owner: usize, work: F) -> Result<T, PageError>
    where
        T: Send + 'static,
        F: FnOnce(Rc<PageOwner>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: PageJob = Box::new(move |owner| {
            Box::pin(async move {
                let _ = reply.send(work(owner).await);
            })
        });
        self.senders[owner].send_async(job).await.map_err(|_| PageError::OwnerGone)?;
        answer.await.map_err(|_| PageError::OwnerGone)
    }
}

/// The upstream as the source of pages: ranged GETs of exactly the version a page belongs to.
struct UpstreamPages<'a> {
    upstream: &'a Upstream,
}

impl PageSource for UpstreamPages<'_> {
    fn fetch<'a>(
        &'a self,
        version: &'a ObjectVersion,
        offset: u64,
        length: u64,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchFailure>> + 'a>> {
        Box::pin(async move {
            let options = GetOptions {
                range: Some(ByteRange::Inclusive { first: offset, last: offset + length - 1 }),
                if_match: Some(format!("\"{}\"", version.etag)),
                if_none_match: None,
            };
            let mut response =
                self.upstream.get_object(&version.bucket, &version.key, &options).await.map_err(fetch_failure)?;
            let limit = usize::try_from(length).unwrap_or(usize::MAX).min(CACHE_PAGE_BYTES as usize);
            response.body.read_to_end(limit).await.map_err(|error| {
                self.upstream.body_failed(&version.bucket, &version.key, &error);
                fetch_failure(error)
            })
        })
    }
}

fn fetch_failure(error: UpstreamError) -> FetchFailure {
    match &error {
        UpstreamError::Response(response) if response.status == 412 || response.status == 404 => FetchFailure::Changed,
        _ => FetchFailure::Upstream(error.to_string()),
    }
}
