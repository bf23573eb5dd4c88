#!/usr/bin/env bash
# Which way should object bytes leave the server? Runs the GET phases against s3core with
# sendfile(2) (zero copy) and with the io_uring read + write copy path, alternating,
# --rounds times, and prints MiB/s per mode, phase and round. This is how the default of
# --sendfile-min-bytes was chosen (see README, Performance); rerun it on new hardware.
#
#   perf/send_path_ab.sh [--rounds 3] [--duration 4s] [--phases get-64k,get-1m,get-64m,range-8m] [--no-build]
#
# Each run is a full perf/run.sh (fresh data dir, server on CPU 0, load on CPU 1), so the
# raw rows also land in perf/runs/DATE-HOST/results.csv labelled sendfile / copy.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=3
DURATION=4s
PHASES=get-64k,get-1m,get-64m,range-8m
BUILD=1
while (( $# )); do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --phases) PHASES=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
cd "$REPO"
if (( BUILD )); then timeout 3600 cargo build --release -p s3core -p s3core-bench; fi
OUT=$(mktemp /tmp/s3core-send-ab.XXXXXX)
trap 'rm -f "$OUT"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  for mode in sendfile copy; do
    # sendfile for every body of 1 byte or more, or never.
    minimum=1; [[ $mode == copy ]] && minimum=0
    S3CORE_ARGS="--listen 127.0.0.1:{port} --data-dir {data} --cores 1 --sendfile-min-bytes $minimum" \
      perf/run.sh --no-build --duration "$DURATION" --phases "$PHASES" --label "$mode" 2>/dev/null |
      awk -v mode="$mode" -v round="$round" '$2 ~ /^[0-9]+$/ && $NF == "ok" { print $1, mode, round, $6 }' >>"$OUT"
  done
done
echo "MiB/s by phase and mode, $ROUNDS rounds (server: 1 core, pinned; 16 connections)"
awk '{ key = $1 " " $2; sum[key] += $4; n[key]++; rows[key] = rows[key] sprintf(" %8.1f", $4) }
     END { for (k in sum) printf "%-10s %-9s mean %8.1f   rounds%s\n", substr(k, 1, index(k, " ") - 1),
           substr(k, index(k, " ") + 1), sum[k] / n[k], rows[k] }' "$OUT" | sort
