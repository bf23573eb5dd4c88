//! A per-core pool of block I/O buffers, so streaming an object in or out does not allocate a
//! buffer per request. Bounded: buffers beyond `pooled_max` are freed on return.
//!
//! Leases bound the memory of optional copying: a response that could also go out with
//! `sendfile` copies only while it holds one of `lease_budget` leases, so the memory of GETs
//! stays bounded however many connections read at once.

use std::cell::RefCell;
use std::rc::Rc;

pub(crate) struct BufferPool {
    buffers: RefCell<Vec<Vec<u8>>>,
    buffer_bytes: usize,
    pooled_max: usize,
    /// One strong reference per live lease, besides this one.
    leases: Rc<()>,
    lease_budget: usize,
}

/// The right to hold one buffer for optional copying; released when dropped, on any path.
pub(crate) struct BufferLease {
    _held: Rc<()>,
}

impl BufferPool {
    pub(crate) fn new(buffer_bytes: usize, pooled_max: usize, lease_budget: usize) -> Self {
        BufferPool { buffers: RefCell::new(Vec::new()), buffer_bytes, pooled_max, leases: Rc::new(()), lease_budget }
    }

    /// A lease, unless `lease_budget` of them are out.
    pub(crate) fn try_lease(&self) -> Option<BufferLease> {
        (Rc::strong_count(&self.leases) - 1 < self.lease_budget).then(|| BufferLease { _held: self.leases.clone() })
    }

    pub(crate) fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// An empty buffer with `buffer_bytes` of capacity.
    pub(crate) fn take(&self) -> Vec<u8> {
        self.buffers.borrow_mut().pop().unwrap_or_else(|| Vec::with_capacity(self.buffer_bytes))
    }

    /// Returns a buffer for reuse (buffers of the wrong size, e.g. grown, are dropped).
    pub(crate) fn give(&self, mut buffer: Vec<u8>) {
        let mut buffers = self.buffers.borrow_mut();
        if buffer.capacity() == self.buffer_bytes && buffers.len() < self.pooled_max {
            buffer.clear();
            buffers.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_up_to_the_bound() {
        let pool = BufferPool::new(64, 1, 0);
        let first = pool.take();
        let pointer = first.as_ptr();
        let second = pool.take();
        pool.give(first);
        pool.give(second);
        assert_eq!(pool.buffers.borrow().len(), 1);
        let reused = pool.take();
        assert_eq!(reused.as_ptr(), pointer);
        pool.give(Vec::with_capacity(7));
        assert!(pool.buffers.borrow().is_empty());
    }

    #[test]
    fn leases_are_bounded_and_come_back_when_dropped() {
        let pool = BufferPool::new(64, 1, 2);
        let first = pool.try_lease().expect("first lease");
        let second = pool.try_lease().expect("second lease");
        assert!(pool.try_lease().is_none(), "budget of two");
        drop(first);
        let third = pool.try_lease().expect("a dropped lease is free again");
        assert!(pool.try_lease().is_none());
        drop((second, third));
        assert!(pool.try_lease().is_some());
    }
}
