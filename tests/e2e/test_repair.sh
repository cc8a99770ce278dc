#!/usr/bin/env bash
# ctest: every vault backend
# obctl repair, verify of the machine record and the wrapped key, and staged
# packs of dead jobs, provoked for real. Through vaultd (per VAULT_BACKEND:
# local folder or Azure = Azurite; damaged bytes are written straight into
# the storage, storage_put, as vaultd's objects are write-once for the
# machine): index files deleted and damaged, a pack
# lost (named points and files, --rewrite-lost restores everything else
# byte-identical), a damaged wrapped key, a backup killed mid-upload. In
# embedded mode (local backend only, where a killed job's lock lapses at
# once): repair SIGKILLed at many moments, a garbage machine.json.
source "$E2E_LIB"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
BPID=
stop_backup() { [ -z "$BPID" ] || kill -9 "$BPID" 2> /dev/null || true; }
trap 'stop_backup; cleanup' EXIT
vaultd_machine repair

obj_size() { obj_get "$1" | wc -c; }

SRC=$WORK/data/src
COPIES=$WORK/copies
mkdir -p "$SRC/first" "$COPIES"
make_tricky_tree "$SRC/first"
backup() { # saves the source as the new point saw it under its id; prints the id
  local id
  id=$(obctl --json backup start --include "$SRC" | json_field recovery_point)
  cp -a "$SRC" "$COPIES/$id"
  echo "$id"
}
point_ids() {
  obctl --json recovery list | python3 -c 'import json,sys; print(" ".join(p["id"] for p in json.load(sys.stdin)["points"]))'
}
restores_as() { # ID EXPECTED_DIR
  rm -rf "$WORK/restore"
  obctl recover --point "$1" --target "$WORK/restore" > "$WORK/recover.out" 2>&1 ||
    { cat "$WORK/recover.out" >&2; fail "restore of $1"; }
  compare_trees "$2" "$WORK/restore$SRC" > /dev/null || fail "point $1 does not restore as it was"
}
verify_clean() {
  obctl verify > "$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "verify after $1"; }
}

P1=$(backup)
packs_before=$(obj_list data/ | sort)
mkdir -p "$SRC/second"
for i in 1 2 3; do head -c 2500000 /dev/urandom > "$SRC/second/big-$i.bin"; done
printf 'small' > "$SRC/second/small.txt"
P2=$(backup)
new_packs=$(comm -13 <(echo "$packs_before") <(obj_list data/ | sort))

# 1. Every index file deleted: repair rebuilds the index from the packs.
for k in $(obj_list index/); do obj_del "$k"; done
[ -z "$(obj_list index/)" ] || fail "index files still there"
obctl --json repair > "$WORK/repair.json" || fail "repair after deleting the index: $(cat "$WORK/repair.json")"
python3 - "$WORK/repair.json" << 'EOF' || fail "repair report: $(cat "$WORK/repair.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["ok"] and r["index_rewritten"] and len(r["index_files_written"]) >= 1, r
assert r["damaged_points"] == [] and r["blobs_indexed"] > 0, r
EOF
verify_clean "the index rebuild"
restores_as "$P1" "$COPIES/$P1"
restores_as "$P2" "$COPIES/$P2"
out=$(obctl repair) || fail "repair of a healthy vault: $out"
grep -q "already matches" <<<"$out" || fail "a second repair rewrote the index: $out"
pass "index files deleted: repair rebuilt the index, verify clean, every point restores"

# 2. An index file damaged (its bytes no longer its name's hash), and one
#    that is not an index at all.
k=$(obj_list index/ | sed -n 1p)
obj_get "$k" > "$WORK/idx"
printf 'XXXX' | dd of="$WORK/idx" bs=1 seek=40 conv=notrunc 2> /dev/null
storage_put "$MID" "$k" "$WORK/idx"
printf 'garbage' > "$WORK/garbage"
obj_put "index/$(sha256sum "$WORK/garbage" | cut -c1-64)" "$WORK/garbage"
obctl --json repair > "$WORK/repair.json" || fail "repair of damaged index files: $(cat "$WORK/repair.json")"
python3 - "$WORK/repair.json" "$k" << 'EOF' || fail "repair report: $(cat "$WORK/repair.json")"
import json, sys
r = json.load(open(sys.argv[1]))
damaged = r["damaged_index_files"]
assert len(damaged) == 2, damaged
assert any(d.startswith(sys.argv[2].split("/")[-1]) for d in damaged), damaged
assert len(r["index_files_removed"]) == 2, r
EOF
[ "$(obj_list index/ | wc -l)" = 1 ] || fail "damaged index files left"
verify_clean "replacing damaged index files"
restores_as "$P2" "$COPIES/$P2"
pass "damaged index files named and replaced; verify clean, restore works"

# 3. A pack lost: the largest pack the second backup wrote (data of big-*).
lost=$(for p in $new_packs; do echo "$(obj_size "$p") $p"; done | sort -n | tail -n 1 | cut -d' ' -f2)
[ -n "$lost" ] || fail "no pack of the second backup"
obj_del "$lost"
rc=0; obctl --json repair > "$WORK/repair.json" || rc=$?
[ "$rc" = 3 ] || fail "repair with a lost pack: exit $rc, $(cat "$WORK/repair.json")"
python3 - "$WORK/repair.json" "$P2" "$P1" "$SRC/second/" << 'EOF' || fail "repair report: $(cat "$WORK/repair.json")"
import json, sys
r = json.load(open(sys.argv[1]))
damaged = {d["id"]: d for d in r["damaged_points"]}
assert list(damaged) == [sys.argv[2]], damaged   # only the second point
lost = damaged[sys.argv[2]]["lost"]
assert lost and all(p.startswith(sys.argv[4]) for p in lost), lost
assert damaged[sys.argv[2]]["repaired_as"] == "", damaged
EOF
obctl repair > "$WORK/repair.out" 2>&1 || true
grep -q "lost $SRC/second/" "$WORK/repair.out" || fail "human report names no lost file: $(cat "$WORK/repair.out")"
rc=0; obctl --json repair --rewrite-lost > "$WORK/repair.json" || rc=$?
[ "$rc" = 3 ] || fail "repair --rewrite-lost: exit $rc"
read -r P2R LOST < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["damaged_points"][0]
print(d["repaired_as"], " ".join(d["lost"]))' "$WORK/repair.json")
[ -n "$P2R" ] || fail "no repaired point: $(cat "$WORK/repair.json")"
point_ids | has "$P2" || fail "the damaged point was removed without --forget-damaged"
obctl --json recovery list | python3 -c '
import json, sys
points = {p["id"]: p for p in json.load(sys.stdin)["points"]}
assert points[sys.argv[1]]["repaired_from"] == sys.argv[2], points' "$P2R" "$P2" ||
  fail "the repaired point does not name the damaged one"
# Expected: the source of P2 without the lost files (folder times kept).
cp -a "$COPIES/$P2" "$WORK/expected"
for f in $LOST; do
  rel=${f#"$SRC"}
  rm -f "$WORK/expected$rel"
  touch -r "$COPIES/$P2$(dirname "$rel")" "$WORK/expected$(dirname "$rel")"
done
restores_as "$P2R" "$WORK/expected"
restores_as "$P1" "$COPIES/$P1"
rc=0; obctl --json repair --rewrite-lost > "$WORK/repair.json" || rc=$?
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["points_written"] == [], r' \
  "$WORK/repair.json" || fail "a second --rewrite-lost wrote another point"
pass "lost pack: damaged point and lost files named; --rewrite-lost point restores the rest byte-identical"

# A backup after the loss writes the lost files again (their source is
# still here), and then restores completely.
P3=$(backup)
restores_as "$P3" "$COPIES/$P3"
pass "a backup after the loss restores completely"

# 4. The wrapped key damaged in the vault: verify names it, jobs go on with
#    the key file's copy, repair stores it again.
KEY_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wrapped_key"]["key_id"])' "$SCRATCH/OnlineBackup.KEK")
obj_get "keys/$KEY_ID" > "$WORK/key.orig"
printf '{"version":1,"garbage":true}' > "$WORK/key.bad"
storage_put "$MID" "keys/$KEY_ID" "$WORK/key.bad"
rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify with a damaged wrapped key: exit $rc"
grep -q "wrapped key keys/$KEY_ID" "$WORK/verify.out" || fail "verify did not name the key: $(cat "$WORK/verify.out")"
obctl repair > "$WORK/repair.out" 2>&1 || true
grep -q "wrote wrapped key" "$WORK/repair.out" || fail "repair did not store the key: $(cat "$WORK/repair.out")"
obctl verify > "$WORK/verify.out" 2>&1 || true
if grep -q "wrapped key" "$WORK/verify.out"; then fail "key still reported: $(cat "$WORK/verify.out")"; fi
pass "damaged wrapped key: verify names it, repair stores it again from the key file"

# 5. A backup killed while uploading leaves staged packs; the next job
#    reclaims them. Throttled to 2 MB/s so uploads are slow enough to kill.
mkdir -p "$SRC/third"
for i in 1 2 3 4; do head -c 6000000 /dev/urandom > "$SRC/third/t-$i.bin"; done
obctl machine-setting set --work-hour-bandwidth 2MB/s --non-work-hour-bandwidth 2MB/s > /dev/null
"$OBCTL" backup start --include "$SRC" > /dev/null 2>&1 &
BPID=$!
staged_packs() { ls "$SCRATCH/staging" 2> /dev/null | grep -cE '^[0-9a-f]{64}$' || true; }
for _ in $(seq 1 400); do
  [ "$(staged_packs)" -ge 1 ] && break
  sleep 0.05
done
kill -9 "$BPID"; wait "$BPID" 2> /dev/null || true; BPID=
staged=$(ls -A "$SCRATCH/staging" | wc -l)
[ "$staged" -ge 1 ] || fail "the killed backup left nothing staged"
obctl machine-setting set --no-throttle > /dev/null
# The killed job's lease lapses by itself (60 s); the next backup waits for it.
for _ in $(seq 1 90); do
  out=$(obctl --json backup start --include "$SRC" 2>&1) && break
  grep -q "lease" <<<"$out" || fail "backup after the kill: $out"
  sleep 1
done
P4=$(json_field recovery_point <<<"$out")
cp -a "$SRC" "$COPIES/$P4"
[ -z "$(ls -A "$SCRATCH/staging")" ] || fail "staging not empty: $(ls "$SCRATCH/staging")"
grep -q "Reclaimed staged packs" "$OBAGENT_STATE_DIR/logs/cbengine.log" ||
  fail "the job log does not say what was reclaimed ($staged staged): $(cat "$OBAGENT_STATE_DIR/logs/cbengine.log")"
restores_as "$P4" "$COPIES/$P4"
pass "$staged staged files of a killed backup reclaimed by the next one; staging empty, data restores"

if [ "$BACKEND" != local ]; then exit 0; fi

# ----- embedded mode: repair killed at many moments, a garbage machine.json.
export OBAGENT_STATE_DIR=$WORK/state-embedded
obctl vault init --path "$WORK/vault" > /dev/null
obctl register --vault "$WORK/vault" --passphrase-file "$PASS_FILE" > /dev/null
rm -rf "$COPIES"; mkdir -p "$COPIES"
E1=$(backup)
MACHINE=$(ls "$WORK/vault/machines")
MDIR=$WORK/vault/machines/$MACHINE
find "$MDIR/data" -type f | sort > "$WORK/packs-e1"
mkdir -p "$SRC/fourth"; head -c 3000000 /dev/urandom > "$SRC/fourth/f.bin"
E2=$(backup)
# The largest pack of the second backup: E1 stays intact, E2 loses f.bin.
big=$(comm -13 "$WORK/packs-e1" <(find "$MDIR/data" -type f | sort) | xargs ls -S | sed -n 1p)
rm -f "$big" "$MDIR"/index/*
cp -a "$WORK/vault" "$WORK/vault-damaged"
for delay in 0.05 0.1 0.2 0.3 0.5 0.8; do
  "$OBCTL" repair --rewrite-lost > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  # At every instant the index covers every pack present: no pack is lost
  # to a kill, and once any index file exists the intact point restores.
  if [ -n "$(ls "$MDIR/index")" ]; then restores_as "$E1" "$COPIES/$E1"; fi
done
rc=0; obctl --json repair --rewrite-lost > "$WORK/repair.json" || rc=$?
[ "$rc" = 3 ] || fail "repair after kills: exit $rc $(cat "$WORK/repair.json")"
python3 - "$WORK/repair.json" "$E2" << 'EOF' || fail "after kills: $(cat "$WORK/repair.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["damaged_index_files"] == [], r
d = [p for p in r["damaged_points"] if p["id"] == sys.argv[2]]
assert len(d) == 1 and d[0]["repaired_as"], r
EOF
[ "$(ls "$MDIR/index" | wc -l)" -ge 1 ] || fail "no index left"
out=$(obctl repair 2>&1 || true)
grep -q "already matches" <<<"$out" || fail "index not settled after the kills: $out"
restores_as "$E1" "$COPIES/$E1"
pass "repair SIGKILLed at 6 moments, then run again: index settled, intact point restores"

printf '{garbage' > "$MDIR/machine.json"
rc=0; obctl verify > "$WORK/verify.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "verify with a garbage machine.json: exit $rc"
grep -q "machine record machine.json" "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
obctl repair > "$WORK/repair.out" 2>&1 || true
grep -q "wrote machine record" "$WORK/repair.out" || fail "repair: $(cat "$WORK/repair.out")"
obctl verify > "$WORK/verify.out" 2>&1 || true
if grep -q "machine record" "$WORK/verify.out"; then fail "machine record still reported"; fi
obctl register --vault "$WORK/vault" --passphrase-file "$PASS_FILE" > /dev/null ||
  fail "registering again after the repair"
pass "garbage machine.json: verify names it, repair writes it again, registration works"
