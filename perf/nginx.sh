#!/usr/bin/env bash
# Baseline: the same GET phases against nginx serving static files with identical names, pinned
# like perf/run.sh pins s3core (nginx, one worker, on CPU 0; the generator on CPU 1). The result
# rows go to the same perf/runs/DATE-HOST/results.csv with label "nginx".
#
#   perf/nginx.sh [--phases LIST] [--duration 10s] [--warmup 1s] [--connections 16]
#                 [--no-build] [-- EXTRA-BENCH-ARGS...]
#
# Needs nginx (apt-get install -y nginx) and root or a user that may run it. Bounded in time;
# nginx and its temp dir are removed on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

PHASES="get-4k,get-1m,get-64m,range-8m,head"
DURATION=10s
WARMUP=1s
CONNECTIONS=16
BUILD=1
EXTRA=()
while (( $# )); do
  case "$1" in
    --phases) PHASES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || { echo "nginx not found: apt-get install -y nginx" >&2; exit 1; }
cd "$REPO"
if (( BUILD )); then
  timeout 3600 cargo build --release -p s3core-bench
fi
BENCH_BIN=$REPO/target/release/s3core-bench

TMP=$(mktemp -d /tmp/s3core-nginx.XXXXXX)
NGINX_PID=
cleanup() {
  if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# The worker process may run as an unprivileged user: let it read the files.
chmod 755 "$TMP"
"$BENCH_BIN" --prepare-dir "$TMP/www" --bucket s3core-bench --phase "$PHASES" "${EXTRA[@]}"
chmod -R a+rX "$TMP/www"

PORT=$(free_port)
write_nginx_conf "$TMP/nginx.conf" "$TMP" "$PORT" "$TMP/www"

OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)
STAMP=$(date +%H%M%S)
mkdir -p "$OUT_DIR"
record_machine "$OUT_DIR/machine.txt"

taskset -c 0 "$NGINX" -c "$TMP/nginx.conf" -p "$TMP" >"$TMP/nginx.out" 2>&1 &
NGINX_PID=$!
wait_port "$PORT" "$NGINX_PID" 15 || { cat "$TMP/nginx.out" "$TMP/error.log" >&2 2>/dev/null; exit 1; }

NPHASES=$(tr ',' '\n' <<<"$PHASES" | grep -c .)
LIMIT=$(bench_time_limit "$NPHASES" "$(duration_seconds "$DURATION")" "$(duration_seconds "$WARMUP")")
BENCH_CMD=(taskset -c 1 "$BENCH_BIN" --nginx-mode --endpoint "http://127.0.0.1:$PORT" --bucket s3core-bench
  --phase "$PHASES" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
  --label nginx --csv "$OUT_DIR/results.csv" "${EXTRA[@]}")
{
  echo "# $(date -u +%FT%TZ) label=nginx"
  echo "server: taskset -c 0 nginx -c nginx.conf (worker_processes 1, sendfile on, access_log off)"
  echo "bench:  timeout $LIMIT ${BENCH_CMD[*]}"
} | tee -a "$OUT_DIR/commands.txt"

set +e
timeout "$LIMIT" "${BENCH_CMD[@]}" 2> >(tee "$OUT_DIR/$STAMP-nginx-progress.log" >&2) | tee "$OUT_DIR/$STAMP-nginx-table.txt"
BENCH_RC=${PIPESTATUS[0]}
set -e

WORKER_PID=$(pgrep -P "$NGINX_PID" | head -1 || true)
{
  echo "label=nginx port=$PORT bench_exit=$BENCH_RC"
  echo "nginx master peak RSS: $(peak_rss "$NGINX_PID")"
  [[ -n $WORKER_PID ]] && echo "nginx worker peak RSS: $(peak_rss "$WORKER_PID")"
  echo "## nginx error log (last 20 lines)"
  tail -20 "$TMP/error.log" 2>/dev/null || true
} >"$OUT_DIR/$STAMP-nginx-server.txt"
grep VmHWM "$OUT_DIR/$STAMP-nginx-server.txt" || true
echo "recorded in ${OUT_DIR#"$REPO"/} (results.csv, $STAMP-nginx-*.txt)"
exit "$BENCH_RC"
