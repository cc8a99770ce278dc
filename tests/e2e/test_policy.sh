#!/usr/bin/env bash
# The backup policy (New-OBPolicy & co.) drives scheduled backups: its
# selection, its retention, pause and resume, and the OS schedule files.
source "$E2E_LIB"

SRC=$WORK/data
mkdir -p "$SRC/docs/deep" "$SRC/logs"
printf 'a' > "$SRC/docs/a.txt"; printf 'd' > "$SRC/docs/deep/d.txt"
printf 'l' > "$SRC/logs/app.log"; printf 't' > "$SRC/top.txt"
setup_vault
count_points() { obctl --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))'; }

# Invalid policies are refused with a precise message.
expect_fail "between 7 and 9999" obctl policy new --include "$SRC" --days Mon --times 21:00 --daily 3
expect_fail "at most 3" obctl policy new --include "$SRC" --days Mon --times 01:00,02:00,03:00,04:00 --daily 7
expect_fail "under no included" obctl policy new --include "$SRC/docs" --exclude /etc --days Mon --times 01:00 --daily 7
expect_fail "no backup policy" obctl backup scheduled
pass "invalid policies refused with precise messages"

obctl policy new --include "$SRC" --exclude "$SRC/logs" --days Sun,Mon,Tue,Wed,Thu,Fri,Sat \
  --times 21:30,03:00 --daily 7 --weekly 4 > /dev/null
obctl policy add-filespec --exclude "$SRC/docs" --non-recursive > /dev/null
obctl backup scheduled > /dev/null
items=$(obctl recovery items --point latest "$SRC")
grep -q 'top.txt' <<<"$items" || fail "included file missing"
! grep -qP '\tlogs$' <<<"$items" || fail "excluded folder backed up"
docs=$(obctl recovery items --point latest "$SRC/docs")
! grep -q 'a.txt' <<<"$docs" || fail "non-recursive exclude kept a file of the folder"
obctl recovery items --point latest "$SRC/docs/deep" | has 'd.txt' || fail "non-recursive exclude went deeper"
pass "scheduled backup follows the policy's selection"

obctl policy pause > /dev/null
before=$(count_points)
obctl backup scheduled > /dev/null
[ "$(count_points)" = "$before" ] || fail "a paused policy backed up"
obctl policy resume > /dev/null
obctl backup scheduled > /dev/null
[ "$(count_points)" -gt "$before" ] || fail "resumed policy did not back up"
pass "pause and resume"

obctl policy schedule-files --out "$WORK/sched" > /dev/null
grep -q 'OnCalendar=.*21:30:00' "$WORK/sched/obagent-backup.timer" || fail "timer unit"
grep -q 'Persistent=true' "$WORK/sched/obagent-backup.timer" || fail "missed runs not caught up"
iconv -f UTF-16 -t UTF-8 "$WORK/sched/obagent-OnlineBackup.xml" | has '<StartWhenAvailable>true' \
  || fail "task XML"
if command -v systemd-analyze > /dev/null; then
  systemd-analyze verify "$WORK/sched/obagent-backup.timer" "$WORK/sched/obagent-backup.service" 2>&1 \
    | grep -v 'Unit .* not found\|obctl' | has -i 'unknown' && fail "systemd-analyze rejects the units"
fi
pass "schedule files for Task Scheduler and systemd"

obctl policy remove > /dev/null
expect_fail "no backup policy" obctl backup scheduled
pass "policy removed"
