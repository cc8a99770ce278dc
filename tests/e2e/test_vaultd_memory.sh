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
SIZE=$((512 << 20))
LIMIT_KB=$((128 << 10))

vaultd_backend memory-test
start_vaultd --log-level warn --max-pack-bytes $((1 << 30))
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$VPID/status"; }
check_hwm() {
  local kb; kb=$(hwm_kb)
  [ "$kb" -le "$LIMIT_KB" ] || fail "$1: vaultd's peak RSS is $((kb / 1024)) MiB (bound: 128 MiB)"
  echo "  vaultd peak RSS after $1: $((kb / 1024)) MiB"
}

# A machine and its lease, through the API.
api_machine mem mem-host
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
