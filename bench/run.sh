#!/usr/bin/env bash
# run.sh - benchmark obagent against peer backup tools on the deterministic dataset of
# shared/bench/peers.sh, with the same protocol, and write bench/results/latest.md.
#
# Rows, all in one run on one machine:
#   peers (through peers.sh): restic-auto (zstd), restic-off, borg-lz4 on local folders;
#   obagent                 embedded mode: obctl writes a local vault folder itself;
#   obagent-vaultd          obctl through vaultd over HTTP on loopback, local-folder backend;
#   obagent-vaultd-azurite  obctl through vaultd, Azure backend on Azurite (the emulator);
#   restic-rclone           restic (zstd auto) through `rclone serve restic` over HTTP.
# The service rows also give the server's CPU seconds and peak RSS per step (vaultd or
# rclone; for the Azurite row Azurite's own figures too), and the vaultd rows count the
# requests vaultd served in each step (from its debug log).
#
# Usage: bash bench/run.sh [DATADIR]        (default DATADIR=/tmp/benchdata)
# Env knobs:
#   PEERS="restic-auto restic-off borg-lz4"   peer tools passed to peers.sh as TOOLS;
#                      PEERS="" runs no peers (quick iterations)
#   ROWS="obagent obagent-vaultd obagent-vaultd-azurite restic-rclone"   rows run here
#   REUSE_PEERS=1      with PEERS="": merge the peer rows of an earlier run on the same
#                      DATADIR/SEED/SCALE (DATADIR/work/results.tsv) into the report
#   SCALE=1.0          dataset scale (0.05 = quick smoke test), SEED=20240601, DROP_CACHES=1
#   SKIP_BUILD=1       do not build; use existing binaries
#   OBCTL=<path>       obctl binary (default: <repo>/build/obctl); VAULTD=<path> likewise
#   OUT=<path>         report (default: <repo>/bench/results/latest.md)
#   PEERS_SH=<path>    peers script (default: <repo>/../shared/bench/peers.sh)
#   NICE=-10           run everything (peers, clients, servers) at this nice level, so that
#                      other work on a shared machine disturbs the figures less (root only
#                      for negative values); default: unchanged
#
# Layout under DATADIR: src/ state/ work/ (owned by peers.sh; work/ is wiped when peers run)
# and obagent-work/ (wiped at every run): one folder per row (state/, scratch/, vault/ or
# vaultd/ or repo/, restore/), logs/, results.tsv.
#
# Protocol (identical to peers.sh): before every step `sync; echo 3 > drop_caches`, then the
# step's inputs are read once with cat (src + the client's local cache for backups; the
# repository as the server stores it + the client's cache for the restore); every timed
# command is followed by `sync` inside the timed region; the client is timed by
# /usr/bin/time -v. Servers (vaultd, rclone, Azurite) are started by this script on free
# ports of 127.0.0.1 and stopped by it, also when it is interrupted. Their CPU comes from
# /proc/PID/stat, their per-step peak RSS from VmHWM in /proc/PID/status (reset before each
# step through /proc/PID/clear_refs). The CPU that other processes of the machine used during
# each step is reported too (the machine may be shared): compare ratios within one run.
# Every restore is compared with the source by `diff -r` after the timed part; the exit status
# is non-zero if any tool failed or any restore differs.
# Order: the obagent rows and restic-rclone first, then peers.sh. On this machine a restore
# is slower when it follows the deletion of restored trees, for every tool, and more so the
# more was deleted (bench/README.md, "Order"). So every row deletes its restored tree when
# its restore is verified, as peers.sh does: every restore compared (the rows here and
# peers.sh's first row, restic-auto) follows the deletion of exactly one restored tree, the
# previous row's (for the first row, the last peer row's of the last run). And no restore
# here, nor peers.sh, starts within 65 s of the last deletion: ext4 without a journal (this
# machine's disk) skips every inode freed in the last 60 s when it allocates one
# (recently_deleted), so a restore of 20,000 files right after a 20,000-file tree was deleted
# spends seconds of system time scanning.
# shellcheck disable=SC2317  # functions called through \$fn, timed and traps
set -euo pipefail
if [ -n "${NICE:-}" ] && [ -z "${BENCH_NICED:-}" ]; then
  BENCH_NICED=1 exec nice -n "$NICE" bash "$(readlink -f "$0")" "$@"
fi

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
mkdir -p "${1:-/tmp/benchdata}"
DIR=$(readlink -f "${1:-/tmp/benchdata}")
export SEED=${SEED:-20240601}
export SCALE=${SCALE:-1.0}
export DROP_CACHES=${DROP_CACHES:-1}
PEERS=${PEERS-"restic-auto restic-off borg-lz4"}
PEERS=$(echo "$PEERS" | xargs) # trim
ROWS=${ROWS-"obagent obagent-vaultd obagent-vaultd-azurite restic-rclone"}
ROWS=$(echo "$ROWS" | xargs)
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
OBCTL=${OBCTL:-$ROOT/build/obctl}
VAULTD=${VAULTD:-$(dirname "$OBCTL")/vaultd}
OUT=${OUT:-$ROOT/bench/results/latest.md}
OB_PASS=bench-passphrase-123456
RESTIC_PASS=bench-passphrase-123 # as peers.sh
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

ST=$DIR/state
SRC=$DIR/src
OW=$DIR/obagent-work
RC=0
T_START=$SECONDS
TICK=$(getconf CLK_TCK)

die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
gen() { python3 "$ST/gen.py" "$1" "$DIR" "$SEED" "$SCALE"; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }
has_row() { [[ " $ROWS " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_answers() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

echo "== bench: DATADIR=$DIR SEED=$SEED SCALE=$SCALE PEERS='${PEERS}' ROWS='${ROWS}' OBCTL=$OBCTL"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg); nice level $(nice)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

###############################################################################
# servers this script starts; stopped on every exit path
###############################################################################
SRV_PID=""    # the server the client talks to (vaultd or rclone), measured per step
BE_PID=""     # the server behind it (Azurite), measured per step
AZ_DIR=""     # Azurite's data folder while it runs
GEN_READY=0
stop_pid() { # PID: SIGTERM, bounded wait, then SIGKILL
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2> /dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2> /dev/null && kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null || true
}
cleanup() {
  stop_pid "$SRV_PID"
  SRV_PID=""
  if [ -n "$AZ_DIR" ]; then
    bash "$ROOT/scripts/azurite.sh" stop "$AZ_DIR" > /dev/null 2>&1 || true
    AZ_DIR=""
  fi
  BE_PID=""
  if [ "$GEN_READY" = 1 ]; then gen unmutate || true; fi
  # a restored tree an interrupted row left; repositories stay for inspection
  if [ -n "${OW:-}" ] && compgen -G "$OW/*/restore" > /dev/null; then
    rm -rf "$OW"/*/restore
    date +%s > "$ST/bench-trees-deleted" 2> /dev/null || true
  fi
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

###############################################################################
# a) dependencies and build
###############################################################################
bash "$ROOT/scripts/install-deps.sh" --bench
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  echo "== build skipped (SKIP_BUILD=1)"
else
  echo "== building obagent (Release)"
  if ! (cd "$ROOT" && BUILD_DIR=build BUILD_TYPE=Release bash scripts/build.sh); then
    die "build failed; to benchmark existing binaries use SKIP_BUILD=1 [OBCTL=/path/to/obctl]"
  fi
fi
if has_row obagent-vaultd-azurite && ! bash "$ROOT/scripts/azurite.sh" install; then
  echo "bench: ERROR: Azurite could not be installed; the obagent-vaultd-azurite row will fail" >&2
  RC=1
fi
for b in "$OBCTL" "$VAULTD"; do
  [ -x "$b" ] || echo "bench: WARNING: $b not found; the obagent rows will fail" >&2
done

###############################################################################
# b) dataset: peers.sh's generator, extracted verbatim (peers.sh finds the dataset made and
#    keeps it)
###############################################################################
mkdir -p "$ST"
# the generator is embedded in peers.sh as a heredoc
[ -r "$PEERS_SH" ] || die "peers script not found: $PEERS_SH (needed for the dataset generator)"
sed -n "/^cat > \"\$ST\/gen.py\" <<'PYEOF'\$/,/^PYEOF\$/{//!p;}" "$PEERS_SH" > "$ST/gen.py"
grep -q "^{'gen': gen" "$ST/gen.py" || die "could not extract gen.py from $PEERS_SH"
GEN_READY=1
gen unmutate
if ! gen check; then
  echo "== generating dataset in $SRC (seed $SEED, scale $SCALE)"
  rm -rf "$SRC"
  gen gen
else
  echo "== dataset $SRC present and matches stamp"
fi
SRC_BYTES=$(du -sb "$SRC" | cut -f1)
SRC_FILES=$(find "$SRC" -type f | wc -l)

###############################################################################
# c) obagent (embedded and through vaultd) and restic through rclone, same protocol
###############################################################################
# When a restored tree was last deleted (written after each row, after peers.sh and by
# cleanup); a run that was killed left its tree here, and it goes now.
LAST_RM=$(cat "$ST/bench-trees-deleted" 2> /dev/null || echo 0)
if compgen -G "$OW/*/restore" > /dev/null; then LAST_RM=$(date +%s); fi
rm -rf "$OW"
mkdir -p "$OW/logs"
L=$OW/logs
RES=$OW/results.tsv
: > "$RES"
export OBCTL DIR SRC

prep() { # drop caches, then warm the given inputs
  sync
  if [ "$DROP_CACHES" = 1 ]; then
    echo 3 > /proc/sys/vm/drop_caches 2> /dev/null || echo "   (cannot drop caches)"
  fi
  local p
  for p in "$@"; do
    [ -e "$p" ] && find "$p" -type f -print0 | xargs -0 -r cat > /dev/null
  done
  true
}
cpu_ticks() { # PID -> utime+stime of the process in clock ticks (0 if it is gone)
  local f
  if [ -n "$1" ] && f=$(cat "/proc/$1/stat" 2> /dev/null); then
    f=${f##*) } # fields after "(comm) "; utime and stime are fields 14 and 15
    awk '{print $12 + $13}' <<< "$f"
  else
    echo 0
  fi
}
machine_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; } # user nice system irq softirq
peak_reset() { if [ -n "$1" ]; then echo 5 > "/proc/$1/clear_refs" 2> /dev/null || true; fi; }
peak_mib() { # PID -> VmHWM in MiB since the last peak_reset ("-" without a process)
  if [ -n "$1" ] && [ -r "/proc/$1/status" ]; then
    awk '/^VmHWM:/{printf "%.0f", $2/1024}' "/proc/$1/status"
  else
    echo -
  fi
}
ticks_s() { awk -v t="$1" -v k="$TICK" 'BEGIN{printf "%.1f", t/k}'; }
server_log_lines() { if [ -n "${SRV_LOG:-}" ] && [ -r "$SRV_LOG" ]; then wc -l < "$SRV_LOG"; else echo 0; fi; }

# timed TAG CMD... : runs CMD (then sync) under /usr/bin/time -v, output in logs/TAG.*;
# logs/TAG.res: wall cpu rssMiB srv_cpu srv_rssMiB be_cpu be_rssMiB others_cpu load1
timed() {
  local tag=$1 s0 b0 m0 l0 load
  shift
  peak_reset "$SRV_PID"
  peak_reset "$BE_PID"
  load=$(cut -d' ' -f1 /proc/loadavg)
  l0=$(server_log_lines)
  s0=$(cpu_ticks "$SRV_PID")
  b0=$(cpu_ticks "$BE_PID")
  m0=$(machine_busy)
  if ! /usr/bin/time -v -o "$L/$tag.time" bash -c '"$@" && sync' _ "$@" > "$L/$tag.log" 2>&1; then
    echo "   !! $tag FAILED (see $L/$tag.log)"
    tail -5 "$L/$tag.log"
    echo FAIL > "$L/$tag.failed"
    RC=1
  fi
  local s1 b1 m1 srv_cpu=- srv_rss=- be_cpu=- be_rss=- others
  s1=$(cpu_ticks "$SRV_PID")
  b1=$(cpu_ticks "$BE_PID")
  m1=$(machine_busy)
  if [ -n "$SRV_PID" ]; then
    srv_cpu=$(ticks_s $((s1 - s0)))
    srv_rss=$(peak_mib "$SRV_PID")
    # requests the server logged during the step (vaultd --log-level debug: one line each)
    sed -n "$((l0 + 1)),\$p" "$SRV_LOG" > "$L/$tag.server.log" 2> /dev/null || true
  fi
  if [ -n "$BE_PID" ]; then
    be_cpu=$(ticks_s $((b1 - b0)))
    be_rss=$(peak_mib "$BE_PID")
  fi
  awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); w=0; for(i=1;i<=n;i++) w=w*60+a[i]}
              /User time/{u=$2} /System time/{s=$2} /Maximum resident/{m=$2}
              END{printf "%.1f %.1f %.0f", w, u+s, m/1024}' "$L/$tag.time" > "$L/$tag.res"
  others=$(awk -v busy=$((m1 - m0)) -v k="$TICK" -v srv=$((s1 - s0)) -v be=$((b1 - b0)) \
    -v cli="$(cut -d' ' -f2 "$L/$tag.res")" \
    'BEGIN{o=busy/k - cli - (srv+be)/k; if (o<0) o=0; printf "%.1f", o}')
  echo " $srv_cpu $srv_rss $be_cpu $be_rss $others $load" >> "$L/$tag.res"
  echo "   $tag: wall/cpu/rssMiB srv cpu/rss backend cpu/rss others-cpu load = $(cat "$L/$tag.res")"
}

# run_row T REPO_DIR: the four steps of a row with the functions row_backup and
# row_restore DEST (exported for timed), the client cache in $ROW_CACHE (folders), the
# repository as stored in REPO_DIR (measured, and warmed before the restore).
run_row() {
  local T=$1 REPO_DIR=$2 V=FAIL R1=0 R3=0 C3=0 BYTES3=$SRC_BYTES RD RS s w c m b rate rest
  gen unmutate
  # shellcheck disable=SC2086  # ROW_CACHE is a list of folders
  prep "$SRC" $ROW_CACHE
  timed "$T-1full" row_backup
  R1=$(du -sb "$REPO_DIR" | cut -f1)
  # shellcheck disable=SC2086
  prep "$SRC" $ROW_CACHE
  timed "$T-2nochange" row_backup
  gen mutate > /dev/null
  BYTES3=$(du -sb "$SRC" | cut -f1)
  # shellcheck disable=SC2086
  prep "$SRC" $ROW_CACHE
  timed "$T-3onepct" row_backup
  R3=$(du -sb "$REPO_DIR" | cut -f1)
  # shellcheck disable=SC2086
  C3=$(du -sbc $ROW_CACHE | tail -1 | cut -f1)
  RD=$OW/$T/restore
  rm -rf "$RD"
  mkdir -p "$RD"
  # shellcheck disable=SC2086
  prep "$REPO_DIR" $ROW_CACHE
  settle_inodes
  timed "$T-4restore" row_restore "$RD"
  # not timed: the restore must be byte-identical to the (mutated) source
  # obagent keeps the whole path below the target (RD/<SRC>); restic too.
  RS=$RD$SRC
  [ -d "$RS" ] || RS=$RD/src
  if [ -n "$RS" ] && diff -rq --no-dereference "$SRC" "$RS" > "$L/$T-verify.log" 2>&1; then
    V=OK
  else
    V=FAIL
    RC=1
    echo "   restore differs from source (first lines of $L/$T-verify.log):"
    head -5 "$L/$T-verify.log"
  fi
  echo "   restore verify: $V ($RS)"
  gen unmutate
  for s in 1full 2nochange 3onepct 4restore; do
    read -r w c m rest < "$L/$T-$s.res"
    b=$SRC_BYTES
    [ "$s" != 1full ] && [ "$s" != 2nochange ] && b=$BYTES3
    rate=$(echo "scale=0; $b/1048576/($w+0.0001)" | bc)
    if [ -e "$L/$T-$s.failed" ]; then
      s="$s(FAILED)"
      rate=-
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$T" "$s" "$w" "$c" "$m" "$rate" "${rest// /$'\t'}" >> "$RES"
  done
  printf '%s\tREPO\t%s\t%s\t%s\t%s\n' "$T" "$(mib "$R1")" "$(mib "$R3")" "$(mib "$C3")" "$V" >> "$RES"
  echo "$BYTES3" > "$OW/bytes3"
  # verified: the tree goes now, and the next restore waits for ext4 (see "Order" above)
  rm -rf "$RD"
  LAST_RM=$(date +%s)
  echo "$LAST_RM" > "$ST/bench-trees-deleted"
}

# Waits until 65 s have passed since the last deletion of a restored tree (LAST_RM): before
# each restore here, and before peers.sh (whose first restore may come sooner than 65 s).
settle_inodes() {
  local wait=$((LAST_RM + 65 - $(date +%s)))
  if [ "$wait" -gt 0 ]; then
    echo "   waiting $wait s before the restore: inodes freed in the last 60 s are skipped by ext4"
    sleep "$wait"
  fi
}

# shellcheck disable=SC2317  # run through timed (bash -c)
ob_backup() { (cd "$DIR" && "$OBCTL" backup start --include "$DIR/src"); }
# shellcheck disable=SC2317
ob_restore() { "$OBCTL" recover --point latest --target "$1"; }
export -f ob_backup ob_restore

# The client side of an obagent row: state and scratch of its own.
ob_client() { # T
  export OBAGENT_STATE_DIR=$OW/$1/state
  ROW_CACHE="$OW/$1/scratch $OBAGENT_STATE_DIR"
  mkdir -p "$OW/$1/scratch" "$OBAGENT_STATE_DIR"
  if [ ! -x "$OBCTL" ]; then
    echo "bench: ERROR: obctl not found or not executable at $OBCTL (build it or set OBCTL)" >&2
    return 1
  fi
}
quiet() { # LOG CMD...: runs CMD, its output in LOG; on failure shows the log's tail
  local log=$1
  shift
  "$@" > "$log" 2>&1 && return 0
  echo "bench: ERROR: '$*' failed:" >&2
  tail -20 "$log" >&2
  return 1
}

row_obagent() {
  local T=obagent
  echo "== $T: embedded, local vault folder ($OBCTL)"
  ob_client "$T" || return 1
  quiet "$L/$T-init.log" "$OBCTL" vault init --path "$OW/$T/vault" || return 1
  OBAGENT_PASSPHRASE="$OB_PASS" quiet "$L/$T-register.log" "$OBCTL" register \
    --vault "$OW/$T/vault" --scratch "$OW/$T/scratch" || return 1
  row_backup() { ob_backup; }
  row_restore() { ob_restore "$1"; }
  export -f row_backup row_restore
  run_row "$T" "$OW/$T/vault"
}

start_vaultd() { # T BACKEND_ARGS...: vaultd on a free port; sets SRV_PID SRV_LOG URL
  local T=$1 port i
  shift
  [ -x "$VAULTD" ] || {
    echo "bench: ERROR: vaultd not found at $VAULTD (set VAULTD)" >&2
    return 1
  }
  port=$(free_port)
  URL=http://127.0.0.1:$port
  SRV_LOG=$L/$T-vaultd.log
  mkdir -p "$OW/$T/vaultd"
  # debug: one line per request, which the report counts (a few µs each)
  "$VAULTD" --listen "$URL" --state-dir "$OW/$T/vaultd" --log-level debug "$@" > "$SRV_LOG" 2>&1 &
  SRV_PID=$!
  for ((i = 0; i < 200; i++)); do
    grep -q "listening" "$SRV_LOG" 2> /dev/null && return 0 # the file appears once vaultd runs
    kill -0 "$SRV_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "bench: ERROR: vaultd did not start (log $SRV_LOG):" >&2
  tail -20 "$SRV_LOG" >&2
  return 1
}
stop_server() { # records the whole-life peak RSS of the server, then stops it
  local T=$1
  [ -n "$SRV_PID" ] || return 0
  awk '/^VmHWM:/{printf "%.0f\n", $2/1024}' "/proc/$SRV_PID/status" > "$L/$T-server.hwm" 2> /dev/null || true
  stop_pid "$SRV_PID"
  SRV_PID=""
}

row_obagent_vaultd() { # T BACKEND_ARGS...
  local T=$1
  shift
  ob_client "$T" || return 1
  start_vaultd "$T" "$@" || return 1
  local admin=(--service "$URL" --admin-token-file "$OW/$T/vaultd/admin.token")
  quiet "$L/$T-create.log" "$OBCTL" vault create --name bench "${admin[@]}" || return 1
  quiet "$L/$T-creds.log" "$OBCTL" vault credentials --name bench --out "$OW/$T/creds.xml" \
    "${admin[@]}" || return 1
  OBAGENT_PASSPHRASE="$OB_PASS" quiet "$L/$T-register.log" "$OBCTL" register \
    --vault-credentials "$OW/$T/creds.xml" --scratch "$OW/$T/scratch" || return 1
  row_backup() { ob_backup; }
  row_restore() { ob_restore "$1"; }
  export -f row_backup row_restore
  local repo=$OW/$T/vaultd
  [ -n "$AZ_DIR" ] && repo=$AZ_DIR
  run_row "$T" "$repo"
}

row_vaultd_local() {
  echo "== obagent-vaultd: obctl -> vaultd (HTTP, loopback) -> local folder"
  row_obagent_vaultd obagent-vaultd --backend local
  local rc=$?
  stop_server obagent-vaultd
  return "$rc"
}

row_vaultd_azurite() {
  local T=obagent-vaultd-azurite port url
  echo "== $T: obctl -> vaultd (HTTP, loopback) -> Azure backend on Azurite (HTTP, loopback)"
  port=$(free_port)
  AZ_DIR=$OW/$T/azurite
  if ! url=$(bash "$ROOT/scripts/azurite.sh" start "$AZ_DIR" "$port" 2> "$L/$T-azurite-start.log"); then
    echo "bench: ERROR: Azurite did not start:" >&2
    cat "$L/$T-azurite-start.log" >&2
    AZ_DIR=""
    return 1
  fi
  BE_PID=$(cat "$AZ_DIR/azurite.pid")
  printf '%s' "$AZ_KEY" > "$OW/$T.azkey"
  local rc=0
  row_obagent_vaultd "$T" --backend azure --azure-endpoint "$url" --azure-account devstoreaccount1 \
    --azure-key-file "$OW/$T.azkey" --azure-container obagent || rc=$?
  stop_server "$T"
  awk '/^VmHWM:/{printf "%.0f\n", $2/1024}' "/proc/$BE_PID/status" > "$L/$T-backend.hwm" 2> /dev/null || true
  bash "$ROOT/scripts/azurite.sh" stop "$AZ_DIR" > /dev/null 2>&1 || true
  AZ_DIR=""
  BE_PID=""
  return "$rc"
}

row_restic_rclone() {
  local T=restic-rclone port i
  echo "== $T: restic (zstd auto) -> rclone serve restic (HTTP, loopback) -> local folder"
  command -v rclone > /dev/null || {
    echo "bench: ERROR: rclone is not installed (bash scripts/install-deps.sh --bench)" >&2
    return 1
  }
  mkdir -p "$OW/$T/repo" "$OW/$T/cache"
  port=$(free_port)
  SRV_LOG=$L/$T-rclone.log
  # an empty config: rclone needs none for a local folder
  rclone serve restic --config /dev/null --addr "127.0.0.1:$port" "$OW/$T/repo" > "$SRV_LOG" 2>&1 &
  SRV_PID=$!
  for ((i = 0; i < 200; i++)); do
    port_answers "$port" && break
    kill -0 "$SRV_PID" 2> /dev/null || break
    sleep 0.1
  done
  if ! port_answers "$port"; then
    echo "bench: ERROR: rclone serve restic did not start (log $SRV_LOG):" >&2
    tail -20 "$SRV_LOG" >&2
    stop_server "$T"
    return 1
  fi
  export RESTIC_REPOSITORY=rest:http://127.0.0.1:$port/ RESTIC_PASSWORD=$RESTIC_PASS
  export RESTIC_CACHE_DIR=$OW/$T/cache
  ROW_CACHE=$RESTIC_CACHE_DIR
  local rc=0
  if quiet "$L/$T-init.log" restic init --repository-version 2; then
    row_backup() { (cd "$DIR" && restic backup --host bench --compression auto src); }
    row_restore() { restic restore latest --host bench --target "$1"; }
    export -f row_backup row_restore
    run_row "$T" "$OW/$T/repo" || rc=$?
  else
    rc=1
  fi
  stop_server "$T"
  unset RESTIC_REPOSITORY RESTIC_PASSWORD RESTIC_CACHE_DIR
  return "$rc"
}

ROW_FAILED=""
for row in $ROWS; do
  case $row in
    obagent) fn=row_obagent ;;
    obagent-vaultd) fn=row_vaultd_local ;;
    obagent-vaultd-azurite) fn=row_vaultd_azurite ;;
    restic-rclone) fn=row_restic_rclone ;;
    *) die "unknown row '$row' in ROWS" ;;
  esac
  if ! $fn; then
    echo "bench: ERROR: row $row did not complete" >&2
    ROW_FAILED="$ROW_FAILED $row"
    RC=1
  fi
  SRV_LOG=""
done
###############################################################################
# d) peers, after the obagent rows (see "Order" above; peers.sh wipes DATADIR/work)
###############################################################################
PEERS_RAN=0
PEERS_RES=$DIR/work/results.tsv
PEERS_STAMP=$ST/bench-peers.params
if [ -n "$PEERS" ]; then
  [ -r "$PEERS_SH" ] || die "peers script not found: $PEERS_SH (set PEERS_SH or PEERS=\"\")"
  echo "== peers: $PEERS"
  rm -f "$PEERS_STAMP"
  settle_inodes
  if TOOLS="$PEERS" bash "$PEERS_SH" "$DIR"; then
    PEERS_RAN=1
    echo "seed=$SEED scale=$SCALE tools=$PEERS" > "$PEERS_STAMP"
  else
    echo "bench: ERROR: peers.sh failed (exit $?); the obagent rows are reported" >&2
    RC=1
  fi
  # peers.sh deleted its last row's restored tree as it ended
  date +%s > "$ST/bench-trees-deleted"
  # peers.sh marks a failed step or restore in its results but exits 0
  if [ -s "$PEERS_RES" ] && grep -qP '\t[^\t]*FAILED|\tFAIL$' "$PEERS_RES"; then
    echo "bench: ERROR: a peer step or restore failed (see $PEERS_RES and $DIR/work/logs)" >&2
    RC=1
  fi
fi
INCLUDE_PEERS=0
PEERS_NOTE=""
if [ "$PEERS_RAN" = 1 ]; then
  INCLUDE_PEERS=1
elif [ -z "$PEERS" ] && [ "${REUSE_PEERS:-0}" = 1 ]; then
  if [ -s "$PEERS_RES" ] && [ -r "$PEERS_STAMP" ] && grep -q "^seed=$SEED scale=$SCALE " "$PEERS_STAMP"; then
    INCLUDE_PEERS=1
    PEERS_NOTE="Peer rows reused from an earlier run ($(date -u -r "$PEERS_RES" +%Y-%m-%dT%H:%MZ))."
  else
    echo "bench: WARNING: REUSE_PEERS=1 but no peer results for seed $SEED scale $SCALE in $DIR" >&2
  fi
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

###############################################################################
# e) report
###############################################################################
if [ -s "$OW/bytes3" ]; then
  BYTES3=$(cat "$OW/bytes3")
else # no row got to step 3: measure the mutated size for the dataset line
  gen mutate > /dev/null
  BYTES3=$(du -sb "$SRC" | cut -f1)
  gen unmutate
fi
ALL=$OW/all-results.tsv
: > "$ALL"
[ "$INCLUDE_PEERS" = 1 ] && cat "$PEERS_RES" >> "$ALL"
cat "$RES" >> "$ALL"
REV=$(git -C "$ROOT" rev-parse --short HEAD 2> /dev/null || echo unknown)
[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2> /dev/null)" ] && REV="$REV+dirty"
# requests vaultd served per step (GET/PUT/HEAD/...), from its debug log
REQS=$OW/requests.tsv
: > "$REQS"
for f in "$L"/*-[1-4]*.server.log; do
  [ -e "$f" ] || continue
  tag=$(basename "$f" .server.log)
  awk -v tag="$tag" '/ -> [0-9]+$/{n++; m[$(NF-3)]++}
    END{s=""; for (k in m) s=s (s==""?"":", ") k " " m[k]; if (n) printf "%s\t%d\t%s\n", tag, n, s}' \
    "$f" >> "$REQS"
done
AZV=$(node -e 'console.log(require(process.argv[1]).version)' \
  "$ROOT/build/azurite/node_modules/azurite/package.json" 2> /dev/null || echo "?")
mkdir -p "$(dirname "$OUT")"
{
  echo "# Backup benchmark: obagent vs peers ($(date -u +%Y-%m-%dT%H:%MZ), $(hostname))"
  echo
  echo "Machine: $(nproc) cores ($(lscpu | awk -F': *' '/Model name/{print $2}')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')."
  echo "Load average: $LOAD_START at the start of the run, $LOAD_END at the end; the run's nice level: $(nice) (column 'others CPU s': CPU seconds other processes of the machine used during the step)."
  echo "Versions: obagent $REV (Release, $OBCTL); $(restic version 2> /dev/null | cut -d' ' -f1-2); $(rclone version 2> /dev/null | head -1); $(borg --version 2> /dev/null); Azurite $AZV; python $(python3 -V | cut -d' ' -f2)."
  echo "Dataset: $SRC_FILES files, $(mib "$SRC_BYTES") MiB (seed $SEED, scale $SCALE); after 1% mutation $(mib "$BYTES3") MiB."
  echo "Cache policy: before every step sync + drop_caches (DROP_CACHES=$DROP_CACHES), then inputs pre-read (warm): src + the client's cache for backups, the repository as its server stores it + the client's cache for the restore (obagent: cache = scratch + state dir). Each timed command includes a trailing sync."
  echo "Rows: obagent = embedded (obctl writes the vault folder); obagent-vaultd = obctl through vaultd on loopback HTTP, local-folder backend; obagent-vaultd-azurite = the same with vaultd's Azure backend on Azurite; restic-rclone = restic (zstd auto) through \`rclone serve restic\` on loopback HTTP; the other rows are peers.sh's, on local folders."
  echo "Client = the timed command (CPU and peak RSS from /usr/bin/time). Server = vaultd or rclone (CPU from /proc/PID/stat, peak RSS = VmHWM reset before each step); backend = Azurite. MiB/s = dataset size / wall time."
  [ -n "$PEERS_NOTE" ] && echo "$PEERS_NOTE"
  [ "$INCLUDE_PEERS" = 1 ] || echo "Peers: not run (PEERS=\"\")."
  [ -z "$ROW_FAILED" ] || echo "**Rows that did not complete:${ROW_FAILED} (see the run's output and $L).**"
  echo
  echo "| tool | step | wall s | client CPU s | client peak RSS MiB | MiB/s | server CPU s | server peak RSS MiB | backend CPU s | backend peak RSS MiB | others CPU s | load (1 min) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '$2!="REPO"{for (i=7;i<=12;i++) if ($i=="") $i="-";
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12}' "$ALL"
  echo
  echo "| tool | repo MiB after full | repo MiB after step 3 | local cache MiB | restore == source |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '$2=="REPO"{printf "| %s | %s | %s | %s | %s |\n",$1,$3,$4,$5,$6}' "$ALL"
  if [ -s "$REQS" ]; then
    echo
    echo "Requests vaultd served per step (its debug log):"
    echo
    echo "| row-step | requests | by method |"
    echo "|---|---:|---|"
    awk -F'\t' '{printf "| %s | %s | %s |\n",$1,$2,$3}' "$REQS"
  fi
  echo
  echo "## Targets of issue 10"
  echo
  python3 - "$ALL" "$L" << 'PYEOF'
import math, os, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip('\n').split('\t')
    if len(f) < 5 or f[1] == 'REPO' or 'FAILED' in f[1]:
        continue
    rows.setdefault(f[0], {})[f[1]] = f
logs = sys.argv[2]
WALL, CPU, SRV_CPU, SRV_RSS, BE_CPU = 2, 3, 6, 7, 8
def num(tool, step, col):
    try:
        return float(rows[tool][step][col])
    except (KeyError, IndexError, ValueError):
        return None
def cpu_all(tool, step):  # client + server + backend CPU seconds
    c = num(tool, step, CPU)
    if c is None:
        return None
    return c + (num(tool, step, SRV_CPU) or 0) + (num(tool, step, BE_CPU) or 0)
def fmt(x, unit=''):
    return '-' if x is None else ('%.1f' % x) + unit
def times(x):  # rounded down: a ratio shown as 1.50x has reached 1.5
    return '-' if x is None else '%.2f×' % (math.floor(x * 100) / 100)
def ratio(a, b):  # how many times faster a is than b: b / a
    return None if a is None or b is None or a == 0 else b / a
def server_peak(tool):
    peaks = [num(tool, s, SRV_RSS) for s in ('1full', '2nochange', '3onepct', '4restore')]
    try:  # whole life of the server, read before stopping it
        peaks.append(float(open(os.path.join(logs, tool + '-server.hwm')).read()))
    except (OSError, ValueError):
        pass
    peaks = [p for p in peaks if p is not None]
    return max(peaks) if peaks else None
out = []
def row(what, value, cpu, target, ok):
    verdict = '-' if ok is None else ('met' if ok else '**not met**')
    out.append('| %s | %s | %s | %s | %s |' % (what, value, cpu, target, verdict))
def faster(label, a_tool, b_tool, step, target):
    a, b = num(a_tool, step, WALL), num(b_tool, step, WALL)
    r = ratio(a, b)
    rc = ratio(cpu_all(a_tool, step), cpu_all(b_tool, step))
    row(label, '%s (%s s vs %s s)' % (times(r), fmt(a), fmt(b)),
        '%s (%s s vs %s s)' % (times(rc), fmt(cpu_all(a_tool, step)), fmt(cpu_all(b_tool, step))),
        '≥ %g×' % target, None if r is None else math.floor(r * 100) / 100 >= target)
VAULTD = (('obagent-vaultd', 'vaultd (local)'), ('obagent-vaultd-azurite', 'vaultd (Azurite)'))
for v, name in VAULTD:
    faster('restore via %s vs restic over rclone' % name, v, 'restic-rclone', '4restore', 1.5)
for v, name in VAULTD:
    faster('full backup via %s vs restic over rclone' % name, v, 'restic-rclone', '1full', 1.5)
for v, name in VAULTD:
    p = server_peak(v)
    row('%s peak RSS, all steps' % name, '-' if p is None else '%.0f MiB' % p, '-', '≤ 128 MiB', None if p is None else p <= 128)
for v, name in VAULTD:
    a, b = num(v, '4restore', WALL), num('obagent', '4restore', WALL)
    d = None if a is None or b is None or b == 0 else (a / b - 1) * 100
    ca, cb = cpu_all(v, '4restore'), cpu_all('obagent', '4restore')
    dc = None if ca is None or cb is None or cb == 0 else (ca / cb - 1) * 100
    row('restore via %s vs embedded restore' % name,
        ('-' if d is None else '%+.0f %%' % math.ceil(d)) + ' (%s s vs %s s)' % (fmt(a), fmt(b)),
        ('-' if dc is None else '%+.0f %%' % math.ceil(dc)) + ' (%s s vs %s s)' % (fmt(ca), fmt(cb)),
        '≤ +20 %', None if d is None else math.ceil(d) <= 20)
faster('embedded full backup vs restic-zstd local', 'obagent', 'restic-auto', '1full', 2)
faster('embedded restore vs restic-zstd local', 'obagent', 'restic-auto', '4restore', 2)
c = num('obagent', '1full', CPU)
row('embedded full backup, CPU seconds (user+sys)', fmt(c, ' s'), '-', '≤ 6.5 s', None if c is None else c <= 6.5)
print('| figure | this run (wall) | the same in CPU s (client + servers) | target | |')
print('|---|---|---|---|---|')
print('\n'.join(out))
print()
print('Wall-time ratios are what the targets name; the CPU-second ratios depend less on the '
      'load of a shared machine (they still grow with it: caches and cores are shared).')
PYEOF
} | tee "$OUT"
echo "(saved to $OUT; logs in $L; peer logs in $DIR/work/logs; took $((SECONDS - T_START)) s)"
if [ "$RC" -ne 0 ]; then
  echo "bench: FAILED (see messages above)" >&2
fi
exit "$RC"
