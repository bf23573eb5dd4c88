//! One client connection: the socket plus a reusable read buffer. Every read and write has a
//! deadline, so a slow or silent client cannot hold a connection forever.

use std::io;
use std::time::{Duration, Instant};

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::limits::{CONNECTION_BUFFER_BYTES, WRITE_TIMEOUT_MS};

pub(crate) struct Connection {
    stream: TcpStream,
    /// Bytes read from the socket; `buffer[start..]` is not consumed yet.
    buffer: Vec<u8>,
    start: usize,
    /// Socket bytes received and sent since the owner last took them (`take_byte_counts`).
    received_bytes: u64,
    sent_bytes: u64,
    /// Whether the next write is the first byte of a response the owner times.
    first_byte_armed: bool,
    first_byte_at: Option<Instant>,
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "client too slow")
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Connection {
            stream,
            buffer: Vec::with_capacity(CONNECTION_BUFFER_BYTES),
            start: 0,
            received_bytes: 0,
            sent_bytes: 0,
            first_byte_armed: false,
            first_byte_at: None,
        }
    }

    /// Bytes received and sent since the last call (for the metrics and the access log).
    pub(crate) fn take_byte_counts(&mut self) -> (u64, u64) {
        let counts = (self.received_bytes, self.sent_bytes);
        self.received_bytes = 0;
        self.sent_bytes = 0;
        counts
    }

    /// Notes the time of the next write's start: the response's first byte.
    pub(crate) fn arm_first_byte(&mut self) {
        self.first_byte_armed = true;
        self.first_byte_at = None;
    }

    /// When the first write after `arm_first_byte` started, if one did.
    pub(crate) fn first_byte_at(&self) -> Option<Instant> {
        self.first_byte_at
    }

    /// A write is about to start (also called by the sendfile path, which writes to the
    /// stream directly), and `bytes` of it went out once it is done.
    pub(crate) fn note_write_start(&mut self) {
        if self.first_byte_armed {
            self.first_byte_armed = false;
            self.first_byte_at = Some(Instant::now());
        }
    }

    pub(crate) fn note_sent(&mut self, bytes: u64) {
        self.sent_bytes += bytes;
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
        if let Ok(read) = &result {
            self.received_bytes += *read as u64;
        }
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
        if let Ok(read) = &result {
            self.received_bytes += *read as u64;
        }
        result
    }

    /// Closes the sending side, then reads and discards what the client still sends, for at
    /// most `timeout_ms` (a "lingering close"): closing a socket with unread bytes sends a reset,
    /// which can destroy the answer before the client read it.
    pub(crate) async fn linger(&mut self, timeout_ms: u64) {
        use monoio::io::AsyncWriteRent;
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        loop {
            self.buffer.clear();
            self.start = 0;
            let left_ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
            if left_ms == 0 {
                return;
            }
            match self.read_more(left_ms, CONNECTION_BUFFER_BYTES).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Writes a whole buffer and hands it back for reuse. On an error or a time-out the
    /// buffer is gone (a cancelled write owns it) and the caller must drop the connection.
    pub(crate) async fn write_all<B: IoBuf + 'static>(&mut self, bytes: B) -> io::Result<B> {
        self.note_write_start();
        let length = bytes.bytes_init() as u64;
        let write = self.stream.write_all(bytes);
        match monoio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), write).await {
            Ok((Ok(_), bytes)) => {
                self.sent_bytes += length;
                Ok(bytes)
            }
            Ok((Err(error), _)) => Err(error),
            Err(_) => Err(timed_out()),
        }
    }
}
