#!/usr/bin/env bash
# The Windows build end to end under Wine: the Windows obctl.exe registers
# with a real vaultd on loopback (WinHTTP); cbengine.exe is installed as the
# SCM service "obengine" with `sc create`, started, answers obctl.exe over its
# named pipe and backs up the policy (Back Up Now), then is stopped and
# deleted; obctl.exe backs up a change, and both are restored and compared.
# Skips (77) when the Windows binaries or Wine are missing
# (scripts/build-windows.sh builds them into build-win/).
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
REPO=$(cd "$HERE/../.." && pwd)
WINBIN=${OBAGENT_WINBIN_DIR:-$REPO/build-win}
if [ ! -f "$WINBIN/obctl.exe" ] || [ ! -f "$WINBIN/cbengine.exe" ] || ! command -v wine > /dev/null; then
  echo "skip: no Windows binaries in $WINBIN (bash scripts/build-windows.sh) or no wine"
  exit 77
fi

export WINEPREFIX=$WORK/wine WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
quiet() { "$@" < /dev/null > /dev/null 2>&1; }
quiet wine wineboot --init
# A fresh, persistent wineserver: services did not start under the one
# wineboot left behind (seen with Wine 8.0).
quiet wineserver -k || true
quiet wineserver -p600 || true
# Wine ends its services when its last program exits (design.md §4): one
# program stays alive while the service runs.
wine cmd /c "ping -n 600 127.0.0.1 > NUL" < /dev/null > /dev/null 2>&1 &
KEEPALIVE=$!
W() { wine "$WINBIN/obctl.exe" --state-dir 'C:\obstate' "$@" 2> >(grep -v '^[0-9a-f]*:fixme' >&2); }
winpath() { echo "Z:${1//\//\\}"; }

URL=http://127.0.0.1:$(free_port)
mkdir -p "$WORK/vaultd"
"$VAULTD" --listen "$URL" --state-dir "$WORK/vaultd" > "$WORK/vaultd.log" 2>&1 &
VPID=$!
stop_all() {
  quiet wine sc stop obengine || true
  quiet wine sc delete obengine || true
  kill "$KEEPALIVE" 2> /dev/null || true
  quiet wineserver -k || true
  kill "$VPID" 2> /dev/null || true
  cleanup
}
trap stop_all EXIT
for _ in $(seq 1 100); do grep -q listening "$WORK/vaultd.log" && break; sleep 0.1; done
ADMIN=(--service "$URL" --admin-token-file "$WORK/vaultd/admin.token")
obctl vault create prod "${ADMIN[@]}" > /dev/null
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null

SRC=$WORK/data
mkdir -p "$SRC/sub"
for i in 1 2 3; do head -c 700000 /dev/urandom > "$SRC/f$i.bin"; done
printf 'hello from wine\n' > "$SRC/sub/note.txt"

W register --vault-credentials "$(winpath "$WORK/creds.xml")" \
  --passphrase-file "$(winpath "$PASS_FILE")" > /dev/null || fail "obctl.exe register"
W policy new --include "$(winpath "$SRC")" --days Sun,Mon,Tue,Wed,Thu,Fri,Sat --times 03:00 \
  --daily 7 > /dev/null || fail "obctl.exe policy new"
pass "obctl.exe registered with vaultd over WinHTTP and set a policy"

quiet wine sc create obengine binPath= "$(winpath "$WINBIN/cbengine.exe") --service --state-dir C:\\obstate" ||
  fail "sc create"
out=$(wine sc start obengine 2>&1) || fail "sc start: $out $(wine sc query obengine 2>&1)"
for _ in $(seq 1 100); do
  W engine status > /dev/null 2>&1 && break
  sleep 0.2
done
W engine status | has "cbengine running" || fail "the service does not answer on its pipe"
wine sc query obengine 2> /dev/null | has RUNNING || fail "sc query: not RUNNING"
pass "sc create/start: obengine runs and answers on its named pipe"

W backup now > "$WORK/backup-now.out" ||
  { cat "$WORK/backup-now.out" "$WINEPREFIX/drive_c/obstate/logs/cbengine.log"; fail "backup now"; }
grep -q "Completed" "$WORK/backup-now.out" || fail "backup now: $(cat "$WORK/backup-now.out")"
pass "Back Up Now: the service backed up the policy to vaultd"

quiet wine sc stop obengine || fail "sc stop"
for _ in $(seq 1 50); do
  wine sc query obengine 2> /dev/null | has STOPPED && break
  sleep 0.2
done
wine sc query obengine 2> /dev/null | has STOPPED || fail "the service did not stop"
quiet wine sc delete obengine || fail "sc delete"
if wine sc query obengine > /dev/null 2>&1; then fail "the service is still registered"; fi
pass "sc stop/delete: the service stopped and is gone"

printf 'changed after the first backup\n' > "$SRC/sub/note.txt"
W backup start --include "$(winpath "$SRC")" > "$WORK/backup.out" ||
  { cat "$WORK/backup.out"; fail "obctl.exe backup to vaultd"; }
grep -q "Backup Completed" "$WORK/backup.out" || fail "backup: $(cat "$WORK/backup.out")"
grep -q "no Volume Shadow Copy Service" "$WORK/backup.out" ||
  fail "without VSS (Wine) the job must say it read live: $(cat "$WORK/backup.out")"
pass "obctl.exe backed up to vaultd (no VSS under Wine: read live, and said so)"

W recover --point latest --target "$(winpath "$WORK/restored")" > /dev/null || fail "obctl.exe recover"
cmp "$SRC/f2.bin" "$WORK/restored/Z$SRC/f2.bin" || fail "restored bytes differ"
cmp "$SRC/sub/note.txt" "$WORK/restored/Z$SRC/sub/note.txt" || fail "restored note differs"
pass "the backups restore byte for byte with obctl.exe"
