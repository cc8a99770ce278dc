#!/usr/bin/env bash
# vaultd_service.sh - a full backup and a whole-point restore of a generated
# folder through a real vaultd (local-folder backend, HTTP on loopback), with
# vaultd's peak RSS (VmHWM) and the wall time of each step.
#
# Usage: BIN=build bash bench/vaultd_service.sh [SIZE_MIB]   (default 1024)
# Env:   BIN      folder holding vaultd and obctl (default build)
#        BACKEND  local (default) or azure (Azurite, scripts/azurite.sh)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
REPO=$PWD
BIN=$(readlink -f "${BIN:-build}")
SIZE_MIB=${1:-1024}
BACKEND=${BACKEND:-local}
WORK=$(mktemp -d /tmp/obagent-vaultd-bench.XXXXXX)
VPID=
finish() {
  [ -n "$VPID" ] && kill "$VPID" 2> /dev/null && wait "$VPID" 2> /dev/null
  [ "$BACKEND" = azure ] && bash "$REPO/scripts/azurite.sh" stop "$WORK/azurite" > /dev/null 2>&1
  rm -rf "$WORK"
}
trap finish EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Files of 64 KiB to 16 MiB, random (incompressible) bytes.
mkdir -p "$WORK/src"
python3 - "$WORK/src" "$SIZE_MIB" <<'PY'
import os, random, sys
root, total = sys.argv[1], int(sys.argv[2]) << 20
rng = random.Random(7)
done = i = 0
while done < total:
    size = min(rng.choice([64 << 10, 512 << 10, 2 << 20, 16 << 20]), total - done)
    d = os.path.join(root, f"d{i % 16}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(os.urandom(size))
    done += size
    i += 1
PY

P=$(port)
URL=http://127.0.0.1:$P
ARGS=(--listen "$URL" --state-dir "$WORK/vaultd" --log-level warn)
if [ "$BACKEND" = azure ]; then
  AZ=$(port)
  bash "$REPO/scripts/azurite.sh" start "$WORK/azurite" "$AZ" > /dev/null
  printf 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' > "$WORK/azkey"
  ARGS+=(--backend azure --azure-endpoint "http://127.0.0.1:$AZ/devstoreaccount1"
         --azure-account devstoreaccount1 --azure-key-file "$WORK/azkey")
fi
mkdir -p "$WORK/vaultd"
"$BIN/vaultd" "${ARGS[@]}" > "$WORK/vaultd.log" 2>&1 &
VPID=$!
for _ in $(seq 1 100); do [ -s "$WORK/vaultd/admin.token" ] && curl -s -o /dev/null "$URL/v1/" && break; sleep 0.1; done
export OBAGENT_STATE_DIR=$WORK/state
printf 'correct horse battery staple 42\n' > "$WORK/pass"
ADMIN=(--service "$URL" --admin-token-file "$WORK/vaultd/admin.token")
"$BIN/obctl" vault create bench "${ADMIN[@]}" > /dev/null
"$BIN/obctl" vault credentials bench "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null
"$BIN/obctl" register --vault-credentials "$WORK/creds.xml" --passphrase-file "$WORK/pass" > /dev/null
sync
t0=$(date +%s.%N)
"$BIN/obctl" backup start --include "$WORK/src" > /dev/null
t1=$(date +%s.%N)
"$BIN/obctl" recover --point latest --target "$WORK/out" > /dev/null
t2=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$VPID/status")
diff -r "$WORK/src" "$WORK/out/$(basename "$WORK/src")" > /dev/null 2>&1 ||
  diff -r "$WORK/src" "$WORK/out$WORK/src" > /dev/null || { echo "restore differs" >&2; exit 1; }
printf 'vaultd (%s), %s MiB: backup %.1f s, restore %.1f s, vaultd peak RSS %d MiB\n' \
  "$BACKEND" "$SIZE_MIB" "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$((hwm / 1024))"
