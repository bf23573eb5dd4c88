//! Storage: block files for object bytes, per-shard metadata (in-memory index + journal with
//! group commit), and recovery at start.
//!
//! Invariants:
//! - An object becomes visible only through a journal entry whose blocks were fsynced first.
//! - A client acknowledgement waits for the fsync of the journal batch holding its entry.
//! - A block is unlinked only after the entry that released it is durable.

pub mod blocks;
pub(crate) mod codec;
pub(crate) mod durable;
pub(crate) mod faults;
pub mod group_sync;
pub mod index;
pub(crate) mod inline_budget;
pub mod journal;
pub mod journal_entry;
pub mod layout;
pub mod record;
pub mod recovery;
