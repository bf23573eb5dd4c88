//! The entries of a shard's metadata journal and their binary form.
//!
//! Each entry is self-contained (bucket and key by name), so a checkpoint is just the set of
//! entries that rebuild the current state, written as a fresh journal.

use std::sync::Arc;

use super::codec::{CodecError, Decoder, Encoder};
use super::record::{BlockId, Extent, ObjectAttributes, ObjectData, ObjectRecord, Pair, PartRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalEntry {
    CreateBucket {
        bucket: String,
        created_ms: u64,
    },
    DeleteBucket {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
        record: Arc<ObjectRecord>,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    SetBucketTags {
        bucket: String,
        tags: Option<Vec<Pair>>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        upload_id: String,
        initiated_ms: u64,
        attributes: ObjectAttributes,
    },
    PutPart {
        bucket: String,
        upload_id: String,
        part_number: u32,
        part: PartRecord,
    },
    /// Completes an upload: the upload disappears and `record` is stored under its key.
    CompleteUpload {
        bucket: String,
        upload_id: String,
        key: String,
        record: Arc<ObjectRecord>,
    },
    AbortUpload {
        bucket: String,
        upload_id: String,
    },
    /// Ends a group-commit batch that began at byte `start` of the journal. A damaged entry
    /// followed by the end of a *later* batch is corruption, not a torn tail: later batches
    /// are written only after earlier ones are durable.
    BatchEnd {
        start: u64,
    },
}

const CREATE_BUCKET: u8 = 1;
const DELETE_BUCKET: u8 = 2;
const PUT_OBJECT: u8 = 3;
const DELETE_OBJECT: u8 = 4;
const SET_BUCKET_TAGS: u8 = 5;
const CREATE_UPLOAD: u8 = 6;
const PUT_PART: u8 = 7;
const COMPLETE_UPLOAD: u8 = 8;
const ABORT_UPLOAD: u8 = 9;
const BATCH_END: u8 = 10;
/// Payload size of a BatchEnd entry (tag + u64), which replay scans for.
pub(crate) const BATCH_END_PAYLOAD_BYTES: usize = 9;

const DATA_INLINE: u8 = 0;
const DATA_BLOCKS: u8 = 1;

impl JournalEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut encoder = Encoder::new(out);
        match self {
            JournalEntry::CreateBucket { bucket, created_ms } => {
                encoder.u8(CREATE_BUCKET);
                encoder.str(bucket);
                encoder.u64(*created_ms);
            }
            JournalEntry::DeleteBucket { bucket } => {
                encoder.u8(DELETE_BUCKET);
                encoder.str(bucket);
            }
            JournalEntry::PutObject { bucket, key, record } => {
                encoder.u8(PUT_OBJECT);
                encoder.str(bucket);
                encoder.str(key);
                encode_record(&mut encoder, record);
            }
            JournalEntry::DeleteObject { bucket, key } => {
                encoder.u8(DELETE_OBJECT);
                encoder.str(bucket);
                encoder.str(key);
            }
            JournalEntry::SetBucketTags { bucket, tags } => {
                encoder.u8(SET_BUCKET_TAGS);
                encoder.str(bucket);
                match tags {
                    None => encoder.u8(0),
                    Some(tags) => {
                        encoder.u8(1);
                        encoder.pairs(tags);
                    }
                }
            }
            JournalEntry::CreateUpload { bucket, key, upload_id, initiated_ms, attributes } => {
                encoder.u8(CREATE_UPLOAD);
                encoder.str(bucket);
                encoder.str(key);
                encoder.str(upload_id);
                encoder.u64(*initiated_ms);
                encoder.option_str(attributes.content_type.as_deref());
                encoder.pairs(&attributes.stored_headers);
                encoder.pairs(&attributes.user_metadata);
                encoder.pairs(&attributes.tags);
                encoder.option_str(attributes.checksum_algorithm.as_deref());
                encoder.u8(u8::from(attributes.full_object_checksum));
            }
            JournalEntry::PutPart { bucket, upload_id, part_number, part } => {
                encoder.u8(PUT_PART);
                encoder.str(bucket);
                encoder.str(upload_id);
                encoder.u32(*part_number);
                encoder.u64(part.size);
                encoder.str(&part.etag);
                encoder.u64(part.last_modified_ms);
                encode_checksum(&mut encoder, part.checksum.as_ref());
                encode_extents(&mut encoder, &part.extents);
            }
            JournalEntry::CompleteUpload { bucket, upload_id, key, record } => {
                encoder.u8(COMPLETE_UPLOAD);
                encoder.str(bucket);
                encoder.str(upload_id);
                encoder.str(key);
                encode_record(&mut encoder, record);
            }
            JournalEntry::AbortUpload { bucket, upload_id } => {
                encoder.u8(ABORT_UPLOAD);
                encoder.str(bucket);
                encoder.str(upload_id);
            }
            JournalEntry::BatchEnd { start } => {
                encoder.u8(BATCH_END);
                encoder.u64(*start);
            }
        }
    }

    pub fn decode(payload: &[u8]) -> Result<JournalEntry, CodecError> {
        let mut decoder = Decoder::new(payload);
        let entry = match decoder.u8()? {
            CREATE_BUCKET => JournalEntry::CreateBucket { bucket: decoder.string()?, created_ms: decoder.u64()? },
            DELETE_BUCKET => JournalEntry::DeleteBucket { bucket: decoder.string()? },
            PUT_OBJECT => JournalEntry::PutObject {
                bucket: decoder.string()?,
                key: decoder.string()?,
                record: Arc::new(decode_record(&mut decoder)?),
            },
            DELETE_OBJECT => JournalEntry::DeleteObject { bucket: decoder.string()?, key: decoder.string()? },
            SET_BUCKET_TAGS => {
                let bucket = decoder.string()?;
                let tags = match decoder.u8()? {
                    0 => None,
                    1 => Some(decoder.pairs()?),
                    _ => return Err(CodecError("bad tag-set flag")),
                };
                JournalEntry::SetBucketTags { bucket, tags }
            }
            CREATE_UPLOAD => JournalEntry::CreateUpload {
                bucket: decoder.string()?,
                key: decoder.string()?,
                upload_id: decoder.string()?,
                initiated_ms: decoder.u64()?,
                attributes: ObjectAttributes {
                    content_type: decoder.option_string()?,
                    stored_headers: decoder.pairs()?,
                    user_metadata: decoder.pairs()?,
                    tags: decoder.pairs()?,
                    checksum_algorithm: decoder.option_string()?,
                    full_object_checksum: match decoder.u8()? {
                        0 => false,
                        1 => true,
                        _ => return Err(CodecError("bad checksum type flag")),
                    },
                },
            },
            PUT_PART => {
                let bucket = decoder.string()?;
                let upload_id = decoder.string()?;
                let part_number = decoder.u32()?;
                let size = decoder.u64()?;
                let etag = decoder.string()?;
                let last_modified_ms = decoder.u64()?;
                let checksum = decode_checksum(&mut decoder)?;
                let extents = decode_extents(&mut decoder)?;
                if extents_length(&extents) != Some(size) {
                    return Err(CodecError("part size does not match its extents"));
                }
                JournalEntry::PutPart {
                    bucket,
                    upload_id,
                    part_number,
                    part: PartRecord { size, etag, last_modified_ms, checksum, extents },
                }
            }
            COMPLETE_UPLOAD => {
                let bucket = decoder.string()?;
                let upload_id = decoder.string()?;
                let key = decoder.string()?;
                let record = ObjectRecord { completed_upload: Some(upload_id.clone()), ..decode_record(&mut decoder)? };
                JournalEntry::CompleteUpload { bucket, upload_id, key, record: Arc::new(record) }
            }
            ABORT_UPLOAD => JournalEntry::AbortUpload { bucket: decoder.string()?, upload_id: decoder.string()? },
            BATCH_END => JournalEntry::BatchEnd { start: decoder.u64()? },
            _ => return Err(CodecError("unknown entry type")),
        };
        if !decoder.is_empty() {
            return Err(CodecError("trailing bytes after entry"));
        }
        Ok(entry)
    }
}

fn encode_record(encoder: &mut Encoder<'_>, record: &ObjectRecord) {
    // Decoding refuses a record whose data disagrees with its size; never write one.
    let stored = match &record.data {
        ObjectData::Inline(bytes) => Some(bytes.len() as u64),
        ObjectData::Blocks(extents) => extents_length(extents),
    };
    assert_eq!(stored, Some(record.size), "a record's data must hold exactly its size");
    if !record.part_sizes.is_empty() {
        let total = record.part_sizes.iter().try_fold(0u64, |total, part| total.checked_add(*part));
        assert_eq!(total, Some(record.size), "part sizes must add up to the size");
    }
    encoder.u64(record.size);
    encoder.str(&record.etag);
    encoder.u64(record.last_modified_ms);
    encoder.option_str(record.content_type.as_deref());
    encoder.pairs(&record.stored_headers);
    encoder.pairs(&record.user_metadata);
    encoder.pairs(&record.tags);
    encode_checksum(encoder, record.checksum.as_ref());
    encoder.u32(record.part_sizes.len() as u32);
    for size in &record.part_sizes {
        encoder.u64(*size);
    }
    match &record.data {
        ObjectData::Inline(bytes) => {
            encoder.u8(DATA_INLINE);
            encoder.bytes(bytes);
        }
        ObjectData::Blocks(extents) => {
            encoder.u8(DATA_BLOCKS);
            encode_extents(encoder, extents);
        }
    }
}

/// The total length of `extents`; `None` when it does not fit in 64 bits (a corrupt entry).
fn extents_length(extents: &[Extent]) -> Option<u64> {
    extents.iter().try_fold(0u64, |total, extent| total.checked_add(extent.length))
}

fn encode_checksum(encoder: &mut Encoder<'_>, checksum: Option<&Pair>) {
    match checksum {
        None => encoder.u8(0),
        Some((algorithm, value)) => {
            encoder.u8(1);
            encoder.str(algorithm);
            encoder.str(value);
        }
    }
}

fn decode_checksum(decoder: &mut Decoder<'_>) -> Result<Option<Pair>, CodecError> {
    match decoder.u8()? {
        0 => Ok(None),
        1 => Ok(Some((decoder.string()?, decoder.string()?))),
        _ => Err(CodecError("bad checksum flag")),
    }
}

fn encode_extents(encoder: &mut Encoder<'_>, extents: &[Extent]) {
    encoder.u32(extents.len() as u32);
    for extent in extents {
        encoder.u16(extent.block.core);
        encoder.u64(extent.block.sequence);
        encoder.u64(extent.offset);
        encoder.u64(extent.length);
    }
}

fn decode_extents(decoder: &mut Decoder<'_>) -> Result<Vec<Extent>, CodecError> {
    let count = decoder.u32()? as usize;
    let mut extents = Vec::with_capacity(count.min(10_000));
    for _ in 0..count {
        extents.push(Extent {
            block: BlockId { core: decoder.u16()?, sequence: decoder.u64()? },
            offset: decoder.u64()?,
            length: decoder.u64()?,
        });
    }
    Ok(extents)
}

fn decode_record(decoder: &mut Decoder<'_>) -> Result<ObjectRecord, CodecError> {
    let size = decoder.u64()?;
    let etag = decoder.string()?;
    let last_modified_ms = decoder.u64()?;
    let content_type = decoder.option_string()?;
    let stored_headers = decoder.pairs()?;
    let user_metadata = decoder.pairs()?;
    let tags = decoder.pairs()?;
    let checksum = decode_checksum(decoder)?;
    let part_count = decoder.u32()? as usize;
    let mut part_sizes = Vec::with_capacity(part_count.min(crate::limits::PART_NUMBER_MAX as usize));
    for _ in 0..part_count {
        part_sizes.push(decoder.u64()?);
    }
    let data = match decoder.u8()? {
        DATA_INLINE => ObjectData::Inline(decoder.inline_body()?),
        DATA_BLOCKS => ObjectData::Blocks(decode_extents(decoder)?),
        _ => return Err(CodecError("bad data tag")),
    };
    let stored: u64 = match &data {
        ObjectData::Inline(bytes) => bytes.len() as u64,
        ObjectData::Blocks(extents) => extents_length(extents).ok_or(CodecError("extent lengths overflow"))?,
    };
    if stored != size {
        return Err(CodecError("object size does not match its data"));
    }
    let parts_total = part_sizes.iter().try_fold(0u64, |total, part| total.checked_add(*part));
    if !part_sizes.is_empty() && parts_total != Some(size) {
        return Err(CodecError("part sizes do not add up to the object size"));
    }
    Ok(ObjectRecord {
        size,
        etag,
        last_modified_ms,
        content_type,
        stored_headers,
        user_metadata,
        tags,
        checksum,
        part_sizes,
        completed_upload: None,
        data,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn sample_record(data: ObjectData, size: u64) -> Arc<ObjectRecord> {
        Arc::new(ObjectRecord {
            size,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            last_modified_ms: 1_700_000_000_123,
            content_type: Some("text/plain".into()),
            stored_headers: vec![("cache-control".into(), "no-cache".into())],
            user_metadata: vec![("owner".into(), "me".into())],
            tags: vec![("k".into(), "v".into())],
            checksum: Some(("x-amz-checksum-crc32".into(), "AAAAAA==".into())),
            // Parts that add up to the size, as a completion's do.
            part_sizes: vec![size / 2, size - size / 2],
            completed_upload: None,
            data,
        })
    }

    #[test]
    fn every_entry_round_trips() {
        let blocks =
            ObjectData::Blocks(vec![Extent { block: BlockId { core: 1, sequence: 42 }, offset: 0, length: 10 }]);
        let entries = [
            JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 5 },
            JournalEntry::DeleteBucket { bucket: "b".into() },
            JournalEntry::PutObject {
                bucket: "b".into(),
                key: "a/é".into(),
                record: sample_record(ObjectData::Inline(Bytes::from_static(b"hi")), 2),
            },
            JournalEntry::PutObject { bucket: "b".into(), key: "k".into(), record: sample_record(blocks, 10) },
            JournalEntry::DeleteObject { bucket: "b".into(), key: "k".into() },
            JournalEntry::SetBucketTags { bucket: "b".into(), tags: Some(vec![("a".into(), "b".into())]) },
            JournalEntry::SetBucketTags { bucket: "b".into(), tags: None },
            JournalEntry::CreateUpload {
                bucket: "b".into(),
                key: "k".into(),
                upload_id: "u".into(),
                initiated_ms: 9,
                attributes: ObjectAttributes {
                    content_type: Some("t".into()),
                    stored_headers: vec![],
                    user_metadata: vec![("m".into(), "v".into())],
                    tags: vec![("t".into(), "1".into())],
                    checksum_algorithm: Some("x-amz-checksum-crc32c".into()),
                    full_object_checksum: true,
                },
            },
            JournalEntry::PutPart {
                bucket: "b".into(),
                upload_id: "u".into(),
                part_number: 3,
                part: PartRecord {
                    size: 10,
                    etag: "e".into(),
                    last_modified_ms: 4,
                    checksum: Some(("x-amz-checksum-sha1".into(), "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=".into())),
                    extents: vec![Extent { block: BlockId { core: 0, sequence: 1 }, offset: 0, length: 10 }],
                },
            },
            JournalEntry::CompleteUpload {
                bucket: "b".into(),
                upload_id: "u".into(),
                key: "k".into(),
                // A completion's record knows the upload that made it (decoded from the entry).
                record: Arc::new(ObjectRecord {
                    completed_upload: Some("u".into()),
                    ..(*sample_record(ObjectData::Inline(Bytes::from_static(b"x")), 1)).clone()
                }),
            },
            JournalEntry::AbortUpload { bucket: "b".into(), upload_id: "u".into() },
            JournalEntry::BatchEnd { start: 42 },
        ];
        for entry in entries {
            let mut out = Vec::new();
            entry.encode(&mut out);
            assert_eq!(JournalEntry::decode(&out).unwrap(), entry);
            for cut in 0..out.len() {
                assert!(JournalEntry::decode(&out[..cut]).is_err());
            }
        }
    }

    #[test]
    fn size_must_match_data() {
        let entry = JournalEntry::PutObject {
            bucket: "b".into(),
            key: "k".into(),
            record: sample_record(ObjectData::Inline(Bytes::from_static(b"hi")), 2),
        };
        let mut out = Vec::new();
        entry.encode(&mut out);
        assert!(JournalEntry::decode(&out).is_ok());
        // The record's size follows the tag and the two names (u32 length + bytes each):
        // a size the data does not have, or parts that do not add up to, is refused.
        let size_at = 1 + (4 + 1) + (4 + 1);
        assert_eq!(out[size_at..size_at + 8], 2u64.to_le_bytes());
        out[size_at] = 3;
        assert_eq!(JournalEntry::decode(&out).unwrap_err().0, "object size does not match its data");
    }

    #[test]
    #[should_panic(expected = "a record's data must hold exactly its size")]
    fn a_record_whose_data_disagrees_with_its_size_is_never_written() {
        let entry = JournalEntry::PutObject {
            bucket: "b".into(),
            key: "k".into(),
            record: sample_record(ObjectData::Inline(Bytes::from_static(b"hi")), 3),
        };
        entry.encode(&mut Vec::new());
    }
}
