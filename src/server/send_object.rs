//! Writing a response: head and small bodies in one write; object data streamed from block
//! files through a pooled buffer, the head riding in the same first write.

use std::io;

use monoio::buf::IoBufMut;

use crate::http::connection::Connection;
use crate::http::response::{Response, ResponseBody};
use crate::s3::CoreServices;
use crate::store::record::{slice_extents, Extent, ObjectData};

pub enum SendError {
    /// A block of the object was gone before anything was sent: the object changed since
    /// the lookup, so the request should be answered again.
    Stale,
    Io(io::Error),
}

impl From<io::Error> for SendError {
    fn from(error: io::Error) -> Self {
        SendError::Io(error)
    }
}

/// How a response goes out on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Delivery {
    /// Announce and keep the connection open for the next request.
    pub keep_alive: bool,
    /// A HEAD request: send the head only.
    pub head_only: bool,
    /// Prefix a `100 Continue` the client asked for and has not received.
    pub interim_continue: bool,
}

/// Sends `response`; `out` is the connection's reusable head buffer.
pub async fn send_response(
    connection: &mut Connection,
    services: &CoreServices,
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
                out.extend_from_slice(&bytes);
            }
        }
        ResponseBody::Object { record, offset, length } => match &record.data {
            ObjectData::Inline(bytes) => {
                out.extend_from_slice(&bytes[offset as usize..(offset + length) as usize]);
            }
            ObjectData::Blocks(extents) => {
                return stream_blocks(connection, services, out, extents, offset, length).await;
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

/// Streams `length` bytes of the object from `offset`, after the head already in `head`.
async fn stream_blocks(
    connection: &mut Connection,
    services: &CoreServices,
    head: &[u8],
    extents: &[Extent],
    offset: u64,
    length: u64,
) -> Result<(), SendError> {
    let mut buffer = services.buffers.take();
    let capacity = buffer.capacity();
    buffer.extend_from_slice(head);
    let mut sent_anything = false;
    for piece in slice_extents(extents, offset, length) {
        let file = match services.blocks.open_block(piece.block).await {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound && !sent_anything => return Err(SendError::Stale),
            Err(error) => return Err(error.into()),
        };
        let mut position = piece.offset;
        let mut remaining = piece.length;
        while remaining > 0 {
            if buffer.len() == capacity {
                buffer = connection.write_all(buffer).await?;
                buffer.clear();
                sent_anything = true;
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
        let _ = file.close().await;
    }
    if !buffer.is_empty() {
        buffer = connection.write_all(buffer).await?;
    }
    services.buffers.give(buffer);
    Ok(())
}
