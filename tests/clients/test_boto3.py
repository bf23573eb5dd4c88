"""boto3 (current botocore defaults) against s3core, through both endpoints (root and
/api/v1/s3): buckets, objects, ranges, conditional requests, awkward keys, listings, batch
delete, transfers, presigned URLs, SigV2, aws-chunked uploads, and a kill -9 restart."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.handlers import set_list_objects_encoding_type_url

from conftest import new_s3_client
from s3util import (
    MiB,
    content_md5,
    etag_of,
    expect_error,
    headers_of,
    http_status,
    list_all_keys,
    random_bytes,
    unique_bucket_name,
    utf8_sorted,
)

NOW_TOLERANCE = dt.timedelta(minutes=5)


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


# ============================================================================================
# Buckets
# ============================================================================================


def test_bucket_create_head_list_delete(s3):
    name = unique_bucket_name("lifecycle")
    resp = s3.create_bucket(Bucket=name)
    assert http_status(resp) == 200

    resp = s3.head_bucket(Bucket=name)
    assert http_status(resp) == 200

    buckets = s3.list_buckets()["Buckets"]
    names = [b["Name"] for b in buckets]
    assert name in names
    assert names == sorted(names), "ListBuckets must return buckets in ascending name order"
    ours = next(b for b in buckets if b["Name"] == name)
    assert abs(ours["CreationDate"] - utcnow()) < NOW_TOLERANCE

    resp = s3.delete_bucket(Bucket=name)
    assert http_status(resp) == 204

    with expect_error("404", 404):  # HEAD: no body, botocore reports the status as the code
        s3.head_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_buckets_visible_through_both_endpoints(server, s3, endpoint):
    name = unique_bucket_name("both")
    s3.create_bucket(Bucket=name)
    other_kind = "prefix" if endpoint.kind == "root" else "root"
    other = new_s3_client(server.endpoint_url(other_kind))
    assert http_status(other.head_bucket(Bucket=name)) == 200
    other.put_object(Bucket=name, Key="k", Body=b"via the other endpoint")
    assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"via the other endpoint"


@pytest.mark.parametrize(
    "bad_name",
    [
        "ab",  # too short
        "a" * 64,  # too long
        "UpperCase",
        "under_score",
        "-starts-with-dash",
        "ends-with-dash-",
        ".starts-with-dot",
        "ends-with-dot.",
        "double..dots",
        "192.168.5.4",  # formatted as an IP address
        "xn--reserved-prefix",
        "reserved-suffix-s3alias",
    ],
)
def test_create_bucket_invalid_name(s3, bad_name):
    with expect_error("InvalidBucketName", 400):
        s3.create_bucket(Bucket=bad_name)


def test_create_bucket_valid_edge_names(s3, endpoint):
    # 3 and 63 characters, dots and hyphens inside, digits first: all valid.
    tag = "r" if endpoint.kind == "root" else "p"
    for name in (
        f"{tag}3x",
        (f"{tag}-63-" + "x" * 63)[:63],
        f"9{tag}.dotted-name.x",
    ):
        s3.create_bucket(Bucket=name)
        assert http_status(s3.head_bucket(Bucket=name)) == 200
        s3.delete_bucket(Bucket=name)


def test_create_existing_bucket(s3, bucket):
    with expect_error("BucketAlreadyOwnedByYou", 409):
        s3.create_bucket(Bucket=bucket)


def test_delete_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    with expect_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    assert http_status(s3.head_bucket(Bucket=bucket)) == 200
    s3.delete_object(Bucket=bucket, Key="keep")
    assert http_status(s3.delete_bucket(Bucket=bucket)) == 204


def test_missing_bucket_errors(s3):
    name = unique_bucket_name("missing")
    with expect_error("404", 404):
        s3.head_bucket(Bucket=name)
    with expect_error("NoSuchBucket", 404):
        s3.delete_bucket(Bucket=name)
    with expect_error("NoSuchBucket", 404):
        s3.list_objects_v2(Bucket=name)
    with expect_error("NoSuchBucket", 404):
        s3.list_objects(Bucket=name)
    with expect_error("NoSuchBucket", 404):
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    with expect_error("NoSuchBucket", 404):
        s3.get_object(Bucket=name, Key="k")
    with expect_error("404", 404):
        s3.head_object(Bucket=name, Key="k")
    with expect_error("NoSuchBucket", 404):
        s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "k"}]})


# ============================================================================================
# Objects: put / get / head / delete
# ============================================================================================


def test_put_get_head_delete_roundtrip(s3, bucket):
    data = random_bytes(100_003, seed=1)
    put = s3.put_object(
        Bucket=bucket,
        Key="docs/report.bin",
        Body=data,
        ContentType="application/x-s3core-test; charset=utf-8",
        Metadata={"color": "blue", "Mixed-Case": "Some Value"},
    )
    assert http_status(put) == 200
    assert put["ETag"] == etag_of(data)

    got = s3.get_object(Bucket=bucket, Key="docs/report.bin")
    assert http_status(got) == 200
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == etag_of(data)
    assert got["ContentType"] == "application/x-s3core-test; charset=utf-8"
    # S3 stores user metadata names in lower case.
    assert got["Metadata"] == {"color": "blue", "mixed-case": "Some Value"}
    assert got["AcceptRanges"] == "bytes"
    assert abs(got["LastModified"] - utcnow()) < NOW_TOLERANCE

    head = s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert http_status(head) == 200
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == etag_of(data)
    assert head["ContentType"] == "application/x-s3core-test; charset=utf-8"
    assert head["Metadata"] == {"color": "blue", "mixed-case": "Some Value"}
    assert head["LastModified"] == got["LastModified"]
    assert headers_of(head)["content-length"] == str(len(data))

    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        ("docs/report.bin", len(data), etag_of(data))
    ]
    # The listing has sub-second precision, the Last-Modified header whole seconds.
    assert listed[0]["LastModified"].replace(microsecond=0) == head["LastModified"]

    resp = s3.delete_object(Bucket=bucket, Key="docs/report.bin")
    assert http_status(resp) == 204
    with expect_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="docs/report.bin")
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="docs/report.bin")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_overwrite_replaces_data_and_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version", Metadata={"v": "1"},
                  ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second", Metadata={"w": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second"
    assert got["ETag"] == etag_of(b"second")
    assert got["Metadata"] == {"w": "2"}
    assert got["ContentType"] == "binary/octet-stream"  # S3's default when none is sent


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_standard_headers_roundtrip(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="page.html.gz",
        Body=b"\x1f\x8b fake gzip",
        ContentType="text/html",
        ContentEncoding="gzip",
        ContentDisposition='attachment; filename="page.html"',
        ContentLanguage="en-US",
        CacheControl="max-age=3600, public",
        Expires=dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    )
    for resp in (s3.get_object(Bucket=bucket, Key="page.html.gz"),
                 s3.head_object(Bucket=bucket, Key="page.html.gz")):
        assert resp["ContentType"] == "text/html"
        assert resp["ContentEncoding"] == "gzip"
        assert resp["ContentDisposition"] == 'attachment; filename="page.html"'
        assert resp["ContentLanguage"] == "en-US"
        assert resp["CacheControl"] == "max-age=3600, public"
        assert headers_of(resp)["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"


def test_delete_missing_object_is_204(s3, bucket):
    assert http_status(s3.delete_object(Bucket=bucket, Key="never-existed")) == 204


def test_get_missing_key(s3, bucket):
    with expect_error("NoSuchKey", 404) as info:
        s3.get_object(Bucket=bucket, Key="nope/missing.txt")
    assert info.value.response["Error"].get("Key") == "nope/missing.txt"


def test_content_md5(s3, bucket):
    data = b"integrity matters\n" * 1000
    put = s3.put_object(Bucket=bucket, Key="good", Body=data, ContentMD5=content_md5(data))
    assert put["ETag"] == etag_of(data)
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == data

    # Well-formed MD5 of other bytes: BadDigest, and nothing is stored.
    with expect_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5=content_md5(b"other"))
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="bad")

    # Not a base64 MD5 at all: InvalidDigest.
    for garbage in ("not-base64!!", "AAAA"):  # the second is valid base64 but only 3 bytes
        with expect_error("InvalidDigest", 400):
            s3.put_object(Bucket=bucket, Key="bad", Body=data, ContentMD5=garbage)
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="bad")

    # A failed overwrite leaves the old object untouched.
    with expect_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="good", Body=b"new", ContentMD5=content_md5(b"old"))
    assert s3.get_object(Bucket=bucket, Key="good")["Body"].read() == data


def test_default_sdk_checksum_is_sent_and_verified(s3, endpoint, bucket):
    """Current botocore sends x-amz-checksum-crc32 on every PutObject by default; a wrong one
    must be refused (S3: BadDigest) and not store anything."""
    sent = []
    client = new_s3_client(endpoint.url, record=sent)
    data = b"checksummed body"
    client.put_object(Bucket=bucket, Key="crc", Body=data)
    assert all("x-amz-checksum-crc32" in h for _, _, h in sent), sent
    assert client.get_object(Bucket=bucket, Key="crc")["Body"].read() == data

    with expect_error("BadDigest", 400):
        client.put_object(Bucket=bucket, Key="crc-bad", Body=data, ChecksumCRC32="AAAAAA==")
    with expect_error("404", 404):
        client.head_object(Bucket=bucket, Key="crc-bad")


# ============================================================================================
# Ranged GETs
# ============================================================================================


@pytest.fixture
def thousand(s3, bucket):
    data = random_bytes(1000, seed=2)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    return bucket, data


@pytest.mark.parametrize(
    "rng, start, end",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-10", 10, 10),
        ("bytes=990-", 990, 999),
        ("bytes=0-", 0, 999),
        ("bytes=-25", 975, 999),
        ("bytes=-5000", 0, 999),  # suffix longer than the object: the whole object
        ("bytes=995-2000", 995, 999),  # end past the object: clamped
        ("bytes=999-999", 999, 999),
    ],
)
def test_range_get(s3, thousand, rng, start, end):
    bucket, data = thousand
    got = s3.get_object(Bucket=bucket, Key="r", Range=rng)
    assert http_status(got) == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/1000"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == data[start : end + 1]
    assert got["ETag"] == etag_of(data)


@pytest.mark.parametrize("rng", ["bytes=1000-", "bytes=1000-1000", "bytes=2000-3000"])
def test_range_unsatisfiable(s3, thousand, rng):
    bucket, _ = thousand
    with expect_error("InvalidRange", 416):
        s3.get_object(Bucket=bucket, Key="r", Range=rng)


def test_range_on_head(s3, thousand):
    bucket, _ = thousand
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=100-199")
    assert http_status(head) == 206
    assert head["ContentLength"] == 100
    assert head["ContentRange"] == "bytes 100-199/1000"


# ============================================================================================
# Conditional requests
# ============================================================================================


def test_conditional_get_and_head(s3, bucket):
    data = b"conditional"
    s3.put_object(Bucket=bucket, Key="c", Body=data)
    head = s3.head_object(Bucket=bucket, Key="c")
    etag, last_modified = head["ETag"], head["LastModified"]
    past = last_modified - dt.timedelta(days=1)
    future = last_modified + dt.timedelta(days=1)

    ok = [
        dict(IfMatch=etag),
        dict(IfNoneMatch='"00000000000000000000000000000000"'),
        dict(IfModifiedSince=past),
        dict(IfUnmodifiedSince=future),
        dict(IfUnmodifiedSince=last_modified),
        # If-Match true + If-Unmodified-Since false -> 200 (documented S3 behaviour)
        dict(IfMatch=etag, IfUnmodifiedSince=past),
    ]
    for cond in ok:
        got = s3.get_object(Bucket=bucket, Key="c", **cond)
        assert http_status(got) == 200, cond
        assert got["Body"].read() == data, cond
        assert http_status(s3.head_object(Bucket=bucket, Key="c", **cond)) == 200, cond

    failed = [
        dict(IfMatch='"00000000000000000000000000000000"'),
        dict(IfUnmodifiedSince=past),
    ]
    for cond in failed:
        with expect_error("PreconditionFailed", 412):
            s3.get_object(Bucket=bucket, Key="c", **cond)
        with expect_error("412", 412):
            s3.head_object(Bucket=bucket, Key="c", **cond)

    # (No If-Modified-Since in the future: RFC 2616 servers ignore such a date.)
    not_modified = [
        dict(IfNoneMatch=etag),
        dict(IfModifiedSince=last_modified),
        # If-None-Match false + If-Modified-Since true -> 304 (documented S3 behaviour)
        dict(IfNoneMatch=etag, IfModifiedSince=past),
    ]
    for cond in not_modified:
        with expect_error("304", 304) as info:
            s3.get_object(Bucket=bucket, Key="c", **cond)
        assert headers_of(info.value).get("etag") == etag, cond
        with expect_error("304", 304):
            s3.head_object(Bucket=bucket, Key="c", **cond)


def test_conditional_put(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    assert first["ETag"] == etag_of(b"first")

    with expect_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"

    with expect_error("PreconditionFailed", 412):
        s3.put_object(Bucket=bucket, Key="once", Body=b"third",
                      IfMatch='"00000000000000000000000000000000"')
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"

    swapped = s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=first["ETag"])
    assert swapped["ETag"] == etag_of(b"fourth")
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"fourth"

    # If-Match on a key that does not exist: 404 NoSuchKey, nothing created.
    with expect_error("NoSuchKey", 404):
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first["ETag"])
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="absent")


# ============================================================================================
# Awkward keys
# ============================================================================================

AWKWARD_KEYS = [
    "plain.txt",
    "a/b/c/deep.txt",
    "with space.txt",
    "  leading and trailing spaces  ",
    "plus+sign+.txt",
    "equals=sign==",
    "star*.txt",
    "question?mark",
    "percent%20literal",
    "percent%",
    "hash#fragment",
    "amp&lt<gt>\"quote'apos",
    "tilde~comma,semi;colon:at@dollar$bang!",
    "brackets[1]{2}(3)",
    "caret^pipe|grave`",
    "back\\slash",
    "double//slash",
    "café/naïve.txt",
    "日本語/ファイル.txt",
    "emoji-😀.bin",
    "dots/../parent",
    "dots/./current",
    "..",
    "trailing/",
]


def test_awkward_keys_roundtrip_and_listing(s3, bucket):
    for i, key in enumerate(AWKWARD_KEYS):
        body = key.encode("utf-8") + b"\n"
        assert s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"] == etag_of(body), key
    for key in AWKWARD_KEYS:
        body = key.encode("utf-8") + b"\n"
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body), key
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key

    expected = utf8_sorted(AWKWARD_KEYS)
    # botocore asks for encoding-type=url and decodes the answer itself.
    v2 = s3.list_objects_v2(Bucket=bucket)
    assert v2["EncodingType"] == "url"
    assert [o["Key"] for o in v2["Contents"]] == expected
    v1 = s3.list_objects(Bucket=bucket)
    assert [o["Key"] for o in v1["Contents"]] == expected
    # Small pages: continuation across awkward keys.
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 5}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == expected
    keys = []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert keys == expected
    # Prefix with special characters
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="日本語/")["Contents"]] == [
        "日本語/ファイル.txt"
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="percent%")["Contents"]] == [
        "percent%", "percent%20literal"
    ]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="plus+")["Contents"]] == [
        "plus+sign+.txt"
    ]

    for key in AWKWARD_KEYS:
        assert http_status(s3.delete_object(Bucket=bucket, Key=key)) == 204, key
        with expect_error("404", 404):
            s3.head_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_listing_encoding_type_url_explicit(s3, bucket):
    """With EncodingType given by the caller botocore leaves the keys as the server sent them:
    they must be URL-encoded (space as '+' or %20) and decode back to the original key."""
    for key in AWKWARD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    for op in ("list_objects_v2", "list_objects"):
        resp = getattr(s3, op)(Bucket=bucket, EncodingType="url")
        assert resp["EncodingType"] == "url"
        raw = [o["Key"] for o in resp["Contents"]]
        assert [urllib.parse.unquote_plus(k) for k in raw] == utf8_sorted(AWKWARD_KEYS), op
        for k in raw:
            assert k.isascii() and not set(k) & set(" <>&\""), f"{op}: not URL-encoded: {k!r}"

    resp = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/", Prefix="日本語/")
    assert urllib.parse.unquote_plus(resp["Prefix"]) == "日本語/"
    assert resp["Prefix"].isascii()


def test_listing_without_encoding_type_xml_escapes(s3, endpoint, bucket):
    """Without encoding-type the keys appear XML-escaped in the body; botocore's XML parser
    must get back the exact keys (including '&', '<', '>', quotes and non-ASCII)."""
    client = new_s3_client(endpoint.url)
    for op in ("ListObjects", "ListObjectsV2"):
        client.meta.events.unregister(
            f"before-parameter-build.s3.{op}", set_list_objects_encoding_type_url
        )
    for key in AWKWARD_KEYS:
        client.put_object(Bucket=bucket, Key=key, Body=b"")
    resp = client.list_objects_v2(Bucket=bucket)
    assert "EncodingType" not in resp
    assert [o["Key"] for o in resp["Contents"]] == utf8_sorted(AWKWARD_KEYS)
    resp = client.list_objects(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in resp["Contents"]] == utf8_sorted(
        k for k in AWKWARD_KEYS if "/" not in k
    )
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == utf8_sorted(
        {k.split("/", 1)[0] + "/" for k in AWKWARD_KEYS if "/" in k}
    )


def test_directory_markers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/", Body=b"")
    s3.put_object(Bucket=bucket, Key="dir/file.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="dir/sub/", Body=b"")

    head = s3.head_object(Bucket=bucket, Key="dir/")
    assert head["ContentLength"] == 0
    assert head["ETag"] == etag_of(b"")
    assert s3.get_object(Bucket=bucket, Key="dir/")["Body"].read() == b""
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="dir")  # no marker without the slash
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="dir/file.txt/")

    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert "Contents" not in top
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/"]
    assert top["KeyCount"] == 1

    inside = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == ["dir/", "dir/file.txt"]
    assert [p["Prefix"] for p in inside["CommonPrefixes"]] == ["dir/sub/"]
    assert inside["KeyCount"] == 3

    s3.delete_object(Bucket=bucket, Key="dir/")
    assert s3.get_object(Bucket=bucket, Key="dir/file.txt")["Body"].read() == b"hello"
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="dir/")


def test_hadoop_presto_style_probing(s3, bucket):
    """What S3A / Presto / Trino do to decide whether a path is a file, a directory or absent:
    HEAD the key, HEAD key + '/', then LIST prefix=key+'/' with max-keys 1."""
    part = "warehouse/t/dt=2026-11-25/part-0.parquet"
    partition = "warehouse/t/dt=2026-11-25/"
    data = random_bytes(4096, seed=3)
    s3.put_object(Bucket=bucket, Key=part, Body=data)

    head = s3.head_object(Bucket=bucket, Key=part)
    assert head["ContentLength"] == 4096 and head["ETag"] == etag_of(data)

    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key=partition)  # no directory marker
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key=partition.rstrip("/"))
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key=part + "/")

    probe = s3.list_objects_v2(Bucket=bucket, Prefix=partition, MaxKeys=1)
    assert probe["KeyCount"] == 1
    assert probe["MaxKeys"] == 1
    assert probe["IsTruncated"] is False
    assert [(o["Key"], o["Size"]) for o in probe["Contents"]] == [(part, 4096)]

    probe = s3.list_objects_v2(Bucket=bucket, Prefix=partition.rstrip("/"), Delimiter="/",
                               MaxKeys=1)
    assert "Contents" not in probe
    assert [p["Prefix"] for p in probe["CommonPrefixes"]] == [partition]
    assert probe["KeyCount"] == 1

    probe = s3.list_objects_v2(Bucket=bucket, Prefix="warehouse/t/dt=2026-11-26/", MaxKeys=1)
    assert probe["KeyCount"] == 0 and "Contents" not in probe and probe["IsTruncated"] is False

    # A second file makes the MaxKeys=1 probe truncated.
    s3.put_object(Bucket=bucket, Key=partition + "part-1.parquet", Body=b"x")
    probe = s3.list_objects_v2(Bucket=bucket, Prefix=partition, MaxKeys=1)
    assert probe["KeyCount"] == 1 and probe["IsTruncated"] is True
    assert probe["Contents"][0]["Key"] == part
    assert probe["NextContinuationToken"]

    # Once the marker exists the directory HEAD succeeds.
    s3.put_object(Bucket=bucket, Key=partition, Body=b"")
    assert s3.head_object(Bucket=bucket, Key=partition)["ContentLength"] == 0
    probe = s3.list_objects_v2(Bucket=bucket, Prefix=partition, MaxKeys=1)
    assert probe["Contents"][0]["Key"] == partition


# ============================================================================================
# Listings: paging, delimiter, start-after, markers, owner
# ============================================================================================

PAGING_KEYS = [f"page/{i:05d}" for i in range(2500)]


@pytest.fixture(scope="module")
def paging_bucket(server):
    """2500 small objects, created once per module through the root endpoint."""
    client = new_s3_client(server.endpoint_url("root"), max_pool_connections=16)
    name = unique_bucket_name("paging")
    client.create_bucket(Bucket=name)

    def put(key):
        client.put_object(Bucket=name, Key=key, Body=key[5:].encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, PAGING_KEYS))
    client.put_object(Bucket=name, Key="other/x", Body=b"")  # outside the prefix
    return name


def test_list_v2_paginator_default_page_size(s3, paging_bucket):
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=paging_bucket,
                                                               Prefix="page/"))
    assert [len(p["Contents"]) for p in pages] == [1000, 1000, 500]
    assert [p["KeyCount"] for p in pages] == [1000, 1000, 500]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert all(p["MaxKeys"] == 1000 for p in pages)
    assert all(p["Prefix"] == "page/" for p in pages)
    assert "NextContinuationToken" in pages[0] and "NextContinuationToken" in pages[1]
    assert "NextContinuationToken" not in pages[2]
    assert pages[1]["ContinuationToken"] == pages[0]["NextContinuationToken"]
    assert pages[2]["ContinuationToken"] == pages[1]["NextContinuationToken"]
    keys = [o["Key"] for p in pages for o in p["Contents"]]
    assert keys == PAGING_KEYS
    sizes = {o["Key"]: o["Size"] for p in pages for o in p["Contents"]}
    assert sizes["page/00007"] == 5 and sizes["page/02499"] == 5
    first = pages[0]["Contents"][0]
    assert first["ETag"] == etag_of(b"00000")
    assert first["StorageClass"] == "STANDARD"
    assert "Owner" not in first  # v2 returns the owner only with fetch-owner=true


def test_list_v2_small_pages(s3, paging_bucket):
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=paging_bucket, Prefix="page/000", PaginationConfig={"PageSize": 7}
        )
    )
    assert [p["KeyCount"] for p in pages] == [7] * 14 + [2]
    assert [o["Key"] for p in pages for o in p["Contents"]] == PAGING_KEYS[:100]
    assert [p["IsTruncated"] for p in pages] == [True] * 14 + [False]


def test_list_v2_max_keys_capped_at_1000(s3, paging_bucket):
    resp = s3.list_objects_v2(Bucket=paging_bucket, Prefix="page/", MaxKeys=5000)
    assert len(resp["Contents"]) == 1000
    assert resp["IsTruncated"] is True
    assert [o["Key"] for o in resp["Contents"]] == PAGING_KEYS[:1000]


def test_list_v1_paginator(s3, paging_bucket):
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=paging_bucket, Prefix="page/"))
    assert [len(p["Contents"]) for p in pages] == [1000, 1000, 500]
    assert [p["IsTruncated"] for p in pages] == [True, True, False]
    assert [p.get("Marker", "") for p in pages] == ["", PAGING_KEYS[999], PAGING_KEYS[1999]]
    assert [o["Key"] for p in pages for o in p["Contents"]] == PAGING_KEYS

    pages = list(
        s3.get_paginator("list_objects").paginate(
            Bucket=paging_bucket, Prefix="page/001", PaginationConfig={"PageSize": 30}
        )
    )
    assert [len(p["Contents"]) for p in pages] == [30, 30, 30, 10]
    assert [o["Key"] for p in pages for o in p["Contents"]] == PAGING_KEYS[100:200]


def test_list_v1_marker(s3, paging_bucket):
    resp = s3.list_objects(Bucket=paging_bucket, Prefix="page/", Marker="page/01233", MaxKeys=3)
    assert [o["Key"] for o in resp["Contents"]] == ["page/01234", "page/01235", "page/01236"]
    assert resp["Marker"] == "page/01233"
    assert resp["MaxKeys"] == 3
    assert resp["IsTruncated"] is True
    # A marker that is not itself a key.
    resp = s3.list_objects(Bucket=paging_bucket, Prefix="page/", Marker="page/01233zzz", MaxKeys=2)
    assert [o["Key"] for o in resp["Contents"]] == ["page/01234", "page/01235"]
    # 'other/x' sorts before 'page/', so nothing comes after the last page key.
    resp = s3.list_objects(Bucket=paging_bucket, Marker="page/02499")
    assert "Contents" not in resp and resp["IsTruncated"] is False
    resp = s3.list_objects(Bucket=paging_bucket, Marker="other/")
    assert [o["Key"] for o in resp["Contents"]][:2] == ["other/x", "page/00000"]


def test_list_v2_start_after(s3, paging_bucket):
    resp = s3.list_objects_v2(Bucket=paging_bucket, Prefix="page/", StartAfter="page/02497")
    assert [o["Key"] for o in resp["Contents"]] == ["page/02498", "page/02499"]
    assert resp["StartAfter"] == "page/02497"
    assert resp["KeyCount"] == 2 and resp["IsTruncated"] is False

    resp = s3.list_objects_v2(Bucket=paging_bucket, Prefix="page/", StartAfter="page/00010x",
                              MaxKeys=2)
    assert [o["Key"] for o in resp["Contents"]] == ["page/00011", "page/00012"]
    assert resp["IsTruncated"] is True

    resp = s3.list_objects_v2(Bucket=paging_bucket, Prefix="page/", StartAfter="a", MaxKeys=2)
    assert [o["Key"] for o in resp["Contents"]] == ["page/00000", "page/00001"]

    resp = s3.list_objects_v2(Bucket=paging_bucket, StartAfter="page/99999")
    assert resp["KeyCount"] == 0 and "Contents" not in resp and resp["IsTruncated"] is False

    # Paginating from a StartAfter.
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=paging_bucket, Prefix="page/", StartAfter="page/02400",
        PaginationConfig={"PageSize": 40},
    ):
        keys += [o["Key"] for o in page["Contents"]]
    assert keys == PAGING_KEYS[2401:]


def test_list_v2_fetch_owner(s3, paging_bucket):
    resp = s3.list_objects_v2(Bucket=paging_bucket, Prefix="page/", MaxKeys=2, FetchOwner=True)
    for obj in resp["Contents"]:
        assert obj["Owner"]["ID"], obj


@pytest.fixture
def tree_bucket(s3, bucket):
    for key in ["a.txt", "b/1", "b/2", "b/c/3", "c/", "d/e/f", "zz"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def _entries(resp):
    """Keys and common prefixes of one listing page, merged in S3's order."""
    items = [o["Key"] for o in resp.get("Contents", [])]
    items += [p["Prefix"] for p in resp.get("CommonPrefixes", [])]
    return utf8_sorted(items)


def test_delimiter_common_prefixes(s3, tree_bucket):
    for op in ("list_objects_v2", "list_objects"):
        resp = getattr(s3, op)(Bucket=tree_bucket, Delimiter="/")
        assert [o["Key"] for o in resp["Contents"]] == ["a.txt", "zz"], op
        assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/", "c/", "d/"], op
        assert resp["Delimiter"] == "/"
        assert resp["IsTruncated"] is False

        resp = getattr(s3, op)(Bucket=tree_bucket, Delimiter="/", Prefix="b/")
        assert [o["Key"] for o in resp["Contents"]] == ["b/1", "b/2"], op
        assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["b/c/"], op
        assert resp["Prefix"] == "b/"

        resp = getattr(s3, op)(Bucket=tree_bucket, Delimiter="/", Prefix="c/")
        assert [o["Key"] for o in resp["Contents"]] == ["c/"], op
        assert "CommonPrefixes" not in resp

        resp = getattr(s3, op)(Bucket=tree_bucket, Delimiter="/", Prefix="d/")
        assert "Contents" not in resp
        assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["d/e/"]

        # A delimiter other than '/'
        resp = getattr(s3, op)(Bucket=tree_bucket, Delimiter=".")
        assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["a."], op
        assert [o["Key"] for o in resp["Contents"]] == ["b/1", "b/2", "b/c/3", "c/", "d/e/f", "zz"]

    resp = s3.list_objects_v2(Bucket=tree_bucket, Delimiter="/")
    assert resp["KeyCount"] == 5  # keys and common prefixes both count


def test_delimiter_paging_v2(s3, tree_bucket):
    # Common prefixes count against MaxKeys like keys do.
    pages, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        resp = s3.list_objects_v2(Bucket=tree_bucket, Delimiter="/", MaxKeys=2, **kw)
        pages.append((_entries(resp), resp["KeyCount"], resp["IsTruncated"]))
        if not resp["IsTruncated"]:
            break
        token = resp["NextContinuationToken"]
        assert len(pages) < 10
    assert pages == [
        (["a.txt", "b/"], 2, True),
        (["c/", "d/"], 2, True),
        (["zz"], 1, False),
    ]

    full = s3.get_paginator("list_objects_v2").paginate(
        Bucket=tree_bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    ).build_full_result()
    assert [o["Key"] for o in full["Contents"]] == ["a.txt", "zz"]
    assert [p["Prefix"] for p in full["CommonPrefixes"]] == ["b/", "c/", "d/"]


def test_delimiter_paging_v1_next_marker(s3, tree_bucket):
    page1 = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2)
    assert _entries(page1) == ["a.txt", "b/"]
    assert page1["IsTruncated"] is True
    assert page1["NextMarker"] == "b/"  # returned with a delimiter: last key or prefix
    page2 = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2, Marker="b/")
    assert _entries(page2) == ["c/", "d/"]
    assert page2["NextMarker"] == "d/"
    page3 = s3.list_objects(Bucket=tree_bucket, Delimiter="/", MaxKeys=2, Marker="d/")
    assert _entries(page3) == ["zz"]
    assert page3["IsTruncated"] is False

    full = s3.get_paginator("list_objects").paginate(
        Bucket=tree_bucket, Delimiter="/", PaginationConfig={"PageSize": 2}
    ).build_full_result()
    assert [o["Key"] for o in full["Contents"]] == ["a.txt", "zz"]
    assert [p["Prefix"] for p in full["CommonPrefixes"]] == ["b/", "c/", "d/"]


def test_list_empty_bucket(s3, bucket):
    v2 = s3.list_objects_v2(Bucket=bucket)
    assert v2["KeyCount"] == 0 and "Contents" not in v2 and v2["IsTruncated"] is False
    assert v2["Name"] == bucket
    v1 = s3.list_objects(Bucket=bucket)
    assert "Contents" not in v1 and v1["IsTruncated"] is False and v1["Name"] == bucket


# ============================================================================================
# DeleteObjects
# ============================================================================================


def test_delete_objects(s3, bucket):
    keys = ["d/1", "d/2", "d/3 with space", "d/&<xml>", "d/ünï"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")

    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in keys + ["d/never-existed"]]},
    )
    assert http_status(resp) == 200
    # Keys that do not exist are reported as deleted, like S3 does.
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys + ["d/never-existed"])
    assert resp.get("Errors", []) == []
    assert list_all_keys(s3, bucket) == ["keep"]


def test_delete_objects_quiet(s3, bucket):
    keys = [f"q/{i}" for i in range(20)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    resp = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in keys + ["q/missing"]], "Quiet": True},
    )
    assert http_status(resp) == 200
    assert resp.get("Deleted", []) == []  # quiet mode reports only errors
    assert resp.get("Errors", []) == []
    assert list_all_keys(s3, bucket) == []


def test_delete_objects_limit(s3, bucket):
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"x")
    with expect_error("MalformedXML", 400):
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
        )
    assert list_all_keys(s3, bucket) == ["survivor"]


def test_delete_objects_1000(s3, bucket):
    keys = [f"many/{i:04d}" for i in range(1000)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b""), keys))
    resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert len(resp["Deleted"]) == 1000
    assert list_all_keys(s3, bucket) == []


# ============================================================================================
# Transfers (s3transfer), presigned URLs, other signatures, aws-chunked bodies
# ============================================================================================


def test_upload_download_file_single_part(s3, bucket, tmp_path):
    data = random_bytes(5 * MiB + 123, seed=4)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    single = TransferConfig(multipart_threshold=64 * MiB)
    s3.upload_file(str(src), bucket, "transfers/5mb.bin", Config=single)

    head = s3.head_object(Bucket=bucket, Key="transfers/5mb.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == etag_of(data)  # single PUT: plain MD5

    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "transfers/5mb.bin", str(dst), Config=single)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()

    buf = io.BytesIO()
    s3.download_fileobj(bucket, "transfers/5mb.bin", buf)
    assert buf.getvalue() == data


def test_presigned_urls(s3, bucket):
    data = b"presigned body \x00\xff"
    # The Content-Type the PUT will carry is part of the presigned parameters: botocore presigns
    # with SigV2 query auth here (no signature_version configured), whose string to sign
    # includes Content-Type, so a server checking signatures (S3CORE_TEST_AUTH=1) refuses the
    # PUT with any other one (urllib would even add application/x-www-form-urlencoded).
    put_url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "pre/signed obj", "ContentType": "application/octet-stream"},
        ExpiresIn=600,
    )
    req = urllib.request.Request(
        put_url, data=data, method="PUT", headers={"Content-Type": "application/octet-stream"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert resp.headers["ETag"] == etag_of(data)

    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/signed obj"}, ExpiresIn=600
    )
    with urllib.request.urlopen(get_url, timeout=30) as resp:
        assert resp.read() == data

    missing = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/missing"}, ExpiresIn=600
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(missing, timeout=30)
    assert info.value.code == 404
    assert b"<Code>NoSuchKey</Code>" in info.value.read()


def test_sigv2_client(s3, endpoint, bucket):
    v2 = new_s3_client(endpoint.url, signature_version="s3")
    data = b"signed the old way"
    assert v2.put_object(Bucket=bucket, Key="v2/obj", Body=data, Metadata={"m": "1"})["ETag"] == \
        etag_of(data)
    got = v2.get_object(Bucket=bucket, Key="v2/obj")
    assert got["Body"].read() == data and got["Metadata"] == {"m": "1"}
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket)["Contents"]] == ["v2/obj"]
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2/obj"})
    assert "Signature=" in url and "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.read() == data
    v2.delete_object(Bucket=bucket, Key="v2/obj")
    assert list_all_keys(s3, bucket) == []


def test_unsigned_payload_client(endpoint, bucket):
    data = random_bytes(300_000, seed=5)
    sent = []
    client = new_s3_client(endpoint.url, s3={"payload_signing_enabled": False}, record=sent)
    client.put_object(Bucket=bucket, Key="unsigned", Body=data)
    assert sent[-1][2]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert client.get_object(Bucket=bucket, Key="unsigned")["Body"].read() == data


@pytest.mark.parametrize("size", [0, 1, 65_536, 3 * MiB + 17])
def test_aws_chunked_trailer_upload(endpoint, bucket, size):
    """botocore's default over HTTPS: body sent aws-chunked with an unsigned CRC32 trailer."""
    sent = []
    client = new_s3_client(endpoint.url, aws_chunked_trailer=True, record=sent)
    data = random_bytes(size, seed=size)
    put = client.put_object(Bucket=bucket, Key=f"chunked/{size}", Body=io.BytesIO(data))
    _, _, headers = sent[-1]
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert "aws-chunked" in headers["content-encoding"]
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert put["ETag"] == etag_of(data)  # the MD5 of the decoded object, not of the encoding

    got = client.get_object(Bucket=bucket, Key=f"chunked/{size}")
    assert got["ContentLength"] == size
    assert got["Body"].read() == data
    assert "ContentEncoding" not in got  # 'aws-chunked' is not stored


def test_aws_chunked_keeps_real_content_encoding(endpoint, bucket):
    client = new_s3_client(endpoint.url, aws_chunked_trailer=True)
    data = random_bytes(10_000, seed=6)
    client.put_object(Bucket=bucket, Key="gz", Body=io.BytesIO(data), ContentEncoding="gzip")
    got = client.get_object(Bucket=bucket, Key="gz")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == data


def test_aws_chunked_upload_file(endpoint, bucket, tmp_path):
    client = new_s3_client(endpoint.url, aws_chunked_trailer=True)
    data = random_bytes(2 * MiB + 5, seed=7)
    (tmp_path / "f").write_bytes(data)
    client.upload_file(str(tmp_path / "f"), bucket, "chunked-file",
                       Config=TransferConfig(multipart_threshold=64 * MiB))
    assert client.head_object(Bucket=bucket, Key="chunked-file")["ETag"] == etag_of(data)
    assert client.get_object(Bucket=bucket, Key="chunked-file")["Body"].read() == data


# ============================================================================================
# Durability across kill -9
# ============================================================================================


def test_kill9_restart_keeps_objects(restartable_server):
    client = new_s3_client(restartable_server.endpoint_url("root"))
    bucket = unique_bucket_name("restart")
    client.create_bucket(Bucket=bucket)
    empty_bucket = unique_bucket_name("restart-empty")
    client.create_bucket(Bucket=empty_bucket)
    objects = {
        "big.bin": random_bytes(3 * MiB + 1, seed=8),
        "small.txt": b"small",
        "empty": b"",
        "dir/": b"",
        "dir/ünïcode + space.txt": "ünïcode".encode(),
    }
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="text/x-restart",
                          Metadata={"key-len": str(len(key))})
    client.put_object(Bucket=bucket, Key="deleted", Body=b"gone")
    client.delete_object(Bucket=bucket, Key="deleted")
    client.put_object(Bucket=bucket, Key="small.txt", Body=b"small v2",  # overwrite
                      ContentType="text/x-restart", Metadata={"key-len": str(len("small.txt"))})
    objects["small.txt"] = b"small v2"
    before = {k: client.head_object(Bucket=bucket, Key=k) for k in objects}

    restartable_server.restart_after_kill9()

    for kind in ("root", "prefix"):
        after = new_s3_client(restartable_server.endpoint_url(kind))
        names = [b["Name"] for b in after.list_buckets()["Buckets"]]
        assert bucket in names and empty_bucket in names
        assert list_all_keys(after, bucket) == utf8_sorted(objects)
        assert list_all_keys(after, empty_bucket) == []
        for key, data in objects.items():
            where = f"{key!r} via {kind} after restart"
            got = after.get_object(Bucket=bucket, Key=key)
            assert got["Body"].read() == data, where
            assert got["ETag"] == etag_of(data) == before[key]["ETag"], where
            assert got["ContentLength"] == len(data), where
            assert got["ContentType"] == "text/x-restart", where
            assert got["Metadata"] == {"key-len": str(len(key))}, where
            assert got["LastModified"] == before[key]["LastModified"], where
        with expect_error("NoSuchKey", 404):
            after.get_object(Bucket=bucket, Key="deleted")

    # And it keeps working after the restart.
    client = new_s3_client(restartable_server.endpoint_url("root"))
    client.put_object(Bucket=bucket, Key="after-restart", Body=b"new")
    assert client.get_object(Bucket=bucket, Key="after-restart")["Body"].read() == b"new"
    client.delete_bucket(Bucket=empty_bucket)
