#!/usr/bin/env bash
# test.sh - the single test entry point (also what CI runs via .ci/run).
#
# Usage: bash scripts/test.sh
# Steps (all run; the exit status is non-zero if any failed):
#   1. deps      scripts/install-deps.sh                      (SKIP_DEPS=1 skips it)
#   2. conflicts no merge conflict markers in any tracked file
#      pipes     no pipe into `grep -q` or `head` in a test script (SIGPIPE races)
#      layers    no layering leaks (scripts/check-layers.sh: core includes no
#                platform or OS header, no module includes another's private
#                headers)
#      format    clang-format --dry-run --Werror on include/ src/ service/ tests/ bench/ *.h *.cc
#   3. build     Release build into build/                    (scripts/build.sh)
#   4. ctest     ctest --test-dir build --output-on-failure -j2   (unit + e2e)
#   5. asan      unit-test targets built with -DOBAGENT_SANITIZE=ON into build-asan/
#   6. asan-ctest  ctest --test-dir build-asan -L unit --output-on-failure -j2
#   8. fuzz      the libFuzzer targets (tests/fuzz) built with clang and
#                -DOBAGENT_FUZZ=ON into build-fuzz/, each run for FUZZ_SECONDS on
#                its committed corpus (tests/fuzz/corpus/<target>/); a crash,
#                leak or UB report fails the step and names the reproducer
#   (before 3) win-build  the Windows build with mingw-w64 into build-win/
#                  (scripts/build-windows.sh): the MSI and Wine e2e tests use it
#   7. win-ctest   ctest --test-dir build-win: the Windows unit tests under Wine
# Env: CTEST_JOBS=2, ASAN_BUILD_TYPE=RelWithDebInfo, ASAN_OPT_FLAGS="-Og -g1 -DNDEBUG"
#      (that build type's flags), CCACHE=0 (no ccache; scripts/build.sh),
#      FUZZ_SECONDS=20 (per fuzz target), FUZZ_OPT_FLAGS="-O1 -g1 -DNDEBUG"
# The builds compile through ccache when it is installed: docs/development.md
# has the step times with a cold and a warm cache.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
CTEST_JOBS=${CTEST_JOBS:-2}
ASAN_BUILD_TYPE=${ASAN_BUILD_TYPE:-RelWithDebInfo}
ASAN_OPT_FLAGS=${ASAN_OPT_FLAGS:-"-Og -g1 -DNDEBUG"}
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_OPT_FLAGS=${FUZZ_OPT_FLAGS:-"-O1 -g1 -DNDEBUG"}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

T_START=$SECONDS
RESULTS=() # "name: status (time)" lines for the summary
SHORT=()   # "name=status" for the final line
FAILED=0
CPU_TIMES=$(mktemp)
trap 'rm -f "$CPU_TIMES"' EXIT
# CPU_SECONDS = user+sys seconds of this shell's finished children, all
# their descendants included. (`times` in this shell: a $(...) subshell
# would report its own children.)
read_cpu_seconds() {
  times > "$CPU_TIMES"
  CPU_SECONDS=$(awk 'END { split($0, t, /[ ms]+/); printf "%d", t[1] * 60 + t[2] + t[3] * 60 + t[4] }' "$CPU_TIMES")
}
step() { # name cmd... : run a step and record ok/FAIL with its duration
  # Wall time and CPU time: on a shared machine the CPU seconds are what
  # compares between runs (docs/development.md).
  local name=$1 t0=$SECONDS cpu0 rc=0 took
  read_cpu_seconds
  cpu0=$CPU_SECONDS
  shift
  echo
  echo "=== [$name] $*"
  "$@" || rc=$?
  read_cpu_seconds
  took="$((SECONDS - t0))s, cpu $((CPU_SECONDS - cpu0))s"
  if [ "$rc" -eq 0 ]; then
    RESULTS+=("$name: ok ($took)")
    SHORT+=("$name=ok")
  else
    RESULTS+=("$name: FAIL rc=$rc ($took)")
    SHORT+=("$name=FAIL")
    FAILED=1
    echo "=== [$name] FAILED (rc=$rc)"
  fi
  return "$rc"
}
skip() { # name reason
  RESULTS+=("$1: skipped ($2)")
  SHORT+=("$1=skipped")
  echo
  echo "=== [$1] skipped: $2"
}

# shellcheck disable=SC2317  # invoked indirectly via step
# A merge that left its conflict markers (one release shipped one inside
# `obctl --help`): any tracked file with a line that starts with one fails.
check_conflict_markers() {
  local hits
  hits=$(git grep -nE '^(<<<<<<< |>>>>>>> |=======$)' -- . ':!*.md' 2> /dev/null || true)
  if [ -n "$hits" ]; then
    echo "conflict markers left by a merge:"
    echo "$hits" | sed -n 1,20p
    return 1
  fi
  echo "no conflict markers"
}

# shellcheck disable=SC2317  # invoked indirectly via step
# A pipe into `grep -q` or `head` in a test script under pipefail: the reader
# stops at its first match or line, the writer dies of SIGPIPE if it writes
# again, and the line fails at random (a clean-clone CI run failed so).
# tests/e2e/lib.sh has `has` (grep reading everything) and `sed -n 1p`.
check_test_pipes() {
  local hits
  hits=$(git grep -nE '\|[[:space:]]*(grep[[:space:]]+-[a-zA-Z]*q|hea''d)\b' -- 'tests/*.sh' 'scripts/*.sh' |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*#|<<<' || true)
  if [ -n "$hits" ]; then
    echo "pipes into grep -q or head (use has, or sed -n 1p; see tests/e2e/lib.sh):"
    echo "$hits"
    return 1
  fi
  echo "no pipes into grep -q or head in the test scripts"
}

# shellcheck disable=SC2317  # invoked indirectly via step
check_format() {
  local dirs=() d files=()
  for d in include src service tests bench; do [ -d "$d" ] && dirs+=("$d"); done
  if [ ${#dirs[@]} -gt 0 ]; then
    mapfile -d '' files < <(find "${dirs[@]}" -type f \( -name '*.h' -o -name '*.cc' \) -print0 | sort -z)
  fi
  if [ ${#files[@]} -eq 0 ]; then
    echo "no C++ sources found"
    return 0
  fi
  echo "checking ${#files[@]} files with $(clang-format --version | sed -n 1p)"
  local log bad=()
  log=$(mktemp)
  if clang-format --dry-run --Werror "${files[@]}" > "$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  mapfile -t bad < <(grep -o '^[^: ]*:[0-9]*:[0-9]*: error' "$log" | cut -d: -f1 | sort -u)
  head -30 "$log"
  [ "$(wc -l < "$log")" -le 30 ] || echo "..."
  echo "not clang-formatted (${#bad[@]} files):"
  printf '  %s\n' "${bad[@]}"
  echo "fix with: clang-format -i ${bad[*]}"
  rm -f "$log"
  return 1
}

# shellcheck disable=SC2317  # invoked indirectly via step
asan_build() {
  # -Og -g1: the sanitizers' checks do not need -O2's optimisation, and line
  # tables are all their stack traces use: this halves the compile time of
  # RelWithDebInfo's -O2 -g (docs/development.md). The prefix map keeps the
  # clone's folder out of the debug info, so ccache shares the objects
  # between clones (scripts/build.sh).
  local cmake_args=(-DOBAGENT_SANITIZE=ON
    "-DCMAKE_CXX_FLAGS_${ASAN_BUILD_TYPE^^}=$ASAN_OPT_FLAGS -fdebug-prefix-map=$ROOT=.")
  # configure first, so the unit-test targets can be listed
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE="$ASAN_BUILD_TYPE" "${cmake_args[@]}"
  local targets
  targets=$(ninja -C build-asan -t targets all | grep -o '^[a-z]*_tests:' | tr -d : | sort -u | tr '\n' ' ')
  if [ -z "${targets// /}" ]; then
    echo "no unit-test targets (tests/unit/<module>/*_test.cc) yet"
    return 0
  fi
  echo "building unit-test targets: $targets"
  BUILD_DIR=build-asan BUILD_TYPE=$ASAN_BUILD_TYPE TARGETS=$targets \
    bash scripts/build.sh "${cmake_args[@]}"
}

# shellcheck disable=SC2317  # invoked indirectly via step
fuzz_build() {
  # clang with libFuzzer and ASan/UBSan; only the fuzz targets and the
  # libraries they link are compiled (fuzz_all), through ccache like the
  # other builds (the prefix map keeps the clone's folder out of the keys).
  command -v clang++ > /dev/null || {
    echo "clang++ is not installed (scripts/install-deps.sh installs clang)"
    return 1
  }
  CC=clang CXX=clang++ BUILD_DIR=build-fuzz BUILD_TYPE=RelWithDebInfo TARGETS=fuzz_all \
    bash scripts/build.sh -DOBAGENT_FUZZ=ON -DOBAGENT_BUILD_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$FUZZ_OPT_FLAGS -fdebug-prefix-map=$ROOT=."
}

# shellcheck disable=SC2317  # invoked indirectly via step
fuzz_run() {
  # Each target on a copy of its committed corpus (new inputs stay out of
  # the repository), its dictionary when it has one; a finding is written
  # to build-fuzz/findings/<target>/ and fails the step.
  local dir t bin work log failed=0 opts scratch base=/tmp
  rm -rf build-fuzz/findings build-fuzz/work
  # The targets' scratch folders (vaultd's stores, the engine's state) on a
  # RAM disk when there is one; removed here too after a crash.
  [ -d /dev/shm ] && base=/dev/shm
  scratch=$(mktemp -d "$base/obagent-fuzz-XXXXXX")
  for dir in tests/fuzz/corpus/*/; do
    t=$(basename "$dir")
    bin=build-fuzz/tests/fuzz/fuzz_$t
    [ -x "$bin" ] || {
      echo "fuzz_$t: not built"
      failed=1
      continue
    }
    work=build-fuzz/work/$t
    log=build-fuzz/work/$t.log
    mkdir -p "$work" "build-fuzz/findings/$t"
    opts=(-max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=2048
      -artifact_prefix="build-fuzz/findings/$t/")
    [ -f "tests/fuzz/$t.dict" ] && opts+=(-dict="tests/fuzz/$t.dict")
    if TMPDIR=$scratch LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0" \
      "$bin" "${opts[@]}" "$work" "$dir" > "$log" 2>&1; then
      echo "fuzz_$t: ok ($(grep -o 'Done [0-9]* runs' "$log" | tr -dc 0-9) runs in ${FUZZ_SECONDS}s)"
    else
      failed=1
      echo "fuzz_$t: FAILED"
      grep -E 'ERROR: |runtime error|SUMMARY' "$log" | sed -n 1,5p || true
      tail -25 "$log"
      grep -o 'Test unit written to .*' "$log" | sed 's|^Test unit written to |  reproducer: |' || true
      echo "  rerun: $bin <reproducer>   (docs/development.md, Fuzzing)"
    fi
  done
  rm -rf "$scratch"
  return "$failed"
}

if [ "${SKIP_DEPS:-0}" = 1 ]; then
  skip deps "SKIP_DEPS=1"
else
  step deps bash scripts/install-deps.sh || true
fi
step conflicts check_conflict_markers || true
step pipes check_test_pipes || true
step layers bash scripts/check-layers.sh || true
step format check_format || true
# Azurite (npm) for the Azure Blob tests; the tests start and stop it.
step azurite bash scripts/azurite.sh install || true
# The Windows build (mingw-w64) comes before the Linux ctest: its binaries are
# what the MSI test packs and what the Wine service test runs.
WIN_OK=0
step win-build env BUILD_DIR=build-win BUILD_TYPE=Release bash scripts/build-windows.sh && WIN_OK=1
if step build env BUILD_DIR=build BUILD_TYPE=Release bash scripts/build.sh; then
  step ctest ctest --test-dir build --output-on-failure -j"$CTEST_JOBS" || true
else
  skip ctest "build failed"
fi
if step asan-build asan_build; then
  step asan-ctest env LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0" \
    ctest --test-dir build-asan -L unit --output-on-failure -j"$CTEST_JOBS" || true
else
  skip asan-ctest "asan build failed"
fi
# The fuzz targets, each for FUZZ_SECONDS on its seed corpus.
if step fuzz-build fuzz_build; then
  step fuzz fuzz_run || true
else
  skip fuzz "fuzz build failed"
fi
# The Windows unit tests under Wine (ctest's emulator).
if [ "$WIN_OK" = 1 ]; then
  step win-ctest ctest --test-dir build-win --output-on-failure -j"$CTEST_JOBS" || true
else
  skip win-ctest "windows build failed"
fi

echo
echo "=== summary ($ROOT, $(git rev-parse --short HEAD 2>/dev/null || echo no-git))"
for r in "${RESULTS[@]}"; do echo "  $r"; done
VERDICT=PASS
[ "$FAILED" -eq 0 ] || VERDICT=FAIL
echo "test.sh: $VERDICT [${SHORT[*]}] in $((SECONDS - T_START))s"
exit "$FAILED"
