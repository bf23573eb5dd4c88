"""Small helpers shared by the client compatibility tests (imported by the test modules).

Kept free of pytest fixtures so that it can be imported from anywhere; the fixtures live in
conftest.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import random
import uuid

import pytest
from botocore.exceptions import ClientError

KiB = 1024
MiB = 1024 * 1024

_bucket_counter = itertools.count(1)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def etag_of(data: bytes) -> str:
    """The ETag S3 gives a single-part object: the quoted hex MD5 of its bytes."""
    return f'"{md5_hex(data)}"'


def content_md5(data: bytes) -> str:
    """Value for the Content-MD5 header: base64 of the binary MD5."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def multipart_etag(parts: list[bytes]) -> str:
    """The ETag S3 gives a completed multipart upload: the hex MD5 of the concatenated
    binary MD5s of the parts, a dash, and the number of parts, quoted."""
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def random_bytes(n: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes (so that a server returning the wrong range or the
    parts of an upload in the wrong order cannot pass by accident)."""
    return random.Random(seed).randbytes(n)


def unique_bucket_name(tag: str = "t") -> str:
    """A fresh, valid bucket name (3-63 chars, lowercase letters, digits and hyphens)."""
    tag = tag.removeprefix("test_")
    tag = "".join(c if c.isascii() and c.isalnum() else "-" for c in tag.lower())
    tag = tag.strip("-")[:24].strip("-") or "t"
    return f"{tag}-{next(_bucket_counter):04d}-{uuid.uuid4().hex[:10]}"


def utf8_sorted(keys) -> list[str]:
    """S3 lists keys in ascending order of their UTF-8 bytes."""
    return sorted(keys, key=lambda k: k.encode("utf-8"))


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code")


def http_status(resp_or_exc) -> int:
    resp = resp_or_exc.response if isinstance(resp_or_exc, ClientError) else resp_or_exc
    return resp["ResponseMetadata"]["HTTPStatusCode"]


@contextlib.contextmanager
def expect_error(code: str, status: int):
    """Assert that the block raises a botocore ClientError with exactly this S3 error code and
    HTTP status. For HEAD requests (no body) botocore reports the status as the code, e.g. '404',
    and for 304 Not Modified the code is '304'."""
    with pytest.raises(ClientError) as info:
        yield info
    got_code = error_code(info.value)
    got_status = http_status(info.value)
    assert (got_code, got_status) == (code, status), (
        f"expected {code} ({status}), got {got_code} ({got_status}): {info.value.response}"
    )


def list_all_keys(client, bucket: str, prefix: str = "") -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def headers_of(resp) -> dict:
    """Raw (lower-cased) HTTP response headers of a boto3 response or ClientError."""
    resp = resp.response if isinstance(resp, ClientError) else resp
    return resp["ResponseMetadata"]["HTTPHeaders"]
