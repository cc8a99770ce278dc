#!/usr/bin/env bash
# The web console's API end to end: the real cbengine serves it, `obctl
# console url` hands out the address with the token, and curl logs in
# (a wrong token refused, a state change without the CSRF token refused, a
# foreign Host refused), backs up now, follows the job to its end and
# recovers through the engine.
source "$E2E_LIB"
: "${CBENGINE:?CBENGINE must point at the cbengine binary}"
command -v curl > /dev/null || { echo "curl is missing"; exit 77; }

SRC=$WORK/data
mkdir -p "$SRC/sub"
for i in $(seq 1 5); do head -c 300000 /dev/urandom > "$SRC/f$i.bin"; done
printf 'hello console\n' > "$SRC/sub/note.txt"
setup_vault
obctl policy new --include "$SRC" --days Sun,Mon,Tue,Wed,Thu,Fri,Sat --times 03:30 --daily 7 > /dev/null
PORT=$(free_port)

BASE=http://127.0.0.1:$PORT
JAR=$WORK/cookies
CSRF=""
# api METHOD PATH [JSON]: prints "<status> <body>"; sends the session cookie
# and, once logged in, the CSRF token.
api() {
  local args=(-s -o "$WORK/body" -w '%{http_code}' -X "$1" -b "$JAR" -c "$JAR")
  [ -z "$CSRF" ] || args+=(-H "X-CSRF-Token: $CSRF")
  [ $# -lt 3 ] || args+=(-H 'Content-Type: application/json' --data "$3")
  local code
  code=$(curl "${args[@]}" "$BASE$2")
  echo "$code $(cat "$WORK/body")"
}
field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read().split(" ",1)[1]); print(eval("d"+sys.argv[1]))' "$1"; }
status_of() { cut -d' ' -f1; }
wait_job() { # id: waits until the job has ended; prints its state
  local state
  for _ in $(seq 1 600); do
    state=$(api GET "/api/jobs/$1" | field '["job"]["state"]')
    [ "$state" != InProgress ] && { echo "$state"; return 0; }
    sleep 0.1
  done
  fail "job $1 did not end"
}

start_engine --console-port "$PORT"
URL=$(obctl console url)
[[ $URL =~ ^http://127\.0\.0\.1:$PORT/#token=([0-9a-f]{64})$ ]] || fail "console url: $URL"
TOKEN=${BASH_REMATCH[1]}
[ "$(stat -c %a "$OBAGENT_STATE_DIR/console.json")" = 600 ] || fail "console.json is not owner-only"
grep -q "$TOKEN" "$OBAGENT_STATE_DIR/console.json" || fail "console.json has another token"
pass "obctl console url: $BASE/#token=…; console.json owner-only"

[ "$(api GET /api/status | status_of)" = 401 ] || fail "status without a session"
out=$(api POST /api/login '{"token":"0000000000000000000000000000000000000000000000000000000000000000"}')
[ "$(status_of <<<"$out")" = 401 ] || fail "wrong token: $out"
grep -q "wrong token refused" "$OBAGENT_STATE_DIR/logs/cbengine.log" || fail "failed login not logged"
out=$(api POST /api/login "{\"token\":\"$TOKEN\"}")
[ "$(status_of <<<"$out")" = 200 ] || fail "login: $out"
grep -q obsession "$JAR" || fail "no session cookie"
CSRF_OK=$(field '["csrf"]' <<<"$out")
pass "login: a wrong token is refused, the right one gives a session"

out=$(api GET /api/status)
[ "$(status_of <<<"$out")" = 200 ] || fail "status: $out"
[ "$(field '["registered"]' <<<"$out")" = True ] || fail "status: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" -H "Host: evil.example:$PORT" "$BASE/api/status")
[ "$code" = 403 ] || fail "foreign Host answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" -X POST -H "X-CSRF-Token: $CSRF_OK" \
  -H "Origin: http://evil.example" "$BASE/api/backup")
[ "$code" = 403 ] || fail "foreign Origin answered $code"
[ "$(api POST /api/backup '{}' | status_of)" = 403 ] || fail "backup without the CSRF token"
pass "a foreign Host or Origin and a change without the CSRF token are refused"

CSRF=$CSRF_OK
out=$(api POST /api/backup '{}')
[ "$(status_of <<<"$out")" = 200 ] || fail "backup now: $out"
id=$(field '["job"]["id"]' <<<"$out")
[ "$(wait_job "$id")" = Completed ] || fail "backup job $id: $(api GET "/api/jobs/$id")"
[ "$(obctl --json job show "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])')" = Completed ] || fail "obctl sees another state"
out=$(api GET /api/points)
point=$(field '["points"][-1]["id"]' <<<"$out")
[ -n "$point" ] || fail "points: $out"
pass "Back Up Now from the console: job $id Completed, recovery point ${point:0:12}"

out=$(api POST /api/recover "{\"point\":\"$point\",\"items\":[\"$SRC\"],\"target\":\"$WORK/restored\",\"conflict\":\"overwrite\",\"restore_permissions\":true}")
[ "$(status_of <<<"$out")" = 200 ] || fail "recover: $out"
rid=$(field '["job"]["id"]' <<<"$out")
[ "$(wait_job "$rid")" = Completed ] || fail "recovery job: $(api GET "/api/jobs/$rid")"
[ "$(api GET /api/jobs | field '[0]["type"]')" = Recovery ] || fail "recovery not in the job list"
diff -r "$SRC" "$WORK/restored$SRC" || fail "recovered files differ"
pass "recovery from the console runs as an engine job ($rid) and restores the files"

# Two items of one name and a folder with a file inside it: the
# confirmation's destinations come from the engine, and the recovery puts
# each item there, once.
items="[\"$SRC/f1.bin\",\"$SRC/sub/note.txt\",\"$SRC/sub\"]"
out=$(api POST /api/recover/destinations "{\"items\":$items,\"target\":\"$WORK/layout\"}")
[ "$(status_of <<<"$out")" = 200 ] || fail "destinations: $out"
[ "$(field '["destinations"][1]["path"]' <<<"$out")" = "$WORK/layout$SRC/sub" ] ||
  fail "destinations: $out"
[ "$(field '["destinations"].__len__()' <<<"$out")" = 2 ] || fail "the file inside the folder listed: $out"
out=$(api POST /api/recover "{\"point\":\"$point\",\"items\":$items,\"target\":\"$WORK/layout\",\"conflict\":\"copy\",\"restore_permissions\":true}")
rid=$(field '["job"]["id"]' <<<"$out")
[ "$(wait_job "$rid")" = Completed ] || fail "layout recovery: $(api GET "/api/jobs/$rid")"
cmp "$SRC/f1.bin" "$WORK/layout$SRC/f1.bin" || fail "f1.bin not at its path"
cmp "$SRC/sub/note.txt" "$WORK/layout$SRC/sub/note.txt" || fail "note.txt not at its path"
[ "$(find "$WORK/layout" -type f | wc -l)" = 2 ] || fail "extra copies: $(find "$WORK/layout" -type f)"
[ "$(api GET "/api/jobs/$rid" | field '["job"]["files"]')" = 2 ] || fail "job counts: $(api GET "/api/jobs/$rid")"
pass "console recovery: destinations from the engine, every item at its own path, once"

# A recovery is the engine's one job: a backup waits (409), Stop stops it.
# Throttled to the minimum (64 KiB/s, reads too) so it is still running.
throttle='{"throttle":{"enabled":true,"work_days":[0,1,2,3,4,5,6],"work_start":"00:00","work_end":"24:00","work_hour_bytes_per_second":65536,"non_work_hour_bytes_per_second":65536}}'
out=$(api PUT /api/settings "$throttle")
[ "$(status_of <<<"$out")" = 200 ] || fail "settings: $out"
out=$(api POST /api/recover "{\"point\":\"$point\",\"items\":[\"$SRC\"],\"target\":\"$WORK/stopped\",\"conflict\":\"overwrite\",\"restore_permissions\":true}")
rid=$(field '["job"]["id"]' <<<"$out")
busy=$(api POST /api/backup '{}')
[ "$(status_of <<<"$busy")" = 409 ] || fail "backup during a recovery: $busy"
[ "$(field '["running"]["job"]["type"]' <<<"$(api GET /api/status)")" = Recovery ] ||
  fail "status does not show the running recovery"
[ "$(api POST "/api/jobs/$rid/stop" '{}' | status_of)" = 200 ] || fail "stop"
[ "$(wait_job "$rid")" = Cancelled ] || fail "stopped recovery: $(api GET "/api/jobs/$rid")"
[ "$(api PUT /api/settings '{"throttle":{"enabled":false}}' | status_of)" = 200 ] || fail "throttle off"
pass "a running recovery blocks other jobs (409), shows in status and stops when asked"

# Root's engine restoring, from the console, a folder an unprivileged user
# owns, after the user swapped a folder in it for a link to a folder only
# root may write: the item below the link is refused, nothing goes through
# the link, and the whole folder comes back with the link replaced.
chmod 755 "$WORK"
U=$SRC/user/docs
mkdir -p "$U/sub" "$WORK/standin"
printf 'restored by root\n' > "$U/sub/x"
chown -R nobody: "$SRC/user"
out=$(api POST /api/backup '{}')
[ "$(wait_job "$(field '["job"]["id"]' <<<"$out")")" = Completed ] || fail "backup of the user folder"
point=$(api GET /api/points | field '["points"][-1]["id"]')
su -s /bin/sh nobody -c "rm -rf '$U/sub' && ln -s '$WORK/standin' '$U/sub'" ||
  fail "could not act as the unprivileged owner"
out=$(api POST /api/recover "{\"point\":\"$point\",\"items\":[\"$U/sub/x\"],\"conflict\":\"overwrite\",\"restore_permissions\":true}")
rid=$(field '["job"]["id"]' <<<"$out")
[ "$(wait_job "$rid")" = Failed ] || fail "restore through a swapped link: $(api GET "/api/jobs/$rid")"
grep -q "never follows links" <<<"$(api GET "/api/jobs/$rid")" || fail "no clear message: $(api GET "/api/jobs/$rid")"
[ -z "$(ls -A "$WORK/standin")" ] || fail "the console's restore wrote through the link"
out=$(api POST /api/recover "{\"point\":\"$point\",\"items\":[\"$U\"],\"conflict\":\"overwrite\",\"restore_permissions\":true}")
rid=$(field '["job"]["id"]' <<<"$out")
[ "$(wait_job "$rid")" = Completed ] || fail "whole folder over the link: $(api GET "/api/jobs/$rid")"
[ -d "$U/sub" ] && [ ! -L "$U/sub" ] || fail "the link was not replaced by the folder"
[ -z "$(ls -A "$WORK/standin")" ] || fail "the whole-folder restore wrote through the link"
[ "$(stat -c %U "$U/sub/x")" = nobody ] || fail "owner not restored"
pass "console restore as root never writes through a link the folder's owner swapped in"

stop_engine
[ ! -e "$OBAGENT_STATE_DIR/console.json" ] || fail "console.json left behind after stop"
start_engine --console-port 0
expect_fail "console is off" obctl console url
stop_engine
pass "--console-port 0: no console"
