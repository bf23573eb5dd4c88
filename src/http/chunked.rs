//! A streaming decoder for chunk framing: HTTP/1.1 `Transfer-Encoding: chunked` and the
//! `aws-chunked` content encoding share it (`size[;extensions]\r\n data \r\n ... 0\r\n
//! trailers \r\n`). The decoder is a pure state machine over arbitrary splits of its input:
//! it never buffers body data, only the current size line and the trailer section, both
//! bounded.

use crate::limits::{CHUNK_LINE_BYTES_MAX, CHUNK_TRAILER_BYTES_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// A size line that is not hex, too long, or not CRLF-terminated.
    BadSizeLine,
    /// Chunk data not followed by CRLF.
    MissingDataTerminator,
    /// Trailer section too large or malformed.
    BadTrailer,
}

/// What the decoder found in its input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkEvent<'a> {
    /// A size line was read: a chunk of `size` bytes follows (0: the last chunk).
    Start { size: u64, extensions: &'a str },
    /// A piece of chunk data.
    Data(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    #[default]
    SizeLine,
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    Trailer,
    Done,
}

/// The decoder's state; extensions of the last size line (e.g. `chunk-signature=...`) are kept
/// for signature checks.
#[derive(Debug, Default, Clone)]
pub struct ChunkDecoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
    /// Trailer fields (`name: value`), names lower-case.
    pub trailers: Vec<(String, String)>,
    /// Extensions of the most recent size line, for signature checks.
    pub last_extensions: String,
    pub decoded_bytes: u64,
}

impl ChunkDecoder {
    pub fn new() -> Self {
        ChunkDecoder::default()
    }

    /// True once the terminating chunk and trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes from `input`, handing each piece of chunk data to `sink`. Returns how many bytes
    /// of input were consumed: all of it, unless the body ended inside `input` (the rest is
    /// the next request).
    pub fn decode(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> Result<usize, ChunkError> {
        self.decode_events(input, &mut |event| {
            if let ChunkEvent::Data(data) = event {
                sink(data);
            }
        })
    }

    /// Like `decode`, and also reports the start of every chunk (with its size and size-line
    /// extensions), which chunk-signature verification needs.
    pub(crate) fn decode_events(
        &mut self,
        input: &[u8],
        sink: &mut dyn FnMut(ChunkEvent<'_>),
    ) -> Result<usize, ChunkError> {
        let mut position = 0;
        while position < input.len() {
            match self.state {
                State::Done => break,
                State::SizeLine => {
                    position += self.read_size_line(&input[position..])?;
                    match self.state {
                        State::Data { remaining } => {
                            sink(ChunkEvent::Start { size: remaining, extensions: &self.last_extensions })
                        }
                        State::Trailer => sink(ChunkEvent::Start { size: 0, extensions: &self.last_extensions }),
                        _ => {}
                    }
                }
                State::Data { remaining } => {
                    let available = (input.len() - position) as u64;
                    let take = remaining.min(available) as usize;
                    sink(ChunkEvent::Data(&input[position..position + take]));
                    self.decoded_bytes += take as u64;
                    position += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 { State::DataCr } else { State::Data { remaining } };
                }
                State::DataCr => {
                    if input[position] != b'\r' {
                        return Err(ChunkError::MissingDataTerminator);
                    }
                    position += 1;
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if input[position] != b'\n' {
                        return Err(ChunkError::MissingDataTerminator);
                    }
                    position += 1;
                    self.state = State::SizeLine;
                }
                State::Trailer => position += self.read_trailer(&input[position..])?,
            }
        }
        Ok(position)
    }

    /// Accumulates a size line; returns bytes consumed.
    fn read_size_line(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let Some(end) = input.iter().position(|&byte| byte == b'\n') else {
            self.line.extend_from_slice(input);
            if self.line.len() > CHUNK_LINE_BYTES_MAX {
                return Err(ChunkError::BadSizeLine);
            }
            return Ok(input.len());
        };
        self.line.extend_from_slice(&input[..end]);
        if self.line.len() > CHUNK_LINE_BYTES_MAX || self.line.pop() != Some(b'\r') {
            return Err(ChunkError::BadSizeLine);
        }
        let line = std::str::from_utf8(&self.line).map_err(|_| ChunkError::BadSizeLine)?;
        let (size, extensions) = line.split_once(';').unwrap_or((line, ""));
        let size = size.trim_end_matches([' ', '\t']);
        if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChunkError::BadSizeLine);
        }
        let size = u64::from_str_radix(size, 16).map_err(|_| ChunkError::BadSizeLine)?;
        self.last_extensions.clear();
        self.last_extensions.push_str(extensions);
        self.line.clear();
        self.state = if size == 0 { State::Trailer } else { State::Data { remaining: size } };
        Ok(end + 1)
    }

    /// Accumulates trailer lines until the empty line; returns bytes consumed.
    fn read_trailer(&mut self, input: &[u8]) -> Result<usize, ChunkError> {
        let Some(end) = input.iter().position(|&byte| byte == b'\n') else {
            self.line.extend_from_slice(input);
            self.trailer_bytes += input.len();
            if self.trailer_bytes > CHUNK_TRAILER_BYTES_MAX {
                return Err(ChunkError::BadTrailer);
            }
            return Ok(input.len());
        };
        self.line.extend_from_slice(&input[..end]);
        self.trailer_bytes += end + 1;
        if self.trailer_bytes > CHUNK_TRAILER_BYTES_MAX || self.line.pop() != Some(b'\r') {
            return Err(ChunkError::BadTrailer);
        }
        if self.line.is_empty() {
            self.state = State::Done;
        } else {
            let line = std::str::from_utf8(&self.line).map_err(|_| ChunkError::BadTrailer)?;
            let (name, value) = line.split_once(':').ok_or(ChunkError::BadTrailer)?;
            self.trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            self.line.clear();
        }
        Ok(end + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], split: usize) -> Result<(Vec<u8>, usize, ChunkDecoder), ChunkError> {
        let mut decoder = ChunkDecoder::new();
        let mut out = Vec::new();
        let mut consumed = 0;
        for piece in input.chunks(split.max(1)) {
            let used = decoder.decode(piece, &mut |data| out.extend_from_slice(data))?;
            consumed += used;
            if used < piece.len() {
                break;
            }
        }
        Ok((out, consumed, decoder))
    }

    #[test]
    fn decodes_across_every_split() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\nNEXT";
        for split in 1..body.len() {
            let (out, consumed, decoder) = decode_all(body, split).unwrap();
            assert_eq!(out, b"hello, world", "split {split}");
            assert!(decoder.is_done());
            assert_eq!(&body[consumed..], b"NEXT", "split {split}");
        }
    }

    #[test]
    fn aws_chunked_with_signatures_and_trailers() {
        let body = b"3;chunk-signature=abc\r\nxyz\r\n0;chunk-signature=def\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        let (out, consumed, decoder) = decode_all(body, 4).unwrap();
        assert_eq!(out, b"xyz");
        assert_eq!(consumed, body.len());
        assert_eq!(decoder.trailers, vec![("x-amz-checksum-crc32".to_string(), "AAAA".to_string())]);
        assert_eq!(decoder.last_extensions, "chunk-signature=def");
    }

    #[test]
    fn malformed_framing_is_refused() {
        assert_eq!(decode_all(b"zz\r\n", 100).err(), Some(ChunkError::BadSizeLine));
        assert_eq!(decode_all(b"3\r\nabcX", 100).err(), Some(ChunkError::MissingDataTerminator));
        assert_eq!(decode_all(b"3\nabc\r\n", 100).err(), Some(ChunkError::BadSizeLine));
        assert_eq!(decode_all(b"11111111111111111\r\n", 100).err(), Some(ChunkError::BadSizeLine));
        let long = vec![b'1'; CHUNK_LINE_BYTES_MAX + 2];
        assert_eq!(decode_all(&long, 7).err(), Some(ChunkError::BadSizeLine));
        assert_eq!(decode_all(b"0\r\nno-colon\r\n\r\n", 100).err(), Some(ChunkError::BadTrailer));
    }
}
