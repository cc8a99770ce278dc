#!/usr/bin/env bash
# run.sh - benchmark obagent against peer backup tools on the deterministic dataset of
# shared/bench/peers.sh, with the same protocol, and write bench/results/latest.md.
#
# Usage: bash bench/run.sh [DATADIR]        (default DATADIR=/tmp/benchdata)
# Env knobs:
#   PEERS="restic-auto restic-off borg-lz4"   peer tools passed to peers.sh as TOOLS;
#                      PEERS="" runs obagent only (quick iterations)
#   REUSE_PEERS=1      with PEERS="": merge the peer rows of an earlier run on the same
#                      DATADIR/SEED/SCALE (DATADIR/work/results.tsv) into the report
#   SCALE=1.0          dataset scale (0.05 = quick smoke test), SEED=20240601, DROP_CACHES=1
#   SKIP_BUILD=1       do not build; use an existing binary
#   OBCTL=<path>       obctl binary (default: <repo>/build/obctl)
#   OUT=<path>         report (default: <repo>/bench/results/latest.md)
#   PEERS_SH=<path>    peers script (default: <repo>/../shared/bench/peers.sh)
#
# Layout under DATADIR: src/ state/ work/ (owned by peers.sh; work/ is wiped when peers run)
# and obagent-work/ (wiped at every run): state/ (OBAGENT_STATE_DIR), vault/, scratch/,
# restore/, logs/, results.tsv.
#
# Protocol (identical to peers.sh): before every step `sync; echo 3 > drop_caches`, then the
# step's inputs are read once with cat (src + obagent's local state/scratch for backups;
# vault + state/scratch for the restore); every timed command is followed by `sync` inside
# the timed region; timing by /usr/bin/time -v.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
mkdir -p "${1:-/tmp/benchdata}"
DIR=$(readlink -f "${1:-/tmp/benchdata}")
export SEED=${SEED:-20240601}
export SCALE=${SCALE:-1.0}
export DROP_CACHES=${DROP_CACHES:-1}
PEERS=${PEERS-"restic-auto restic-off borg-lz4"}
PEERS=$(echo "$PEERS" | xargs) # trim
PEERS_SH=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
OBCTL=${OBCTL:-$ROOT/build/obctl}
OUT=${OUT:-$ROOT/bench/results/latest.md}
OB_PASS=bench-passphrase-123456

ST=$DIR/state
SRC=$DIR/src
OW=$DIR/obagent-work
RC=0
T_START=$SECONDS

die() {
  echo "bench: ERROR: $*" >&2
  exit 1
}
gen() { python3 "$ST/gen.py" "$1" "$DIR" "$SEED" "$SCALE"; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }

echo "== bench: DATADIR=$DIR SEED=$SEED SCALE=$SCALE PEERS='${PEERS}' OBCTL=$OBCTL"

###############################################################################
# a) dependencies and build
###############################################################################
bash "$ROOT/scripts/install-deps.sh" --bench
if [ "${SKIP_BUILD:-0}" = 1 ]; then
  echo "== build skipped (SKIP_BUILD=1)"
else
  echo "== building obagent (Release)"
  if ! (cd "$ROOT" && BUILD_DIR=build BUILD_TYPE=Release bash scripts/build.sh); then
    die "build failed; to benchmark an existing binary use SKIP_BUILD=1 [OBCTL=/path/to/obctl]"
  fi
fi
if [ ! -x "$OBCTL" ]; then
  echo "bench: WARNING: obctl not found at $OBCTL; the obagent part will fail (peers still run)" >&2
fi

###############################################################################
# b) peers (first: peers.sh wipes DATADIR/work)
###############################################################################
PEERS_RAN=0
PEERS_RES=$DIR/work/results.tsv
PEERS_STAMP=$ST/bench-peers.params
if [ -n "$PEERS" ]; then
  [ -r "$PEERS_SH" ] || die "peers script not found: $PEERS_SH (set PEERS_SH or PEERS=\"\")"
  echo "== peers: $PEERS"
  rm -f "$PEERS_STAMP"
  if TOOLS="$PEERS" bash "$PEERS_SH" "$DIR"; then
    PEERS_RAN=1
    echo "seed=$SEED scale=$SCALE tools=$PEERS" > "$PEERS_STAMP"
  else
    echo "bench: ERROR: peers.sh failed (exit $?); continuing with obagent" >&2
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

###############################################################################
# dataset (peers.sh has normally prepared it; do it here too for PEERS="")
###############################################################################
mkdir -p "$ST"
if [ "$PEERS_RAN" != 1 ] || [ ! -s "$ST/gen.py" ]; then
  # the generator is embedded in peers.sh as a heredoc; extract it verbatim
  [ -r "$PEERS_SH" ] || die "peers script not found: $PEERS_SH (needed for the dataset generator)"
  sed -n "/^cat > \"\$ST\/gen.py\" <<'PYEOF'\$/,/^PYEOF\$/{//!p;}" "$PEERS_SH" > "$ST/gen.py"
  grep -q "^{'gen': gen" "$ST/gen.py" || die "could not extract gen.py from $PEERS_SH"
fi
gen unmutate
if ! gen check; then
  echo "== generating dataset in $SRC (seed $SEED, scale $SCALE)"
  rm -rf "$SRC"
  gen gen
else
  echo "== dataset $SRC present and matches stamp"
fi
trap 'gen unmutate || true' EXIT
SRC_BYTES=$(du -sb "$SRC" | cut -f1)
SRC_FILES=$(find "$SRC" -type f | wc -l)

###############################################################################
# c) obagent, same protocol as peers.sh
###############################################################################
rm -rf "$OW"
mkdir -p "$OW/logs"
L=$OW/logs
RES=$OW/results.tsv
: > "$RES"
export OBAGENT_STATE_DIR=$OW/state
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
timed() { # TAG CMD... : runs CMD (then sync) under /usr/bin/time -v, output in logs/TAG.*
  local tag=$1
  shift
  if ! /usr/bin/time -v -o "$L/$tag.time" bash -c '"$@" && sync' _ "$@" > "$L/$tag.log" 2>&1; then
    echo "   !! $tag FAILED (see $L/$tag.log)"
    tail -5 "$L/$tag.log"
    echo FAIL > "$L/$tag.failed"
    RC=1
  fi
  awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); w=0; for(i=1;i<=n;i++) w=w*60+a[i]}
              /User time/{u=$2} /System time/{s=$2} /Maximum resident/{m=$2}
              END{printf "%.1f %.1f %.0f\n", w, u+s, m/1024}' "$L/$tag.time" > "$L/$tag.res"
  echo "   $tag: wall/cpu/rssMiB = $(cat "$L/$tag.res")"
}
# shellcheck disable=SC2317  # run through timed (bash -c)
ob_backup() { (cd "$DIR" && "$OBCTL" backup start --include "$DIR/src"); }
# shellcheck disable=SC2317
ob_restore() { "$OBCTL" recover --point latest --target "$1"; }
export -f ob_backup ob_restore

run_obagent() {
  local T=obagent V=FAIL R1=0 R3=0 C3=0 BYTES3=$SRC_BYTES RD RS s w c m b rate
  echo "== $T ($OBCTL)"
  if [ ! -x "$OBCTL" ]; then
    echo "bench: ERROR: obctl not found or not executable at $OBCTL" >&2
    echo "       build it (scripts/build.sh) or point OBCTL=/path/to/obctl" >&2
    return 1
  fi
  if ! "$OBCTL" vault init --path "$OW/vault" > "$L/$T-init.log" 2>&1; then
    echo "bench: ERROR: 'obctl vault init' failed:" >&2
    tail -20 "$L/$T-init.log" >&2
    return 1
  fi
  if ! OBAGENT_PASSPHRASE="$OB_PASS" "$OBCTL" register --vault "$OW/vault" --scratch "$OW/scratch" \
    > "$L/$T-register.log" 2>&1; then
    echo "bench: ERROR: 'obctl register' failed:" >&2
    tail -20 "$L/$T-register.log" >&2
    return 1
  fi
  mkdir -p "$OW/scratch" "$OBAGENT_STATE_DIR"
  gen unmutate
  prep "$SRC" "$OW/scratch" "$OBAGENT_STATE_DIR"
  timed "$T-1full" ob_backup
  R1=$(du -sb "$OW/vault" | cut -f1)
  prep "$SRC" "$OW/scratch" "$OBAGENT_STATE_DIR"
  timed "$T-2nochange" ob_backup
  gen mutate > /dev/null
  BYTES3=$(du -sb "$SRC" | cut -f1)
  prep "$SRC" "$OW/scratch" "$OBAGENT_STATE_DIR"
  timed "$T-3onepct" ob_backup
  R3=$(du -sb "$OW/vault" | cut -f1)
  C3=$(du -sbc "$OW/scratch" "$OBAGENT_STATE_DIR" | tail -1 | cut -f1)
  RD=$OW/restore
  rm -rf "$RD"
  mkdir -p "$RD"
  prep "$OW/vault" "$OW/scratch" "$OBAGENT_STATE_DIR"
  timed "$T-4restore" ob_restore "$RD"
  RS=$RD/src
  [ -d "$RS" ] || RS=$(find "$RD" -maxdepth 5 -type d -name src | head -1)
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
    read -r w c m < "$L/$T-$s.res"
    b=$SRC_BYTES
    [ "$s" != 1full ] && [ "$s" != 2nochange ] && b=$BYTES3
    rate=$(echo "scale=0; $b/1048576/($w+0.0001)" | bc)
    if [ -e "$L/$T-$s.failed" ]; then
      s="$s(FAILED)"
      rate=-
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$T" "$s" "$w" "$c" "$m" "$rate" >> "$RES"
  done
  printf '%s\tREPO\t%s\t%s\t%s\t%s\n' "$T" "$(mib "$R1")" "$(mib "$R3")" "$(mib "$C3")" "$V" >> "$RES"
  echo "$BYTES3" > "$OW/bytes3"
  rm -rf "$RD" # free disk; vault kept for inspection
}
OB_OK=1
run_obagent || {
  OB_OK=0
  RC=1
}

###############################################################################
# d) report
###############################################################################
if [ -s "$OW/bytes3" ]; then
  BYTES3=$(cat "$OW/bytes3")
else # obagent did not get to step 3: measure the mutated size for the dataset line
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
mkdir -p "$(dirname "$OUT")"
{
  echo "# Backup benchmark: obagent vs peers ($(date -u +%Y-%m-%dT%H:%MZ), $(hostname))"
  echo
  echo "Machine: $(nproc) cores ($(lscpu | awk -F': *' '/Model name/{print $2}')), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')."
  echo "Versions: obagent $REV (Release, $OBCTL); $(restic version 2> /dev/null | cut -d' ' -f1-2); $(borg --version 2> /dev/null); python $(python3 -V | cut -d' ' -f2)."
  echo "Dataset: $SRC_FILES files, $(mib "$SRC_BYTES") MiB (seed $SEED, scale $SCALE); after 1% mutation $(mib "$BYTES3") MiB."
  echo "Cache policy: before every step sync + drop_caches (DROP_CACHES=$DROP_CACHES), then inputs pre-read (warm): src + tool cache for backups, repo + tool cache for restore (obagent: cache = scratch + state dir, repo = vault). Each timed command includes a trailing sync."
  echo "MiB/s = dataset size / wall time (logical throughput)."
  [ -n "$PEERS_NOTE" ] && echo "$PEERS_NOTE"
  [ "$INCLUDE_PEERS" = 1 ] || echo "Peers: not run (PEERS=\"\")."
  [ "$OB_OK" = 1 ] || echo "**obagent: not run or aborted before the timed steps (see the run's output and $OW/logs).**"
  echo
  echo "| tool | step | wall s | CPU s (user+sys) | peak RSS MiB | MiB/s |"
  echo "|---|---|---:|---:|---:|---:|"
  awk -F'\t' '$2!="REPO"{printf "| %s | %s | %s | %s | %s | %s |\n",$1,$2,$3,$4,$5,$6}' "$ALL"
  echo
  echo "| tool | repo MiB after full | repo MiB after step 3 | local cache MiB | restore == source |"
  echo "|---|---:|---:|---:|---|"
  awk -F'\t' '$2=="REPO"{printf "| %s | %s | %s | %s | %s |\n",$1,$3,$4,$5,$6}' "$ALL"
} | tee "$OUT"
echo "(saved to $OUT; obagent logs in $L; peer logs in $DIR/work/logs; took $((SECONDS - T_START)) s)"
if [ "$RC" -ne 0 ]; then
  echo "bench: FAILED (see messages above)" >&2
fi
exit "$RC"
