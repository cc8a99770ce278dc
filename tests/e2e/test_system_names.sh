#!/usr/bin/env bash
# Every name the source allows comes back, on folders nobody here wrote:
# this machine's /etc and most of /usr (/usr/bin, /usr/sbin, /usr/include,
# /usr/libexec, /usr/share and /usr/lib with systemd's units and their
# backslashes), plus a folder with a name for every byte
# 0x01-0xFF that Linux allows, are backed up through a real vaultd, the
# whole point is restored to a target, and every tree must compare
# identical in bytes, names, types, modes, times, symlink targets, hard
# links and owners. Runs as root (owners, files only root can read); CI
# does. Not named test_vault*: one backend is enough for names, and the
# Azure run would double the time.
source "$E2E_LIB"
SKIP=77 # SKIP_RETURN_CODE in tests/CMakeLists.txt
if [ -z "${VAULTD:-}" ] || [ ! -x "$VAULTD" ]; then
  echo "SKIP: vaultd is not built"
  exit $SKIP
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: not root: system files only root can read, and owners, need root"
  exit $SKIP
fi

PORT=$(free_port)
URL=http://127.0.0.1:$PORT
VSTATE=$WORK/vaultd
mkdir -p "$VSTATE"
ADMIN=(--service "$URL" --admin-token-file "$VSTATE/admin.token")
"$VAULTD" --listen "$URL" --state-dir "$VSTATE" > "$WORK/vaultd.log" 2>&1 &
VPID=$!
stop_all() {
  kill "$VPID" 2> /dev/null && wait "$VPID" 2> /dev/null
  cleanup
}
trap stop_all EXIT
for _ in $(seq 1 100); do grep -q "listening" "$WORK/vaultd.log" && break; sleep 0.1; done
grep -q "listening" "$WORK/vaultd.log" || { cat "$WORK/vaultd.log"; fail "vaultd did not start"; }
obctl vault create prod "${ADMIN[@]}" > /dev/null
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/creds.xml" > /dev/null
obctl register --vault-credentials "$WORK/creds.xml" --passphrase-file "$PASS_FILE" > /dev/null

# ---- the synthetic names --------------------------------------------------
NAMES=$WORK/names
mkdir -p "$NAMES"
python3 -B - "$NAMES" << 'EOF'
import os, sys
root = os.fsencode(sys.argv[1])
names = set()
for b in range(1, 256):
    if b == ord("/"):
        continue
    c = bytes([b])
    names |= {b"n" + c + b"n", c * 3 if c != b"." else b"...x"}
    if c != b".":
        names.add(c)  # the byte alone ("." is the folder itself)
names |= {
    b"\\", b"a\\b", b"\\\\server\\share", b"system-systemd\\x2dcryptsetup.slice",  # backslashes
    b"\n", b"new\nline", b"\nleading newline", b"trailing newline\n", b"\r\n",  # newlines
    b"-", b"--", b"-rf", b"--help", b"-n x",  # leading dashes
    b"\xff", b"\xff\xfe", b"bad\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",  # not UTF-8
    b"\xc3\xa9t\xc3\xa9", b"\xe6\x97\xa5\xe6\x9c\xac", b"\xf0\x9f\x98\x80",  # UTF-8
    b"CON", b"aux.txt", b"trailing.", b"trailing ", b" ", b"a<b>c:d\"e|f?g*h", b"\x1b[31mred",
}
for n in sorted(names):
    with open(os.path.join(root, n), "wb") as f:
        f.write(b"content of " + n)
# A folder and a symlink with odd names, odd names inside.
sub = os.path.join(root, b"dir\\with\nodd\xffname")
os.mkdir(sub)
for n in (b"inner\\file", b"-x", b"\x01", b"\xfe"):
    with open(os.path.join(sub, n), "wb") as f:
        f.write(n)
os.symlink(b"target\\with\xff\nbytes", os.path.join(root, b"link\\\xfe"))
os.link(os.path.join(root, b"a\\b"), os.path.join(sub, b"hard\\link"))
print(len(names))
EOF
pass "synthetic folder: every byte 0x01-0xFF but '/' in names, backslashes, newlines, dashes, invalid UTF-8"

# ---- the system folders ---------------------------------------------------
# /etc, /usr but /usr/local (what this machine's admin put there, not
# the system), and every folder of /usr/lib but the six largest (libraries,
# toolchains, SDKs: gigabytes that add time, not kinds of names) and
# Python's (root's python3, this test's own comparison included, may write
# __pycache__ there at any time).
SYSTEM=(/etc)
for d in /usr/bin /usr/sbin /usr/include /usr/libexec /usr/share; do
  [ -d "$d" ] && SYSTEM+=("$d")
done
for d in /usr/lib/*; do
  case "$d" in
    /usr/lib/x86_64-linux-gnu | /usr/lib/aarch64-linux-gnu | /usr/lib/google-cloud-sdk | \
      /usr/lib/jvm | /usr/lib/llvm-* | /usr/lib/gcc | /usr/lib/chromium | /usr/lib/python3*) ;;
    *) SYSTEM+=("$d") ;;
  esac
done
[ -e '/usr/lib/systemd/system/system-systemd\x2dcryptsetup.slice' ] ||
  echo "note: this machine has no system-systemd\\x2dcryptsetup.slice; the synthetic names cover it"

# test_packages.sh installs and purges obagent's packages (in /etc and
# /usr/lib/systemd, running ldconfig) under this machine-wide lock: hold it
# from the backup to the comparison so that the sources stand still.
exec 9> /tmp/obagent-test-packages.lock
start=$(date +%s)
flock -w 600 9 || fail "test_packages held /tmp/obagent-test-packages.lock for 10 minutes"
[ $(($(date +%s) - start)) -lt 2 ] || echo "note: waited $(($(date +%s) - start)) s for test_packages.sh's lock"

INCLUDES=()
for d in "${SYSTEM[@]}" "$NAMES"; do INCLUDES+=(--include "$d"); done
start=$(date +%s)
obctl --json backup start "${INCLUDES[@]}" > "$WORK/backup.json" || true
state=$(json_field state < "$WORK/backup.json")
[ "$state" = Completed ] || {
  cat "$WORK/backup.json"
  fail "backup of ${#SYSTEM[@]} system folders and the names: $state"
}
files=$(json_field files < "$WORK/backup.json")
pass "backup through vaultd: $files files ($(($(date +%s) - start)) s)"

start=$(date +%s)
rc=0
obctl --json recover --point latest --target "$WORK/r" > "$WORK/recover.json" || rc=$?
python3 -B - "$WORK/recover.json" "$rc" << 'EOF' || fail "recover: $(cat "$WORK/recover.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert sys.argv[2] == "0", "exit code " + sys.argv[2]
assert r["state"] == "Completed", r["state"]
assert r["failed_files"] == [] and r["warnings"] == [], (r["failed_files"], r["warnings"])
EOF
pass "whole point restored to a target: Completed, no warnings ($(($(date +%s) - start)) s)"

# Under a target every item keeps its whole path (engine::RestoredPath).
start=$(date +%s)
PAIRS=()
for d in "${SYSTEM[@]}" "$NAMES"; do PAIRS+=("$d" "$WORK/r$d"); done
out=$(compare_trees --owners "${PAIRS[@]}" 2>&1) || fail "restored differently:
$(head -20 <<< "$out")"
flock -u 9
[ -f "$WORK/r/usr/lib/systemd/system/system-systemd\\x2dcryptsetup.slice" ] ||
  [ ! -e '/usr/lib/systemd/system/system-systemd\x2dcryptsetup.slice' ] ||
  fail "system-systemd\\x2dcryptsetup.slice did not come back"
pass "/etc, ${#SYSTEM[@]} folders of /usr and the names compare identical (bytes, modes, times, owners, links; $(($(date +%s) - start)) s)"
