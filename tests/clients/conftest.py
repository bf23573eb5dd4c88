"""Fixtures for the real-client compatibility tests of s3core.

* A fresh s3core server per test module (temp data dir, ``--cores 2``, ephemeral port), killed
  afterwards. The binary is ``$S3CORE_BIN`` or ``<repo>/target/debug/s3core``.
* ``endpoint``: parametrized over both ways the API is served: at the root
  (``http://127.0.0.1:PORT``) and under the prefix (``http://127.0.0.1:PORT/api/v1/s3``).
* ``s3``: a boto3 client for that endpoint with botocore's *default* behaviour (flexible
  checksums ``when_supported``, the SDK's default headers), path-style addressing, no retries.
* ``make_s3_client``: factory for extra clients (SigV2, forced aws-chunked trailers, ...).
* ``aws_cli``: runs the AWS CLI v1 from this venv against the endpoint.
* ``restartable_server``: a server of its own that can be ``kill -9``-ed and restarted on the
  same data dir.

Two modes, chosen by the environment variable ``S3CORE_TEST_AUTH``:

* unset (or ``0``): *open mode*. The servers start without credentials (every request is
  accepted whatever its signature); the clients sign with the dummy keys ``ACCESS_KEY`` /
  ``SECRET_KEY`` below (boto 2 with the empty keys of Alluxio's docs).
* ``1``: *credentials mode*. Every server the fixtures start requires signatures made with
  ``AUTH_ACCESS_KEY`` / ``AUTH_SECRET_KEY`` (passed in ``S3CORE_ACCESS_KEY`` /
  ``S3CORE_SECRET_KEY``), and every client the suite builds signs with them. After each start
  the fixture checks that an unsigned request is refused, so that a run in this mode cannot
  silently test an open server.

``ACCESS_KEY`` / ``SECRET_KEY`` are the keys of the current mode; test_auth.py starts servers
of its own with other keys whatever the mode.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from s3util import unique_bucket_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PATH_PREFIX = "/api/v1/s3"
STARTUP_TIMEOUT_S = float(os.environ.get("S3CORE_STARTUP_TIMEOUT", "30"))
READY_LINE = re.compile(r"^s3core listening on http://127\.0\.0\.1:(\d+)\s*$")

REGION = "us-east-1"

# Open mode: any keys are accepted; these are AWS's documentation example keys.
OPEN_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
OPEN_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
# Credentials mode: the keys the servers are started with. The secret holds '/' and '+' (as
# real AWS secrets do) so that any place that URL- or base64-mangles it shows up.
AUTH_ACCESS_KEY = "AKIDS3CORETEST"
AUTH_SECRET_KEY = "s3core/Test+Secret/Key+0123456789+abcdefgh/XYZ"

AUTH_MODE = os.environ.get("S3CORE_TEST_AUTH", "").strip() not in ("", "0")
ACCESS_KEY, SECRET_KEY = (
    (AUTH_ACCESS_KEY, AUTH_SECRET_KEY) if AUTH_MODE else (OPEN_ACCESS_KEY, OPEN_SECRET_KEY)
)
# Server settings read from the environment that must come from the fixtures only.
_SERVER_ENV_BLOCKLIST = (
    "S3CORE_ACCESS_KEY", "S3CORE_SECRET_KEY", "S3CORE_CREDENTIALS_FILE", "S3CORE_PATH_PREFIX",
    "S3CORE_MULTIPART_MIN_PART_BYTES", "S3CORE_LISTEN", "S3CORE_DATA_DIR", "S3CORE_CORES",
)

# Make the clients' behaviour independent of whoever runs the suite: no ~/.aws files, no
# AWS_* variables that change checksum, retry or endpoint defaults, no instance metadata.
for _name in list(os.environ):
    if _name.startswith("AWS_") or _name.startswith("BOTO_"):
        del os.environ[_name]
_ISOLATION_DIR = Path(tempfile.mkdtemp(prefix="s3core-client-env-"))
os.environ["AWS_CONFIG_FILE"] = str(_ISOLATION_DIR / "no-config")
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(_ISOLATION_DIR / "no-credentials")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["BOTO_CONFIG"] = os.devnull  # boto 2 reads /etc/boto.cfg and ~/.boto otherwise
for _proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(_proxy, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def server_binary() -> Path:
    env = os.environ.get("S3CORE_BIN")
    path = Path(env) if env else REPO_ROOT / "target" / "debug" / "s3core"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"s3core binary not found or not executable at {path} "
            "(build it with `cargo build`, or set S3CORE_BIN)",
            pytrace=False,
        )
    return path


# --------------------------------------------------------------------------------------------
# Server process management
# --------------------------------------------------------------------------------------------


@dataclass
class S3CoreServer:
    data_dir: Path
    log_dir: Path
    cores: int = 2
    # Extra command-line flags (e.g. --access-key/--credentials-file) and environment
    # variables (e.g. S3CORE_ACCESS_KEY) for the server, kept across restarts.
    extra_args: list = field(default_factory=list)
    extra_env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    port: int | None = None
    starts: int = 0
    _stderr_path: Path | None = None
    _stdout_lines: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint_url(self, kind: str) -> str:
        return self.url + (PATH_PREFIX if kind == "prefix" else "")

    def stderr_tail(self, limit: int = 8000) -> str:
        if self._stderr_path is None or not self._stderr_path.exists():
            return ""
        text = self._stderr_path.read_bytes().decode("utf-8", "replace")
        return text[-limit:]

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        binary = server_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._stderr_path = self.log_dir / f"s3core-stderr-{self.starts}.log"
        stderr = open(self._stderr_path, "wb")
        cmd = [
            str(binary),
            "--listen", "127.0.0.1:0",
            "--data-dir", str(self.data_dir),
            "--cores", str(self.cores),
            *map(str, self.extra_args),
        ]
        env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV_BLOCKLIST}
        env.setdefault("RUST_BACKTRACE", "1")
        env.update({k: str(v) for k, v in self.extra_env.items()})
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env
            )
        finally:
            stderr.close()
        lines: queue.Queue = queue.Queue()
        self._stdout_lines = []

        def pump(stream, sink):
            # Keep draining stdout for the server's whole life so it can never block on a
            # full pipe, whatever it prints after the ready line.
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                self._stdout_lines.append(line)
                sink.put(line)
            sink.put(None)

        threading.Thread(target=pump, args=(self.proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort_start(f"did not print its ready line within {STARTUP_TIMEOUT_S:.0f}s")
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    self._abort_start(f"exited with code {self.proc.returncode} before it was ready")
                continue
            if line is None:
                self.proc.wait(timeout=5)
                self._abort_start(
                    f"closed stdout (exit code {self.proc.returncode}) before it was ready"
                )
            m = READY_LINE.match(line)
            if m:
                self.port = int(m.group(1))
                return

    def _abort_start(self, why: str):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        pytest.fail(
            f"s3core {why}.\ncommand: {self.proc.args if self.proc else '?'}\n"
            f"stdout:\n{os.linesep.join(self._stdout_lines)}\n"
            f"stderr:\n{self.stderr_tail()}",
            pytrace=False,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def restart_after_kill9(self) -> None:
        """kill -9 the server and start it again on the same data dir (new ephemeral port)."""
        self.kill9()
        self.port = None
        self.start()


def mode_server_env() -> dict:
    """Environment that starts a server in the suite's mode (empty in open mode)."""
    if not AUTH_MODE:
        return {}
    return {"S3CORE_ACCESS_KEY": AUTH_ACCESS_KEY, "S3CORE_SECRET_KEY": AUTH_SECRET_KEY}


def unsigned_get_status(url: str) -> tuple[int, bytes]:
    """Status and body of a plain GET with no Authorization (urllib, no proxy)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def assert_requires_auth(server: S3CoreServer) -> None:
    """Fail unless the server refuses an unsigned request (403 AccessDenied)."""
    status, body = unsigned_get_status(server.url + "/")
    if status != 403 or b"<Code>AccessDenied</Code>" not in body:
        server.stop()
        pytest.fail(
            f"s3core started with credentials accepted an unsigned GET / ({status}): "
            f"{body[:500]!r}",
            pytrace=False,
        )


def _start_server(tmp_path_factory, name: str, *, extra_args=(), extra_env=None,
                  mode_credentials: bool = True) -> S3CoreServer:
    """Start a server on a fresh data dir. ``mode_credentials``: start it with the
    credentials of the suite's mode (none in open mode)."""
    base = tmp_path_factory.mktemp(name)
    env = mode_server_env() if mode_credentials else {}
    env.update(extra_env or {})
    server = S3CoreServer(
        data_dir=base / "data", log_dir=base, extra_args=list(extra_args), extra_env=env
    )
    server.start()
    if mode_credentials and AUTH_MODE:
        assert_requires_auth(server)
    return server


def _finish_server(server: S3CoreServer) -> None:
    crashed = not server.alive()
    code = server.proc.returncode if server.proc is not None else None
    server.stop()
    if crashed:
        pytest.fail(
            f"s3core exited on its own during the tests (exit code {code}).\n"
            f"stderr:\n{server.stderr_tail()}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A fresh s3core for the whole test module."""
    srv = _start_server(tmp_path_factory, "s3core-" + request.module.__name__.replace(".", "-"))
    request.module._s3core_server = srv  # for the failure report hook below
    yield srv
    _finish_server(srv)


@pytest.fixture
def restartable_server(request, tmp_path_factory):
    """A server of its own (not shared with the module) whose ``restart_after_kill9()``
    kill -9s it and restarts it on the same data dir."""
    srv = _start_server(tmp_path_factory, "s3core-restart")
    request.node._s3core_server = srv
    yield srv
    _finish_server(srv)


def pytest_report_header(config):
    if AUTH_MODE:
        return f"s3core client suite: credentials mode (S3CORE_TEST_AUTH=1, key {ACCESS_KEY})"
    return "s3core client suite: open mode (no credentials; set S3CORE_TEST_AUTH=1 for signed)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        srv = getattr(item, "_s3core_server", None) or getattr(item.module, "_s3core_server", None)
        if srv is not None:
            tail = srv.stderr_tail(4000)
            state = "running" if srv.alive() else f"EXITED with code {srv.proc.returncode}"
            report.sections.append((f"s3core stderr (tail; server {state})", tail or "(empty)"))


# --------------------------------------------------------------------------------------------
# Endpoints and clients
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "root" or "prefix"
    url: str


@pytest.fixture(scope="module", params=["root", "prefix"])
def endpoint(request, server) -> Endpoint:
    return Endpoint(request.param, server.endpoint_url(request.param))


def _force_aws_chunked_trailer(context, **_):
    """Make botocore send its default CRC32 checksum as an aws-chunked trailer
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER), exactly as it does by default over HTTPS; over plain
    HTTP it otherwise sends the checksum as a header."""
    algorithm = context.get("checksum", {}).get("request_algorithm")
    if isinstance(algorithm, dict) and algorithm.get("in") == "header":
        algorithm["in"] = "trailer"


def new_s3_client(endpoint_url: str, *, aws_chunked_trailer: bool = False, record=None,
                  access_key: str | None = None, secret_key: str | None = None, **config):
    """A boto3 S3 client as an application would build it: path-style, us-east-1, the keys of
    the suite's mode (or ``access_key``/``secret_key``), everything else botocore's current
    defaults (unless overridden in ``config``). Retries are disabled so that server errors
    are not hidden.

    ``record``: optional list; the headers of every request sent are appended to it."""
    settings = dict(
        region_name=REGION,
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "total_max_attempts": 1},  # no retries
        connect_timeout=10,
        read_timeout=30,  # every request here is small; a stall should fail, not wait
    )
    if "s3" in config:
        settings["s3"] = {**settings["s3"], **config.pop("s3")}
    settings.update(config)
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY if access_key is None else access_key,
        aws_secret_access_key=SECRET_KEY if secret_key is None else secret_key,
        region_name=REGION,
    )
    client = session.client("s3", endpoint_url=endpoint_url, config=Config(**settings))
    if aws_chunked_trailer:
        for op in ("PutObject", "UploadPart"):
            client.meta.events.register(f"before-call.s3.{op}", _force_aws_chunked_trailer)
    if record is not None:
        def _record(request, **_):
            headers = {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
            record.append((request.method, request.url, headers))
        client.meta.events.register("before-send.s3", _record)
    return client


@pytest.fixture(scope="module")
def make_s3_client():
    return new_s3_client


@pytest.fixture(scope="module")
def s3(endpoint):
    return new_s3_client(endpoint.url)


@pytest.fixture
def bucket(s3, request):
    """A new, empty bucket for one test (named after the test). Not cleaned up: every module
    has a throw-away server and data dir."""
    name = unique_bucket_name(request.node.originalname)
    s3.create_bucket(Bucket=name)
    return name


# --------------------------------------------------------------------------------------------
# AWS CLI
# --------------------------------------------------------------------------------------------


class AwsCli:
    """Runs AWS CLI v1 (``python -m awscli`` from the running interpreter's environment) with
    ``--endpoint-url``, the keys of the suite's mode (or the given ones) in the environment,
    and a private config file."""

    def __init__(self, endpoint_url: str, home: Path, access_key: str | None = None,
                 secret_key: str | None = None):
        self.endpoint_url = endpoint_url
        home.mkdir(parents=True, exist_ok=True)
        self.config_file = home / "config"
        self.config_file.write_text(
            "[default]\nregion = us-east-1\noutput = json\ns3 =\n    addressing_style = path\n"
        )
        self.env = dict(os.environ)
        self.env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY if access_key is None else access_key,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY if secret_key is None else secret_key,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.config_file),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
            AWS_RETRY_MODE="standard",
            AWS_MAX_ATTEMPTS="1",
            PYTHONIOENCODING="utf-8",
            LC_ALL="C.UTF-8",
        )

    def run(self, *args, check: bool = True, input: bytes | None = None, endpoint: bool = True,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """Run one aws command. Every command here finishes in a second or two against a
        healthy server; ``timeout`` catches requests that stall until the client's 60 s read
        timeout (after which the CLI may silently retry and still succeed)."""
        cmd = [sys.executable, "-m", "awscli", *map(str, args)]
        if endpoint:
            cmd += ["--endpoint-url", self.endpoint_url]
        try:
            proc = subprocess.run(
                cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"aws {' '.join(map(str, args))} did not finish within {timeout:.0f}s "
                "(a request stalled?)\n"
                f"stdout:\n{(exc.stdout or b'').decode('utf-8', 'replace')}\n"
                f"stderr:\n{(exc.stderr or b'').decode('utf-8', 'replace')}",
                pytrace=False,
            )
        proc.stdout_text = proc.stdout.decode("utf-8", "replace")
        proc.stderr_text = proc.stderr.decode("utf-8", "replace")
        if check and proc.returncode != 0:
            pytest.fail(
                f"aws {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout_text}\nstderr:\n{proc.stderr_text}",
                pytrace=False,
            )
        return proc

    __call__ = run

    def set_s3_option(self, name: str, value: str) -> None:
        """Add ``name = value`` to the ``s3`` section of the private config file (what
        ``aws configure set default.s3.NAME VALUE`` does, without spawning the CLI)."""
        text = self.config_file.read_text()
        self.config_file.write_text(text.rstrip("\n") + f"\n    {name} = {value}\n")

    def json(self, *args, **kw):
        import json

        out = self.run(*args, **kw).stdout_text
        return json.loads(out) if out.strip() else {}


@pytest.fixture
def aws_cli(endpoint, tmp_path) -> AwsCli:
    return AwsCli(endpoint.url, tmp_path / "aws-home")


@pytest.fixture(scope="session", autouse=True)
def _cleanup_isolation_dir():
    yield
    shutil.rmtree(_ISOLATION_DIR, ignore_errors=True)
