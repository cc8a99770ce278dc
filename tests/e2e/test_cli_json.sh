#!/usr/bin/env bash
# obctl --json, every command against a real embedded vault (and, for the
# engine's and the administrator's commands, a real cbengine and vaultd):
# each output is one JSON object with "ok"; lists sit under a named field;
# every time is an ISO 8601 UTC string; a field has one type in every
# command; every field is documented in docs/json.md (tests/e2e/json_shapes.py
# checks these rules); every command of obctl's table is run.
source "$E2E_LIB"
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$WORK/json
mkdir -p "$OUT"
SRC=$WORK/data
mkdir -p "$SRC/sub"
for i in $(seq 1 5); do head -c 100000 /dev/urandom > "$SRC/f$i.bin"; done
printf 'hello' > "$SRC/sub/a.txt"

# j [--rc N] COMMAND WORDS... -- OPTIONS...: runs obctl --json COMMAND (its
# words, then options), its output in $OUT/<command>.json; a command whose
# file exists already keeps its first output. Exit codes other than 0 (or
# N) fail the test.
j() {
  local want=0
  if [ "$1" = --rc ]; then want=$2; shift 2; fi
  local words=() rc=0
  while [ $# -gt 0 ] && [ "$1" != -- ]; do words+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  local file="$OUT/${words[*]}.json"
  [ -e "$file" ] && file=$WORK/again.json
  obctl "${words[@]}" --json "$@" > "$file" 2> "$WORK/stderr" || rc=$?
  [ "$rc" = "$want" ] || fail "obctl ${words[*]} $*: exit $rc (want $want): $(cat "$file" "$WORK/stderr")"
}

j vault init -- --path "$WORK/vault"
j register -- --vault "$WORK/vault" --passphrase-file "$PASS_FILE"
j machine-setting show
j machine-setting set -- --work-day mon,tue --start-work-hour 09:00 --end-work-hour 17:00 \
  --work-hour-bandwidth 10MB/s --non-work-hour-bandwidth 20MB/s
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["throttle"]["work_days"] == [1, 2], d' \
  "$OUT/machine-setting set.json" || fail "work_days is not the list of day numbers"
j machine-setting set -- --no-throttle
j policy new -- --include "$SRC" --days all --times 21:30 --daily 7 \
  --recovery-test-days Sun --recovery-test-time 03:00
j policy show
j policy add-filespec -- --exclude "$SRC/sub"
j policy remove-filespec -- "$SRC/sub"
j policy set-schedule -- --days Mon,Fri --times 22:00
j policy set-retention -- --weekly 4
j policy set-recovery-test -- --days Sat --times 04:00 --sample 2
j policy pause
j backup scheduled   # paused: nothing to do, still an object
j policy resume
j policy schedule-files -- --out "$WORK/units"
j backup start -- --include "$SRC"
j backup start -- --include "$SRC"
j recovery list
j recovery items -- --point latest "$SRC"
j recover -- --point latest --target "$WORK/restored"
j recovery test -- --sample 2
j job list
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["id"])' "$OUT/job list.json")
j job show -- "$id"
j verify
j repair -- --dry-run
j prune -- --keep-last 1 --dry-run
j prune -- --keep-last 1
j passphrase change -- --new-passphrase-file "$PASS_FILE"
# A failure is an object too.
j --rc 1 recovery mount -- --point no-such-point "$WORK"
mv "$OUT/recovery mount.json" "$OUT/failure.json"
pass "embedded-vault commands ran with --json"

if { [ -c /dev/fuse ] && : 3<> /dev/fuse; } 2> /dev/null; then
  mkdir -p "$WORK/mnt"
  MOUNTS+=("$WORK/mnt")
  obctl --json recovery mount --point latest "$WORK/mnt" > "$OUT/recovery mount.json" 2> "$WORK/mount.err" &
  mpid=$!
  for _ in $(seq 1 200); do grep -q mounted "$OUT/recovery mount.json" && break; sleep 0.05; done
  grep -q mounted "$OUT/recovery mount.json" || fail "mount: $(cat "$WORK/mount.err")"
  j recovery unmount -- "$WORK/mnt"
  wait "$mpid" || fail "recovery mount exit code"
  pass "recovery mount's events and unmount are objects"
else
  SKIPPED_MOUNT=1
  echo "note: /dev/fuse not usable here; recovery mount/unmount not run"
fi

# The engine's commands.
start_engine
j engine status
j console url
j backup now
j backup now -- --no-wait
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job"]["id"])' "$WORK/again.json")
obctl --json job stop "$id" > "$OUT/job stop.json" 2> "$WORK/stderr" || true
stop_engine
j policy remove
pass "engine commands ran with --json"

# The administrator's commands against vaultd.
if [ -n "${VAULTD:-}" ]; then
  vaultd_backend json
  start_vaultd
  for _ in $(seq 1 100); do [ -s "$VSTATE/admin.token" ] && break; sleep 0.05; done
  j vault create -- json-vault "${ADMIN[@]}"
  j vault credentials -- json-vault --out "$WORK/creds.xml" "${ADMIN[@]}"
  OBAGENT_STATE_DIR=$WORK/state-vaultd "$OBCTL" register --vault-credentials "$WORK/creds.xml" \
    --passphrase-file "$PASS_FILE" > /dev/null || fail "register with vaultd"
  NAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["machine_name"])' "$WORK/state-vaultd/agent.json")
  j vault deleted -- json-vault "$NAME" "${ADMIN[@]}"
  j vault undelete -- json-vault "$NAME" --since 2026-01-01T00:00:00Z "${ADMIN[@]}"
  # An alert to list and acknowledge: a failed job the machine reports.
  TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$WORK/state-vaultd/agent.json")
  curl -sf -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"type":"Backup","state":"Failed","error":"for the JSON test"}' "$URL/v1/jobs" > /dev/null ||
    fail "reporting a failed job to vaultd"
  j vault alerts -- json-vault --all "${ADMIN[@]}"
  ALERT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["alerts"][0]["id"])' "$OUT/vault alerts.json")
  j vault alert-ack -- json-vault "$ALERT" "${ADMIN[@]}"
  j vault audit -- "${ADMIN[@]}"
  j vault anomalies -- json-vault --all "${ADMIN[@]}"
  # No backup was flagged here (test_anomaly.sh acknowledges a real one): the failure's shape.
  j --rc 1 vault anomaly-ack -- json-vault 000000000000001-abcdefabcdef "${ADMIN[@]}"
  pin() { obctl --json vault security-pin json-vault "${ADMIN[@]}" | json_field pin; }
  j vault security-pin -- json-vault "${ADMIN[@]}"
  j vault purge-deleted -- json-vault "$NAME" --pin "$(json_field pin < "$OUT/vault security-pin.json")" "${ADMIN[@]}"
  j vault set -- json-vault --soft-delete-days 0 --pin "$(pin)" "${ADMIN[@]}"
  j vault remove-machine -- json-vault "$NAME" --pin "$(pin)" "${ADMIN[@]}"
  stop_vaultd_backend
else
  SKIPPED_VAULTD=1
  echo "note: \$VAULTD not set; vault create/credentials not run"
fi

# Every command of the table ran (but those this machine cannot run).
mapfile -t COMMANDS < <(obctl --help | sed -n '/^Commands:/,/^$/p' |
  grep -oP '^  \K[a-z-]+( [a-z-]+)?(?=( {2,}|$))')
[ "${#COMMANDS[@]}" -ge 30 ] || fail "obctl --help lists only ${#COMMANDS[@]} commands"
for c in "${COMMANDS[@]}"; do
  [ -e "$OUT/$c.json" ] && continue
  case "$c" in
    "recovery mount" | "recovery unmount") [ -n "${SKIPPED_MOUNT:-}" ] && continue ;;
    "vault create" | "vault credentials" | "vault deleted" | "vault undelete" | "vault alerts" | \
      "vault alert-ack" | "vault audit" | "vault anomalies" | "vault anomaly-ack" | \
      "vault security-pin" | "vault set" | "vault remove-machine" | "vault purge-deleted")
      [ -n "${SKIPPED_VAULTD:-}" ] && continue ;;
  esac
  fail "obctl $c was not run with --json"
done
pass "every command of obctl's table ran"

python3 -B "$HERE/json_shapes.py" "$ROOT/docs/json.md" "$OUT" || fail "JSON shapes (above)"
pass "every output an object with ok, times ISO 8601 UTC, one type per field, all documented"

# The checker itself fails on what the rules forbid.
BAD=$WORK/bad
for case in '[{"id": "a"}]' '{"ok": true, "start_ns": 5}' '{"ok": true, "time": "2026-12-06 16:40"}' \
  '{"ok": true, "next_run": 1796575200}' '{"ok": true, "note": "2026-12-06T16:40:00"}' \
  '{"ok": true, "undocumented_field": 1}' '{"files": 3}'; do
  rm -rf "$BAD"; mkdir -p "$BAD"; printf '%s' "$case" > "$BAD/case.json"
  ! python3 -B "$HERE/json_shapes.py" "$ROOT/docs/json.md" "$BAD" > /dev/null || fail "the checker passed $case"
done
rm -rf "$BAD"; mkdir -p "$BAD"
printf '{"ok": true, "files": 3}' > "$BAD/a.json"; printf '{"ok": true, "files": ["x"]}' > "$BAD/b.json"
! python3 -B "$HERE/json_shapes.py" "$ROOT/docs/json.md" "$BAD" > /dev/null || fail "the checker passed two types of files"
pass "the checker refuses arrays, epochs, local times, times elsewhere, undocumented fields, type clashes"
