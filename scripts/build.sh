#!/usr/bin/env bash
# build.sh - configure and build obagent with CMake + Ninja.
#
# Usage: bash scripts/build.sh [extra cmake -D options...]
# Env:   BUILD_DIR=build      build directory (relative to the repo root)
#        BUILD_TYPE=Release   CMAKE_BUILD_TYPE
#        JOBS=<n>             parallel build jobs (default: ninja's default)
#        TARGETS="a b"        build only these targets (default: all)
#        CCACHE=0             do not compile through ccache (default: use it
#                             when it is installed)
# (scripts/build-windows.sh builds through this script too.)
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}

launcher=()
if [ "${CCACHE:-1}" != 0 ] && command -v ccache > /dev/null; then
  # Cache keys relative to the source root: a fresh clone in another folder
  # (CI) hits what an earlier clone compiled. Objects with debug info name
  # the folder they were built in unless it is mapped away
  # (-fdebug-prefix-map=<root>=., as the sanitizer build of test.sh does).
  export CCACHE_BASEDIR=$PWD
  # (C: the Windows build compiles zstd's sources.)
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
else
  # An earlier configure's launcher stays in the cache otherwise.
  launcher=(-UCMAKE_CXX_COMPILER_LAUNCHER -UCMAKE_C_COMPILER_LAUNCHER)
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${launcher[@]}" "$@"

args=(--build "$BUILD_DIR")
[ -n "${JOBS:-}" ] && args+=(-j "$JOBS")
if [ -n "${TARGETS:-}" ]; then
  read -r -a targets <<< "$TARGETS"
  args+=(--target "${targets[@]}")
fi
cmake "${args[@]}"
