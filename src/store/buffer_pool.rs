//! A per-core pool of block I/O buffers, so streaming an object in or out does not allocate a
//! megabyte per request. Bounded: buffers beyond `pooled_max` are freed on return.

use std::cell::RefCell;

pub struct BufferPool {
    buffers: RefCell<Vec<Vec<u8>>>,
    buffer_bytes: usize,
    pooled_max: usize,
}

impl BufferPool {
    pub fn new(buffer_bytes: usize, pooled_max: usize) -> Self {
        BufferPool { buffers: RefCell::new(Vec::new()), buffer_bytes, pooled_max }
    }

    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// An empty buffer with `buffer_bytes` of capacity.
    pub fn take(&self) -> Vec<u8> {
        self.buffers.borrow_mut().pop().unwrap_or_else(|| Vec::with_capacity(self.buffer_bytes))
    }

    /// Returns a buffer for reuse (buffers of the wrong size, e.g. grown, are dropped).
    pub fn give(&self, mut buffer: Vec<u8>) {
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
        let pool = BufferPool::new(64, 1);
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
}
