#!/usr/bin/env bash
# obctl's help and global options: every command of the table answers
# --help with its summary and every option it parses, described, and does
# nothing else (exit 0, no job record, no state folder created, no engine or
# vault contact); group help lists a group's commands; --json and
# --state-dir work anywhere on the line; an unknown command is a usage error.
source "$E2E_LIB"

ROOT=$(cd "$HERE/../.." && pwd)
ABSENT=$WORK/absent-state   # never created
EMPTY=$WORK/empty-state     # stays empty
mkdir -p "$EMPTY"
export OBAGENT_STATE_DIR=$ABSENT

# The commands obctl --help lists: its table.
top=$(obctl --help) || fail "obctl --help failed"
! grep -q '^<<<<<<<\|^=======\|^>>>>>>>' <<<"$top" || fail "merge-conflict markers in obctl --help"
mapfile -t COMMANDS < <(sed -n '/^Commands:/,/^$/p' <<<"$top" | grep -oP '^  \K[a-z-]+( [a-z-]+)?(?=( {2,}|$))')
[ "${#COMMANDS[@]}" -ge 30 ] || fail "obctl --help lists only ${#COMMANDS[@]} commands: $top"

# What each command parses, read from its source (the OptionSet it declares,
# helpers such as AddSourceOptions expanded): the test does not trust the
# help text to name them.
declared=$(python3 - "$ROOT/src/cli" <<'EOF'
import glob, re, sys
src = {f: open(f).read() for f in glob.glob(sys.argv[1] + "/*.cc")}
text = "\n".join(src.values())
def names(block):
    out = []
    for m in re.finditer(r'\.Add\("([a-z-]+)"[^;]*;', block):
        if ".Hidden()" not in m.group(0):
            out.append(m.group(1))
    # Options declared from a table: {"name", "description"} pairs.
    out += re.findall(r'\{"([a-z-]+)",\s*"[^"]', block)
    return out
# Helpers that add options: void AddXxx(OptionSet& options, ...) { ... }
helpers = {}
for m in re.finditer(r'void (Add[A-Za-z]+)\(OptionSet& options[^)]*\) \{(.*?)\n\}', text, re.S):
    helpers[m.group(1)] = names(m.group(2))
for m in re.finditer(r'OptionSet options\((?:paused \? )?"([a-z -]+)"(?: : "([a-z -]+)")?\);(.*?)ParseOptions\(',
                     text, re.S):
    block = m.group(3)
    opts = names(block)
    for h in re.findall(r'\b(Add[A-Za-z]+)\(options', block):
        opts += helpers.get(h, [])
    for cmd in filter(None, (m.group(1), m.group(2))):
        print(cmd + "\t" + " ".join(sorted(set(opts))))
EOF
)
[ "$(wc -l <<<"$declared")" -ge 30 ] || fail "option scan found too few commands: $declared"

for cmd in "${COMMANDS[@]}"; do
  # shellcheck disable=SC2086
  for dir in "$ABSENT" "$EMPTY"; do
    out=$(obctl --state-dir "$dir" $cmd --help 2> "$WORK/err") || fail "obctl $cmd --help failed: $(cat "$WORK/err")"
    [ ! -s "$WORK/err" ] || fail "obctl $cmd --help wrote to stderr: $(cat "$WORK/err")"
    [ ! -e "$ABSENT" ] || fail "obctl $cmd --help created the state folder"
    [ -z "$(ls -A "$EMPTY")" ] || fail "obctl $cmd --help wrote into the state folder: $(ls -A "$EMPTY")"
  done
  grep -q "^usage: obctl $cmd " <<<"$out" || fail "obctl $cmd --help: no usage line: $out"
  summary=$(grep -P "^  \Q$cmd\E( {2,}|$)" <<<"$top" -A1 | sed -n '1s/^  [a-z -]*[a-z]  *//p;2s/^ *//p' | sed -n 1p)
  grep -qF -- "$summary" <<<"$out" || fail "obctl $cmd --help lacks its summary '$summary'"
  # Every option line is described (on its line, or the next one for a long name).
  python3 -c '
import re, sys
lines = sys.stdin.read().split("\n")
for i, l in enumerate(lines):
    if l.startswith("  --") and not re.match(r"  --\S+.*?\s{2,}\S", l):
        if i + 1 >= len(lines) or not re.match(r" {20,}\S", lines[i + 1]):
            sys.exit("option without a description: " + l)
' <<<"$out" || fail "obctl $cmd --help: $out"
  opts=$(awk -F'\t' -v c="$cmd" '$1 == c {print $2}' <<<"$declared")
  grep -qP "^\Q$cmd\E\t" <<<"$declared" || fail "obctl $cmd: no OptionSet found in src/cli"
  for o in $opts; do
    grep -qP "^  --\Q$o\E\b" <<<"$out" || fail "obctl $cmd --help does not list --$o: $out"
  done
  # -h is --help; --help after other options too.
  obctl --state-dir "$ABSENT" $cmd -h > /dev/null || fail "obctl $cmd -h failed"
  obctl $cmd --bogus-option --help --state-dir "$ABSENT" > /dev/null ||
    fail "obctl $cmd --bogus --help did not print help"
  [ ! -e "$ABSENT" ] || fail "obctl $cmd -h created the state folder"
done
# Every command with an OptionSet is in the table.
while IFS=$'\t' read -r cmd _; do
  printf '%s\n' "${COMMANDS[@]}" | has -xF "$cmd" || fail "'$cmd' has options but is not in obctl --help"
done <<<"$declared"
pass "every command's --help: usage, summary, every option described; nothing else done (${#COMMANDS[@]} commands)"

# Group help: the group's commands and their summaries, nothing else.
for group in vault backup job engine console recovery policy machine-setting passphrase; do
  out=$(obctl --state-dir "$ABSENT" "$group" --help) || fail "obctl $group --help failed"
  grep -q "^usage: obctl $group COMMAND" <<<"$out" || fail "obctl $group --help: $out"
  for cmd in "${COMMANDS[@]}"; do
    if [ "${cmd%% *}" = "$group" ]; then
      grep -qP "^  \Q$cmd\E( |$)" <<<"$out" || fail "obctl $group --help lacks $cmd"
    else
      ! grep -qP "^  \Q$cmd\E( |$)" <<<"$out" || fail "obctl $group --help lists $cmd"
    fi
  done
  rc=0; obctl --state-dir "$ABSENT" "$group" > /dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "obctl $group without a command: exit $rc, not 2"
done
[ ! -e "$ABSENT" ] || fail "group help created the state folder"
pass "obctl GROUP --help lists the group's commands"

# Unknown commands and options: a clear usage error (exit 2).
for words in "nosuch" "backup nosuch" "recovery"; do
  rc=0; err=$(obctl $words 2>&1 > /dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "obctl $words: exit $rc, not 2"
  grep -q "obctl: unknown command '$words'\|obctl: '$words' needs a command" <<<"$err" ||
    fail "obctl $words: unclear error: $err"
done
rc=0; err=$(obctl recovery list --bogus 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "unrecognised option '--bogus'" <<<"$err" || fail "unknown option: $rc $err"
rc=0; obctl recovery list --state-dir 2> /dev/null || rc=$?
[ "$rc" = 2 ] || fail "--state-dir without a folder: exit $rc"
[ ! -e "$ABSENT" ] || fail "a usage error created the state folder"
pass "unknown commands and options are usage errors"

# Global options anywhere on the line.
export OBAGENT_STATE_DIR=$WORK/state
SRC=$WORK/data
mkdir -p "$SRC"; printf 'hello' > "$SRC/a.txt"
setup_vault
obctl backup start --include "$SRC" --json > "$WORK/backup.json"
json_field ok < "$WORK/backup.json" | has -x True || fail "backup start --json: $(cat "$WORK/backup.json")"
before=$(obctl --json recovery list)
after=$(obctl recovery list --json)
[ "$before" = "$after" ] || fail "--json after the command differs: $before / $after"
[ "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))' <<<"$after")" = 1 ] ||
  fail "recovery list --json: $after"
export OBAGENT_STATE_DIR=$ABSENT  # --state-dir must win wherever it is
a=$(obctl recovery list --state-dir "$WORK/state" --json)
b=$(obctl --state-dir="$WORK/state" --json recovery list)
c=$(obctl recovery --json list --state-dir "$WORK/state")
[ "$a" = "$before" ] && [ "$b" = "$before" ] && [ "$c" = "$before" ] ||
  fail "--state-dir after the command: $a / $b / $c"
# --json applies to errors too, wherever it is.
rc=0; out=$(obctl recovery items --point nosuchpoint --state-dir "$WORK/state" --json) || rc=$?
[ "$rc" = 1 ] && json_field ok <<<"$out" | grep -qx False || fail "JSON error: $rc $out"
# After "--" every word is the command's.
rc=0; err=$(obctl --state-dir "$WORK/state" recovery items --point latest -- --json 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -qF "'--json' is not in the recovery point" <<<"$err" || fail "-- did not end the global options: $rc $err"
pass "--json and --state-dir anywhere on the line"
