//! The fuzz targets' checks (fuzz/src/lib.rs, included here as is) replayed in an ordinary
//! `cargo test`, over every saved input:
//! - `fuzz/regressions/<target>/*`: inputs that once made a target fail (crash, panic or
//!   broken invariant); each must pass now (fix src/ before saving a new one here);
//! - `fuzz/seeds/<target>/*`: the hand-made seed corpus, so the checks themselves stay
//!   exercised (and compiling) without libFuzzer.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 9] = [
    ("request_head", checks::request_head),
    ("chunked", checks::chunked),
    ("range", checks::range),
    ("conditional", checks::conditional),
    ("query_and_key", checks::query_and_key),
    ("xml_delete", checks::xml_delete),
    ("xml_complete", checks::xml_complete),
    ("xml_tagging", checks::xml_tagging),
    ("journal", checks::journal),
];

/// Runs `check` on the files of `directory` (if it exists); returns how many.
fn replay_directory(target: &str, check: Check, directory: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    let mut paths: Vec<_> = entries.map(|entry| entry.expect("directory entry").path()).collect();
    paths.sort();
    for path in &paths {
        let input = std::fs::read(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "fuzz target {target} fails on saved input {}", path.display());
    }
    paths.len()
}

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind);
    TARGETS.iter().map(|(target, check)| replay_directory(target, *check, &root.join(target))).sum()
}

#[test]
fn fuzz_regressions_stay_fixed() {
    let count = replay("regressions");
    eprintln!("replayed {count} fixed fuzz regression inputs");
}

#[test]
fn fuzz_seed_corpus_passes_the_checks() {
    let count = replay("seeds");
    assert!(count >= TARGETS.len(), "only {count} seed inputs under fuzz/seeds");
}

/// Found by the `journal` target with overflow checks on (`cargo fuzz run -a`): the decoder
/// sums extent lengths with `Iterator::sum`, which overflows on lengths a crafted (or
/// corrupted, CRC-colliding) frame can hold: a panic in builds with overflow checks (debug,
/// so every `cargo test`), and in release a wrapped sum that can match the record's size, so
/// an entry whose extents cover 2^64 + size bytes is accepted. The decoder must refuse it
/// (`CodecError`), as it refuses every other inconsistent entry.
/// Input: fuzz/regressions/journal/extent-length-overflow-min.
#[test]
fn journal_entries_with_overflowing_extent_lengths_are_refused() {
    use s3core::store::journal_entry::JournalEntry;
    use s3core::store::record::{BlockId, Extent, ObjectData, ObjectRecord, PartRecord};
    let block = BlockId { core: 0, sequence: 1 };
    // Lengths summing to 2^64 + 5: wraps to the declared size of 5.
    let extents = vec![
        Extent { block, offset: 0, length: u64::MAX },
        Extent { block: BlockId { core: 0, sequence: 2 }, offset: 0, length: 6 },
    ];
    let part = JournalEntry::PutPart {
        bucket: "b".into(),
        upload_id: "u".into(),
        part_number: 1,
        part: PartRecord { size: 5, etag: "e".into(), last_modified_ms: 0, checksum: None, extents: extents.clone() },
    };
    // The encoder refuses to write a record whose extents do not add up to its size, so the
    // object entry is written with extents of 5 + 0 bytes and its lengths patched afterwards.
    let object = JournalEntry::PutObject {
        bucket: "b".into(),
        key: "k".into(),
        record: std::sync::Arc::new(ObjectRecord {
            size: 5,
            etag: "e".into(),
            last_modified_ms: 0,
            content_type: None,
            stored_headers: Vec::new(),
            user_metadata: Vec::new(),
            tags: Vec::new(),
            checksum: None,
            part_sizes: Vec::new(),
            completed_upload: None,
            data: ObjectData::Blocks(vec![
                Extent { block, offset: 0, length: 5 },
                Extent { block: BlockId { core: 0, sequence: 2 }, offset: 0, length: 0 },
            ]),
        }),
    };
    let mut object_payload = Vec::new();
    object.encode(&mut object_payload);
    // The record ends with its extents, 26 bytes each (u16 core, u64 sequence, offset, length).
    let end = object_payload.len();
    object_payload[end - 34..end - 26].copy_from_slice(&u64::MAX.to_le_bytes());
    object_payload[end - 8..].copy_from_slice(&6u64.to_le_bytes());
    let mut part_payload = Vec::new();
    part.encode(&mut part_payload);
    for payload in [part_payload, object_payload] {
        let decoded = std::panic::catch_unwind(|| JournalEntry::decode(&payload).is_err());
        assert_eq!(decoded.ok(), Some(true), "decode must refuse (not panic on, not accept) {payload:?}");
    }
}
