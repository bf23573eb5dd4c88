"""Authentication: s3core started with credentials, whatever S3CORE_TEST_AUTH says.

The module starts servers of its own (``--access-key/--secret-key`` flags, and
``--credentials-file`` with two keys), with keys other than the suite's, so it tests the same
things in the open and in the credentials run of the suite:

* real clients with the right keys work through both endpoints (root and /api/v1/s3): boto3
  (SigV4 header auth with signed payloads, UNSIGNED-PAYLOAD, aws-chunked with an unsigned
  trailer; presigned URLs; SigV2 header and query auth), signed aws-chunked bodies with and
  without a signed trailer, the AWS CLI, boto 2 as in Alluxio's docs;
* refusals, each with S3's exact error code and status: unknown access key, wrong secret, no
  signature, malformed Authorization, a payload hash of other bytes, a tampered aws-chunked
  chunk or trailer, expired or altered presigned URLs, a clock skew over 15 minutes. A refused
  PUT must not create or replace the object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import time
import unittest.mock
import urllib.error
import urllib.parse
import urllib.request

import boto
import boto.exception
import boto.s3.connection
import botocore.auth
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import HmacV1Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import (
    PATH_PREFIX,
    REGION,
    AwsCli,
    Endpoint,
    _finish_server,
    _start_server,
    assert_requires_auth,
    new_s3_client,
)
from s3util import (
    KiB,
    MiB,
    etag_of,
    expect_error,
    list_all_keys,
    multipart_etag,
    random_bytes,
    unique_bucket_name,
    utf8_sorted,
)
from test_wire_formats import (
    crc32_b64,
    object_uri,
    prepare_signed_chunked_put,
    send_raw,
    signed_chunked_put,
)

# The keys of this module's server: not the suite's (conftest.AUTH_*), so that nothing here
# can pass thanks to the mode the suite runs in. Secrets with '/' and '+', as AWS's have.
KEY = "AKIDS3COREAUTHMOD"
SECRET = "auth/Module+Secret/0123456789+abcdefghij/KLMNOP"
# The two keys of the --credentials-file server.
FILE_KEYS = [
    ("AKIDS3COREFILEONE", "file+One/secret/0123456789+abcdefghijKLMNOPQ"),
    ("AKIDS3COREFILETWO", "file/Two+secret+ABCDEFGHIJ/0123456789abcdefgh"),
]
UNKNOWN_KEY = "AKIDS3COREUNKNOWN"

# Keys as Hive/Spark write them (partition directories `col=value/`), plus the characters
# that SigV4/SigV2 canonicalisation gets wrong most often.
HIVE_KEYS = [
    "warehouse/sales/dt=2026-11-25/part-00000-c000.snappy.parquet",
    "warehouse/sales/dt=2026-11-25/hour=07/part 00001 (copy).csv",
    "warehouse/sales/dt=2026-11-26/country=US+CA/a+b=c.txt",
    "warehouse/sales/dt=2026-11-26/glob*star*.txt",
    "warehouse/sales/dt=2026-11-26/100%25 done %.txt",
    "warehouse/sales/dt=2026-11-27/unicode 日本語 ü é ñ.txt",
    "warehouse/sales/dt=2026-11-27/two  spaces .txt",
    "warehouse/sales/dt=2026-11-27/tilde~ & semi;comma,'quote'!@$:=.txt",
]


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_server(request, tmp_path_factory):
    """s3core with one key given by --access-key/--secret-key (regardless of the mode)."""
    srv = _start_server(
        tmp_path_factory, "s3core-auth",
        extra_args=["--access-key", KEY, "--secret-key", SECRET], mode_credentials=False,
    )
    request.module._s3core_server = srv
    assert_requires_auth(srv)
    yield srv
    _finish_server(srv)


@pytest.fixture(scope="module", params=["root", "prefix"])
def ep(request, auth_server) -> Endpoint:
    return Endpoint(request.param, auth_server.endpoint_url(request.param))


def client_for(url: str, access_key: str = KEY, secret_key: str = SECRET, **config):
    return new_s3_client(url, access_key=access_key, secret_key=secret_key, **config)


@pytest.fixture(scope="module")
def s3a(ep):
    """boto3 with the right keys (SigV4, botocore's defaults)."""
    return client_for(ep.url)


@pytest.fixture
def bkt(s3a, request):
    name = unique_bucket_name(request.node.originalname)
    s3a.create_bucket(Bucket=name)
    return name


def http_request(url: str, method: str = "GET", data: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of a plain urllib request (no signature unless the URL carries one)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def error_code_of(body: bytes) -> str | None:
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def assert_refused(result: tuple, code: str, status: int) -> None:
    got_status, body = result[0], result[-1]
    assert (error_code_of(body), got_status) == (code, status), (
        f"expected {code} ({status}), got {got_status}: {body[:600]!r}"
    )


def assert_absent(s3, bucket: str, key: str) -> None:
    with expect_error("404", 404):
        s3.head_object(Bucket=bucket, Key=key)


def sigv4_signed(method: str, url: str, body: bytes = b"", headers: dict | None = None,
                 access_key: str = KEY, secret_key: str = SECRET,
                 payload_hash: str | None = None, skew: dt.timedelta | None = None):
    """(target, headers) of a request signed by botocore's S3 SigV4 signer: the payload hash
    is the body's unless ``payload_hash`` is given, the signing time is now (+ ``skew``).
    ``url`` must already be percent-encoded, as botocore's S3 signer does not encode it."""

    class Signer(S3SigV4Auth):
        def payload(self, request):
            return payload_hash if payload_hash is not None else super().payload(request)

    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    signer = Signer(Credentials(access_key, secret_key), "s3", REGION)
    real_now = botocore.auth.get_current_datetime
    with unittest.mock.patch.object(botocore.auth, "get_current_datetime",
                                    lambda *a, **k: real_now(*a, **k) + (skew or dt.timedelta())):
        signer.add_auth(req)
    split = urllib.parse.urlsplit(url)
    out = {"host": split.netloc}
    out.update({k.lower(): v for k, v in req.headers.items()})
    out["content-length"] = str(len(body))
    target = split.path + ("?" + split.query if split.query else "")
    return target, out


def object_url(endpoint_url: str, bucket: str, key: str) -> str:
    """The URL of an object, percent-encoded as SigV4 canonicalises it."""
    split = urllib.parse.urlsplit(endpoint_url)
    return f"{split.scheme}://{split.netloc}{object_uri(endpoint_url, bucket, key)}"


def chunk_data_spans(body: bytes) -> list[tuple[int, int]]:
    """(offset, length) of the data of each non-empty chunk of an aws-chunked body."""
    spans, pos = [], 0
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol].split(b";")[0], 16)
        if size == 0:
            return spans
        spans.append((eol + 2, size))
        pos = eol + 2 + size + 2


# --------------------------------------------------------------------------------------------
# The right keys: everything works, through both endpoints
# --------------------------------------------------------------------------------------------


def test_hive_style_keys_put_get_head_delete(s3a, bkt):
    for i, key in enumerate(HIVE_KEYS):
        data = f"row {i}: {key}\n".encode() * (i + 1)
        put = s3a.put_object(Bucket=bkt, Key=key, Body=data, Metadata={"part": str(i)},
                             ContentType="text/csv")
        assert put["ETag"] == etag_of(data)
        got = s3a.get_object(Bucket=bkt, Key=key)
        assert got["Body"].read() == data, key
        assert got["Metadata"] == {"part": str(i)}
        head = s3a.head_object(Bucket=bkt, Key=key)
        assert head["ContentLength"] == len(data) and head["ContentType"] == "text/csv"
    assert list_all_keys(s3a, bkt) == utf8_sorted(HIVE_KEYS)
    for key in HIVE_KEYS[:3]:
        s3a.delete_object(Bucket=bkt, Key=key)
    assert list_all_keys(s3a, bkt) == utf8_sorted(HIVE_KEYS[3:])
    resp = s3a.delete_objects(
        Bucket=bkt, Delete={"Objects": [{"Key": k} for k in HIVE_KEYS[3:]], "Quiet": False}
    )
    assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(HIVE_KEYS[3:])
    assert list_all_keys(s3a, bkt) == []


def test_ranged_reads(s3a, bkt):
    key = "warehouse/sales/dt=2026-11-25/ranged +*% ü.bin"
    data = random_bytes(100_000, seed=41)
    s3a.put_object(Bucket=bkt, Key=key, Body=data)
    for rng, want in [("bytes=0-0", data[:1]), ("bytes=10-1009", data[10:1010]),
                      ("bytes=-77", data[-77:]), ("bytes=99990-", data[99990:])]:
        got = s3a.get_object(Bucket=bkt, Key=key, Range=rng)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert got["Body"].read() == want, rng
        assert got["ContentRange"].startswith("bytes ") and got["ContentRange"].endswith("/100000")
    with expect_error("InvalidRange", 416):
        s3a.get_object(Bucket=bkt, Key=key, Range="bytes=100000-")


def test_listing_with_paging_and_awkward_query_values(s3a, bkt):
    """Paging markers, prefixes and start-after hold '=', '+', '%', spaces and non-ASCII: the
    canonical query string of every page request is signed."""
    for key in HIVE_KEYS:
        s3a.put_object(Bucket=bkt, Key=key, Body=b"x")
    want = utf8_sorted(HIVE_KEYS)

    pages = list(s3a.get_paginator("list_objects_v2").paginate(
        Bucket=bkt, PaginationConfig={"PageSize": 3}))
    assert [len(p.get("Contents", [])) for p in pages] == [3, 3, 2]
    assert [o["Key"] for p in pages for o in p["Contents"]] == want

    pages = list(s3a.get_paginator("list_objects").paginate(
        Bucket=bkt, PaginationConfig={"PageSize": 2}))  # v1: Marker = last key (awkward)
    assert [o["Key"] for p in pages for o in p["Contents"]] == want
    assert len(pages) == 4

    resp = s3a.list_objects_v2(Bucket=bkt, Prefix="warehouse/sales/", Delimiter="/")
    assert [p["Prefix"] for p in resp["CommonPrefixes"]] == [
        "warehouse/sales/dt=2026-11-25/", "warehouse/sales/dt=2026-11-26/",
        "warehouse/sales/dt=2026-11-27/",
    ]
    resp = s3a.list_objects_v2(Bucket=bkt, Prefix="warehouse/sales/dt=2026-11-26/")
    assert [o["Key"] for o in resp["Contents"]] == utf8_sorted(
        k for k in HIVE_KEYS if "dt=2026-11-26/" in k)
    resp = s3a.list_objects_v2(Bucket=bkt, StartAfter=want[3])
    assert [o["Key"] for o in resp["Contents"]] == want[4:]


def test_multipart_upload_file_and_download(s3a, bkt, tmp_path):
    key = "warehouse/sales/dt=2026-11-25/big +%* ü.bin"
    data = random_bytes(6 * MiB + 123, seed=42)
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    # s3transfer's smallest part is 5 MiB: 2 parts.
    config = TransferConfig(multipart_threshold=1 * MiB, multipart_chunksize=5 * MiB)
    s3a.upload_file(str(src), bkt, key, Config=config)
    head = s3a.head_object(Bucket=bkt, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag([data[: 5 * MiB], data[5 * MiB:]])
    s3a.download_file(bkt, key, str(dst), Config=config)  # ranged GETs in parallel
    assert dst.read_bytes() == data


def test_multipart_low_level_and_abort(s3a, bkt):
    key = "warehouse/sales/dt=2026-11-26/mpu 日本 +=.bin"
    parts = [random_bytes(1 * MiB, seed=43), random_bytes(1000, seed=44)]
    upload = s3a.create_multipart_upload(Bucket=bkt, Key=key, ContentType="x/y")["UploadId"]
    etags = [s3a.upload_part(Bucket=bkt, Key=key, UploadId=upload, PartNumber=n + 1,
                             Body=p)["ETag"] for n, p in enumerate(parts)]
    listed = s3a.list_parts(Bucket=bkt, Key=key, UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [(1, etags[0]), (2, etags[1])]
    uploads = s3a.list_multipart_uploads(Bucket=bkt, Prefix="warehouse/sales/dt=2026-11-26/")
    assert [u["Key"] for u in uploads["Uploads"]] == [key]
    done = s3a.complete_multipart_upload(
        Bucket=bkt, Key=key, UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    assert s3a.get_object(Bucket=bkt, Key=key)["Body"].read() == b"".join(parts)

    other = s3a.create_multipart_upload(Bucket=bkt, Key=key + ".aborted")["UploadId"]
    s3a.abort_multipart_upload(Bucket=bkt, Key=key + ".aborted", UploadId=other)
    assert s3a.list_multipart_uploads(Bucket=bkt).get("Uploads", []) == []


def test_copy_and_tagging(s3a, bkt):
    src = "warehouse/sales/dt=2026-11-25/src +%* ü.txt"
    dst = "warehouse/sales/dt=2026-11-26/dst = copy ü.txt"
    data = b"copy me, tag me"
    s3a.put_object(Bucket=bkt, Key=src, Body=data, Tagging="dt=2026-11-25&team=data eng",
                   Metadata={"origin": "src"})
    tags = s3a.get_object_tagging(Bucket=bkt, Key=src)["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("dt", "2026-11-25"),
                                                            ("team", "data eng")]

    copied = s3a.copy_object(Bucket=bkt, Key=dst, CopySource={"Bucket": bkt, "Key": src})
    assert copied["CopyObjectResult"]["ETag"] == etag_of(data)
    got = s3a.get_object(Bucket=bkt, Key=dst)
    assert got["Body"].read() == data and got["Metadata"] == {"origin": "src"}
    assert got.get("TagCount") == 2

    s3a.copy_object(Bucket=bkt, Key=dst, CopySource={"Bucket": bkt, "Key": src},
                    MetadataDirective="REPLACE", Metadata={"origin": "replaced"},
                    TaggingDirective="REPLACE", Tagging="state=copied")
    assert s3a.head_object(Bucket=bkt, Key=dst)["Metadata"] == {"origin": "replaced"}
    assert s3a.get_object_tagging(Bucket=bkt, Key=dst)["TagSet"] == [
        {"Key": "state", "Value": "copied"}]

    s3a.put_object_tagging(Bucket=bkt, Key=dst, Tagging={"TagSet": [
        {"Key": "a+b", "Value": "c=d e/f"}, {"Key": "ü", "Value": "x:y@z_.-"}]})
    assert sorted((t["Key"], t["Value"]) for t in
                  s3a.get_object_tagging(Bucket=bkt, Key=dst)["TagSet"]) == [
        ("a+b", "c=d e/f"), ("ü", "x:y@z_.-")]
    s3a.delete_object_tagging(Bucket=bkt, Key=dst)
    assert s3a.get_object_tagging(Bucket=bkt, Key=dst)["TagSet"] == []

    s3a.put_bucket_tagging(Bucket=bkt, Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    assert s3a.get_bucket_tagging(Bucket=bkt)["TagSet"] == [{"Key": "env", "Value": "test"}]
    s3a.delete_bucket_tagging(Bucket=bkt)

    # UploadPartCopy with a range, from the awkward source key.
    upload = s3a.create_multipart_upload(Bucket=bkt, Key=dst + ".mpu")["UploadId"]
    part = s3a.upload_part_copy(Bucket=bkt, Key=dst + ".mpu", UploadId=upload, PartNumber=1,
                                CopySource={"Bucket": bkt, "Key": src}, CopySourceRange="bytes=0-3")
    s3a.complete_multipart_upload(Bucket=bkt, Key=dst + ".mpu", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert s3a.get_object(Bucket=bkt, Key=dst + ".mpu")["Body"].read() == data[:4]


def test_bucket_operations(ep):
    client = client_for(ep.url)
    name = unique_bucket_name("bucket-ops")
    client.create_bucket(Bucket=name)
    client.head_bucket(Bucket=name)
    assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert client.get_bucket_location(Bucket=name).get("LocationConstraint") in (None, "",
                                                                                 "us-east-1")
    client.delete_bucket(Bucket=name)
    with expect_error("NoSuchBucket", 404):
        client.list_objects_v2(Bucket=name)


def test_unsigned_payload_and_unsigned_trailer_bodies(ep, bkt):
    """x-amz-content-sha256: UNSIGNED-PAYLOAD, and STREAMING-UNSIGNED-PAYLOAD-TRAILER (what
    botocore sends by default over HTTPS): the headers are signed, the body is not."""
    data = random_bytes(300_000, seed=45)
    sent = []
    unsigned = client_for(ep.url, s3={"payload_signing_enabled": False}, record=sent)
    unsigned.put_object(Bucket=bkt, Key="dt=2026-11-25/unsigned +.bin", Body=data)
    assert sent[-1][2]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    trailer = client_for(ep.url, aws_chunked_trailer=True, record=sent)
    trailer.put_object(Bucket=bkt, Key="dt=2026-11-25/trailer +.bin", Body=io.BytesIO(data))
    assert sent[-1][2]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    for key in ("dt=2026-11-25/unsigned +.bin", "dt=2026-11-25/trailer +.bin"):
        assert unsigned.get_object(Bucket=bkt, Key=key)["Body"].read() == data


@pytest.mark.parametrize("trailer", [False, True], ids=["chunk-signatures", "signed-trailer"])
def test_signed_aws_chunked_put(s3a, ep, bkt, trailer):
    data = random_bytes(200_000, seed=46)
    key = "dt=2026-11-25/streamed +*% ü.bin"
    extra = {"trailer": {"x-amz-checksum-crc32": crc32_b64(data)}} if trailer else {}
    status, headers, body = signed_chunked_put(ep.url, bkt, key, data, access_key=KEY,
                                               secret_key=SECRET, **extra)
    assert status == 200, body
    assert headers["etag"] == etag_of(data)
    assert s3a.get_object(Bucket=bkt, Key=key)["Body"].read() == data


def test_presigned_sigv4_put_and_get(ep, bkt):
    v4 = client_for(ep.url, signature_version="s3v4")
    key = "dt=2026-11-25/presigned +*% ü.txt"
    data = b"presigned v4"
    put_url = v4.generate_presigned_url(
        "put_object", Params={"Bucket": bkt, "Key": key, "ContentType": "text/plain"},
        ExpiresIn=300)
    assert "X-Amz-Signature=" in put_url and "content-type" in urllib.parse.unquote(put_url)
    # Content-Type is a signed header of this URL: another one is refused.
    assert_refused(http_request(put_url, "PUT", data, {"Content-Type": "text/html"}),
                   "SignatureDoesNotMatch", 403)
    assert http_request(put_url, "PUT", data, {"Content-Type": "text/plain"})[0] == 200
    get_url = v4.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": key},
                                        ExpiresIn=300)
    assert http_request(get_url) == (200, data)
    override_url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bkt, "Key": key, "ResponseContentType": "x/override"},
        ExpiresIn=300)
    assert http_request(override_url) == (200, data)  # response-* parameters are signed too


# --------------------------------------------------------------------------------------------
# SigV2
# --------------------------------------------------------------------------------------------


def test_sigv2_object_operations(s3a, ep, bkt):
    v2 = client_for(ep.url, signature_version="s3")
    for i, key in enumerate(HIVE_KEYS):
        data = f"v2 {i}".encode()
        assert v2.put_object(Bucket=bkt, Key=key, Body=data, Metadata={"m": str(i)},
                             ContentType="text/plain")["ETag"] == etag_of(data)
        got = v2.get_object(Bucket=bkt, Key=key)
        assert got["Body"].read() == data and got["Metadata"] == {"m": str(i)}
        assert v2.get_object(Bucket=bkt, Key=key, Range="bytes=1-2")["Body"].read() == data[1:3]
    v2.put_object_tagging(Bucket=bkt, Key=HIVE_KEYS[0],
                          Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})  # ?tagging signed
    assert v2.get_object_tagging(Bucket=bkt, Key=HIVE_KEYS[0])["TagSet"] == [
        {"Key": "k", "Value": "v"}]
    upload = v2.create_multipart_upload(Bucket=bkt, Key=HIVE_KEYS[1])["UploadId"]  # ?uploads
    etag = v2.upload_part(Bucket=bkt, Key=HIVE_KEYS[1], UploadId=upload, PartNumber=1,
                          Body=b"part")["ETag"]
    v2.complete_multipart_upload(Bucket=bkt, Key=HIVE_KEYS[1], UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert v2.get_object(Bucket=bkt, Key=HIVE_KEYS[1])["Body"].read() == b"part"
    v2.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": HIVE_KEYS[2]})
    for key in HIVE_KEYS:
        v2.delete_object(Bucket=bkt, Key=key)
    assert list_all_keys(s3a, bkt) == ["copy"]


def test_sigv2_bucket_operations(ep):
    """CreateBucket, HeadBucket, ListObjects, DeleteBucket signed with SigV2 by botocore
    (signature_version='s3'), which signs a path-style bucket request ``/bucket`` with the
    canonical resource ``/bucket/``, as Amazon S3 expects."""
    v2 = client_for(ep.url, signature_version="s3")
    name = unique_bucket_name("v2-bucket")
    v2.create_bucket(Bucket=name)
    v2.head_bucket(Bucket=name)
    v2.put_object(Bucket=name, Key="dt=2026-11-25/a b", Body=b"1")
    assert [o["Key"] for o in v2.list_objects(Bucket=name)["Contents"]] == ["dt=2026-11-25/a b"]
    assert [o["Key"] for o in v2.list_objects_v2(Bucket=name, Prefix="dt=")["Contents"]] == [
        "dt=2026-11-25/a b"]
    assert name in [b["Name"] for b in v2.list_buckets()["Buckets"]]
    v2.delete_object(Bucket=name, Key="dt=2026-11-25/a b")
    v2.delete_bucket(Bucket=name)


def test_sigv2_presigned_get_and_put(ep, bkt):
    v2 = client_for(ep.url, signature_version="s3")
    key = "dt=2026-11-25/v2 presigned +*% ü"
    put_url = v2.generate_presigned_url(
        "put_object", Params={"Bucket": bkt, "Key": key, "ContentType": "text/plain"},
        ExpiresIn=300)
    assert "AWSAccessKeyId=" in put_url and "Signature=" in put_url
    # SigV2 signs Content-Type: another one is refused.
    assert_refused(http_request(put_url, "PUT", b"v2", {"Content-Type": "text/html"}),
                   "SignatureDoesNotMatch", 403)
    assert http_request(put_url, "PUT", b"v2", {"Content-Type": "text/plain"})[0] == 200
    get_url = v2.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": key},
                                        ExpiresIn=300)
    assert http_request(get_url) == (200, b"v2")
    # Altered Expires: the signature no longer matches.
    later = re.sub(r"Expires=(\d+)", lambda m: f"Expires={int(m.group(1)) + 3600}", get_url)
    assert_refused(http_request(later), "SignatureDoesNotMatch", 403)


# --------------------------------------------------------------------------------------------
# AWS CLI and boto 2
# --------------------------------------------------------------------------------------------


def test_awscli_cp_up_and_down(ep, bkt, tmp_path):
    cli = AwsCli(ep.url, tmp_path / "aws-home", access_key=KEY, secret_key=SECRET)
    small, big = tmp_path / "small file.txt", tmp_path / "big.bin"
    small.write_bytes(b"aws cli with keys\n")
    big.write_bytes(random_bytes(9 * MiB + 5, seed=47))  # over the CLI's 8 MiB threshold
    for src, key in [(small, "dt=2026-11-25/small file +.txt"), (big, "dt=2026-11-25/big ü.bin")]:
        cli("s3", "cp", src, f"s3://{bkt}/{key}")
        back = tmp_path / ("back-" + src.name)
        cli("s3", "cp", f"s3://{bkt}/{key}", back)
        assert back.read_bytes() == src.read_bytes()
    out = cli("s3", "ls", f"s3://{bkt}/dt=2026-11-25/").stdout_text
    assert "small file +.txt" in out and "big ü.bin" in out

    url = cli("s3", "presign", f"s3://{bkt}/dt=2026-11-25/small file +.txt",
              "--expires-in", "300").stdout_text.strip()
    assert http_request(url) == (200, b"aws cli with keys\n")

    wrong = AwsCli(ep.url, tmp_path / "aws-home-wrong", access_key=KEY, secret_key=SECRET + "x")
    proc = wrong("s3", "ls", f"s3://{bkt}/", check=False)
    assert proc.returncode != 0 and "SignatureDoesNotMatch" in proc.stderr_text, proc.stderr_text
    unknown = AwsCli(ep.url, tmp_path / "aws-home-unknown", access_key=UNKNOWN_KEY,
                     secret_key=SECRET)
    proc = unknown("s3", "cp", small, f"s3://{bkt}/refused.txt", check=False)
    assert proc.returncode != 0 and "InvalidAccessKeyId" in proc.stderr_text, proc.stderr_text
    assert_absent(client_for(ep.url), bkt, "refused.txt")


def _boto2(port: int, access_key: str = KEY, secret_key: str = SECRET):
    # Alluxio's docs' call, with keys.
    return boto.connect_s3(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                           host='localhost', port=port, path=PATH_PREFIX, is_secure=False,
                           calling_format=boto.s3.connection.OrdinaryCallingFormat())


def test_boto2_with_keys(auth_server):
    conn = _boto2(auth_server.port)
    name = unique_bucket_name("boto2")
    bucket = conn.create_bucket(name)
    for key_name in ["small.txt", "dt=2026-11-25/part 0+1.txt"]:
        key = bucket.new_key(key_name)
        key.set_contents_from_string("Hello World!")
        assert bucket.get_key(key_name).get_contents_as_string(encoding="utf-8") == "Hello World!"
    assert sorted(k.name for k in bucket.list()) == ["dt=2026-11-25/part 0+1.txt", "small.txt"]

    wrong = _boto2(auth_server.port, secret_key=SECRET[:-1])
    with pytest.raises(boto.exception.S3ResponseError) as info:
        # validate=False and a GET: boto reports a 403 to a HEAD (no body to read the code
        # from) as 'AccessDenied' or without a code.
        wrong.get_bucket(name, validate=False).new_key("small.txt").get_contents_as_string()
    assert (info.value.status, info.value.error_code) == (403, "SignatureDoesNotMatch")
    unknown = _boto2(auth_server.port, access_key=UNKNOWN_KEY)
    with pytest.raises(boto.exception.S3ResponseError) as info:
        unknown.get_all_buckets()
    assert (info.value.status, info.value.error_code) == (403, "InvalidAccessKeyId")

    for key in bucket.list():
        key.delete()
    conn.delete_bucket(name)


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_unknown_access_key(ep, bkt, signature_version):
    s3a = client_for(ep.url)
    s3a.put_object(Bucket=bkt, Key="exists", Body=b"1")
    bad = client_for(ep.url, access_key=UNKNOWN_KEY, signature_version=signature_version)
    with expect_error("InvalidAccessKeyId", 403):
        bad.list_buckets()
    with expect_error("InvalidAccessKeyId", 403):
        bad.get_object(Bucket=bkt, Key="exists")
    with expect_error("InvalidAccessKeyId", 403):
        bad.put_object(Bucket=bkt, Key="refused", Body=b"no")
    with expect_error("403", 403):  # HEAD: no body
        bad.head_object(Bucket=bkt, Key="exists")
    assert_absent(s3a, bkt, "refused")


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_wrong_secret(ep, bkt, signature_version):
    s3a = client_for(ep.url)
    s3a.put_object(Bucket=bkt, Key="exists", Body=b"1")
    bad = client_for(ep.url, secret_key=SECRET.replace("/", "+", 1),
                     signature_version=signature_version)
    with expect_error("SignatureDoesNotMatch", 403):
        bad.list_buckets()
    with expect_error("SignatureDoesNotMatch", 403):
        bad.get_object(Bucket=bkt, Key="exists")
    with expect_error("SignatureDoesNotMatch", 403):
        bad.put_object(Bucket=bkt, Key="refused", Body=b"no")
    with expect_error("SignatureDoesNotMatch", 403):
        bad.delete_object(Bucket=bkt, Key="exists")
    assert_absent(s3a, bkt, "refused")
    assert s3a.get_object(Bucket=bkt, Key="exists")["Body"].read() == b"1"


def test_no_authorization_at_all(ep, bkt):
    s3a = client_for(ep.url)
    s3a.put_object(Bucket=bkt, Key="dt=2026-11-25/x", Body=b"secret data")
    obj_url = object_url(ep.url, bkt, "dt=2026-11-25/x")
    for url in [ep.url + "/", f"{ep.url}/{bkt}", f"{ep.url}/{bkt}?list-type=2", obj_url]:
        assert_refused(http_request(url), "AccessDenied", 403)
    status, body = http_request(obj_url, "HEAD")
    assert status == 403 and body == b""
    assert_refused(http_request(obj_url, "PUT", b"overwritten"), "AccessDenied", 403)
    assert_refused(http_request(obj_url + "-new", "PUT", b"new"), "AccessDenied", 403)
    assert_refused(http_request(obj_url, "DELETE"), "AccessDenied", 403)
    assert_refused(http_request(f"{ep.url}/{unique_bucket_name('anon')}", "PUT"),
                   "AccessDenied", 403)
    assert s3a.get_object(Bucket=bkt, Key="dt=2026-11-25/x")["Body"].read() == b"secret data"
    assert_absent(s3a, bkt, "dt=2026-11-25/x-new")


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256 garbage",
    f"AWS4-HMAC-SHA256 Credential={KEY}/20261125/us-east-1/s3/aws4_request",  # no signature
    f"AWS4-HMAC-SHA256 Credential={KEY}, SignedHeaders=host, Signature=00",  # short scope
])
def test_malformed_authorization(ep, bkt, authorization):
    status, body = http_request(f"{ep.url}/{bkt}", headers={
        "Authorization": authorization,
        "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
    })
    assert_refused((status, body), "AuthorizationHeaderMalformed", 400)


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_sigv4_without_payload_hash_header_says_it_is_missing(ep, bkt, s3a, method):
    """A SigV4 header signature without x-amz-content-sha256 (what curl --aws-sigv4 sent
    before curl 8, as in the seed's curl walkthrough): 400 InvalidRequest naming the header,
    as S3 answers, not SignatureDoesNotMatch -- and nothing is written."""
    s3a.put_object(Bucket=bkt, Key="seen", Body=b"before")
    url = object_url(ep.url, bkt, "seen")
    body = b"after" if method == "PUT" else b""
    req = AWSRequest(method=method, url=url, data=body)
    # The generic SigV4 signer (not the S3 one) signs host and x-amz-date only.
    botocore.auth.SigV4Auth(Credentials(KEY, SECRET), "s3", REGION).add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert "x-amz-content-sha256" not in headers
    headers["host"] = urllib.parse.urlsplit(url).netloc
    headers["content-length"] = str(len(body))
    status, _, reply = send_raw(ep.url, method, urllib.parse.urlsplit(url).path, headers, body)
    assert_refused((status, reply), "InvalidRequest", 400)
    assert b"x-amz-content-sha256" in reply
    assert s3a.get_object(Bucket=bkt, Key="seen")["Body"].read() == b"before"


def test_payload_hash_of_other_bytes(ep, bkt, s3a):
    """A correctly signed PUT whose x-amz-content-sha256 is the hash of other bytes:
    XAmzContentSHA256Mismatch, and neither a new object nor an overwrite."""
    data = random_bytes(100_000, seed=48)
    other = hashlib.sha256(data[:-1] + b"?").hexdigest()
    s3a.put_object(Bucket=bkt, Key="existing", Body=b"old content")
    for key in ["dt=2026-11-25/tampered +%", "existing"]:
        url = object_url(ep.url, bkt, key)
        target, headers = sigv4_signed("PUT", url, data, payload_hash=other)
        assert_refused(send_raw(ep.url, "PUT", target, headers, data),
                       "XAmzContentSHA256Mismatch", 400)
    assert_absent(s3a, bkt, "dt=2026-11-25/tampered +%")
    assert s3a.get_object(Bucket=bkt, Key="existing")["Body"].read() == b"old content"
    # The same request with the true hash is accepted (the signer itself is right).
    url = object_url(ep.url, bkt, "dt=2026-11-25/tampered +%")
    target, headers = sigv4_signed("PUT", url, data)
    status, _, body = send_raw(ep.url, "PUT", target, headers, data)
    assert status == 200, body
    assert s3a.get_object(Bucket=bkt, Key="dt=2026-11-25/tampered +%")["Body"].read() == data


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_tampered_aws_chunked_chunk(ep, bkt, s3a, which):
    """A signed aws-chunked PUT (4 chunks) with one data byte flipped after signing: 403
    SignatureDoesNotMatch, nothing stored, an existing object left as it was."""
    data = random_bytes(200_000, seed=49)
    s3a.put_object(Bucket=bkt, Key="existing", Body=b"old content")
    for key in ["dt=2026-11-25/chunked tampered", "existing"]:
        target, headers, body = prepare_signed_chunked_put(
            ep.url, bkt, key, data, chunk_size=64 * KiB, access_key=KEY, secret_key=SECRET)
        spans = chunk_data_spans(body)
        assert len(spans) == 4
        offset, length = spans[{"first": 0, "middle": 2, "last": 3}[which]]
        body = bytearray(body)
        body[offset + length // 2] ^= 0x01
        assert_refused(send_raw(ep.url, "PUT", target, headers, bytes(body)),
                       "SignatureDoesNotMatch", 403)
    assert_absent(s3a, bkt, "dt=2026-11-25/chunked tampered")
    assert s3a.get_object(Bucket=bkt, Key="existing")["Body"].read() == b"old content"


def test_tampered_aws_chunked_signatures(ep, bkt, s3a):
    data = random_bytes(150_000, seed=50)
    key = "dt=2026-11-25/chunk signature"

    def put_with(replace, **options):
        target, headers, body = prepare_signed_chunked_put(
            ep.url, bkt, key, data, access_key=KEY, secret_key=SECRET, **options)
        return send_raw(ep.url, "PUT", target, headers, replace(body))

    # A chunk signature changed (the second chunk's), the data intact.
    def second_signature(body):
        sigs = [m.start(1) for m in re.finditer(rb"chunk-signature=([0-9a-f]{64})", body)]
        pos = sigs[1]
        return body[:pos] + (b"1" if body[pos:pos + 1] == b"0" else b"0") + body[pos + 1:]
    assert_refused(put_with(second_signature), "SignatureDoesNotMatch", 403)

    # The trailer signature changed.
    trailer = {"x-amz-checksum-crc32": crc32_b64(data)}

    def trailer_signature(body):
        pos = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
        return body[:pos] + (b"1" if body[pos:pos + 1] == b"0" else b"0") + body[pos + 1:]
    assert_refused(put_with(trailer_signature, trailer=trailer), "SignatureDoesNotMatch", 403)

    # The trailer value changed after signing (another, well-formed CRC32): the trailer
    # signature covers it.
    def trailer_value(body):
        return body.replace(crc32_b64(data).encode(), crc32_b64(b"other").encode())
    assert_refused(put_with(trailer_value, trailer=trailer), "SignatureDoesNotMatch", 403)
    assert_absent(s3a, bkt, key)

    # Signed for another key (the seed signature covers the path).
    target, headers, body = prepare_signed_chunked_put(
        ep.url, bkt, key + "-other", data, access_key=KEY, secret_key=SECRET)
    assert_refused(send_raw(ep.url, "PUT", object_uri(ep.url, bkt, key), headers, body),
                   "SignatureDoesNotMatch", 403)
    assert_absent(s3a, bkt, key)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_clock_skew_over_15_minutes(ep, bkt, s3a, minutes):
    s3a.put_object(Bucket=bkt, Key="obj", Body=b"1")
    url = object_url(ep.url, bkt, "obj")
    target, headers = sigv4_signed("GET", url, skew=dt.timedelta(minutes=minutes))
    assert_refused(send_raw(ep.url, "GET", target, headers), "RequestTimeTooSkewed", 403)
    target, headers = sigv4_signed("PUT", url + "-new", b"x", skew=dt.timedelta(minutes=minutes))
    assert_refused(send_raw(ep.url, "PUT", target, headers, b"x"), "RequestTimeTooSkewed", 403)
    assert_absent(s3a, bkt, "obj-new")
    # Within 15 minutes the same request is accepted.
    target, headers = sigv4_signed("GET", url, skew=dt.timedelta(minutes=minutes // 2))
    assert send_raw(ep.url, "GET", target, headers)[::2] == (200, b"1")


@pytest.mark.parametrize("minutes", [-20, 20])
def test_sigv2_clock_skew_over_15_minutes(ep, bkt, s3a, monkeypatch, minutes):
    s3a.put_object(Bucket=bkt, Key="obj", Body=b"1")
    from email.utils import formatdate
    monkeypatch.setattr(HmacV1Auth, "_get_date",
                        lambda self: formatdate(time.time() + minutes * 60, usegmt=True))
    v2 = client_for(ep.url, signature_version="s3")
    with expect_error("RequestTimeTooSkewed", 403):
        v2.get_object(Bucket=bkt, Key="obj")


def test_presigned_sigv4_url_with_altered_query(ep, bkt, s3a):
    s3a.put_object(Bucket=bkt, Key="dt=2026-11-25/a", Body=b"a")
    s3a.put_object(Bucket=bkt, Key="dt=2026-11-25/b", Body=b"b")
    v4 = client_for(ep.url, signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bkt, "Key": "dt=2026-11-25/a"},
                                    ExpiresIn=600)
    assert http_request(url) == (200, b"a")
    altered = {
        "longer expiry": url.replace("X-Amz-Expires=600", "X-Amz-Expires=3600"),
        "other key": url.replace("dt%3D2026-11-25/a?", "dt%3D2026-11-25/b?").replace(
            "dt=2026-11-25/a?", "dt=2026-11-25/b?"),
        "added parameter": url + "&response-content-type=text%2Fhtml",
        "other signature": re.sub(r"X-Amz-Signature=([0-9a-f])",
                                  lambda m: "X-Amz-Signature=" + ("1" if m.group(1) == "0" else "0"),
                                  url),
    }
    for what, bad in altered.items():
        assert bad != url, what
        status, body = http_request(bad)
        assert (error_code_of(body), status) == ("SignatureDoesNotMatch", 403), (what, body)
    unknown = url.replace(f"X-Amz-Credential={KEY}", f"X-Amz-Credential={UNKNOWN_KEY}")
    assert_refused(http_request(unknown), "InvalidAccessKeyId", 403)


def test_presigned_urls_expired(auth_server):
    """ExpiresIn=1, 2.5 seconds later: 403 AccessDenied (GET and PUT, SigV4 and SigV2, both
    endpoints), and the PUTs stored nothing."""
    urls, buckets = [], []
    for kind in ("root", "prefix"):
        url = auth_server.endpoint_url(kind)
        s3a = client_for(url)
        name = unique_bucket_name("expired-" + kind)
        s3a.create_bucket(Bucket=name)
        s3a.put_object(Bucket=name, Key="obj", Body=b"1")
        buckets.append(name)
        for version in ("s3v4", "s3"):
            client = client_for(url, signature_version=version)
            urls.append(("GET", client.generate_presigned_url(
                "get_object", Params={"Bucket": name, "Key": "obj"}, ExpiresIn=1)))
            urls.append(("PUT", client.generate_presigned_url(
                "put_object", Params={"Bucket": name, "Key": "late", "ContentType": "text/plain"},
                ExpiresIn=1)))
    # SigV2's Expires is whole seconds (int(now + 1)): 2.5 s is past it whatever the rounding.
    time.sleep(2.5)
    for method, url in urls:
        if method == "GET":
            status, body = http_request(url)
        else:
            status, body = http_request(url, "PUT", b"late", {"Content-Type": "text/plain"})
        assert (error_code_of(body), status) == ("AccessDenied", 403), (method, url, body)
    client = client_for(auth_server.url)
    for name in buckets:
        assert list_all_keys(client, name) == ["obj"]


def test_presigned_url_may_be_replayed_until_it_expires(auth_server):
    """As in S3, a presigned URL is not single-use: it can be replayed any number of times
    until it expires, and is refused (403 AccessDenied) from then on."""
    s3a = client_for(auth_server.url)
    name = unique_bucket_name("replay")
    s3a.create_bucket(Bucket=name)
    s3a.put_object(Bucket=name, Key="obj", Body=b"replayed")
    clients = {(kind, version): client_for(auth_server.endpoint_url(kind),
                                            signature_version=version)
               for kind in ("root", "prefix") for version in ("s3v4", "s3")}
    signed_at = time.time()
    urls = {}
    for (kind, version), client in clients.items():
        urls[kind, version, "GET"] = client.generate_presigned_url(
            "get_object", Params={"Bucket": name, "Key": "obj"}, ExpiresIn=6)
        urls[kind, version, "PUT"] = client.generate_presigned_url(
            "put_object", Params={"Bucket": name, "Key": f"put-{kind}-{version}",
                                  "ContentType": "text/plain"}, ExpiresIn=6)
    last_signed_at = time.time()
    for _ in range(3):
        for (kind, version, method), url in urls.items():
            if method == "GET":
                assert http_request(url) == (200, b"replayed"), (kind, version)
            else:
                status, body = http_request(url, "PUT", b"again", {"Content-Type": "text/plain"})
                assert status == 200, (kind, version, body)
    # Every replay above happened before expiry (signed at whole seconds: >= 5 s of validity).
    assert time.time() - signed_at < 5, "too slow to test replays before expiry"
    time.sleep(max(0.0, last_signed_at + 7.5 - time.time()))
    for (kind, version, method), url in urls.items():
        if method == "GET":
            status, body = http_request(url)
        else:
            status, body = http_request(url, "PUT", b"late", {"Content-Type": "text/plain"})
        assert (error_code_of(body), status) == ("AccessDenied", 403), (kind, version, method, body)
    assert s3a.get_object(Bucket=name, Key="put-root-s3v4")["Body"].read() == b"again"


# --------------------------------------------------------------------------------------------
# --credentials-file with two keys; open mode
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def file_server(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("creds") / "credentials"
    (one, one_secret), (two, two_secret) = FILE_KEYS
    path.write_text(f"# s3core credentials: ACCESS_KEY SECRET_KEY\n\n{one} {one_secret}\n"
                    f"  {two}\t{two_secret}  \n")
    srv = _start_server(tmp_path_factory, "s3core-auth-file",
                        extra_args=["--credentials-file", path], mode_credentials=False)
    request.module._s3core_server = srv
    assert_requires_auth(srv)
    yield srv
    _finish_server(srv)


@pytest.mark.parametrize("kind", ["root", "prefix"])
def test_credentials_file_with_two_keys(file_server, kind):
    url = file_server.endpoint_url(kind)
    (one, one_secret), (two, two_secret) = FILE_KEYS
    first, second = client_for(url, one, one_secret), client_for(url, two, two_secret)
    name = unique_bucket_name("file-" + kind)
    first.create_bucket(Bucket=name)
    first.put_object(Bucket=name, Key="dt=2026-11-25/by one", Body=b"one")
    assert second.get_object(Bucket=name, Key="dt=2026-11-25/by one")["Body"].read() == b"one"
    second.put_object(Bucket=name, Key="dt=2026-11-25/by two", Body=b"two")
    assert list_all_keys(first, name) == ["dt=2026-11-25/by one", "dt=2026-11-25/by two"]
    v2 = client_for(url, two, two_secret, signature_version="s3")
    assert v2.get_object(Bucket=name, Key="dt=2026-11-25/by one")["Body"].read() == b"one"

    with expect_error("SignatureDoesNotMatch", 403):  # a key with the other key's secret
        client_for(url, one, two_secret).get_object(Bucket=name, Key="dt=2026-11-25/by one")
    with expect_error("InvalidAccessKeyId", 403):  # not in the file
        client_for(url, KEY, SECRET).list_objects_v2(Bucket=name)
    assert_refused(http_request(f"{url}/{name}"), "AccessDenied", 403)


def test_open_mode_accepts_any_or_no_signature(tmp_path_factory, request):
    """Without credentials, s3core accepts every request whatever its signature (the
    trusted-node mode of Alluxio's proxy); the contrast to everything above."""
    srv = _start_server(tmp_path_factory, "s3core-auth-open", mode_credentials=False)
    request.node._s3core_server = srv
    try:
        wrong = client_for(srv.url, access_key=UNKNOWN_KEY, secret_key="not the secret")
        name = unique_bucket_name("open")
        wrong.create_bucket(Bucket=name)
        wrong.put_object(Bucket=name, Key="k", Body=b"v")
        assert http_request(f"{srv.url}/{name}/k") == (200, b"v")
        assert http_request(f"{srv.url}/{name}/anon", "PUT", b"anon")[0] == 200
        assert http_request(f"{srv.url}{PATH_PREFIX}/{name}/anon") == (200, b"anon")
    finally:
        _finish_server(srv)
