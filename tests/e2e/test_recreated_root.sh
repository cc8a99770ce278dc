#!/usr/bin/env bash
# ctest: every vault backend
# MARS's "critical inconsistency": a protected top-level folder (an include
# root of the policy) deleted and recreated under the same name between two
# backups, through vaultd and the engine. The backup says so in its job
# record (obctl's output, --json, job list, the console's job details) and
# backs the new folder up in full: the point restores exactly the new
# content, none of the old. An ordinary backup, and a subfolder recreated
# below the root, say nothing.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"

vaultd_machine recreated
SRC=$WORK/data/protected
mkdir -p "$SRC/sub"
printf 'old a' > "$SRC/a.txt"
printf 'old b' > "$SRC/sub/b.txt"
printf 'only in the old folder' > "$SRC/old-only.txt"
obctl policy new --include "$SRC" --days Sun,Mon,Tue,Wed,Thu,Fri,Sat --times 00:30 --daily 7 > /dev/null
start_engine
MESSAGE="$SRC was deleted and recreated since the last backup; it was backed up in full"
job_summary() { # JOB-ID
  obctl --json job list | python3 -c '
import json, sys
print([j for j in json.load(sys.stdin)["jobs"] if j["id"] == sys.argv[1]][0]["summary"])' "$1"
}

job_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["id"])'; }

id=$(obctl --json backup now | job_id)
[ "$(job_summary "$id")" = "" ] || fail "the first backup has a summary: $(job_summary "$id")"
printf 'one more' > "$SRC/added.txt" # an ordinary change of the root
chmod 750 "$SRC"
rm -rf "$SRC/sub" && mkdir "$SRC/sub" && printf 'new b' > "$SRC/sub/b.txt"
id=$(obctl --json backup now | job_id)
[ "$(job_summary "$id")" = "" ] || fail "an ordinary backup says: $(job_summary "$id")"
obctl backup now > "$WORK/now.out" || fail "backup now: $(cat "$WORK/now.out")"
has "recreated" "$WORK/now.out" && fail "an ordinary backup's output mentions a recreated folder"
pass "ordinary backups (a file added, a subfolder recreated, the root's mode changed) say nothing"

# Deleted and recreated with other content, some of it under the old names.
rm -rf "$SRC"
mkdir -p "$SRC/sub"
printf 'NEW A, longer than before' > "$SRC/a.txt"
printf 'new b' > "$SRC/sub/b.txt"
printf 'only in the new folder' > "$SRC/new-only.txt"
obctl backup now > "$WORK/now.out" || fail "backup now: $(cat "$WORK/now.out")"
has -F "Backup job" "$WORK/now.out" || fail "backup now: $(cat "$WORK/now.out")"
has -F "$MESSAGE" "$WORK/now.out" || fail "obctl's output does not say it: $(cat "$WORK/now.out")"
has -F "Completed" "$WORK/now.out" || fail "not completed: $(cat "$WORK/now.out")"
id=$(obctl --json job list --last 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["id"])')
[ "$(job_summary "$id")" = "$MESSAGE" ] || fail "the job record's summary: $(job_summary "$id")"
pass "the recreated root is reported once in the job record and obctl's output"

# The next backup is ordinary again.
obctl backup now > /dev/null || fail "the backup after it"
obctl --json job list --last 1 | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
assert j["state"] == "Completed" and j["summary"] == "", j' || fail "the backup after it is not ordinary"
stop_engine

# The point restores exactly the new folder.
obctl recover --point latest --target "$WORK/r" > /dev/null || fail "recover"
compare_trees "$SRC" "$WORK/r$SRC" || fail "the restore differs from the new folder"
[ ! -e "$WORK/r$SRC/old-only.txt" ] || fail "a file of the old folder came back"
pass "the point restores exactly the new content, none of the old"

# Without the engine (obctl backup start in this process): the same line.
rm -rf "$SRC"
mkdir -p "$SRC"
printf 'third folder' > "$SRC/c.txt"
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field summary <<< "$out")" = "$MESSAGE" ] || fail "backup start --json: $out"
[ "$(json_field state <<< "$out")" = Completed ] || fail "backup start: $out"
rm -rf "$SRC"
mkdir -p "$SRC"
printf 'fourth folder' > "$SRC/d.txt"
obctl backup start --include "$SRC" | has -F "$MESSAGE" || fail "backup start's output does not say it"
obctl recover --point latest --target "$WORK/r2" > /dev/null || fail "recover"
compare_trees "$SRC" "$WORK/r2$SRC" || fail "the restore differs from the fourth folder"
pass "obctl backup start says it too (human and --json output)"
