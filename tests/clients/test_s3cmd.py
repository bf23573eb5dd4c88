"""s3cmd (Debian's package) against s3core with credentials, under the API prefix.

s3cmd can only reach a prefixed endpoint as ``host_base = host:port/api/v1/s3``; it then signs
SigV4 with the prefix inside the canonical ``host`` value and the path without the prefix.
s3core accepts that canonical form for requests under the prefix, and nothing looser."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from conftest import PATH_PREFIX, _finish_server, _start_server
from s3util import random_bytes

KEY, SECRET = "S3CMDKEY", "s3cmd-secret-key"

S3CMD = shutil.which("s3cmd")
pytestmark = pytest.mark.skipif(
    S3CMD is None, reason="s3cmd is not installed (test.sh installs Debian's s3cmd when it runs as root)"
)


@pytest.fixture(scope="module")
def keyed_server(request, tmp_path_factory):
    srv = _start_server(tmp_path_factory, "s3core-s3cmd", extra_args=["--access-key", KEY, "--secret-key", SECRET],
                        mode_credentials=False)
    request.module._s3core_server = srv
    yield srv
    _finish_server(srv)


def config_file(tmp_path, server, secret: str = SECRET, prefix: str = PATH_PREFIX):
    host = f"127.0.0.1:{server.port}{prefix}"
    path = tmp_path / "s3cfg"
    path.write_text(
        "[default]\n"
        f"access_key = {KEY}\nsecret_key = {secret}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
    )
    return path


def s3cmd(config, *args, check=True):
    result = subprocess.run([S3CMD, "-c", str(config), *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"s3cmd {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def test_s3cmd_under_the_prefix_signs_and_works(keyed_server, tmp_path):
    config = config_file(tmp_path, keyed_server)
    s3cmd(config, "mb", "s3://s3cmd-bucket")
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello from s3cmd\n")
    big = tmp_path / "big.bin"
    big.write_bytes(random_bytes(12 * 1024 * 1024, seed=7))
    s3cmd(config, "put", str(small), "s3://s3cmd-bucket/dir/small.txt")
    # 5 MiB chunks: a three-part multipart upload, every request signed the same way.
    s3cmd(config, "put", "--multipart-chunk-size-mb=5", str(big), "s3://s3cmd-bucket/dir/big.bin")
    listing = s3cmd(config, "ls", "-r", "s3://s3cmd-bucket").stdout
    assert "s3://s3cmd-bucket/dir/small.txt" in listing and "s3://s3cmd-bucket/dir/big.bin" in listing
    assert "s3://s3cmd-bucket" in s3cmd(config, "ls").stdout
    back = tmp_path / "back.bin"
    s3cmd(config, "get", "--force", "s3://s3cmd-bucket/dir/big.bin", str(back))
    assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    s3cmd(config, "del", "s3://s3cmd-bucket/dir/small.txt", "s3://s3cmd-bucket/dir/big.bin")
    s3cmd(config, "rb", "s3://s3cmd-bucket")
    assert "s3cmd-bucket" not in s3cmd(config, "ls").stdout


def test_s3cmd_with_a_wrong_secret_is_refused(keyed_server, tmp_path):
    config = config_file(tmp_path, keyed_server, secret="not-the-secret")
    result = s3cmd(config, "ls", check=False)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stdout + result.stderr


def test_s3cmd_form_is_not_accepted_outside_the_prefix(keyed_server, tmp_path):
    """Signing a made-up prefix into the host is not a way around the signature check: the
    request reaches the root, where only the real Host header counts."""
    config = config_file(tmp_path, keyed_server, prefix="/not/the/prefix")
    result = s3cmd(config, "ls", check=False)
    assert result.returncode != 0

