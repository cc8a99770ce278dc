#!/usr/bin/env bash
# ctest: every vault backend
# vaultd survives kill -9: vaults, credentials, machines, leases and objects
# acknowledged before the kill are all there after a restart, and a
# half-written temp file left in the state folder does not stop it. Also:
# the --config file, SIGTERM exits 0, HEAD/Range on objects, https.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
BACKEND=${VAULT_BACKEND:-local}
REPO=$(cd "$HERE/../.." && pwd)

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
VSTATE=$WORK/vaultd
AZ_DATA=$WORK/azurite
CONFIG=$WORK/vaultd.conf
{
  echo "listen = $URL"
  echo "state-dir = $VSTATE"
  echo "credential-validity-hours = 2"
} > "$CONFIG"
if [ "$BACKEND" = azure ]; then
  AZ_PORT=$(free_port)
  bash "$REPO/scripts/azurite.sh" start "$AZ_DATA" "$AZ_PORT" > /dev/null
  printf 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' > "$WORK/azkey"
  {
    echo "backend = azure"
    echo "azure-endpoint = http://127.0.0.1:$AZ_PORT/devstoreaccount1"
    echo "azure-account = devstoreaccount1"
    echo "azure-key-file = $WORK/azkey"
    echo "azure-container = restart-test"
  } >> "$CONFIG"
fi

VPID=
start_vaultd() {
  : > "$WORK/vaultd.out"
  "$VAULTD" "$@" > "$WORK/vaultd.out" 2>> "$WORK/vaultd.log" &
  VPID=$!
  for _ in $(seq 1 100); do
    grep -q "^vaultd listening on " "$WORK/vaultd.out" && return 0
    kill -0 "$VPID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/vaultd.log" >&2
  fail "vaultd did not start"
}
stop_all() {
  if [ -n "$VPID" ]; then kill -9 "$VPID" 2>/dev/null || true; fi
  if [ "$BACKEND" = azure ]; then bash "$REPO/scripts/azurite.sh" stop "$AZ_DATA" > /dev/null 2>&1 || true; fi
  cleanup
}
trap stop_all EXIT

# api METHOD PATH TOKEN [BODY]: prints the body, then the status on the last line.
api() {
  local method=$1 path=$2 token=$3 body=${4-}
  local args=(-s -X "$method" -w '\n%{http_code}' -H "Authorization: Bearer $token")
  if [ -n "$body" ]; then args+=(-H 'Content-Type: application/json' --data-binary "$body"); fi
  curl "${args[@]}" "$URL$path"
}
status_of() { tail -n 1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
expect_status() {
  local want=$1 got; got=$(status_of "$2")
  [ "$got" = "$want" ] || fail "$3: expected HTTP $want, got $got: $(body_of "$2")"
}
# to_json KEY VALUE ...: a JSON object of string values.
to_json() { python3 -c 'import json,sys; a=sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2]))))' "$@"; }

start_vaultd --config "$CONFIG"
ADMIN=$(cat "$VSTATE/admin.token")
[ "$(stat -c %a "$VSTATE/admin.token")" = 600 ] || fail "admin token file is not 0600"
pass "vaultd started from a config file, admin token created 0600"

r=$(api POST /v1/vaults "$ADMIN" '{"name":"restart-vault"}'); expect_status 201 "$r" "create vault"
r=$(api POST /v1/vaults "wrong" '{"name":"other"}'); expect_status 401 "$r" "create vault without admin token"
r=$(api POST /v1/vaults/restart-vault/credentials "$ADMIN" '{}'); expect_status 200 "$r" "download credentials"
body_of "$r" | json_field credentials > "$WORK/creds.xml"
grep -q "<ServiceUrl>$URL</ServiceUrl>" "$WORK/creds.xml" || fail "ServiceUrl missing: $(cat "$WORK/creds.xml")"
CREDS=$(cat "$WORK/creds.xml")
PREPARE=$(to_json credentials "$CREDS" machine_name host-1)
r=$(api POST /v1/register/prepare "" "$PREPARE"); expect_status 200 "$r" "prepare"

WRAPPED=$(python3 -c '
import base64, json, os
print(json.dumps({"version": 1, "key_id": os.urandom(16).hex(),
                  "kdf": {"algorithm": "scrypt", "n": 32768, "r": 8, "p": 1,
                          "salt": base64.b64encode(os.urandom(32)).decode()},
                  "wrapped": base64.b64encode(os.urandom(60)).decode()}))')
CHECK=$(python3 -c 'import os; print(os.urandom(32).hex())')
r=$(api POST /v1/register "" "$(to_json credentials "$CREDS" machine_name host-1 wrapped_key "$WRAPPED" key_check "$CHECK")")
expect_status 200 "$r" "register"
TOKEN=$(body_of "$r" | json_field token)
r=$(api POST /v1/lease "$TOKEN" '{"holder":"e2e","ttl_seconds":600}'); expect_status 200 "$r" "lease"
LEASE=$(body_of "$r" | json_field lease_id)
head -c 3000000 /dev/urandom > "$WORK/obj.bin"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H "X-Obagent-Lease: $LEASE" -H 'Expect:' --data-binary @"$WORK/obj.bin" "$URL/v1/objects/data/ab/pack1")
[ "$code" = 201 ] || fail "PUT object: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  --data-binary 'x' "$URL/v1/objects/data/nolease")
[ "$code" = 409 ] || fail "PUT without lease: $code"
pass "vault, credentials, registration, lease and an object"

# kill -9, a half-written record left behind, restart.
kill -9 "$VPID"; wait "$VPID" 2>/dev/null || true; VPID=
VAULT_FILE=$(ls "$VSTATE/meta/vaults/" | sed -n 1p)
printf '{"version":1,"vault_id":"0123' > "$VSTATE/meta/vaults/.tmp-$VAULT_FILE-a1b2c3"
printf '{"version":1,"mach' > "$VSTATE/meta/machines/.tmp-deadbeef.json-x9y8z7"
start_vaultd --config "$CONFIG"
r=$(api POST /v1/register/prepare "" "$PREPARE"); expect_status 200 "$r" "prepare after kill -9"
[ "$(body_of "$r" | json_field machine_exists)" = True ] || fail "machine lost: $(body_of "$r")"
r=$(api GET /v1/machine "$TOKEN"); expect_status 200 "$r" "machine token after kill -9"
curl -s -H "Authorization: Bearer $TOKEN" "$URL/v1/objects/data/ab/pack1" -o "$WORK/back.bin"
cmp -s "$WORK/obj.bin" "$WORK/back.bin" || fail "object changed across kill -9"
r=$(api POST /v1/lease "$TOKEN" '{"holder":"other","ttl_seconds":60}'); expect_status 409 "$r" "lease kept"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
  -H "X-Obagent-Lease: $LEASE" --data-binary 'after' "$URL/v1/objects/data/after")
[ "$code" = 201 ] || fail "PUT with the lease from before the kill: $code"
pass "after kill -9 and a planted temp file: vault, credentials, token, lease and object intact"

# Ranged read and HEAD.
curl -s -H "Authorization: Bearer $TOKEN" -H 'Range: bytes=100-199' "$URL/v1/objects/data/ab/pack1" -o "$WORK/part.bin"
cmp -s "$WORK/part.bin" <(dd if="$WORK/obj.bin" bs=1 skip=100 count=100 status=none) || fail "ranged GET"
size=$(curl -s -I -H "Authorization: Bearer $TOKEN" "$URL/v1/objects/data/ab/pack1" |
  tr -d '\r' | awk -F': ' 'tolower($1)=="x-obagent-size"{print $2}')
[ "$size" = 3000000 ] || fail "HEAD size: '$size'"
pass "ranged GET and HEAD"

# A newer download supersedes the file: 34513.
r=$(api POST /v1/vaults/restart-vault/credentials "$ADMIN" '{}'); expect_status 200 "$r" "second download"
r=$(api POST /v1/register/prepare "" "$PREPARE"); expect_status 401 "$r" "superseded credentials"
grep -q '"error_id":"34513"' <<<"$r" || fail "no 34513: $r"
grep -q 'superseded' <<<"$r" || fail "no reason: $r"
pass "superseded credentials refused with 34513"

# SIGTERM: clean exit 0.
kill -TERM "$VPID"; rc=0; wait "$VPID" || rc=$?; VPID=
[ "$rc" = 0 ] || fail "vaultd exited $rc on SIGTERM"
pass "SIGTERM exits 0"

# A corrupt record (not a temp file) stops the start with a clear message.
cp "$VSTATE/meta/vaults/$VAULT_FILE" "$WORK/vault-record"
printf '{"version":1,' > "$VSTATE/meta/vaults/$VAULT_FILE"
rc=0; timeout 20 "$VAULTD" --config "$CONFIG" > /dev/null 2> "$WORK/corrupt.log" || rc=$?
[ "$rc" != 0 ] || fail "vaultd started on a corrupt record"
grep -q "$VAULT_FILE" "$WORK/corrupt.log" || fail "the error does not name the file: $(cat "$WORK/corrupt.log")"
cp "$WORK/vault-record" "$VSTATE/meta/vaults/$VAULT_FILE"
pass "a corrupt record is reported by name"

# https with a self-signed certificate.
if [ "$BACKEND" = local ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" > /dev/null 2>&1
  TLS_PORT=$(free_port)
  start_vaultd --state-dir "$VSTATE" --listen "https://127.0.0.1:$TLS_PORT" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
  out=$(curl -s --cacert "$WORK/cert.pem" -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$TLS_PORT/v1/machine")
  grep -q '"name":"host-1"' <<<"$out" || fail "https GET /v1/machine: $out"
  kill -TERM "$VPID"; wait "$VPID" || fail "https vaultd did not exit cleanly"; VPID=
  pass "https with --tls-cert/--tls-key"
fi
