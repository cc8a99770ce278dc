#!/usr/bin/env bash
# Retention and prune: the policy keeps what it should, and a prune killed
# at any moment leaves every remaining recovery point restorable and the
# vault verifying.
source "$E2E_LIB"

SRC=$WORK/data/src
COPIES=$WORK/copies   # the source as each recovery point saw it, by point id
mkdir -p "$SRC/keep" "$SRC/churn" "$COPIES"
head -c 3000000 /dev/urandom > "$SRC/keep/stable.bin"
setup_vault

# One backup; the source is saved as it was, under the new point's id.
# Each backup adds 24 small random files (interleaved in the same packs),
# and removes half of those of the previous backup, so later prunes find
# packs that are partly used (repacked) and unused (deleted).
STEP=0
backup_step() {
  local i id
  STEP=$((STEP + 1))
  for i in $(seq 1 24); do head -c 700000 /dev/urandom > "$SRC/churn/s$STEP-f$i.bin"; done
  if [ "$STEP" -gt 1 ]; then
    for i in $(seq 1 2 24); do rm -f "$SRC/churn/s$((STEP - 1))-f$i.bin"; done
  fi
  printf 'step %d\n' "$STEP" >> "$SRC/keep/log.txt"
  id=$(obctl --json backup start --include "$SRC" | json_field recovery_point)
  cp -a "$SRC" "$COPIES/$id"
}

point_ids() {
  obctl --json recovery list | python3 -c 'import json,sys; print(" ".join(p["id"] for p in json.load(sys.stdin)["points"]))'
}

# Every remaining point restores identical to the source at its time.
check_points() {
  local what=$1 id n=0
  obctl verify > "$WORK/verify.out" 2>&1 || { cat "$WORK/verify.out" >&2; fail "verify after $what"; }
  for id in $(point_ids); do
    [ -d "$COPIES/$id" ] || fail "unknown recovery point $id after $what"
    rm -rf "$WORK/restore"
    obctl recover --point "$id" --target "$WORK/restore" > /dev/null || fail "restore of $id after $what"
    compare_trees "$COPIES/$id" "$WORK/restore$SRC" > /dev/null || fail "point $id differs after $what"
    n=$((n + 1))
  done
  [ "$n" -ge 1 ] || fail "no recovery point left after $what"
}

for _ in 1 2 3 4 5; do backup_step; done
[ "$(point_ids | wc -w)" -eq 5 ] || fail "expected 5 recovery points"

# Policy checks: the bounds are refused with precise messages; points younger
# than 7 days are all kept by any valid policy.
expect_fail "daily retention must be between 7 and 9999 days, got 3" obctl prune --daily 3
expect_fail "yearly retention must be 0 (off) or between 1 and 99 years, got 100" \
  obctl prune --daily 7 --yearly 100
expect_fail "at most 9999" obctl prune --daily 9000 --weekly 1000
expect_fail "--daily" obctl prune --weekly 4
cp -a "$WORK/vault" "$WORK/vault-before"
out=$(obctl --json prune --daily 7 --weekly 4 --monthly 12 --yearly 3)
[ "$(json_field removed_points <<<"$out")" = "[]" ] || fail "a 7-day policy removed recent points: $out"
[ "$(point_ids | wc -w)" -eq 5 ] || fail "recent points removed"
diff -r "$WORK/vault" "$WORK/vault-before" > /dev/null || fail "a prune with nothing to do changed the vault"
pass "retention bounds refused; points younger than 7 days all kept"

# Dry run: reports, changes nothing.
out=$(obctl prune --keep-last 2 --dry-run)
grep -q "3 would be removed" <<<"$out" || fail "dry run report: $out"
grep -q "repacked" <<<"$out" || fail "dry run report: $out"
diff -r "$WORK/vault" "$WORK/vault-before" > /dev/null || fail "dry run changed the vault"
rm -rf "$WORK/vault-before"
pass "dry run reports without changing the vault"

# Killed prunes. Three more backups, then every round starts from that same
# vault and kills `prune --keep-last 3` with SIGKILL at a random moment of
# its run (0 .. the time a full prune takes here), so kills land in every
# phase: reading, deleting points, repacking, the index rewrite, deletes.
# Every third round a complete prune then runs on the remains.
# (tests/unit/engine/prune_test.cc also stops a prune after every write.)
for _ in 1 2 3; do backup_step; done
cp -a "$WORK/vault" "$WORK/vault-pristine"
t0=$(date +%s%N)
obctl prune --keep-last 3 > /dev/null
full_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(point_ids | wc -w)" -eq 3 ] || fail "prune --keep-last 3"
check_points "a full prune"
echo "# a full prune of 8 points to 3 takes ${full_ms} ms"

killed=0 phases=""
for round in $(seq 1 15); do
  rm -rf "$WORK/vault"
  cp -a "$WORK/vault-pristine" "$WORK/vault"
  ms=$((RANDOM * 32768 + RANDOM))
  ms=$((ms % (full_ms + 50)))
  delay=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
  "$OBCTL" prune --keep-last 3 > "$WORK/prune.out" 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  check_points "a prune killed after ${delay}s"
  n_points=$(point_ids | wc -w)
  n_index=$(find "$WORK/vault/machines" -path '*/index/*' -type f | wc -l)
  n_packs=$(find "$WORK/vault/machines" -path '*/data/*' -type f | wc -l)
  echo "# round $round: kill after ${delay}s: $n_points points, $n_index index files, $n_packs packs"
  phases+="$n_points/$n_index "
  if [ $((round % 3)) -eq 0 ]; then
    obctl prune --keep-last 3 > /dev/null || fail "prune after a killed one (round $round)"
    [ "$(point_ids | wc -w)" -eq 3 ] || fail "prune after a killed one kept the wrong points"
    check_points "a prune completing a killed one"
  fi
done
[ "$killed" -ge 5 ] || fail "only $killed of 15 prunes were still running when killed"
# Some kills came before any point was removed, some after the index rewrite.
grep -qE '(^| )8/' <<<"$phases" || echo "# note: no kill landed before the points were removed"
grep -qE '/1( |$)' <<<"$phases" || echo "# note: no kill landed after the index rewrite"
pass "$killed of 15 prunes killed at random moments: vault verifies, every point restores"

# A complete prune finishes the job.
before=$(du -sb "$WORK/vault" | cut -f1)
t0=$(date +%s%N)
out=$(obctl --json prune --keep-last 2)
echo "# full prune: $(( ($(date +%s%N) - t0) / 1000000 )) ms, $out" | tr -d '\n'; echo
[ "$(point_ids | wc -w)" -eq 2 ] || fail "expected 2 points after prune --keep-last 2"
after=$(du -sb "$WORK/vault" | cut -f1)
[ "$after" -lt "$before" ] || fail "vault did not shrink ($before -> $after)"
check_points "a complete prune"
[ "$(find "$WORK/vault/machines" -path '*/index/*' -type f | wc -l)" -eq 1 ] || fail "more than one index file left"
obctl prune --daily 7 > /dev/null || fail "policy prune after keep-last"
[ "$(point_ids | wc -w)" -eq 2 ] || fail "policy prune removed recent points"
backup_step
check_points "a backup after prune"
pass "complete prune: 2 points left, vault shrank ($before -> $after bytes), verify passes"
