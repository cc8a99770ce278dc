#!/usr/bin/env bash
# Azurite (the Azure Storage emulator) for tests of the Azure blob store.
#
#   bash scripts/azurite.sh install            # npm install into build/azurite (idempotent)
#   bash scripts/azurite.sh start DATADIR [PORT]   # blob service on 127.0.0.1:PORT (10000)
#   bash scripts/azurite.sh stop DATADIR
#
# The emulator's well-known development account:
#   name devstoreaccount1
#   key  Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==
# endpoint http://127.0.0.1:PORT/devstoreaccount1
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${AZURITE_PREFIX:-$repo/build/azurite}"
bin="$prefix/node_modules/.bin/azurite-blob"

die() {
  echo "azurite.sh: $*" >&2
  exit 1
}

port_answers() {
  # bash's /dev/tcp: succeeds once something accepts connections on the port.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

cmd_install() {
  if [[ -x "$bin" ]]; then
    echo "azurite already installed in $prefix"
    return 0
  fi
  command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
  mkdir -p "$prefix"
  npm install --no-audit --no-fund --prefix "$prefix" azurite@3
  [[ -x "$bin" ]] || die "npm finished but $bin is missing"
  echo "azurite installed in $prefix"
}

cmd_start() {
  local dir="${1:-}" port="${2:-10000}"
  [[ -n "$dir" ]] || die "usage: azurite.sh start DATADIR [PORT]"
  [[ -x "$bin" ]] || die "azurite is not installed: run 'bash scripts/azurite.sh install'"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pidfile="$dir/azurite.pid"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "azurite already runs for $dir (pid $(cat "$pidfile"))"
  fi
  if port_answers "$port"; then
    die "port $port is already in use"
  fi
  nohup "$bin" --silent --disableTelemetry --location "$dir" --blobHost 127.0.0.1 \
    --blobPort "$port" --skipApiVersionCheck >"$dir/azurite.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  # Bounded wait (~20 s) for the port to answer.
  local i
  for ((i = 0; i < 200; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      echo "--- $dir/azurite.log" >&2
      cat "$dir/azurite.log" >&2 || true
      die "azurite exited during start-up"
    fi
    if port_answers "$port"; then
      echo "http://127.0.0.1:$port/devstoreaccount1"
      return 0
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  die "azurite did not answer on port $port within 20 s"
}

cmd_stop() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || die "usage: azurite.sh stop DATADIR"
  local pidfile="$dir/azurite.pid"
  [[ -f "$pidfile" ]] || return 0
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  *) die "usage: azurite.sh install | start DATADIR [PORT] | stop DATADIR" ;;
esac
