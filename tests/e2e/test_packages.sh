# The Debian packages (scripts/package-deb.sh): their contents, control
# fields and maintainer scripts; then, as root, install them, start the
# engine the way this machine can (systemd if it runs, else in the
# foreground), remove, purge, and check that nothing is left.
#
# Installing touches the machine, so that part runs only when nothing of
# obagent is installed or present in the packages' paths, under a machine-wide
# lock (other checkouts run this test too), and an EXIT trap purges whatever
# it installed even when a check fails midway.
source "$E2E_LIB"

SKIP=77 # SKIP_RETURN_CODE in tests/CMakeLists.txt
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(dirname "$OBCTL")
if [ -z "${CBENGINE:-}" ] || [ ! -x "$CBENGINE" ]; then
  echo "SKIP: cbengine is not built (no cbengine target), so there is no package to build"
  exit $SKIP
fi

# ---- build the packages -------------------------------------------------
bash "$SRC/scripts/package-deb.sh" "$BUILD" "$WORK/debs" > "$WORK/debs.txt"
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
ARCH=$(dpkg --print-architecture)
DEB=$WORK/debs/obagent_${VERSION}_${ARCH}.deb
VDEB=$WORK/debs/obagent-vaultd_${VERSION}_${ARCH}.deb
[ -f "$DEB" ] && [ -f "$VDEB" ] || fail "package-deb.sh did not write $DEB and $VDEB: $(cat "$WORK/debs.txt")"
pass "built $(basename "$DEB") and $(basename "$VDEB")"

# ---- contents: exactly these files, owned by root, with these modes ---------
# check_contents DEB "MODE PATH"...: every file and symlink; directories 0755.
check_contents() {
  local deb=$1
  shift
  local want got
  want=$(printf '%s\n' "$@" | sort)
  got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $6}' | sort)
  [ "$got" = "$want" ] || fail "$(basename "$deb") contents differ:
$(diff <(echo "$want") <(echo "$got"))"
  dpkg-deb -c "$deb" | awk '$2 != "root/root" {bad = 1; print} END {exit bad}' ||
    fail "$(basename "$deb") has files not owned by root"
  dpkg-deb -c "$deb" | awk '$1 ~ /^d/ && $1 != "drwxr-xr-x" {bad = 1; print} END {exit bad}' ||
    fail "$(basename "$deb") has directories that are not 0755"
}
check_contents "$DEB" \
  "-rwxr-xr-x ./usr/bin/obctl" \
  "-rwxr-xr-x ./usr/bin/cbengine" \
  "-rw-r--r-- ./lib/systemd/system/cbengine.service" \
  "-rw-r--r-- ./usr/share/doc/obagent/copyright" \
  "-rw-r--r-- ./usr/share/doc/obagent/README.md" \
  "-rw-r--r-- ./usr/share/doc/obagent/operations.md"
check_contents "$VDEB" \
  "-rwxr-xr-x ./usr/sbin/vaultd" \
  "-rw-r--r-- ./lib/systemd/system/vaultd.service" \
  "-rw-r--r-- ./etc/obagent/vaultd.conf" \
  "-rw-r--r-- ./usr/share/doc/obagent-vaultd/copyright" \
  "-rw-r--r-- ./usr/share/doc/obagent-vaultd/README.md" \
  "-rw-r--r-- ./usr/share/doc/obagent-vaultd/operations.md"
cmp -s <(dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./lib/systemd/system/cbengine.service) \
  "$SRC/service/systemd/cbengine.service" || fail "the packaged cbengine.service is not service/systemd/cbengine.service"
pass "file lists, owners and modes"

# ---- control fields ---------------------------------------------------------
field() { dpkg-deb -f "$1" "$2"; }
for deb in "$DEB" "$VDEB"; do
  [ "$(field "$deb" Version)" = "$VERSION" ] || fail "$(basename "$deb"): Version $(field "$deb" Version), want $VERSION"
  [ "$(field "$deb" Architecture)" = "$ARCH" ] || fail "$(basename "$deb"): Architecture"
  [ -n "$(field "$deb" Maintainer)" ] && [ -n "$(field "$deb" Description)" ] || fail "$(basename "$deb"): Maintainer/Description"
  [ "$(field "$deb" Installed-Size)" -gt 0 ] || fail "$(basename "$deb"): Installed-Size"
done
[ "$(field "$DEB" Package)" = obagent ] && [ "$(field "$VDEB" Package)" = obagent-vaultd ] || fail "package names"

# Depends: must name the package of every shared library a binary needs.
# check_depends DEB BINARY-IN-DEB...
check_depends() {
  local deb=$1 depends depend_names lib path pkg bin names name found
  shift
  depends=$(field "$deb" Depends)
  # one package name a line ("a (>= 1), b | c" -> a b c)
  depend_names=$(tr ',|' '\n' <<< "$depends" | sed 's/(.*//; s/^ *//; s/ *$//')
  dpkg-deb -x "$deb" "$WORK/x"
  for bin in "$@"; do
    for lib in $(objdump -p "$WORK/x/$bin" | awk '$1 == "NEEDED" {print $2}'); do
      # (awk reads to the end: an early exit would kill ldconfig with SIGPIPE)
      path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}')
      [ -n "$path" ] || fail "$bin needs $lib, which is not installed"
      # dpkg knows the path the package ships, which merged /usr may hide.
      pkg=$(dpkg -S "$path" "$(readlink -f "$path")" "${path#/usr}" 2> /dev/null | sed -n '1s/:.*//p' || true)
      [ -n "$pkg" ] || fail "no package ships $path ($lib, needed by $bin)"
      # The library's shlibs file may name a virtual package $pkg provides.
      names=$(dpkg-query -W -f='${Package},${Provides}' "$pkg" | tr ',' '\n' | sed 's/ (.*//; s/^ *//')
      found=0
      for name in $names; do
        if grep -qxF -- "$name" <<< "$depend_names"; then found=1; fi
      done
      [ "$found" = 1 ] || fail "$(basename "$deb"): $bin needs $lib ($pkg), not in Depends: $depends"
    done
  done
  rm -rf "$WORK/x"
}
check_depends "$DEB" usr/bin/obctl usr/bin/cbengine
check_depends "$VDEB" usr/sbin/vaultd
pass "control fields; Depends: covers every NEEDED library ($(field "$DEB" Depends))"

# ---- maintainer scripts and conffiles -----------------------------------------
for deb in "$DEB" "$VDEB"; do
  rm -rf "$WORK/ctl" && dpkg-deb -e "$deb" "$WORK/ctl"
  for s in postinst prerm postrm; do
    [ -x "$WORK/ctl/$s" ] || fail "$(basename "$deb"): no executable $s"
    sh -n "$WORK/ctl/$s" || fail "$(basename "$deb"): $s is not valid sh"
  done
done
dpkg-deb -e "$VDEB" "$WORK/vctl"
[ "$(cat "$WORK/vctl/conffiles")" = /etc/obagent/vaultd.conf ] || fail "vaultd.conf is not a conffile"
pass "maintainer scripts and conffiles"

# ---- the units --------------------------------------------------------------
# verify_units UNIT...: systemd-analyze verify must not complain, except, for
# the source files, that the binaries are not installed yet.
verify_units() {
  local out
  out=$(systemd-analyze verify "$@" 2>&1 || true)
  out=$(grep -vE '^(cbengine|vaultd)\.service: Command /usr/s?bin/(cbengine|vaultd) is not executable' <<< "$out" || true)
  [ -z "$out" ] || fail "systemd-analyze verify $*: $out"
}
command -v systemd-analyze > /dev/null || fail "systemd-analyze not found (scripts/install-deps.sh installs systemd)"
verify_units "$SRC/service/systemd/cbengine.service" "$SRC/service/systemd/vaultd.service"
pass "systemd-analyze verify accepts the units"

# ---- install, start, remove, purge ------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: not root, so the packages were built and checked but not installed"
  exit $SKIP
fi
exec 9> /tmp/obagent-test-packages.lock
flock -w 600 9 || fail "another test_packages held /tmp/obagent-test-packages.lock for 10 minutes"

# Paths the packages or their scripts create or delete: the machine must not
# have any of them, or the test would change or delete something of someone's.
OWNED_PATHS=(/usr/bin/obctl /usr/bin/cbengine /usr/sbin/vaultd /lib/systemd/system/cbengine.service
  /lib/systemd/system/vaultd.service /etc/obagent /var/lib/obagent /var/lib/vaultd /var/lib/private/vaultd
  /etc/systemd/system/obagent-backup.timer /etc/systemd/system/obagent-backup.service
  /etc/systemd/system/cbengine.service /etc/systemd/system/vaultd.service)
for p in "${OWNED_PATHS[@]}"; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    echo "SKIP install: $p exists on this machine; the test installs and purges obagent only where it is absent"
    exit $SKIP
  fi
done
for pkg in obagent obagent-vaultd; do
  if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2> /dev/null | has -v '^not-installed$'; then
    echo "SKIP install: the package $pkg is installed here (dpkg-query), the test leaves it alone"
    exit $SKIP
  fi
done

SYSTEMD=0
[ -d /run/systemd/system ] && SYSTEMD=1
ENGINE_PID='' VAULTD_PID='' INSTALLED=0
undo_install() {
  local pid
  for pid in $ENGINE_PID $VAULTD_PID; do kill "$pid" 2> /dev/null || true; done
  if [ "$INSTALLED" = 1 ]; then
    dpkg --purge obagent obagent-vaultd > /dev/null 2>&1 || echo "WARNING: dpkg --purge failed" >&2
    rm -f /etc/systemd/system/obagent-backup.timer /etc/systemd/system/obagent-backup.service
    rm -rf /var/lib/obagent
  fi
  # vaultd.service's state, kept by purge on purpose, exists only if systemd started it.
  if [ "$SYSTEMD" = 1 ]; then rm -rf /var/lib/vaultd /var/lib/private/vaultd; fi
  cleanup
}
trap undo_install EXIT
trap 'exit 1' INT TERM HUP

INSTALLED=1
dpkg -i "$DEB" "$VDEB" > "$WORK/dpkg-i.log" 2>&1 || fail "dpkg -i: $(cat "$WORK/dpkg-i.log")"
[ "$(dpkg-query -W -f='${db:Status-Status}' obagent)" = installed ] || fail "obagent is not installed after dpkg -i"
[ "$(stat -c '%a %U %G' /var/lib/obagent)" = "700 root root" ] ||
  fail "/var/lib/obagent is $(stat -c '%a %U %G' /var/lib/obagent), want 700 root root"
# Enabled even when systemd does not run (deb-systemd-helper), so it starts at the next boot.
for u in cbengine vaultd; do
  [ "$(readlink /etc/systemd/system/multi-user.target.wants/$u.service)" = /lib/systemd/system/$u.service ] ||
    fail "$u.service is not enabled after installing"
done
verify_units /lib/systemd/system/cbengine.service /lib/systemd/system/vaultd.service
dpkg --verify obagent obagent-vaultd || fail "dpkg --verify reports changed files"
pass "installed; /var/lib/obagent is 0700 root; units enabled and valid"

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}
engine_ready() { grep -qx 'READY=1' "$WORK/notify.txt" 2> /dev/null; }

if [ "$SYSTEMD" = 1 ]; then
  wait_for 60 systemctl is-active --quiet cbengine || {
    systemctl status cbengine --no-pager || true
    fail "cbengine.service is not active (Type=notify: it did not send READY=1)"
  }
  [ -S /var/lib/obagent/cbengine.sock ] || fail "no local API socket /var/lib/obagent/cbengine.sock"
  systemctl stop cbengine
  [ "$(systemctl show -P Result cbengine)" = success ] || fail "cbengine did not stop cleanly"
  pass "systemd started cbengine.service (READY=1) and stopped it"
  wait_for 60 test -s /var/lib/vaultd/admin.token || fail "vaultd.service did not start: $(systemctl status vaultd --no-pager)"
  systemctl is-active --quiet vaultd || fail "vaultd.service is not active"
  pass "systemd started vaultd.service as a dynamic user"
else
  echo "systemd not running: started cbengine in foreground mode"
  # Stand in for systemd's notify socket, to see the READY=1 Type=notify waits for.
  python3 - "$WORK/notify.sock" "$WORK/notify.txt" << 'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(120)
with open(sys.argv[2], "a") as out:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        out.write(msg.strip() + "\n")
        out.flush()
EOF
  NOTIFY_PID=$!
  wait_for 10 test -S "$WORK/notify.sock" || fail "the notify listener did not start"
  STATE=$WORK/engine-state
  NOTIFY_SOCKET=$WORK/notify.sock /usr/bin/cbengine --foreground --state-dir "$STATE" 2> "$WORK/cbengine.err" &
  ENGINE_PID=$!
  wait_for 30 engine_ready || fail "cbengine sent no READY=1 within 30 s: $(cat "$WORK/cbengine.err")"
  kill -0 "$ENGINE_PID" || fail "cbengine exited after READY=1: $(cat "$WORK/cbengine.err")"
  [ -S "$STATE/cbengine.sock" ] || fail "no local API socket $STATE/cbengine.sock"
  [ -s "$STATE/logs/cbengine.log" ] || fail "cbengine wrote no $STATE/logs/cbengine.log"
  kill -TERM "$ENGINE_PID"
  rc=0
  wait "$ENGINE_PID" || rc=$?
  ENGINE_PID=''
  [ "$rc" -eq 0 ] || fail "cbengine exited with $rc on SIGTERM: $(tail -5 "$WORK/cbengine.err")"
  kill "$NOTIFY_PID" 2> /dev/null || true
  pass "foreground: /usr/bin/cbengine sent READY=1, served $STATE/cbengine.sock, exited 0 on SIGTERM"

  # vaultd from the package, with the packaged config file.
  PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  /usr/sbin/vaultd --config /etc/obagent/vaultd.conf --state-dir "$WORK/vaultd" \
    --listen "http://127.0.0.1:$PORT" 2> "$WORK/vaultd.err" &
  VAULTD_PID=$!
  wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$PORT/" || fail "vaultd does not answer: $(cat "$WORK/vaultd.err")"
  [ -s "$WORK/vaultd/admin.token" ] || fail "vaultd created no admin token"
  kill -TERM "$VAULTD_PID"
  rc=0
  wait "$VAULTD_PID" || rc=$?
  VAULTD_PID=''
  [ "$rc" -eq 0 ] || fail "vaultd exited with $rc on SIGTERM"
  pass "foreground: /usr/sbin/vaultd with /etc/obagent/vaultd.conf answered and exited 0 on SIGTERM"
fi

# The installed obctl works, and writes the schedule's units as an
# administrator would install them (docs/operations.md).
OBCTL=/usr/bin/obctl
setup_vault
mkdir -p "$WORK/data"
obctl policy new --include "$WORK/data" --days Mon --times 21:30 --daily 7 > /dev/null
obctl policy schedule-files --out "$WORK/sched" > /dev/null
cp "$WORK/sched/obagent-backup.timer" "$WORK/sched/obagent-backup.service" /etc/systemd/system/
pass "/usr/bin/obctl registers, sets a policy and writes its timer"

# remove keeps the state; purge deletes it, and the timer obctl generated.
echo marker > /var/lib/obagent/marker
dpkg -r obagent obagent-vaultd > "$WORK/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$WORK/dpkg-r.log")"
[ ! -e /usr/bin/cbengine ] && [ ! -e /usr/bin/obctl ] && [ ! -e /usr/sbin/vaultd ] || fail "binaries left after dpkg -r"
[ -f /var/lib/obagent/marker ] || fail "dpkg -r deleted /var/lib/obagent (only purge may)"
[ -f /etc/obagent/vaultd.conf ] || fail "dpkg -r deleted the conffile (only purge may)"
pass "dpkg -r removed the programs and kept /var/lib/obagent and vaultd.conf"

dpkg --purge obagent obagent-vaultd > "$WORK/dpkg-p.log" 2>&1 || fail "dpkg --purge: $(cat "$WORK/dpkg-p.log")"
INSTALLED=0
for pkg in obagent obagent-vaultd; do
  if dpkg-query -W -f='${db:Status-Status}' "$pkg" 2> /dev/null | has -v '^not-installed$'; then
    fail "$pkg is still known to dpkg after purge"
  fi
done
if [ "$SYSTEMD" = 1 ]; then
  [ -s /var/lib/vaultd/admin.token ] || fail "dpkg --purge deleted vaultd's state (it must keep the vault's data)"
  rm -rf /var/lib/vaultd /var/lib/private/vaultd
fi
LEFT=()
for p in "${OWNED_PATHS[@]}" /usr/share/doc/obagent /usr/share/doc/obagent-vaultd \
  /etc/systemd/system/multi-user.target.wants/cbengine.service \
  /etc/systemd/system/multi-user.target.wants/vaultd.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then LEFT+=("$p"); fi
done
mapfile -t -O ${#LEFT[@]} LEFT < <(find /var/lib/systemd/deb-systemd-helper-enabled \
  /var/lib/systemd/deb-systemd-helper-masked -name '*cbengine*' -o -name '*vaultd*' 2> /dev/null)
[ ${#LEFT[@]} -eq 0 ] || fail "left after dpkg --purge: ${LEFT[*]}"
pass "dpkg --purge removed everything: state, conffile, generated timer, unit links"
