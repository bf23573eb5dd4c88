#!/usr/bin/env bash
# Measures what completing a multipart upload and copying an object cost, against size:
#
#   perf/multipart_cost.sh [--no-build] [--runs-small N] [--runs-large N] [--runs-copy N]
#
# - CompleteMultipartUpload of 10 MiB (10 x 1 MiB parts) and of 1 GiB (64 x 16 MiB parts), each
#   completion timed alone on an idle server (median of runs), with the upload time for context;
# - CopyObject of a 1 MiB and of a 1 GiB single-PUT object (median of runs), and of the 1 GiB
#   multipart object (whose plain-MD5 copy ETag costs one read pass).
# The design claims completion writes one journal entry and a copy links blocks: both should
# cost about the same at 10 MiB and at 1 GiB (copies of multipart sources excepted).
#
# Uses target/release/s3core (built with `cargo build --release -p s3core` when missing or older
# than the sources; --no-build uses it as it is; S3CORE_BIN=PATH runs another build, e.g. one
# of a clean checkout while the working tree does not build), a fresh temp data dir, --cores 1
# (S3CORE_CORES to change), and Python's standard library (http.client) as the client, one
# keep-alive connection, requests strictly one at a time. Bounded in time; at most about 2 GiB on disk at
# once (3.5 GiB of free space is required); the server and every temp file are removed on exit.
# The table goes to stdout; it is appended, with the machine and the commit, to
# perf/runs/$(date +%F)-$(hostname)/multipart_cost.txt.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

BUILD=1
RUNS_SMALL=5
RUNS_LARGE=3
RUNS_COPY=7
CORES=${S3CORE_CORES:-1}
while (( $# )); do
  case "$1" in
    --no-build) BUILD=0; shift ;;
    --runs-small) RUNS_SMALL=$2; shift 2 ;;
    --runs-large) RUNS_LARGE=$2; shift 2 ;;
    --runs-copy) RUNS_COPY=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

TMP=
SERVER_PID=
CHILD_PID=
# Runs a long step in the background and waits for it, so that a signal to this script is
# handled at once (bash defers traps until a foreground command ends).
run_step() {
  "$@" &
  CHILD_PID=$!
  wait "$CHILD_PID"
  CHILD_PID=
}
cleanup() {
  if [[ -n $CHILD_PID ]]; then
    kill "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $TMP ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$REPO"
BIN=$REPO/target/release/s3core
if [[ -n ${S3CORE_BIN:-} ]]; then
  BIN=$S3CORE_BIN
  BUILD=0
fi
if (( BUILD )); then
  if [[ ! -x $BIN ]] || [[ -n $(find src Cargo.toml Cargo.lock -newer "$BIN" -print -quit 2>/dev/null) ]]; then
    echo "building $BIN (missing or older than the sources)" >&2
    run_step timeout 3600 cargo build --release -p s3core
  fi
fi
[[ -x $BIN ]] || { echo "no $BIN: build it first (cargo build --release -p s3core)" >&2; exit 1; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

TMP=$(mktemp -d /tmp/s3core-multipart-cost.XXXXXX)

AVAILABLE_KIB=$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')
if (( AVAILABLE_KIB < 3584 * 1024 )); then
  echo "need 3.5 GiB free under $TMP, have $(( AVAILABLE_KIB / 1024 )) MiB" >&2
  exit 1
fi

# The server on CPU 0 and the client on CPU 1 when there are two CPUs (as perf/run.sh does).
PIN_SERVER=() PIN_CLIENT=()
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
  PIN_SERVER=(taskset -c 0) PIN_CLIENT=(taskset -c 1)
fi

echo "generating 1 GiB of random data" >&2
run_step dd if=/dev/urandom of="$TMP/random.bin" bs=16M count=64 iflag=fullblock status=none

mkdir -p "$TMP/data"
SERVER_CMD=("${PIN_SERVER[@]}" "$BIN" --listen 127.0.0.1:0 --data-dir "$TMP/data" --cores "$CORES" --log-level warn)
"${SERVER_CMD[@]}" >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
ADDRESS=
for _ in $(seq 1 300); do
  ADDRESS=$(sed -n 's|^s3core listening on http://||p' "$TMP/server.out" | head -1)
  [[ -n $ADDRESS ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -n $ADDRESS ]] || { echo "the server did not start:" >&2; tail -20 "$TMP/server.err" >&2; exit 1; }

cat >"$TMP/measure.py" <<'PYTHON'
"""One keep-alive connection, one request at a time; every answer is checked."""
import hashlib
import http.client
import re
import statistics
import sys
import time

HOST, PORT = sys.argv[1].rsplit(":", 1)
DATA = sys.argv[2]
RUNS_SMALL, RUNS_LARGE, RUNS_COPY = (int(value) for value in sys.argv[3:6])
MIB = 1 << 20
BUCKET = "multipart-cost"
SETTLE_S = 0.5  # pause before each timed request: earlier unlinks and flushes are done

connection = http.client.HTTPConnection(HOST, int(PORT), timeout=600, blocksize=MIB)


def request(method, path, body=None, headers=None, expect=200):
    """(response, body bytes, seconds from sending to the last byte of the answer)."""
    start = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - start
    if response.status != expect:
        sys.exit(f"{method} {path}: {response.status} {response.reason}, expected {expect}: {data[:600]!r}")
    return response, data, elapsed


def xml_value(data, tag):
    found = re.search(rb"<" + tag.encode() + rb">([^<]*)</" + tag.encode() + rb">", data)
    if not found:
        sys.exit(f"no <{tag}> in {data[:600]!r}")
    return found.group(1).decode().replace("&quot;", '"')


def read_data(offset, length):
    with open(DATA, "rb") as source:
        source.seek(offset)
        return source.read(length)


def multipart(key, part_bytes, count):
    """Uploads `count` parts of the data file and completes; (upload s, complete s, ETag)."""
    _, data, _ = request("POST", f"/{BUCKET}/{key}?uploads")
    upload_id = xml_value(data, "UploadId")
    upload_s = 0.0
    digests = b""
    parts = []
    for index in range(count):
        chunk = read_data(index * part_bytes, part_bytes)
        response, _, elapsed = request("PUT", f"/{BUCKET}/{key}?partNumber={index + 1}&uploadId={upload_id}", chunk)
        upload_s += elapsed
        digest = hashlib.md5(chunk)
        if response.getheader("ETag") != f'"{digest.hexdigest()}"':
            sys.exit(f"part {index + 1}: ETag {response.getheader('ETag')}")
        digests += digest.digest()
        parts.append(f"<Part><PartNumber>{index + 1}</PartNumber><ETag>\"{digest.hexdigest()}\"</ETag></Part>")
    document = ("<CompleteMultipartUpload>" + "".join(parts) + "</CompleteMultipartUpload>").encode()
    expected = f'"{hashlib.md5(digests).hexdigest()}-{count}"'
    time.sleep(SETTLE_S)
    _, data, complete_s = request("POST", f"/{BUCKET}/{key}?uploadId={upload_id}", document)
    if xml_value(data, "ETag") != expected:
        sys.exit(f"completed ETag {xml_value(data, 'ETag')}, expected {expected}")
    verify(key, part_bytes * count, part_bytes)
    return upload_s, complete_s, expected


def verify(key, size, part_bytes):
    """HEAD size, and the bytes around the first part boundary and at the end."""
    response, _, _ = request("HEAD", f"/{BUCKET}/{key}")
    if int(response.getheader("Content-Length")) != size:
        sys.exit(f"{key}: Content-Length {response.getheader('Content-Length')}, expected {size}")
    for first, last in [(0, 99), (part_bytes - 50, part_bytes + 49), (size - 100, size - 1)]:
        _, data, _ = request("GET", f"/{BUCKET}/{key}", headers={"Range": f"bytes={first}-{last}"}, expect=206)
        if data != read_data(first, last - first + 1):
            sys.exit(f"{key}: bytes {first}-{last} differ")


def delete(key):
    request("DELETE", f"/{BUCKET}/{key}", expect=204)


def copy(source, target, expected_etag):
    time.sleep(SETTLE_S)
    _, data, elapsed = request("PUT", f"/{BUCKET}/{target}", headers={"x-amz-copy-source": f"/{BUCKET}/{source}"})
    if xml_value(data, "ETag") != expected_etag:
        sys.exit(f"copy of {source}: ETag {xml_value(data, 'ETag')}, expected {expected_etag}")
    return elapsed


rows = []


def row(name, seconds):
    rows.append((name, len(seconds), statistics.median(seconds), min(seconds), max(seconds)))
    print(f"  {name}: median {statistics.median(seconds) * 1000:.2f} ms over {len(seconds)}", file=sys.stderr)


request("PUT", f"/{BUCKET}")

# 1. 10 MiB: 10 x 1 MiB parts.
uploads, completes = [], []
for run in range(RUNS_SMALL):
    upload_s, complete_s, _ = multipart(f"small-{run}", MIB, 10)
    uploads.append(upload_s)
    completes.append(complete_s)
    delete(f"small-{run}")
row("complete 10 MiB (10 x 1 MiB parts)", completes)
small_complete = statistics.median(completes)
row("  upload of those 10 parts (sum of PUTs)", uploads)

# 2. 1 GiB: 64 x 16 MiB parts. The last object stays for the multipart copy.
uploads, completes = [], []
for run in range(RUNS_LARGE):
    upload_s, complete_s, multipart_etag = multipart(f"large-{run}", 16 * MIB, 64)
    uploads.append(upload_s)
    completes.append(complete_s)
    if run + 1 < RUNS_LARGE:
        delete(f"large-{run}")
row("complete 1 GiB (64 x 16 MiB parts)", completes)
large_complete = statistics.median(completes)
row("  upload of those 64 parts (sum of PUTs)", uploads)
whole_md5 = hashlib.md5()
with open(DATA, "rb") as source:
    while chunk := source.read(16 * MIB):
        whole_md5.update(chunk)
whole_etag = f'"{whole_md5.hexdigest()}"'
copies = []
for run in range(max(1, RUNS_COPY // 2)):
    copies.append(copy(f"large-{RUNS_LARGE - 1}", f"large-copy-{run}", whole_etag))
    delete(f"large-copy-{run}")
row("copy 1 GiB multipart object (MD5 read pass)", copies)
delete(f"large-{RUNS_LARGE - 1}")

# 3. Copies of single-PUT objects: 1 MiB and 1 GiB.
small = read_data(0, MIB)
response, _, _ = request("PUT", f"/{BUCKET}/single-1mib", small)
small_etag = response.getheader("ETag")
time.sleep(SETTLE_S)
with open(DATA, "rb") as source:
    response, _, put_s = request("PUT", f"/{BUCKET}/single-1gib", source, {"Content-Length": str(1024 * MIB)})
if response.getheader("ETag") != whole_etag:
    sys.exit(f"1 GiB PUT: ETag {response.getheader('ETag')}, expected {whole_etag}")
row("  PUT 1 GiB single object (context)", [put_s])
for name, source, etag in [("1 MiB", "single-1mib", small_etag), ("1 GiB", "single-1gib", whole_etag)]:
    copies = []
    for run in range(RUNS_COPY):
        copies.append(copy(source, f"{source}-copy-{run}", etag))
        delete(f"{source}-copy-{run}")
    row(f"copy {name} single-PUT object", copies)
    if name == "1 MiB":
        small_copy = statistics.median(copies)
    else:
        large_copy = statistics.median(copies)
verify("single-1gib", 1024 * MIB, 16 * MIB)
delete("single-1gib")
delete("single-1mib")
request("DELETE", f"/{BUCKET}", expect=204)

print(f"{'operation':<46} {'runs':>4} {'median ms':>10} {'min ms':>10} {'max ms':>10}")
for name, runs, median, low, high in rows:
    print(f"{name:<46} {runs:>4} {median * 1000:>10.2f} {low * 1000:>10.2f} {high * 1000:>10.2f}")
print()
print(f"complete 1 GiB / complete 10 MiB (medians): {large_complete / small_complete:.2f}x for 102.4x the bytes")
print(f"copy 1 GiB / copy 1 MiB (single-PUT, medians): {large_copy / small_copy:.2f}x for 1024x the bytes")
PYTHON

OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)
mkdir -p "$OUT_DIR"
RESULT=$OUT_DIR/multipart_cost.txt
echo "measuring against $ADDRESS (this takes a few minutes)" >&2
run_step timeout 1500 "${PIN_CLIENT[@]}" python3 "$TMP/measure.py" "$ADDRESS" "$TMP/random.bin" \
  "$RUNS_SMALL" "$RUNS_LARGE" "$RUNS_COPY" >"$TMP/table.txt"

record_machine "$TMP/machine.txt"
{
  echo "# perf/multipart_cost.sh, $(date -u +%FT%TZ) on $(hostname)"
  echo "server: ${SERVER_CMD[*]//$TMP/TMP}"
  echo "binary: ${BIN#"$REPO"/}, built $(date -u -r "$BIN" +%FT%TZ)${S3CORE_BIN:+ (S3CORE_BIN: not necessarily built from this checkout)}"
  echo "client: python3 http.client, one keep-alive connection, one request at a time" \
    "(${PIN_CLIENT[*]:-unpinned}); 0.5 s pause before each timed request;" \
    "wall time from sending the request to the last byte of the answer"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  cat "$TMP/table.txt"
  echo
  echo "server peak RSS: $(peak_rss "$SERVER_PID")"
  echo
  cat "$TMP/machine.txt"
  echo
} >>"$RESULT"
cat "$TMP/table.txt"
echo "recorded in ${RESULT#"$REPO"/}"
