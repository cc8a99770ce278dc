#!/usr/bin/env bash
# A backup of a btrfs subvolume reads a read-only snapshot of it: a file
# rewritten while the job runs is in the recovery point as it was when the
# job started, the job records "btrfs", and the snapshot is gone afterwards.
# Needs root, loop devices and btrfs (mkfs.btrfs from btrfs-progs); exits
# 77 (ctest: skipped) with the reason when the machine has none of that.
source "$E2E_LIB"

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to mount a btrfs image (running as uid $(id -u))"
command -v mkfs.btrfs > /dev/null || skip "mkfs.btrfs not installed (apt-get install btrfs-progs)"
grep -qw btrfs /proc/filesystems || skip "the kernel has no btrfs"
IMG=$WORK/btrfs.img
MNT=$WORK/mnt
mkdir -p "$MNT"
truncate -s 400M "$IMG"
mkfs.btrfs -q "$IMG" > /dev/null 2>&1 || skip "mkfs.btrfs failed on a file"
out=$(mount -o loop "$IMG" "$MNT" 2>&1) || skip "cannot loop-mount a btrfs image here: $out"
MOUNTS+=("$MNT")

btrfs subvolume create "$MNT/data" > /dev/null
SRC=$MNT/data
# Many files before the one the writer changes: the walk is in name order,
# so the scan is still busy with these when the writer has finished.
mkdir "$SRC/aa-bulk"
for i in $(seq -w 1 150); do head -c 1000000 /dev/urandom > "$SRC/aa-bulk/f$i.bin"; done
head -c 8000000 /dev/urandom > "$SRC/zz-hot.bin"
printf 'before\n' > "$SRC/zz-deleted.txt"
before=$(sha256sum < "$SRC/zz-hot.bin")
setup_vault

# The writer waits for the snapshot to appear, then rewrites the file in
# place, deletes one and adds one, and notes that it did all of it while
# the job still ran.
(
  for _ in $(seq 1 3000); do
    compgen -G "$SRC/.obagent-*" > /dev/null && break
    sleep 0.01
  done
  compgen -G "$SRC/.obagent-*" > /dev/null || { echo "no snapshot appeared" > "$WORK/writer"; exit; }
  head -c 8000000 /dev/urandom | dd of="$SRC/zz-hot.bin" conv=notrunc status=none
  rm "$SRC/zz-deleted.txt"
  printf 'new\n' > "$SRC/zz-added.txt"
  echo done > "$WORK/writer"
) &
writer=$!

rc=0
obctl --json backup start --include "$SRC" --threads 1 > "$WORK/backup.json" || rc=$?
wait "$writer"
[ "$rc" = 0 ] || fail "backup exited $rc: $(cat "$WORK/backup.json")"
[ "$(cat "$WORK/writer")" = done ] || fail "writer: $(cat "$WORK/writer")"
[ "$(json_field state < "$WORK/backup.json")" = Completed ] ||
  fail "backup: $(cat "$WORK/backup.json")"
[ "$(json_field snapshot < "$WORK/backup.json")" = btrfs ] ||
  fail "the backup did not read from a btrfs snapshot: $(cat "$WORK/backup.json")"
after=$(sha256sum < "$SRC/zz-hot.bin")
[ "$before" != "$after" ] || fail "the writer did not change the file"
pass "backup of a btrfs subvolume read a snapshot (job: snapshot=btrfs, no warnings)"

obctl recover --point latest --target "$WORK/restored" > /dev/null
R=$WORK/restored$SRC
[ "$(sha256sum < "$R/zz-hot.bin")" = "$before" ] || fail "the point holds the rewritten file"
[ -f "$R/zz-deleted.txt" ] || fail "a file deleted after the snapshot is missing from the point"
[ ! -e "$R/zz-added.txt" ] || fail "a file added after the snapshot is in the point"
[ "$(cd "$WORK/restored" && find . -name zz-hot.bin)" = ".$SRC/zz-hot.bin" ] ||
  fail "the point recorded snapshot paths"
obctl --json recovery items --point latest "$SRC" | has "zz-hot.bin" ||
  fail "the point is not browsable under the original path"
pass "the point holds the files as they were when the job started, under their original paths"

leftover=$(btrfs subvolume list "$MNT" | grep -v ' path data$' || true)
[ -z "$leftover" ] || fail "snapshots left behind: $leftover"
! compgen -G "$SRC/.obagent-*" > /dev/null || fail "snapshot folder left behind"
last_backup_snapshot() {
  obctl --json job list | python3 -c '
import json, sys
print([j for j in json.load(sys.stdin)["jobs"] if j["type"] == "Backup"][0]["snapshot"])'
}
[ "$(last_backup_snapshot)" = btrfs ] || fail "job record lacks the snapshot"
grep -q "read from snapshot btrfs (btrfs subvolume $SRC)" "$OBAGENT_STATE_DIR/logs/cbengine.log" ||
  fail "the engine log does not say what was snapshotted"
pass "the snapshot is deleted afterwards; job record and engine log name it"

# Not on btrfs or LVM (the work folder is on the machine's own disk here):
# read live, and the job says so.
mkdir -p "$WORK/plain" && printf 'x' > "$WORK/plain/f"
obctl --json backup start --include "$WORK/plain" > "$WORK/plain.json"
[ "$(json_field snapshot < "$WORK/plain.json")" = none ] ||
  fail "plain folder: $(cat "$WORK/plain.json")"
pass "a source on neither btrfs nor LVM is read live (snapshot=none)"
