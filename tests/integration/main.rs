//! Integration tests of s3core: each test starts real server processes (fresh data dir,
//! ephemeral port) and talks raw HTTP/1.1 to them through `support::Client`.
//!
//! Run with `cargo test --test integration`.

// Each binary uses a part of the shared support.
#[allow(dead_code, unused_imports)]
#[path = "../support/mod.rs"]
mod support;

mod addressing;
mod alluxio_walkthrough;
mod buckets;
mod checksums;
mod copy;
mod delete_objects;
mod hostile;
mod inline_budget;
mod journal_faults;
mod lake;
mod lake_faults;
mod listings;
mod multipart;
mod objects;
mod open_files;
mod operations;
mod restart;
mod send_paths;
mod storage_faults;
mod tagging;
mod test_switches;
mod upload_framing;
mod upstream;
mod wire;
