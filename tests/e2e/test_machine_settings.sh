#!/usr/bin/env bash
# Machine settings (Get-/Set-OBMachineSetting): throttling applied to the
# next job, proxy stored, invalid input changes nothing, and moving the
# scratch folder — also when killed at random moments — keeps a working
# agent whose backups and restores go on.
source "$E2E_LIB"

SRC=$WORK/data
mkdir -p "$SRC"
for i in $(seq 1 6); do head -c 1000000 /dev/urandom > "$SRC/f$i.bin"; done
setup_vault
CONFIG=$OBAGENT_STATE_DIR/agent.json
setting() { obctl --json machine-setting show | python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
scratch() { setting "['scratch_location']"; }

[ "$(setting "['throttle']['enabled']")" = False ] || fail "throttling on after registration"
before=$(sha256sum "$CONFIG")
expect_fail "512 Kbps" obctl machine-setting set --work-hour-bandwidth 10KB/s --non-work-hour-bandwidth 1MB/s
expect_fail "not a bandwidth" obctl machine-setting set --work-hour-bandwidth fast --non-work-hour-bandwidth 1MB/s
expect_fail "needs both" obctl machine-setting set --work-hour-bandwidth 1MB/s
expect_fail "start must come before" obctl machine-setting set --start-work-hour 18:00 --end-work-hour 09:00 \
  --work-hour-bandwidth 1MB/s --non-work-hour-bandwidth 1MB/s
expect_fail "day of the week" obctl machine-setting set --work-day mon,funday \
  --work-hour-bandwidth 1MB/s --non-work-hour-bandwidth 1MB/s
expect_fail "--proxy-port" obctl machine-setting set --proxy-server proxy.example
expect_fail "cannot be combined" obctl machine-setting set --no-throttle --work-hour-bandwidth 1MB/s
[ "$(sha256sum "$CONFIG")" = "$before" ] || fail "rejected settings changed agent.json"
pass "invalid settings are refused with a precise message; nothing changes"

obctl machine-setting set --work-day all --start-work-hour 00:00 --end-work-hour 24:00 \
  --work-hour-bandwidth 4MB/s --non-work-hour-bandwidth 4MB/s > /dev/null
[ "$(setting "['throttle']['work_hour_bytes_per_second']")" = $((4 << 20)) ] || fail "work-hour rate not stored"
[ "$(stat -c %a "$CONFIG")" = 600 ] || fail "agent.json mode $(stat -c %a "$CONFIG")"
obctl backup start --include "$SRC" > /dev/null
grep -q "Bandwidth throttling: .* now 4 MiB/s" "$OBAGENT_STATE_DIR/logs/cbengine.log" ||
  fail "the backup did not log the throttle rate in force"
obctl recover --point latest --target "$WORK/r1" > /dev/null
cmp "$SRC/f6.bin" "$WORK/r1$SRC/f6.bin" || fail "restore with throttling"
obctl machine-setting set --no-throttle > /dev/null
[ "$(setting "['throttle']['enabled']")" = False ] || fail "--no-throttle"
pass "throttling is stored, applied to backup and restore (rate logged), and turned off"

obctl machine-setting set --proxy-server proxy.example --proxy-port 3128 --proxy-username alice \
  --proxy-password-file "$PASS_FILE" > /dev/null
[ "$(setting "['proxy']['server']")" = http://proxy.example:3128 ] || fail "proxy not stored"
[ "$(setting "['proxy']['password_set']")" = True ] || fail "proxy password not stored"
obctl --json machine-setting show | has "correct horse" && fail "show prints the proxy password"
obctl machine-setting set --no-proxy > /dev/null
[ "$(setting "['proxy']['server']")" = "" ] || fail "--no-proxy"
pass "proxy stored (password never shown) and removed"

old=$(scratch)
expect_fail "must not contain each other" obctl machine-setting set --scratch-location "$old/inner"
obctl machine-setting set --scratch-location "$WORK/scratch2" > /dev/null
[ "$(scratch)" = "$WORK/scratch2" ] || fail "scratch location not switched"
[ -f "$WORK/scratch2/OnlineBackup.KEK" ] || fail "key file not moved"
[ ! -e "$old/OnlineBackup.KEK" ] || fail "old key file left behind"
echo changed > "$SRC/f1.bin"
obctl backup start --include "$SRC" > /dev/null
obctl recover --point latest --target "$WORK/r2" > /dev/null
cmp "$SRC/f1.bin" "$WORK/r2$SRC/f1.bin" || fail "restore after the scratch move"
pass "scratch move: key and caches moved, backup and restore go on"

# Killed at random moments, a move leaves an agent that works with one of
# the two folders, its key file intact.
kek=$(sha256sum < "$WORK/scratch2/OnlineBackup.KEK")
for i in $(seq 1 8); do
  target=$WORK/scratch-$((i % 2))
  [ "$(scratch)" = "$target" ] && target=$WORK/scratch-x$i
  "$OBCTL" machine-setting set --scratch-location "$target" > /dev/null 2>&1 &
  pid=$!
  sleep "0.0$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  now=$(scratch)
  [ "$(sha256sum < "$now/OnlineBackup.KEK")" = "$kek" ] || fail "key file lost after a kill (scratch $now)"
  obctl recovery list > /dev/null || fail "agent broken after a move killed (scratch $now)"
done
obctl backup start --include "$SRC" > /dev/null
pass "moves killed at random moments leave a working agent and its key"
