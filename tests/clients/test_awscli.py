"""AWS CLI v1 (`aws s3 ...` and `aws s3api ...`) against s3core through both endpoints, with
byte-identical round trips."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from s3util import MiB, etag_of, expect_error, list_all_keys, random_bytes, unique_bucket_name


def _ls_entries(stdout: str):
    """Parse `aws s3 ls` output into (kind, size, name) tuples."""
    out = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if parts[0] == "PRE":
            out.append(("PRE", None, line.split("PRE ", 1)[1]))
        else:
            # "2026-11-25 18:00:00       1234 name with spaces"
            date, clock, size, name = line.split(None, 3)
            out.append(("OBJ", int(size), name))
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_s3_mb_ls_cp_rm_rb(aws_cli, s3, tmp_path):
    bucket = unique_bucket_name("cli")
    assert aws_cli("s3", "mb", f"s3://{bucket}").stdout_text.strip() == f"make_bucket: {bucket}"
    listed = aws_cli("s3", "ls").stdout_text.splitlines()
    assert any(line.split()[-1] == bucket for line in listed), listed

    data = random_bytes(MiB + 7, seed=21)
    src = tmp_path / "file.bin"
    src.write_bytes(data)
    out = aws_cli("s3", "cp", src, f"s3://{bucket}/dir/file.bin", "--no-progress").stdout_text
    assert out.strip().startswith("upload: ") and out.strip().endswith(f"s3://{bucket}/dir/file.bin")

    text_file = tmp_path / "naïve file.txt"
    text_file.write_text("un texte naïf\n", encoding="utf-8")
    aws_cli("s3", "cp", text_file, f"s3://{bucket}/dir/naïve file.txt", "--no-progress")

    assert _ls_entries(aws_cli("s3", "ls", f"s3://{bucket}/").stdout_text) == [
        ("PRE", None, "dir/")
    ]
    assert _ls_entries(aws_cli("s3", "ls", f"s3://{bucket}/dir/").stdout_text) == [
        ("OBJ", len(data), "file.bin"),
        ("OBJ", len("un texte naïf\n".encode()), "naïve file.txt"),
    ]
    recursive = _ls_entries(aws_cli("s3", "ls", f"s3://{bucket}", "--recursive").stdout_text)
    assert [name for _, _, name in recursive] == ["dir/file.bin", "dir/naïve file.txt"]

    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ETag"] == etag_of(data) and head["ContentLength"] == len(data)
    assert s3.head_object(Bucket=bucket, Key="dir/naïve file.txt")["ContentType"] == "text/plain"

    dst = tmp_path / "back.bin"
    aws_cli("s3", "cp", f"s3://{bucket}/dir/file.bin", dst, "--no-progress")
    assert dst.read_bytes() == data
    aws_cli("s3", "cp", f"s3://{bucket}/dir/naïve file.txt", tmp_path / "back.txt", "--no-progress")
    assert (tmp_path / "back.txt").read_bytes() == text_file.read_bytes()

    # Streams: stdin -> object -> stdout.
    streamed = random_bytes(300_000, seed=22)
    aws_cli("s3", "cp", "-", f"s3://{bucket}/stream.bin", input=streamed)
    assert aws_cli("s3", "cp", f"s3://{bucket}/stream.bin", "-").stdout == streamed
    assert s3.get_object(Bucket=bucket, Key="stream.bin")["Body"].read() == streamed

    refused = aws_cli("s3", "rb", f"s3://{bucket}", check=False)
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr_text

    out = aws_cli("s3", "rm", f"s3://{bucket}/dir/file.bin").stdout_text
    assert out.strip() == f"delete: s3://{bucket}/dir/file.bin"
    assert list_all_keys(s3, bucket) == ["dir/naïve file.txt", "stream.bin"]
    out = aws_cli("s3", "rm", f"s3://{bucket}", "--recursive").stdout_text
    assert sorted(out.strip().splitlines()) == [
        f"delete: s3://{bucket}/dir/naïve file.txt",
        f"delete: s3://{bucket}/stream.bin",
    ]
    assert aws_cli("s3", "rb", f"s3://{bucket}").stdout_text.strip() == f"remove_bucket: {bucket}"
    with expect_error("404", 404):
        s3.head_bucket(Bucket=bucket)


def test_s3_rb_force(aws_cli, s3):
    bucket = unique_bucket_name("cli-force")
    s3.create_bucket(Bucket=bucket)
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"x/{i}", Body=b"%d" % i)
    aws_cli("s3", "rb", f"s3://{bucket}", "--force")
    with expect_error("404", 404):
        s3.head_bucket(Bucket=bucket)


def test_s3_cp_empty_file_then_more_uploads(aws_cli, s3, tmp_path):
    """One connection, several uploads in a row, the first of them empty. The CLI sends
    `Expect: 100-continue` on every PutObject; AWS CLI v1's bundled botocore mis-parses the next
    response on a kept-alive connection if the server answered an Expect request with its final
    status instead of `100 Continue` first, and then stalls until its 60 s read timeout."""
    aws_cli.set_s3_option("max_concurrent_requests", "1")
    bucket = unique_bucket_name("cli-empty")
    s3.create_bucket(Bucket=bucket)
    src = tmp_path / "src"
    src.mkdir()
    files = {"a-empty": b"", "b-small": b"b\n", "c-empty": b"", "d-small": b"d\n"}
    for name, data in files.items():
        (src / name).write_bytes(data)
    out = aws_cli("s3", "cp", src, f"s3://{bucket}/up/", "--recursive", "--no-progress",
                  timeout=20).stdout_text
    assert len(out.splitlines()) == 4, out
    for name, data in files.items():
        got = s3.get_object(Bucket=bucket, Key=f"up/{name}")
        assert got["Body"].read() == data and got["ETag"] == etag_of(data), name


def test_s3_sync_tree(aws_cli, s3, tmp_path):
    bucket = unique_bucket_name("cli-sync")
    s3.create_bucket(Bucket=bucket)
    src = tmp_path / "src"
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "sub/b.bin": random_bytes(300_000, seed=23),
        "sub/deeper/c.json": b'{"c": 3}\n',
        "sub/deeper/d+plus=eq.txt": b"plus and equals\n",
        "spaced name/ü.txt": "ü\n".encode(),
    }
    for rel, data in files.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # Local files older than anything the server will stamp, so that sync's mtime comparison
    # does not depend on sub-second clock details.
    an_hour_ago = time.time() - 3600
    for path in src.rglob("*"):
        os.utime(path, (an_hour_ago, an_hour_ago))

    out = aws_cli("s3", "sync", src, f"s3://{bucket}/tree", "--no-progress").stdout_text
    assert sorted(line.split(" to ")[-1] for line in out.splitlines()) == sorted(
        f"s3://{bucket}/tree/{rel}" for rel in files
    ), out
    assert list_all_keys(s3, bucket) == sorted(f"tree/{rel}" for rel in files)
    for rel, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"tree/{rel}")["Body"].read() == data, rel

    dst = tmp_path / "dst"
    out = aws_cli("s3", "sync", f"s3://{bucket}/tree", dst, "--no-progress").stdout_text
    assert len(out.splitlines()) == len(files), out
    assert _tree(dst) == files

    # Nothing changed: both directions have nothing to do.
    assert aws_cli("s3", "sync", src, f"s3://{bucket}/tree", "--no-progress").stdout_text == ""
    assert aws_cli("s3", "sync", f"s3://{bucket}/tree", dst, "--no-progress").stdout_text == ""

    # Change one file, remove another, and sync with --delete.
    (src / "a.txt").write_bytes(b"alpha, longer now\n")
    os.utime(src / "a.txt", (an_hour_ago, an_hour_ago))
    (src / "empty").unlink()
    out = aws_cli("s3", "sync", src, f"s3://{bucket}/tree", "--delete", "--no-progress").stdout_text
    assert sorted(line.split(":", 1)[0] for line in out.splitlines()) == ["delete", "upload"], out
    files["a.txt"] = b"alpha, longer now\n"
    del files["empty"]
    assert list_all_keys(s3, bucket) == sorted(f"tree/{rel}" for rel in files)

    aws_cli("s3", "sync", f"s3://{bucket}/tree", dst, "--delete", "--no-progress")
    assert _tree(dst) == files


def test_s3api_roundtrip(aws_cli, s3, tmp_path):
    bucket = unique_bucket_name("cli-api")
    aws_cli("s3api", "create-bucket", "--bucket", bucket)
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200

    data = random_bytes(123_457, seed=24)
    body = tmp_path / "body.bin"
    body.write_bytes(data)
    put = aws_cli.json(
        "s3api", "put-object", "--bucket", bucket, "--key", "api/obj one.bin", "--body", body,
        "--content-type", "application/x-cli-test", "--metadata", "k1=v1,k2=v2",
    )
    assert put["ETag"] == etag_of(data)

    head = aws_cli.json("s3api", "head-object", "--bucket", bucket, "--key", "api/obj one.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == etag_of(data)
    assert head["ContentType"] == "application/x-cli-test"
    assert head["Metadata"] == {"k1": "v1", "k2": "v2"}

    out = tmp_path / "out.bin"
    got = aws_cli.json("s3api", "get-object", "--bucket", bucket, "--key", "api/obj one.bin", out)
    assert got["ContentLength"] == len(data) and got["ETag"] == etag_of(data)
    assert out.read_bytes() == data

    part = tmp_path / "part.bin"
    got = aws_cli.json("s3api", "get-object", "--bucket", bucket, "--key", "api/obj one.bin",
                       "--range", "bytes=10-19", part)
    assert got["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert part.read_bytes() == data[10:20]

    for key in ("api/x", "api/sub/y", "top"):
        aws_cli("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", body)

    listing = aws_cli.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "api/")
    assert [o["Key"] for o in listing["Contents"]] == ["api/obj one.bin", "api/sub/y", "api/x"]
    assert all(o["Size"] == len(data) for o in listing["Contents"])
    listing = aws_cli.json("s3api", "list-objects-v2", "--bucket", bucket, "--delimiter", "/")
    assert [o["Key"] for o in listing["Contents"]] == ["top"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["api/"]
    # The CLI paginates by itself with --page-size.
    listing = aws_cli.json("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "1")
    assert [o["Key"] for o in listing["Contents"]] == [
        "api/obj one.bin", "api/sub/y", "api/x", "top"
    ]

    missing = aws_cli("s3api", "head-object", "--bucket", bucket, "--key", "api/nope",
                      check=False)
    assert missing.returncode != 0 and "404" in missing.stderr_text

    deleted = aws_cli.json(
        "s3api", "delete-objects", "--bucket", bucket, "--delete",
        json.dumps({"Objects": [{"Key": k} for k in
                                ("api/obj one.bin", "api/x", "api/sub/y", "api/missing")],
                    "Quiet": False}),
    )
    assert sorted(d["Key"] for d in deleted["Deleted"]) == [
        "api/missing", "api/obj one.bin", "api/sub/y", "api/x"
    ]
    assert "Errors" not in deleted or deleted["Errors"] == []
    assert list_all_keys(s3, bucket) == ["top"]

    aws_cli("s3api", "delete-object", "--bucket", bucket, "--key", "top")
    aws_cli("s3api", "delete-bucket", "--bucket", bucket)
    with expect_error("404", 404):
        s3.head_bucket(Bucket=bucket)
