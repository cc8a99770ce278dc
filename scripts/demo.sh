#!/usr/bin/env bash
# demo.sh - the main job on the embedded default: start a local vault,
# register this machine, back up a sample folder, restore it to a new
# folder and verify the copy byte for byte (and the vault object by object).
# Usage: bash scripts/demo.sh [WORKDIR]   (default: a fresh folder under /tmp)
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
BUILD_TYPE=Release bash scripts/build.sh > /tmp/obagent-demo-build.log 2>&1 ||
  { tail -30 /tmp/obagent-demo-build.log; exit 1; }
OBCTL=$ROOT/build/obctl

WORK=${1:-$(mktemp -d /tmp/obagent-demo.XXXXXX)}
mkdir -p "$WORK"
export OBAGENT_STATE_DIR=$WORK/state
# The passphrase reaches obctl through a file readable only by us, never as
# an argument (which other users could see in the process list).
umask 077
printf 'demo passphrase: keep me safe 2026\n' > "$WORK/passphrase"

echo "== sample folder $WORK/sample"
SAMPLE=$WORK/sample
mkdir -p "$SAMPLE/docs/reports" "$SAMPLE/photos" "$SAMPLE/empty folder"
for i in $(seq 1 200); do
  printf 'Quarterly report %d\nRevenue grew in region %d.\n' "$i" "$((i % 7))" > "$SAMPLE/docs/reports/report-$i.txt"
done
head -c 20000000 /dev/urandom > "$SAMPLE/photos/holiday.raw"
cp "$SAMPLE/photos/holiday.raw" "$SAMPLE/photos/holiday copy.raw"
printf 'notes with ünïcödé\n' > "$SAMPLE/docs/notes ünïcödé.txt"
ln -s docs/reports "$SAMPLE/latest-reports"
: > "$SAMPLE/empty file"

echo "== obctl vault init / register"
"$OBCTL" vault init --path "$WORK/vault"
"$OBCTL" register --vault "$WORK/vault" --passphrase-file "$WORK/passphrase"

echo "== obctl backup start"
"$OBCTL" backup start --include "$SAMPLE"
"$OBCTL" recovery list

echo "== obctl recover (to a new folder)"
"$OBCTL" recover --point latest --target "$WORK/restored"

echo "== compare"
diff -r --no-dereference "$SAMPLE" "$WORK/restored/sample"
echo "restored copy is identical to the sample folder"
"$OBCTL" verify
echo "== done: everything is under $WORK"
