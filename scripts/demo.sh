#!/usr/bin/env bash
# demo.sh - the main job on the embedded default: start a local vault
# service (vaultd keeping data in a local folder), create a vault, download
# its credential file, register this machine, back up a sample folder,
# restore it to a new folder and verify the copy byte for byte (and the vault
# object by object).
# Usage: bash scripts/demo.sh [WORKDIR]   (default: a fresh folder under /tmp)
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$ROOT"

bash scripts/install-deps.sh
BUILD_TYPE=Release bash scripts/build.sh > /tmp/obagent-demo-build.log 2>&1 ||
  { tail -30 /tmp/obagent-demo-build.log; exit 1; }
OBCTL=$ROOT/build/obctl
VAULTD=$ROOT/build/vaultd

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

echo "== vaultd (local folder backend) on 127.0.0.1"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$VAULTD" --listen "$URL" --state-dir "$WORK/vaultd" > "$WORK/vaultd.log" 2>&1 &
VAULTD_PID=$!
trap 'kill $VAULTD_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do grep -q listening "$WORK/vaultd.log" && break; sleep 0.1; done
grep -q listening "$WORK/vaultd.log" || { cat "$WORK/vaultd.log"; exit 1; }
ADMIN=(--service "$URL" --admin-token-file "$WORK/vaultd/admin.token")

echo "== obctl vault create / vault credentials / register"
"$OBCTL" vault create demo "${ADMIN[@]}"
"$OBCTL" vault credentials demo "${ADMIN[@]}" --out "$WORK/demo.VaultCredentials"
"$OBCTL" register --vault-credentials "$WORK/demo.VaultCredentials" --passphrase-file "$WORK/passphrase"

echo "== obctl backup start"
"$OBCTL" backup start --include "$SAMPLE"
"$OBCTL" recovery list

echo "== obctl recover (to a new folder)"
"$OBCTL" recover --point latest --target "$WORK/restored"

echo "== compare"
diff -r --no-dereference "$SAMPLE" "$WORK/restored$SAMPLE"
echo "restored copy is identical to the sample folder"
"$OBCTL" verify
echo "== done: everything is under $WORK"
