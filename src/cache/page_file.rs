//! One cached page on disk: a header naming exactly what the page is (bucket, key, the
//! upstream's ETag, the object's size, the page's index and length) with a CRC-32C of the
//! data and of the header itself, then the data at `PAGE_DATA_OFFSET`.
//!
//! Durability is not needed (the upstream is the source of truth: a page that did not reach
//! the disk is fetched again), integrity is: a page is written under a temporary name and
//! renamed, so a crash leaves a whole file or none; after a restart a page is served only
//! once its data matched its checksum (`read_page` checks every read). A page can never
//! belong to another version of its object: the ETag is part of its name and its header.

use crate::store::codec::{CodecError, Decoder, Encoder};

/// Where a page's data starts in its file: the header is padded to one filesystem block.
pub(crate) const PAGE_DATA_OFFSET: u64 = 4096;
/// Identifies a page file (and its format version).
const PAGE_MAGIC: &[u8; 8] = b"S3CPAGE1";

/// What a page file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageHeader {
    pub(crate) bucket: String,
    pub(crate) key: String,
    /// The upstream's ETag of the object version, without quotes.
    pub(crate) etag: String,
    pub(crate) object_bytes: u64,
    pub(crate) index: u64,
    pub(crate) length_bytes: u64,
    /// CRC-32C of the page's data.
    pub(crate) data_crc32c: u32,
}

impl PageHeader {
    /// The header block: magic, fields, CRC-32C of everything before it, zero padding.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = PAGE_MAGIC.to_vec();
        let mut encoder = Encoder::new(&mut out);
        encoder.str(&self.bucket);
        encoder.str(&self.key);
        encoder.str(&self.etag);
        encoder.u64(self.object_bytes);
        encoder.u64(self.index);
        encoder.u64(self.length_bytes);
        encoder.u32(self.data_crc32c);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        assert!(out.len() as u64 <= PAGE_DATA_OFFSET, "a page header fits its block (keys are at most 1 KiB)");
        out.resize(PAGE_DATA_OFFSET as usize, 0);
        out
    }

    /// Reads a header block; anything damaged or foreign is an error, never a panic.
    pub(crate) fn decode(block: &[u8]) -> Result<PageHeader, CodecError> {
        let body = block.strip_prefix(PAGE_MAGIC.as_slice()).ok_or(CodecError("not a page file"))?;
        let mut decoder = Decoder::new(body);
        let header = PageHeader {
            bucket: decoder.string()?,
            key: decoder.string()?,
            etag: decoder.string()?,
            object_bytes: decoder.u64()?,
            index: decoder.u64()?,
            length_bytes: decoder.u64()?,
            data_crc32c: decoder.u32()?,
        };
        let consumed = block.len() - decoder.remaining_bytes();
        let stored = decoder.u32()?;
        if crc32c::crc32c(&block[..consumed]) != stored {
            return Err(CodecError("page header checksum"));
        }
        Ok(header)
    }

    /// Whether `data` is this page's data.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        data.len() as u64 == self.length_bytes && crc32c::crc32c(data) == self.data_crc32c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data: &[u8]) -> PageHeader {
        PageHeader {
            bucket: "lake".into(),
            key: "t/dt=2026-12-03/part-0.parquet".into(),
            etag: "9b2cf535f27731c974343645a3985328".into(),
            object_bytes: 3 << 20,
            index: 2,
            length_bytes: data.len() as u64,
            data_crc32c: crc32c::crc32c(data),
        }
    }

    #[test]
    fn a_header_round_trips_and_names_its_data() {
        let data = vec![7u8; 1000];
        let page = header(&data);
        let block = page.encode();
        assert_eq!(block.len() as u64, PAGE_DATA_OFFSET);
        assert_eq!(PageHeader::decode(&block).unwrap(), page);
        assert!(page.matches(&data));
        let mut other = data.clone();
        other[999] = 8;
        assert!(!page.matches(&other), "a changed byte");
        assert!(!page.matches(&data[..999]), "a short page");
    }

    #[test]
    fn damaged_or_foreign_headers_are_refused() {
        let block = header(b"x").encode();
        for at in [0, 9, 20, 60] {
            let mut damaged = block.clone();
            damaged[at] ^= 0x40;
            assert!(PageHeader::decode(&damaged).is_err(), "flip at {at}");
        }
        assert!(PageHeader::decode(&block[..30]).is_err(), "cut short");
        assert!(PageHeader::decode(b"").is_err());
        assert!(PageHeader::decode(&[0u8; 4096]).is_err());
    }
}
