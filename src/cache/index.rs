//! The pages one core owns: which are on disk and how long, which are being fetched (one
//! fetch per page however many readers miss it at once: the others wait for it), and which
//! to evict when the core's share of `--cache-capacity` is full.
//!
//! Eviction is CLOCK (second chance): a hand sweeps the pages in insertion order, clearing
//! the referenced bit of each page read since its last pass and evicting the first page found
//! unreferenced. Pages being fetched are never victims. A reader that already opened an
//! evicted page keeps reading it (the file's data lives until its last descriptor closes);
//! one that finds it gone asks again. So eviction never fails a read.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A page's identity: a digest of (bucket, key, ETag, page index). See `cache::page_id`.
pub(crate) type PageId = [u8; 16];

/// Why a fetch failed, as every reader waiting on it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchFailure {
    /// The upstream's object is no longer the version the page belongs to (412 to If-Match).
    Changed,
    /// The upstream did not answer, or answered with an error (its message).
    Upstream(String),
    /// The page could not be stored (its errno): readers may still get it from the upstream.
    Local(String),
}

/// One fetch of one page that every reader missing it shares.
#[derive(Default)]
pub(crate) struct Flight {
    outcome: RefCell<Option<Result<u64, FetchFailure>>>,
    wakers: RefCell<Vec<Waker>>,
}

impl Flight {
    fn finish(&self, outcome: Result<u64, FetchFailure>) {
        *self.outcome.borrow_mut() = Some(outcome);
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Waits for the fetch: the page's length, or why it failed.
    pub(crate) fn wait(self: Rc<Self>) -> FlightWait {
        FlightWait { flight: self }
    }
}

pub(crate) struct FlightWait {
    flight: Rc<Flight>,
}

impl Future for FlightWait {
    type Output = Result<u64, FetchFailure>;
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(outcome) = self.flight.outcome.borrow().as_ref() {
            return Poll::Ready(outcome.clone());
        }
        self.flight.wakers.borrow_mut().push(context.waker().clone());
        Poll::Pending
    }
}

enum Slot {
    Filling(Rc<Flight>),
    Ready {
        length_bytes: u64,
        referenced: Cell<bool>,
        /// Whether this process has seen the page's data match its checksum (pages found on
        /// disk at start are checked on their first read).
        verified: Cell<bool>,
    },
}

/// What a reader finds for a page.
pub(crate) enum Lookup {
    /// On disk, this long; `verified`: its data was checked (or written) by this process.
    Ready { length_bytes: u64, verified: bool },
    /// Being fetched: wait for the flight.
    Filling(Rc<Flight>),
    /// Neither: the caller fetches it (after `begin_fill`).
    Absent,
}

pub(crate) struct PageIndex {
    slots: HashMap<PageId, Slot>,
    /// Ready pages in CLOCK order (front: where the hand points).
    clock: VecDeque<PageId>,
    used_bytes: u64,
    /// Ready pages (counted here so a scrape need not walk the slots).
    ready_pages: u64,
    capacity_bytes: u64,
}

impl PageIndex {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        PageIndex { slots: HashMap::new(), clock: VecDeque::new(), used_bytes: 0, ready_pages: 0, capacity_bytes }
    }

    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    pub(crate) fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Pages on disk (not those being fetched).
    pub(crate) fn ready_pages(&self) -> u64 {
        self.ready_pages
    }

    pub(crate) fn lookup(&self, id: &PageId) -> Lookup {
        match self.slots.get(id) {
            None => Lookup::Absent,
            Some(Slot::Filling(flight)) => Lookup::Filling(flight.clone()),
            Some(Slot::Ready { length_bytes, referenced, verified }) => {
                referenced.set(true);
                Lookup::Ready { length_bytes: *length_bytes, verified: verified.get() }
            }
        }
    }

    /// Marks a page as being fetched by the caller; later readers wait for its flight.
    pub(crate) fn begin_fill(&mut self, id: PageId) -> Rc<Flight> {
        debug_assert!(!self.slots.contains_key(&id), "a page is filled once at a time");
        let flight = Rc::new(Flight::default());
        self.slots.insert(id, Slot::Filling(flight.clone()));
        flight
    }

    /// Space for a page of `length_bytes` about to be stored: the pages to evict (the caller
    /// unlinks them) so that the index stays within its capacity.
    pub(crate) fn make_room(&mut self, length_bytes: u64) -> Vec<PageId> {
        let mut victims = Vec::new();
        // Two sweeps at most: the first may only clear referenced bits.
        let mut budget = 2 * self.clock.len();
        while self.used_bytes + length_bytes > self.capacity_bytes && budget > 0 {
            budget -= 1;
            let Some(id) = self.clock.pop_front() else { break };
            match self.slots.get(&id) {
                Some(Slot::Ready { referenced, .. }) if referenced.get() => {
                    referenced.set(false);
                    self.clock.push_back(id);
                }
                Some(Slot::Ready { length_bytes, .. }) => {
                    self.used_bytes -= length_bytes;
                    self.ready_pages -= 1;
                    self.slots.remove(&id);
                    victims.push(id);
                }
                // Removed or refilled since it entered the clock: not ours to count.
                _ => {}
            }
        }
        victims
    }

    /// Ends the fetch of `id`: the page is on disk (`Ok(length)`) or not (every waiter gets
    /// the failure; the next reader fetches again).
    pub(crate) fn finish_fill(&mut self, id: PageId, outcome: Result<u64, FetchFailure>) {
        let Some(Slot::Filling(flight)) = self.slots.remove(&id) else {
            debug_assert!(false, "finish_fill without begin_fill");
            return;
        };
        if let Ok(length_bytes) = outcome {
            self.insert_ready(id, length_bytes, true);
        }
        flight.finish(outcome);
    }

    /// A page found on disk at start (its data unchecked yet).
    pub(crate) fn insert_existing(&mut self, id: PageId, length_bytes: u64) {
        if !self.slots.contains_key(&id) {
            self.insert_ready(id, length_bytes, false);
        }
    }

    fn insert_ready(&mut self, id: PageId, length_bytes: u64, verified: bool) {
        self.used_bytes += length_bytes;
        self.ready_pages += 1;
        self.slots
            .insert(id, Slot::Ready { length_bytes, referenced: Cell::new(false), verified: Cell::new(verified) });
        self.clock.push_back(id);
    }

    /// Records that a page's data matched its checksum.
    pub(crate) fn mark_verified(&self, id: &PageId) {
        if let Some(Slot::Ready { verified, .. }) = self.slots.get(id) {
            verified.set(true);
        }
    }

    /// Forgets a ready page (its data failed its checksum, or the file is gone); the caller
    /// unlinks it. A page being fetched is left to its flight.
    pub(crate) fn remove(&mut self, id: &PageId) -> bool {
        match self.slots.get(id) {
            Some(Slot::Ready { length_bytes, .. }) => {
                self.used_bytes -= length_bytes;
                self.ready_pages -= 1;
                self.slots.remove(id);
                // Its clock entry is skipped when the hand reaches it.
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PageId {
        [n; 16]
    }

    fn fill(index: &mut PageIndex, n: u8, length: u64) -> Vec<PageId> {
        let victims = index.make_room(length);
        index.begin_fill(id(n));
        index.finish_fill(id(n), Ok(length));
        victims
    }

    #[test]
    fn misses_share_one_flight_and_see_its_outcome() {
        let mut index = PageIndex::new(100);
        assert!(matches!(index.lookup(&id(1)), Lookup::Absent));
        let flight = index.begin_fill(id(1));
        let Lookup::Filling(second) = index.lookup(&id(1)) else { panic!("a second reader waits") };
        assert!(Rc::ptr_eq(&flight, &second));
        let waiting = second.wait();
        index.finish_fill(id(1), Ok(40));
        let outcome = futures_lite_block_on(waiting);
        assert_eq!(outcome, Ok(40));
        assert!(matches!(index.lookup(&id(1)), Lookup::Ready { length_bytes: 40, verified: true }));
        assert_eq!(index.used_bytes(), 40);
    }

    #[test]
    fn a_failed_fetch_is_seen_by_its_waiters_and_retried_by_the_next_reader() {
        let mut index = PageIndex::new(100);
        let flight = index.begin_fill(id(1));
        let waiting = flight.clone().wait();
        index.finish_fill(id(1), Err(FetchFailure::Changed));
        assert_eq!(futures_lite_block_on(waiting), Err(FetchFailure::Changed));
        assert!(matches!(index.lookup(&id(1)), Lookup::Absent), "the next reader fetches again");
        assert_eq!(index.used_bytes(), 0);
    }

    #[test]
    fn clock_evicts_unreferenced_pages_first_and_never_a_page_in_flight() {
        let mut index = PageIndex::new(30);
        for n in 1..=3 {
            assert!(fill(&mut index, n, 10).is_empty());
        }
        // Page 1 is read again: it gets a second chance; page 2 goes first.
        assert!(matches!(index.lookup(&id(1)), Lookup::Ready { .. }));
        assert_eq!(fill(&mut index, 4, 10), vec![id(2)]);
        assert_eq!(index.used_bytes(), 30);
        // A page being fetched holds no space yet and is never a victim.
        index.make_room(10);
        index.begin_fill(id(9));
        let victims = index.make_room(30);
        assert!(!victims.contains(&id(9)));
        assert_eq!(index.used_bytes(), 0, "every ready page made way");
        assert_eq!(index.ready_pages(), 0);
        assert!(matches!(index.lookup(&id(9)), Lookup::Filling(_)));
    }

    #[test]
    fn pages_found_at_start_are_unverified_until_checked() {
        let mut index = PageIndex::new(100);
        index.insert_existing(id(5), 20);
        assert!(matches!(index.lookup(&id(5)), Lookup::Ready { verified: false, .. }));
        index.mark_verified(&id(5));
        assert!(matches!(index.lookup(&id(5)), Lookup::Ready { verified: true, .. }));
        assert!(index.remove(&id(5)));
        assert_eq!(index.used_bytes(), 0);
        assert!(!index.remove(&id(5)));
    }

    /// Polls a future that is already complete (the tests finish flights before awaiting).
    fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::noop();
        match future.as_mut().poll(&mut Context::from_waker(waker)) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the flight had not finished"),
        }
    }
}
