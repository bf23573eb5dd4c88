"""The Python (boto 2) example from Alluxio's S3 API documentation, run unmodified against
s3core's /api/v1/s3 path, with only the port taken from the fixture.

Notes on running it on Python 3:
* boto 2.49 is the last boto 2 release. It imports on Python 3.11 (with a DeprecationWarning
  for the ``imp`` module, which Python 3.12 removed: boto 2 cannot be imported on 3.12+).
* ``key.get_contents_as_string()`` returns ``bytes`` on Python 3, so the docs' comparison with
  the str ``'Hello World!'`` would always be false; the small object is read back with
  ``encoding='utf-8'`` instead (the large one is compared as bytes, as in the docs).
* Empty credentials work in open mode: boto only looks elsewhere for keys when they are
  ``None``; with ``''`` it signs with SigV2 (``Authorization: AWS :<signature>``), which s3core
  accepts. In credentials mode (``S3CORE_TEST_AUTH=1``) the suite's keys are passed instead.
* BOTO_CONFIG is pointed at /dev/null by conftest.py so no local boto config interferes.
"""

from __future__ import annotations

import hashlib
import math
import os

import pytest

import boto
import boto.s3.connection
from filechunkio import FileChunkIO

from conftest import ACCESS_KEY, AUTH_MODE, SECRET_KEY
from s3util import MiB, random_bytes


@pytest.fixture
def boto2_server(request, tmp_path_factory):
    # Each docs-flow test gets a server of its own, since both use the docs' fixed bucket name.
    from conftest import _finish_server, _start_server

    srv = _start_server(tmp_path_factory, "s3core-boto2")
    request.node._s3core_server = srv
    yield srv
    _finish_server(srv)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # dd if=/dev/zero of=8mb.data bs=1048576 count=8
    with open("8mb.data", "wb") as f:
        for _ in range(8):
            f.write(b"\0" * 1048576)
    return tmp_path


def _connect(port):
    # The docs' call, verbatim except for the port and, in credentials mode
    # (S3CORE_TEST_AUTH=1), the keys the server requires instead of the docs' empty ones.
    aws_access_key_id, aws_secret_access_key = (ACCESS_KEY, SECRET_KEY) if AUTH_MODE else ('', '')
    return boto.connect_s3(aws_access_key_id = aws_access_key_id, aws_secret_access_key = aws_secret_access_key, host = 'localhost', port = port, path = '/api/v1/s3', is_secure=False, calling_format = boto.s3.connection.OrdinaryCallingFormat())  # noqa: E501,E251


def test_alluxio_docs_example(boto2_server, workdir):
    conn = _connect(boto2_server.port)

    bucketName = 'bucket-for-testing'
    bucket = conn.create_bucket(bucketName)

    smallObjectKey = 'small.txt'
    smallObjectContent = 'Hello World!'
    key = bucket.new_key(smallObjectKey)
    key.set_contents_from_string(smallObjectContent)
    # Python 3: get_contents_as_string() returns bytes; ask boto to decode it.
    assert smallObjectContent == key.get_contents_as_string(encoding='utf-8')

    largeObjectKey = 'large.txt'
    largeObjectFile = '8mb.data'
    key = bucket.new_key(largeObjectKey)
    with open(largeObjectFile, 'rb') as f:
        key.set_contents_from_file(f)
    with open(largeObjectFile, 'rb') as f:
        largeObject = f.read()
    assert largeObject == key.get_contents_as_string()

    # Beyond the docs: what the server reports about the two objects.
    keys = {k.name: k for k in bucket.list()}
    assert sorted(keys) == ['large.txt', 'small.txt']
    assert keys['large.txt'].size == 8 * 1048576
    assert keys['large.txt'].etag == '"%s"' % hashlib.md5(largeObject).hexdigest()
    assert keys['small.txt'].etag == '"%s"' % hashlib.md5(b'Hello World!').hexdigest()
    assert bucket.get_key('small.txt').size == 12
    assert bucket.get_key('missing.txt') is None

    bucket.delete_key(smallObjectKey)
    bucket.delete_key(largeObjectKey)
    assert list(bucket.list()) == []

    conn.delete_bucket(bucketName)
    assert conn.lookup(bucketName) is None


def test_alluxio_docs_example_multipart(boto2_server, workdir):
    conn = _connect(boto2_server.port)
    bucketName = 'bucket-for-testing'
    bucket = conn.create_bucket(bucketName)
    largeObjectFile = '8mb.data'

    # Multipart upload, as in the docs: 1 MiB chunks with FileChunkIO.
    mp = bucket.initiate_multipart_upload(largeObjectFile)
    sourceSize = os.stat(largeObjectFile).st_size
    chunkSize = 1048576
    chunkCount = int(math.ceil(sourceSize / float(chunkSize)))
    for i in range(chunkCount):
        offset = chunkSize * i
        bytes = min(chunkSize, sourceSize - offset)
        with FileChunkIO(largeObjectFile, 'r', offset=offset, bytes=bytes) as fp:
            mp.upload_part_from_file(fp, part_num=i + 1)
    completed = mp.complete_upload()

    with open(largeObjectFile, 'rb') as f:
        largeObject = f.read()
    digests = b''.join(hashlib.md5(largeObject[i:i + chunkSize]).digest() for i in range(0, sourceSize, chunkSize))
    assert completed.etag == '"%s-%d"' % (hashlib.md5(digests).hexdigest(), chunkCount)
    key = bucket.get_key(largeObjectFile)
    assert key.size == sourceSize
    assert key.get_contents_as_string() == largeObject

    # Abort (cancel) a second multipart upload.
    mp2 = bucket.initiate_multipart_upload('to-be-cancelled')
    with FileChunkIO(largeObjectFile, 'r', offset=0, bytes=chunkSize) as fp:
        mp2.upload_part_from_file(fp, part_num=1)
    assert [u.id for u in bucket.get_all_multipart_uploads()] == [mp2.id]
    mp2.cancel_upload()
    assert list(bucket.get_all_multipart_uploads()) == []
    assert bucket.get_key('to-be-cancelled') is None

    # Beyond the docs: a multipart upload of non-uniform data (catches part-order mix-ups).
    data = random_bytes(3 * MiB + 12345, seed=31)
    with open('random.data', 'wb') as f:
        f.write(data)
    mp3 = bucket.initiate_multipart_upload('random.data')
    for i, offset in enumerate(range(0, len(data), chunkSize)):
        with FileChunkIO('random.data', 'r', offset=offset, bytes=min(chunkSize, len(data) - offset)) as fp:
            mp3.upload_part_from_file(fp, part_num=i + 1)
    assert [p.part_number for p in mp3.get_all_parts()] == [1, 2, 3, 4]
    mp3.complete_upload()
    assert bucket.get_key('random.data').get_contents_as_string() == data

    bucket.delete_key(largeObjectFile)
    bucket.delete_key('random.data')
    conn.delete_bucket(bucketName)
    assert conn.lookup(bucketName) is None
