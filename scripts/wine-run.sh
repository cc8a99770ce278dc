#!/usr/bin/env bash
# wine-run.sh - run a Windows program under Wine for tests (ctest's emulator).
#
# Usage: WINEPREFIX=DIR bash scripts/wine-run.sh PROGRAM.exe [args...]
# Creates the prefix on first use (once, under a lock, so parallel tests do
# not race), keeps a wineserver alive between tests (start-up drops from
# ~2.7 s to ~0.05 s per program, design.md §4) and silences Wine's own
# diagnostics so the program's output is what the test sees.
set -euo pipefail

: "${WINEPREFIX:?set WINEPREFIX to the Wine prefix folder}"
export WINEPREFIX WINEDEBUG=-all
# No desktop integration or Mono/Gecko install prompts in a headless prefix.
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=;winemenubuilder.exe=d}"
WINE=${WINE:-wine}

mkdir -p "$(dirname "$WINEPREFIX")"
# Wine's long-lived processes (wineserver, winedevice.exe, ...) must never
# inherit the caller's output pipes or this lock: ctest waits for every
# holder of a test's output pipe, and the lock would block the next test.
quiet() { "$@" < /dev/null > /dev/null 2>&1 9>&-; }
(
  flock 9
  [ -f "$WINEPREFIX/system.reg" ] || quiet "$WINE" wineboot --init || true
  # A persistent server for this prefix (exits 60 s after its last client);
  # exit code 0 means none was running, so Wine's services are started too.
  if quiet wineserver -p60; then
    quiet "$WINE" wineboot || true
  fi
) 9> "$WINEPREFIX.lock"

exec "$WINE" "$@"
