//! Integration tests of s3core: each test starts real server processes (fresh data dir,
//! ephemeral port) and talks raw HTTP/1.1 to them through `common::Client`.
//!
//! Run with `cargo test --test integration`.

mod common;

mod addressing;
mod alluxio_walkthrough;
mod buckets;
mod checksums;
mod copy;
mod delete_objects;
mod hostile;
mod inline_budget;
mod journal_faults;
mod listings;
mod multipart;
mod objects;
mod open_files;
mod operations;
mod restart;
mod send_paths;
mod storage_faults;
mod tagging;
mod upload_framing;
mod wire;
