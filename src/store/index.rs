//! A shard's in-memory namespace: buckets, each with a sorted index of its keys.
//!
//! Keys are kept as UTF-8 bytes in a `BTreeMap`, so iteration order is S3's UTF-8 binary order
//! and a listing page costs O(log n + page) however large the bucket is: a delimiter roll-up
//! skips the whole group of keys under a common prefix with one seek.
//!
//! `ShardState::apply` is the only function that mutates the namespace; live requests and
//! journal replay both go through it, so what recovery rebuilds is what was served.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::journal_entry::JournalEntry;
use super::record::{BlockId, BucketRecord, ObjectData, SharedRecord, UploadRecord};

/// One bucket's metadata and key index.
#[derive(Debug, Default)]
pub struct BucketIndex {
    pub(crate) record: Option<BucketRecord>,
    pub objects: BTreeMap<Box<[u8]>, SharedRecord>,
    /// Multipart uploads in progress, by upload id.
    pub(crate) uploads: BTreeMap<String, UploadRecord>,
}

/// Everything a shard owns.
#[derive(Debug, Default)]
pub struct ShardState {
    pub buckets: BTreeMap<String, BucketIndex>,
    /// Totals kept by `apply`, so reading them (a metrics scrape) costs nothing.
    sizes: ShardSizes,
}

/// What a shard holds, for the metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ShardSizes {
    pub(crate) buckets: u64,
    pub(crate) objects: u64,
    /// Sum of object sizes.
    pub(crate) object_bytes: u64,
    /// Bytes of the bodies kept inline in their records (memory and journal).
    pub(crate) inline_bytes: u64,
    /// Multipart uploads created and neither completed nor aborted.
    pub(crate) uploads: u64,
}

impl ShardSizes {
    fn add_object(&mut self, record: &SharedRecord) {
        self.objects += 1;
        self.object_bytes += record.size;
        self.inline_bytes += inline_length(record);
    }

    fn remove_object(&mut self, record: &SharedRecord) {
        self.objects -= 1;
        self.object_bytes -= record.size;
        self.inline_bytes -= inline_length(record);
    }
}

fn inline_length(record: &SharedRecord) -> u64 {
    match &record.data {
        ObjectData::Inline(bytes) => bytes.len() as u64,
        ObjectData::Blocks(_) => 0,
    }
}

/// What a mutation released: block files no record references any more once the mutation is
/// durable.
#[derive(Debug, Default)]
pub(crate) struct Released {
    pub(crate) blocks: Vec<BlockId>,
}

impl ShardState {
    pub(crate) fn bucket(&self, name: &str) -> Option<&BucketIndex> {
        self.buckets.get(name)
    }

    /// Buckets, objects, bytes and uploads this shard holds now.
    pub(crate) fn sizes(&self) -> ShardSizes {
        ShardSizes { buckets: self.buckets.len() as u64, ..self.sizes }
    }

    pub(crate) fn object(&self, bucket: &str, key: &str) -> Option<&SharedRecord> {
        self.buckets.get(bucket)?.objects.get(key.as_bytes())
    }

    /// Applies one journal entry. Preconditions (bucket exists, conditional headers) are the
    /// caller's job; replay applies entries that were checked when they were written.
    pub(crate) fn apply(&mut self, entry: &JournalEntry) -> Released {
        let mut released = Released::default();
        match entry {
            JournalEntry::CreateBucket { bucket, created_ms } => {
                self.buckets.entry(bucket.clone()).or_default().record =
                    Some(BucketRecord { created_ms: *created_ms, tags: None });
            }
            JournalEntry::DeleteBucket { bucket } => {
                if let Some(index) = self.buckets.remove(bucket) {
                    for record in index.objects.values() {
                        released.blocks.extend(record.data.blocks());
                        self.sizes.remove_object(record);
                    }
                    self.sizes.uploads -= index.uploads.len() as u64;
                    // Uploads still in progress die with their bucket.
                    for upload in index.uploads.values() {
                        released.blocks.extend(upload.blocks());
                    }
                }
            }
            JournalEntry::PutObject { bucket, key, record } => {
                if let Some(index) = self.buckets.get_mut(bucket) {
                    index.insert_object(key, record.clone(), &mut released, &mut self.sizes);
                }
            }
            JournalEntry::CreateUpload { bucket, key, upload_id, initiated_ms, attributes } => {
                if let Some(index) = self.buckets.get_mut(bucket) {
                    let upload = UploadRecord {
                        key: key.clone(),
                        initiated_ms: *initiated_ms,
                        attributes: attributes.clone(),
                        parts: BTreeMap::new(),
                    };
                    if index.uploads.insert(upload_id.clone(), upload).is_none() {
                        self.sizes.uploads += 1;
                    }
                }
            }
            JournalEntry::PutPart { bucket, upload_id, part_number, part } => {
                let upload = self.buckets.get_mut(bucket).and_then(|index| index.uploads.get_mut(upload_id));
                if let Some(upload) = upload {
                    if let Some(previous) = upload.parts.insert(*part_number, part.clone()) {
                        released.blocks.extend(previous.extents.iter().map(|extent| extent.block));
                    }
                }
            }
            JournalEntry::CompleteUpload { bucket, upload_id, key, record } => {
                if let Some(index) = self.buckets.get_mut(bucket) {
                    if let Some(upload) = index.uploads.remove(upload_id) {
                        self.sizes.uploads -= 1;
                        // Parts left out of the object are freed; the rest now belong to it.
                        let kept: std::collections::HashSet<BlockId> = record.data.blocks().collect();
                        released.blocks.extend(upload.blocks().filter(|block| !kept.contains(block)));
                    }
                    index.insert_object(key, record.clone(), &mut released, &mut self.sizes);
                }
            }
            JournalEntry::BatchEnd { .. } => {}
            JournalEntry::AbortUpload { bucket, upload_id } => {
                if let Some(upload) = self.buckets.get_mut(bucket).and_then(|index| index.uploads.remove(upload_id)) {
                    self.sizes.uploads -= 1;
                    released.blocks.extend(upload.blocks());
                }
            }
            JournalEntry::DeleteObject { bucket, key } => {
                if let Some(index) = self.buckets.get_mut(bucket) {
                    if let Some(previous) = index.objects.remove(key.as_bytes()) {
                        self.sizes.remove_object(&previous);
                        released.blocks.extend(previous.data.blocks());
                    }
                }
            }
            JournalEntry::SetBucketTags { bucket, tags } => {
                if let Some(record) = self.buckets.get_mut(bucket).and_then(|b| b.record.as_mut()) {
                    record.tags = tags.clone();
                }
            }
        }
        released
    }

    /// Every block file referenced by this shard (for orphan reclamation at start).
    pub fn referenced_blocks(&self) -> impl Iterator<Item = BlockId> + '_ {
        self.buckets.values().flat_map(|bucket| {
            let objects = bucket.objects.values().flat_map(|record| record.data.blocks());
            let parts = bucket.uploads.values().flat_map(UploadRecord::blocks);
            objects.chain(parts)
        })
    }

    /// Re-creates the journal entries that rebuild this state (a checkpoint).
    pub(crate) fn snapshot_entries(&self) -> impl Iterator<Item = JournalEntry> + '_ {
        self.buckets.iter().flat_map(|(name, index)| {
            let created = index
                .record
                .iter()
                .map(move |record| JournalEntry::CreateBucket { bucket: name.clone(), created_ms: record.created_ms });
            let tags = index
                .record
                .as_ref()
                .and_then(|record| record.tags.clone())
                .map(|tags| JournalEntry::SetBucketTags { bucket: name.clone(), tags: Some(tags) });
            // An object a completion made is written as that completion, so the upload id
            // that may complete again survives the checkpoint.
            let objects = index.objects.iter().map(move |(key, record)| {
                let (bucket, key, record) = (name.clone(), String::from_utf8_lossy(key).into_owned(), record.clone());
                match record.completed_upload.clone() {
                    Some(upload_id) => JournalEntry::CompleteUpload { bucket, upload_id, key, record },
                    None => JournalEntry::PutObject { bucket, key, record },
                }
            });
            let uploads = index.uploads.iter().flat_map(move |(upload_id, upload)| {
                let create = JournalEntry::CreateUpload {
                    bucket: name.clone(),
                    key: upload.key.clone(),
                    upload_id: upload_id.clone(),
                    initiated_ms: upload.initiated_ms,
                    attributes: upload.attributes.clone(),
                };
                let parts = upload.parts.iter().map(move |(number, part)| JournalEntry::PutPart {
                    bucket: name.clone(),
                    upload_id: upload_id.clone(),
                    part_number: *number,
                    part: part.clone(),
                });
                std::iter::once(create).chain(parts)
            });
            created.chain(tags).chain(objects).chain(uploads)
        })
    }
}

impl BucketIndex {
    /// Stores `record` under `key`, releasing the blocks of the record it replaces that the
    /// new one does not reuse (a tag update keeps the same blocks).
    fn insert_object(&mut self, key: &str, record: SharedRecord, released: &mut Released, sizes: &mut ShardSizes) {
        let key: Box<[u8]> = key.as_bytes().into();
        sizes.add_object(&record);
        if let Some(previous) = self.objects.insert(key, record.clone()) {
            sizes.remove_object(&previous);
            if let ObjectData::Blocks(_) = previous.data {
                let kept: std::collections::HashSet<BlockId> = record.data.blocks().collect();
                released.blocks.extend(previous.data.blocks().filter(|block| !kept.contains(block)));
            }
        }
    }
}

/// A listing request, in the terms of the index (markers already decoded).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// List strictly after this key (V1 marker, V2 start-after or continuation point).
    pub start_after: Option<String>,
    pub max_keys: usize,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    pub objects: Vec<(String, SharedRecord)>,
    pub(crate) common_prefixes: Vec<String>,
    pub(crate) is_truncated: bool,
    /// The last key or common prefix returned: the marker for the next page.
    pub(crate) last: Option<String>,
}

impl BucketIndex {
    /// Produces one page of a listing. Cost: one seek per returned entry at worst.
    pub fn list(&self, query: &ListQuery) -> ListPage {
        let prefix = query.prefix.as_bytes();
        let delimiter = query.delimiter.as_deref().map(str::as_bytes).filter(|d| !d.is_empty());
        let start_after = query.start_after.as_deref().map(str::as_bytes);
        let mut page = ListPage::default();
        let mut lower: Vec<u8> = match start_after {
            Some(marker) if marker >= prefix => marker.to_vec(),
            _ => prefix.to_vec(),
        };
        let mut lower_inclusive = !matches!(start_after, Some(marker) if marker >= prefix);
        let mut count = 0usize;
        // Which list got the last entry: the marker for the next page is copied once, at the end.
        let mut last_was_prefix = false;
        'seek: loop {
            let bound =
                if lower_inclusive { Bound::Included(lower.as_slice()) } else { Bound::Excluded(lower.as_slice()) };
            for (key, record) in self.objects.range::<[u8], _>((bound, Bound::Unbounded)) {
                if !key.starts_with(prefix) {
                    break 'seek;
                }
                let rolled_up = delimiter.and_then(|delimiter| {
                    find(&key[prefix.len()..], delimiter).map(|at| &key[..prefix.len() + at + delimiter.len()])
                });
                if let Some(common) = rolled_up {
                    // A group at or before the marker was returned on an earlier page.
                    let already_listed = start_after.is_some_and(|marker| common <= marker);
                    if !already_listed {
                        if count == query.max_keys {
                            page.is_truncated = true;
                            break 'seek;
                        }
                        page.common_prefixes.push(String::from_utf8_lossy(common).into_owned());
                        last_was_prefix = true;
                        count += 1;
                    }
                    // Every key under `common` sorts before `common + 0xFF` (UTF-8 never
                    // holds 0xFF): skip the whole group with one seek.
                    lower = [common, &[0xFF]].concat();
                    lower_inclusive = false;
                    continue 'seek;
                }
                if count == query.max_keys {
                    page.is_truncated = true;
                    break 'seek;
                }
                page.objects.push((String::from_utf8_lossy(key).into_owned(), record.clone()));
                last_was_prefix = false;
                count += 1;
            }
            break;
        }
        if query.max_keys == 0 {
            page.is_truncated = false;
        }
        page.last = if last_was_prefix {
            page.common_prefixes.last().cloned()
        } else {
            page.objects.last().map(|(key, _)| key.clone())
        };
        page
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::record::{BlockId, ObjectData, ObjectRecord};

    fn index_with(keys: &[&str]) -> BucketIndex {
        let mut index = BucketIndex::default();
        for key in keys {
            let record = ObjectRecord {
                size: 0,
                etag: String::new(),
                last_modified_ms: 0,
                content_type: None,
                stored_headers: vec![],
                user_metadata: vec![],
                tags: vec![],
                checksum: None,
                part_sizes: Vec::new(),
                completed_upload: None,
                data: ObjectData::Inline(Default::default()),
            };
            index.objects.insert(key.as_bytes().into(), Arc::new(record));
        }
        index
    }

    fn query(prefix: &str, delimiter: Option<&str>, after: Option<&str>, max: usize) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            start_after: after.map(Into::into),
            max_keys: max,
        }
    }

    fn keys(page: &ListPage) -> Vec<&str> {
        page.objects.iter().map(|(key, _)| key.as_str()).collect()
    }

    #[test]
    fn lists_in_utf8_binary_order_with_paging() {
        let index = index_with(&["b", "a", "é", "Z", "a/b"]);
        let page = index.list(&query("", None, None, 3));
        assert_eq!(keys(&page), ["Z", "a", "a/b"]);
        assert!(page.is_truncated);
        assert_eq!(page.last.as_deref(), Some("a/b"));
        let page = index.list(&query("", None, Some("a/b"), 3));
        assert_eq!(keys(&page), ["b", "é"]);
        assert!(!page.is_truncated);
    }

    #[test]
    fn delimiter_rolls_up_common_prefixes() {
        let index = index_with(&["a/1", "a/2", "b", "c/x/1", "c/y", "d"]);
        let page = index.list(&query("", Some("/"), None, 1000));
        assert_eq!(keys(&page), ["b", "d"]);
        assert_eq!(page.common_prefixes, ["a/", "c/"]);
        let page = index.list(&query("c/", Some("/"), None, 1000));
        assert_eq!(keys(&page), ["c/y"]);
        assert_eq!(page.common_prefixes, ["c/x/"]);
    }

    #[test]
    fn pages_count_prefixes_and_resume_after_them() {
        let index = index_with(&["a/1", "a/2", "b", "c/1"]);
        let first = index.list(&query("", Some("/"), None, 2));
        assert_eq!(first.common_prefixes, ["a/"]);
        assert_eq!(keys(&first), ["b"]);
        assert!(first.is_truncated);
        assert_eq!(first.last.as_deref(), Some("b"));
        let second = index.list(&query("", Some("/"), Some("a/"), 2));
        assert_eq!(keys(&second), ["b"]);
        assert_eq!(second.common_prefixes, ["c/"]);
        assert!(!second.is_truncated);
    }

    #[test]
    fn exact_page_boundary_is_not_truncated() {
        let index = index_with(&["a", "b"]);
        let page = index.list(&query("", None, None, 2));
        assert!(!page.is_truncated);
        let page = index.list(&query("", None, None, 0));
        assert!(page.objects.is_empty() && !page.is_truncated);
    }

    #[test]
    fn prefix_and_marker_before_prefix() {
        let index = index_with(&["a", "p/1", "p/2", "q"]);
        let page = index.list(&query("p/", None, Some("a"), 10));
        assert_eq!(keys(&page), ["p/1", "p/2"]);
        let page = index.list(&query("p/", None, Some("p/1"), 10));
        assert_eq!(keys(&page), ["p/2"]);
        let page = index.list(&query("p/", None, Some("z"), 10));
        assert!(page.objects.is_empty());
    }

    fn object(size: u64, inline: bool) -> SharedRecord {
        let data = if inline {
            ObjectData::Inline(vec![7u8; size as usize].into())
        } else {
            ObjectData::Blocks(vec![crate::store::record::Extent {
                block: BlockId { core: 0, sequence: size },
                offset: 0,
                length: size,
            }])
        };
        let mut record = index_with(&["x"]).objects.into_values().next().unwrap();
        let inner = Arc::make_mut(&mut record);
        inner.size = size;
        inner.data = data;
        record
    }

    #[test]
    fn sizes_follow_every_kind_of_change() {
        let mut state = ShardState::default();
        let put =
            |key: &str, record: SharedRecord| JournalEntry::PutObject { bucket: "b".into(), key: key.into(), record };
        state.apply(&JournalEntry::CreateBucket { bucket: "b".into(), created_ms: 1 });
        state.apply(&put("small", object(100, true)));
        state.apply(&put("large", object(10_000, false)));
        let sizes = state.sizes();
        assert_eq!((sizes.buckets, sizes.objects, sizes.object_bytes, sizes.inline_bytes), (1, 2, 10_100, 100));
        state.apply(&put("small", object(40, true)));
        assert_eq!((state.sizes().objects, state.sizes().inline_bytes), (2, 40), "a replacement is not a new object");
        state.apply(&JournalEntry::DeleteObject { bucket: "b".into(), key: "large".into() });
        assert_eq!((state.sizes().objects, state.sizes().object_bytes), (1, 40));
        let create = |id: &str| JournalEntry::CreateUpload {
            bucket: "b".into(),
            key: "m".into(),
            upload_id: id.into(),
            initiated_ms: 1,
            attributes: Default::default(),
        };
        state.apply(&create("u1"));
        state.apply(&create("u2"));
        assert_eq!(state.sizes().uploads, 2);
        state.apply(&JournalEntry::AbortUpload { bucket: "b".into(), upload_id: "u1".into() });
        state.apply(&JournalEntry::CompleteUpload {
            bucket: "b".into(),
            upload_id: "u2".into(),
            key: "m".into(),
            record: object(5_000, false),
        });
        let sizes = state.sizes();
        assert_eq!((sizes.objects, sizes.object_bytes, sizes.uploads), (2, 5_040, 0));
        state.apply(&create("u3"));
        state.apply(&JournalEntry::DeleteBucket { bucket: "b".into() });
        assert_eq!(state.sizes(), ShardSizes::default(), "a deleted bucket takes everything with it");
    }

    #[test]
    fn multi_byte_delimiter() {
        let index = index_with(&["x--1", "x--2", "y"]);
        let page = index.list(&query("", Some("--"), None, 10));
        assert_eq!(page.common_prefixes, ["x--"]);
        assert_eq!(keys(&page), ["y"]);
    }
}
