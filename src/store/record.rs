//! The metadata records the shards keep and journal: buckets and objects.
//!
//! Records are immutable once built and shared as `Arc`, so a lookup reply crosses cores by
//! bumping a count, and a reader keeps a consistent view of an object while a writer replaces it.

use std::sync::Arc;

use bytes::Bytes;

/// A block file: named by the core that wrote it and that core's sequence number, so cores
/// never coordinate on names. Block files are immutable once their object is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId {
    pub core: u16,
    pub sequence: u64,
}

/// A contiguous byte range of a block file that is part of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub block: BlockId,
    pub offset: u64,
    pub length: u64,
}

/// The parts of `extents` (in object order) that hold the object's bytes
/// `offset..offset + length`, each trimmed to that range.
pub(crate) fn slice_extents(extents: &[Extent], offset: u64, length: u64) -> impl Iterator<Item = Extent> + '_ {
    let end = offset + length;
    extents
        .iter()
        .scan(0u64, |extent_start, extent| {
            let start = *extent_start;
            *extent_start += extent.length;
            Some((start, extent))
        })
        .take_while(move |(start, _)| *start < end)
        .filter_map(move |(start, extent)| {
            let (from, to) = (offset.max(start), end.min(start + extent.length));
            (from < to).then(|| Extent {
                block: extent.block,
                offset: extent.offset + (from - start),
                length: to - from,
            })
        })
}

/// Where an object's bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectData {
    /// Small bodies live in the record itself (journal + memory).
    Inline(Bytes),
    /// Larger bodies: an ordered list of extents of block files.
    Blocks(Vec<Extent>),
}

impl ObjectData {
    /// The block files this data references (none for inline data).
    pub(crate) fn blocks(&self) -> impl Iterator<Item = BlockId> + '_ {
        let extents: &[Extent] = match self {
            ObjectData::Inline(_) => &[],
            ObjectData::Blocks(extents) => extents,
        };
        extents.iter().map(|extent| extent.block)
    }
}

/// A name/value pair of user metadata, standard headers or tags.
pub(crate) type Pair = (String, String);

/// One stored object version (there is no versioning: one per key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub size: u64,
    /// The ETag without quotes: hex MD5, or `hex-N` for multipart objects.
    pub etag: String,
    pub last_modified_ms: u64,
    pub content_type: Option<String>,
    /// Standard headers S3 stores and returns (content-encoding, cache-control, ...),
    /// names lower-case.
    pub stored_headers: Vec<Pair>,
    /// `x-amz-meta-*` names (lower-case, without the prefix) and values.
    pub user_metadata: Vec<Pair>,
    pub tags: Vec<Pair>,
    /// An additional checksum the client sent and we verified: (header name, base64 value).
    pub checksum: Option<Pair>,
    /// Sizes of the parts of a multipart object, in order (empty for a single-part object):
    /// GetObject/HeadObject `partNumber` address them.
    pub part_sizes: Vec<u64>,
    /// The multipart upload whose completion made this object: a CompleteMultipartUpload
    /// repeated with the same id and parts (a client retrying after a timeout) is answered
    /// again, as S3 does, for as long as this object is the key's current one. In memory only:
    /// the journal's CompleteUpload entry carries the id, and checkpoints write one for it.
    pub completed_upload: Option<String>,
    pub data: ObjectData,
}

pub(crate) type SharedRecord = Arc<ObjectRecord>;

/// A bucket's own metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BucketRecord {
    pub created_ms: u64,
    pub tags: Option<Vec<Pair>>,
}

/// Metadata an object gets at creation that an upload carries until completion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectAttributes {
    pub content_type: Option<String>,
    pub stored_headers: Vec<Pair>,
    pub user_metadata: Vec<Pair>,
    pub tags: Vec<Pair>,
    /// `x-amz-checksum-algorithm` of a multipart upload, as the checksum header name
    /// (e.g. `x-amz-checksum-crc32`), and whether the object checksum is `FULL_OBJECT`
    /// (otherwise `COMPOSITE`).
    pub checksum_algorithm: Option<String>,
    pub full_object_checksum: bool,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub size: u64,
    /// Hex MD5 of the part's bytes.
    pub etag: String,
    pub last_modified_ms: u64,
    /// The part's verified additional checksum: (header name, base64 value).
    pub checksum: Option<Pair>,
    /// Always block extents: parts become the completed object's extents without a copy.
    pub extents: Vec<Extent>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadRecord {
    pub key: String,
    pub initiated_ms: u64,
    pub attributes: ObjectAttributes,
    pub parts: std::collections::BTreeMap<u32, PartRecord>,
}

impl UploadRecord {
    pub(crate) fn blocks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.parts.values().flat_map(|part| part.extents.iter().map(|extent| extent.block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extent(sequence: u64, offset: u64, length: u64) -> Extent {
        Extent { block: BlockId { core: 0, sequence }, offset, length }
    }

    #[test]
    fn slicing_extents_trims_to_the_range() {
        let extents = [extent(1, 0, 10), extent(2, 5, 10), extent(3, 0, 10)];
        let all: Vec<Extent> = slice_extents(&extents, 0, 30).collect();
        assert_eq!(all, extents);
        let middle: Vec<Extent> = slice_extents(&extents, 8, 14).collect();
        assert_eq!(middle, [extent(1, 8, 2), extent(2, 5, 10), extent(3, 0, 2)]);
        let inside: Vec<Extent> = slice_extents(&extents, 12, 3).collect();
        assert_eq!(inside, [extent(2, 7, 3)]);
        assert_eq!(slice_extents(&extents, 30, 0).count(), 0);
    }
}
