#!/usr/bin/env bash
# ctest: every vault backend
# A compromised protected server (issue 13), with the real binaries and
# either backend (VAULT_BACKEND: local folder, or Azure = Azurite). The
# attacker holds root on the server: the agent's state (its machine token),
# the key file in scratch and the passphrase. With only that it:
#  - deletes every object the machine can list (vaultd's object API);
#  - writes garbage over every pack;
#  - prunes with the smallest retention (obctl prune --keep-last 1).
# Everything is refused or soft, and the administrator hears of it: the mass
# deletion alert arrives by e-mail (a real SMTP server with STARTTLS) and by
# a signed webhook. The administrator then undeletes everything deleted
# since the attack began, and every recovery point restores byte for byte,
# the vault verifies.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
start_alert_sinks
# A mass deletion here is a dozen objects (vaultd's default: 50, half of the
# machine's objects, within an hour).
vaultd_machine compromised "${ALERT_ARGS[@]}" --alerts-smtp-ca-file "$WORK/smtp.pem" --mass-delete-min 5

SRC=$WORK/data/src
COPIES=$WORK/copies # the source as each recovery point saw it, by point id
mkdir -p "$SRC" "$COPIES"

# Three points over a changing tree.
make_tricky_tree "$SRC"
backup_point
head -c 3000000 /dev/urandom > "$SRC/second.bin"
echo two >> "$SRC/text.txt"
backup_point
rm "$SRC/random.bin"
head -c 3000000 /dev/urandom > "$SRC/third.bin"
backup_point
ALL=$(printf '%s\n' "${POINTS[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$(point_ids)" = "$ALL" ] || fail "three points expected: $(point_ids)"
obj_list "" | sort > "$WORK/objects-before"
[ "$(grep -c '^data/' "$WORK/objects-before")" -ge 2 ] || fail "too few packs: $(cat "$WORK/objects-before")"
ATTACK_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 1

# --- The attack ----------------------------------------------------------------
# Garbage over every pack: refused (write-once), the pack unchanged.
head -c 4096 /dev/urandom > "$WORK/garbage"
while read -r key; do
  obj_get "$key" > "$WORK/orig" || fail "GET $key"
  code=$(leased_status -X PUT --data-binary "@$WORK/garbage" "$URL/v1/objects/$key")
  [ "$code" = 409 ] || fail "garbage over $key: HTTP $code $(cat "$WORK/http.out")"
  obj_get "$key" | cmp -s - "$WORK/orig" || fail "$key changed"
done < <(grep '^data/' "$WORK/objects-before")
pass "garbage over every pack is refused; every pack is unchanged"

# A prune with the smallest retention, then a DELETE of every object.
obctl --json prune --keep-last 1 > "$WORK/prune.json" 2>&1 || true
declare -A CODES=()
while read -r key; do
  code=$(leased_status -X DELETE "$URL/v1/objects/$key")
  CODES[$code]=$((${CODES[$code]:-0} + 1))
  case $code in
    204 | 403 | 409 | 423) ;;
    *) fail "DELETE $key: HTTP $code $(cat "$WORK/http.out")" ;;
  esac
done < "$WORK/objects-before"
echo "attacker's deletes: $(for c in "${!CODES[@]}"; do printf '%s×%s ' "${CODES[$c]}" "$c"; done)"
# Whatever the machine now sees, the bytes are all still in the storage.
if [ "$BACKEND" = local ]; then
  while read -r key; do
    [ -f "$VSTATE/data/machines/$MID/$key" ] || fail "the bytes of $key are gone from the storage"
  done < "$WORK/objects-before"
fi
purge=$(curl -sf -X POST -H "Authorization: Bearer $(cat "$VSTATE/admin.token")" "$URL/v1/deleted/purge")
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["purged"]==0, r' "$purge" ||
  fail "the collector purged fresh deletes: $purge"
pass "prune with the smallest retention and a DELETE of every object: all soft or refused"
wait_for "the mass_deletion e-mail" "$MAIL_WITH" "$WORK/mail" "$MACHINE"
wait_for "the mass_deletion webhook" "$HOOK_WITH" "$WORK/hooks" mass_deletion
obctl --json vault alerts prod "${ADMIN[@]}" > "$WORK/alerts.json" || fail "vault alerts"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["alerts"]; assert any(x["kind"]=="mass_deletion" for x in a), a' \
  "$WORK/alerts.json" || fail "no mass_deletion alert: $(cat "$WORK/alerts.json")"
pass "the administrator is told: mass_deletion by e-mail and by signed webhook"

# The attacker's other ways: a passphrase change (locks the owner out of
# the data) and the machine's removal, without the Security PIN.
printf 'attacker passphrase 1234567\n' > "$WORK/evil"
rc=0; obctl passphrase change --new-passphrase-file "$WORK/evil" > "$WORK/pp.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && has -F 100130 "$WORK/pp.out" || fail "passphrase change without the PIN: $rc $(cat "$WORK/pp.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${AUTH[@]}" "$URL/v1/vaults/prod/machines/$MACHINE")
[ "$code" = 401 ] || fail "the machine token removed the machine: HTTP $code"
rc=0; obctl vault remove-machine prod "$MACHINE" --pin 00000000 "${ADMIN[@]}" > "$WORK/rm.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && has -F 100130 "$WORK/rm.out" || fail "remove-machine with a wrong PIN: $rc $(cat "$WORK/rm.out")"
pass "passphrase change and machine removal without the Security PIN: refused [100130]"
wait_for "the critical PIN alert by e-mail" "$MAIL_WITH" "$WORK/mail" "Security PIN check failed"
wait_for "the PIN alert by webhook" "$HOOK_WITH" "$WORK/hooks" pin_used

# --- The administrator recovers -------------------------------------------------
obctl --json vault undelete prod "$MACHINE" --since "$ATTACK_START" "${ADMIN[@]}" > "$WORK/undelete.json" ||
  fail "undelete: $(cat "$WORK/undelete.json")"
[ "$(point_ids)" = "$ALL" ] || fail "after the undelete: $(point_ids)"
# Every object of before the attack is back (the prune may have added some).
missing=$(comm -23 "$WORK/objects-before" <(obj_list "" | sort))
[ -z "$missing" ] || fail "objects missing after the undelete: $missing"
for id in "${POINTS[@]}"; do restores_identical "$id"; done
obctl verify > "$WORK/verify.out" 2>&1 || fail "verify after the undelete: $(cat "$WORK/verify.out")"
pass "the administrator undeletes: every point restores byte for byte, the vault verifies"
