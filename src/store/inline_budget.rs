//! The memory held by inline object bodies (objects of at most `INLINE_OBJECT_BYTES_MAX`
//! kept inside their record, in the journal and in memory), bounded process-wide.
//!
//! Inline bodies make small PUTs cost one fsync and small GETs cost no disk access, but they
//! live in memory. Once `INLINE_OBJECTS_BYTES_BUDGET` is held, new small bodies go to block
//! files like large ones (served from the page cache), so the resident set stays bounded
//! however many small objects are stored (`--inline-budget-bytes` sets the budget). Every inline body is allocated here and counted
//! until its last reference is dropped, wherever that happens (index, reply in flight,
//! replay), so the count is exact without any bookkeeping in the callers.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;

use crate::limits::INLINE_OBJECTS_BYTES_BUDGET;

/// A count of live inline bytes against a budget.
pub(crate) struct InlineAccount {
    held: AtomicUsize,
    budget: AtomicUsize,
}

/// The process-wide account every inline body of the server is charged to.
pub(crate) static INLINE_BODIES: InlineAccount = InlineAccount::new(INLINE_OBJECTS_BYTES_BUDGET);

/// An inline body's bytes, uncharging their account when the last `Bytes` goes.
struct Charged {
    bytes: Box<[u8]>,
    account: &'static InlineAccount,
}

impl AsRef<[u8]> for Charged {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Charged {
    fn drop(&mut self) {
        self.account.held.fetch_sub(self.bytes.len(), Ordering::Relaxed);
    }
}

impl InlineAccount {
    pub(crate) const fn new(budget: usize) -> Self {
        InlineAccount { held: AtomicUsize::new(0), budget: AtomicUsize::new(budget) }
    }

    /// Sets the budget (at start, from the configuration).
    pub(crate) fn set_budget(&self, budget: usize) {
        self.budget.store(budget, Ordering::Relaxed);
    }

    /// Whether `length` more bytes fit in the budget (a hint: concurrent uploads may overrun
    /// it by at most one inline body each).
    pub(crate) fn has_room_for(&self, length: usize) -> bool {
        self.held.load(Ordering::Relaxed) + length <= self.budget.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// A charged copy of `data`.
    pub(crate) fn copy(&'static self, data: &[u8]) -> Bytes {
        if data.is_empty() {
            return Bytes::new();
        }
        self.held.fetch_add(data.len(), Ordering::Relaxed);
        Bytes::from_owner(Charged { bytes: data.into(), account: self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_charged_until_the_last_reference_goes() {
        let account: &'static InlineAccount = Box::leak(Box::new(InlineAccount::new(10)));
        let first = account.copy(b"abcdef");
        assert_eq!(account.held(), 6);
        assert!(account.has_room_for(4));
        assert!(!account.has_room_for(5));
        let slice = first.slice(1..3);
        drop(first);
        assert_eq!(account.held(), 6, "a slice keeps the body alive");
        assert_eq!(&slice[..], b"bc");
        drop(slice);
        assert_eq!(account.held(), 0);
        assert!(account.copy(b"").is_empty());
        assert_eq!(account.held(), 0, "empty bodies cost nothing");
    }
}
