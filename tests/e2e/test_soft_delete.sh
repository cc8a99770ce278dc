#!/usr/bin/env bash
# ctest: every vault backend
# Write-once objects and soft deletes in vaultd, with the real binaries
# (local-folder or Azure backend, per VAULT_BACKEND; Azure = Azurite started
# here):
#  - a prune keeps the points younger than the retention floor (held);
#    once they are older, prunes with the smallest retention remove every
#    point they can:
#    the points are gone for the machine (recovery list, vaultd's object and
#    point lists), but their bytes stay in the storage and the collector
#    (run now) purges nothing younger than 14 days;
#  - the administrator lists the soft-deleted data (obctl vault deleted) and
#    undeletes by point and then since a time (obctl vault undelete): every
#    point restores byte for byte with obctl recover;
#  - a machine's PUT of garbage over a pack is refused (409, naming the key)
#    and the pack is unchanged; the same bytes again are accepted.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
vaultd_machine softdel

SRC=$WORK/data/src
COPIES=$WORK/copies   # the source as each recovery point saw it, by point id
mkdir -p "$SRC" "$COPIES"
vaultd_points() { # what vaultd lists for the machine
  curl -sf "${AUTH[@]}" "$URL/v1/recovery-points" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
now_utc() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# Three points; each backup drops the previous one's big file, so a prune
# deletes whole packs as well as the points.
head -c 2000000 /dev/urandom > "$SRC/a.bin"
echo one > "$SRC/note.txt"
backup_point
rm "$SRC/a.bin"; head -c 2000000 /dev/urandom > "$SRC/b.bin"; echo two >> "$SRC/note.txt"
backup_point
rm "$SRC/b.bin"; head -c 2000000 /dev/urandom > "$SRC/c.bin"; echo three >> "$SRC/note.txt"
backup_point
ALL=$(printf '%s\n' "${POINTS[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$(point_ids)" = "$ALL" ] || fail "three points expected: $(point_ids)"
curl -sf "${AUTH[@]}" "$URL/v1/objects?prefix=data/" |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["keys"]))' | sed '/^$/d' > "$WORK/packs-before"

# --- Prune everything possible --------------------------------------------
# The points are younger than the retention floor (7 days): a prune keeps
# them, held by vaultd; a week later (their upload times moved back) it
# removes them.
obctl --json prune --keep-last 1 > "$WORK/prune.json" || fail "prune: $(cat "$WORK/prune.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["held_points"])==2 and not r["removed_points"], r' "$WORK/prune.json" ||
  fail "prune of young points: $(cat "$WORK/prune.json")"
[ "$(point_ids)" = "$ALL" ] || fail "a prune removed points younger than the floor: $(point_ids)"
age_recovery_points 8
BEFORE_PRUNE=$(now_utc)
sleep 1
obctl --json prune --keep-last 1 > "$WORK/prune.json" || fail "prune: $(cat "$WORK/prune.json")"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r["removed_points"])==2, r' "$WORK/prune.json" ||
  fail "prune: $(cat "$WORK/prune.json")"
[ "$(point_ids)" = "${POINTS[2]}" ] || fail "after the prune: $(point_ids)"
[ "$(vaultd_points)" = 1 ] || fail "vaultd still lists the pruned points"
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/v1/objects/snapshots/${POINTS[0]}")
[ "$code" = 404 ] || fail "a pruned point is still readable: HTTP $code"
if [ "$BACKEND" = local ]; then
  [ -f "$VSTATE/data/machines/$MID/snapshots/${POINTS[0]}" ] || fail "the pruned point's bytes are gone"
fi
# The collector keeps what is younger than 14 days.
purge=$(curl -sf -X POST -H "Authorization: Bearer $(cat "$VSTATE/admin.token")" "$URL/v1/deleted/purge")
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["purged"]==0 and r["kept"]>=2, r' "$purge" ||
  fail "collector: $purge"
pass "prune with the smallest retention: the points are gone for the machine, their bytes kept"

# --- The administrator lists and undeletes ----------------------------------
obctl --json vault deleted prod "$MACHINE" "${ADMIN[@]}" > "$WORK/deleted.json" || fail "vault deleted"
python3 - "$WORK/deleted.json" "${POINTS[0]}" "${POINTS[1]}" << 'EOF' || fail "vault deleted: $(cat "$WORK/deleted.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(p["id"] for p in d["points"]) == sorted(sys.argv[2:4]), d
assert d["soft_delete_days"] == 14, d
assert any(o["key"].startswith("data/") for o in d["objects"]), d
EOF
obctl vault deleted prod "$MACHINE" "${ADMIN[@]}" | has -F "recovery point ${POINTS[0]}" || fail "vault deleted: no point listed"
# Without the admin token: refused.
code=$(curl -s -o /dev/null -w '%{http_code}' "${AUTH[@]}" "$URL/v1/vaults/prod/machines/$MACHINE/deleted")
[ "$code" = 401 ] || fail "a machine token listed deleted data: HTTP $code"

# By point: the first point and the data deleted with it.
obctl vault undelete prod "$MACHINE" --point "${POINTS[0]}" "${ADMIN[@]}" > "$WORK/undelete.out" ||
  fail "undelete --point: $(cat "$WORK/undelete.out")"
[ "$(point_ids)" = "$(printf '%s\n' "${POINTS[0]}" "${POINTS[2]}" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "after undelete --point: $(point_ids)"
restores_identical "${POINTS[0]}"
pass "undelete of a named point: it restores byte for byte"

# Since before the prune: everything.
obctl --json vault undelete prod "$MACHINE" --since "$BEFORE_PRUNE" "${ADMIN[@]}" > "$WORK/undelete.json" ||
  fail "undelete --since: $(cat "$WORK/undelete.json")"
[ "$(point_ids)" = "$ALL" ] || fail "after undelete --since: $(point_ids)"
for id in "${POINTS[@]}"; do restores_identical "$id"; done
obctl verify > "$WORK/verify.out" 2>&1 || fail "verify after the undelete: $(cat "$WORK/verify.out")"
pass "undelete since a time: every point restores byte for byte and the vault verifies"

# --- Write-once: garbage over a pack is refused ------------------------------
PACK=$(head -n 1 "$WORK/packs-before")
curl -sf "${AUTH[@]}" "$URL/v1/objects/$PACK" -o "$WORK/pack.orig" || fail "GET $PACK"
LEASE=$(curl -sf -X POST "${AUTH[@]}" -H 'Content-Type: application/json' \
  --data '{"holder":"attacker","ttl_seconds":30}' "$URL/v1/lease" | json_field lease_id)
head -c 1000 /dev/urandom > "$WORK/garbage"
code=$(curl -s -o "$WORK/put.out" -w '%{http_code}' -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  --data-binary "@$WORK/garbage" "$URL/v1/objects/$PACK")
[ "$code" = 409 ] || fail "garbage over a pack: HTTP $code $(cat "$WORK/put.out")"
grep -qF "$PACK" "$WORK/put.out" && grep -q "write-once" "$WORK/put.out" || fail "409 without the key: $(cat "$WORK/put.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${AUTH[@]}" -H "X-Obagent-Lease: $LEASE" \
  --data-binary "@$WORK/pack.orig" "$URL/v1/objects/$PACK")
[ "$code" = 200 ] || fail "the pack's own bytes again: HTTP $code"
curl -sf -X DELETE "${AUTH[@]}" "$URL/v1/lease/$LEASE" > /dev/null
curl -sf "${AUTH[@]}" "$URL/v1/objects/$PACK" -o "$WORK/pack.now" || fail "GET $PACK"
cmp -s "$WORK/pack.orig" "$WORK/pack.now" || fail "the pack changed"
restores_identical "${POINTS[2]}"
pass "a PUT of garbage over a pack is refused naming it, the pack is unchanged; its own bytes are accepted"
