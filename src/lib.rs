//! s3core: a thread-per-core, io_uring S3-compatible object server.
//!
//! # A request's life
//! 1. `server`: each core runs its own monoio runtime, pinned to a CPU, with its own
//!    `SO_REUSEPORT` listener. A connection stays on the core that accepted it.
//! 2. `http`: the connection loop parses the head with httparse into a reused buffer; the body
//!    stays on the wire and is pulled by the handler (length, chunked, aws-chunked).
//! 3. `s3::router` turns (method, path, query) into one `Action`; `s3::auth` verifies the
//!    signature when credentials are configured; `s3::handle` dispatches the action.
//! 4. Handlers touch metadata only through `shard`: the bucket's shard is called directly when
//!    this core owns it, otherwise through a bounded mailbox to its owner core.
//! 5. Object bytes never cross cores: `store::blocks` writes and reads block files on the
//!    connection's core; a record referencing them is committed to the owner's journal.
//! 6. The answer is written head-and-small-body in one write; object bodies stream from blocks
//!    through pooled buffers (or `sendfile`, see `server::zero_copy`).
//! 7. The core counts the request in its own counters (`server::stats`) and, when the access
//!    log is on, formats its line into its own buffer; the admin listener reads the counters
//!    by message at scrape time (`server::control`, `server::admin`).
//!
//! # Module map
//! - `config`, `limits`, `error`: flags, environment and config file → Config; every limit;
//!   every S3 error code.
//! - `server`: threads, runtimes, listeners, connection loop; per-core stats, the admin
//!   listener (metrics, probes, status page), graceful shutdown, the access log.
//! - `metrics`: latency distributions (HdrHistogram) and the Prometheus text format.
//! - `http`: request heads, bodies, responses, dates.
//! - `s3`: router, authentication (`auth`: SigV4, SigV2), checksums, and one file per action
//!   family (bucket, object, list, delete_objects, multipart, copy, tagging, acl).
//! - `hash`: MD5 of PUT bodies, several uploads hashed side by side (AVX-512 lanes).
//! - `xml`: encoders and bounded decoders of S3 documents.
//! - `shard`: bucket → shard → core, mailboxes, the owner-side shard.
//! - `store`: records, index, journal with group commit, block files, recovery.
//! - `sigv4`: SigV4 canonical forms, keys and signatures, shared by verification and signing.
//! - `upstream`: the S3 client of an upstream object store (`--upstream`): one keep-alive pool
//!   per core, SigV4, streamed bodies, retries, TLS. Reached through `s3::CoreServices`.

// `unsafe` only where a module says why it needs it (`#![allow(unsafe_code)]` there, with a
// `// SAFETY:` comment on each block): the AVX-512 MD5 kernel and the sendfile path.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod buffer_pool;
pub(crate) mod cache;
pub mod config;
pub mod dates;
pub mod encoding;
pub mod error;
pub mod hash;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod s3;
pub mod server;
pub mod shard;
pub(crate) mod sigv4;
pub mod store;
pub mod upstream;
pub mod xml;
