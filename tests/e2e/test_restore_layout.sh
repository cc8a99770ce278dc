#!/usr/bin/env bash
# Where restored items land, through the real obctl: under a target every
# item keeps its whole path (two items of one name never meet, include roots
# of one name stay apart, a folder selected with a file inside restores it
# once, the counts are exact); a restore never writes through a link that an
# unprivileged owner swapped in above an item, as root at the original
# place; and a restore killed at random moments finishes when run again.
source "$E2E_LIB"

setup_vault

# --- two items of one name, from different folders -------------------------
F=$WORK/x/Finance
mkdir -p "$F/2025" "$F/2026"
printf 'year 2025\n' > "$F/2025/invoice-1.txt"
printf 'year 2026 is longer\n' > "$F/2026/invoice-1.txt"
obctl backup start --include "$F" > /dev/null
for policy in --overwrite --create-copy; do
  out=$(obctl --json recover --point latest --item "$F/2025/invoice-1.txt" \
    --item "$F/2026/invoice-1.txt" --target "$WORK/out$policy" $policy)
  [ "$(json_field files <<<"$out")" = 2 ] || fail "$policy: count $out"
  cmp "$F/2025/invoice-1.txt" "$WORK/out$policy$F/2025/invoice-1.txt" || fail "$policy: 2025 lost"
  cmp "$F/2026/invoice-1.txt" "$WORK/out$policy$F/2026/invoice-1.txt" || fail "$policy: 2026 lost"
  [ "$(find "$WORK/out$policy" -type f | wc -l)" = 2 ] || fail "$policy: extra files"
done
pass "two items of one name land at their own paths (overwrite and create-copy), counted exactly"

# --- include roots of one name ---------------------------------------------
mkdir -p "$WORK/a/data" "$WORK/b/data"
printf 'from a\n' > "$WORK/a/data/x.txt"
printf 'from b, longer\n' > "$WORK/b/data/x.txt"
obctl backup start --include "$WORK/a/data" --include "$WORK/b/data" > /dev/null
out=$(obctl --json recover --point latest --target "$WORK/whole")
[ "$(json_field files <<<"$out")" = 2 ] || fail "whole point count: $out"
compare_trees "$WORK/a/data" "$WORK/whole$WORK/a/data" || fail "a/data differs"
compare_trees "$WORK/b/data" "$WORK/whole$WORK/b/data" || fail "b/data differs"
obctl recover --point latest --item "$WORK/b/data/x.txt" --target "$WORK/item" > /dev/null
cmp "$WORK/b/data/x.txt" "$WORK/item$WORK/b/data/x.txt" || fail "an item lands elsewhere than in a whole restore"
pass "include roots of one name stay apart; an item lands where the whole point puts it"

# --- overlapping selections -------------------------------------------------
out=$(obctl --json recover --point latest --item "$WORK/a/data" --item "$WORK/a/data/x.txt" \
  --target "$WORK/overlap")
[ "$(json_field files <<<"$out")" = 1 ] || fail "overlapping selection counted twice: $out"
grep -q "under $WORK/overlap2, each item at its full original path" \
  <(obctl recover --point latest --item "$WORK/a/data" --target "$WORK/overlap2") ||
  fail "obctl does not say where items land"
pass "a folder selected with a file inside it restores that file once"

# --- a link swapped in above an item, root restoring a user's folder -------
chmod 755 "$WORK"
D=$WORK/home/user/docs
mkdir -p "$D/sub" "$WORK/standin-etc"
printf 'restored text\n' > "$D/sub/x"
printf 'keep\n' > "$D/y"
chown -R nobody: "$WORK/home"
obctl backup start --include "$D" > /dev/null
# The owner replaces docs/sub with a link to a folder only root may write.
su -s /bin/sh nobody -c "rm -rf '$D/sub' && ln -s '$WORK/standin-etc' '$D/sub'" ||
  fail "could not act as the unprivileged owner"
rc=0
out=$(obctl recover --point latest --item "$D/sub/x" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "restore through a swapped link exits $rc: $out"
grep -q "never follows links" <<<"$out" || fail "no clear message: $out"
[ -z "$(ls -A "$WORK/standin-etc")" ] || fail "restore wrote through the link"
# The whole folder: the link inside it is replaced by the folder, not followed.
obctl recover --point latest --item "$D" > /dev/null || fail "whole-folder restore over the link"
[ -d "$D/sub" ] && [ ! -L "$D/sub" ] || fail "the link was not replaced by the folder"
[ -z "$(ls -A "$WORK/standin-etc")" ] || fail "whole-folder restore wrote through the link"
[ "$(stat -c %U "$D/sub/x")" = nobody ] || fail "owner not restored"
pass "root restoring a user's folder never writes through a link the user swapped in"

# --- killed at random moments, then run again --------------------------------
K=$WORK/kill/src
mkdir -p "$K"
for i in $(seq 1 60); do head -c $((1000000 + i * 1000)) /dev/urandom > "$K/f$i.bin"; done
obctl backup start --include "$K" > /dev/null
# Each round kills the restore once a random number of its files are
# finished: a moment inside the restore, whatever the speed of the machine.
for round in 1 2 3 4; do
  want=$((round * 8 + RANDOM % 8))
  "$OBCTL" recover --point latest --item "$K" --target "$WORK/killed" --threads 1 > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 1000); do
    n=$( (find "$WORK/killed" -type f ! -name '.obrestore-*' 2> /dev/null || true) | wc -l)
    [ "$n" -ge "$want" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
done
out=$(obctl --json recover --point latest --item "$K" --target "$WORK/killed")
[ "$(json_field state <<<"$out")" = Completed ] || fail "restore after kills: $out"
compare_trees "$K" "$WORK/killed$K" || fail "restore after kills differs"
! find "$WORK/killed" -name '.obrestore-*' | has . || fail "temporary files left"
written=$(json_field files <<<"$out")
kept=$(json_field unchanged <<<"$out")
[ $((written + kept)) = 60 ] || fail "written $written + unchanged $kept != 60"
[ "$kept" -gt 0 ] || fail "nothing of the killed runs was kept"
out=$(obctl --json recover --point latest --item "$K" --target "$WORK/killed")
[ "$(json_field unchanged <<<"$out")" = 60 ] && [ "$(json_field files <<<"$out")" = 0 ] ||
  fail "a complete restore run again rewrote files: $out"
pass "a restore killed at random moments finishes when run again ($kept kept, $written written)"
