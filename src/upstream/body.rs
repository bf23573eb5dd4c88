//! Request bodies the client streams out (`BodySource`) and response bodies it streams in
//! (`BodySink`). Buffers move by value, as in monoio: a source fills the buffer it is handed
//! and gives it back, so a PUT body can flow from a client connection to the upstream piece
//! by piece through one reused buffer.

use std::future::Future;
use std::io;

use bytes::Bytes;

use crate::sigv4::sha256_hex;

/// Where an upload's bytes come from.
pub trait BodySource {
    /// Exact length in bytes (the request's Content-Length). Yielding more or fewer bytes
    /// fails the request.
    fn length(&self) -> u64;

    /// Appends the next bytes to `buffer`, at most `max_bytes` (for which it has room), and
    /// gives it back with the count appended; `Ok(0)` only at the end. The client never asks
    /// past `length()`.
    fn fill(&mut self, buffer: Vec<u8>, max_bytes: usize) -> impl Future<Output = (io::Result<usize>, Vec<u8>)>;

    /// Starts again from the first byte for another attempt; `false` when the bytes cannot
    /// be produced twice (a client's upload flowing through), which makes a request that
    /// already sent some of its body not retryable.
    fn rewind(&mut self) -> bool {
        false
    }

    /// Hex SHA-256 of the whole body when known before sending: it is then signed as the
    /// payload hash. `None`: the request is signed `UNSIGNED-PAYLOAD`.
    fn sha256_hex(&self) -> Option<&str> {
        None
    }
}

/// A source lent to the client, so the caller keeps it (and what it counted) afterwards.
impl<T: BodySource> BodySource for &mut T {
    fn length(&self) -> u64 {
        (**self).length()
    }

    fn fill(&mut self, buffer: Vec<u8>, max_bytes: usize) -> impl Future<Output = (io::Result<usize>, Vec<u8>)> {
        (**self).fill(buffer, max_bytes)
    }

    fn rewind(&mut self) -> bool {
        (**self).rewind()
    }

    fn sha256_hex(&self) -> Option<&str> {
        (**self).sha256_hex()
    }
}

/// Where a GET's body goes, piece by piece.
pub trait BodySink {
    /// Takes the bytes of `buffer` and gives the buffer back for the next piece (cleared or
    /// not: the client clears it).
    fn write(&mut self, buffer: Vec<u8>) -> impl Future<Output = (io::Result<()>, Vec<u8>)>;
}

/// A body held in memory: replayable, and signed with its real hash (documents, small PUTs).
#[derive(Debug, Clone)]
pub struct InMemoryBody {
    bytes: Bytes,
    position: usize,
    sha256: String,
}

impl InMemoryBody {
    pub fn new(bytes: impl Into<Bytes>) -> InMemoryBody {
        let bytes = bytes.into();
        let sha256 = sha256_hex(&bytes);
        InMemoryBody { bytes, position: 0, sha256 }
    }

    pub fn empty() -> InMemoryBody {
        InMemoryBody::new(Bytes::new())
    }
}

impl BodySource for InMemoryBody {
    fn length(&self) -> u64 {
        self.bytes.len() as u64
    }

    async fn fill(&mut self, mut buffer: Vec<u8>, max_bytes: usize) -> (io::Result<usize>, Vec<u8>) {
        let take = max_bytes.min(self.bytes.len() - self.position);
        buffer.extend_from_slice(&self.bytes[self.position..self.position + take]);
        self.position += take;
        (Ok(take), buffer)
    }

    fn rewind(&mut self) -> bool {
        self.position = 0;
        true
    }

    fn sha256_hex(&self) -> Option<&str> {
        Some(&self.sha256)
    }
}

/// Collects a body in memory (documents, tests).
impl BodySink for Vec<u8> {
    async fn write(&mut self, buffer: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.extend_from_slice(&buffer);
        (Ok(()), buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_bodies_fill_to_capacity_and_replay() {
        monoio::start::<monoio::LegacyDriver, _>(async {
            let mut body = InMemoryBody::new(b"hello world".to_vec());
            assert_eq!(body.length(), 11);
            assert_eq!(body.sha256_hex(), Some(sha256_hex(b"hello world").as_str()));
            let (read, buffer) = body.fill(Vec::with_capacity(100), 4).await;
            assert_eq!((read.unwrap(), buffer.as_slice()), (4, &b"hell"[..]));
            let (read, buffer) = body.fill(Vec::with_capacity(100), 100).await;
            assert_eq!((read.unwrap(), buffer.as_slice()), (7, &b"o world"[..]));
            let (read, _) = body.fill(Vec::with_capacity(100), 100).await;
            assert_eq!(read.unwrap(), 0);
            assert!(body.rewind());
            let (read, buffer) = body.fill(Vec::with_capacity(100), 100).await;
            assert_eq!((read.unwrap(), buffer.as_slice()), (11, &b"hello world"[..]));
        });
    }
}
