//! The checks behind s3core's fuzz targets, one function per target.
//!
//! Each function takes the fuzzer's bytes, drives one parser of s3core's public API and
//! asserts what must hold for every input (beyond "no panic"). The targets in `fuzz_targets/`
//! are one-line wrappers, and `tests/crash/regressions.rs` includes this file to replay saved
//! inputs (`fuzz/regressions/<target>/`) in an ordinary `cargo test`, so it may use only
//! s3core and crates s3core itself depends on (`http`).

use s3core::http::chunked::{ChunkDecoder, ChunkError};
use s3core::http::request::RequestHead;
use s3core::s3::range::{parse_range, RangeRequest};
use s3core::store::journal::{checkpoint_bytes, encode_frame, replay_bytes, ReplayError, JOURNAL_MAGIC};
use s3core::store::journal_entry::JournalEntry;

/// Splits off the first byte (a selector or seed), or `None` for empty input.
fn split_first(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}

// ------------------------------------------------------------------------------------------
// request_head
// ------------------------------------------------------------------------------------------

/// `RequestHead::parse` on arbitrary bytes: never panics; a complete head reports a length
/// within the input, parses identically on its own, and parses identically into a reused
/// head (the connection loop reuses one per connection).
pub fn request_head(data: &[u8]) {
    let mut head = RequestHead::default();
    let outcome = head.parse(data);
    let Ok(Some(consumed)) = outcome else {
        return;
    };
    assert!(consumed <= data.len(), "consumed {consumed} of {} bytes", data.len());
    assert!(consumed <= s3core::limits::REQUEST_HEAD_BYTES_MAX);
    // The accessors the connection loop calls on every request.
    let _ = head.wants_keep_alive();
    let _ = head.expects_continue();
    for name in ["host", "content-length", "transfer-encoding", "content-encoding", "expect", "x-amz-content-sha256"] {
        let _ = head.header(name);
    }
    // The head alone (without what follows it) is the same head.
    let mut alone = RequestHead::default();
    assert_eq!(alone.parse(&data[..consumed]), Ok(Some(consumed)));
    assert_eq!(alone.method, head.method);
    assert_eq!(alone.target, head.target);
    assert_eq!(alone.version_minor, head.version_minor);
    assert_eq!(alone.headers, head.headers);
    // A reused head holds nothing of the previous request.
    let mut reused = RequestHead::default();
    let _ = reused.parse(b"PUT /previous/request HTTP/1.0\r\nX-Stale: 1\r\nContent-Length: 9\r\n\r\n");
    assert_eq!(reused.parse(data), Ok(Some(consumed)));
    assert_eq!(reused.headers, head.headers);
    assert_eq!(reused.target, head.target);
    assert_eq!(reused.version_minor, head.version_minor);
}

// ------------------------------------------------------------------------------------------
// chunked
// ------------------------------------------------------------------------------------------

/// Everything a decoding run produces, to compare runs over different splits.
#[derive(Debug, PartialEq, Eq)]
struct ChunkRun {
    output: Vec<u8>,
    /// Bytes of input consumed, or the error.
    result: Result<usize, ChunkError>,
    done: bool,
    trailers: Vec<(String, String)>,
    last_extensions: String,
    decoded_bytes: u64,
}

/// Feeds `input` in pieces ending at `cuts` (sorted offsets), as the connection loop does
/// with whatever each read returned.
fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> ChunkRun {
    let mut decoder = ChunkDecoder::new();
    let mut output = Vec::new();
    let mut start = 0;
    let mut result = Ok(0);
    let ends = cuts.iter().copied().filter(|&cut| cut > 0 && cut < input.len()).chain([input.len()]);
    for end in ends {
        if end <= start {
            continue;
        }
        let piece = &input[start..end];
        match decoder.decode(piece, &mut |data| output.extend_from_slice(data)) {
            Ok(used) => {
                assert!(used <= piece.len(), "decode consumed {used} of a {}-byte piece", piece.len());
                result = Ok(start + used);
                if used < piece.len() {
                    // The body ended inside this piece: the rest belongs to the next request.
                    assert!(decoder.is_done(), "stopped early without being done");
                    break;
                }
            }
            Err(error) => {
                result = Err(error);
                break;
            }
        }
        start = end;
    }
    if input.is_empty() {
        result = decoder.decode(input, &mut |data| output.extend_from_slice(data));
    }
    ChunkRun {
        output,
        result,
        done: decoder.is_done(),
        trailers: decoder.trailers.clone(),
        last_extensions: decoder.last_extensions.clone(),
        decoded_bytes: decoder.decoded_bytes,
    }
}

/// The chunk decoder is a pure state machine over arbitrary splits: decoding the input in one
/// piece, byte by byte, and at fuzzer-chosen cuts gives the same output, consumption, error,
/// trailers and end state. And a body we frame ourselves decodes back to its data.
pub fn chunked(data: &[u8]) {
    let Some((selector, rest)) = split_first(data) else {
        return;
    };
    // The first bytes choose the cuts; the rest is the input.
    let cut_count = (selector % 8) as usize;
    if rest.len() < cut_count * 2 {
        return;
    }
    let (cut_bytes, input) = rest.split_at(cut_count * 2);
    let mut cuts: Vec<usize> =
        cut_bytes.chunks(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]]) as usize % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let whole = decode_in_pieces(input, &[]);
    let pieces = decode_in_pieces(input, &cuts);
    assert_eq!(whole, pieces, "one piece vs cuts {cuts:?}");
    if input.len() <= 4096 {
        let every_byte: Vec<usize> = (1..input.len()).collect();
        assert_eq!(whole, decode_in_pieces(input, &every_byte), "one piece vs byte by byte");
    }
    assert_eq!(whole.decoded_bytes, whole.output.len() as u64);

    // Round trip: frame `input` as chunks (sizes from the selector), with an extension and a
    // trailer, then decode with the cuts.
    let mut framed = Vec::new();
    let mut position = 0;
    let chunk = 1 + (selector as usize % 61);
    while position < input.len() {
        let end = (position + chunk).min(input.len());
        framed.extend_from_slice(format!("{:x};chunk-signature=s{position}\r\n", end - position).as_bytes());
        framed.extend_from_slice(&input[position..end]);
        framed.extend_from_slice(b"\r\n");
        position = end;
    }
    framed.extend_from_slice(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\nNEXT REQUEST");
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut % (framed.len() + 1)).collect();
    cuts.sort_unstable();
    let run = decode_in_pieces(&framed, &cuts);
    assert_eq!(run.output, input, "a framed body decodes back to its data");
    assert_eq!(run.result, Ok(framed.len() - b"NEXT REQUEST".len()));
    assert!(run.done);
    assert_eq!(run.trailers, vec![("x-amz-checksum-crc32".to_string(), "AAAAAA==".to_string())]);
}

// ------------------------------------------------------------------------------------------
// range
// ------------------------------------------------------------------------------------------

/// `parse_range` never hands out bytes outside the object, and agrees with a plain reading
/// of the canonical `bytes=a-b`, `bytes=a-` and `bytes=-n` forms.
pub fn range(data: &[u8]) {
    if data.len() < 9 {
        return;
    }
    let (size_bytes, header) = data.split_at(8);
    let raw = u64::from_le_bytes(size_bytes.try_into().unwrap());
    // Small sizes are where the edge cases are; keep some huge ones too.
    let size = if raw >> 63 == 1 { raw } else { raw % 4096 };
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    for value in [Some(header), None] {
        match parse_range(value, size) {
            RangeRequest::Whole | RangeRequest::Unsatisfiable => {}
            RangeRequest::Partial { start, length } => {
                assert!(length >= 1, "{value:?} of {size}: empty range");
                assert!(start < size, "{value:?} of {size}: starts at {start}");
                let end = start.checked_add(length).expect("range end overflows");
                assert!(end <= size, "{value:?} of {size}: {start}+{length} past the end");
            }
        }
    }
    assert_eq!(parse_range(None, size), RangeRequest::Whole);
    // The canonical forms, read the plain way.
    let Some(spec) = header.strip_prefix("bytes=") else {
        return;
    };
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let Some((first, last)) = spec.split_once('-') else {
        return;
    };
    let expected = match (digits(first), digits(last), first.is_empty(), last.is_empty()) {
        (true, true, _, _) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b && a < size => RangeRequest::Partial { start: a, length: b.min(size - 1) - a + 1 },
            (Ok(a), Ok(b)) if a <= b => RangeRequest::Unsatisfiable,
            (Ok(_), Ok(_)) => RangeRequest::Whole,
            _ => return,
        },
        (true, false, _, true) => match first.parse::<u64>() {
            Ok(a) if a < size => RangeRequest::Partial { start: a, length: size - a },
            Ok(_) => RangeRequest::Unsatisfiable,
            _ => return,
        },
        (false, true, true, _) => match last.parse::<u64>() {
            Ok(0) => RangeRequest::Unsatisfiable,
            Ok(_) if size == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Partial { start: size - n.min(size), length: n.min(size) },
            _ => return,
        },
        _ => return,
    };
    assert_eq!(parse_range(Some(header), size), expected, "{header:?} of {size}");
}

// ------------------------------------------------------------------------------------------
// conditional
// ------------------------------------------------------------------------------------------

fn record_with(etag: &str, last_modified_ms: u64) -> s3core::store::record::ObjectRecord {
    s3core::store::record::ObjectRecord {
        size: 0,
        etag: etag.to_string(),
        last_modified_ms,
        content_type: None,
        stored_headers: Vec::new(),
        user_metadata: Vec::new(),
        tags: Vec::new(),
        checksum: None,
        part_sizes: Vec::new(),
        completed_upload: None,
        data: s3core::store::record::ObjectData::Blocks(Vec::new()),
    }
}

/// Request heads with arbitrary `If-*` fields, evaluated against an object by `check_read`
/// (for GET and for a copy source) and by `write_condition`: never panics, and the answers
/// follow RFC 7232's basic rules where they are unambiguous.
pub fn conditional(data: &[u8]) {
    let Some((selector, rest)) = split_first(data) else {
        return;
    };
    let Ok(fields) = std::str::from_utf8(rest) else {
        return;
    };
    let etag =
        ["d41d8cd98f00b204e9800998ecf8427e", "abc", "1b2cf535f27731c974343645a3985328-2", ""][(selector % 4) as usize];
    let last_modified_ms = [0, 1_700_000_000_123, u64::MAX / 2, 86_400_000][(selector / 4 % 4) as usize];
    let record = record_with(etag, last_modified_ms);
    // Each line of the input is one header field: as S3 clients send them, and as copy-source
    // conditions.
    let mut head_text = String::from("GET /bucket/key HTTP/1.1\r\nHost: h\r\n");
    for line in fields.split('\n') {
        let line = line.trim_end_matches('\r');
        head_text.push_str(line);
        head_text.push_str("\r\n");
    }
    head_text.push_str("\r\n");
    let mut head = RequestHead::default();
    if !matches!(head.parse(head_text.as_bytes()), Ok(Some(_))) {
        return;
    }
    let read = s3core::s3::conditional::check_read(&head, &record, "");
    let _ = s3core::s3::conditional::check_read(&head, &record, "x-amz-copy-source-");
    let _ = s3core::s3::conditional::write_condition(&head);
    if let Some(value) = head.header("if-none-match") {
        let _ = s3core::s3::conditional::etag_list(value);
    }
    // If-Match naming exactly this ETag, and no other condition: the read goes ahead.
    let only = |name: &str| {
        ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]
            .iter()
            .all(|other| *other == name || head.headers.get(*other).is_none())
    };
    let own_etag = format!("\"{etag}\"");
    if only("if-match")
        && !etag.is_empty()
        && head.headers.get_all("if-match").iter().count() == 1
        && head.header("if-match") == Some(own_etag.as_str())
    {
        assert!(read.is_ok(), "If-Match with the object's own ETag refused: {read:?}");
    }
    // If-None-Match: * on an existing object never lets the read through.
    if head.headers.get_all("if-none-match").iter().count() == 1 && head.header("if-none-match") == Some("*") {
        assert!(read.is_err(), "If-None-Match: * let a read of an existing object through");
    }
}

// ------------------------------------------------------------------------------------------
// query_and_key
// ------------------------------------------------------------------------------------------

const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"];

/// Query strings, percent-decoding, path splitting and routing: never panics, decoding never
/// grows its input, S3's key encoding round-trips, and the router accepts whatever the path
/// parser produced.
pub fn query_and_key(data: &[u8]) {
    let Some((selector, rest)) = split_first(data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // `path?query` as it would appear in a request target.
    let (path, query_text) = text.split_once('?').unwrap_or((text, ""));
    for plus_is_space in [false, true] {
        if let Some(decoded) = s3core::encoding::percent_decode(text, plus_is_space) {
            assert!(decoded.len() <= text.len());
        }
    }
    // S3's `encoding-type=url` form decodes back to the key with either decoder.
    let encoded = s3core::encoding::percent_encode(text.as_bytes(), true);
    assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded:?}");
    for plus_is_space in [false, true] {
        assert_eq!(s3core::encoding::percent_decode_utf8(&encoded, plus_is_space).as_deref(), Some(text));
    }
    let Some(query) = s3core::s3::uri::Query::parse(query_text) else {
        return;
    };
    for name in query.names() {
        assert!(query.has(name));
        assert!(query.get(name).is_some());
    }
    let method = http::Method::from_bytes(METHODS[(selector % 7) as usize].as_bytes()).unwrap();
    let has_copy_source = selector & 0x80 != 0;
    for prefix in ["", "/api/v1/s3"] {
        let Ok(resource) = s3core::s3::router::parse_path(path, prefix) else {
            continue;
        };
        if let Some(key) = &resource.key {
            assert!(!key.is_empty() && key.len() <= s3core::limits::KEY_BYTES_MAX);
        }
        if resource.bucket.is_none() {
            assert!(resource.key.is_none(), "a key without a bucket from {path:?}");
        }
        let _ = s3core::s3::router::route(&method, resource, &query, has_copy_source);
    }
}

// ------------------------------------------------------------------------------------------
// XML request documents
// ------------------------------------------------------------------------------------------

/// `<Delete>` documents: never panics; what is accepted is within S3's limits.
pub fn xml_delete(data: &[u8]) {
    if let Ok(request) = s3core::s3::documents::delete::decode_delete(data) {
        assert!(!request.keys.is_empty());
        assert!(request.keys.len() <= s3core::limits::DELETE_OBJECTS_KEYS_MAX);
        // The answer document is built from what was decoded, whatever it holds.
        let outcomes: Vec<(String, Result<(), s3core::error::S3Error>)> =
            request.keys.iter().map(|key| (key.clone(), Ok(()))).collect();
        let _ = s3core::s3::documents::delete::encode_delete_result(request.quiet, &outcomes);
    }
}

/// `<CompleteMultipartUpload>` documents: never panics; accepted parts have valid numbers.
pub fn xml_complete(data: &[u8]) {
    if let Ok(parts) = s3core::s3::documents::multipart::decode_complete(data) {
        assert!(!parts.is_empty() && parts.len() <= s3core::limits::PART_NUMBER_MAX as usize);
        for (number, etag) in &parts {
            assert!((1..=s3core::limits::PART_NUMBER_MAX).contains(number));
            assert!(!etag.starts_with('"') && !etag.ends_with('"'), "{etag:?} keeps its quotes");
        }
    }
}

/// `<Tagging>` documents: never panics; an accepted tag set is valid, and encoding it and
/// decoding the result gives the same tags (what GetObjectTagging returns, a client can PUT
/// back).
pub fn xml_tagging(data: &[u8]) {
    for tags_max in [s3core::s3::tags::OBJECT_TAGS_MAX, s3core::s3::tags::BUCKET_TAGS_MAX] {
        let Ok(tags) = s3core::s3::tags::decode_tagging(data, tags_max) else {
            continue;
        };
        assert!(tags.len() <= tags_max);
        assert!(s3core::s3::tags::validate_tags(&tags, tags_max).is_ok());
        let encoded = s3core::s3::tags::encode_tagging(&tags);
        match s3core::s3::tags::decode_tagging(&encoded, tags_max) {
            Ok(again) => assert_eq!(again, tags, "tags change through encode + decode"),
            Err(error) => {
                panic!("our own Tagging document is refused: {error:?}\n{}", String::from_utf8_lossy(&encoded))
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// journal
// ------------------------------------------------------------------------------------------

/// Journal replay on arbitrary bytes never panics, and what it accepts is self-consistent:
/// the valid prefix replays alone to the same result, and a checkpoint of the state replays to
/// a state whose checkpoint is the same bytes.
///
/// Selector bit 0 clear: the input is a journal file as is (most inputs are then refused as
/// foreign). Set: the input is framed by us (valid lengths and CRCs around fuzzer payloads),
/// so decoding and applying entries is exercised past the checksums; a frame is
/// `[u16 length][payload]` in the input. Replay must then stop exactly where expected: refuse
/// the journal at the first payload that does not decode (a valid CRC is never a torn write),
/// cut at the first empty frame (zeros past the end), or take every entry.
pub fn journal(data: &[u8]) {
    let Some((selector, rest)) = split_first(data) else {
        return;
    };
    let (bytes, expected) = if selector & 1 == 0 {
        (rest.to_vec(), None)
    } else {
        let (bytes, expected) = framed_journal(rest, selector & 2 != 0);
        (bytes, Some(expected))
    };
    let outcome = replay_bytes(&bytes);
    match (expected, &outcome) {
        (None, _) => {}
        (Some(FramedExpectation::UndecodableAt(offset)), Err(ReplayError::Undecodable { offset: at, .. })) => {
            assert_eq!(*at, offset, "refused at the wrong frame");
        }
        (Some(FramedExpectation::TornAt(offset)), Ok(replay)) => assert_eq!(replay.valid_length, offset),
        (Some(FramedExpectation::TornAt(offset)), Err(ReplayError::Corrupt { offset: at })) => assert_eq!(*at, offset),
        (Some(FramedExpectation::Whole(entries, end)), Ok(replay)) => {
            assert_eq!((replay.entries, replay.valid_length), (entries, end), "every framed entry replays");
        }
        (Some(expected), outcome) => panic!("expected {expected:?}, replay gave {outcome:?}"),
    }
    let Ok(replay) = outcome else {
        return;
    };
    assert_eq!(replay.file_length, bytes.len() as u64);
    assert!(replay.valid_length >= JOURNAL_MAGIC.len() as u64 && replay.valid_length <= replay.file_length);
    let prefix = replay_bytes(&bytes[..replay.valid_length as usize]).expect("the valid prefix replays");
    assert_eq!(prefix.entries, replay.entries);
    assert_eq!(prefix.valid_length, replay.valid_length);
    let checkpoint = checkpoint_bytes(&replay.state);
    assert_eq!(checkpoint_bytes(&prefix.state), checkpoint, "same entries, same state");
    let reloaded = replay_bytes(&checkpoint).expect("a checkpoint replays");
    assert_eq!(reloaded.valid_length, checkpoint.len() as u64, "a checkpoint has no torn tail");
    assert_eq!(checkpoint_bytes(&reloaded.state), checkpoint, "a checkpoint's state checkpoints to itself");
    let mut referenced: Vec<_> = replay.state.referenced_blocks().collect();
    let mut referenced_again: Vec<_> = reloaded.state.referenced_blocks().collect();
    referenced.sort();
    referenced_again.sort();
    assert_eq!(referenced, referenced_again, "a checkpoint keeps every referenced block");
}

/// Where replay of a journal we framed must stop.
#[derive(Debug, Clone, Copy)]
enum FramedExpectation {
    /// Every frame is an entry: this many, ending here (before any torn tail).
    Whole(u64, u64),
    /// The first frame with a valid CRC that does not decode begins here.
    UndecodableAt(u64),
    /// The first empty frame (what zeros past the written end look like) begins here.
    TornAt(u64),
}

/// A journal of the fuzzer's payloads, each in a frame with a correct length and CRC, and
/// optionally a torn tail; and where replay must stop.
fn framed_journal(rest: &[u8], torn: bool) -> (Vec<u8>, FramedExpectation) {
    let mut bytes = JOURNAL_MAGIC.to_vec();
    let mut first_stop = None;
    let mut entries = 0;
    // Where the current batch can have begun (a batch end must name a start in its batch).
    let mut batch_floor = bytes.len() as u64;
    let mut input = rest;
    while input.len() >= 2 {
        let length = (u16::from_le_bytes([input[0], input[1]]) as usize).min(input.len() - 2);
        let payload = &input[2..2 + length];
        input = &input[2 + length..];
        let offset = bytes.len() as u64;
        // Payloads that decode are re-framed through the real encoder; the others get a
        // correct frame around garbage.
        match JournalEntry::decode(payload) {
            Ok(entry) => {
                let mut again = Vec::new();
                entry.encode(&mut again);
                assert_eq!(JournalEntry::decode(&again).as_ref(), Ok(&entry), "entry round trip");
                encode_frame(&entry, &mut bytes);
                if let JournalEntry::BatchEnd { start } = entry {
                    if !(batch_floor..offset).contains(&start) {
                        first_stop.get_or_insert(FramedExpectation::UndecodableAt(offset));
                    }
                    batch_floor = bytes.len() as u64;
                }
                entries += u64::from(first_stop.is_none());
            }
            Err(_) => {
                let stop = if payload.is_empty() {
                    FramedExpectation::TornAt(offset)
                } else {
                    FramedExpectation::UndecodableAt(offset)
                };
                first_stop.get_or_insert(stop);
                bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                bytes.extend_from_slice(&crc32(payload).to_le_bytes());
                bytes.extend_from_slice(payload);
            }
        }
    }
    let end = bytes.len() as u64;
    if torn {
        // A torn tail: the first bytes of one more frame (shorter than a frame header).
        bytes.extend_from_slice(&rest[..rest.len().min(5)]);
    }
    (bytes, first_stop.unwrap_or(FramedExpectation::Whole(entries, end)))
}

/// CRC-32 (IEEE), as the journal frames use; bitwise, to need no extra crate.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
