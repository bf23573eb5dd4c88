//! Receiving an object body: stream it from the connection into a new block file (or keep it
//! inline when small), hashing in the same pass, verifying Content-MD5, and sealing the block
//! (fsync + directory fsync) before anyone may reference it. A failed or abandoned upload
//! removes its block: nothing partial is ever left behind or made visible.

use base64::Engine;
use monoio::fs::File;

use super::checksum::{requested_checksum, verify as verify_checksum, ChecksumHasher};
use super::{CoreServices, S3Request};
use crate::buffer_pool::{BufferLease, BufferPool};
use crate::encoding::hex;
use crate::error::S3Error;
use crate::hash::md5_batch::Md5Stream;
use crate::limits::{INLINE_OBJECT_BYTES_MAX, SMALL_IO_BUFFER_BYTES};
use crate::s3_error;
use crate::store::inline_budget::INLINE_BODIES;
use crate::store::record::{BlockId, Extent, ObjectData};

/// A body that is now durable (or inline) and can be referenced by a record.
pub(crate) struct ReceivedBody {
    pub(crate) data: ObjectData,
    pub(crate) size: u64,
    pub(crate) md5: [u8; 16],
    /// The verified additional checksum, when the client sent one: (header name, value).
    pub(crate) checksum: Option<(String, String)>,
}

impl ReceivedBody {
    pub(crate) fn md5_hex(&self) -> String {
        hex(&self.md5)
    }
}

/// The Content-MD5 header decoded (InvalidDigest when it is not 16 bytes of base64).
pub(crate) fn content_md5(request: &S3Request<'_>) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(value) = request.head.header("content-md5") else {
        return Ok(None);
    };
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| s3_error!(InvalidDigest))?;
    let digest: [u8; 16] = decoded.try_into().map_err(|_| s3_error!(InvalidDigest))?;
    Ok(Some(digest))
}

/// Hashes over the body: MD5 (the ETag), batched with the core's other uploads, and the
/// client's checksum, computed as the bytes arrive.
struct BodyDigests {
    md5: Md5Stream,
    checksum: Option<ChecksumHasher>,
}

impl BodyDigests {
    /// Hashes `bytes` now.
    fn update(&mut self, bytes: &[u8], pool: &BufferPool) {
        self.md5.update(bytes, pool);
        if let Some(checksum) = &mut self.checksum {
            checksum.update(bytes);
        }
    }

    /// Hands over a buffer already written to disk: the MD5 may hash it later, in a batch,
    /// and returns it to `pool` then.
    fn submit(&mut self, buffer: Vec<u8>, pool: &BufferPool) {
        if let Some(checksum) = &mut self.checksum {
            checksum.update(&buffer);
        }
        self.md5.submit(buffer, pool);
    }
}

/// An upload's staging buffer. It is one of the core's pooled 256 KiB buffers while the upload
/// holds one of the pool's leases, a small one otherwise, so that hundreds of concurrent
/// uploads on a core do not hold 256 KiB each (the lease budget bounds the large ones).
struct Staging {
    buffer: Vec<u8>,
    lease: Option<BufferLease>,
    capacity: usize,
}

impl Staging {
    fn new(services: &CoreServices) -> Self {
        let lease = services.buffers.try_lease();
        let capacity = if lease.is_some() { services.buffers.buffer_bytes() } else { SMALL_IO_BUFFER_BYTES };
        let mut staging = Staging { buffer: Vec::new(), lease, capacity };
        staging.buffer = staging.fresh(services);
        staging
    }

    fn fresh(&self, services: &CoreServices) -> Vec<u8> {
        if self.lease.is_some() {
            services.buffers.take()
        } else {
            Vec::with_capacity(SMALL_IO_BUFFER_BYTES)
        }
    }

    /// Reads body bytes until the buffer is full or the body ends; true at the end.
    async fn fill(&mut self, request: &mut S3Request<'_>) -> Result<bool, S3Error> {
        while self.buffer.len() < self.capacity {
            let room = self.capacity - self.buffer.len();
            if request.body.read_into(request.connection, &mut self.buffer, room).await? == 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The filled buffer, replaced by a fresh one.
    fn take_filled(&mut self, services: &CoreServices) -> Vec<u8> {
        let fresh = self.fresh(services);
        std::mem::replace(&mut self.buffer, fresh)
    }
}

/// What S3 requires of an upload's framing before anything else: a length (`Content-Length`,
/// or a transfer coding that frames the body: 411 MissingContentLength without either), and
/// no announced size beyond `size_max` (EntityTooLarge, before any resource is checked).
pub(crate) fn check_upload_length(request: &S3Request<'_>, size_max: u64) -> Result<(), S3Error> {
    if request.head.header("content-length").is_none() && request.head.header("transfer-encoding").is_none() {
        return Err(s3_error!(MissingContentLength));
    }
    if request.body.declared_length().is_some_and(|length| length > size_max) {
        return Err(s3_error!(EntityTooLarge));
    }
    Ok(())
}

/// Streams the request body into storage. `allow_inline`: small bodies may live in the record.
pub(crate) async fn receive_body(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    size_max: u64,
    allow_inline: bool,
) -> Result<ReceivedBody, S3Error> {
    check_upload_length(request, size_max)?;
    if !services.blocks.has_room_for(request.body.declared_length().unwrap_or(0)) {
        return Err(s3_error!(InsufficientStorage));
    }
    let checksum_request = if services.settings.verify_checksums { requested_checksum(request.head)? } else { None };
    let mut digests = BodyDigests {
        md5: Md5Stream::new(&services.md5),
        checksum: checksum_request.as_ref().map(|request| ChecksumHasher::new(request.algorithm)),
    };
    let mut body = receive_body_hashed(services, request, size_max, allow_inline, &mut digests).await?;
    if let (Some(wanted), Some(hasher)) = (checksum_request, digests.checksum) {
        let computed = hasher.finish_base64();
        if let Err(error) = verify_checksum(&wanted, &computed, &request.body.trailers()) {
            discard(services, &body.data).await;
            return Err(error);
        }
        body.checksum = Some((wanted.algorithm.header().to_string(), computed));
    }
    Ok(body)
}

async fn receive_body_hashed(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    size_max: u64,
    allow_inline: bool,
    hasher: &mut BodyDigests,
) -> Result<ReceivedBody, S3Error> {
    let expected_md5 = content_md5(request)?;
    // Read until the buffer is full or the body ends: small bodies never touch a file.
    let mut staging = Staging::new(services);
    let ended = staging.fill(request).await?;
    let staged = &staging.buffer;
    if ended && allow_inline && staged.len() <= INLINE_OBJECT_BYTES_MAX && INLINE_BODIES.has_room_for(staged.len()) {
        hasher.update(staged, &services.buffers);
        let md5 = hasher.md5.digest(&services.buffers);
        verify_md5(expected_md5, &md5)?;
        let data = ObjectData::Inline(INLINE_BODIES.copy(staged));
        let body = ReceivedBody { size: staged.len() as u64, data, md5, checksum: None };
        services.buffers.give(staging.buffer);
        return Ok(body);
    }
    let (block, file) = services.blocks.create().await.map_err(|error| S3Error::from_io("creating a block", &error))?;
    let written = stream_to_block(services, request, &file, staging, ended, size_max, hasher).await;
    // Seal (fsync) before taking the digest: while the flush runs, this core's other uploads
    // queue their buffers, so this stream's MD5 finds lanes to share. A body that then fails
    // its Content-MD5 only cost a wasted flush; its block is removed below.
    let result = match written {
        Ok(size) => match services.blocks.seal(&file).await {
            Ok(()) => {
                let md5 = hasher.md5.digest(&services.buffers);
                verify_md5(expected_md5, &md5).map(|()| (size, md5))
            }
            Err(error) => Err(S3Error::from_io("sealing a block", &error)),
        },
        Err(error) => Err(error),
    };
    let _ = file.close().await;
    match result {
        Ok((size, md5)) => Ok(ReceivedBody {
            data: ObjectData::Blocks(vec![Extent { block, offset: 0, length: size }]),
            size,
            md5,
            checksum: None,
        }),
        Err(error) => {
            services.blocks.remove(block).await;
            Err(error)
        }
    }
}

fn verify_md5(expected: Option<[u8; 16]>, actual: &[u8; 16]) -> Result<(), S3Error> {
    match expected {
        Some(expected) if expected != *actual => Err(s3_error!(BadDigest)),
        _ => Ok(()),
    }
}

/// Writes the staged bytes and the rest of the body to `file`; returns the total size.
async fn stream_to_block(
    services: &CoreServices,
    request: &mut S3Request<'_>,
    file: &File,
    mut staging: Staging,
    mut ended: bool,
    size_max: u64,
    hasher: &mut BodyDigests,
) -> Result<u64, S3Error> {
    let mut offset = 0u64;
    loop {
        let length = staging.buffer.len() as u64;
        if offset + length > size_max {
            return Err(s3_error!(EntityTooLarge));
        }
        if length > 0 {
            let (result, written) = file.write_all_at(staging.take_filled(services), offset).await;
            result.map_err(|error| S3Error::from_io("writing a block", &error))?;
            // Hashed after the write, from the same buffer, so the disk write never waits
            // for the hash; the MD5 batches it with the core's other uploads.
            hasher.submit(written, &services.buffers);
            offset += length;
        }
        if ended {
            break;
        }
        ended = staging.fill(request).await?;
    }
    services.buffers.give(staging.buffer);
    Ok(offset)
}

/// Removes blocks a failed commit would have referenced.
pub(crate) async fn discard(services: &CoreServices, data: &ObjectData) {
    let blocks: Vec<BlockId> = data.blocks().collect();
    for block in blocks {
        services.blocks.remove(block).await;
    }
}
