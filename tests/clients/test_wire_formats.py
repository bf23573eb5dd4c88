"""Request body encodings that real SDKs send but boto3 over plain HTTP does not: the signed
aws-chunked encoding (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``) used over HTTP by the AWS SDK for
Java v1 / Hadoop S3A, the MinIO SDKs and others. The requests are built byte for byte as those
SDKs build them, with correct seed and chunk signatures, and sent with http.client; and its
signed-trailer variant (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER``: a checksum trailer
signed after the last chunk, as the AWS SDKs send it when payload signing and flexible
checksums meet).

The builders sign with the keys of the suite's mode (conftest.ACCESS_KEY/SECRET_KEY) unless
given others; test_auth.py reuses them with its own keys, and to tamper with signed bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import time
import urllib.parse
import zlib

import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY
from s3util import KiB, MiB, etag_of, random_bytes

STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def crc32_b64(data: bytes) -> str:
    """Value of an x-amz-checksum-crc32 field: base64 of the big-endian CRC32."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def build_signed_chunked_put(host: str, canonical_uri: str, data: bytes, chunk_size: int,
                             amz_date: str, extra_headers: dict | None = None,
                             access_key: str | None = None, secret_key: str | None = None,
                             region: str = REGION, trailer: dict | None = None):
    """Headers and body of a PUT with a SigV4 streaming (aws-chunked, signed chunks) body, as
    described in the S3 docs ("Signature Calculations for the Authorization Header:
    Transferring Payload in Multiple Chunks").

    ``trailer``: trailing fields (e.g. ``{"x-amz-checksum-crc32": crc32_b64(data)}``); makes it
    the signed-trailer variant ("Transferring Payload in Multiple Chunks with Trailing
    Headers"): ``x-amz-trailer`` names them, and an ``x-amz-trailer-signature`` chained on the
    final chunk's signature follows them."""
    access_key = ACCESS_KEY if access_key is None else access_key
    secret_key = SECRET_KEY if secret_key is None else secret_key
    date = amz_date[:8]
    scope = f"{date}/{region}/s3/aws4_request"
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]

    headers = {
        "host": host,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": STREAMING_TRAILER if trailer else STREAMING,
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer:
        headers["x-amz-trailer"] = ",".join(trailer)
    headers.update({k.lower(): v for k, v in (extra_headers or {}).items()})
    body = _signed_chunks(chunks, trailer, amz_date, scope, b"", b"")  # lengths only
    headers["content-length"] = str(len(body))
    signed = sorted(headers)
    canonical_request = "\n".join(
        ["PUT", canonical_uri, "", "".join(f"{h}:{headers[h]}\n" for h in signed),
         ";".join(signed), headers["x-amz-content-sha256"]]
    )
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope,
         hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key_bytes = _signing_key(secret_key, date, region)
    seed = hmac.new(key_bytes, string_to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={seed}"
    )

    body = _signed_chunks(chunks, trailer, amz_date, scope, key_bytes, seed.encode())
    assert len(body) == int(headers["content-length"])
    return headers, body


def _signed_chunks(chunks, trailer, amz_date, scope, key_bytes: bytes, seed: bytes) -> bytes:
    """The aws-chunked body. With an empty key, placeholder signatures of the right length."""
    def sign(string_to_sign: str) -> str:
        if not key_bytes:
            return "0" * 64
        return hmac.new(key_bytes, string_to_sign.encode(), hashlib.sha256).hexdigest()

    body = bytearray()
    previous = seed.decode()
    for chunk in chunks:
        sig = sign("\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_SHA256,
             hashlib.sha256(chunk).hexdigest()]
        ))
        # The final (empty) chunk of the trailer variant ends with its size line only; the
        # trailer section follows it.
        body += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk
        if chunk or not trailer:
            body += b"\r\n"
        previous = sig
    if trailer:
        canonical = "".join(f"{name}:{value}\n" for name, value in trailer.items())
        sig = sign("\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
             hashlib.sha256(canonical.encode()).hexdigest()]
        ))
        for name, value in trailer.items():
            body += f"{name}:{value}\r\n".encode()
        body += f"x-amz-trailer-signature:{sig}\r\n\r\n".encode()
    return bytes(body)


def object_uri(endpoint_url: str, bucket: str, key: str) -> str:
    """The request target (and SigV4 canonical URI) of an object, with the endpoint's path."""
    path = urllib.parse.urlsplit(endpoint_url).path.rstrip("/") + "/" + bucket + "/" + key
    return urllib.parse.quote(path, safe="/~")


def prepare_signed_chunked_put(endpoint_url: str, bucket: str, key: str, data: bytes,
                               chunk_size: int = 64 * KiB, content_type: str | None = None,
                               **sign_options):
    """(request target, headers, body) of a signed aws-chunked PUT, signed now.
    ``sign_options``: access_key, secret_key, trailer (see build_signed_chunked_put)."""
    canonical_uri = object_uri(endpoint_url, bucket, key)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    extra = {"content-type": content_type} if content_type else {}
    headers, body = build_signed_chunked_put(urllib.parse.urlsplit(endpoint_url).netloc,
                                             canonical_uri, data, chunk_size, amz_date, extra,
                                             **sign_options)
    return canonical_uri, headers, body


def send_raw(endpoint_url: str, method: str, target: str, headers: dict, body: bytes = b""):
    """Send one request exactly as given (no Host, Accept-Encoding or other added fields) on
    a new connection; (status, lower-cased response headers, response body)."""
    url = urllib.parse.urlsplit(endpoint_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for h, v in headers.items():
            conn.putheader(h, v)
        conn.endheaders()
        try:
            conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before reading it all: read the answer
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def signed_chunked_put(endpoint_url: str, bucket: str, key: str, data: bytes,
                       chunk_size: int = 64 * KiB, content_type: str | None = None,
                       **sign_options):
    target, headers, body = prepare_signed_chunked_put(
        endpoint_url, bucket, key, data, chunk_size, content_type, **sign_options
    )
    return send_raw(endpoint_url, "PUT", target, headers, body)


@pytest.mark.parametrize(
    "size, chunk",
    [(0, 64 * KiB), (1, 64 * KiB), (200_000, 64 * KiB), (128 * KiB, 64 * KiB),
     (2 * MiB + 3, 128 * KiB)],
)
def test_sigv4_signed_aws_chunked_put(s3, endpoint, bucket, size, chunk):
    data = random_bytes(size, seed=size + 11)
    key = f"streaming/{size} bytes ü"
    status, headers, body = signed_chunked_put(
        endpoint.url, bucket, key, data, chunk_size=chunk, content_type="application/x-chunked"
    )
    assert status == 200, body
    assert headers["etag"] == etag_of(data)

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ContentLength"] == size
    assert got["ETag"] == etag_of(data)
    assert got["ContentType"] == "application/x-chunked"
    assert "ContentEncoding" not in got  # aws-chunked is a transfer detail, not stored
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [(key, size)]


@pytest.mark.parametrize("size, chunk", [(0, 64 * KiB), (1, 64 * KiB), (200_000, 64 * KiB)])
def test_sigv4_signed_aws_chunked_put_with_signed_trailer(s3, endpoint, bucket, size, chunk):
    data = random_bytes(size, seed=size + 12)
    key = f"streaming-trailer/{size} bytes ü"
    status, headers, body = signed_chunked_put(
        endpoint.url, bucket, key, data, chunk_size=chunk,
        trailer={"x-amz-checksum-crc32": crc32_b64(data)},
    )
    assert status == 200, body
    assert headers["etag"] == etag_of(data)
    assert headers.get("x-amz-checksum-crc32") in (None, crc32_b64(data))

    got = s3.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ETag"] == etag_of(data)
    assert "ContentEncoding" not in got


def test_sigv4_signed_aws_chunked_put_with_wrong_trailer_checksum(s3, endpoint, bucket):
    """The trailer is signed correctly but its CRC32 is not the body's: BadDigest, nothing
    stored (checked in both modes: the checksum does not depend on credentials)."""
    data = random_bytes(100_000, seed=13)
    key = "streaming-trailer/bad-crc"
    status, _, body = signed_chunked_put(
        endpoint.url, bucket, key, data, trailer={"x-amz-checksum-crc32": crc32_b64(b"other")},
    )
    assert status == 400, body
    assert b"<Code>BadDigest</Code>" in body, body
    assert s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"] == 0
