#!/usr/bin/env bash
# Compare s3core with its peers on this machine: the same s3core-bench phases, pinned the same
# way, against each system in turn; a side-by-side table with ratios and an SVG bar chart.
#
#   perf/compare.sh [--systems s3core,s3s-fs,seaweedfs,nginx] [--with-garage]
#                   [--phases LIST] [--duration 10s] [--warmup 1s] [--connections 16]
#                   [--list-keys 20000] [--no-auth] [--no-build] [--no-install]
#                   [--server-cpu 0] [--client-cpu 1] [-- EXTRA-BENCH-ARGS...]
#
# Systems: s3core (this repository's release build), s3s-fs, seaweedfs (weed server -s3, one
# process), garage (only with --with-garage: a long build), nginx (static files, GET phases
# only: the ceiling). Peers are installed on first use into ~/.cache/s3core-peers (see
# perf/peers/install.sh); one that fails to install or start is marked so in the table and the
# rest are still compared. Each server starts fresh (temp data dir, free port) pinned to
# --server-cpu with one worker/core where it has such a setting; the generator runs on
# --client-cpu. Requests are SigV4-signed with the same keys everywhere (--no-auth: unsigned
# where the server allows it; garage always signs).
# Phases (default): put-4k get-4k put-1m get-1m get-64m range-8m head mix list; list pages
# through --list-keys keys (default 20000) preloaded once per system.
# Output: perf/runs/DATE-HOST/compare-HHMMSS/ (table.txt, plot.svg, results.csv, commands.txt,
# versions.txt, servers.txt, machine.txt, per-system logs). Bounded in time; every server and
# temp dir is removed on exit, whatever happens.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/perf/lib.sh"
source "$REPO/perf/peers/install.sh"

ALL_PHASES="put-4k,get-4k,put-1m,get-1m,get-64m,range-8m,head,mix,list"
# The phases a static file server can answer (GET, range, HEAD of the preloaded objects).
STATIC_PHASES=" get-4k get-1m get-64m range-8m head "
SYSTEMS="s3core,s3s-fs,seaweedfs,nginx"
WITH_GARAGE=0
PHASES=$ALL_PHASES
DURATION=10s
WARMUP=1s
CONNECTIONS=16
LIST_KEYS=20000
AUTH=1
BUILD=1
INSTALL=1
SERVER_CPU=0
CLIENT_CPU=1
EXTRA=()
while (( $# )); do
  case "$1" in
    --systems) SYSTEMS=$2; shift 2 ;;
    --with-garage) WITH_GARAGE=1; shift ;;
    --phases) PHASES=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --list-keys) LIST_KEYS=$2; shift 2 ;;
    --no-auth) AUTH=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --server-cpu) SERVER_CPU=$2; shift 2 ;;
    --client-cpu) CLIENT_CPU=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( WITH_GARAGE )) && [[ ,$SYSTEMS, != *,garage,* ]]; then
  SYSTEMS="$SYSTEMS,garage"
fi
[[ $LIST_KEYS =~ ^[0-9]+$ ]] || { echo "--list-keys wants a number" >&2; exit 2; }
[[ $CONNECTIONS =~ ^[0-9]+$ ]] || { echo "--connections wants a number" >&2; exit 2; }
IFS=, read -r -a SYSTEM_LIST <<<"$SYSTEMS"
IFS=, read -r -a PHASE_LIST <<<"$PHASES"
for s in "${SYSTEM_LIST[@]}"; do
  case "$s" in s3core|s3s-fs|seaweedfs|garage|nginx) ;; *) echo "unknown system $s" >&2; exit 2 ;; esac
done
for p in "${PHASE_LIST[@]}"; do
  case "$p" in put-4k|put-1m|put-64m|get-4k|get-1m|get-64m|range-8m|head|mix|list) ;;
    *) echo "unknown phase $p" >&2; exit 2 ;; esac
done
command -v curl >/dev/null || { echo "curl is needed (readiness checks)" >&2; exit 1; }
if ! command -v setsid >/dev/null || ! command -v taskset >/dev/null; then
  echo "setsid and taskset are needed (util-linux)" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "python3 is needed (table and plot)" >&2; exit 1; }

BUCKET=s3core-bench
REGION=us-east-1
# Local benchmark keys (garage's format: GK + 24 hex digits, 64 hex digits), the same for all.
ACCESS_KEY=GK5c3c0e0be0c4a1e5c3c0e0be
SECRET_KEY=5c3c0e0be0c4a1e5c3c0e0be0c4a1e5c3c0e0be0c4a1e5c3c0e0be0c4a1e5c3c
DURATION_S=$(duration_seconds "$DURATION")
WARMUP_S=$(duration_seconds "$WARMUP")

cd "$REPO" || exit 1
if (( BUILD )); then
  timeout 3600 cargo build --release -p s3core -p s3core-bench || { echo "build failed" >&2; exit 1; }
fi
BENCH_BIN=$REPO/target/release/s3core-bench
S3CORE_BIN=$REPO/target/release/s3core
[[ -x $BENCH_BIN ]] || { echo "build $BENCH_BIN first (cargo build --release -p s3core-bench)" >&2; exit 1; }

OUT_DIR=$REPO/perf/runs/$(date +%F)-$(hostname)/compare-$(date +%H%M%S)
mkdir -p "$OUT_DIR" || exit 1
TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/s3core-compare.XXXXXX") || exit 1
chmod 755 "$TMP_ROOT"  # nginx's worker may run as an unprivileged user
CSV=$OUT_DIR/results.csv
STATUS=$OUT_DIR/status.tsv      # system, state, version, detail
PHASE_LOG=$OUT_DIR/phases.tsv   # system, phase, bench exit status, wall seconds
RSS=$OUT_DIR/rss.tsv            # system, peak RSS kB (sum over the server's processes)
printf 'system\tstate\tversion\tdetail\n' >"$STATUS"
printf 'system\tphase\tbench_exit\twall_s\n' >"$PHASE_LOG"
printf 'system\tpeak_rss_kb\n' >"$RSS"
: >"$OUT_DIR/versions.txt"
: >"$OUT_DIR/servers.txt"
INSTALL_LOG=$OUT_DIR/install.log

SERVER_PGID=
WEED_SOCKETS=()
# The unix sockets weed made in /tmp for the ports this script gave it.
remove_weed_sockets() {
  local p
  for p in "${WEED_SOCKETS[@]}"; do
    rm -f /tmp/seaweedfs-*-"$p".sock
  done
  WEED_SOCKETS=()
}
BENCH_PID=
cleanup() {
  if [[ -n $BENCH_PID ]]; then
    kill -TERM "$BENCH_PID" 2>/dev/null  # timeout passes it on to the generator
    wait "$BENCH_PID" 2>/dev/null
    BENCH_PID=
  fi
  if [[ -n $SERVER_PGID ]]; then
    stop_group "$SERVER_PGID" 10
    SERVER_PGID=
  fi
  remove_weed_sockets
  rm -rf "$TMP_ROOT"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

log() { echo "[compare $(date +%H:%M:%S)] $*" >&2; }
status() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$STATUS"; }

record_machine "$OUT_DIR/machine.txt"
{
  echo "## load at start"
  cat /proc/loadavg
  for f in /proc/pressure/cpu /proc/pressure/io; do [[ -r $f ]] && { echo "$f"; cat "$f"; }; done
} >>"$OUT_DIR/machine.txt"
{
  echo "# $(date -u +%FT%TZ) perf/compare.sh"
  echo "systems=$SYSTEMS phases=$PHASES duration=$DURATION warmup=$WARMUP connections=$CONNECTIONS list_keys=$LIST_KEYS auth=$AUTH server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU"
} >"$OUT_DIR/commands.txt"

# ---- servers -------------------------------------------------------------------------------
# start_* set SERVER_PGID, PORT, SERVER_LOG and append the command to commands.txt; SYS_TMP is
# this system's fresh temp dir. Each server runs in its own session (setsid), so the whole
# group can be stopped by its id.

# launch LOGFILE CMD...: starts CMD in a new session pinned to SERVER_CPU, sets SERVER_PGID.
launch() {
  local logfile=$1
  shift
  echo "server: setsid taskset -c $SERVER_CPU $*" >>"$OUT_DIR/commands.txt"
  (cd "$SYS_TMP" && exec setsid taskset -c "$SERVER_CPU" "$@") >"$logfile" 2>&1 </dev/null &
  SERVER_PGID=$!
  disown "$SERVER_PGID" 2>/dev/null || true  # no "Killed" job notice when it is stopped
  SERVER_LOG=$logfile
}

start_s3core() {
  local bin=$1
  PORT=$(free_port) || return 1
  local template=${S3CORE_ARGS:-"--listen 127.0.0.1:{port} --data-dir {data} --cores 1"}
  local args=${template//\{port\}/$PORT}
  args=${args//\{data\}/$SYS_TMP/data}
  local env=()
  (( AUTH )) && env=(S3CORE_ACCESS_KEY="$ACCESS_KEY" S3CORE_SECRET_KEY="$SECRET_KEY")
  # shellcheck disable=SC2086 # args is a list of flags on purpose.
  launch "$SYS_TMP/server.log" env "${env[@]}" "$bin" $args
}

start_s3s_fs() {
  local bin=$1
  PORT=$(free_port) || return 1
  mkdir -p "$SYS_TMP/data"
  local keys=()
  (( AUTH )) && keys=(--access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY")
  # One tokio worker thread (its blocking file I/O pool is extra threads, on the same CPU).
  launch "$SYS_TMP/server.log" env TOKIO_WORKER_THREADS=1 "$bin" --host 127.0.0.1 --port "$PORT" \
    "${keys[@]}" "$SYS_TMP/data"
}

start_seaweedfs() {
  local bin=$1 ports
  mapfile -t ports < <(distinct_ports 8)
  (( ${#ports[@]} == 8 )) || return 1
  PORT=${ports[6]}
  mkdir -p "$SYS_TMP/data"
  local config=()
  if (( AUTH )); then
    cat >"$SYS_TMP/s3.json" <<EOF
{"identities": [{"name": "bench", "credentials": [{"accessKey": "$ACCESS_KEY", "secretKey": "$SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
    config=(-s3.config="$SYS_TMP/s3.json")
  fi
  # Master, volume server, filer and S3 gateway in one process, one Go scheduler thread;
  # -ip keeps every internal address on loopback, telemetry off.
  # weed puts its gRPC unix sockets in /tmp whatever TMPDIR says: removed after it stops.
  WEED_SOCKETS=("${ports[@]}")
  launch "$SYS_TMP/server.log" env GOMAXPROCS=1 TMPDIR="$SYS_TMP" "$bin" server -dir="$SYS_TMP/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false -volume.max=0 -volume.preStopSeconds=1 \
    -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" \
    -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
    -filer -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" -filer.localSocket="$SYS_TMP/filer.sock" \
    -s3 -s3.port="${ports[6]}" -s3.port.grpc="${ports[7]}" -s3.localSocket="$SYS_TMP/s3.sock" \
    -s3.port.iceberg=0 -s3.port.lance=0 "${config[@]}"
}

start_garage() {
  local bin=$1 ports
  mapfile -t ports < <(distinct_ports 2)
  (( ${#ports[@]} == 2 )) || return 1
  PORT=${ports[0]}
  mkdir -p "$SYS_TMP/meta" "$SYS_TMP/data"
  cat >"$SYS_TMP/garage.toml" <<EOF
metadata_dir = "$SYS_TMP/meta"
data_dir = "$SYS_TMP/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:${ports[1]}"
rpc_public_addr = "127.0.0.1:${ports[1]}"
rpc_secret = "$SECRET_KEY"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$PORT"
root_domain = ".s3.garage.localhost"
EOF
  # RUST_LOG=warn: at its default (info) garage logs a line per request.
  launch "$SYS_TMP/server.log" env TOKIO_WORKER_THREADS=1 RUST_LOG=warn "$bin" -c "$SYS_TMP/garage.toml" server
  wait_port "$PORT" "$SERVER_PGID" 60 || return 1
  # One node, one zone; the benchmark key and bucket (garage always checks signatures).
  local g=(timeout 30 "$bin" -c "$SYS_TMP/garage.toml") node deadline=$(( SECONDS + 60 ))
  while (( SECONDS < deadline )); do
    node=$("${g[@]}" node id -q 2>>"$SYS_TMP/init.log" | cut -d@ -f1) && [[ -n $node ]] && break
    sleep 1
  done
  [[ -n ${node:-} ]] || { echo "garage: no node id" >>"$SYS_TMP/init.log"; return 1; }
  {
    "${g[@]}" layout assign -z dc1 -c 10G "$node" &&
      "${g[@]}" layout apply --version 1 &&
      "${g[@]}" key import --yes -n bench "$ACCESS_KEY" "$SECRET_KEY" &&
      "${g[@]}" bucket create "$BUCKET" &&
      "${g[@]}" bucket allow --read --write --owner "$BUCKET" --key "$ACCESS_KEY"
  } >>"$SYS_TMP/init.log" 2>&1 || { echo "garage: init failed" >>"$SYS_TMP/init.log"; return 1; }
  echo "init: garage layout assign/apply, key import, bucket create $BUCKET, bucket allow" >>"$OUT_DIR/commands.txt"
}

start_nginx() {
  local bin=$1
  PORT=$(free_port) || return 1
  chmod 755 "$SYS_TMP"
  local served=() p
  for p in "${PHASE_LIST[@]}"; do [[ $STATIC_PHASES == *" $p "* ]] && served+=("$p"); done
  (( ${#served[@]} )) || return 1
  timeout 600 "$BENCH_BIN" --prepare-dir "$SYS_TMP/www" --bucket "$BUCKET" \
    --phase "$(IFS=,; echo "${served[*]}")" "${EXTRA[@]}" >>"$SYS_TMP/prepare.log" 2>&1 || return 1
  chmod -R a+rX "$SYS_TMP/www"
  write_nginx_conf "$SYS_TMP/nginx.conf" "$SYS_TMP" "$PORT" "$SYS_TMP/www"
  launch "$SYS_TMP/server.log" "$bin" -c "$SYS_TMP/nginx.conf" -p "$SYS_TMP"
}

# ready_s3 SECONDS: port open, the bucket created (200, or 409 and then HEAD 200) and a small
# object PUT and deleted, within SECONDS (perf/peers/s3probe.py signs like the generator).
ready_s3() {
  local deadline=$(( SECONDS + $1 )) keys=()
  wait_port "$PORT" "$SERVER_PGID" "$1" 2>>"$SYS_TMP/ready.log" || return 1
  (( SIGN )) && keys=(--access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --region "$REGION")
  timeout $(( deadline - SECONDS + 15 )) python3 "$REPO/perf/peers/s3probe.py" --endpoint "http://127.0.0.1:$PORT" \
    --bucket "$BUCKET" --timeout $(( deadline - SECONDS )) --pid "$SERVER_PGID" "${keys[@]}" 2>>"$SYS_TMP/ready.log"
}

# ready_static SECONDS: port open and a HEAD of one prepared file answered 200.
ready_static() {
  local deadline=$(( SECONDS + $1 )) file
  wait_port "$PORT" "$SERVER_PGID" "$1" 2>>"$SYS_TMP/ready.log" || return 1
  file=$(find "$SYS_TMP/www/$BUCKET" -maxdepth 1 -type f -name 'obj-*' -printf '%f\n' -quit)
  [[ -n $file ]] || { echo "nothing prepared under www/$BUCKET" >>"$SYS_TMP/ready.log"; return 1; }
  while (( SECONDS < deadline )); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --head \
      "http://127.0.0.1:$PORT/$BUCKET/$file" 2>/dev/null) == 200 ]] && return 0
    sleep 0.5
  done
  echo "HEAD /$BUCKET/$file: no 200 in $1 s" >>"$SYS_TMP/ready.log"
  return 1
}

# ---- one system ----------------------------------------------------------------------------

run_system() {
  local sys=$1 bin version phase rc t0 limit static=0 started
  log "== $sys"
  SYS_TMP=$TMP_ROOT/$sys
  mkdir -p "$SYS_TMP"
  SIGN=$AUTH
  [[ $sys == garage ]] && SIGN=1
  [[ $sys == nginx ]] && { SIGN=0; static=1; }

  # Install (or find) the binary.
  case "$sys" in
    s3core) bin=$S3CORE_BIN; [[ -x $bin ]] || bin= ;;
    *)
      if (( INSTALL )); then
        log "$sys: installing if missing (log: install.log)"
        bin=$(install_"${sys//-/_}" "$INSTALL_LOG") || bin=
      else
        # --no-install: only what is installed already.
        bin=$(_installed_only "$sys")
      fi
      ;;
  esac
  if [[ -z $bin ]]; then
    log "$sys: not installed"
    if [[ $sys == s3core ]]; then
      status "$sys" install-failed "-" "no $S3CORE_BIN: cargo build --release -p s3core"
    else
      status "$sys" install-failed "-" "see install.log"
    fi
    return
  fi
  version=$(peer_version "$sys" "$bin")
  [[ $sys == s3core ]] && version="$version ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo no-commit))"
  printf '%s\t%s\t%s\n' "$sys" "$version" "$bin" >>"$OUT_DIR/versions.txt"

  # Start and wait for it.
  echo "# $sys ($version)" >>"$OUT_DIR/commands.txt"
  started=1
  case "$sys" in
    s3core) start_s3core "$bin" && ready_s3 30 || started=0 ;;
    s3s-fs) start_s3s_fs "$bin" && ready_s3 30 || started=0 ;;
    seaweedfs) start_seaweedfs "$bin" && ready_s3 90 || started=0 ;;
    garage) start_garage "$bin" && ready_s3 60 || started=0 ;;
    nginx) start_nginx "$bin" && ready_static 15 || started=0 ;;
  esac
  if (( ! started )); then
    log "$sys: did not start"
    status "$sys" start-failed "$version" "see servers.txt"
    finish_system "$sys"
    return
  fi
  log "$sys: up on port $PORT (pid $SERVER_PGID)"

  local auth=()
  (( SIGN )) && auth=(--access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" --region "$REGION")
  local failed=0
  for phase in "${PHASE_LIST[@]}"; do
    if (( static )) && [[ $STATIC_PHASES != *" $phase "* ]]; then
      continue
    fi
    if ! kill -0 "$SERVER_PGID" 2>/dev/null; then
      log "$sys: server gone before $phase"
      printf '%s\t%s\t%s\t%s\n' "$sys" "$phase" server-gone 0 >>"$PHASE_LOG"
      failed=1
      continue
    fi
    local cmd=(taskset -c "$CLIENT_CPU" "$BENCH_BIN" --endpoint "http://127.0.0.1:$PORT" --bucket "$BUCKET"
      --phase "$phase" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
      --label "$sys" --csv "$CSV" "${auth[@]}")
    (( static )) && cmd+=(--nginx-mode)
    limit=$(( DURATION_S + WARMUP_S + 120 ))
    if [[ $phase == list ]]; then
      cmd+=(--preload-list-keys "$LIST_KEYS")
      limit=$(( limit + 660 ))
    fi
    cmd+=("${EXTRA[@]}")
    echo "bench:  timeout $limit ${cmd[*]}" >>"$OUT_DIR/commands.txt"
    log "$sys: $phase"
    t0=$SECONDS
    # In the background and waited for, so a SIGTERM to this script acts at once (bash runs a
    # trap only after a foreground command ends); cleanup stops it.
    timeout "$limit" "${cmd[@]}" >>"$OUT_DIR/$sys-table.txt" 2>>"$OUT_DIR/$sys-progress.log" &
    BENCH_PID=$!
    wait "$BENCH_PID"
    rc=$?
    BENCH_PID=
    printf '%s\t%s\t%s\t%s\n' "$sys" "$phase" "$rc" "$(( SECONDS - t0 ))" >>"$PHASE_LOG"
    (( rc == 0 )) || failed=1
    (( rc == 124 || rc == 137 )) && log "$sys: $phase timed out after $limit s"
  done
  if (( failed )); then
    status "$sys" "ran-with-errors" "$version" "see phases.tsv and $sys-progress.log"
  else
    status "$sys" ok "$version" "port $PORT"
  fi
  finish_system "$sys"
}

# finish_system SYS: peak RSS, log tail, stop the server, remove its data.
finish_system() {
  local sys=$1 rss
  {
    echo "## $sys"
    if [[ -n $SERVER_PGID ]]; then
      rss=$(group_peak_rss "$SERVER_PGID")
      echo "$rss"
      printf '%s\t%s\n' "$sys" "$(awk '/^total/ {print $2}' <<<"$rss")" >>"$RSS"
    fi
    for f in init.log ready.log prepare.log; do
      [[ -s $SYS_TMP/$f ]] && { echo "### $f"; tail -30 "$SYS_TMP/$f"; }
    done
    echo "### server log (last 40 lines)"
    tail -40 "${SERVER_LOG:-/dev/null}" 2>/dev/null
    [[ -s $SYS_TMP/error.log ]] && { echo "### nginx error.log"; tail -20 "$SYS_TMP/error.log"; }
    echo
  } >>"$OUT_DIR/servers.txt" 2>&1
  # weed takes its time with SIGTERM (it was seen to ignore it for 10 s and more).
  local t0=$SECONDS
  [[ -n $SERVER_PGID ]] && stop_group "$SERVER_PGID" "$([[ $sys == seaweedfs ]] && echo 5 || echo 15)"
  SERVER_PGID=
  remove_weed_sockets
  SERVER_LOG=
  local t1=$SECONDS
  rm -rf "$SYS_TMP"
  log "$sys: stopped in $(( t1 - t0 )) s, data removed in $(( SECONDS - t1 )) s"
}

# _installed_only SYS: the cached or system binary without installing anything.
_installed_only() {
  case "$1" in
    s3s-fs) f=${S3S_FS_BIN:-$PEERS_CACHE/s3s-fs-$S3S_FS_VERSION/bin/s3s-fs} ;;
    seaweedfs) f=${WEED_BIN:-$PEERS_CACHE/seaweedfs-$SEAWEEDFS_VERSION/bin/weed} ;;
    garage) f=${GARAGE_BIN:-$PEERS_CACHE/garage-$GARAGE_VERSION/bin/garage} ;;
    nginx) f=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)} ;;
  esac
  [[ -x $f ]] && echo "$f"
}

# ---- main ----------------------------------------------------------------------------------

log "results: ${OUT_DIR#"$REPO"/}"
log "systems: $SYSTEMS; phases: $PHASES; $DURATION per phase; list: $LIST_KEYS keys"
for sys in "${SYSTEM_LIST[@]}"; do
  run_system "$sys"
done
# Systems that exist but were not asked for, so the table says why they are missing.
[[ ,$SYSTEMS, == *,garage,* ]] || status garage not-selected "-" "opt-in: --with-garage (long build)"

{
  echo "## load at end"
  cat /proc/loadavg
  for f in /proc/pressure/cpu /proc/pressure/io; do [[ -r $f ]] && { echo "$f"; cat "$f"; }; done
} >>"$OUT_DIR/machine.txt"
[[ -s $INSTALL_LOG ]] || rm -f "$INSTALL_LOG"

META="$(hostname), $(nproc) CPUs, kernel $(uname -r); server on CPU $SERVER_CPU, generator on CPU $CLIENT_CPU; $CONNECTIONS connections; $DURATION per phase after $WARMUP warm-up; list: $LIST_KEYS keys preloaded (--list-keys, default 20000); requests $( ((AUTH)) && echo 'SigV4-signed (UNSIGNED-PAYLOAD)' || echo 'unsigned (garage signed)')"
REPORT_CMD=(python3 perf/peers/report.py --dir "${OUT_DIR#"$REPO"/}" --systems "$SYSTEMS" --phases "$PHASES"
  --static-phases "$(tr -s ' ' ',' <<<"${STATIC_PHASES# }" | sed 's/,$//')" --meta "$META")
{
  printf 'report:'
  for a in "${REPORT_CMD[@]}"; do
    if [[ $a =~ ^[A-Za-z0-9_./,:=+-]+$ ]]; then printf ' %s' "$a"; else printf " '%s'" "${a//\'/\'\\\'\'}"; fi
  done
  echo
} >>"$OUT_DIR/commands.txt"
"${REPORT_CMD[@]}" || { log "report failed"; exit 1; }
cat "$OUT_DIR/table.txt"
log "recorded in ${OUT_DIR#"$REPO"/} (table.txt, plot.svg, results.csv, commands.txt, versions.txt, servers.txt, machine.txt)"
# Non-zero only when s3core itself did not run cleanly (a peer's failure is in the table).
grep -qP '^s3core\tok\t' "$STATUS" || [[ ,$SYSTEMS, != *,s3core,* ]]
