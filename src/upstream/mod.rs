//! The S3 client of an upstream object store (Ceph RGW, MinIO, Garage, SeaweedFS, Amazon
//! S3), for s3core as a node-local read-through / write-through cache in front of a shared
//! data lake.
//!
//! # Shape
//! - One `Upstream` per core, built from the process-wide `UpstreamSettings` (`Arc`, read
//!   only). It is `!Send`: its keep-alive pool, name cache, signing-key cache and jitter state
//!   belong to the core's monoio runtime, as everything else on a core does.
//! - HTTP/1.1 over monoio TCP or TLS (`rustls` through `monoio-rustls`, system roots plus an
//!   optional CA file); TCP_NODELAY; every connect, head wait, read and write under a deadline.
//! - Every request is signed with SigV4 (`crate::sigv4`, the primitives the server verifies
//!   with): the payload hash is the real one for bodiless requests and documents, and
//!   `UNSIGNED-PAYLOAD` for streamed bodies.
//! - Bodies stream both ways through caller-provided buffers: a `BodySource` feeds uploads
//!   (a client's PUT can flow through), a `ResponseBody` (or a `BodySink`) takes downloads.
//! - Retries with full-jitter exponential backoff, bounded in attempts and time (`retry`);
//!   an upstream that stays down ends as `UpstreamError::Unavailable`, which `crate::error`
//!   answers as 503.
//!
//! # Using it
//! ```text
//! let upstream = Upstream::new(settings);                       // once per core
//! let head = upstream.head_object("lake", "t/part-0.parquet", &GetOptions::default()).await?;
//! let options = GetOptions { range: Some(ByteRange::Inclusive { first: 0, last: 4095 }),
//!                            if_match: head.etag.clone(), ..GetOptions::default() };
//! let mut page = upstream.get_object("lake", "t/part-0.parquet", &options).await?;
//! let (read, buffer) = page.body.read(buffer).await;            // until Ok(0)
//! upstream.put_object("lake", "t/out", source, &PutOptions::default()).await?;
//! ```
//! Every operation returns `Result<_, UpstreamError>`; an S3 error answer is
//! `UpstreamError::Response` with the status, `<Code>`, `<Message>` and raw document.

mod body;
mod bucket;
mod client;
mod documents;
mod error;
mod forward;
mod multipart;
mod object;
mod response;
mod retry;
mod settings;
mod signer;
pub(crate) mod stats;
mod tls;
mod transport;

pub use body::{BodySink, BodySource, InMemoryBody};
pub use client::{Document, Upstream};
pub use documents::CompletedPart;
pub use error::{ErrorResponse, Stage, TransportError, UpstreamError};
pub use forward::Forward;
pub use object::{ByteRange, ContentRange, CopyOptions, GetOptions, ObjectHead, ObjectResponse, PutOptions};
pub use response::{ResponseBody, ResponseHead};
pub use settings::{Addressing, Endpoint, RetryPolicy, Scheme, Timeouts, UpstreamCredentials, UpstreamSettings};
