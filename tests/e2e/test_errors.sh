#!/usr/bin/env bash
# Bad input gets a clear error with its catalogue ID and loses nothing.
source "$E2E_LIB"

SRC=$WORK/data/src
mkdir -p "$SRC/docs"
head -c 5000000 /dev/urandom > "$SRC/big.bin"
for i in $(seq 1 50); do printf 'document %d\n' "$i" > "$SRC/docs/d$i.txt"; done

# Passphrase rules and registration.
obctl vault init --path "$WORK/vault" > /dev/null
expect_fail "already holds a vault" obctl vault init --path "$WORK/vault"
printf 'too short\n' > "$WORK/short"
expect_fail "16" obctl register --vault "$WORK/vault" --passphrase-file "$WORK/short"
expect_fail "0x1FC07" obctl backup start --include "$SRC"
expect_fail "not a vault" obctl register --vault "$WORK/novault" --passphrase-file "$PASS_FILE"
obctl register --vault "$WORK/vault" --passphrase-file "$PASS_FILE" > /dev/null
pass "passphrase length, unregistered machine, missing vault"

obctl backup start --include "$SRC" > /dev/null
cp -a "$WORK/vault" "$WORK/vault-before"

# Re-registration needs the same passphrase; the vault is left as it was.
printf 'a different passphrase entirely\n' > "$WORK/other"
expect_fail "34506" obctl register --vault "$WORK/vault" --passphrase-file "$WORK/other"
diff -r "$WORK/vault" "$WORK/vault-before" > /dev/null || fail "refused registration changed the vault"
expect_fail "34506" obctl recover --point latest --target "$WORK/r" --passphrase-file "$WORK/other"
[ ! -e "$WORK/r$SRC" ] || fail "wrong passphrase restored something"
out=$(obctl register --vault "$WORK/vault" --passphrase-file "$WORK/other" 2>&1) || true
grep -q "what to do: Enter the passphrase the backups were made with" <<<"$out" ||
  fail "a catalogue error names the action to take, got: $out"
pass "wrong passphrase refused with 34506, and the action is named"

# KEK file missing or damaged.
KEK=$WORK/state/scratch/OnlineBackup.KEK
mv "$KEK" "$WORK/kek.bak"
expect_fail "34506" obctl backup start --include "$SRC"
printf '{"version": 1, "garbage": true}' > "$KEK"
expect_fail "34506" obctl backup start --include "$SRC"
mv "$WORK/kek.bak" "$KEK"
pass "missing or damaged KEK file: 34506"

# Scratch folder missing.
mv "$WORK/state/scratch" "$WORK/scratch.moved"
expect_fail "0x1FC07" obctl backup start --include "$SRC"
mv "$WORK/scratch.moved" "$WORK/state/scratch"
pass "missing scratch folder: 0x1FC07"

# Passphrase change: the new one works, the old one no longer does.
printf 'the new passphrase is long enough\n' > "$WORK/newpass"
obctl passphrase change --new-passphrase-file "$WORK/newpass" > /dev/null
expect_fail "34506" obctl recover --point latest --target "$WORK/r" --passphrase-file "$PASS_FILE"
obctl recover --point latest --target "$WORK/r" --passphrase-file "$WORK/newpass" > /dev/null
cmp "$SRC/big.bin" "$WORK/r$SRC/big.bin" || fail "restore after passphrase change"
rm -rf "$WORK/r"
pass "passphrase change rewraps the key"

# Full scratch volume (a small tmpfs): the job fails with SalLowDiskSpace and
# the vault keeps verifying.
if mkdir -p "$WORK/tiny" && mount -t tmpfs -o size=4m tmpfs "$WORK/tiny" 2>/dev/null; then
  MOUNTS+=("$WORK/tiny")
  mkdir -p "$WORK/state2"
  OBAGENT_STATE_DIR=$WORK/state2 obctl register --vault "$WORK/vault" --scratch "$WORK/tiny/scratch" \
    --passphrase-file "$WORK/newpass" > /dev/null
  head -c 4050000 /dev/zero > "$WORK/tiny/filler"
  expect_fail "SalLowDiskSpace" env OBAGENT_STATE_DIR=$WORK/state2 "$OBCTL" backup start --include "$SRC"
  # Space for the check but not for staging a pack: fails cleanly too.
  rm "$WORK/tiny/filler"; head -c 1000000 /dev/zero > "$WORK/tiny/filler"
  head -c 6000000 /dev/urandom > "$SRC/new-data.bin"
  expect_fail "SalLowDiskSpace" env OBAGENT_STATE_DIR=$WORK/state2 "$OBCTL" backup start --include "$SRC"
  obctl verify > /dev/null || fail "vault damaged by a job that failed on scratch space"
  [ -z "$(ls -A "$WORK/tiny/scratch/staging")" ] || fail "staged pack left in a full scratch"
  pass "full scratch volume: SalLowDiskSpace, vault intact"
else
  echo "skip - full scratch volume (cannot mount tmpfs here)"
fi

# A damaged pack is found by verify and by restore, naming it; other data and
# files already in the target are untouched.
obctl recover --point latest --target "$WORK/good" > /dev/null
PACK=$(find "$WORK/vault/machines" -path '*/data/*' -type f -size +4M | sed -n 1p)
[ -n "$PACK" ] || fail "no data pack found"
cp "$PACK" "$WORK/pack.bak"
printf '\xff' | dd of="$PACK" bs=1 seek=1000 conv=notrunc status=none
out=$(obctl verify 2>&1) && fail "verify missed the damage"
grep -q "$(basename "$PACK")" <<<"$out" || fail "verify did not name the pack: $out"
# A file in the target that differs from the point, and the others missing
# (a file identical to the point is kept without reading the vault).
printf 'local edit' >> "$WORK/good$SRC/big.bin"
find "$WORK/good$SRC" -type f ! -name big.bin -delete
cp "$WORK/good$SRC/big.bin" "$WORK/big.good"
out=$(obctl recover --point latest --target "$WORK/good" --overwrite 2>&1) && fail "restore missed the damage"
grep -q "$(basename "$PACK")" <<<"$out" || fail "restore did not name the pack: $out"
cmp "$WORK/big.good" "$WORK/good$SRC/big.bin" || fail "restore damaged an existing good file"
cmp "$SRC/docs/d7.txt" "$WORK/good$SRC/docs/d7.txt" || fail "undamaged files not restored"
cp "$WORK/pack.bak" "$PACK"
obctl verify > /dev/null || fail "verify after repair"
pass "damaged pack named by verify and restore; existing files kept"

# One writer per machine in a local vault too: a held writer lock refuses a
# second backup or prune; the lock dies with its holder.
LOCK=$(find "$WORK/vault/machines" -maxdepth 2 -name writer.lock | sed -n 1p)
[ -n "$LOCK" ] || fail "no writer lock file in the local vault"
flock "$LOCK" sleep 3 &
holder=$!
sleep 0.3
expect_fail "another job" obctl backup start --include "$SRC"
expect_fail "another job" obctl prune --keep-last 1
wait "$holder"
obctl backup start --include "$SRC" > /dev/null || fail "backup after the lock was released"
pass "one writer per machine in a local vault (lock released with its holder)"

# A backup killed at random points never damages the vault.
for i in $(seq 1 40); do head -c 400000 /dev/urandom > "$SRC/docs/r$i.bin"; done
points_before=$(obctl --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')
for delay in 0.05 0.2 0.4; do
  "$OBCTL" backup start --include "$SRC" > /dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  obctl verify > /dev/null || fail "vault damaged by a backup killed after ${delay}s"
done
obctl backup start --include "$SRC" > /dev/null
obctl recover --point latest --target "$WORK/after-kill" > /dev/null
cmp "$SRC/docs/r40.bin" "$WORK/after-kill$SRC/docs/r40.bin" || fail "backup after kill"
points_after=$(obctl --json recovery list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["points"]))')
[ "$points_after" -gt "$points_before" ] || fail "no new recovery point after kill"
pass "killed backups leave the vault verifiable; the next backup completes"
