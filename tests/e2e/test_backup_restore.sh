#!/usr/bin/env bash
# Back up a tree full of tricky cases with the real obctl, restore it in the
# ways a user would, and compare content and metadata with the source.
source "$E2E_LIB"

SRC=$WORK/data/source
mkdir -p "$SRC"
make_tricky_tree "$SRC"
setup_vault

out=$(obctl --json backup start --include "$SRC")
[ "$(json_field state <<<"$out")" = Completed ] || fail "first backup: $out"
P1=$(json_field recovery_point <<<"$out")
pass "full backup completed ($P1)"

# Whole recovery point to an alternate folder.
obctl recover --point "$P1" --target "$WORK/r1" > /dev/null
compare_trees "$SRC" "$WORK/r1$SRC" || fail "restore differs from source"
pass "alternate-location restore matches content and metadata"

# Listing.
obctl --json recovery list | python3 -c '
import json,sys; p=json.load(sys.stdin)["points"]; assert len(p)==1 and p[0]["files"]>=15, p' \
  || fail "recovery list"
obctl recovery items --point latest "$SRC" | has "random.bin" || fail "recovery items"
obctl --json recovery items --point latest "$SRC/sub/deeper/file" | has '"size": 4' \
  || fail "recovery items of a file"
pass "recovery list and items"

# Change detection: an unchanged tree reads nothing.
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field bytes_read <<<"$out")" = 0 ] || fail "no-change backup read data: $out"
# Only the folder entries above the source (whose mtimes the test changes) are new.
[ "$(json_field bytes_uploaded <<<"$out")" -lt 4096 ] || fail "no-change backup uploaded data: $out"
pass "no-change backup reads nothing and uploads only changed folder metadata"

# Changes, then a third point; both points restore as they were.
cp -a "$SRC" "$WORK/source-at-p1"
printf 'changed' >> "$SRC/sub/deeper/file"
printf 'new file' > "$SRC/sub/added.txt"
rm "$SRC/name with  spaces"
out=$(obctl --json backup start --include "$SRC")
P3=$(json_field recovery_point <<<"$out")
[ "$(json_field bytes_read <<<"$out")" -lt 100 ] || fail "incremental read too much: $out"
obctl recover --point "$P3" --target "$WORK/r3" > /dev/null
compare_trees "$SRC" "$WORK/r3$SRC" || fail "restore of third point differs"
obctl recover --point "${P1:0:8}" --target "$WORK/r1b" > /dev/null
compare_trees "$WORK/source-at-p1" "$WORK/r1b$SRC" || fail "old point changed"
pass "incremental backup; old and new points restore exactly"

# One item to another folder.
obctl recover --point latest --item "$SRC/ünïcödé 目录/файл.txt" --target "$WORK/one" > /dev/null
cmp "$SRC/ünïcödé 目录/файл.txt" "$WORK/one$SRC/ünïcödé 目录/файл.txt" || fail "single item"
pass "single item restore"

# Conflicts: skip keeps, create-copy adds beside, overwrite replaces.
T=$WORK/r3$SRC
printf 'local edit' > "$T/text.txt"
obctl recover --point latest --item "$SRC/text.txt" --target "$WORK/r3" --skip > /dev/null
[ "$(cat "$T/text.txt")" = "local edit" ] || fail "--skip replaced the file"
obctl recover --point latest --item "$SRC/text.txt" --target "$WORK/r3" --create-copy > /dev/null
[ "$(cat "$T/text.txt")" = "local edit" ] || fail "--create-copy replaced the file"
cmp "$SRC/text.txt" "$T/text.txt (restored)" || fail "--create-copy copy differs"
obctl recover --point latest --item "$SRC/text.txt" --target "$WORK/r3" --overwrite > /dev/null
cmp "$SRC/text.txt" "$T/text.txt" || fail "--overwrite did not restore"
pass "conflict policies skip, create-copy, overwrite"

# Original location.
rm "$SRC/sub/added.txt"
obctl recover --point latest --item "$SRC/sub/added.txt" > /dev/null
[ "$(cat "$SRC/sub/added.txt")" = "new file" ] || fail "original-location restore"
pass "original-location restore"

# Excludes.
printf 'x' > "$SRC/skip.tmp"; mkdir -p "$SRC/cache"; printf 'y' > "$SRC/cache/c"
obctl backup start --include "$SRC" --exclude '*.tmp' --exclude "$SRC/cache" > /dev/null
items=$(obctl recovery items --point latest "$SRC")
! grep -q 'skip.tmp' <<<"$items" || fail "excluded file backed up"
! grep -qP '\tcache$' <<<"$items" || fail "excluded folder backed up"
pass "exclude patterns"

# On a terminal backup and restore draw a progress line (files, bytes, MB/s).
script -qec "$OBCTL backup start --include $SRC" /dev/null > "$WORK/tty-backup.log"
grep -q "Backing up.*files.*MB/s" "$WORK/tty-backup.log" || fail "no progress line on a terminal"
script -qec "$OBCTL recover --point latest --target $WORK/tty-restore" /dev/null > "$WORK/tty-restore.log"
grep -q "Recovering.*%.*MB/s" "$WORK/tty-restore.log" || fail "no restore progress bar on a terminal"
obctl backup start --include "$SRC" 2> "$WORK/pipe.log" > /dev/null
! grep -q "MB/s" "$WORK/pipe.log" || fail "progress drawn into a pipe"
pass "progress bar on a terminal only"

obctl verify > /dev/null || fail "verify"
pass "verify finds no problems"

# The vault holds only ciphertext: no file name or content in the clear.
! grep -rqa "line of text that compresses well" "$WORK/vault" || fail "plaintext content in vault"
! grep -rqa "copy-of-random" "$WORK/vault" || fail "plaintext file name in vault"
[ "$(stat -c %a "$WORK/state/scratch/OnlineBackup.KEK")" = 600 ] || fail "KEK file mode"
pass "vault holds only ciphertext; KEK file is owner-only"
