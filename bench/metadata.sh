#!/usr/bin/env bash
# metadata.sh - what Linux metadata (xattrs, POSIX ACLs) costs a backup
# (issue 14, docs/performance.md "Metadata cost"): a tree of FILES small
# files, (plain) without xattrs or ACLs and (meta) every file with a user
# xattr and an ACL; for each, through the embedded vault: the first backup,
# a no-change backup, and a restore, RUNS times each on a fresh vault. Then
# how much the recovery point's trees grow per file, and what the no-change
# backup and a backup after one file's ACL change read (strace counts of the
# xattr calls and the job's bytes_read).
#
# Usage: bash bench/metadata.sh [DIR]   (default DIR=/tmp/obagent-metadata-bench)
# Env: FILES=20000, RUNS=3, OBCTL=<repo>/build/obctl, OUT=<repo>/bench/results/metadata.md
# Needs a file system with user xattrs and ACLs (setfacl), /usr/bin/time
# and strace (scripts/install-deps.sh). The machine may be shared: each step
# records the load average and the CPU seconds of the machine beside the
# client's own (user+sys), so runs can be compared by CPU time.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
DIR=${1:-/tmp/obagent-metadata-bench}
FILES=${FILES:-20000}
RUNS=${RUNS:-3}
OBCTL=${OBCTL:-$ROOT/build/obctl}
OUT=${OUT:-$ROOT/bench/results/metadata.md}
for tool in setfacl strace /usr/bin/time python3; do
  command -v "$tool" > /dev/null || { echo "metadata.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$OBCTL" ] || { echo "metadata.sh: no obctl at $OBCTL (bash scripts/build.sh)" >&2; exit 1; }

rm -rf "$DIR"
mkdir -p "$DIR"
printf 'metadata bench passphrase 1234\n' > "$DIR/pass"

# make_tree DIR: FILES files of 200-2,199 bytes in 100 folders (seeded).
make_tree() {
  python3 - "$1" "$FILES" << 'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261206)
words = [("w%d" % i).encode() for i in range(500)]
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    size = 200 + rng.randrange(2000)
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    with open(os.path.join(d, "f%05d.txt" % i), "wb") as f:
        f.write(out[:size])
EOF
}
# add_metadata DIR: a 32-byte user xattr on every file and an ACL entry
# (user nobody: read) on every file and folder.
add_metadata() {
  python3 - "$1" << 'EOF'
import os, sys
for dirpath, _, files in os.walk(sys.argv[1]):
    for name in files:
        os.setxattr(os.path.join(dirpath, name), "user.bench", b"x" * 32)
EOF
  setfacl -R -m u:nobody:r "$1"
}

# CPU seconds (user+system+...) the whole machine has used, from /proc/stat.
machine_cpu() { awk '/^cpu / { t = 0; for (i = 2; i <= 8; i++) t += $i; printf "%.2f", t / 100 }' /proc/stat; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# timed STEP CASE RUN CMD...: one row of results.tsv (case step run wall
# user sys maxrss_kb machine_cpu load_before load_after); CMD's output in
# $DIR/last.out.
timed() {
  local step=$1 case=$2 run=$3 cpu0 cpu1 l0
  shift 3
  sync
  l0=$(loadavg)
  cpu0=$(machine_cpu)
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time.out" "$@" > "$DIR/last.out"
  sync
  cpu1=$(machine_cpu)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$step" "$run" "$(tr ' ' '\t' < "$DIR/time.out")" \
    "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" "$l0 $(loadavg)" \
    >> "$DIR/results.tsv"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# xattr_calls FILE: the xattr list/get calls in an strace log (strace -f -y).
xattr_calls() { grep -cE '(f|l)?(listxattr|getxattr)\(' "$1" || true; }
# xattr_paths FILE PREFIX: the paths under PREFIX whose xattrs were listed.
xattr_paths() {
  grep -oE '(f|l)listxattr\([0-9]*<?"?[^>",]*' "$1" | sed -E 's/^[a-z]+\([0-9]*<?"?//' |
    { grep "^$2" || true; } | sort -u
}

: > "$DIR/results.tsv"
: > "$DIR/facts.tsv"
for case in plain meta; do
  SRC=$DIR/$case/src
  mkdir -p "$SRC"
  make_tree "$SRC"
  [ "$case" = plain ] || add_metadata "$SRC"
  for run in $(seq 1 "$RUNS"); do
    export OBAGENT_STATE_DIR=$DIR/$case/state
    rm -rf "$DIR/$case/state" "$DIR/$case/vault" "$DIR/$case/restore"
    "$OBCTL" vault init --path "$DIR/$case/vault" > /dev/null
    "$OBCTL" register --vault "$DIR/$case/vault" --passphrase-file "$DIR/pass" > /dev/null
    timed 1full "$case" "$run" "$OBCTL" --json backup start --include "$SRC"
    vault_kib=$(du -sk "$DIR/$case/vault" | cut -f1)
    uploaded_full=$(json_field bytes_uploaded < "$DIR/last.out")
    timed 2nochange "$case" "$run" "$OBCTL" --json backup start --include "$SRC"
    read_nochange=$(json_field bytes_read < "$DIR/last.out")
    uploaded_nochange=$(json_field bytes_uploaded < "$DIR/last.out")
    timed 3restore "$case" "$run" "$OBCTL" --json recover --point latest --target "$DIR/$case/restore"
    [ "$(json_field state < "$DIR/last.out")" = Completed ] || {
      echo "metadata.sh: the $case restore did not complete: $(cat "$DIR/last.out")" >&2
      exit 1
    }
    printf '%s\t%s\tvault_kib\t%s\n' "$case" "$run" "$vault_kib" >> "$DIR/facts.tsv"
    printf '%s\t%s\tfull_bytes_uploaded\t%s\n' "$case" "$run" "$uploaded_full" >> "$DIR/facts.tsv"
    printf '%s\t%s\tnochange_bytes_read\t%s\n' "$case" "$run" "$read_nochange" >> "$DIR/facts.tsv"
    printf '%s\t%s\tnochange_bytes_uploaded\t%s\n' "$case" "$run" "$uploaded_nochange" >> "$DIR/facts.tsv"
  done
  # What the backups read, counted by strace (not timed): the first backup
  # (a fresh vault), a no-change backup, and one after one file's ACL changed.
  export OBAGENT_STATE_DIR=$DIR/$case/state
  rm -rf "$DIR/$case/state" "$DIR/$case/vault"
  "$OBCTL" vault init --path "$DIR/$case/vault" > /dev/null
  "$OBCTL" register --vault "$DIR/$case/vault" --passphrase-file "$DIR/pass" > /dev/null
  strace -f -y -qq -o "$DIR/$case.strace1" -e trace=listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr \
    "$OBCTL" --json backup start --include "$SRC" > /dev/null
  strace -f -y -qq -o "$DIR/$case.strace2" -e trace=listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr \
    "$OBCTL" --json backup start --include "$SRC" > "$DIR/last.out"
  printf '%s\t-\tnochange_xattr_calls_in_src\t%s\n' "$case" \
    "$(xattr_paths "$DIR/$case.strace2" "$SRC" | wc -l)" >> "$DIR/facts.tsv"
  printf '%s\t-\tfirst_xattr_calls\t%s\n' "$case" "$(xattr_calls "$DIR/$case.strace1")" >> "$DIR/facts.tsv"
  printf '%s\t-\tnochange_xattr_calls\t%s\n' "$case" "$(xattr_calls "$DIR/$case.strace2")" >> "$DIR/facts.tsv"
  setfacl -m u:daemon:rw "$SRC/d007/f00007.txt"
  strace -f -y -qq -o "$DIR/$case.strace3" -e trace=listxattr,llistxattr,flistxattr,getxattr,lgetxattr,fgetxattr \
    "$OBCTL" --json backup start --include "$SRC" > "$DIR/last.out"
  printf '%s\t-\tacl_change_paths_in_src\t%s\n' "$case" \
    "$(xattr_paths "$DIR/$case.strace3" "$SRC" | tr '\n' ' ')" >> "$DIR/facts.tsv"
  printf '%s\t-\tacl_change_bytes_read\t%s\n' "$case" "$(json_field bytes_read < "$DIR/last.out")" >> "$DIR/facts.tsv"
done

# The report: per case and step the median of the runs (wall, client CPU)
# and every run's figures, then the facts.
python3 - "$DIR/results.tsv" "$DIR/facts.tsv" "$FILES" "$RUNS" > "$OUT" << 'EOF'
import collections, statistics, sys, platform, os
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
facts = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
files, runs = int(sys.argv[3]), int(sys.argv[4])
print("# Metadata cost (bench/metadata.sh)\n")
print(f"{files} files of 200-2,199 bytes in 100 folders, embedded vault, {runs} runs per step, "
      f"{os.cpu_count()} cores, {platform.platform()}.\n")
print("| case | step | wall s (median) | client CPU s (median) | wall s, each run | client CPU s, each run | peak RSS MiB | machine CPU s / wall s | load before→after |")
print("|---|---|---|---|---|---|---|---|---|")
by = collections.defaultdict(list)
for case, step, run, wall, user, sys_, rss, mcpu, load in rows:
    by[(case, step)].append((float(wall), float(user) + float(sys_), int(rss), float(mcpu), load))
for (case, step), rs in by.items():
    walls = [r[0] for r in rs]
    cpus = [r[1] for r in rs]
    print(f"| {case} | {step} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
          f"{' / '.join('%.2f' % w for w in walls)} | {' / '.join('%.2f' % c for c in cpus)} | "
          f"{max(r[2] for r in rs) / 1024:.0f} | "
          f"{' / '.join('%.1f' % (r[3] / r[0]) if r[0] else '-' for r in rs)} | "
          f"{' ; '.join(r[4].replace(' ', '→') for r in rs)} |")
print("\n| case | run | fact | value |")
print("|---|---|---|---|")
for f in facts:
    print("| " + " | ".join(f) + " |")
EOF
echo "metadata.sh: report in $OUT"
cat "$OUT"
