#!/usr/bin/env bash
# ctest: every vault backend
# The vault service end to end, with real processes: vaultd (local-folder or
# Azure backend, per VAULT_BACKEND; Azure = Azurite started here), obctl as
# administrator and as agents on two "machines" (separate host names through
# UTS namespaces). Every registration error is provoked for real.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
REPO=$(cd "$HERE/../.." && pwd)
vaultd_backend obagent
PROXY_PID=
stop_all() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null
  cleanup
}
trap stop_all EXIT
start_vaultd

# Two machines: this one as "obhost-a", the other as "obhost-b" (own state).
as_host() { local h=$1; shift; unshare --uts bash -c 'hostname "$0"; exec "$@"' "$h" "$@"; }
A() { as_host obhost-a env OBAGENT_STATE_DIR="$WORK/state-a" "$OBCTL" "$@"; }
B() { as_host obhost-b env OBAGENT_STATE_DIR="$WORK/state-b" "$OBCTL" "$@"; }

SRC=$WORK/data/src
mkdir -p "$SRC"
make_tricky_tree "$SRC"

obctl vault create prod "${ADMIN[@]}" > /dev/null
obctl vault create other "${ADMIN[@]}" > /dev/null
expect_fail "" env OBAGENT_VAULT_ADMIN_TOKEN=wrong "$OBCTL" vault create x --service "$URL"
pass "vaults created by the administrator (wrong admin token refused)"

# Credential files: tampered, superseded, expired, wrong vault.
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/old.xml" > /dev/null
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null
expect_fail 34513 A register --vault-credentials "$WORK/old.xml" --passphrase-file "$PASS_FILE"
sed 's|<VaultName>prod<|<VaultName>prox<|' "$WORK/creds.xml" > "$WORK/tampered.xml"
expect_fail 34513 A register --vault-credentials "$WORK/tampered.xml" --passphrase-file "$PASS_FILE"
printf 'not xml at all' > "$WORK/corrupt.xml"
expect_fail 34513 A register --vault-credentials "$WORK/corrupt.xml" --passphrase-file "$PASS_FILE"
obctl vault credentials other "${ADMIN[@]}" --out "$WORK/other.xml" > /dev/null
other_id=$(sed -n 's|.*<VaultId>\(.*\)</VaultId>.*|\1|p' "$WORK/other.xml")
prod_id=$(sed -n 's|.*<VaultId>\(.*\)</VaultId>.*|\1|p' "$WORK/creds.xml")
sed "s|$prod_id|$other_id|" "$WORK/creds.xml" > "$WORK/wrongvault.xml"
expect_fail 34513 A register --vault-credentials "$WORK/wrongvault.xml" --passphrase-file "$PASS_FILE"
obctl vault credentials other "${ADMIN[@]}" --validity-hours 0.0003 --out "$WORK/short.xml" > /dev/null
sleep 2.5
expect_fail 34513 A register --vault-credentials "$WORK/short.xml" --passphrase-file "$PASS_FILE"
pass "superseded, tampered, corrupt, wrong-vault and expired credential files: 34513"

# Through an authenticating proxy: the wrong password is refused (407 ->
# 100050), the right one registers.
python3 "$HERE/proxy.py" proxyuser proxysecret > "$WORK/proxy.port" &
PROXY_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/proxy.port" ] && break; sleep 0.1; done
PROXY=http://127.0.0.1:$(cat "$WORK/proxy.port")
printf 'wrong\n' > "$WORK/proxy-bad"; printf 'proxysecret\n' > "$WORK/proxy-good"
expect_fail 100050 A register --vault-credentials "$WORK/creds.xml" --passphrase-file "$PASS_FILE" \
  --proxy "$PROXY" --proxy-user proxyuser --proxy-password-file "$WORK/proxy-bad"
A register --vault-credentials "$WORK/creds.xml" --passphrase-file "$PASS_FILE" \
  --proxy "$PROXY" --proxy-user proxyuser --proxy-password-file "$WORK/proxy-good" > /dev/null
pass "proxy: 407 refused with 100050; registration through an authenticating proxy"
[ "$(stat -c %a "$WORK/state-a/agent.json")" = 600 ] || fail "machine secret readable by others"
A backup start --include "$SRC" > /dev/null
A recover --point latest --target "$WORK/r1" > /dev/null
compare_trees "$SRC" "$WORK/r1$SRC" || fail "restore through vaultd differs"
A verify > /dev/null || fail "verify through vaultd"
pass "register, backup, restore and verify through vaultd ($BACKEND backend)"

# Set-OBMachineSetting -ProxyServer after registration: the next job uses it.
PROXY_PORT=$(cat "$WORK/proxy.port")
A machine-setting set --proxy-server 127.0.0.1 --proxy-port "$PROXY_PORT" --proxy-username proxyuser \
  --proxy-password-file "$WORK/proxy-bad" > /dev/null
expect_fail 100050 A backup start --include "$SRC"
A machine-setting set --proxy-server 127.0.0.1 --proxy-port "$PROXY_PORT" --proxy-username proxyuser \
  --proxy-password-file "$WORK/proxy-good" > /dev/null
A backup start --include "$SRC" > /dev/null || fail "backup through the proxy set after registration"
kill "$PROXY_PID"
wait "$PROXY_PID" 2> /dev/null || true
PROXY_PID=
expect_fail 100050 A backup start --include "$SRC"
A machine-setting set --no-proxy > /dev/null
A backup start --include "$SRC" > /dev/null || fail "backup without the proxy"
pass "a proxy set after registration is used by the next job (wrong password: 100050); --no-proxy goes direct"

# Re-registration needs the same passphrase and changes nothing otherwise.
printf 'another passphrase, long enough\n' > "$WORK/other-pass"
token_before=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/state-a/agent.json")
expect_fail 34506 as_host obhost-a env OBAGENT_STATE_DIR="$WORK/state-a2" "$OBCTL" register \
  --vault-credentials "$WORK/creds.xml" --passphrase-file "$WORK/other-pass"
A backup start --include "$SRC" > /dev/null || fail "old token stopped working after a refused re-registration"
pass "re-registration with another passphrase refused (34506); nothing changed"

# The machine renamed since registration: 230006.
expect_fail 230006 as_host obhost-renamed env OBAGENT_STATE_DIR="$WORK/state-a" "$OBCTL" backup start --include "$SRC"
pass "renamed machine: 230006"

# One writer per machine: a live lease blocks a second backup until it lapses.
TOKEN=$token_before
curl -sf -X POST -H "Authorization: Bearer $TOKEN" -d '{"holder":"intruder","ttl_seconds":10}' \
  "$URL/v1/lease" > /dev/null || fail "could not take a lease"
expect_fail "another job" A backup start --include "$SRC"
sleep 10.5
A backup start --include "$SRC" > /dev/null || fail "lease did not lapse by itself"
pass "lease: one writer per machine; a stale lease lapses by itself"

# Machines see only their own objects.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL/v1/objects/../x/keys")
[ "$code" = 400 ] || [ "$code" = 404 ] || fail "path escape answered $code"
pass "object keys cannot leave the machine's folder"

# Alternate-machine recovery from obhost-b with a fresh credential file.
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds2.xml" > /dev/null
printf 'machine b has its own passphrase\n' > "$WORK/pass-b"
B register --vault-credentials "$WORK/creds2.xml" --passphrase-file "$WORK/pass-b" > /dev/null
expect_fail 34506 B recover --source-machine obhost-a --vault-credentials "$WORK/creds2.xml" \
  --passphrase-file "$WORK/pass-b" --point latest --target "$WORK/alt-bad"
[ ! -e "$WORK/alt-bad$SRC" ] || fail "wrong passphrase recovered something"
B recovery list --source-machine obhost-a --vault-credentials "$WORK/creds2.xml" \
  --passphrase-file "$PASS_FILE" | has "$SRC" || fail "alternate recovery list"
B recover --source-machine obhost-a --vault-credentials "$WORK/creds2.xml" \
  --passphrase-file "$PASS_FILE" --point latest --target "$WORK/alt" > /dev/null
compare_trees "$SRC" "$WORK/alt$SRC" || fail "alternate-machine restore differs"
pass "alternate-machine recovery with the source passphrase; refused without it"

# Instant Restore of the other machine's point: chunks streamed from vaultd.
if { [ -c /dev/fuse ] && : 3<> /dev/fuse; } 2> /dev/null; then
  mkdir -p "$WORK/alt-mnt"
  MOUNTS+=("$WORK/alt-mnt")
  B recovery mount --source-machine obhost-a --vault-credentials "$WORK/creds2.xml" \
    --passphrase-file "$PASS_FILE" --point latest "$WORK/alt-mnt" > /dev/null 2> "$WORK/alt-mnt.err" &
  mount_pid=$!
  for _ in $(seq 1 100); do mountpoint -q "$WORK/alt-mnt" && break; sleep 0.1; done
  compare_trees "$SRC" "$WORK/alt-mnt$SRC" || fail "alternate-machine mount differs"
  obctl recovery unmount "$WORK/alt-mnt" > /dev/null || fail "unmount of the alternate mount"
  wait "$mount_pid" || fail "alternate-machine mount exited non-zero: $(cat "$WORK/alt-mnt.err")"
  pass "another machine's recovery point mounted, streamed from vaultd"
fi

# vaultd killed and restarted: everything acknowledged is still there.
kill -9 "$VPID"; wait "$VPID" 2>/dev/null || true
expect_fail 100050 A backup start --include "$SRC"
start_vaultd
A recover --point latest --item "$SRC/text.txt" --target "$WORK/after-restart" > /dev/null
cmp "$SRC/text.txt" "$WORK/after-restart$SRC/text.txt" || fail "data after vaultd restart"
pass "vault unreachable: 100050; after kill -9 and restart nothing is lost"

# vaultd goes away in the middle of a restore (throttled to 4 MiB/s so the
# restore is still running): the restore fails with 100050 and writes no
# half file under a real name; run again once vaultd is back, it keeps
# what was finished and completes.
mkdir -p "$WORK/data/mid"
for i in $(seq 1 24); do head -c 1000000 /dev/urandom > "$WORK/data/mid/m$i.bin"; done
A backup start --include "$WORK/data/mid" > /dev/null
A machine-setting set --work-day all --start-work-hour 00:00 --end-work-hour 24:00 \
  --work-hour-bandwidth 4MB/s --non-work-hour-bandwidth 4MB/s > /dev/null
A recover --point latest --target "$WORK/mid" > "$WORK/mid.log" 2>&1 &
rpid=$!
for _ in $(seq 1 1000); do
  [ "$( (find "$WORK/mid" -name 'm*.bin' 2> /dev/null || true) | wc -l)" -ge 4 ] && break
  sleep 0.01
done
kill -9 "$VPID"; wait "$VPID" 2>/dev/null || true
rc=0; wait "$rpid" || rc=$?
[ "$rc" -ne 0 ] || fail "the restore did not notice vaultd was gone"
grep -q 100050 "$WORK/mid.log" || fail "restore without vaultd: $(cat "$WORK/mid.log")"
for f in "$WORK/mid$WORK/data/mid"/m*.bin; do
  cmp -s "$f" "$WORK/data/mid/$(basename "$f")" || fail "a half-written file under its real name: $f"
done
start_vaultd
A machine-setting set --no-throttle > /dev/null
out=$(A --json recover --point latest --target "$WORK/mid")
[ "$(json_field state <<<"$out")" = Completed ] || fail "restore after vaultd came back: $out"
[ "$(json_field unchanged <<<"$out")" -ge 4 ] || fail "finished files were fetched again: $out"
compare_trees "$WORK/data/mid" "$WORK/mid$WORK/data/mid" || fail "resumed restore differs"
! find "$WORK/mid" -name '.obrestore-*' | has . || fail "temporary files left"
pass "vaultd gone mid-restore: 100050, no half file; run again it keeps what was done and completes"

# The 51st machine of a vault is refused (50 registered through the API).
KEK_A=$WORK/state-a/scratch/OnlineBackup.KEK
for i in $(seq 1 48); do
  curl -sf -X POST -H 'Content-Type: application/json' "$URL/v1/register" -d "$(python3 -c '
import json,sys
wrapped = json.load(open(sys.argv[3]))["wrapped_key"]
print(json.dumps({"credentials": open(sys.argv[1]).read(), "machine_name": "filler-" + sys.argv[2],
                  "wrapped_key": json.dumps(wrapped), "key_check": "00" * 32}))' \
    "$WORK/creds2.xml" "$i" "$KEK_A")" > /dev/null || fail "filler registration $i"
done
expect_fail 403 as_host obhost-c env OBAGENT_STATE_DIR="$WORK/state-c" "$OBCTL" register \
  --vault-credentials "$WORK/creds2.xml" --passphrase-file "$PASS_FILE"
pass "51st machine refused with 403"

if [ "$BACKEND" = azure ]; then
  # Azurite goes away in the middle of a backup, then comes back.
  for i in $(seq 1 30); do head -c 2000000 /dev/urandom > "$SRC/big$i.bin"; done
  points_before=$(A --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')
  A backup start --include "$SRC" > "$WORK/outage.log" 2>&1 &
  bpid=$!
  sleep 0.5
  bash "$REPO/scripts/azurite.sh" stop "$AZ_DATA" > /dev/null
  rc=0; wait "$bpid" || rc=$?
  bash "$REPO/scripts/azurite.sh" start "$AZ_DATA" "$AZ_PORT" > /dev/null
  if [ "$rc" -ne 0 ]; then
    grep -q 100050 "$WORK/outage.log" || fail "backup during the outage failed without 100050: $(cat "$WORK/outage.log")"
  fi
  A verify > /dev/null || fail "vault damaged by the storage outage"
  A backup start --include "$SRC" > /dev/null || fail "backup after the outage"
  A recover --point latest --target "$WORK/after-outage" > /dev/null
  compare_trees "$SRC" "$WORK/after-outage$SRC" || fail "restore after the outage"
  pass "storage outage mid-backup: clean failure (rc $rc), earlier points verify, next backup completes"
fi
