//! Writing a response: head and small bodies in one write; object data from block files either
//! with `sendfile` (large bodies the page cache holds, see `zero_copy`) or copied through a
//! pooled buffer, the head riding in the same first write.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use monoio::buf::IoBufMut;
use monoio::fs::File;

use super::context::CoreContext;
use super::zero_copy;
use crate::buffer_pool::BufferLease;
use crate::cache::index::FetchFailure;
use crate::cache::page_file::PAGE_DATA_OFFSET;
use crate::cache::read_page_data;
use crate::error::S3Error;
use crate::http::connection::Connection;
use crate::limits::CACHE_PAGE_BYTES;
use crate::limits::SMALL_IO_BUFFER_BYTES;
use crate::s3::lake::pages::PageError;
use crate::s3::lake::LakeSlice;
use crate::s3::CoreServices;
use crate::s3::{ObjectSlice, Response, ResponseBody, StoredObject};
use crate::store::record::{slice_extents, Extent, ObjectData};

pub(crate) enum SendError {
    /// A block of the object was gone before anything was sent: the object changed since
    /// the lookup, so the request should be answered again.
    Stale,
    /// The body could not start before anything was sent (descriptors exhausted, a failing
    /// disk, an upstream that does not answer): the request is answered with this S3 error.
    Refused(S3Error),
    Io(io::Error),
}

impl From<io::Error> for SendError {
    fn from(error: io::Error) -> Self {
        SendError::Io(error)
    }
}

/// Generated bodies of this size or more are written separately from their head.
const SEPARATE_BODY_BYTES_MIN: usize = 16 * 1024;

/// How a response goes out on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Delivery {
    /// Announce and keep the connection open for the next request.
    pub(crate) keep_alive: bool,
    /// A HEAD request: send the head only.
    pub(crate) head_only: bool,
    /// Prefix a `100 Continue` the client asked for and has not received.
    pub(crate) interim_continue: bool,
}

/// Sends `response`; `out` is the connection's reusable head buffer.
pub(crate) async fn send_response(
    connection: &mut Connection,
    context: &CoreContext,
    response: Response,
    request_id: &str,
    delivery: Delivery,
    out: &mut Vec<u8>,
) -> Result<(), SendError> {
    out.clear();
    if delivery.interim_continue {
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    response.write_head(out, request_id, delivery.keep_alive);
    match response.body {
        ResponseBody::Empty | ResponseBody::HeadOnly { .. } => {}
        ResponseBody::Bytes(bytes) => {
            if !delivery.head_only {
                if bytes.len() >= SEPARATE_BODY_BYTES_MIN {
                    // A large document (a listing page) goes in its own write rather than
                    // being copied behind the head (and growing the head buffer for good).
                    write_out(connection, out).await?;
                    let written = connection.write_all(bytes).await?;
                    crate::xml::recycle_document(written);
                    return Ok(());
                }
                out.extend_from_slice(&bytes);
            }
        }
        ResponseBody::Stored(StoredObject::Lake(slice)) => {
            return stream_pages(connection, context, out, slice).await;
        }
        ResponseBody::Stored(StoredObject::Local(ObjectSlice { record, offset, length })) => match &record.data {
            ObjectData::Inline(bytes) => {
                out.extend_from_slice(&bytes[offset as usize..(offset + length) as usize]);
            }
            ObjectData::Blocks(extents) => {
                return stream_blocks(connection, context, out, extents, offset, length).await;
            }
        },
    }
    write_out(connection, out).await
}

async fn write_out(connection: &mut Connection, out: &mut Vec<u8>) -> Result<(), SendError> {
    let bytes = std::mem::take(out);
    *out = connection.write_all(bytes).await?;
    Ok(())
}

/// The part of a file range sent in one decision: cached windows go out with `sendfile`,
/// cold ones through an io_uring read. Small enough that one cold page costs little copying.
const ZERO_COPY_WINDOW_BYTES: u64 = 4 * 1024 * 1024;

/// A response body on its way out: the head not yet sent, and the staging buffer of the
/// copying path (taken from the pool only when a window is copied).
struct Outgoing<'a> {
    connection: &'a mut Connection,
    services: &'a CoreServices,
    /// Response bytes not sent yet that precede the body (the head, at first).
    head: &'a mut Vec<u8>,
    staging: Option<Vec<u8>>,
    /// Held while copying cached data; `None` with a staging buffer: a cold range that had to
    /// be copied beyond the budget (sendfile would block the core on the disk).
    lease: Option<BufferLease>,
    sent_anything: bool,
}

impl Outgoing<'_> {
    /// Whether a copy of a cached window may start (or go on) within the copying budget.
    fn may_copy_cached(&mut self) -> bool {
        if self.lease.is_none() {
            self.lease = self.services.buffers.try_lease();
        }
        self.lease.is_some()
    }

    /// Sends `file[position..position + length]` with `sendfile`, the head first.
    async fn send_zero_copy(&mut self, fd: RawFd, position: u64, length: u64) -> Result<(), SendError> {
        self.flush_staging().await?;
        self.connection.note_write_start();
        zero_copy::send_file(self.connection.stream(), self.head, fd, position, length).await?;
        self.connection.note_sent(self.head.len() as u64 + length);
        self.head.clear();
        self.sent_anything = true;
        Ok(())
    }

    /// Copies `file[position..position + length]` through the staging buffer.
    async fn send_copied(&mut self, file: &File, mut position: u64, length: u64) -> Result<(), SendError> {
        let mut buffer = match self.staging.take() {
            Some(buffer) => buffer,
            None if self.may_copy_cached() => self.services.buffers.take(),
            // Every lease is taken and the range is cold (sendfile would wait on the disk on
            // this thread): a small buffer, so that memory grows by 64 KiB per such reader,
            // not by a full block buffer.
            None => Vec::with_capacity(SMALL_IO_BUFFER_BYTES),
        };
        if !self.head.is_empty() {
            buffer.extend_from_slice(self.head);
            self.head.clear();
        }
        let capacity = buffer.capacity();
        let mut remaining = length;
        while remaining > 0 {
            if buffer.len() == capacity {
                buffer = self.connection.write_all(buffer).await?;
                buffer.clear();
                self.sent_anything = true;
            }
            let want = (capacity - buffer.len()).min(remaining as usize);
            let start = buffer.len();
            let (result, slice) = file.read_at(buffer.slice_mut(start..start + want), position).await;
            buffer = slice.into_inner();
            let read = result?;
            if read == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "block shorter than its record").into());
            }
            position += read as u64;
            remaining -= read as u64;
        }
        self.staging = Some(buffer);
        Ok(())
    }

    /// Writes what the staging buffer holds (the copying path batches up to a buffer).
    async fn flush_staging(&mut self) -> Result<(), SendError> {
        let Some(buffer) = self.staging.take() else {
            return Ok(());
        };
        let mut buffer = if buffer.is_empty() { buffer } else { self.connection.write_all(buffer).await? };
        if !buffer.is_empty() {
            buffer.clear();
            self.sent_anything = true;
        }
        self.staging = Some(buffer);
        Ok(())
    }

    async fn finish(mut self) -> Result<(), SendError> {
        self.flush_staging().await?;
        if let Some(buffer) = self.staging.take() {
            self.services.buffers.give(buffer);
        }
        if !self.head.is_empty() {
            write_out(self.connection, self.head).await?;
        }
        Ok(())
    }
}

/// Streams `length` bytes of the object from `offset`, after the head already in `head`.
/// Bodies of at least `--sendfile-min-bytes` go out with `sendfile` where the page cache
/// holds them; the rest is copied through a pooled buffer with the head in its first write.
async fn stream_blocks(
    connection: &mut Connection,
    context: &CoreContext,
    head: &mut Vec<u8>,
    extents: &[Extent],
    offset: u64,
    length: u64,
) -> Result<(), SendError> {
    let services = &context.services;
    let sendfile_min_bytes = context.config.sendfile_min_bytes;
    let zero_copy_preferred = sendfile_min_bytes != 0 && length >= sendfile_min_bytes;
    let mut outgoing = Outgoing { connection, services, head, staging: None, lease: None, sent_anything: false };
    for piece in slice_extents(extents, offset, length) {
        let file = match services.blocks.open_block(piece.block).await {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound && !outgoing.sent_anything => {
                return Err(SendError::Stale)
            }
            Err(error) if !outgoing.sent_anything => {
                return Err(SendError::Refused(S3Error::from_io("opening a block to send", &error)))
            }
            Err(error) => return Err(error.into()),
        };
        let fd = file.as_raw_fd();
        let end = piece.offset + piece.length;
        let mut position = piece.offset;
        while position < end {
            let window = (end - position).min(ZERO_COPY_WINDOW_BYTES);
            // Copy by default (faster on loopback, see README, Performance); sendfile when
            // configured for this size, or when the copying budget is spent. Never sendfile
            // a cold range: it would read the disk on the core's thread.
            let cached = || zero_copy::page_cache_holds(fd, position, window);
            if (zero_copy_preferred || !outgoing.may_copy_cached()) && cached() {
                outgoing.send_zero_copy(fd, position, window).await?;
            } else {
                outgoing.send_copied(&file, position, window).await?;
            }
            position += window;
        }
        let _ = file.close().await;
    }
    outgoing.finish().await
}

/// Streams an upstream object's bytes from cache pages, after the head already in `head`:
/// page by page, each fetched by its owner core if missing, copied from its file. A version
/// that changed upstream before anything was sent makes the request start over (a fresh
/// lookup); after that, the connection is dropped: a client never gets a mix of versions.
async fn stream_pages(
    connection: &mut Connection,
    context: &CoreContext,
    head: &mut Vec<u8>,
    slice: LakeSlice,
) -> Result<(), SendError> {
    let services = &context.services;
    let Some(lake) = services.lake.as_deref() else {
        return Err(SendError::Refused(crate::s3_error!(InternalError, "no upstream store configured")));
    };
    let mut outgoing = Outgoing { connection, services, head, staging: None, lease: None, sent_anything: false };
    let end = slice.offset + slice.length;
    let mut position = slice.offset;
    while position < end {
        let index = position / CACHE_PAGE_BYTES;
        let within = position - index * CACHE_PAGE_BYTES;
        let (_, page_length) = slice.version.page_span(index, CACHE_PAGE_BYTES);
        let take = (page_length - within).min(end - position);
        let file = open_page(lake, &slice.version, index, outgoing.sent_anything).await?;
        outgoing.send_copied(&file, PAGE_DATA_OFFSET + within, take).await?;
        let _ = file.close().await;
        lake.pages.count_served(take);
        position += take;
    }
    outgoing.finish().await
}

/// How often a reader asks again for a page that vanished (evicted) or failed its checksum.
const PAGE_OPEN_ATTEMPTS: usize = 3;

/// Page `index` of `version`, open for reading: fetched by its owner core if missing, its data
/// checked first when it was found on disk at start.
async fn open_page(
    lake: &crate::s3::lake::Lake,
    version: &crate::cache::ObjectVersion,
    index: u64,
    sent_anything: bool,
) -> Result<File, SendError> {
    let failed = |error: S3Error| {
        if sent_anything {
            SendError::Io(io::Error::other(error.to_string()))
        } else {
            SendError::Refused(error)
        }
    };
    for _ in 0..PAGE_OPEN_ATTEMPTS {
        let page = match lake.pages.page(version, index).await {
            Ok(page) => page,
            Err(PageError::Fetch(FetchFailure::Changed)) => {
                // Another version upstream: what this core knows of the object is stale.
                lake.objects.forget(&version.bucket, &version.key);
                if sent_anything {
                    return Err(SendError::Io(io::Error::other("the object changed upstream during the read")));
                }
                return Err(SendError::Stale);
            }
            Err(PageError::Fetch(failure)) => {
                return Err(failed(crate::s3_error!(
                    ServiceUnavailable,
                    "reading from the upstream store: {failure:?}"
                )));
            }
            Err(PageError::OwnerGone) => {
                return Err(failed(crate::s3_error!(ServiceUnavailable, "the core that owns the page is not serving")));
            }
        };
        if !page.verified {
            let intact = read_page_data(&page.path, page.length_bytes, true).await.is_some();
            lake.pages.report(&page, intact).await;
            if !intact {
                continue;
            }
        }
        match File::open(&page.path).await {
            Ok(file) => return Ok(file),
            // Evicted between the lookup and the open: ask again (it is fetched anew).
            Err(error) if error.kind() == io::ErrorKind::NotFound => lake.pages.report(&page, false).await,
            Err(error) => return Err(failed(S3Error::from_io("opening a cache page", &error))),
        }
    }
    Err(failed(crate::s3_error!(ServiceUnavailable, "a cache page kept vanishing while being read")))
}
