//! Hashing the uploads of one core side by side: each upload's MD5 is a stream whose full
//! buffers are queued here after they are written to disk, and hashed later in the 16 lanes
//! of `md5_kernel::compress_lanes`, one stream per lane.
//!
//! Hashing happens synchronously inside the call that needs it, so nothing waits on a task
//! and a stream's bytes are always hashed in order:
//! - a stream that needs its digest has its queue hashed, with up to 15 other streams'
//!   queued buffers riding along in the other lanes while it lasts;
//! - when `QUEUED_BYTES_MAX` is queued, streams are hashed side by side while at least two
//!   have data, and a lone remainder with the scalar kernel.
//!
//! One stream takes the scalar kernel, so a lone upload pays nothing for the batching. A
//! batcher made for `Md5Kernel::Scalar` (a CPU without AVX-512, or `--md5-kernel scalar`)
//! never uses the lanes.

#[cfg(test)]
use std::cell::Cell;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::md5_kernel::{self, Md5Kernel, BLOCK_BYTES, INITIAL_STATE, LANES};
use crate::buffer_pool::BufferPool;

/// Bytes queued across a core's streams before they are hashed (16 lanes of 256 KiB).
const QUEUED_BYTES_MAX: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Slot {
    state: [u32; 4],
    /// Buffers of whole blocks not hashed yet, in stream order.
    queue: VecDeque<Vec<u8>>,
    /// Bytes of the front buffer already hashed.
    front_hashed: usize,
}

impl Slot {
    fn unhashed(&self) -> &[u8] {
        self.queue.front().map_or(&[], |front| &front[self.front_hashed..])
    }

    /// Marks `bytes` more of the front buffer hashed, recycling it once done.
    fn advance(&mut self, bytes: usize, pool: &BufferPool) {
        self.front_hashed += bytes;
        if self.queue.front().is_some_and(|front| self.front_hashed >= front.len()) {
            if let Some(done) = self.queue.pop_front() {
                pool.give(done);
            }
            self.front_hashed = 0;
        }
    }

    /// Hashes the whole queue with the scalar kernel.
    fn hash_alone(&mut self, pool: &BufferPool) -> usize {
        let mut hashed = 0;
        while !self.queue.is_empty() {
            let length = self.unhashed().len();
            md5_kernel::compress(&mut self.state, &self.queue[0][self.front_hashed..]);
            self.advance(length, pool);
            hashed += length;
        }
        hashed
    }
}

#[derive(Default)]
struct Streams {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    queued_bytes: usize,
}

/// What a round of hashing must achieve.
#[derive(Clone, Copy)]
enum Goal {
    /// This slot's queue is empty.
    Drain(usize),
    /// Fewer than `QUEUED_BYTES_MAX / 2` bytes stay queued.
    Relieve,
}

/// One core's MD5 streams.
pub(crate) struct Md5Batcher {
    streams: RefCell<Streams>,
    /// Whether streams are hashed side by side (`Md5Kernel::Lanes`); never otherwise.
    lanes: bool,
    /// Calls of the lane kernel, for the tests that prove which kernel ran.
    #[cfg(test)]
    lane_rounds: Cell<u64>,
}

impl Md5Batcher {
    /// A batcher hashing with `kernel`; `Md5Kernel::Lanes` needs a CPU with AVX-512F (the
    /// configuration checks it before any core starts).
    pub(crate) fn new(kernel: Md5Kernel) -> Rc<Self> {
        let lanes = kernel == Md5Kernel::Lanes;
        assert!(!lanes || md5_kernel::lanes_supported(), "the lane MD5 kernel needs AVX-512F");
        Rc::new(Md5Batcher {
            streams: RefCell::default(),
            lanes,
            #[cfg(test)]
            lane_rounds: Cell::new(0),
        })
    }

    fn hash_queued(&self, goal: Goal, pool: &BufferPool) {
        let mut streams = self.streams.borrow_mut();
        let streams = &mut *streams;
        let has_data = |slot: &Option<Slot>| slot.as_ref().is_some_and(|slot| !slot.queue.is_empty());
        let target = match goal {
            Goal::Drain(target) => Some(target),
            Goal::Relieve => None,
        };
        let mut lanes: Vec<usize> = Vec::with_capacity(LANES);
        lanes.extend(target);
        if self.lanes {
            let mut others: Vec<usize> =
                (0..streams.slots.len()).rev().filter(|&i| has_data(&streams.slots[i]) && Some(i) != target).collect();
            loop {
                lanes.retain(|&i| has_data(&streams.slots[i]));
                while lanes.len() < LANES {
                    match others.pop() {
                        Some(i) => lanes.push(i),
                        None => break,
                    }
                }
                let done = match target {
                    Some(target) => !lanes.contains(&target),
                    None => streams.queued_bytes < QUEUED_BYTES_MAX / 2,
                };
                if done || lanes.len() < 2 {
                    break;
                }
                let mut states = [INITIAL_STATE; LANES];
                let count = {
                    let slot = |i: usize| streams.slots[i].as_ref();
                    let unhashed: Vec<&[u8]> = lanes.iter().map(|&i| slot(i).map_or(&[][..], Slot::unhashed)).collect();
                    let count = unhashed.iter().map(|bytes| bytes.len() / BLOCK_BYTES).min().unwrap_or(0);
                    for (state, &i) in states.iter_mut().zip(&lanes) {
                        *state = slot(i).map_or(INITIAL_STATE, |slot| slot.state);
                    }
                    // Unused lanes read the first lane's bytes; their results are ignored.
                    let inputs: [&[u8]; LANES] =
                        std::array::from_fn(|l| unhashed.get(l).copied().unwrap_or(unhashed[0]));
                    md5_kernel::compress_lanes(&mut states, inputs, count);
                    #[cfg(test)]
                    self.lane_rounds.set(self.lane_rounds.get() + 1);
                    count
                };
                for (state, &i) in states.iter().zip(&lanes) {
                    if let Some(slot) = streams.slots[i].as_mut() {
                        slot.state = *state;
                        slot.advance(count * BLOCK_BYTES, pool);
                    }
                }
                streams.queued_bytes = streams.queued_bytes.saturating_sub(count * BLOCK_BYTES * lanes.len());
            }
        }
        // What lanes could not do: the target alone, or relieving a queue fed by one stream.
        match target {
            Some(target) => {
                if let Some(slot) = streams.slots[target].as_mut() {
                    let hashed = slot.hash_alone(pool);
                    streams.queued_bytes = streams.queued_bytes.saturating_sub(hashed);
                }
            }
            None => {
                for slot in streams.slots.iter_mut().flatten() {
                    if streams.queued_bytes < QUEUED_BYTES_MAX / 2 {
                        break;
                    }
                    let hashed = slot.hash_alone(pool);
                    streams.queued_bytes = streams.queued_bytes.saturating_sub(hashed);
                }
            }
        }
    }
}

/// The MD5 of one upload, fed in order. Dropping it discards what it queued.
pub(crate) struct Md5Stream {
    batcher: Rc<Md5Batcher>,
    slot: usize,
    /// Bytes after the last whole block, not hashed yet.
    tail: [u8; BLOCK_BYTES],
    tail_length: usize,
    total: u64,
}

impl Md5Stream {
    pub(crate) fn new(batcher: &Rc<Md5Batcher>) -> Self {
        let slot = {
            let mut streams = batcher.streams.borrow_mut();
            let slot = Slot { state: INITIAL_STATE, ..Slot::default() };
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
    pub(crate) fn submit(&mut self, buffer: Vec<u8>, pool: &BufferPool) {
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
            self.batcher.hash_queued(Goal::Relieve, pool);
        }
    }

    /// Hashes `bytes` now (after whatever this stream queued).
    pub(crate) fn update(&mut self, mut bytes: &[u8], pool: &BufferPool) {
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
    pub(crate) fn digest(&mut self, pool: &BufferPool) -> [u8; 16] {
        self.drain_queue(pool);
        let streams = self.batcher.streams.borrow();
        let state = streams.slots[self.slot].as_ref().map_or(INITIAL_STATE, |slot| slot.state);
        md5_kernel::finish(state, &self.tail[..self.tail_length], self.total)
    }

    /// Hashes this stream's queued buffers, with other streams' beside them in the lanes.
    fn drain_queue(&mut self, pool: &BufferPool) {
        let queued = self.batcher.streams.borrow().slots[self.slot].as_ref().is_some_and(|slot| !slot.queue.is_empty());
        if queued {
            self.batcher.hash_queued(Goal::Drain(self.slot), pool);
        }
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        let mut streams = self.batcher.streams.borrow_mut();
        if let Some(slot) = streams.slots[self.slot].take() {
            let queued: usize = slot.queue.iter().map(Vec::len).sum::<usize>() - slot.front_hashed;
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

    /// Runs the check `$name` once per kernel, as the tests `$name::scalar` (everywhere) and
    /// `$name::lanes` (where the build machine has AVX-512F; reported ignored elsewhere).
    macro_rules! with_each_kernel {
        ($name:ident) => {
            mod $name {
                use super::{Md5Batcher, Md5Kernel};

                #[test]
                fn scalar() {
                    let batcher = Md5Batcher::new(Md5Kernel::Scalar);
                    super::$name(&batcher);
                    assert_eq!(batcher.lane_rounds.get(), 0, "the scalar batcher used the lanes");
                }

                #[test]
                #[cfg_attr(
                    not(s3core_host_avx512f),
                    ignore = "the build machine's CPU has no AVX-512F: the lane kernel cannot run"
                )]
                fn lanes() {
                    let batcher = Md5Batcher::new(Md5Kernel::Lanes);
                    super::$name(&batcher);
                    assert!(batcher.lane_rounds.get() > 0, "the lanes were never used");
                }
            }
        };
    }

    /// Feeds `chunks` of each stream interleaved, as concurrent uploads would.
    fn run(batcher: &Rc<Md5Batcher>, streams_chunks: &[Vec<Vec<u8>>]) {
        let pool = BufferPool::new(256, 4, 0);
        let mut streams: Vec<Md5Stream> = streams_chunks.iter().map(|_| Md5Stream::new(batcher)).collect();
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

    /// 20 streams (more than 16 lanes), whole-block chunks of unequal sizes, some ending with a
    /// ragged chunk, one empty.
    fn interleaved_streams_of_unequal_lengths_match_the_md5_crate(batcher: &Rc<Md5Batcher>) {
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
        run(batcher, &streams);
    }
    with_each_kernel!(interleaved_streams_of_unequal_lengths_match_the_md5_crate);

    fn digests_taken_midway_leave_other_streams_mid_buffer_and_all_stay_right(batcher: &Rc<Md5Batcher>) {
        let pool = BufferPool::new(256, 4, 0);
        let mut streams: Vec<(Md5Stream, Md5)> = (0..18).map(|_| (Md5Stream::new(batcher), Md5::new())).collect();
        let mut seed = 1u64;
        for round in 0..40 {
            for (index, (stream, expected)) in streams.iter_mut().enumerate() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let blocks = 1 + (seed >> 33) as usize % 9;
                let chunk = bytes(blocks * BLOCK_BYTES, (round * 31 + index) as u8);
                expected.update(&chunk);
                stream.submit(chunk, &pool);
                if (seed >> 20).is_multiple_of(7) {
                    // A digest now: this stream's queue is drained while others ride along
                    // and stop wherever this one ends.
                    assert_eq!(stream.digest(&pool), <[u8; 16]>::from(expected.clone().finalize()));
                }
            }
        }
        for (stream, expected) in &mut streams {
            assert_eq!(stream.digest(&pool), <[u8; 16]>::from(expected.clone().finalize()));
        }
    }
    with_each_kernel!(digests_taken_midway_leave_other_streams_mid_buffer_and_all_stay_right);

    fn a_full_queue_is_hashed_on_submit_and_a_dropped_stream_leaves_the_rest_intact(batcher: &Rc<Md5Batcher>) {
        let pool = BufferPool::new(256, 4, 0);
        let chunk = bytes(1024 * 1024, 7);
        let mut kept = Md5Stream::new(batcher);
        let mut dropped = Md5Stream::new(batcher);
        for _ in 0..3 {
            kept.submit(chunk.clone(), &pool);
            dropped.submit(chunk.clone(), &pool);
        }
        // 6 MiB submitted: past the bound, so a submit relieved the queue.
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
        let mut fresh = Md5Stream::new(batcher);
        assert_eq!(fresh.digest(&pool), <[u8; 16]>::from(Md5::digest(b"")));
    }
    with_each_kernel!(a_full_queue_is_hashed_on_submit_and_a_dropped_stream_leaves_the_rest_intact);
}
