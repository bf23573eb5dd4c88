"""Additional checksums as current SDKs use them: single PUTs (header and aws-chunked trailer)
and multipart uploads in both COMPOSITE and FULL_OBJECT forms, returned with
ChecksumMode=ENABLED and validated by botocore on download."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import zlib

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def crc32_b64(data: bytes) -> str:
    return b64(struct.pack(">I", zlib.crc32(data)))


def upload_parts(s3, bucket, key, chunks, algorithm, checksum_type):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm,
                                        ChecksumType=checksum_type)
    assert upload["ChecksumAlgorithm"] == algorithm
    assert upload["ChecksumType"] == checksum_type
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                Body=chunk, ChecksumAlgorithm=algorithm)
        parts.append({"PartNumber": number, "ETag": answer["ETag"],
                      f"Checksum{algorithm}": answer[f"Checksum{algorithm}"]})
    return upload["UploadId"], parts


def test_single_put_checksum_is_returned_when_asked(s3, bucket):
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="k", Body=data, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")["Body"].read() == data


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
def test_multipart_composite_checksum(s3, bucket, algorithm):
    chunks = [os.urandom(5 * MiB), os.urandom(1234)]
    upload_id, parts = upload_parts(s3, bucket, f"composite-{algorithm}", chunks, algorithm, "COMPOSITE")
    s3.complete_multipart_upload(Bucket=bucket, Key=f"composite-{algorithm}", UploadId=upload_id,
                                 MultipartUpload={"Parts": parts})
    joined = b"".join(base64.b64decode(part[f"Checksum{algorithm}"]) for part in parts)
    digest = {"CRC32": lambda d: struct.pack(">I", zlib.crc32(d)),
              "SHA1": lambda d: hashlib.sha1(d).digest(),
              "SHA256": lambda d: hashlib.sha256(d).digest()}[algorithm](joined)
    head = s3.head_object(Bucket=bucket, Key=f"composite-{algorithm}", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == f"{b64(digest)}-2"
    assert head["ChecksumType"] == "COMPOSITE"


def test_multipart_full_object_crc32_equals_the_crc_of_the_whole(s3, bucket):
    chunks = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(77)]
    upload_id, parts = upload_parts(s3, bucket, "full", chunks, "CRC32", "FULL_OBJECT")
    s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload_id, MultipartUpload={"Parts": parts})
    whole = b"".join(chunks)
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == crc32_b64(whole)
    assert head["ChecksumType"] == "FULL_OBJECT"
    # botocore validates a full-object checksum against the body it downloads.
    assert s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")["Body"].read() == whole


def test_complete_with_a_wrong_part_checksum_is_refused(s3, bucket):
    chunks = [os.urandom(5 * MiB), os.urandom(10)]
    upload_id, parts = upload_parts(s3, bucket, "wrong", chunks, "CRC32", "COMPOSITE")
    parts[0]["ChecksumCRC32"] = crc32_b64(b"something else")
    with pytest.raises(ClientError) as refused:
        s3.complete_multipart_upload(Bucket=bucket, Key="wrong", UploadId=upload_id, MultipartUpload={"Parts": parts})
    assert refused.value.response["Error"]["Code"] == "InvalidPart"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_full_object_type_is_refused_for_sha(s3, bucket):
    with pytest.raises(ClientError) as refused:
        s3.create_multipart_upload(Bucket=bucket, Key="sha", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT")
    assert refused.value.response["Error"]["Code"] == "InvalidRequest"
