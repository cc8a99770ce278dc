#!/usr/bin/env bash
# The restore drill (obctl recovery test): a random sample of a recovery
# point restored into a private folder, compared with the point and removed;
# a RecoveryTest job in the history; figures in --json; obctl job stop
# cancels it; a damaged pack fails it (exit 1) and the message names the pack.
source "$E2E_LIB"

SRC=$WORK/data
make_tricky_tree "$SRC"
for i in $(seq 1 20); do head -c $((i * 7000)) /dev/urandom > "$SRC/f$i.bin"; done
setup_vault
obctl backup start --include "$SRC" > /dev/null
SCRATCH=$OBAGENT_STATE_DIR/scratch
latest() { obctl --json job list --last 1 | python3 -c "import json,sys; print(json.load(sys.stdin)['jobs'][0][sys.argv[1]])" "$1"; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/out.json" "$1"; }
no_sample_left() {
  ! ls -d "$SCRATCH"/recovery-test-* > /dev/null 2>&1 || fail "sample folder left: $(ls -d "$SCRATCH"/recovery-test-*)"
}

# Every file of the point: Completed, exit 0, the figures add up.
files=$(find "$SRC" \( -type f -o -type l \) -printf . | wc -c)
bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
rc=0; obctl --json recovery test --percent 100 > "$WORK/out.json" || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/out.json"; fail "drill exit code $rc"; }
[ "$(field state)" = Completed ] || fail "state $(field state)"
[ "$(field files_in_point)" = "$files" ] || fail "files_in_point $(field files_in_point), find says $files"
[ "$(field sampled)" = "$files" ] && [ "$(field identical)" = "$files" ] ||
  fail "sampled $(field sampled), identical $(field identical) of $files"
# A hard link's second name is counted with its bytes: the point holds both.
hl=$(stat -c %s "$SRC/hardlink-to-deep")
[ "$(field bytes)" = "$bytes" ] || [ "$(field bytes)" = $((bytes + hl)) ] ||
  fail "bytes $(field bytes), the files hold $bytes"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["files_per_second"] > 0 and j["bytes_per_second"] > 0 and j["seconds"] > 0' \
  "$WORK/out.json" || fail "no rates in $(cat "$WORK/out.json")"
no_sample_left
pass "the whole point restored, compared identical and removed; exit 0; figures in --json"

obctl --json recovery test --sample 5 > "$WORK/out.json"
[ "$(field sampled)" = 5 ] && [ "$(field identical)" = 5 ] || fail "--sample 5: $(cat "$WORK/out.json")"
obctl --json recovery test --percent 10 > "$WORK/out.json"
want=$(( (files * 10 + 99) / 100 ))
[ "$(field sampled)" = "$want" ] || fail "--percent 10 of $files: sampled $(field sampled), want $want"
obctl recovery test --sample 3 > "$WORK/out.txt"
grep -q "Recovery test Completed" "$WORK/out.txt" || fail "text output: $(cat "$WORK/out.txt")"
grep -q "files/s" "$WORK/out.txt" || fail "no files/s in $(cat "$WORK/out.txt")"
[ "$(latest type)" = RecoveryTest ] && [ "$(latest state)" = Completed ] || fail "job list: $(latest type) $(latest state)"
[ "$(latest files)" = 3 ] || fail "job files $(latest files)"
obctl job list | has "RecoveryTest  Completed" || fail "obctl job list does not show the drill"
LOG=$OBAGENT_STATE_DIR/logs/cbengine.log
grep -q "\[5060\] Recovery test started" "$LOG" || fail "no 5060 in the engine log"
grep -q "\[5065\] Recovery test Completed" "$LOG" || fail "no 5065 in the engine log"
expect_fail "not both" obctl recovery test --sample 3 --percent 10
expect_fail "at most 100" obctl recovery test --percent 150
no_sample_left
pass "--sample and --percent pick that many; RecoveryTest in obctl job list; 5060/5065 logged; bad options refused"

# obctl job stop: a slow drill (throttled transfers) is stopped while it
# restores; Cancelled, exit 1, nothing left.
SLOW=$WORK/slow
mkdir -p "$SLOW"
for i in $(seq 1 6); do head -c 100000 /dev/urandom > "$SLOW/s$i.bin"; done
obctl backup start --include "$SLOW" > /dev/null
obctl machine-setting set --work-day all --start-work-hour 00:00 --end-work-hour 24:00 \
  --work-hour-bandwidth 100KB/s --non-work-hour-bandwidth 100KB/s > /dev/null
rc=0
"$OBCTL" recovery test --percent 100 > "$WORK/slow.out" 2>&1 &
pid=$!
id=""
for _ in $(seq 1 1000); do
  id=$(obctl --json job list --last 1 | python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print(j["id"] if j["type"]=="RecoveryTest" and j["state"]=="InProgress" else "")')
  [ -n "$id" ] && break
  sleep 0.01
done
[ -n "$id" ] || fail "the drill never showed InProgress"
obctl job stop "$id" > /dev/null
wait "$pid" || rc=$?
[ "$rc" = 1 ] || fail "a stopped drill must exit 1, got $rc: $(cat "$WORK/slow.out")"
[ "$(latest state)" = Cancelled ] || fail "stopped drill: $(latest state)"
no_sample_left
obctl machine-setting set --no-throttle > /dev/null
pass "obctl job stop cancels a drill; Cancelled, exit 1, sample removed"

# A byte flipped in the biggest data pack: Failed, exit 1, the pack named.
obctl backup start --include "$SRC" > /dev/null
PACK=$(find "$WORK/vault" -path '*/data/*' -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2)
NAME=$(basename "$PACK")
python3 - "$PACK" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x5A]))
PY
rc=0; obctl --json recovery test --percent 100 > "$WORK/out.json" || rc=$?
[ "$rc" = 1 ] || fail "a damaged pack must exit 1, got $rc"
[ "$(field state)" = Failed ] || fail "damaged pack: state $(field state)"
field message | has "$NAME" || fail "the message does not name pack $NAME: $(field message)"
rc=0; obctl recovery test --percent 100 > "$WORK/out.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "$NAME" "$WORK/out.txt" || fail "text output does not name the pack: $(cat "$WORK/out.txt")"
[ "$(latest type)" = RecoveryTest ] && [ "$(latest state)" = Failed ] || fail "job: $(latest state)"
latest error | has "$NAME" || fail "the job's error does not name the pack"
log=$(latest failed_files_log)
[[ "$(basename "$log")" == LastRecoveryTestFailedFiles-$(latest id).txt ]] || fail "failed-files log $log"
grep -q "$NAME" "$log" || fail "failed-files log does not name the pack: $(cat "$log")"
grep -q "\[5067\] Recovery test Failed" "$LOG" || fail "no 5067 in the engine log"
no_sample_left
pass "a damaged pack fails the drill (exit 1), named in the message, the job and the failed-files log"

# The policy schedules the drill; policy show says when and how much.
obctl policy new --include "$SRC" --days Mon --times 21:00 --daily 7 \
  --recovery-test-days Sun --recovery-test-time 03:00 --recovery-test-sample 25 > /dev/null
obctl policy show | has "Recovery test Sun at 03:00, 25 files" || fail "policy show: $(obctl policy show)"
obctl --json policy show | python3 -c '
import json, sys
d = json.load(sys.stdin)["policy"]["recovery_test"]
assert d["days"] == ["Sun"] and d["times"] == ["03:00"] and d["sample_files"] == 25, d
assert d["next_run"] is not None, d' || fail "policy show --json has no drill"
obctl policy set-recovery-test --days all --times 04:30 --percent 5 > /dev/null
obctl policy show | has "Recovery test Sun, Mon, Tue, Wed, Thu, Fri, Sat at 04:30, 5 % of the files" ||
  fail "set-recovery-test: $(obctl policy show)"
expect_fail "percentage" obctl policy set-recovery-test --days Sun --times 03:00 --percent 0
expect_fail "not both" obctl policy set-recovery-test --days Sun --times 03:00 --sample 5 --percent 5
obctl policy set-recovery-test --off > /dev/null
obctl policy show | has "Recovery test off" || fail "--off: $(obctl policy show)"
pass "the policy schedules the drill (policy new, set-recovery-test, --off); policy show tells"
