"""The admin listener's status page, end to end in headless Chromium.

A server runs traffic from boto3 while Chromium (Debian's ``chromium``, driven over the
DevTools protocol with ``websocket-client``) loads ``http://ADMIN/``: the page must show live
request rates while traffic runs, and once traffic stops, the totals it shows must equal the
server's ``/metrics``. A screenshot is taken while traffic runs; with
``S3CORE_UPDATE_SCREENSHOT=1`` it replaces ``docs/status-page.png``.

Skipped, saying why, where Chromium is not installed (``test.sh`` installs it with apt where it
runs as root).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, _finish_server, _start_server, new_s3_client

ADMIN_LINE = re.compile(r"^s3core admin listening on http://(127\.0\.0\.1:\d+)\s*$")
CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Flags for Chromium as root in a container: no sandbox, no GPU, nothing phoning home.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1000",
    "--hide-scrollbars",
)


def chromium_binary() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, binary: str, profile: Path, log: Path):
        import websocket  # websocket-client (requirements.txt)

        self._log = open(log, "wb")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not open its DevTools port; log:\n{log.read_text()[-4000:]}")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        page = next(target for target in targets if target["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._next = 0

    def call(self, method: str, **params):
        self._next += 1
        self.ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 20):
        """Polls ``expression`` until it is truthy; while the page is still loading (no
        ``document.body`` yet) an exception counts as not yet."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError as error:
                value, last_error = None, error
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"the page never showed {what} ({expression}; last error: {last_error})")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self._log.close()


def scrape(admin: str) -> dict[str, float]:
    """``/metrics`` as {series: value}."""
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=10) as response:
        text = response.read().decode()
    series = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series[name] = float(value)
    return series


def family_sum(series: dict[str, float], family: str) -> float:
    return sum(value for name, value in series.items() if name.split("{")[0] == family)


def data_value(browser: Browser, element_id: str) -> float:
    return float(browser.evaluate(f"document.getElementById({element_id!r}).dataset.value"))


def polls(browser: Browser) -> int:
    return int(browser.evaluate("Number(document.body.dataset.polls || 0)"))


@pytest.fixture
def status_server(tmp_path_factory):
    server = _start_server(tmp_path_factory, "status-page")
    yield server
    _finish_server(server)


def test_the_status_page_shows_live_numbers_that_match_the_metrics(status_server, tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (test.sh installs Debian's chromium with apt when run as root)")
    admin = next((m.group(1) for line in status_server._stdout_lines if (m := ADMIN_LINE.match(line))), None)
    assert admin, f"no admin listener line in {status_server._stdout_lines}"

    s3 = new_s3_client(status_server.endpoint_url("root"))
    s3.create_bucket(Bucket="status")
    stop = threading.Event()
    failures: list[str] = []

    def traffic(worker: int) -> None:
        client = new_s3_client(status_server.endpoint_url("root"))
        index = 0
        while not stop.is_set():
            index += 1
            key = f"w{worker}/{index % 50}"
            try:
                client.put_object(Bucket="status", Key=key, Body=os.urandom(512 + index % 3000))
                client.get_object(Bucket="status", Key=key)["Body"].read()
                if index % 10 == 0:
                    try:
                        client.head_object(Bucket="status", Key="missing")
                    except client.exceptions.ClientError:
                        pass
            except Exception as error:  # noqa: BLE001 - reported below
                failures.append(repr(error))
                return

    workers = [threading.Thread(target=traffic, args=(worker,), daemon=True) for worker in range(2)]
    for worker in workers:
        worker.start()
    profile = Path(tempfile.mkdtemp(prefix="s3core-chromium-"))
    browser = None
    try:
        browser = Browser(binary, profile, tmp_path / "chromium.log")
        browser.call("Page.enable")
        browser.call("Page.navigate", url=f"http://{admin}/")
        browser.wait_for("document.readyState === 'complete' && document.body !== null", "a loaded page")
        # Live: after a few polls the request rate and every core's row show traffic.
        browser.wait_for("Number(document.body.dataset.polls || 0) >= 3", "three polls")
        browser.wait_for("Number(document.getElementById('request-rate').dataset.value) > 0", "a request rate")
        assert browser.evaluate("document.getElementById('phase').textContent") == "serving"
        core_rows = browser.evaluate("document.querySelectorAll('#cores tr').length")
        assert core_rows == status_server.cores, f"{core_rows} core rows"
        browser.wait_for("document.querySelector('#action-PutObject') !== null", "a PutObject latency row")
        screenshot = tmp_path / "status-page.png"
        browser.screenshot(screenshot)
        assert screenshot.stat().st_size > 10_000
        if os.environ.get("S3CORE_UPDATE_SCREENSHOT") == "1":
            shutil.copy(screenshot, REPO_ROOT / "docs" / "status-page.png")

        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        assert not failures, failures
        # Three more polls: the last two started after the traffic stopped, so the page shows
        # the final numbers and a rate of zero between them.
        seen = polls(browser)
        browser.wait_for(f"Number(document.body.dataset.polls || 0) >= {seen + 3}", "three more polls")
        metrics = scrape(admin)
        assert data_value(browser, "total-requests") == family_sum(metrics, "s3core_requests_total")
        assert data_value(browser, "total-errors") == family_sum(metrics, "s3core_s3_errors_total")
        assert data_value(browser, "total-requests") > 100, "too little traffic to see"
        assert data_value(browser, "received-bytes") == family_sum(metrics, "s3core_received_bytes_total")
        assert data_value(browser, "sent-bytes") == family_sum(metrics, "s3core_sent_bytes_total")
        assert data_value(browser, "buckets") == family_sum(metrics, "s3core_shard_buckets") == 1
        assert data_value(browser, "objects") == family_sum(metrics, "s3core_shard_objects") > 0
        assert data_value(browser, "object-bytes") == family_sum(metrics, "s3core_shard_object_bytes")
        assert data_value(browser, "inline-bytes") == family_sum(metrics, "s3core_shard_inline_bytes")
        assert data_value(browser, "disk-size") == metrics["s3core_data_filesystem_size_bytes"]
        assert data_value(browser, "disk-free") > 0
        for core in range(status_server.cores):
            shown = float(browser.evaluate(f"document.querySelector('#core-{core} td.requests').dataset.value"))
            assert shown == metrics[f's3core_core_requests_total{{core="{core}"}}'], f"core {core}"
        # Once traffic stopped, the rates fall to zero.
        assert data_value(browser, "request-rate") == 0
    finally:
        stop.set()
        if browser is not None:
            browser.close()
        shutil.rmtree(profile, ignore_errors=True)
