//! Criterion benchmarks of the hot paths that do not need a running server: request-head
//! parsing, routing, listing selection and encoding, MD5, and the journal codec.
//! Run: `cargo bench --bench hot_paths`.

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use md5::{Digest, Md5};

use s3core::hash::md5_kernel;
use s3core::http::request::RequestHead;
use s3core::s3::documents::list::{list_objects_v2, ListEcho, V2Echo};
use s3core::s3::router::{parse_path, route};
use s3core::s3::uri::Query;
use s3core::store::index::{BucketIndex, ListQuery};
use s3core::store::journal::encode_frame;
use s3core::store::journal_entry::JournalEntry;
use s3core::store::record::{ObjectData, ObjectRecord};

const GET_HEAD: &[u8] = b"GET /api/v1/s3/warehouse/t/dt=2026-11-25/part-00000.parquet HTTP/1.1\r\n\
Host: 127.0.0.1:39999\r\nUser-Agent: Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux lang/python#3.11.7\r\n\
Accept-Encoding: identity\r\nRange: bytes=0-8388607\r\nX-Amz-Date: 20261125T180000Z\r\n\
X-Amz-Content-SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20261125/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\r\n";

fn record(size: u64) -> Arc<ObjectRecord> {
    Arc::new(ObjectRecord {
        size,
        etag: "9347237b67b0be183499e5893128704e".into(),
        last_modified_ms: 1_764_093_600_000,
        content_type: Some("application/octet-stream".into()),
        stored_headers: vec![],
        user_metadata: vec![],
        tags: vec![],
        checksum: None,
        part_sizes: Vec::new(),
        completed_upload: None,
        data: ObjectData::Inline(Default::default()),
    })
}

fn bucket_with(keys: usize) -> BucketIndex {
    let mut index = BucketIndex::default();
    for i in 0..keys {
        let key = format!("warehouse/t/dt=2026-11-{:02}/part-{i:06}.parquet", i % 28 + 1);
        index.objects.insert(key.into_bytes().into_boxed_slice(), record(i as u64));
    }
    index
}

fn head_parse(c: &mut Criterion) {
    let mut head = RequestHead::default();
    c.bench_function("request_head_parse", |b| {
        b.iter(|| head.parse(black_box(GET_HEAD)).unwrap().unwrap());
    });
    head.parse(GET_HEAD).unwrap();
    c.bench_function("route_get_object", |b| {
        b.iter(|| {
            let (path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
            let query = Query::parse(query).unwrap();
            let resource = parse_path(black_box(path), "/api/v1/s3").unwrap();
            route(&head.method, resource, &query, false).unwrap()
        });
    });
}

fn listing(c: &mut Criterion) {
    let index = bucket_with(100_000);
    let query = ListQuery { prefix: "warehouse/t/".into(), max_keys: 1000, ..ListQuery::default() };
    c.bench_function("list_select_1000_of_100k", |b| b.iter(|| index.list(black_box(&query))));
    let delimited = ListQuery {
        prefix: "warehouse/t/".into(),
        delimiter: Some("/".into()),
        max_keys: 1000,
        ..ListQuery::default()
    };
    c.bench_function("list_delimiter_rollup_100k", |b| b.iter(|| index.list(black_box(&delimited))));
    let page = index.list(&query);
    let echo =
        ListEcho { bucket: "warehouse", prefix: "warehouse/t/", delimiter: None, max_keys: 1000, url_encode: false };
    let v2 = V2Echo {
        start_after: None,
        continuation_token: None,
        next_continuation_token: Some("token"),
        fetch_owner: false,
    };
    c.bench_function("list_v2_encode_1000", |b| b.iter(|| list_objects_v2(&echo, &v2, black_box(&page))));
}

fn hashing(c: &mut Criterion) {
    let data = vec![0xA5u8; 1 << 20];
    let mut group = c.benchmark_group("digest_1mib");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("md5", |b| b.iter(|| Md5::digest(black_box(&data))));
    group.bench_function("crc32", |b| b.iter(|| crc32fast::hash(black_box(&data))));
    group.bench_function("md5_scalar_kernel", |b| {
        b.iter(|| {
            let mut state = md5_kernel::INITIAL_STATE;
            md5_kernel::compress(&mut state, black_box(&data));
            state
        })
    });
    group.finish();
    if md5_kernel::lanes_supported() {
        // 16 streams of 1 MiB hashed side by side: throughput counts all 16 MiB.
        let mut group = c.benchmark_group("digest_16x1mib");
        group.throughput(Throughput::Bytes(16 * data.len() as u64));
        group.bench_function("md5_16_lanes", |b| {
            b.iter(|| {
                let mut states = [md5_kernel::INITIAL_STATE; md5_kernel::LANES];
                md5_kernel::compress_lanes(
                    &mut states,
                    [black_box(data.as_slice()); md5_kernel::LANES],
                    data.len() / 64,
                );
                states
            })
        });
        group.finish();
    } else {
        eprintln!("digest_16x1mib/md5_16_lanes: not measured, this CPU has no AVX-512F");
    }
}

fn journal(c: &mut Criterion) {
    let entry = JournalEntry::PutObject {
        bucket: "warehouse".into(),
        key: "t/dt=2026-11-25/part-0.parquet".into(),
        record: record(0),
    };
    let mut out = Vec::with_capacity(4096);
    c.bench_function("journal_encode_put", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(black_box(&entry), &mut out);
        })
    });
    encode_frame(&entry, &mut out);
    let payload = out[8..].to_vec();
    c.bench_function("journal_decode_put", |b| b.iter(|| JournalEntry::decode(black_box(&payload)).unwrap()));
}

criterion_group!(benches, head_parse, listing, hashing, journal);
criterion_main!(benches);
