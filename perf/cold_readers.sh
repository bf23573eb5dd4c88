#!/usr/bin/env bash
# Peak memory of many concurrent readers of cold (uncached) data.
#
#   perf/cold_readers.sh [--bin PATH] [--label NAME] [--readers 1024] [--no-build]    (root)
#
# Starts s3core --cores 1 (CPU 0), stores 16 objects of 64 MiB, drops the page cache, then
# opens READERS connections at once (CPU 1), each reading its own 1 MiB range (distinct
# ranges, so every read is cold) slowly: 16 KiB every 50 ms, so that every reader holds its
# staging buffer while its socket is full. A core has 64 buffer leases of 256 KiB; readers
# beyond them copy cold ranges through smaller buffers. Prints and records the server's peak
# RSS (VmHWM) and whether every reader got exactly its bytes.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

SERVER_BIN=$REPO/target/release/s3core
LABEL=s3core
READERS=1024
BUILD=1
while (( $# )); do
  case "$1" in
    --bin) SERVER_BIN=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --readers) READERS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "dropping the page cache needs root" >&2; exit 1; }

cd "$REPO"
if (( BUILD )); then
  timeout 3600 cargo build --release -p s3core
fi
PYTHON=${PYTHON:-python3}
TMP=$(mktemp -d /tmp/s3core-cold.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill -9 "$SERVER_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
ulimit -n 8192
taskset -c 0 "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" --cores 1 --log-level warn \
  > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT" "$SERVER_PID" 30

OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)
mkdir -p "$OUT_DIR"
record_machine "$OUT_DIR/machine.txt"
TABLE=$OUT_DIR/$(date +%H%M%S)-cold-readers-$LABEL.txt

"$PYTHON" - "$PORT" store <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
c.request("PUT", "/cold"); c.getresponse().read()
for index in range(16):
    body = bytes([index]) * (64 << 20)
    c.request("PUT", f"/cold/obj-{index}", body=body)
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
EOF
BEFORE=$(grep VmRSS "/proc/$SERVER_PID/status" | awk '{print $2}')
sync
echo 3 > /proc/sys/vm/drop_caches
# Reset the peak RSS so that VmHWM below is the readers' peak, not the uploads'.
echo 5 > "/proc/$SERVER_PID/clear_refs"
RESULT=$(taskset -c 1 "$PYTHON" - "$PORT" "$READERS" <<'EOF'
import asyncio, sys
port, readers = int(sys.argv[1]), int(sys.argv[2])
MIB = 1 << 20

async def read_range(index):
    obj, offset = index % 16, (index // 16) * MIB % (64 * MIB)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /cold/obj-{obj} HTTP/1.1\r\nHost: x\r\nRange: bytes={offset}-{offset + MIB - 1}\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 206"), head[:60]
    got = 0
    while got < MIB:
        chunk = await reader.read(16 * 1024)
        if not chunk:
            break
        assert chunk == bytes([obj]) * len(chunk)
        got += len(chunk)
        await asyncio.sleep(0.05)
    writer.close()
    return got == MIB

async def main():
    results = await asyncio.gather(*(read_range(i) for i in range(readers)), return_exceptions=True)
    good = sum(1 for r in results if r is True)
    print(f"{good}/{readers} readers got their 1 MiB")

asyncio.run(main())
EOF
)
PEAK=$(peak_rss "$SERVER_PID")
{
  echo "# perf/cold_readers.sh --bin $SERVER_BIN --readers $READERS (label $LABEL)"
  echo "RSS after storing 1 GiB (peak reset then): ${BEFORE} kB"
  echo "$RESULT"
  echo "peak: $PEAK"
} | tee "$TABLE"
