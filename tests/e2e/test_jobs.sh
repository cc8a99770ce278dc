#!/usr/bin/env bash
# Job history (Get-OBJob): every backup, recovery, verify, prune and repair
# leaves a record with its final state, counts and error; skipped files make
# CompletedWithWarnings with LastBackupFailedFiles-<job>.txt, files a
# recovery could not restore are in LastRecoveryFailedFiles-<job>.txt; a
# killed job shows as interrupted.
source "$E2E_LIB"

SRC=$WORK/data
mkdir -p "$SRC"
for i in $(seq 1 20); do head -c 300000 /dev/urandom > "$SRC/f$i.bin"; done
setup_vault
latest() { obctl --json job list --last 1 | python3 -c "import json,sys; print(json.load(sys.stdin)['jobs'][0][sys.argv[1]])" "$1"; }

obctl backup start --include "$SRC" > /dev/null
[ "$(latest type)" = Backup ] && [ "$(latest state)" = Completed ] || fail "backup job not recorded"
[ "$(latest files)" = 20 ] || fail "job counts: $(latest files) files"
pass "completed backup recorded with its counts"

mkfifo "$SRC/a pipe"
rc=0; obctl backup start --include "$SRC" > /dev/null || rc=$?
[ "$rc" = 3 ] || fail "a skipped file must exit 3, got $rc"
[ "$(latest state)" = CompletedWithWarnings ] || fail "skipped file: state $(latest state)"
log=$(latest failed_files_log)
grep -q "a pipe" "$log" || fail "failed-files log does not list the pipe"
grep -qP "^0x80070032\t$SRC/a pipe\t" "$log" || fail "the pipe is not listed with 0x80070032: $(cat "$log")"
[[ "$(basename "$log")" == LastBackupFailedFiles-$(latest id).txt ]] || fail "failed-files log name $log"
rm "$SRC/a pipe"
pass "skipped files: CompletedWithWarnings, listed in LastBackupFailedFiles-<job>.txt"

# Permission bits do not stop root, but a sysctl file without a read bit
# does: the closest thing to a locked-down file a root test can provoke.
DENIED=/proc/sys/vm/compact_memory
if [ -f "$DENIED" ] && ! cat "$DENIED" > /dev/null 2>&1; then
  rc=0; obctl backup start --include "$SRC" --include "$DENIED" > /dev/null || rc=$?
  [ "$rc" = 3 ] || fail "an unreadable file must exit 3, got $rc"
  grep -qP "^0x80070005\t$DENIED\t.*access denied" "$(latest failed_files_log)" ||
    fail "access denied not listed with 0x80070005: $(cat "$(latest failed_files_log)")"
  pass "an unreadable file is listed with 0x80070005 (access denied)"
  # The latest point must not name the skipped root: the recovery below
  # restores all of it.
  obctl backup start --include "$SRC" > /dev/null
else
  echo "skip - $DENIED is readable here; access denied not provoked"
fi

expect_fail "" obctl backup start --include "$WORK/does-not-exist"
[ "$(latest state)" = Failed ] || fail "failed backup state $(latest state)"
latest error | has "does-not-exist" || fail "failed job has no error text"
pass "failed backup recorded with its error"

obctl recover --point latest --target "$WORK/r" > /dev/null
[ "$(latest type)" = Recovery ] && [ "$(latest state)" = Completed ] || fail "recovery job"
id=$(latest id)
obctl job show "${id:0:6}" | has "state: Completed" || fail "job show by prefix"
pass "recovery recorded; job show by id prefix"

# obctl's recoveries keep the failed-files log the engine's keep: a folder
# above the item became a link since the backup, so the item is refused.
mkdir -p "$WORK/docs/sub" "$WORK/elsewhere"
echo secret > "$WORK/docs/sub/x"
obctl backup start --include "$WORK/docs" > /dev/null
rm -r "$WORK/docs/sub"
ln -s "$WORK/elsewhere" "$WORK/docs/sub"
rc=0; obctl recover --point latest --item "$WORK/docs/sub/x" > /dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a refused item must exit 1, got $rc"
[ "$(latest type)" = Recovery ] && [ "$(latest state)" = Failed ] || fail "recovery job $(latest state)"
log=$(latest failed_files_log)
[[ "$(basename "$log")" == LastRecoveryFailedFiles-$(latest id).txt ]] || fail "recovery failed-files log name '$log'"
grep -qP "^-\t$WORK/docs/sub/x\t.*never follows links" "$log" || fail "the refused item is not listed: $(cat "$log")"
[ -z "$(ls -A "$WORK/elsewhere")" ] || fail "the recovery wrote through the link"
pass "obctl recover lists its failed files in LastRecoveryFailedFiles-<job>.txt"

obctl verify > /dev/null
[ "$(latest type)" = Verify ] && [ "$(latest state)" = Completed ] || fail "verify job $(latest type) $(latest state)"
obctl prune --keep-last 100 > /dev/null
[ "$(latest type)" = Prune ] && [ "$(latest state)" = Completed ] || fail "prune job $(latest type) $(latest state)"
obctl repair --dry-run > /dev/null
[ "$(latest type)" = Repair ] && [ "$(latest state)" = Completed ] || fail "repair job $(latest type) $(latest state)"
n=$(obctl --json job list --last 100 | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
obctl prune --help > /dev/null
obctl recover --help > /dev/null
expect_fail "" obctl prune --weekly 4
[ "$(obctl --json job list --last 100 | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")" = "$n" ] ||
  fail "help or a usage error recorded a job"
pass "verify, prune and repair are recorded jobs; help and bad options record none"

for i in $(seq 1 40); do head -c 1000000 /dev/urandom > "$SRC/g$i.bin"; done
"$OBCTL" backup start --include "$SRC" > /dev/null 2>&1 &
pid=$!
# Kill it as soon as its record says InProgress.
for _ in $(seq 1 500); do
  grep -qs '"state": "InProgress"' "$WORK"/state/jobs/*.json && break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || fail "the backup ended before it could be killed"
wait "$pid" 2>/dev/null || true
[ "$(latest state)" = Failed ] || fail "killed job shows $(latest state)"
latest error | has interrupted || fail "killed job not marked interrupted"
pass "a killed job shows as interrupted"

# The post-backup script (AfterBackup) and the engine log's message IDs.
mkdir -p "$WORK/state/scripts"
cat > "$WORK/state/scripts/AfterBackup" <<SCRIPT
#!/bin/sh
echo "\$OBAGENT_JOB_STATE \$OBAGENT_RECOVERY_POINT" > "$WORK/after-backup.ran"
SCRIPT
chmod 755 "$WORK/state/scripts/AfterBackup"
rm -f "$SRC"/g*.bin
obctl backup start --include "$SRC" > /dev/null
grep -q "^Completed $(latest recovery_point)$" "$WORK/after-backup.ran" || fail "AfterBackup did not run with the job's details"
LOG=$WORK/state/logs/cbengine.log
grep -q "\[5035\] Backup Completed" "$LOG" || fail "no 5035 in the engine log"
grep -q "\[5040\] Post-backup script" "$LOG" || fail "no 5040 in the engine log"
grep -q "\[5041\] Post-backup script finished.*exit code 0" "$LOG" || fail "no 5041 result"
rm "$WORK/after-backup.ran"
expect_fail "" obctl backup start --include "$WORK/does-not-exist"
[ ! -e "$WORK/after-backup.ran" ] || fail "AfterBackup ran after a failed backup"
chmod 777 "$WORK/state/scripts/AfterBackup"
obctl backup start --include "$SRC" > /dev/null 2>&1
[ ! -e "$WORK/after-backup.ran" ] || fail "a world-writable AfterBackup script was run"
pass "AfterBackup runs after a successful backup only, if safe; log has 5035/5040/5041"
