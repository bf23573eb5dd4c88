//! One client connection: the socket plus a reusable read buffer. Every read and write has a
//! deadline, so a slow or silent client cannot hold a connection forever.

use std::io;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::limits::{CONNECTION_BUFFER_BYTES, WRITE_TIMEOUT_MS};

pub(crate) struct Connection {
    stream: TcpStream,
    /// Bytes read from the socket; `buffer[start..]` is not consumed yet.
    buffer: Vec<u8>,
    start: usize,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow")
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Connection { stream, buffer: Vec::with_capacity(CONNECTION_BUFFER_BYTES), start: 0 }
    }

    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Bytes received and not consumed yet.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    pub(crate) fn consume(&mut self, count: usize) {
        debug_assert!(self.start + count <= self.buffer.len());
        self.start += count;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        }
    }

    /// Reads more bytes after the unread ones, growing the buffer up to `capacity_max`.
    /// Returns 0 at end of stream or when the buffer is full at `capacity_max`.
    pub(crate) async fn read_more(&mut self, timeout_ms: u64, capacity_max: usize) -> io::Result<usize> {
        if self.start > 0 {
            self.buffer.copy_within(self.start.., 0);
            self.buffer.truncate(self.buffer.len() - self.start);
            self.start = 0;
        }
        if self.buffer.len() == self.buffer.capacity() {
            if self.buffer.len() >= capacity_max {
                return Ok(0);
            }
            let grow = (self.buffer.capacity()).min(capacity_max - self.buffer.len());
            self.buffer.reserve_exact(grow.max(1));
        }
        let buffer = std::mem::take(&mut self.buffer);
        let length = buffer.len();
        let capacity = buffer.capacity();
        let read = self.stream.read(buffer.slice_mut(length..capacity));
        let (result, slice) = match monoio::time::timeout(Duration::from_millis(timeout_ms), read).await {
            Ok(done) => done,
            Err(_) => return Err(timed_out()),
        };
        self.buffer = slice.into_inner();
        result
    }

    /// Reads up to `count` bytes straight from the socket into the spare capacity of `out`
    /// (no unread bytes may be buffered): the large-body path skips the connection buffer.
    pub(crate) async fn read_direct(&mut self, out: &mut Vec<u8>, count: usize, timeout_ms: u64) -> io::Result<usize> {
        debug_assert!(self.unread().is_empty());
        let target = std::mem::take(out);
        let length = target.len();
        let end = length + count.min(target.capacity() - length);
        let read = self.stream.read(SliceMut::new(target, length, end));
        let (result, slice) = match monoio::time::timeout(Duration::from_millis(timeout_ms), read).await {
            Ok(done) => done,
            Err(_) => return Err(timed_out()),
        };
        *out = slice.into_inner();
        result
    }

    /// Writes a whole buffer and hands it back for reuse. On an error or a time-out the
    /// buffer is gone (a cancelled write owns it) and the caller must drop the connection.
    pub(crate) async fn write_all<B: IoBuf + 'static>(&mut self, bytes: B) -> io::Result<B> {
        let write = self.stream.write_all(bytes);
        match monoio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), write).await {
            Ok((Ok(_), bytes)) => Ok(bytes),
            Ok((Err(error), _)) => Err(error),
            Err(_) => Err(timed_out()),
        }
    }
}
