#!/usr/bin/env bash
# Linux metadata through a real backup and restore (tree format version 2):
# user and trusted xattrs, POSIX access and default ACLs, a file capability,
# immutable and append-only flags (set last, cleared to restore over them),
# a 200 MiB sparse file that comes back sparse, nodump as an exclusion, and
# a no-change backup that stays metadata-only. Needs root (trusted.*,
# setcap, chattr +i) and a file system with xattrs, ACLs and chattr flags.
# Through the real vaultd (local backend) when the build has it, else with
# the embedded vault.
source "$E2E_LIB"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (trusted.* xattrs, setcap, chattr +i)"
for tool in setfattr getfattr setfacl getfacl setcap getcap chattr lsattr; do
  command -v "$tool" > /dev/null ||
    fail "$tool is missing: scripts/install-deps.sh installs attr acl libcap2-bin e2fsprogs"
done
# Immutable files would stop the work folder's removal.
trap 'chattr -R -i -a "$WORK" > /dev/null 2>&1 || true; cleanup' EXIT

SRC=$WORK/data/source
mkdir -p "$SRC"
probe=$SRC/.probe
: > "$probe"
chattr +i "$probe" 2> /dev/null || skip "$(df --output=fstype "$WORK" | tail -1) at $WORK has no chattr flags"
chattr -i "$probe"
setfattr -n user.probe -v 1 "$probe" 2> /dev/null || skip "no user xattrs at $WORK"
setfacl -m u:nobody:r "$probe" 2> /dev/null || skip "no POSIX ACLs at $WORK"
rm -f "$probe"

# Extended attributes of several namespaces, on a file, a folder, a symlink.
printf 'hello' > "$SRC/xattrs.txt"
setfattr -n user.comment -v "a comment" "$SRC/xattrs.txt"
setfattr -n user.binary -v 0x00ff10ee00 "$SRC/xattrs.txt"
setfattr -n user.empty "$SRC/xattrs.txt"
setfattr -n trusted.secret -v s3cret "$SRC/xattrs.txt"
mkdir "$SRC/folder"
setfattr -n user.folder -v yes "$SRC/folder"
ln -s xattrs.txt "$SRC/link"
setfattr -h -n trusted.onlink -v L "$SRC/link"
# POSIX ACLs: access on a file, access and default on a folder (whose new
# entries inherit the default); a file in it with its own narrower ACL.
printf 'acl' > "$SRC/acl.txt"
setfacl -m u:nobody:r,g:daemon:rw "$SRC/acl.txt"
mkdir -p "$SRC/acldir/sub"
setfacl -m u:nobody:rx "$SRC/acldir"
setfacl -d -m u:nobody:rwx,g:daemon:rx "$SRC/acldir"
printf 'inherits' > "$SRC/acldir/inherited.txt"
printf 'plain' > "$SRC/plain.txt" # no ACL: must come back without one
# A file capability on a copied binary.
cp "$(type -P true)" "$SRC/captool"
setcap cap_net_raw,cap_net_bind_service+ep "$SRC/captool"
# Flags: immutable and append-only (set last on restore).
printf 'frozen' > "$SRC/immutable.txt"
chattr +i "$SRC/immutable.txt"
printf 'log line\n' > "$SRC/append.log"
chattr +a "$SRC/append.log"
mkdir "$SRC/frozen-dir"
printf 'inside' > "$SRC/frozen-dir/file"
chattr +i "$SRC/frozen-dir"
# A 200 MiB sparse file with a little data at its start, middle and end.
truncate -s 200M "$SRC/sparse.img"
printf 'start' | dd of="$SRC/sparse.img" conv=notrunc status=none
printf 'middle' | dd of="$SRC/sparse.img" bs=1M seek=100 conv=notrunc status=none
printf 'end' | dd of="$SRC/sparse.img" bs=1 seek=$((200 * 1024 * 1024 - 3)) conv=notrunc status=none
# nodump: a file and a folder that are not backed up.
printf 'skip me' > "$SRC/nodump.txt"
chattr +d "$SRC/nodump.txt"
mkdir "$SRC/nodump-dir"
printf 'skip me too' > "$SRC/nodump-dir/inner"
chattr +d "$SRC/nodump-dir"
[ "$(stat -c %b "$SRC/sparse.img")" -lt 1024 ] || fail "the source sparse file is not sparse here"

if [ -n "${VAULTD:-}" ]; then
  VAULT_BACKEND=local vaultd_machine linuxmeta
  echo "# through vaultd at $URL"
else
  setup_vault
  echo "# with the embedded vault"
fi
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field state <<< "$out")" = Completed ] || fail "backup: $out"
P1=$(json_field recovery_point <<< "$out")
[ "$(json_field summary <<< "$out")" = "2 items excluded by the nodump flag (chattr +d)" ] ||
  fail "the job does not say what nodump excluded: $out"
pass "backup with xattrs, ACLs, capabilities, flags, a sparse file and nodump completed"

items=$(obctl recovery items --point "$P1" "$SRC")
grep -q "nodump" <<< "$items" && fail "nodump items were backed up: $items"
grep -q "sparse.img" <<< "$items" || fail "recovery items: $items"
pass "nodump file and folder excluded and counted in the job"

# The source without the excluded entries is what the restore must equal.
chattr -d "$SRC/nodump.txt" "$SRC/nodump-dir"
rm -rf "$SRC/nodump.txt" "$SRC/nodump-dir"

out=$(obctl --json recover --point "$P1" --target "$WORK/r1")
[ "$(json_field state <<< "$out")" = Completed ] || fail "restore: $out"
R=$WORK/r1$SRC
compare_trees --owners --xattrs "$SRC" "$R" || fail "restore differs from the source"
pass "restored tree matches, every xattr included (treecmp --xattrs)"

tool_output() { # dir command...: the command's output run in dir, paths relative
  (cd "$1" && shift && "$@" 2>&1)
}
[ "$(tool_output "$SRC" getfattr -R -h -d -m - -e hex .)" = \
  "$(tool_output "$R" getfattr -R -h -d -m - -e hex .)" ] || fail "getfattr output differs"
[ "$(tool_output "$SRC" getfacl -R -p .)" = "$(tool_output "$R" getfacl -R -p .)" ] ||
  fail "getfacl output differs"
getfacl -p "$R/plain.txt" | has "user:nobody" && fail "an ACL the source lacks was restored"
getfacl -p "$R/acldir" | has "default:user:nobody:rwx" || fail "default ACL lost"
[ "$(tool_output "$SRC" getcap captool)" = "$(tool_output "$R" getcap captool)" ] ||
  fail "capabilities differ: $(getcap "$R/captool")"
getcap "$R/captool" | has "cap_net_bind_service,cap_net_raw=ep" || fail "capability lost"
[ "$(tool_output "$SRC" lsattr -d immutable.txt append.log frozen-dir acl.txt)" = \
  "$(tool_output "$R" lsattr -d immutable.txt append.log frozen-dir acl.txt)" ] ||
  fail "flags differ: $(lsattr -d "$R/immutable.txt" "$R/append.log" "$R/frozen-dir")"
lsattr -d "$R/immutable.txt" | cut -d' ' -f1 | has i || fail "immutable flag lost"
lsattr -d "$R/append.log" | cut -d' ' -f1 | has a || fail "append-only flag lost"
pass "getfattr, getfacl, getcap and lsattr show the same after restore"

blocks=$(stat -c %b "$R/sparse.img")
[ "$(stat -c %s "$R/sparse.img")" = $((200 * 1024 * 1024)) ] || fail "sparse file size"
[ "$blocks" -lt 1024 ] || fail "the 200 MiB sparse file came back with $blocks blocks allocated"
pass "200 MiB sparse file restored sparse ($blocks blocks of 512 bytes)"

# Restoring over existing immutable files clears the flag first, puts the
# point's content back and sets the flag again last.
chattr -i "$R/immutable.txt"
printf 'tampered' > "$R/immutable.txt"
chattr +i "$R/immutable.txt"
out=$(obctl --json recover --point "$P1" --target "$WORK/r1" --overwrite)
[ "$(json_field state <<< "$out")" = Completed ] || fail "restore over immutable files: $out"
[ "$(cat "$R/immutable.txt")" = frozen ] || fail "immutable file not restored: $(cat "$R/immutable.txt")"
lsattr -d "$R/immutable.txt" | cut -d' ' -f1 | has i || fail "immutable flag not set again"
compare_trees --owners --xattrs "$SRC" "$R" || fail "second restore differs"
pass "restore over immutable files clears and sets the flag again"

# The no-change backup reads no data and no metadata it already has;
# an xattr change (which moves ctime) is picked up.
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field bytes_read <<< "$out")" = 0 ] || fail "no-change backup read data: $out"
setfattr -n user.comment -v "changed" "$SRC/xattrs.txt"
setfacl -m u:daemon:rwx "$SRC/plain.txt"
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field state <<< "$out")" = Completed ] || fail "third backup: $out"
P3=$(json_field recovery_point <<< "$out")
obctl recover --point "$P3" --target "$WORK/r3" > /dev/null
[ "$(getfattr --absolute-names --only-values -n user.comment "$WORK/r3$SRC/xattrs.txt")" = changed ] ||
  fail "changed xattr not backed up"
getfacl -p "$WORK/r3$SRC/plain.txt" | has "user:daemon:rwx" || fail "new ACL not backed up"
pass "no-change backup reads nothing; xattr and ACL changes are backed up"

# What a backup reads, seen by strace (-y names each descriptor's file): a
# no-change backup lists the xattrs of no entry of the source; after one
# file's ACL changed (which moves its ctime), exactly that file is read
# again, metadata and data (its 3 bytes: a moved ctime cannot prove the
# content the same). docs/performance.md ("Metadata cost") has the figures.
xattr_reads() { # STRACE-LOG: the entries of $SRC whose xattrs were listed
  { grep -oE '(f|l)listxattr\([0-9]*<?"?[^>",]*' "$1" || true; } | sed -E 's/^[a-z]+\([0-9]*<?"?//' |
    { grep -E "^$SRC(/|$)" || true; } | sort -u
}
if ! command -v strace > /dev/null; then
  fail "strace is missing: scripts/install-deps.sh installs it"
elif ! strace -qq -o /dev/null true 2> /dev/null; then
  echo "# skip: what the backup reads: strace cannot trace here (ptrace not permitted)"
else
  trace=(strace -f -y -qq -e trace=listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr)
  out=$("${trace[@]}" -o "$WORK/nochange.strace" "$OBCTL" --json backup start --include "$SRC")
  [ "$(json_field bytes_read <<< "$out")" = 0 ] || fail "no-change backup read data: $out"
  [ -z "$(xattr_reads "$WORK/nochange.strace")" ] ||
    fail "the no-change backup read metadata of: $(xattr_reads "$WORK/nochange.strace")"
  setfacl -m u:daemon:r "$SRC/acl.txt"
  out=$("${trace[@]}" -o "$WORK/aclchange.strace" "$OBCTL" --json backup start --include "$SRC")
  [ "$(json_field state <<< "$out")" = Completed ] || fail "backup after the ACL change: $out"
  [ "$(xattr_reads "$WORK/aclchange.strace")" = "$SRC/acl.txt" ] ||
    fail "after one ACL change the backup read metadata of: $(xattr_reads "$WORK/aclchange.strace")"
  [ "$(json_field bytes_read <<< "$out")" = "$(stat -c %s "$SRC/acl.txt")" ] ||
    fail "after one ACL change the backup read other data than that file's: $out"
  pass "strace: a no-change backup reads no xattrs; one ACL change re-reads that file only"
fi

# Restore without permissions: ACLs and capabilities are left as created,
# other xattrs and flags still come back.
out=$(obctl --json recover --point "$P1" --target "$WORK/r4" --no-permissions)
R4=$WORK/r4$SRC
getfacl -p "$R4/acl.txt" | has "user:nobody" && fail "--no-permissions restored an ACL"
[ -z "$(getcap "$R4/captool")" ] || fail "--no-permissions restored a capability"
[ "$(getfattr --absolute-names --only-values -n user.comment "$R4/xattrs.txt")" = "a comment" ] ||
  fail "--no-permissions lost a user xattr"
pass "--no-permissions leaves ACLs and capabilities out"
