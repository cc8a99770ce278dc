#!/usr/bin/env bash
# throttle.sh - does bandwidth throttling (Set-OBMachineSetting) hold the rate?
#
# Usage: bash bench/throttle.sh [BUILD_DIR]   (default build/)
# Backs up 48 MiB of random data (incompressible, so every byte is uploaded)
# to a local vault, and restores it, at several configured rates; prints the
# achieved rate (bytes moved / wall time) beside the configured one and writes
# bench/results/throttle.md. The token bucket lets the first second's worth
# through at once, so the achieved rate is a little above the limit on short
# transfers; it must never be far below it (that would be throttling too hard).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
BUILD=${1:-build}
OBCTL=$PWD/$BUILD/obctl
[ -x "$OBCTL" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
WORK=$(mktemp -d /tmp/obagent-throttle.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export OBAGENT_STATE_DIR=$WORK/state
printf 'correct horse battery staple 42\n' > "$WORK/pass"
mkdir -p "$WORK/data"
for i in $(seq 1 3); do head -c $((16 << 20)) /dev/urandom > "$WORK/data/f$i.bin"; done
BYTES=$((48 << 20))

OUT=bench/results/throttle.md
{
  echo "# Throttling: configured vs achieved rate"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, local vault, 48 MiB incompressible data (bench/throttle.sh)."
  echo
  echo "| configured | backup wall s | backup achieved | restore wall s | restore achieved |"
  echo "|---|---|---|---|---|"
} > "$OUT"

now() { date +%s.%N; }
for rate in 4 8 16; do
  rm -rf "$WORK/vault" "$OBAGENT_STATE_DIR" "$WORK/r"
  "$OBCTL" vault init --path "$WORK/vault" > /dev/null
  "$OBCTL" register --vault "$WORK/vault" --passphrase-file "$WORK/pass" > /dev/null
  "$OBCTL" machine-setting set --work-day all --start-work-hour 00:00 --end-work-hour 24:00 \
    --work-hour-bandwidth "${rate}MB/s" --non-work-hour-bandwidth "${rate}MB/s" > /dev/null
  t0=$(now)
  "$OBCTL" backup start --include "$WORK/data" > /dev/null
  t1=$(now)
  "$OBCTL" recover --point latest --target "$WORK/r" > /dev/null
  t2=$(now)
  cmp -s "$WORK/data/f3.bin" "$WORK/r/data/f3.bin" || { echo "restore differs" >&2; exit 1; }
  row=$(python3 - "$rate" "$t0" "$t1" "$t2" "$BYTES" <<'PY'
import sys
rate, t0, t1, t2, n = int(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
b, r = t1 - t0, t2 - t1
mib = 1 << 20
print(f"| {rate} MiB/s | {b:.1f} | {n / b / mib:.2f} MiB/s | {r:.1f} | {n / r / mib:.2f} MiB/s |")
PY
)
  echo "$row" | tee -a "$OUT"
done
echo "wrote $OUT"
