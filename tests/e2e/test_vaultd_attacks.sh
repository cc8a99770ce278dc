#!/usr/bin/env bash
# ctest: every vault backend
# vaultd stays up for its honest users under the attacks of issue 11, each
# against the real binary: an unauthenticated 512 MiB PUT, an authenticated
# object past the size limit, a job report nested 100,000 (and 30,000)
# levels deep, an inflated job report, 200 idle connections held, slow
# headers (slowloris), and error texts probed for server paths. After each,
# vaultd's peak RSS (VmHWM) is under 128 MiB and a legitimate request made
# meanwhile was answered. Timeouts the test must see pass are set short by
# flag (--header-timeout 1); every wait is on a condition.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
command -v curl > /dev/null || { echo "curl is missing"; exit 77; }
LIMIT_KB=$((128 << 10))
PACK_LIMIT=$((64 << 20))

vaultd_backend attacks
PORT=${URL##*:}
HOLDER=
stop_all() {
  touch "$WORK/stop"
  if [ -n "$HOLDER" ]; then kill "$HOLDER" 2>/dev/null || true; fi
  cleanup
}
trap stop_all EXIT
start_vaultd --log-level warn --header-timeout 1 --max-pack-bytes "$PACK_LIMIT"

# After each attack: vaultd runs, stayed under the bound, and answered the
# legitimate request made meanwhile (its HTTP status in $1's file).
check() { # what legit-status-file
  kill -0 "$VPID" 2>/dev/null || { cat "$WORK/vaultd.log" >&2; fail "$1: vaultd died"; }
  local kb; kb=$(awk '/^VmHWM/ {print $2}' "/proc/$VPID/status")
  [ "$kb" -le "$LIMIT_KB" ] || fail "$1: vaultd's peak RSS is $((kb / 1024)) MiB (bound: 128 MiB)"
  [ "$(cat "$2")" = 200 ] || fail "$1: the legitimate request meanwhile got HTTP $(cat "$2")"
  pass "$1: a legitimate request answered meanwhile, vaultd's peak RSS $((kb / 1024)) MiB ($BACKEND)"
}

api_machine attacks honest
# The honest machine's request: its record.
legit() { curl -s -o /dev/null -w '%{http_code}' --max-time 60 "${AUTH[@]}" "$URL/v1/machine" > "$1" || true; }

# 1. 512 MiB without a token (a sparse file: no disk). Refused from the
#    headers; the honest request goes in while the body is being pushed.
truncate -s 512M "$WORK/big.bin"
curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Expect:' -T "$WORK/big.bin" \
  "$URL/v1/objects/data/aa/big" > "$WORK/unauth" || true &
attack=$!
legit "$WORK/legit1"
wait "$attack" || true
grep -qE '^(401|000)$' "$WORK/unauth" || fail "a PUT without a token: HTTP $(cat "$WORK/unauth")"
check "an unauthenticated 512 MiB PUT" "$WORK/legit1"

# 2. An authenticated pack past the limit: announced (413 from the headers)
#    and chunked (cut off at the limit); nothing stored.
truncate -s $((PACK_LIMIT + (16 << 20))) "$WORK/over.bin"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  -H 'Expect:' -T "$WORK/over.bin" "$URL/v1/objects/data/aa/over" || true)
[ "$code" = 413 ] || fail "a pack past the limit (announced): HTTP $code"
curl -s -o "$WORK/chunked.out" -w '%{http_code}' -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  -H 'Transfer-Encoding: chunked' -T - "$URL/v1/objects/data/aa/over" < "$WORK/over.bin" > "$WORK/chunked" || true &
attack=$!
legit "$WORK/legit2"
wait "$attack" || true
grep -qE '^(413|000)$' "$WORK/chunked" || fail "a pack past the limit (chunked): HTTP $(cat "$WORK/chunked")"
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/v1/objects/data/aa/over")
[ "$code" = 404 ] || fail "the refused pack was stored: HTTP $code"
check "an authenticated pack past the $((PACK_LIMIT >> 20)) MiB limit" "$WORK/legit2"

# 3. Job reports nested 100,000 levels (past the size limit: 413) and
#    30,000 (within it: refused before parsing, 400). vaultd crashed here.
deep() { python3 -c 'import sys; n=int(sys.argv[1]); sys.stdout.write("{\"type\":\"Backup\",\"state\":\"Completed\",\"x\":" + "["*n + "]"*n + "}")' "$1"; }
deep 100000 > "$WORK/deep100k.json"
deep 30000 > "$WORK/deep30k.json"
job() { curl -s -o "$WORK/job.out" -w '%{http_code}' -X POST "${AUTH[@]}" -H 'Content-Type: application/json' --data-binary @"$1" "$URL/v1/jobs"; }
code=$(job "$WORK/deep100k.json")
[ "$code" = 413 ] || fail "a job report 100,000 levels deep: HTTP $code $(cat "$WORK/job.out")"
code=$(job "$WORK/deep30k.json")
[ "$code" = 400 ] || fail "a job report 30,000 levels deep: HTTP $code $(cat "$WORK/job.out")"
grep -q "nested deeper than 16 levels" "$WORK/job.out" || fail "no clear message: $(cat "$WORK/job.out")"
legit "$WORK/legit3"
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/v1/jobs")
[ "$code" = 200 ] || fail "job list after the deep reports: HTTP $code"
check "job reports nested 100,000 and 30,000 levels deep" "$WORK/legit3"

# 4. An inflated report: a long error text, 500 extra fields, a nested
#    value. Stored compact and bounded.
python3 - > "$WORK/inflated.json" <<'PY'
import json
r = {"type": "Backup", "state": "Failed", "error": "E" * 20000,
     "nested": json.loads("[" * 15 + "]" * 15)}
for i in range(500):
    r["extra_%d" % i] = i
print(json.dumps(r, indent=2))
PY
code=$(job "$WORK/inflated.json")
[ "$code" = 201 ] || fail "an inflated job report: HTTP $code $(cat "$WORK/job.out")"
record=$(ls -S "$VSTATE/meta/jobs/$MID/"*.json | sed -n 1p)
size=$(stat -c %s "$record")
[ "$size" -le 8192 ] || fail "the report of $(stat -c %s "$WORK/inflated.json") bytes is stored as $size bytes"
[ "$(wc -l < "$record")" = 0 ] || fail "the record is stored pretty-printed"
legit "$WORK/legit4"
check "an inflated job report ($(stat -c %s "$WORK/inflated.json") bytes sent, $size stored)" "$WORK/legit4"

# 5. 200 idle connections held (the per-client cap is 64: newcomers displace
#    the longest idle, so the honest request still gets in).
rm -f "$WORK/stop"
python3 "$HERE/hold_connections.py" "$PORT" 200 idle "$WORK/stop" > "$WORK/hold.out" &
HOLDER=$!
for _ in $(seq 1 600); do grep -q '^open 200' "$WORK/hold.out" && break; sleep 0.05; done
grep -q '^open 200' "$WORK/hold.out" || fail "could not open 200 connections"
legit "$WORK/legit5"
touch "$WORK/stop"
wait "$HOLDER" || fail "the idle holder failed"
HOLDER=
check "200 idle connections held" "$WORK/legit5"

# 6. Slow headers: 50 connections sending a header a byte at a time. The
#    header timeout (1 s here) closes every one; the honest request is
#    answered while they trickle.
rm -f "$WORK/stop"
python3 "$HERE/hold_connections.py" "$PORT" 50 slow "$WORK/stop" > "$WORK/slow.out" &
HOLDER=$!
for _ in $(seq 1 600); do grep -q '^open 50' "$WORK/slow.out" && break; sleep 0.05; done
legit "$WORK/legit6"
wait "$HOLDER" || fail "slow headers were not all cut off: $(cat "$WORK/slow.out")"
HOLDER=
grep -q '^closed-by-server 50' "$WORK/slow.out" || fail "slowloris: $(cat "$WORK/slow.out")"
check "50 slow-header (slowloris) connections, all cut off by the header timeout" "$WORK/legit6"

# 7. Error texts name keys, never server paths.
curl -s "${AUTH[@]}" "$URL/v1/objects/index/missing" > "$WORK/err1"
grep -q "object 'index/missing' does not exist" "$WORK/err1" || fail "404 text: $(cat "$WORK/err1")"
texts=("$WORK/err1")
if [ "$BACKEND" = local ]; then
  # A folder where the object's file goes: the store fails with its path.
  mkdir -p "$VSTATE/data/machines/$MID/index/blocked/inner"
  curl -s -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" --data-binary x \
    "$URL/v1/objects/index/blocked" > "$WORK/err2"
  curl -s "${AUTH[@]}" "$URL/v1/objects/index/blocked" > "$WORK/err3"
  texts+=("$WORK/err2" "$WORK/err3")
  grep -q "index/blocked" "$WORK/err2" || fail "the error does not name the key: $(cat "$WORK/err2")"
fi
for t in "${texts[@]}"; do
  if grep -qF -e "$WORK" -e "/meta" -e "/data/machines" "$t"; then
    fail "an error text shows a server path: $(cat "$t")"
  fi
done
legit "$WORK/legit7"
check "error texts name keys, never server paths" "$WORK/legit7"
