#!/usr/bin/env bash
# build.sh - configure and build obagent with CMake + Ninja.
#
# Usage: bash scripts/build.sh [extra cmake -D options...]
# Env:   BUILD_DIR=build      build directory (relative to the repo root)
#        BUILD_TYPE=Release   CMAKE_BUILD_TYPE
#        JOBS=<n>             parallel build jobs (default: ninja's default)
#        TARGETS="a b"        build only these targets (default: all)
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "$@"

args=(--build "$BUILD_DIR")
[ -n "${JOBS:-}" ] && args+=(-j "$JOBS")
if [ -n "${TARGETS:-}" ]; then
  read -r -a targets <<< "$TARGETS"
  args+=(--target "${targets[@]}")
fi
cmake "${args[@]}"
