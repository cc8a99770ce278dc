#!/usr/bin/env bash
# The web console in a real browser: vaultd and cbengine (with its console on
# a free port) are started here, `obctl console url` gives the address, and
# tests/e2e/console/console.test.mjs clicks through it in headless Debian
# Chromium driven by playwright-core: sign in, Register Server with a real
# vault-credential file (and a corrupt one: 34513), throttling, Schedule
# Backup, Back Up Now with the progress bar (followed until the job ends:
# every view consistent, no figure going back, the bar on the bytes in the
# vault; no assertion on timing), Vault, Recover Data of one file
# (compared byte for byte), a CompletedWithWarnings job's failed files, About.
# Every page and wizard step is saved to build/console-screenshots/*.png
# (SCREENSHOT_DIR overrides). Exits 77 (skipped) without chromium or npm.
source "$E2E_LIB"
: "${CBENGINE:?CBENGINE must point at the cbengine binary}"
: "${VAULTD:?VAULTD must point at the vaultd binary}"
REPO=$(cd "$HERE/../.." && pwd)
TESTS=$HERE/console
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SHOTS=${SCREENSHOT_DIR:-$REPO/build/console-screenshots}

[ -x "$CHROMIUM" ] || { echo "skip: no $CHROMIUM (apt-get install chromium)"; exit 77; }
command -v npm > /dev/null || { echo "skip: no npm"; exit 77; }
# playwright-core only (it never downloads a browser), at the locked version.
if ! [ -f "$TESTS/node_modules/playwright-core/package.json" ] ||
   ! cmp -s "$TESTS/package-lock.json" "$TESTS/node_modules/.package-lock.json.copy"; then
  (cd "$TESTS" && npm ci --no-audit --no-fund --loglevel=error) ||
    { echo "skip: npm ci failed in $TESTS"; exit 77; }
  cp "$TESTS/package-lock.json" "$TESTS/node_modules/.package-lock.json.copy"
fi

VPORT=$(free_port)
VURL=http://127.0.0.1:$VPORT
VSTATE=$WORK/vaultd
mkdir -p "$VSTATE"
VPID=
ENGINE_PID=
stop_all() {
  [ -z "$ENGINE_PID" ] || kill "$ENGINE_PID" 2> /dev/null || true
  [ -z "$VPID" ] || kill "$VPID" 2> /dev/null || true
  [ -z "$ENGINE_PID" ] || wait "$ENGINE_PID" 2> /dev/null || true
  [ -z "$VPID" ] || wait "$VPID" 2> /dev/null || true
  ENGINE_PID=
  cleanup
}
trap stop_all EXIT

"$VAULTD" --listen "$VURL" --state-dir "$VSTATE" > "$WORK/vaultd.log" 2>&1 &
VPID=$!
for _ in $(seq 1 100); do grep -q listening "$WORK/vaultd.log" && break; sleep 0.1; done
grep -q listening "$WORK/vaultd.log" || { cat "$WORK/vaultd.log"; fail "vaultd did not start"; }
ADMIN=(--service "$VURL" --admin-token-file "$VSTATE/admin.token")
obctl vault create prod "${ADMIN[@]}" > /dev/null
obctl vault credentials prod "${ADMIN[@]}" --out "$WORK/prod.VaultCredentials" > /dev/null
printf 'not xml at all' > "$WORK/corrupt.VaultCredentials"

# The data: 48 MiB that does not compress (so the throttled upload takes some
# seconds and the progress bar can be watched), and the file to recover.
DATA=$WORK/data/sample
mkdir -p "$DATA/docs"
for i in 1 2 3 4 5 6; do head -c 8M /dev/urandom > "$DATA/part$i.bin"; done
head -c 2500000 /dev/urandom > "$DATA/restore-me.bin"
printf 'notes\n' > "$DATA/docs/notes.txt"
printf 'scratch\n' > "$DATA/docs/ignored.tmp"

CPORT=$(free_port)
"$CBENGINE" --foreground --console-port "$CPORT" > "$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
URL=
for _ in $(seq 1 200); do
  URL=$(obctl console url 2> /dev/null) && break
  kill -0 "$ENGINE_PID" 2> /dev/null || { cat "$WORK/engine.log"; fail "cbengine exited at start"; }
  sleep 0.05
done
[[ "$URL" == "http://127.0.0.1:$CPORT/#token="* ]] || { cat "$WORK/engine.log"; fail "console url: '$URL'"; }
pass "vaultd and cbengine started; obctl console url: ${URL%%#*}#token=…"

mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
rc=0
(cd "$TESTS" && CONSOLE_URL="$URL" CREDS_FILE="$WORK/prod.VaultCredentials" \
  CORRUPT_CREDS_FILE="$WORK/corrupt.VaultCredentials" DATA_DIR="$DATA" RESTORE_FILE=restore-me.bin \
  RESTORE_DIR="$WORK/restored" PASS_COPY="$WORK/passphrase-copy.txt" SCREENSHOTS="$SHOTS" \
  VAULT_URL="$VURL" VAULT_ADMIN_TOKEN_FILE="$VSTATE/admin.token" \
  CHROMIUM="$CHROMIUM" timeout 480 node --test --test-reporter=spec console.test.mjs) || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- engine log (tail)"; tail -40 "$WORK/engine.log"
  fail "browser test failed (screenshots in $SHOTS)"
fi
ls "$SHOTS"/*.png > /dev/null 2>&1 || fail "no screenshots in $SHOTS"
pass "console clicked through in Chromium; $(ls "$SHOTS"/*.png | wc -l) screenshots in $SHOTS"
