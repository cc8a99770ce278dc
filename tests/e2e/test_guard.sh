#!/usr/bin/env bash
# ctest: every vault backend
# The Security PIN, retention floors and the immutable vault, with the real
# vaultd (local-folder or Azure backend, per VAULT_BACKEND) and obctl:
#  - the retention is registered with vaultd; MARS's minimums are enforced
#    (0x29834); a reduction needs a PIN from obctl vault security-pin, which
#    works once; a missing or wrong one is 100130 with its explanation and
#    action, and changes nothing;
#  - a prune keeps points younger than the floor (held) and removes them
#    once they are older;
#  - a passphrase change needs the PIN; with it the data still restores and
#    verifies;
#  - stop protection with delete data, removing a machine, purging early
#    and turning soft delete off need the PIN; the first two are soft (the
#    administrator undeletes, the points restore byte for byte);
#  - an immutable vault (irreversible, said so) refuses every cut, PIN or
#    not.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
vaultd_machine guard
pin() { obctl --json vault security-pin prod "${ADMIN[@]}" | json_field pin; }
registered() { curl -sf "${AUTH[@]}" "$URL/v1/machine/retention" | python3 -c 'import json,sys; r=json.load(sys.stdin)["retention"]; print(r and r["daily_days"])'; }
# refused OUT ID: obctl failed with the catalogue ID, its explanation and action.
refused() {
  grep -qF "[$2]" "$1" || fail "no [$2] in: $(cat "$1")"
  grep -q "what to do" "$1" || fail "no action in: $(cat "$1")"
}

SRC=$WORK/data/src
COPIES=$WORK/copies
mkdir -p "$SRC" "$COPIES"

# --- Retention registration, minimums, reductions with the PIN -------------
obctl policy new --include "$SRC" --days Mon --times 21:00 --daily 30 --weekly 8 > /dev/null ||
  fail "policy new"
[ "$(registered)" = 30 ] || fail "the policy's retention was not registered: $(registered)"
obctl policy set-retention --weekly 2 > "$WORK/out" 2>&1 && fail "weekly 2 accepted"
refused "$WORK/out" 0x29834
obctl policy set-retention --daily 10 > "$WORK/out" 2>&1 && fail "a reduction without the PIN"
refused "$WORK/out" 100130
grep -q "Security PIN" "$WORK/out" || fail "no explanation: $(cat "$WORK/out")"
obctl policy set-retention --daily 10 --pin 00000000 > "$WORK/out" 2>&1 && fail "a wrong PIN"
refused "$WORK/out" 100130
[ "$(registered)" = 30 ] || fail "a refused reduction changed the vault's retention"
has '"daily_days": *30' <<<"$(obctl --json policy show)" || fail "a refused reduction changed the policy"
PIN=$(pin)
[[ "$PIN" =~ ^[0-9]{8}$ ]] || fail "not an 8-digit PIN: $PIN"
has "Valid until" <<<"$(obctl vault security-pin prod "${ADMIN[@]}")" || fail "security-pin text"
PIN=$(pin)
obctl policy set-retention --daily 7 --weekly 4 --pin "$PIN" > "$WORK/out" 2>&1 || fail "reduction with the PIN: $(cat "$WORK/out")"
[ "$(registered)" = 7 ] || fail "the reduction did not reach the vault"
obctl policy set-retention --daily 7 --weekly 0 --pin "$PIN" > "$WORK/out" 2>&1 && fail "a PIN used twice"
refused "$WORK/out" 100130
obctl policy set-retention --daily 14 > /dev/null || fail "an increase needs no PIN"
pass "retention registered; minimums and reductions without a valid PIN refused (0x29834, 100130)"

# --- Prune holds points younger than the floor ------------------------------
echo one > "$SRC/note.txt"; head -c 300000 /dev/urandom > "$SRC/a.bin"
backup_point
rm "$SRC/a.bin"; echo two >> "$SRC/note.txt"; head -c 300000 /dev/urandom > "$SRC/b.bin"
backup_point
echo three >> "$SRC/note.txt"
backup_point
ALL=$(printf '%s\n' "${POINTS[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
obctl --json prune --keep-last 1 > "$WORK/prune.json" || fail "prune: $(cat "$WORK/prune.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["held_points"])==2 and not r["removed_points"], r' "$WORK/prune.json" ||
  fail "prune of young points: $(cat "$WORK/prune.json")"
[ "$(point_ids)" = "$ALL" ] || fail "a prune removed points younger than the floor"
has -F "2 point(s) kept: the vault holds them" <<<"$(obctl prune --keep-last 1)" || fail "prune's text"
# A direct DELETE of a young point: refused naming the floor.
LEASE=$(curl -sf -X POST "${AUTH[@]}" -H 'Content-Type: application/json' \
  --data '{"holder":"attacker","ttl_seconds":30}' "$URL/v1/lease" | json_field lease_id)
code=$(curl -s -o "$WORK/del.out" -w '%{http_code}' -X DELETE "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  "$URL/v1/objects/snapshots/${POINTS[0]}")
[ "$code" = 403 ] && grep -q RetentionFloorProtected "$WORK/del.out" || fail "DELETE of a young point: $code $(cat "$WORK/del.out")"
curl -sf -X DELETE "${AUTH[@]}" "$URL/v1/lease/$LEASE" > /dev/null
for id in "${POINTS[@]}"; do restores_identical "$id"; done
pass "prune keeps the points younger than the floor (held), a DELETE of one is refused"

# --- Passphrase change -------------------------------------------------------
printf 'a new passphrase for the guard test' > "$WORK/newpass"
obctl passphrase change --new-passphrase-file "$WORK/newpass" > "$WORK/out" 2>&1 && fail "passphrase change without the PIN"
refused "$WORK/out" 100130
restores_identical "${POINTS[2]}"
obctl passphrase change --new-passphrase-file "$WORK/newpass" --pin "$(pin)" > "$WORK/out" 2>&1 ||
  fail "passphrase change with the PIN: $(cat "$WORK/out")"
restores_identical "${POINTS[0]}"
obctl verify > "$WORK/verify.out" 2>&1 || fail "verify after the passphrase change: $(cat "$WORK/verify.out")"
pass "a passphrase change needs the PIN; with it every point restores and the vault verifies"

# --- Stop protection and delete data ----------------------------------------
BEFORE_STOP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
obctl policy remove --delete-data > "$WORK/out" 2>&1 && fail "delete data without the PIN"
refused "$WORK/out" 100130
obctl policy show > /dev/null || fail "a refused stop protection removed the policy"
[ "$(point_ids)" = "$ALL" ] || fail "a refused stop protection deleted points"
obctl policy remove --delete-data --pin "$(pin)" > "$WORK/out" 2>&1 || fail "stop protection: $(cat "$WORK/out")"
obctl policy show > /dev/null 2>&1 && fail "the policy is still there"
[ -z "$(point_ids)" ] || fail "points left after delete data: $(point_ids)"
obctl vault undelete prod "$MACHINE" --since "$BEFORE_STOP" "${ADMIN[@]}" > /dev/null || fail "undelete"
[ "$(point_ids)" = "$ALL" ] || fail "after the undelete: $(point_ids)"
for id in "${POINTS[@]}"; do restores_identical "$id"; done
pass "stop protection with delete data needs the PIN, is soft, and the administrator undoes it"

# --- Removing a machine, purging early, soft delete off ---------------------
obctl vault remove-machine prod "$MACHINE" --pin 99999999 "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "remove with a wrong PIN"
refused "$WORK/out" 100130
obctl recovery list > /dev/null || fail "a refused removal removed the machine"
BEFORE_REMOVE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1
obctl --json vault remove-machine prod "$MACHINE" --pin "$(pin)" "${ADMIN[@]}" > "$WORK/out" ||
  fail "remove-machine: $(cat "$WORK/out")"
obctl recovery list > /dev/null 2>&1 && fail "the removed machine's token still works"
has -F "${POINTS[0]}" <<<"$(obctl --json vault deleted prod "$MACHINE" "${ADMIN[@]}")" || fail "removed data not listed"
obctl register --vault-credentials "$WORK/creds.xml" --passphrase-file "$WORK/newpass" > /dev/null ||
  fail "registering the removed machine again"
obctl vault undelete prod "$MACHINE" --since "$BEFORE_REMOVE" "${ADMIN[@]}" > /dev/null || fail "undelete"
[ "$(point_ids)" = "$ALL" ] || fail "after re-registering and undeleting: $(point_ids)"
restores_identical "${POINTS[1]}"
obctl vault purge-deleted prod "$MACHINE" --pin 12345678 "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "purge with a wrong PIN"
refused "$WORK/out" 100130
obctl vault purge-deleted prod "$MACHINE" --pin "$(pin)" "${ADMIN[@]}" > /dev/null || fail "purge-deleted"
obctl vault set prod --soft-delete-days 0 "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "soft delete off without the PIN"
refused "$WORK/out" 100130
has '"soft_delete_days": *0' <<<"$(obctl --json vault set prod --soft-delete-days 0 --pin "$(pin)" "${ADMIN[@]}")" ||
  fail "soft delete off with the PIN"
obctl vault set prod --soft-delete-days 30 "${ADMIN[@]}" > /dev/null || fail "soft delete back on needs no PIN"
obctl --json vault alerts prod "${ADMIN[@]}" > "$WORK/alerts.json" || fail "vault alerts"
obctl --json vault audit "${ADMIN[@]}" > "$WORK/audit.json" || fail "vault audit"
python3 -c '
import json, sys
kinds = {a["kind"] for a in json.load(open(sys.argv[1]))["alerts"]}
assert {"critical_operation", "pin_used"} <= kinds, kinds
actions = [e["action"] for e in json.load(open(sys.argv[2]))["entries"]]
for want in ("critical.security-pin-generated", "critical.machine-removed", "critical.purged-early",
             "security_pin.check"):
    assert want in actions, (want, actions)
' "$WORK/alerts.json" "$WORK/audit.json" || fail "alerts/audit of the critical operations: $(cat "$WORK/alerts.json" "$WORK/audit.json")"
pass "removing a machine (soft), purging early and turning soft delete off need the PIN; each is alerted and audited"

# --- Immutable vault ----------------------------------------------------------
obctl vault set prod --immutable "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "immutable without the confirmation"
grep -q "cannot be made mutable again" "$WORK/out" && grep -q -- "--yes-irreversible" "$WORK/out" ||
  fail "the irreversibility is not said: $(cat "$WORK/out")"
has '"immutable":false' <<<"$(curl -sf -H "Authorization: Bearer $(cat "$VSTATE/admin.token")" "$URL/v1/vaults/prod/settings")" ||
  fail "immutable set without the confirmation"
has immutable <<<"$(obctl vault set prod --immutable --yes-irreversible "${ADMIN[@]}")" || fail "vault set --immutable"
obctl policy new --include "$SRC" --days Mon --times 21:00 --daily 14 --weekly 4 > /dev/null ||
  fail "policy new (the same retention)"
obctl policy set-retention --daily 7 --pin "$(pin)" > "$WORK/out" 2>&1 && fail "reduction on an immutable vault"
refused "$WORK/out" ImmutableVault
obctl vault set prod --soft-delete-days 14 --pin "$(pin)" "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "shorter soft delete"
refused "$WORK/out" ImmutableVault
obctl vault purge-deleted prod "$MACHINE" --pin "$(pin)" "${ADMIN[@]}" > "$WORK/out" 2>&1 && fail "purge on an immutable vault"
refused "$WORK/out" ImmutableVault
obctl policy remove --delete-data --pin "$(pin)" > "$WORK/out" 2>&1 && fail "delete data on an immutable vault"
refused "$WORK/out" ImmutableVault
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $(cat "$VSTATE/admin.token")" \
  -H "X-Obagent-Security-Pin: $(pin)" --data '{"immutable":false}' "$URL/v1/vaults/prod/settings")
[ "$code" = 403 ] || fail "the vault was made mutable again: HTTP $code"
obctl policy set-retention --daily 30 > /dev/null || fail "longer retention on an immutable vault"
[ "$(point_ids)" = "$ALL" ] || fail "points lost: $(point_ids)"
pass "an immutable vault (said irreversible) refuses every cut, even with the PIN"
