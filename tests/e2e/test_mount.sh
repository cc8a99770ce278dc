#!/usr/bin/env bash
# Instant Restore: back up a folder, mount the recovery point with obctl
# (FUSE), read it like any folder, and check that it is read-only and that
# every way of ending the mount (obctl recovery unmount, fusermount3 -u,
# SIGTERM) leaves nothing mounted and obctl exiting 0.
source "$E2E_LIB"

# Skipped only where the kernel's FUSE device cannot be opened (a container
# without /dev/fuse); a missing library or tool is a failure, not a skip.
if ! { [ -c /dev/fuse ] && : 3<> /dev/fuse; } 2> /dev/null; then
  echo "SKIP: /dev/fuse is not usable here"
  exit 77
fi

SRC=$WORK/data/source
mkdir -p "$SRC"
make_tricky_tree "$SRC"
head -c $((24 * 1024 * 1024)) /dev/urandom > "$SRC/big.bin"
setup_vault
out=$(obctl --json backup start --include "$SRC")
[ "$(json_field state <<<"$out")" = Completed ] || fail "backup: $out"
POINT=$(json_field recovery_point <<<"$out")
pass "backup completed ($POINT)"

MNT=$WORK/mnt
mkdir -p "$MNT"
MOUNTS+=("$MNT")  # lib.sh's clean-up unmounts it if the test fails midway
MOUNT_PID=

# start_mount: obctl recovery mount in the background; waits until mounted.
start_mount() {
  # "$OBCTL" itself, not the obctl function: $! must be obctl's own pid.
  "$OBCTL" recovery mount --point "${POINT:0:10}" "$MNT" > "$WORK/mount.out" 2> "$WORK/mount.err" &
  MOUNT_PID=$!
  for _ in $(seq 1 100); do
    mountpoint -q "$MNT" && return 0
    kill -0 "$MOUNT_PID" 2> /dev/null || fail "obctl recovery mount exited: $(cat "$WORK/mount.err")"
    sleep 0.1
  done
  fail "the recovery point was not mounted within 10 s"
}

# expect_unmounted_exit: obctl ends with 0 and the folder is empty again.
expect_unmounted_exit() {
  local rc=0
  for _ in $(seq 1 100); do
    kill -0 "$MOUNT_PID" 2> /dev/null || break
    sleep 0.1
  done
  kill -0 "$MOUNT_PID" 2> /dev/null && fail "obctl recovery mount still running after $1"
  wait "$MOUNT_PID" || rc=$?
  [ "$rc" -eq 0 ] || fail "obctl recovery mount exited $rc after $1: $(cat "$WORK/mount.err")"
  ! mountpoint -q "$MNT" || fail "still mounted after $1"
  [ -z "$(ls -A "$MNT")" ] || fail "mount point not empty after $1"
}

start_mount
grep -q "mounted read-only at $MNT" "$WORK/mount.out" || fail "no mount message: $(cat "$WORK/mount.out")"
grep -q "obagent:${POINT:0:12} $MNT fuse.obagent ro," /proc/mounts \
  || fail "not in /proc/mounts as a read-only obagent mount: $(grep "$MNT" /proc/mounts)"
pass "recovery point mounted read-only"

# A range from the middle of the large file, read first (nothing cached yet).
OFFSET=$((11 * 1024 * 1024 + 12345))
LEN=$((3 * 1024 * 1024 + 7))
cmp <(dd if="$MNT$SRC/big.bin" iflag=skip_bytes,count_bytes skip=$OFFSET count=$LEN status=none) \
  <(dd if="$SRC/big.bin" iflag=skip_bytes,count_bytes skip=$OFFSET count=$LEN status=none) \
  || fail "range read from the middle of big.bin differs"
[ "$(dd if="$MNT$SRC/big.bin" iflag=skip_bytes skip=$((24 * 1024 * 1024 - 3)) bs=64 status=none | wc -c)" = 3 ] \
  || fail "read at the end of big.bin did not stop at its size"
pass "random access into a large file returns the original bytes"

# The whole tree: content, modes, mtimes (ns), symlink targets, hard links.
compare_trees "$SRC" "$MNT$SRC" || fail "mounted tree differs from the source"
[ "$(readlink "$MNT$SRC/dangling link")" = /nonexistent/target ] || fail "symlink target"
[ "$(stat -c %s "$MNT$SRC/big.bin")" = $((24 * 1024 * 1024)) ] || fail "size of big.bin"
pass "mounted tree matches the source (content and metadata)"

# Read-only: every kind of change is refused.
expect_erofs() {
  local err
  if err=$("$@" 2>&1); then fail "write succeeded: $*"; fi
  grep -qi "read-only file system" <<<"$err" || fail "expected EROFS from '$*', got: $err"
}
expect_erofs sh -c "printf x > '$MNT$SRC/new file'"
expect_erofs sh -c "printf x >> '$MNT$SRC/text.txt'"
expect_erofs rm "$MNT$SRC/text.txt"
expect_erofs mkdir "$MNT$SRC/newdir"
expect_erofs touch "$MNT$SRC/text.txt"
expect_erofs chmod 600 "$MNT$SRC/text.txt"
cmp "$SRC/text.txt" "$MNT$SRC/text.txt" || fail "text.txt changed"
pass "writes fail with EROFS"

obctl recovery unmount "$MNT" > /dev/null || fail "obctl recovery unmount"
expect_unmounted_exit "obctl recovery unmount"
grep -q "Unmounted $MNT" "$WORK/mount.out" || fail "no unmount message"
pass "obctl recovery unmount ends the mount; obctl exits 0"

start_mount
fusermount3 -u "$MNT" || fail "fusermount3 -u"
expect_unmounted_exit "fusermount3 -u"
pass "fusermount3 -u ends the mount; obctl exits 0"

start_mount
kill -TERM "$MOUNT_PID"
expect_unmounted_exit "SIGTERM"
pass "SIGTERM unmounts cleanly; obctl exits 0"

# Damaged data: the read fails with EIO and obctl says why.
PACK=$(find "$WORK/vault" -path '*/data/*' -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
python3 - "$PACK" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(f.seek(0, 2) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0xFF]))
PY
start_mount
if err=$(cat "$MNT$SRC/big.bin" 2>&1 > /dev/null); then fail "reading a damaged file succeeded"; fi
grep -qi "input/output error" <<<"$err" || fail "expected EIO, got: $err"
obctl recovery unmount "$MNT" > /dev/null
expect_unmounted_exit "unmount after a failed read"
grep -q "reading $SRC/big.bin failed" "$WORK/mount.err" || fail "obctl did not report the failed read: $(cat "$WORK/mount.err")"
pass "damaged data fails the read with EIO; obctl names the file and the reason"

# Errors: no such point, not a folder.
expect_fail "no recovery point" obctl recovery mount --point ffffffff "$MNT"
expect_fail "not an existing folder" obctl recovery mount --point latest "$WORK/nope"
pass "mount errors are reported"
