//! Group commit: many writers share one write + fsync of a file.
//!
//! A writer appends its bytes (or nothing, for a directory) to the pending batch and waits for
//! that batch. One flush task per file writes the whole batch at the durable end of the file and
//! fsyncs once; writers that arrive during a flush join the next batch. Under load one fsync
//! acknowledges as many writers as arrived during the previous one.
//!
//! On a failed write or fsync the file is cut back to its last durable length, every waiting
//! writer (in flight and pending) gets the error, and the owner's `on_failure` hook runs before
//! any other task, so the owner can rebuild its in-memory state from what is durable.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use monoio::fs::File;

/// One group of writers sharing a flush.
#[derive(Default)]
struct Batch {
    /// `None` until the flush ends; then the outcome (an errno on failure).
    outcome: Cell<Option<Result<(), i32>>>,
    wakers: RefCell<Vec<Waker>>,
    /// Whether anyone waits on this batch (a directory batch has no bytes).
    requested: Cell<bool>,
}

impl Batch {
    fn finish(&self, outcome: Result<(), i32>) {
        self.outcome.set(Some(outcome));
        for waker in self.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

/// Waits until the batch the writer joined is durable.
pub struct BatchWait {
    batch: Rc<Batch>,
}

impl Future for BatchWait {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.batch.outcome.get() {
            Some(Ok(())) => Poll::Ready(Ok(())),
            Some(Err(errno)) => Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            None => {
                self.batch.wakers.borrow_mut().push(context.waker().clone());
                Poll::Pending
            }
        }
    }
}

struct SyncState {
    pending: Vec<u8>,
    /// A spare buffer swapped with `pending` at each flush, so batches reuse memory.
    spare: Vec<u8>,
    batch: Rc<Batch>,
    durable_length: u64,
    flushing: bool,
}

/// A file with group-committed appends (a journal) or group-committed fsyncs (a directory).
/// Runs after a failed flush with the last durable length.
type FailureHook = Box<dyn Fn(u64)>;

pub struct GroupSync {
    file: File,
    /// `fdatasync` suffices for an appended file (it covers the size); a directory needs fsync.
    data_only: bool,
    state: RefCell<SyncState>,
    on_failure: RefCell<Option<FailureHook>>,
    failures: Cell<u64>,
    flushes: Cell<u64>,
}

impl GroupSync {
    /// `durable_length` is where appends go: the file's length after recovery.
    pub fn new(file: File, durable_length: u64, data_only: bool) -> Rc<Self> {
        Rc::new(GroupSync {
            file,
            data_only,
            state: RefCell::new(SyncState {
                pending: Vec::new(),
                spare: Vec::new(),
                batch: Rc::new(Batch::default()),
                durable_length,
                flushing: false,
            }),
            on_failure: RefCell::new(None),
            failures: Cell::new(0),
            flushes: Cell::new(0),
        })
    }

    /// Runs with the last durable length after a failed flush, before other tasks run.
    pub fn set_on_failure(&self, hook: impl Fn(u64) + 'static) {
        *self.on_failure.borrow_mut() = Some(Box::new(hook));
    }

    /// Adds bytes to the pending batch (append order is file order).
    pub fn append(&self, bytes: &[u8]) {
        self.state.borrow_mut().pending.extend_from_slice(bytes);
    }

    /// Bytes appended but not yet durable plus durable bytes: the file's logical length.
    pub fn logical_length(&self) -> u64 {
        let state = self.state.borrow();
        state.durable_length + state.pending.len() as u64
    }

    pub fn durable_length(&self) -> u64 {
        self.state.borrow().durable_length
    }

    /// Number of flushes done (each one write + one fsync): for measurements and tests.
    pub fn flush_count(&self) -> u64 {
        self.flushes.get()
    }

    /// Joins the pending batch and makes sure a flush task runs.
    pub fn commit(self: &Rc<Self>) -> BatchWait {
        let mut state = self.state.borrow_mut();
        let batch = state.batch.clone();
        batch.requested.set(true);
        if !state.flushing {
            state.flushing = true;
            let this = self.clone();
            monoio::spawn(async move { this.flush_loop().await });
        }
        BatchWait { batch }
    }

    async fn flush_loop(self: Rc<Self>) {
        loop {
            let (bytes, batch, offset) = {
                let mut state = self.state.borrow_mut();
                if !state.batch.requested.get() && state.pending.is_empty() {
                    state.flushing = false;
                    return;
                }
                let spare = std::mem::take(&mut state.spare);
                let bytes = std::mem::replace(&mut state.pending, spare);
                let batch = std::mem::replace(&mut state.batch, Rc::new(Batch::default()));
                (bytes, batch, state.durable_length)
            };
            let length = bytes.len() as u64;
            let (outcome, mut bytes) = self.write_and_sync(bytes, offset).await;
            self.flushes.set(self.flushes.get() + 1);
            match outcome {
                Ok(()) => {
                    let mut state = self.state.borrow_mut();
                    state.durable_length = offset + length;
                    bytes.clear();
                    state.spare = bytes;
                    drop(state);
                    batch.finish(Ok(()));
                }
                Err(error) => self.fail(error, offset, batch),
            }
        }
    }

    async fn write_and_sync(&self, bytes: Vec<u8>, offset: u64) -> (io::Result<()>, Vec<u8>) {
        let bytes = if bytes.is_empty() {
            bytes
        } else {
            let (result, bytes) = self.file.write_all_at(bytes, offset).await;
            if let Err(error) = result {
                return (Err(error), bytes);
            }
            bytes
        };
        let synced = if self.data_only { self.file.sync_data().await } else { self.file.sync_all().await };
        (synced, bytes)
    }

    /// A failed flush: cut the file back, fail everyone waiting, let the owner rebuild.
    fn fail(&self, error: io::Error, durable_length: u64, in_flight: Rc<Batch>) {
        log::error!("group commit flush failed: {error}");
        let errno = error.raw_os_error().unwrap_or(libc::EIO);
        if self.data_only {
            // Cut through a second handle on our own descriptor; a failure here is
            // logged and the torn bytes are cut again by checksums at the next start.
            let cut = truncate_descriptor(self.file.as_raw_fd(), durable_length);
            if let Err(cut_error) = cut {
                log::error!("could not cut journal back to {durable_length}: {cut_error}");
            }
        }
        let pending = {
            let mut state = self.state.borrow_mut();
            state.pending.clear();
            std::mem::replace(&mut state.batch, Rc::new(Batch::default()))
        };
        self.failures.set(self.failures.get() + 1);
        if let Some(hook) = self.on_failure.borrow().as_ref() {
            hook(durable_length);
        }
        in_flight.finish(Err(errno));
        pending.finish(Err(errno));
    }
}

/// Truncates through a duplicate `std::fs::File`, so no unsafe code is needed here.
fn truncate_descriptor(fd: i32, length: u64) -> io::Result<()> {
    let path = format!("/proc/self/fd/{fd}");
    std::fs::OpenOptions::new().write(true).open(path)?.set_len(length)
}
