"""Multipart uploads, CopyObject / UploadPartCopy and object & bucket tagging, through both
endpoints with boto3 and with `aws s3 cp` going multipart.

s3core's minimum part size is 1 MiB (S3: 5 MiB); every part but the last must reach it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from boto3.s3.transfer import TransferConfig

from conftest import new_s3_client
from s3util import (
    KiB,
    MiB,
    etag_of,
    expect_error,
    headers_of,
    http_status,
    list_all_keys,
    multipart_etag,
    random_bytes,
    unique_bucket_name,
)

MIN_PART = 1 * MiB


def _upload_parts(s3, bucket, key, parts, upload_id=None, **create_kw):
    if upload_id is None:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create_kw)["UploadId"]
    done = []
    for n, data in enumerate(parts, start=1):
        resp = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data)
        assert resp["ETag"] == etag_of(data), n
        done.append({"PartNumber": n, "ETag": resp["ETag"]})
    return upload_id, done


# ============================================================================================
# Multipart via the transfer manager
# ============================================================================================


def test_upload_file_multipart_and_download(s3, bucket, tmp_path):
    # s3transfer never uses parts below 5 MiB, so 11 MiB + a bit -> parts of 5, 5 and 1+ MiB.
    data = random_bytes(11 * MiB + 4321, seed=41)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=2 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=4)
    s3.upload_file(str(src), bucket, "mp/big.bin", Config=config)

    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    head = s3.head_object(Bucket=bucket, Key="mp/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag(parts)
    assert head["ETag"].endswith('-3"')

    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "mp/big.bin", str(dst), Config=config)  # parallel ranged GETs
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()

    listed = s3.list_objects_v2(Bucket=bucket, Prefix="mp/")["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        ("mp/big.bin", len(data), multipart_etag(parts))
    ]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_upload_file_multipart_aws_chunked(endpoint, bucket, tmp_path):
    """UploadPart bodies sent aws-chunked with CRC32 trailers (botocore's HTTPS default)."""
    client = new_s3_client(endpoint.url, aws_chunked_trailer=True)
    data = random_bytes(10 * MiB + 1, seed=42)
    (tmp_path / "f").write_bytes(data)
    config = TransferConfig(multipart_threshold=2 * MiB, multipart_chunksize=5 * MiB)
    client.upload_file(str(tmp_path / "f"), bucket, "chunked-mp", Config=config)
    parts = [data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]]
    assert client.head_object(Bucket=bucket, Key="chunked-mp")["ETag"] == multipart_etag(parts)
    assert client.get_object(Bucket=bucket, Key="chunked-mp")["Body"].read() == data


# ============================================================================================
# Multipart, explicit calls
# ============================================================================================


def test_multipart_explicit(s3, bucket):
    key = "explicit/obj ü.bin"
    create = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/x-mp", Metadata={"origin": "multipart"}
    )
    upload_id = create["UploadId"]
    assert upload_id
    assert create["Bucket"] == bucket and create["Key"] == key

    parts = [random_bytes(MIN_PART, seed=43), random_bytes(MIN_PART + 1, seed=44),
             random_bytes(100 * KiB, seed=45)]
    # Upload part 2 first with other bytes, then again: the last upload of a number wins.
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"z" * MIN_PART)
    _, done = _upload_parts(s3, bucket, key, parts, upload_id=upload_id)

    page1 = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, MaxParts=2)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in page1["Parts"]] == [
        (1, len(parts[0]), etag_of(parts[0])),
        (2, len(parts[1]), etag_of(parts[1])),
    ]
    assert page1["IsTruncated"] is True
    assert page1["NextPartNumberMarker"] == 2
    assert page1["MaxParts"] == 2
    assert page1["UploadId"] == upload_id and page1["Key"] == key
    page2 = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=2)
    assert [(p["PartNumber"], p["Size"]) for p in page2["Parts"]] == [(3, 100 * KiB)]
    assert page2["IsTruncated"] is False
    assert page2["PartNumberMarker"] == 2
    all_parts = s3.get_paginator("list_parts").paginate(
        Bucket=bucket, Key=key, UploadId=upload_id, PaginationConfig={"PageSize": 1}
    ).build_full_result()["Parts"]
    assert [p["PartNumber"] for p in all_parts] == [1, 2, 3]
    assert all(isinstance(p["LastModified"], dt.datetime) for p in all_parts)

    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload_id)]
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key=key)  # not visible before completion

    done_resp = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    assert http_status(done_resp) == 200
    assert done_resp["ETag"] == multipart_etag(parts)
    assert done_resp["Key"] == key and done_resp["Bucket"] == bucket

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"".join(parts)
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "application/x-mp"
    assert got["Metadata"] == {"origin": "multipart"}
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"], o["ETag"]) for o in listed] == [
        (key, sum(map(len, parts)), multipart_etag(parts))
    ]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with expect_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)

    ranged = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={MIN_PART - 5}-{MIN_PART + 4}")
    assert ranged["Body"].read() == (parts[0] + parts[1])[MIN_PART - 5 : MIN_PART + 5]


def test_multipart_subset_of_parts(s3, bucket):
    """Completing with parts 1 and 3 only (skipping 2) is valid; part numbers need not be
    consecutive."""
    parts = [random_bytes(MIN_PART, seed=46), b"never used" * 1000, random_bytes(5000, seed=47)]
    upload_id, done = _upload_parts(s3, bucket, "subset", parts)
    chosen = [done[0], done[2]]
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="subset", UploadId=upload_id,
                                        MultipartUpload={"Parts": chosen})
    assert resp["ETag"] == multipart_etag([parts[0], parts[2]])
    assert s3.get_object(Bucket=bucket, Key="subset")["Body"].read() == parts[0] + parts[2]


def test_multipart_single_small_part(s3, bucket):
    upload_id, done = _upload_parts(s3, bucket, "one-part", [b"tiny"])
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="one-part", UploadId=upload_id,
                                        MultipartUpload={"Parts": done})
    assert resp["ETag"] == multipart_etag([b"tiny"])
    assert resp["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="one-part")["Body"].read() == b"tiny"


def test_multipart_entity_too_small(s3, bucket):
    parts = [random_bytes(10 * KiB, seed=s) for s in (48, 49, 50)]
    upload_id, done = _upload_parts(s3, bucket, "small-parts", parts)
    with expect_error("EntityTooSmall", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="small-parts", UploadId=upload_id,
                                     MultipartUpload={"Parts": done})
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="small-parts")
    # The upload is still there and can be aborted.
    assert http_status(s3.abort_multipart_upload(Bucket=bucket, Key="small-parts",
                                                 UploadId=upload_id)) == 204


def test_multipart_invalid_part_order(s3, bucket):
    # All parts large enough in any order, so that only the order is wrong.
    parts = [random_bytes(MIN_PART, seed=51), random_bytes(MIN_PART, seed=52)]
    upload_id, done = _upload_parts(s3, bucket, "order", parts)
    with expect_error("InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=upload_id,
                                     MultipartUpload={"Parts": list(reversed(done))})
    with expect_error("InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=upload_id,
                                     MultipartUpload={"Parts": [done[0], done[0], done[1]]})
    # Still completable in the right order.
    resp = s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=upload_id,
                                        MultipartUpload={"Parts": done})
    assert resp["ETag"] == multipart_etag(parts)


def test_multipart_invalid_part(s3, bucket):
    parts = [random_bytes(MIN_PART, seed=53), random_bytes(10, seed=54)]
    upload_id, done = _upload_parts(s3, bucket, "invalid", parts)
    wrong_etag = [done[0], {"PartNumber": 2, "ETag": etag_of(b"something else")}]
    with expect_error("InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="invalid", UploadId=upload_id,
                                     MultipartUpload={"Parts": wrong_etag})
    never_uploaded = [done[0], {"PartNumber": 5, "ETag": done[1]["ETag"]}]
    with expect_error("InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="invalid", UploadId=upload_id,
                                     MultipartUpload={"Parts": never_uploaded})
    with expect_error("MalformedXML", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="invalid", UploadId=upload_id,
                                     MultipartUpload={"Parts": []})
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="invalid")


def test_multipart_abort_and_no_such_upload(s3, bucket):
    upload_id, done = _upload_parts(s3, bucket, "aborted", [random_bytes(MIN_PART, seed=55)])
    other_id = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    assert other_id != upload_id
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert sorted(u["UploadId"] for u in uploads) == sorted([upload_id, other_id])
    assert {u["Key"] for u in uploads} == {"aborted"}

    assert http_status(s3.abort_multipart_upload(Bucket=bucket, Key="aborted",
                                                 UploadId=upload_id)) == 204
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [other_id]
    with expect_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=upload_id)
    with expect_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=2, Body=b"x")
    with expect_error("NoSuchUpload", 404):
        s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id,
                                     MultipartUpload={"Parts": done})
    with expect_error("NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId="no-such-upload-id")
    with expect_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId="no-such-upload-id", PartNumber=1,
                       Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=other_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key="aborted")


def test_list_multipart_uploads_prefix_and_paging(s3, bucket):
    ids = {}
    for key in ("logs/a", "logs/b", "logs/sub/c", "other"):
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    resp = s3.list_multipart_uploads(Bucket=bucket, Prefix="logs/")
    assert [u["Key"] for u in resp["Uploads"]] == ["logs/a", "logs/b", "logs/sub/c"]
    resp = s3.list_multipart_uploads(Bucket=bucket, Prefix="logs/", Delimiter="/")
    assert [u["Key"] for u in resp["Uploads"]] == ["logs/a", "logs/b"]
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == ["logs/sub/"]
    pages = list(s3.get_paginator("list_multipart_uploads").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert [u["Key"] for p in pages for u in p.get("Uploads", [])] == sorted(ids)
    assert pages[0]["IsTruncated"] is True
    for key, upload_id in ids.items():
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


# ============================================================================================
# UploadPartCopy
# ============================================================================================


def test_upload_part_copy(s3, bucket):
    source = random_bytes(3 * MiB + 100, seed=56)
    s3.put_object(Bucket=bucket, Key="copy/source ü+.bin", Body=source)
    src = {"Bucket": bucket, "Key": "copy/source ü+.bin"}
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy/assembled")["UploadId"]

    r1 = s3.upload_part_copy(Bucket=bucket, Key="copy/assembled", UploadId=upload_id,
                             PartNumber=1, CopySource=src, CopySourceRange="bytes=0-1048575")
    assert r1["CopyPartResult"]["ETag"] == etag_of(source[:MiB])
    r2 = s3.upload_part_copy(Bucket=bucket, Key="copy/assembled", UploadId=upload_id,
                             PartNumber=2, CopySource=src,
                             CopySourceRange=f"bytes={MiB}-{3 * MiB + 99}")
    assert r2["CopyPartResult"]["ETag"] == etag_of(source[MiB:])
    tail = b"and a regular part at the end"
    r3 = s3.upload_part(Bucket=bucket, Key="copy/assembled", UploadId=upload_id, PartNumber=3,
                        Body=tail)
    parts = s3.list_parts(Bucket=bucket, Key="copy/assembled", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [
        (1, MiB), (2, 2 * MiB + 100), (3, len(tail))
    ]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="copy/assembled", UploadId=upload_id,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
            {"PartNumber": 3, "ETag": r3["ETag"]},
        ]},
    )
    assert done["ETag"] == multipart_etag([source[:MiB], source[MiB:], tail])
    assert s3.get_object(Bucket=bucket, Key="copy/assembled")["Body"].read() == source + tail

    # Whole-object copy as a part (no range).
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy/whole")["UploadId"]
    r = s3.upload_part_copy(Bucket=bucket, Key="copy/whole", UploadId=upload_id, PartNumber=1,
                            CopySource=src)
    assert r["CopyPartResult"]["ETag"] == etag_of(source)
    s3.complete_multipart_upload(Bucket=bucket, Key="copy/whole", UploadId=upload_id,
                                 MultipartUpload={"Parts": [
                                     {"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="copy/whole")["Body"].read() == source

    with expect_error("NoSuchKey", 404):
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="copy/x")["UploadId"]
        s3.upload_part_copy(Bucket=bucket, Key="copy/x", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "copy/missing"})


# ============================================================================================
# CopyObject
# ============================================================================================


def test_copy_object_metadata_and_tagging_copy(s3, bucket):
    data = random_bytes(200_000, seed=57)
    s3.put_object(Bucket=bucket, Key="src/ünï code+?.bin", Body=data, ContentType="text/x-src",
                  Metadata={"k": "v", "other": "x"}, Tagging="a=1&b=two%20words")
    src = {"Bucket": bucket, "Key": "src/ünï code+?.bin"}

    resp = s3.copy_object(Bucket=bucket, Key="dst/copy", CopySource=src)
    assert resp["CopyObjectResult"]["ETag"] == etag_of(data)
    assert isinstance(resp["CopyObjectResult"]["LastModified"], dt.datetime)
    got = s3.get_object(Bucket=bucket, Key="dst/copy")
    assert got["Body"].read() == data
    assert got["ETag"] == etag_of(data)
    assert got["ContentType"] == "text/x-src"
    assert got["Metadata"] == {"k": "v", "other": "x"}
    assert got["TagCount"] == 2
    tags = s3.get_object_tagging(Bucket=bucket, Key="dst/copy")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "two words")]

    # Explicit COPY directives behave the same; headers sent with COPY are ignored.
    s3.copy_object(Bucket=bucket, Key="dst/copy2", CopySource=src, MetadataDirective="COPY",
                   TaggingDirective="COPY", Metadata={"ignored": "yes"})
    head = s3.head_object(Bucket=bucket, Key="dst/copy2")
    assert head["Metadata"] == {"k": "v", "other": "x"}
    assert head["ContentType"] == "text/x-src"

    # Across buckets.
    other = bucket[:40] + "-other"
    s3.create_bucket(Bucket=other)
    s3.copy_object(Bucket=other, Key="copied", CopySource=src)
    assert s3.get_object(Bucket=other, Key="copied")["Body"].read() == data
    assert s3.get_object(Bucket=bucket, Key="src/ünï code+?.bin")["Body"].read() == data


def test_copy_object_replace(s3, bucket):
    data = b"replace me"
    s3.put_object(Bucket=bucket, Key="src", Body=data, ContentType="text/x-old",
                  Metadata={"old": "1"}, Tagging="old=1")
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", ContentType="text/x-new",
                   Metadata={"new": "2"}, TaggingDirective="REPLACE", Tagging="new=2&x=y")
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == data
    assert got["ContentType"] == "text/x-new"
    assert got["Metadata"] == {"new": "2"}
    tags = s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("new", "2"), ("x", "y")]

    # REPLACE tagging with no Tagging header: no tags.
    s3.copy_object(Bucket=bucket, Key="dst-untagged", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE")
    assert s3.get_object_tagging(Bucket=bucket, Key="dst-untagged")["TagSet"] == []
    assert s3.head_object(Bucket=bucket, Key="dst-untagged")["Metadata"] == {"old": "1"}


def test_copy_object_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=b"self", Metadata={"v": "1"})
    with expect_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    with expect_error("InvalidRequest", 400):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                       MetadataDirective="COPY")
    s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                   MetadataDirective="REPLACE", Metadata={"v": "2"}, ContentType="text/x-self")
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Body"].read() == b"self"
    assert got["Metadata"] == {"v": "2"}
    assert got["ContentType"] == "text/x-self"


def test_copy_object_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="exists", Body=b"x")
    with expect_error("NoSuchKey", 404):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "missing"})
    with expect_error("NoSuchBucket", 404):
        s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket + "-nope", "Key": "exists"})
    with expect_error("NoSuchBucket", 404):
        s3.copy_object(Bucket=bucket + "-nope", Key="dst",
                       CopySource={"Bucket": bucket, "Key": "exists"})
    with expect_error("PreconditionFailed", 412):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "exists"},
                       CopySourceIfMatch=etag_of(b"not x"))
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "exists"},
                   CopySourceIfMatch=etag_of(b"x"))
    assert list_all_keys(s3, bucket) == ["dst", "exists"]


def test_copy_multipart_source(s3, bucket):
    parts = [random_bytes(MIN_PART, seed=58), b"end"]
    upload_id, done = _upload_parts(s3, bucket, "mp-src", parts)
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-src", UploadId=upload_id,
                                 MultipartUpload={"Parts": done})
    resp = s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket,
                                                                    "Key": "mp-src"})
    # A CopyObject result is a single-part object: its ETag is the MD5 of the bytes.
    assert resp["CopyObjectResult"]["ETag"] == etag_of(b"".join(parts))
    assert s3.get_object(Bucket=bucket, Key="mp-copy")["Body"].read() == b"".join(parts)


# ============================================================================================
# Tagging
# ============================================================================================


def test_object_tagging_calls(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x")
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="tagged")

    tagset = [{"Key": "project", "Value": "s3core"}, {"Key": "empty", "Value": ""},
              {"Key": "unicode ü", "Value": "wert + = / : @"}]
    resp = s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": tagset})
    assert http_status(resp) == 200
    got = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tagset, key=lambda t: t["Key"])
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 3
    assert s3.head_object(Bucket=bucket, Key="tagged")["TagCount"] == 3

    # PUT replaces the whole set.
    s3.put_object_tagging(Bucket=bucket, Key="tagged",
                          Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == [
        {"Key": "only", "Value": "one"}
    ]
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 1

    resp = s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert http_status(resp) == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == []
    assert "TagCount" not in s3.head_object(Bucket=bucket, Key="tagged")
    assert s3.get_object(Bucket=bucket, Key="tagged")["Body"].read() == b"x"

    for call in (lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"),
                 lambda: s3.delete_object_tagging(Bucket=bucket, Key="missing"),
                 lambda: s3.put_object_tagging(Bucket=bucket, Key="missing",
                                               Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})):
        with expect_error("NoSuchKey", 404):
            call()


def test_tagging_on_put_and_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v1", Tagging="a=1&b=%C3%BC%20x&c=")
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "ü x"), ("c", "")]
    assert s3.head_object(Bucket=bucket, Key="k")["TagCount"] == 3
    assert headers_of(s3.get_object(Bucket=bucket, Key="k"))["x-amz-tagging-count"] == "3"
    # Overwriting the object without tags drops the old ones.
    s3.put_object(Bucket=bucket, Key="k", Body=b"v2")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []


@pytest.mark.parametrize(
    "tagset, code",
    [
        ([{"Key": f"k{i}", "Value": "v"} for i in range(11)], "BadRequest"),  # S3: max 10
        ([{"Key": "k" * 129, "Value": "v"}], "InvalidTag"),
        ([{"Key": "k", "Value": "v" * 257}], "InvalidTag"),
        ([{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}], "InvalidTag"),
    ],
    ids=["11-tags", "129-char-key", "257-char-value", "duplicate-key"],
)
def test_object_tagging_limits(s3, bucket, tagset, code):
    s3.put_object(Bucket=bucket, Key="limits", Body=b"x", Tagging="keep=me")
    with expect_error(code, 400):
        s3.put_object_tagging(Bucket=bucket, Key="limits", Tagging={"TagSet": tagset})
    assert s3.get_object_tagging(Bucket=bucket, Key="limits")["TagSet"] == [
        {"Key": "keep", "Value": "me"}
    ]


def test_object_tagging_limits_at_the_edge(s3, bucket):
    s3.put_object(Bucket=bucket, Key="edge", Body=b"x")
    tagset = [{"Key": f"{i:02d}" + "k" * 126, "Value": "v" * 256} for i in range(10)]
    s3.put_object_tagging(Bucket=bucket, Key="edge", Tagging={"TagSet": tagset})
    got = s3.get_object_tagging(Bucket=bucket, Key="edge")["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == tagset
    assert s3.head_object(Bucket=bucket, Key="edge")["TagCount"] == 10


def test_put_object_with_too_many_tags(s3, bucket):
    header = "&".join(f"k{i}=v" for i in range(11))
    with expect_error("BadRequest", 400):
        s3.put_object(Bucket=bucket, Key="too-many", Body=b"x", Tagging=header)
    with expect_error("InvalidTag", 400):
        s3.put_object(Bucket=bucket, Key="too-long", Body=b"x", Tagging="k" * 129 + "=v")
    assert list_all_keys(s3, bucket) == []


def test_bucket_tagging_calls(s3, bucket):
    with expect_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    tagset = [{"Key": "team", "Value": "storage"}, {"Key": "cost-center", "Value": "42"}]
    resp = s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tagset})
    assert http_status(resp) in (200, 204)
    got = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tagset, key=lambda t: t["Key"])

    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "only", "Value": "1"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "only", "Value": "1"}]

    resp = s3.delete_bucket_tagging(Bucket=bucket)
    assert http_status(resp) == 204
    with expect_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)

    with expect_error("InvalidTag", 400):
        s3.put_bucket_tagging(Bucket=bucket,
                              Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    with expect_error("InvalidTag", 400):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "d", "Value": "1"},
                                                                 {"Key": "d", "Value": "2"}]})
    with expect_error("NoSuchTagSet", 404):
        s3.get_bucket_tagging(Bucket=bucket)
    with expect_error("NoSuchBucket", 404):
        s3.get_bucket_tagging(Bucket=bucket + "-nope")


# ============================================================================================
# AWS CLI going multipart
# ============================================================================================


def test_awscli_cp_multipart(aws_cli, s3, tmp_path):
    aws_cli("configure", "set", "default.s3.multipart_threshold", "2MB", endpoint=False)
    aws_cli("configure", "set", "default.s3.multipart_chunksize", "5MB", endpoint=False)
    config_text = aws_cli.config_file.read_text()
    assert "multipart_threshold = 2MB" in config_text and "addressing_style = path" in config_text

    bucket_name = unique_bucket_name("cli-mp")
    s3.create_bucket(Bucket=bucket_name)

    data = random_bytes(12 * MiB + 77, seed=59)
    src = tmp_path / "big upload.bin"
    src.write_bytes(data)
    aws_cli("s3", "cp", src, f"s3://{bucket_name}/cli/big upload.bin", "--no-progress")
    head = s3.head_object(Bucket=bucket_name, Key="cli/big upload.bin")
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag(parts)
    assert head["ETag"].endswith('-3"')

    dst = tmp_path / "down.bin"
    aws_cli("s3", "cp", f"s3://{bucket_name}/cli/big upload.bin", dst, "--no-progress")
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert s3.list_multipart_uploads(Bucket=bucket_name).get("Uploads", []) == []
