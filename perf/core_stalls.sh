#!/usr/bin/env bash
# Does work that used to block a core's thread still stall its other connections?
#
#   perf/core_stalls.sh [--bin PATH] [--label NAME] [--parts 10000] [--duration 10s] [--no-build]
#
# Measures the latency of small GETs (s3core-bench get-4k, 16 connections, pinned to CPU 1)
# against s3core --cores 1 (pinned to CPU 0) twice: alone, and while a client (also on CPU 1)
# copies an object of PARTS multipart parts (1 KiB each) with CopyObject in a loop. A copy of a
# multipart object links every part's block (one link(2) each) and reads the bytes once for the
# MD5; the p99 of the GETs during the copies shows how long the core was unavailable.
# Results are appended to perf/runs/DATE-HOST/results.csv with labels LABEL-alone and
# LABEL-copying; the copy count and time go to the table file.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

SERVER_BIN=$REPO/target/release/s3core
LABEL=s3core
PARTS=10000
DURATION=10s
BUILD=1
while (( $# )); do
  case "$1" in
    --bin) SERVER_BIN=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

cd "$REPO"
if (( BUILD )); then
  timeout 3600 cargo build --release -p s3core -p s3core-bench
fi
BENCH_BIN=$REPO/target/release/s3core-bench
PYTHON=${PYTHON:-python3}

TMP=$(mktemp -d /tmp/s3core-stalls.XXXXXX)
SERVER_PID=
COPIER_PID=
cleanup() {
  [[ -n $COPIER_PID ]] && kill "$COPIER_PID" 2>/dev/null || true
  [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
taskset -c 0 "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" --cores 1 \
  --multipart-min-part-bytes 1 --log-level warn > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT" "$SERVER_PID" 30

OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)
mkdir -p "$OUT_DIR"
record_machine "$OUT_DIR/machine.txt"
STAMP=$(date +%H%M%S)
TABLE=$OUT_DIR/$STAMP-stalls-$LABEL.txt

# The source object: PARTS parts of 1 KiB, uploaded over one keep-alive connection.
"$PYTHON" - "$PORT" "$PARTS" <<'EOF'
import http.client, re, sys
port, parts = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port)
def call(method, path, body=b""):
    c.request(method, path, body=body)
    r = c.getresponse(); data = r.read()
    assert r.status == 200, (method, path, r.status, data[:300])
    return r, data
call("PUT", "/stalls")
_, data = call("POST", "/stalls/source?uploads")
upload = re.search(rb"<UploadId>([^<]+)</UploadId>", data).group(1).decode()
etags = []
for number in range(1, parts + 1):
    r, _ = call("PUT", f"/stalls/source?partNumber={number}&uploadId={upload}", bytes([number % 251]) * 1024)
    etags.append(r.getheader("ETag"))
document = "<CompleteMultipartUpload>" + "".join(
    f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>" for n, e in enumerate(etags, 1)
) + "</CompleteMultipartUpload>"
call("POST", f"/stalls/source?uploadId={upload}", document.encode())
EOF

bench() {
  taskset -c 1 timeout 300 "$BENCH_BIN" --endpoint "http://127.0.0.1:$PORT" --bucket stalls \
    --phase get-4k --connections 16 --duration "$DURATION" --warmup 1s \
    --csv "$OUT_DIR/results.csv" --label "$1" "${@:2}"
}

{
  echo "# perf/core_stalls.sh --bin $SERVER_BIN --parts $PARTS --duration $DURATION"
  echo "## alone"
  bench "$LABEL-alone"
  # The copier: CopyObject of the multipart source, one after another, until stopped.
  taskset -c 1 "$PYTHON" - "$PORT" "$TMP/copies" <<'EOF' &
import http.client, sys, time
port, report = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
count, started = 0, time.monotonic()
try:
    while True:
        c.request("PUT", f"/stalls/copy-{count % 4}", headers={"x-amz-copy-source": "/stalls/source"})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        count += 1
        with open(report, "w") as out:
            out.write(f"{count} copies in {time.monotonic() - started:.1f} s\n")
except KeyboardInterrupt:
    pass
EOF
  COPIER_PID=$!
  sleep 1
  echo "## while copying a $PARTS-part object in a loop"
  bench "$LABEL-copying" --no-preload
  kill "$COPIER_PID" 2>/dev/null || true
  COPIER_PID=
  cat "$TMP/copies" 2>/dev/null || echo "no copy finished"
} | tee "$TABLE"
echo "perf/core_stalls.sh: table in $TABLE, rows in $OUT_DIR/results.csv"
