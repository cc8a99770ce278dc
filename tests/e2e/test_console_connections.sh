#!/usr/bin/env bash
# The console stays the administrator's while a local process holds 200
# idle connections and 50 slow-header ones to it (its cap is 64 and every
# client shares 127.0.0.1: a newcomer displaces the longest-waiting
# connection without a request in progress, so the flood cannot lock the
# administrator out). Meanwhile a logged-in session is served, a new login
# succeeds, a body past a route's limit is refused 413 unread and a body
# nested 30,000 levels deep is refused 400, and cbengine keeps running.
source "$E2E_LIB"
: "${CBENGINE:?CBENGINE must point at the cbengine binary}"
command -v curl > /dev/null || { echo "curl is missing"; exit 77; }

setup_vault
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
JAR=$WORK/cookies
HOLDERS=()
stop_all() {
  touch "$WORK/stop"
  local p
  for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; done
  cleanup
}
trap stop_all EXIT

start_engine --console-port "$PORT"
URL=$(obctl console url)
[[ $URL =~ \#token=([0-9a-f]{64})$ ]] || fail "console url: $URL"
TOKEN=${BASH_REMATCH[1]}
login() { # cookie-jar: prints the HTTP status
  curl -s -o "$WORK/login.out" -w '%{http_code}' --max-time 60 -c "$1" -X POST \
    -H 'Content-Type: application/json' --data "{\"token\":\"$TOKEN\"}" "$BASE/api/login"
}
[ "$(login "$JAR")" = 200 ] || fail "login: $(cat "$WORK/login.out")"
CSRF=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$WORK/login.out")

# The flood: 200 idle connections and 50 sending a header a byte at a time.
python3 "$HERE/hold_connections.py" "$PORT" 200 idle "$WORK/stop" > "$WORK/idle.out" &
HOLDERS+=($!)
python3 "$HERE/hold_connections.py" "$PORT" 50 slow "$WORK/stop" > "$WORK/slow.out" &
HOLDERS+=($!)
for _ in $(seq 1 600); do
  grep -q '^open 200' "$WORK/idle.out" && grep -q '^open 50' "$WORK/slow.out" && break
  sleep 0.05
done
grep -q '^open 200' "$WORK/idle.out" || fail "could not open 200 connections"
grep -q '^open 50' "$WORK/slow.out" || fail "could not open 50 slow connections"

code=$(curl -s -o "$WORK/session.out" -w '%{http_code}' --max-time 60 -b "$JAR" "$BASE/api/session")
[ "$code" = 200 ] || fail "the logged-in session during the flood: HTTP $code"
grep -q "\"csrf\":\"$CSRF\"" "$WORK/session.out" || fail "session: $(cat "$WORK/session.out")"
pass "a logged-in session is served while 200 idle and 50 slow-header connections are held"
[ "$(login "$WORK/jar2")" = 200 ] || fail "a new login during the flood: $(cat "$WORK/login.out")"
pass "a new login succeeds during the flood"

# A body past the route's limit (1 MiB): 413 from the header; a body nested
# 30,000 levels: 400 with the reason.
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' > "$WORK/big.json"
code=$(curl -s -o "$WORK/big.out" -w '%{http_code}' --max-time 60 -b "$JAR" -X PUT \
  -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -H 'Expect:' \
  --data-binary @"$WORK/big.json" "$BASE/api/settings" || true)
[ "$code" = 413 ] || fail "a 2 MiB body: HTTP $code $(cat "$WORK/big.out")"
python3 -c 'import sys; sys.stdout.write("[" * 30000 + "]" * 30000)' > "$WORK/deep.json"
code=$(curl -s -o "$WORK/deep.out" -w '%{http_code}' --max-time 60 -b "$JAR" -X PUT \
  -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
  --data-binary @"$WORK/deep.json" "$BASE/api/settings")
[ "$code" = 400 ] || fail "a body 30,000 levels deep: HTTP $code $(cat "$WORK/deep.out")"
grep -q "nested deeper than" "$WORK/deep.out" || fail "no clear message: $(cat "$WORK/deep.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -b "$JAR" "$BASE/api/session")
[ "$code" = 200 ] || fail "the session after the bodies: HTTP $code"
kill -0 "$ENGINE_PID" || fail "cbengine died"
rss=$(awk '/^VmHWM/ {print $2}' "/proc/$ENGINE_PID/status")
pass "413 for a 2 MiB body, 400 for one nested 30,000 deep; cbengine up (peak RSS $((rss / 1024)) MiB)"
touch "$WORK/stop"
