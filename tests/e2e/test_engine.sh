#!/usr/bin/env bash
# cbengine as a service: the local API (root only), Back Up Now, the
# OS-triggered scheduled run handed to the engine, Stop-OBJob for jobs of the
# engine and of obctl, a clean stop on SIGTERM, one engine per state folder,
# and a run missed while the engine was down started when it starts.
source "$E2E_LIB"
: "${CBENGINE:?CBENGINE must point at the cbengine binary}"

SRC=$WORK/data
mkdir -p "$SRC"
for i in $(seq 1 10); do head -c 200000 /dev/urandom > "$SRC/f$i.bin"; done
setup_vault
obctl policy new --include "$SRC" --days Sun,Mon,Tue,Wed,Thu,Fri,Sat --times 00:30 --daily 7 > /dev/null
SOCK=$OBAGENT_STATE_DIR/cbengine.sock
job_field() { # job-id field
  obctl --json job show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"][sys.argv[1]])' "$2"
}
points() { obctl --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))'; }

# --- the engine runs; obctl talks to it ---
expect_fail "not running" obctl engine status
start_engine
obctl engine status | has "no job running" || fail "engine status"
obctl --json engine status | has '"scheduler": "engine"' ||
  fail "without systemd the engine must fire the schedule itself"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "socket mode $(stat -c %a "$SOCK")"
pass "cbengine serves the local API on an owner-only socket; no OS scheduler here: engine schedules"

rc=0; "$CBENGINE" --foreground > "$WORK/second.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "already running" "$WORK/second.log" || fail "second engine on the same state"
obctl engine status > /dev/null || fail "the first engine must survive a second start"
pass "one engine per state folder"

out=$(obctl --json backup now)
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["id"])' <<<"$out")
[ "$(job_field "$id" state)" = Completed ] || fail "backup now: $out"
grep -q "\"pid\": $ENGINE_PID" "$OBAGENT_STATE_DIR"/jobs/*"$id".json 2>/dev/null ||
  grep -q "Backup started (job $id)" "$OBAGENT_STATE_DIR/logs/cbengine.log" || fail "job not run by engine"
[ "$(points)" = 1 ] || fail "backup now wrote $(points) points"
pass "backup now: the engine ran the policy's backup (job $id)"

obctl backup scheduled > "$WORK/scheduled.out" || fail "scheduled run via the engine"
grep -q "Backup job .* Completed" "$WORK/scheduled.out" || fail "scheduled: $(cat "$WORK/scheduled.out")"
grep -q "Backup triggered (Scheduled)" "$OBAGENT_STATE_DIR/logs/cbengine.log" ||
  fail "the OS-triggered run was not handed to the engine"
pass "the OS-triggered scheduled run is handed to the running engine"

# --- Stop-OBJob on an engine job ---
# The jobs to stop are throttled to 8 MB/s (machine settings; the vault's
# reads and writes are charged alike): 120 MB take 15 s, so the stop
# always finds them running. Unthrottled they could end before it arrives.
throttle() { obctl machine-setting set --work-hour-bandwidth 8MB/s --non-work-hour-bandwidth 8MB/s > /dev/null; }
unthrottle() { obctl machine-setting set --no-throttle > /dev/null; }
throttle
for i in $(seq 1 60); do head -c 2000000 /dev/urandom > "$SRC/big$i.bin"; done
before=$(points)
id=$(obctl --json backup now --no-wait | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["id"])')
expect_fail "already running" obctl backup now
obctl job stop "$id" | has "Cancelled" || fail "job stop output"
[ "$(job_field "$id" state)" = Cancelled ] || fail "stopped job state $(job_field "$id" state)"
[ "$(points)" = "$before" ] || fail "a cancelled backup must not write a recovery point"
obctl verify > /dev/null || fail "vault damaged by the cancelled job"
obctl engine status | has "no job running" || fail "engine still busy after stop"
pass "job stop: the engine's backup ends Cancelled, no point written, vault verifies"

# --- only root (or the service account) gets through ---
if id nobody > /dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v setpriv > /dev/null; then
  as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups env OBAGENT_STATE_DIR="$OBAGENT_STATE_DIR" \
      "$OBCTL" engine status 2>&1
  }
  rc=0; out=$(as_nobody) || rc=$?
  [ "$rc" != 0 ] && grep -q "only root or an administrator" <<<"$out" || fail "non-root got through: $out"
  # Even with the folders and the socket opened to everyone, the engine
  # itself refuses the peer (SO_PEERCRED).
  chmod 755 "$WORK" "$OBAGENT_STATE_DIR"
  chmod 666 "$SOCK"
  rc=0; out=$(as_nobody) || rc=$?
  chmod 700 "$WORK" "$OBAGENT_STATE_DIR"
  chmod 600 "$SOCK"
  [ "$rc" != 0 ] && grep -q "refused the request: only root or an administrator" <<<"$out" ||
    fail "non-root got through an open socket: $out"
  obctl engine status > /dev/null || fail "engine must keep serving root"
  pass "a non-root user is refused: by the socket's mode, and by SO_PEERCRED when it is open to all"
else
  echo "skip - non-root refusal (needs root, user nobody and setpriv)"
fi

stop_engine
[ ! -e "$SOCK" ] || fail "socket left after stop"
grep -q "cbengine stopped" "$OBAGENT_STATE_DIR/logs/cbengine.log" || fail "no stop in the engine log"
pass "SIGTERM stops the engine cleanly"

# --- Stop-OBJob without an engine: the job runs in obctl ---
"$OBCTL" backup start --include "$SRC" > "$WORK/obctl-job.out" 2>&1 &
job_pid=$!
for _ in $(seq 1 500); do
  grep -qs '"state": "InProgress"' "$OBAGENT_STATE_DIR"/jobs/*.json && break
  sleep 0.01
done
id=$(obctl --json job list --last 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
obctl job stop "$id" > /dev/null || fail "job stop of an obctl job"
rc=0; wait "$job_pid" || rc=$?
[ "$rc" = 1 ] || fail "the stopped obctl exits $rc"
[ "$(job_field "$id" state)" = Cancelled ] || fail "obctl job state $(job_field "$id" state)"
pass "job stop also stops a backup run by obctl"

# --- a run missed while the engine was down starts when it starts ---
python3 - "$OBAGENT_STATE_DIR/policy.json" <<'EOF'
import json, sys, time
p = json.load(open(sys.argv[1]))
p["modified"] = int(time.time()) - 2 * 86400
json.dump(p, open(sys.argv[1], "w"))
EOF
before=$(points)
start_engine
for _ in $(seq 1 600); do
  grep -q "Backup triggered (MissedRun)" "$OBAGENT_STATE_DIR/logs/cbengine.log" &&
    obctl engine status | has "no job running" && break
  sleep 0.1
done
grep -q "Backup triggered (MissedRun)" "$OBAGENT_STATE_DIR/logs/cbengine.log" || fail "no catch-up run"
[ "$(points)" = $((before + 1)) ] || fail "catch-up run wrote no point"
stop_engine
start_engine
sleep 1
[ "$(grep -c "Backup triggered (MissedRun)" "$OBAGENT_STATE_DIR/logs/cbengine.log")" = 1 ] ||
  fail "the missed run ran again at the next start"
stop_engine
pass "a missed scheduled run starts once when the engine starts"

# --- Stop-OBJob on a recovery ---
rm -f "$SRC"/f*.bin
for i in $(seq 1 6); do head -c 30000000 /dev/urandom > "$SRC/large$i.bin"; done
unthrottle
obctl backup start --include "$SRC" > /dev/null
throttle
"$OBCTL" recover --point latest --target "$WORK/stopped-restore" --threads 1 > /dev/null 2>&1 &
rec_pid=$!
for _ in $(seq 1 500); do
  grep -qs '"type": "Recovery"' $(grep -ls '"state": "InProgress"' "$OBAGENT_STATE_DIR"/jobs/*.json /dev/null) && break
  sleep 0.01
done
id=$(obctl --json job list --last 1 | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(j["id"] if j["type"]=="Recovery" else "")')
[ -n "$id" ] || fail "no running recovery job to stop"
obctl job stop "$id" > /dev/null || fail "job stop of a recovery"
rc=0; wait "$rec_pid" || rc=$?
[ "$rc" = 1 ] || fail "the stopped recovery exits $rc"
[ "$(job_field "$id" state)" = Cancelled ] || fail "recovery job state $(job_field "$id" state)"
if find "$WORK/stopped-restore" -name '.obrestore-*' 2> /dev/null | has .; then
  fail "a stopped recovery left temporary files"
fi
unthrottle
obctl recover --point latest --target "$WORK/full-restore" > /dev/null || fail "recovery after a stop"
cmp "$SRC/large6.bin" "$WORK/full-restore$SRC/large6.bin" || fail "recovered bytes"
pass "job stop ends a recovery Cancelled; no temporary files left; a new recovery completes"
