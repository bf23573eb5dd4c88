//! The process's phase (starting, serving, draining), which the readiness probe reads, and the
//! way to every core's control mailbox once the cores run. Written only at transitions (start,
//! cores up, first signal), never on the request path.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use super::control::Control;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Recovering the data directory, starting the cores.
    Starting = 0,
    Serving = 1,
    /// A shutdown signal came: in-flight requests finish, nothing new is taken.
    Draining = 2,
}

pub(crate) struct Lifecycle {
    phase: AtomicU8,
    /// Each core's control mailbox, set once every core is serving.
    cores: OnceLock<Vec<flume::Sender<Control>>>,
    /// When the process started (seconds since the epoch).
    pub(crate) started_unix_s: u64,
    /// Failed access log writes (the writer thread is the only writer), when the log is on.
    access_log_errors: OnceLock<Arc<AtomicU64>>,
}

impl Lifecycle {
    pub(crate) fn new() -> Arc<Lifecycle> {
        Arc::new(Lifecycle {
            phase: AtomicU8::new(Phase::Starting as u8),
            cores: OnceLock::new(),
            started_unix_s: crate::dates::now_ms() / 1000,
            access_log_errors: OnceLock::new(),
        })
    }

    pub(crate) fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Draining,
        }
    }

    /// Every core serves: the control mailboxes become reachable and the server ready.
    pub(crate) fn serving(&self, cores: Vec<flume::Sender<Control>>) {
        let _ = self.cores.set(cores);
        self.phase.store(Phase::Serving as u8, Ordering::Relaxed);
    }

    pub(crate) fn draining(&self) {
        self.phase.store(Phase::Draining as u8, Ordering::Relaxed);
    }

    /// The cores' control mailboxes (empty while starting).
    pub(crate) fn cores(&self) -> &[flume::Sender<Control>] {
        self.cores.get().map_or(&[], Vec::as_slice)
    }

    pub(crate) fn set_access_log_errors(&self, errors: Arc<AtomicU64>) {
        let _ = self.access_log_errors.set(errors);
    }

    pub(crate) fn access_log_errors(&self) -> Option<u64> {
        self.access_log_errors.get().map(|errors| errors.load(Ordering::Relaxed))
    }
}
