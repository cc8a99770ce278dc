#!/usr/bin/env bash
# ctest: every vault backend
# vaultd streams object bodies: a 512 MiB object goes up (Content-Length and
# chunked) and comes down (whole, ranged, several at once) byte for byte,
# and a 512 MiB PUT without a token is refused from its headers, while
# vaultd's peak RSS (VmHWM) stays under 128 MiB. A behaviour bound, not a
# speed test: before streaming, vaultd held every body whole (1.5 GiB RSS
# for one such PUT).
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
BACKEND=${VAULT_BACKEND:-local}
REPO=$(cd "$HERE/../.." && pwd)
SIZE=$((512 << 20))
LIMIT_KB=$((128 << 10))

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
VSTATE=$WORK/vaultd
AZ_DATA=$WORK/azurite
ARGS=(--listen "$URL" --state-dir "$VSTATE" --log-level warn --max-pack-bytes $((1 << 30)))
if [ "$BACKEND" = azure ]; then
  AZ_PORT=$(free_port)
  bash "$REPO/scripts/azurite.sh" start "$AZ_DATA" "$AZ_PORT" > /dev/null
  printf 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' > "$WORK/azkey"
  ARGS+=(--backend azure --azure-endpoint "http://127.0.0.1:$AZ_PORT/devstoreaccount1"
         --azure-account devstoreaccount1 --azure-key-file "$WORK/azkey" --azure-container memory-test)
fi
VPID=
stop_all() {
  if [ -n "$VPID" ]; then kill "$VPID" 2>/dev/null && wait "$VPID" 2>/dev/null || true; fi
  if [ "$BACKEND" = azure ]; then bash "$REPO/scripts/azurite.sh" stop "$AZ_DATA" > /dev/null 2>&1 || true; fi
  cleanup
}
trap stop_all EXIT
mkdir -p "$VSTATE"
"$VAULTD" "${ARGS[@]}" > "$WORK/vaultd.out" 2> "$WORK/vaultd.log" &
VPID=$!
for _ in $(seq 1 100); do
  grep -q "^vaultd listening on " "$WORK/vaultd.out" && break
  kill -0 "$VPID" 2>/dev/null || break
  sleep 0.1
done
grep -q "^vaultd listening on " "$WORK/vaultd.out" || { cat "$WORK/vaultd.log" >&2; fail "vaultd did not start"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$VPID/status"; }
check_hwm() {
  local kb; kb=$(hwm_kb)
  [ "$kb" -le "$LIMIT_KB" ] || fail "$1: vaultd's peak RSS is $((kb / 1024)) MiB (bound: 128 MiB)"
  echo "  vaultd peak RSS after $1: $((kb / 1024)) MiB"
}

# A machine and its lease, through the API.
ADMIN=$(cat "$VSTATE/admin.token")
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
post() { curl -sf -X POST -H "Content-Type: application/json" "${@:3}" --data-binary "$2" "$URL$1"; }
post /v1/vaults '{"name":"mem"}' -H "Authorization: Bearer $ADMIN" > /dev/null
post /v1/vaults/mem/credentials '{}' -H "Authorization: Bearer $ADMIN" | json credentials > "$WORK/creds.xml"
REGISTER=$(python3 - "$WORK/creds.xml" <<'PY'
import base64, json, os, sys
print(json.dumps({"credentials": open(sys.argv[1]).read(), "machine_name": "mem-host",
                  "wrapped_key": json.dumps({"version": 1, "key_id": os.urandom(16).hex(),
                      "kdf": {"algorithm": "scrypt", "n": 32768, "r": 8, "p": 1,
                              "salt": base64.b64encode(os.urandom(32)).decode()},
                      "wrapped": base64.b64encode(os.urandom(60)).decode()}),
                  "key_check": os.urandom(32).hex()}))
PY
)
TOKEN=$(post /v1/register "$REGISTER" | json token)
LEASE=$(post /v1/lease '{"holder":"e2e","ttl_seconds":3600}' -H "Authorization: Bearer $TOKEN" | json lease_id)
AUTH=(-H "Authorization: Bearer $TOKEN")
check_hwm "start"

# Without a token: refused from the headers; the 512 MiB are not taken in.
head -c "$SIZE" /dev/urandom > "$WORK/big.bin"
want=$(sha256sum < "$WORK/big.bin" | cut -d' ' -f1)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Expect:' --data-binary @"$WORK/big.bin" \
  "$URL/v1/objects/data/big" || true)
[ "$code" = 401 ] || [ "$code" = 000 ] || fail "PUT without a token: HTTP $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/v1/objects/data/big")
[ "$code" = 404 ] || fail "the refused PUT stored something: HTTP $code"
check_hwm "a refused 512 MiB PUT"

# Up with a Content-Length (curl's Expect: 100-continue included), and a
# second copy chunked, at the same time.
curl -sf -o /dev/null -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" -T "$WORK/big.bin" \
  "$URL/v1/objects/data/big" &
p1=$!
curl -sf -o /dev/null -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  -H 'Transfer-Encoding: chunked' -T - "$URL/v1/objects/data/chunked" < "$WORK/big.bin" &
p2=$!
wait "$p1" || fail "PUT of 512 MiB"
wait "$p2" || fail "chunked PUT of 512 MiB"
size=$(curl -s -I "${AUTH[@]}" "$URL/v1/objects/data/big" | tr -d '\r' |
  awk -F': ' 'tolower($1)=="content-length"{print $2}')
[ "$size" = "$SIZE" ] || fail "HEAD: Content-Length '$size'"
check_hwm "two 512 MiB PUTs at once"

# Down: two whole GETs and a ranged one at once.
curl -sf "${AUTH[@]}" "$URL/v1/objects/data/big" | sha256sum | cut -d' ' -f1 > "$WORK/sum1" &
g1=$!
curl -sf "${AUTH[@]}" "$URL/v1/objects/data/chunked" | sha256sum | cut -d' ' -f1 > "$WORK/sum2" &
g2=$!
first=$((100 << 20)); last=$((400 << 20))
curl -sf "${AUTH[@]}" -H "Range: bytes=$first-$last" "$URL/v1/objects/data/big" |
  sha256sum | cut -d' ' -f1 > "$WORK/sum3" &
g3=$!
wait "$g1" && wait "$g2" && wait "$g3" || fail "GETs of 512 MiB"
[ "$(cat "$WORK/sum1")" = "$want" ] || fail "the object came back different"
[ "$(cat "$WORK/sum2")" = "$want" ] || fail "the chunked upload came back different"
part=$(python3 -c '
import hashlib, sys
first, last = int(sys.argv[2]), int(sys.argv[3])
with open(sys.argv[1], "rb") as f:
    f.seek(first)
    print(hashlib.sha256(f.read(last - first + 1)).hexdigest())' "$WORK/big.bin" "$first" "$last")
[ "$(cat "$WORK/sum3")" = "$part" ] || fail "the ranged GET came back different"
check_hwm "three 512 MiB GETs at once"
pass "512 MiB objects up and down ($BACKEND backend) with vaultd under 128 MiB"
