# shellcheck shell=bash
# Shared helpers for the perf/ scripts (sourced, not run).
# Every wait here is bounded; nothing here kills a process it did not start.

# Prints a TCP port on 127.0.0.1 that nothing listens on (tries at most 200 candidates).
free_port() {
  local tries port
  for tries in $(seq 1 200); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# distinct_ports N: N free ports, one per line.
distinct_ports() {
  local n=$1 got=() p tries=0
  while (( ${#got[@]} < n && tries < 100 )); do
    tries=$(( tries + 1 ))
    p=$(free_port) || return 1
    [[ " ${got[*]} " == *" $p "* ]] || got+=("$p")
  done
  (( ${#got[@]} == n )) || return 1
  printf '%s\n' "${got[@]}"
}

# wait_port PORT PID SECONDS: waits until 127.0.0.1:PORT accepts, PID is alive, at most SECONDS.
wait_port() {
  local port=$1 pid=$2 deadline=$(( SECONDS + $3 ))
  while (( SECONDS < deadline )); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before listening on $port" >&2
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listening on $port after $3 s" >&2
  return 1
}

# peak_rss PID: the VmHWM line of /proc/PID/status (peak resident set), or "unknown".
peak_rss() {
  grep -E '^VmHWM' "/proc/$1/status" 2>/dev/null || echo "VmHWM: unknown (pid $1 gone)"
}

# record_machine FILE: CPU, kernel, memory, git commit of the repository.
record_machine() {
  {
    echo "# recorded $(date -u +%FT%TZ) on $(hostname)"
    echo "## lscpu"
    lscpu | grep -E '^(Architecture|CPU\(s\)|On-line|Thread|Core|Socket|Model name|CPU max MHz|CPU MHz|L1d|L2|L3|NUMA node\(s\)|Hypervisor)' || true
    echo "## kernel"
    uname -r
    echo "## memory"
    grep -E '^(MemTotal|MemAvailable|SwapTotal)' /proc/meminfo
    echo "## git"
    echo "commit $(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo 'none (no commits yet)')"
    echo "uncommitted changes: $(git -C "$REPO" status --porcelain 2>/dev/null | wc -l) paths"
    echo "## toolchain"
    rustc --version 2>/dev/null || true
  } >"$1"
}

# Seconds a bench run may take at most: phases x (warm-up + duration + preload slack) + margin.
bench_time_limit() {
  local phases=$1 duration_s=$2 warmup_s=$3
  echo $(( phases * (duration_s + warmup_s + 120) + 60 ))
}

# Whole seconds of a duration like 10s, 500ms, 2m (rounded up; a bare number is seconds).
duration_seconds() {
  case "$1" in
    *ms) echo $(( (${1%ms} + 999) / 1000 )) ;;
    *s) echo "${1%s}" | cut -d. -f1 ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *) echo "$1" | cut -d. -f1 ;;
  esac
}

# nginx_conf_head TMPDIR: what both nginx configurations share (one worker, foreground,
# sendfile, no access log, long keep-alive, every temp path under TMPDIR), up to and inside
# the open http block.
nginx_conf_head() {
  local tmp=$1
  cat <<NGINX_CONF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/client_body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
NGINX_CONF
}

# write_nginx_conf FILE TMPDIR PORT ROOT: the nginx.conf perf/nginx.sh and perf/compare.sh use (one worker,
# foreground, sendfile, no access log, long keep-alive; every temp path under TMPDIR), serving
# ROOT on 127.0.0.1:PORT.
write_nginx_conf() {
  local file=$1 tmp=$2 port=$3 root=$4
  nginx_conf_head "$tmp" >"$file"
  cat >>"$file" <<NGINX_CONF
  server {
    listen 127.0.0.1:$port;
    root $root;
  }
}
NGINX_CONF
}

# write_nginx_cache_conf FILE TMPDIR PORT UPSTREAM: nginx as a read-through cache of an S3 store
# at UPSTREAM (host:port, anonymous), the recipe of nginx's own S3 gateway: the slice module
# cuts every GET into 1 MiB ranged subrequests, each cached under $uri$slice_range, and
# proxy_cache_lock lets one request per slice fill it while the others wait (single flight).
# One worker, foreground, sendfile, no access log, every path under TMPDIR, on 127.0.0.1:PORT.
write_nginx_cache_conf() {
  local file=$1 tmp=$2 port=$3 upstream=$4
  nginx_conf_head "$tmp" >"$file"
  cat >>"$file" <<NGINX_CONF
  # Large enough for every object the run reads: nothing is evicted during a run.
  proxy_cache_path $tmp/cache levels=1:2 keys_zone=lake:64m max_size=32g inactive=1d use_temp_path=off;
  upstream store {
    server $upstream;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port;
    location / {
      slice 1m;
      proxy_cache lake;
      proxy_cache_key \$uri\$slice_range;
      proxy_set_header Range \$slice_range;
      proxy_cache_valid 200 206 1h;
      proxy_cache_lock on;
      # The store's headers must not turn caching off.
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://store;
    }
  }
}
NGINX_CONF
}

# group_peak_rss PGID: "pid name VmHWM kB" for every process of the group, then
# "total N kB" (the sum; 0 when every process is gone). Read before the group is stopped.
group_peak_rss() {
  local pid total=0 kb name
  for pid in $(pgrep -g "$1" 2>/dev/null); do
    kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    name=$(cat "/proc/$pid/comm" 2>/dev/null)
    [[ -n $kb ]] || continue
    echo "pid $pid ${name:-?} VmHWM $kb kB"
    total=$(( total + kb ))
  done
  echo "total $total kB"
}

# stop_group PGID SECONDS: SIGTERM to the process group, SIGKILL after SECONDS if any of it is
# still there. Only for groups this script started with setsid (PGID = the leader's pid).
stop_group() {
  local pgid=$1 deadline=$(( SECONDS + $2 ))
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  while (( SECONDS < deadline )); do
    pgrep -g "$pgid" >/dev/null 2>&1 || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  sleep 0.2
}
