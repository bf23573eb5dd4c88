//! Hashing the uploads of one core side by side: each upload's MD5 is a stream whose full
//! buffers are queued here after they are written to disk, and hashed later in the 16 lanes
//! of `md5_kernel::compress_lanes`, one stream per lane.
//!
//! Queued buffers are hashed, all streams at once, when the queue reaches
//! `QUEUED_BYTES_MAX` or when any stream needs its digest. Both happen synchronously inside
//! the call that triggers them: nothing waits on a task, and a stream's bytes are always
//! hashed in order. With one stream (or a CPU without AVX-512) the scalar kernel runs
//! instead, so a lone upload pays nothing for the batching.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::md5_kernel::{self, BLOCK_BYTES, INITIAL_STATE, LANES};
use crate::store::buffer_pool::BufferPool;

/// Bytes queued across a core's streams before they are hashed (16 lanes of 256 KiB).
const QUEUED_BYTES_MAX: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Slot {
    state: [u32; 4],
    /// Buffers of whole blocks not hashed yet, in stream order.
    queue: VecDeque<Vec<u8>>,
}

#[derive(Default)]
struct Streams {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    queued_bytes: usize,
}

/// One core's MD5 streams.
#[derive(Default)]
pub struct Md5Batcher {
    streams: RefCell<Streams>,
}

/// A lane of a batch: a stream, its state, and the buffer it is in.
struct Lane {
    slot: usize,
    state: [u32; 4],
    buffer: Vec<u8>,
    position: usize,
}

impl Md5Batcher {
    pub fn new() -> Rc<Self> {
        Rc::new(Md5Batcher::default())
    }

    /// Hashes every queued buffer of every stream; emptied buffers go back to `pool`.
    fn hash_queued(&self, pool: &BufferPool) {
        let mut streams = self.streams.borrow_mut();
        let streams = &mut *streams;
        streams.queued_bytes = 0;
        let mut waiting: Vec<usize> = (0..streams.slots.len())
            .filter(|&i| streams.slots[i].as_ref().is_some_and(|s| !s.queue.is_empty()))
            .collect();
        if waiting.len() < 2 || !md5_kernel::lanes_supported() {
            for index in waiting {
                let Some(slot) = streams.slots[index].as_mut() else { continue };
                while let Some(buffer) = slot.queue.pop_front() {
                    md5_kernel::compress(&mut slot.state, &buffer);
                    pool.give(buffer);
                }
            }
            return;
        }
        let mut lanes: Vec<Lane> = Vec::with_capacity(LANES);
        loop {
            // Fill free lanes with streams that still have buffers.
            while lanes.len() < LANES {
                let Some(index) = waiting.pop() else { break };
                let Some(slot) = streams.slots[index].as_mut() else { continue };
                let Some(buffer) = slot.queue.pop_front() else { continue };
                lanes.push(Lane { slot: index, state: slot.state, buffer, position: 0 });
            }
            match lanes.len() {
                0 => return,
                1 => {
                    // The last stream: finish it with the scalar kernel.
                    let Lane { slot: index, mut state, buffer, position } = lanes.remove(0);
                    md5_kernel::compress(&mut state, &buffer[position..]);
                    pool.give(buffer);
                    if let Some(slot) = streams.slots[index].as_mut() {
                        while let Some(buffer) = slot.queue.pop_front() {
                            md5_kernel::compress(&mut state, &buffer);
                            pool.give(buffer);
                        }
                        slot.state = state;
                    }
                    continue;
                }
                _ => {}
            }
            let count = lanes.iter().map(|lane| (lane.buffer.len() - lane.position) / BLOCK_BYTES).min().unwrap_or(0);
            let mut states = [INITIAL_STATE; LANES];
            for (state, lane) in states.iter_mut().zip(&lanes) {
                *state = lane.state;
            }
            {
                // Unused lanes read the first lane's bytes; their results are ignored.
                let filler = &lanes[0].buffer[lanes[0].position..];
                let inputs: [&[u8]; LANES] =
                    std::array::from_fn(|i| lanes.get(i).map_or(filler, |lane| &lane.buffer[lane.position..]));
                md5_kernel::compress_lanes(&mut states, inputs, count);
            }
            for (lane, state) in lanes.iter_mut().zip(states) {
                lane.state = state;
                lane.position += count * BLOCK_BYTES;
            }
            let mut i = 0;
            while i < lanes.len() {
                let lane = &mut lanes[i];
                if lane.position < lane.buffer.len() {
                    i += 1;
                    continue;
                }
                // This buffer is done: the stream's next one, or the stream leaves the batch.
                let next = streams.slots[lane.slot].as_mut().and_then(|slot| slot.queue.pop_front());
                let done = std::mem::replace(&mut lane.buffer, next.unwrap_or_default());
                pool.give(done);
                lane.position = 0;
                if lane.buffer.is_empty() {
                    let finished = lanes.swap_remove(i);
                    if let Some(slot) = streams.slots[finished.slot].as_mut() {
                        slot.state = finished.state;
                    }
                } else {
                    i += 1;
                }
            }
        }
    }
}

/// The MD5 of one upload, fed in order. Dropping it discards what it queued.
pub struct Md5Stream {
    batcher: Rc<Md5Batcher>,
    slot: usize,
    /// Bytes after the last whole block, not hashed yet.
    tail: [u8; BLOCK_BYTES],
    tail_length: usize,
    total: u64,
}

impl Md5Stream {
    pub fn new(batcher: &Rc<Md5Batcher>) -> Self {
        let slot = {
            let mut streams = batcher.streams.borrow_mut();
            let slot = Slot { state: INITIAL_STATE, queue: VecDeque::new() };
            match streams.free.pop() {
                Some(index) => {
                    streams.slots[index] = Some(slot);
                    index
                }
                None => {
                    streams.slots.push(Some(slot));
                    streams.slots.len() - 1
                }
            }
        };
        Md5Stream { batcher: batcher.clone(), slot, tail: [0; BLOCK_BYTES], tail_length: 0, total: 0 }
    }

    /// Hands over a buffer of the stream's next bytes; it comes back to `pool` once hashed.
    /// A buffer of whole blocks, with nothing pending before it, is queued for a batch;
    /// anything else is hashed now.
    pub fn submit(&mut self, buffer: Vec<u8>, pool: &BufferPool) {
        if buffer.is_empty() {
            pool.give(buffer);
            return;
        }
        if self.tail_length != 0 || !buffer.len().is_multiple_of(BLOCK_BYTES) {
            self.update(&buffer, pool);
            pool.give(buffer);
            return;
        }
        self.total += buffer.len() as u64;
        let full = {
            let mut streams = self.batcher.streams.borrow_mut();
            streams.queued_bytes += buffer.len();
            if let Some(slot) = streams.slots[self.slot].as_mut() {
                slot.queue.push_back(buffer);
            }
            streams.queued_bytes >= QUEUED_BYTES_MAX
        };
        if full {
            self.batcher.hash_queued(pool);
        }
    }

    /// Hashes `bytes` now (after whatever this stream queued).
    pub fn update(&mut self, mut bytes: &[u8], pool: &BufferPool) {
        if bytes.is_empty() {
            return;
        }
        self.drain_queue(pool);
        self.total += bytes.len() as u64;
        let mut streams = self.batcher.streams.borrow_mut();
        let Some(slot) = streams.slots[self.slot].as_mut() else { return };
        if self.tail_length > 0 {
            let take = (BLOCK_BYTES - self.tail_length).min(bytes.len());
            self.tail[self.tail_length..self.tail_length + take].copy_from_slice(&bytes[..take]);
            self.tail_length += take;
            bytes = &bytes[take..];
            if self.tail_length < BLOCK_BYTES {
                return;
            }
            md5_kernel::compress(&mut slot.state, &self.tail);
            self.tail_length = 0;
        }
        let whole = bytes.len() / BLOCK_BYTES * BLOCK_BYTES;
        md5_kernel::compress(&mut slot.state, &bytes[..whole]);
        let rest = &bytes[whole..];
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_length = rest.len();
    }

    /// The digest of everything fed so far (the stream can go on afterwards).
    pub fn digest(&mut self, pool: &BufferPool) -> [u8; 16] {
        self.drain_queue(pool);
        let streams = self.batcher.streams.borrow();
        let state = streams.slots[self.slot].as_ref().map_or(INITIAL_STATE, |slot| slot.state);
        md5_kernel::finish(state, &self.tail[..self.tail_length], self.total)
    }

    /// Hashes this stream's queued buffers, together with every other stream's.
    fn drain_queue(&mut self, pool: &BufferPool) {
        let queued = self.batcher.streams.borrow().slots[self.slot].as_ref().is_some_and(|slot| !slot.queue.is_empty());
        if queued {
            self.batcher.hash_queued(pool);
        }
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        let mut streams = self.batcher.streams.borrow_mut();
        if let Some(slot) = streams.slots[self.slot].take() {
            let queued: usize = slot.queue.iter().map(Vec::len).sum();
            streams.queued_bytes = streams.queued_bytes.saturating_sub(queued);
        }
        streams.free.push(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn bytes(length: usize, seed: u8) -> Vec<u8> {
        (0..length).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
    }

    /// Feeds `chunks` of each stream interleaved, as concurrent uploads would.
    fn run(streams_chunks: &[Vec<Vec<u8>>]) {
        let batcher = Md5Batcher::new();
        let pool = BufferPool::new(256, 4, 0);
        let mut streams: Vec<Md5Stream> = streams_chunks.iter().map(|_| Md5Stream::new(&batcher)).collect();
        let longest = streams_chunks.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..longest {
            for (stream, chunks) in streams.iter_mut().zip(streams_chunks) {
                if let Some(chunk) = chunks.get(round) {
                    stream.submit(chunk.clone(), &pool);
                }
            }
        }
        for (stream, chunks) in streams.iter_mut().zip(streams_chunks) {
            let expected: [u8; 16] = Md5::digest(chunks.concat()).into();
            assert_eq!(stream.digest(&pool), expected, "stream of {} chunks", chunks.len());
        }
    }

    #[test]
    fn interleaved_streams_of_unequal_lengths_match_the_md5_crate() {
        // 20 streams (more than 16 lanes), whole-block chunks of unequal sizes, some ending
        // with a ragged chunk, one empty.
        let streams: Vec<Vec<Vec<u8>>> = (0..20u8)
            .map(|s| {
                let mut chunks: Vec<Vec<u8>> =
                    (0..(s as usize % 5)).map(|c| bytes(64 * (1 + (s as usize + c) % 7), s ^ c as u8)).collect();
                if s % 3 == 0 {
                    chunks.push(bytes(s as usize * 3 + 1, s));
                }
                chunks
            })
            .collect();
        run(&streams);
    }

    #[test]
    fn a_full_queue_is_hashed_on_submit_and_a_dropped_stream_leaves_the_rest_intact() {
        let batcher = Md5Batcher::new();
        let pool = BufferPool::new(256, 4, 0);
        let chunk = bytes(1024 * 1024, 7);
        let mut kept = Md5Stream::new(&batcher);
        let mut dropped = Md5Stream::new(&batcher);
        for _ in 0..3 {
            kept.submit(chunk.clone(), &pool);
            dropped.submit(chunk.clone(), &pool);
        }
        // 6 MiB queued: past the bound, so the last submits hashed everything.
        assert!(batcher.streams.borrow().queued_bytes < QUEUED_BYTES_MAX);
        dropped.submit(chunk.clone(), &pool);
        drop(dropped);
        kept.update(b"tail", &pool);
        let mut expected = Md5::new();
        for _ in 0..3 {
            expected.update(&chunk);
        }
        expected.update(b"tail");
        assert_eq!(kept.digest(&pool), <[u8; 16]>::from(expected.finalize()));
        // The freed slot is reused by a new stream, starting clean.
        let mut fresh = Md5Stream::new(&batcher);
        assert_eq!(fresh.digest(&pool), <[u8; 16]>::from(Md5::digest(b"")));
    }
}
