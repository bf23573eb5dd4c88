#!/usr/bin/env bash
# Load-test the s3core server on this machine and record the run under perf/runs/DATE-HOST/.
#
#   perf/run.sh [--phases LIST] [--list] [--duration 10s] [--warmup 1s] [--connections 16]
#               [--label s3core] [--no-build] [-- EXTRA-BENCH-ARGS...]
#
# The server (target/release/s3core, fresh temp data dir, free port, --cores 1) is pinned to
# CPU 0 and the load generator to CPU 1. How the server is started can be changed with
# S3CORE_ARGS, a template in which {port} and {data} are replaced, e.g.
#   S3CORE_ARGS='--listen 127.0.0.1:{port} --data-dir {data} --cores 1' perf/run.sh
# S3CORE_BIN runs another server the same way (a peer, for comparison), e.g.
#   S3CORE_BIN=s3s-fs S3CORE_ARGS='--host 127.0.0.1 --port {port} --access-key AK --secret-key SK {data}' \
#     perf/run.sh --label s3s-fs -- --access-key AK --secret-key SK
# Bounded in time; the server and the temp dir are removed on exit, whatever happens.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

PHASES="put-4k,get-4k,put-1m,get-1m,get-64m,range-8m,head,mix"
LIST_PHASE=0
DURATION=10s
WARMUP=1s
CONNECTIONS=16
LABEL=s3core
BUILD=1
LIST_KEYS=${LIST_KEYS:-10000}
EXTRA=()
while (( $# )); do
  case "$1" in
    --phases) PHASES=$2; shift 2 ;;
    --list) LIST_PHASE=1; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( LIST_PHASE )); then
  PHASES="$PHASES,list"
  EXTRA+=(--preload-list-keys "$LIST_KEYS")
fi
SERVER_TEMPLATE=${S3CORE_ARGS:-"--listen 127.0.0.1:{port} --data-dir {data} --cores 1"}

cd "$REPO"
if (( BUILD )); then
  if [[ -n ${S3CORE_BIN:-} ]]; then
    timeout 3600 cargo build --release -p s3core-bench
  else
    # Both binaries in one invocation so shared dependencies build once.
    timeout 3600 cargo build --release -p s3core -p s3core-bench
  fi
fi
SERVER_BIN=${S3CORE_BIN:-$REPO/target/release/s3core}
SERVER_BIN=$(command -v "$SERVER_BIN" || echo "$SERVER_BIN")
BENCH_BIN=$REPO/target/release/s3core-bench
[[ -x $SERVER_BIN && -x $BENCH_BIN ]] || { echo "build $SERVER_BIN and $BENCH_BIN first" >&2; exit 1; }

TMP=$(mktemp -d /tmp/s3core-perf.XXXXXX)
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
SERVER_ARGS=${SERVER_TEMPLATE//\{port\}/$PORT}
SERVER_ARGS=${SERVER_ARGS//\{data\}/$TMP/data}
mkdir -p "$TMP/data"
OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)
STAMP=$(date +%H%M%S)
mkdir -p "$OUT_DIR"
record_machine "$OUT_DIR/machine.txt"

# shellcheck disable=SC2086 # SERVER_ARGS is a list of flags on purpose.
taskset -c 0 "$SERVER_BIN" $SERVER_ARGS >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT" "$SERVER_PID" 30 || { tail -20 "$TMP/server.log" >&2; exit 1; }

NPHASES=$(tr ',' '\n' <<<"$PHASES" | grep -c .)
LIMIT=$(bench_time_limit "$NPHASES" "$(duration_seconds "$DURATION")" "$(duration_seconds "$WARMUP")")
BENCH_CMD=(taskset -c 1 "$BENCH_BIN" --endpoint "http://127.0.0.1:$PORT" --bucket s3core-bench
  --phase "$PHASES" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
  --label "$LABEL" --csv "$OUT_DIR/results.csv" "${EXTRA[@]}")
{
  echo "# $(date -u +%FT%TZ) label=$LABEL"
  echo "server: taskset -c 0 ${SERVER_BIN#"$REPO"/} $SERVER_ARGS"
  echo "bench:  timeout $LIMIT ${BENCH_CMD[*]}"
} | tee -a "$OUT_DIR/commands.txt"

set +e
timeout "$LIMIT" "${BENCH_CMD[@]}" 2> >(tee "$OUT_DIR/$STAMP-progress.log" >&2) | tee "$OUT_DIR/$STAMP-table.txt"
BENCH_RC=${PIPESTATUS[0]}
set -e

{
  echo "label=$LABEL port=$PORT bench_exit=$BENCH_RC"
  echo "server peak RSS: $(peak_rss "$SERVER_PID")"
  echo "## server log (last 50 lines)"
  tail -50 "$TMP/server.log"
} >"$OUT_DIR/$STAMP-server.txt"
grep VmHWM "$OUT_DIR/$STAMP-server.txt" || true
echo "recorded in ${OUT_DIR#"$REPO"/} (results.csv, $STAMP-*.txt)"
exit "$BENCH_RC"
