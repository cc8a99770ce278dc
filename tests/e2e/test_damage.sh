#!/usr/bin/env bash
# ctest: every vault backend
# Damage in the vault, made for real through vaultd (local-folder or Azure
# backend, per VAULT_BACKEND; Azure = Azurite started here): objects are
# lost and old ones brought back with the machine's own token over vaultd's
# object API, and damaged straight in the storage under vaultd (storage_put:
# vaultd refuses a machine's PUT of other bytes over an object, write-once),
# as a storage fault, a replica or a storage-level restore would change them.
#  - an old index file back after a prune: the kept point still restores;
#  - a pack lost, damaged (a byte flipped), truncated and swapped (another
#    pack's bytes): verify names the pack and every file with its full path,
#    the next backup of the unchanged source completes saying it re-uploaded
#    the blobs, and both the new and the damaged point restore identical;
#  - a damaged recovery point and index file: list, restore of intact
#    points, verify and a backup go on with named warnings; prune refuses.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
vaultd_machine damage

obj_damage() { storage_put "$MID" "$1" "$2"; } # KEY FILE: the storage changes it
flip_byte() { # FILE: flips one bit in the middle
  python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$1"
}

SRC=$WORK/data/src
COPIES=$WORK/copies   # the source as each recovery point saw it, by point id
mkdir -p "$SRC/sub" "$COPIES"
head -c 2000000 /dev/urandom > "$SRC/base.bin"
python3 -c 'import sys; sys.stdout.write("text that compresses\n" * 50000)' > "$SRC/sub/text.txt"

LAST_JSON=
backup() { # backs up SRC, keeps a copy under the point's id; LAST_JSON, POINT
  local rc=0
  LAST_JSON=$(obctl --json backup start --include "$SRC") || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "backup exit code $rc: $LAST_JSON"
  POINT=$(json_field recovery_point <<<"$LAST_JSON")
  [ -n "$POINT" ] || fail "no recovery point: $LAST_JSON"
  cp -a "$SRC" "$COPIES/$POINT"
}
restores_identical() { # POINT [expected exit code]
  local rc=0
  rm -rf "$WORK/restore"
  obctl recover --point "$1" --target "$WORK/restore" > "$WORK/recover.out" 2>&1 || rc=$?
  [ "$rc" = "${2:-0}" ] || { cat "$WORK/recover.out" >&2; fail "restore of $1: exit code $rc"; }
  compare_trees "$COPIES/$1" "$WORK/restore$SRC" > /dev/null || fail "point $1 does not restore identical"
}
new_keys() { comm -13 <(sort "$1") <(obj_list "$2" | sort); }

# --- An old index file back after a prune ------------------------------------
# gone.bin shares the packs of base.bin; once it is gone and its point
# pruned, the kept data moves to new packs (repack).
head -c 3000000 /dev/urandom > "$SRC/gone.bin"
backup
rm "$SRC/gone.bin"
backup
KEPT=$POINT
obj_list index/ > "$WORK/index-before"
mkdir -p "$WORK/old-index"
while read -r key; do obj_get "$key" > "$WORK/old-index/${key#index/}"; done < "$WORK/index-before"
age_recovery_points 8 # past their retention floor (7 days)
out=$(obctl --json prune --keep-last 1)
[ "$(json_field packs_repacked <<<"$out")" -ge 1 ] || fail "the prune repacked nothing: $out"
for f in "$WORK/old-index"/*; do obj_put "index/$(basename "$f")" "$f"; done
[ "$(obj_list index/ | wc -l)" -gt 1 ] || fail "old index files not back"
restores_identical "$KEPT"
backup
[ "$(json_field state <<<"$LAST_JSON")" = Completed ] || fail "backup after old index: $LAST_JSON"
restores_identical "$POINT"
pass "old index files back after a prune: the kept point and the next backup restore identical"

# --- Packs lost, damaged, truncated, swapped ----------------------------------
# "restored": a flipped byte that a restore meets first (no verify).
for kind in lost flipped truncated swapped restored; do
  obj_list data/ > "$WORK/packs-before"
  head -c 1500000 /dev/urandom > "$SRC/$kind.bin"
  backup
  DAMAGED_POINT=$POINT
  # The new packs: this file's data pack (the largest) and a tree pack.
  biggest= size=0
  for key in $(new_keys "$WORK/packs-before" data/); do
    obj_get "$key" > "$WORK/pack"
    s=$(stat -c %s "$WORK/pack")
    if [ "$s" -gt "$size" ]; then biggest=$key size=$s; cp "$WORK/pack" "$WORK/victim"; fi
  done
  [ -n "$biggest" ] && [ "$size" -gt 1000000 ] || fail "$kind: no new data pack"
  pack=${biggest##*/}
  case $kind in
    lost) obj_del "$biggest" ;;
    flipped|restored) flip_byte "$WORK/victim"; obj_damage "$biggest" "$WORK/victim" ;;
    truncated) head -c $((size / 2)) "$WORK/victim" > "$WORK/half"; obj_damage "$biggest" "$WORK/half" ;;
    swapped)
      other=$(obj_list data/ | grep -v "$pack" | sed -n 1p)
      obj_get "$other" > "$WORK/other"; obj_damage "$biggest" "$WORK/other" ;;
  esac

  if [ "$kind" = restored ]; then
    # The restore names the file and the pack, and records the damage.
    obj_list damage/ > "$WORK/damage-before"
    rc=0; obctl recover --point "$DAMAGED_POINT" --target "$WORK/r-$kind" > "$WORK/recover.out" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$WORK/recover.out"; fail "$kind: recover exit code $rc"; }
    grep -qF "$kind.bin" "$WORK/recover.out" && grep -qF "$pack" "$WORK/recover.out" ||
      fail "$kind: recover does not name the file and pack: $(cat "$WORK/recover.out")"
    obj_list damage/ | diff -q - "$WORK/damage-before" > /dev/null &&
      fail "$kind: the restore recorded no damage"
  else
    rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
    [ "$rc" = 1 ] || { cat "$WORK/verify.out"; fail "$kind: verify exit code $rc"; }
    grep -q "DAMAGE FOUND" "$WORK/verify.out" || fail "$kind: verify: $(cat "$WORK/verify.out")"
    grep -qF "pack $pack" "$WORK/verify.out" || fail "$kind: verify does not name the pack: $(cat "$WORK/verify.out")"
    # Every point holding the file is named, with the file's full path.
    grep -qF "recovery point $DAMAGED_POINT: $SRC/$kind.bin: " "$WORK/verify.out" ||
      fail "$kind: verify does not name $SRC/$kind.bin: $(cat "$WORK/verify.out")"
    if [ "$kind" != lost ]; then
      grep -q "^Recorded [0-9]* damaged objects in the vault" "$WORK/verify.out" ||
        fail "$kind: verify recorded nothing: $(cat "$WORK/verify.out")"
    fi
  fi

  # The unchanged source heals the vault.
  backup
  [ "$(json_field state <<<"$LAST_JSON")" = Completed ] || fail "$kind: backup: $LAST_JSON"
  healed=$(json_field healed_blobs <<<"$LAST_JSON")
  [ "$healed" -ge 1 ] || fail "$kind: nothing re-uploaded: $LAST_JSON"
  grep -qF "re-uploaded $healed blob" <<<"$(json_field summary <<<"$LAST_JSON")" ||
    fail "$kind: the summary does not say so: $LAST_JSON"
  restores_identical "$POINT"
  restores_identical "$DAMAGED_POINT"
  rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
  if grep -q "^  recovery point " "$WORK/verify.out"; then
    fail "$kind: a point still misses data after the healing backup: $(cat "$WORK/verify.out")"
  fi
  pass "pack $kind: found naming the pack and $SRC/$kind.bin; the next backup re-uploaded $healed blobs; both points restore identical"
done

# --- A damaged recovery point and index file ----------------------------------
obj_list index/ > "$WORK/index-before"
head -c 500000 /dev/urandom > "$SRC/only-here.bin"
backup
BAD_POINT=$POINT
BAD_INDEX=$(new_keys "$WORK/index-before" index/)
[ "$(wc -w <<<"$BAD_INDEX")" = 1 ] || fail "expected one new index file, got: $BAD_INDEX"
rm "$SRC/only-here.bin"
backup
GOOD_POINT=$POINT
for key in "snapshots/$BAD_POINT" "$BAD_INDEX"; do
  obj_get "$key" > "$WORK/obj"; flip_byte "$WORK/obj"; obj_damage "$key" "$WORK/obj"
done
BAD_INDEX=${BAD_INDEX#index/}

# verify reads the vault's copies, though this machine's cache still
# holds a good copy of the index file.
rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify exit code $rc: $(cat "$WORK/verify.out")"
grep -qF "recovery point $BAD_POINT: " "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
grep -qF "index file $BAD_INDEX: " "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
# From here on as on a machine that has only the vault (a new scratch
# folder, a re-registered machine): no cached copies.
rm -rf "$OBAGENT_STATE_DIR/scratch/cache"
obctl --json recovery list > "$WORK/list.json" 2> "$WORK/list.err" || fail "recovery list failed: $(cat "$WORK/list.err")"
grep -qF "warning: recovery point $BAD_POINT: " "$WORK/list.err" || fail "list: no warning: $(cat "$WORK/list.err")"
python3 - "$WORK/list.json" "$BAD_POINT" "$GOOD_POINT" <<'EOF' || fail "recovery list: $(cat "$WORK/list.json")"
import json, sys
ids = [p["id"] for p in json.load(open(sys.argv[1]))["points"]]
assert sys.argv[2] not in ids and sys.argv[3] in ids, ids
EOF
expect_fail "$BAD_POINT" obctl recover --point "$BAD_POINT" --target "$WORK/nowhere"
# The skipped index file is a warning of the restore (exit code 3).
restores_identical "$GOOD_POINT" 3
grep -qF "index file $BAD_INDEX" "$WORK/recover.out" || fail "restore: no warning: $(cat "$WORK/recover.out")"
restores_identical "$KEPT" 3
rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify exit code $rc: $(cat "$WORK/verify.out")"
grep -qF "recovery point $BAD_POINT: " "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
grep -qF "index file $BAD_INDEX: " "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
backup
[ "$(json_field state <<<"$LAST_JSON")" = CompletedWithWarnings ] || fail "backup: $LAST_JSON"
grep -qF "recovery point $BAD_POINT" <<<"$LAST_JSON" || fail "backup names no point: $LAST_JSON"
grep -qF "index file $BAD_INDEX" <<<"$LAST_JSON" || fail "backup names no index file: $LAST_JSON"
restores_identical "$POINT" 3
obj_list "" > "$WORK/objects-before"
expect_fail "changed nothing" obctl prune --keep-last 1
obj_list "" | diff - "$WORK/objects-before" > /dev/null || fail "the refused prune changed the vault"
pass "damaged point and index file: named by list, restore, verify and backup; intact points restore; prune refuses"
