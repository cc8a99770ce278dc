#!/usr/bin/env bash
# build-windows.sh - cross-build obagent for 64-bit Windows with mingw-w64.
#
# Usage: bash scripts/build-windows.sh [extra cmake -D options...]
# Env:   BUILD_DIR=build-win    build directory (relative to the repo root)
#        BUILD_TYPE=Release     CMAKE_BUILD_TYPE
#        JOBS=<n>               parallel build jobs (default: ninja's default)
#        TARGETS="a b"          build only these targets (default: all)
#        CCACHE=0               do not compile through ccache (scripts/build.sh)
# Then:  ctest --test-dir build-win   runs the unit tests under Wine
#
# Needs the packages of scripts/install-deps.sh (mingw-w64 -posix compilers,
# wine64, googletest sources, the header-only libraries). zstd's sources come
# from a Debian package through scripts/fetch-zstd-source.sh (cached).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."

BUILD_DIR=${BUILD_DIR:-build-win}
BUILD_TYPE=${BUILD_TYPE:-Release}

for tool in x86_64-w64-mingw32-g++-posix wine wineserver; do
  command -v "$tool" > /dev/null || {
    echo "build-windows: $tool not found: run scripts/install-deps.sh" >&2
    exit 1
  }
done
ZSTD_SOURCE_DIR=$(bash scripts/fetch-zstd-source.sh)

BUILD_DIR=$BUILD_DIR BUILD_TYPE=$BUILD_TYPE exec bash scripts/build.sh \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/mingw-w64-x86_64.cmake" \
  -DOBAGENT_ZSTD_SOURCE_DIR="$ZSTD_SOURCE_DIR" "$@"
