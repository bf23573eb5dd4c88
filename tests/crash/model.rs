//! What the test knows about each key: the last acknowledged state, and at most one possible
//! other state (the outcome of an operation sent but never answered before the kill).
//!
//! Object bytes are never stored: they are generated from a seed, and a state keeps their
//! size, MD5 and expected ETag, so "exactly the acknowledged bytes" is checked by hashing what
//! a GET returns.

use std::collections::VecDeque;
use std::fmt;

use crate::support::hex;
pub use crate::support::Rng;

/// The deterministic bytes of a body: `size` bytes from `seed`.
pub fn body(seed: u64, size: usize) -> Vec<u8> {
    Rng::new(seed ^ 0x5DEE_CE66_D1CE_4E5B).bytes(size)
}

/// A stored object as a client can observe it.
#[derive(Clone, PartialEq, Eq)]
pub struct Object {
    pub size: u64,
    /// MD5 of the whole body.
    pub md5: [u8; 16],
    /// The ETag, unquoted: hex MD5, or `hex-N` for a completed multipart upload.
    pub etag: String,
    /// Tags, sorted by key.
    pub tags: Vec<(String, String)>,
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{size {} md5 {} etag {} tags {:?}}}", self.size, hex(&self.md5), self.etag, self.tags)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum State {
    Absent,
    Present(Object),
}

impl State {
    pub fn object(&self) -> Option<&Object> {
        match self {
            State::Absent => None,
            State::Present(object) => Some(object),
        }
    }
}

/// An operation sent without an answer: the key may now hold `outcome`.
#[derive(Clone, Debug)]
pub struct Pending {
    pub outcome: State,
    pub operation: String,
}

/// One key of the workload, owned by exactly one worker thread (so expectations are exact).
#[derive(Clone)]
pub struct KeyModel {
    pub bucket: String,
    pub key: String,
    /// The last acknowledged state (or the one verified after the last restart).
    pub state: State,
    /// The operation in flight at the kill, if any.
    pub pending: Option<Pending>,
    /// Set when recovery showed the outcome of an unacknowledged operation: the state it
    /// replaced. Seeing that state again later means recovery served something that a later
    /// crash took back (possible only when the recovered bytes were never made durable).
    pub recovered_over: Option<State>,
    /// The last operations on this key, for violation reports.
    pub history: VecDeque<String>,
}

impl KeyModel {
    pub fn new(bucket: &str, key: &str) -> KeyModel {
        KeyModel {
            bucket: bucket.to_string(),
            key: key.to_string(),
            state: State::Absent,
            pending: None,
            recovered_over: None,
            history: VecDeque::new(),
        }
    }

    pub fn note(&mut self, line: String) {
        if self.history.len() == 12 {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// An acknowledged change.
    pub fn acknowledge(&mut self, state: State, operation: &str) {
        self.note(format!("ACK {operation} -> {state:?}"));
        self.state = state;
        self.recovered_over = None;
    }

    /// A change sent without an answer.
    pub fn in_flight(&mut self, outcome: State, operation: &str) {
        self.note(format!("IN FLIGHT {operation} -> {outcome:?}"));
        self.pending = Some(Pending { outcome, operation: operation.to_string() });
    }

    pub fn path(&self) -> String {
        format!("/{}/{}", self.bucket, crate::support::encode_path(&self.key))
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.bucket, self.key)
    }
}

/// A broken promise, with enough context to reproduce and debug it.
#[derive(Debug, Clone)]
pub struct Violation {
    pub cycle: usize,
    pub kind: &'static str,
    pub key: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cycle {} [{}] {}: {}", self.cycle, self.kind, self.key, self.detail)
    }
}
