#!/usr/bin/env bash
# install-deps.sh - install the Debian 12 packages needed to build and test obagent.
#
# Usage: bash scripts/install-deps.sh [--bench]
# (Also the Windows cross build: mingw-w64, Wine to run its tests, the
# GoogleTest sources; scripts/build-windows.sh fetches zstd's sources itself;
# Debian's Chromium for the console's browser test, driven by playwright-core
# from npm, installed by tests/e2e/test_console_browser.sh itself; clang and
# its libFuzzer/sanitizer runtimes for the fuzz targets of tests/fuzz.)
#   --bench   also install the benchmark peers and tools (restic borgbackup rclone time bc;
#             bench/run.sh installs Azurite itself through scripts/azurite.sh)
#
# Idempotent and fast: if every package is already installed (checked with dpkg-query) apt is
# not touched at all. Otherwise `apt-get update` runs first when the package lists are empty,
# and once more (with a retry) if the install fails on stale lists. Uses sudo when not root.
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config clang-format curl util-linux btrfs-progs
  libboost-dev libboost-program-options-dev libssl-dev libcpprest-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libzstd-dev python3 openssl git
  libfuse3-dev fuse3
  attr acl libcap2-bin e2fsprogs strace
  systemd wixl msitools ccache
  g++-mingw-w64-x86-64-posix googletest wine wine64 xz-utils
  chromium clang libclang-rt-14-dev)
BENCH_PKGS=(restic borgbackup rclone time bc)

for arg in "$@"; do
  case $arg in
    --bench) PKGS+=("${BENCH_PKGS[@]}") ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-deps.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

installed() { # pkg -> 0 if installed
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# Node.js and npm run Azurite (the Azure Storage emulator) in the tests; a
# machine that already has them (from Debian or elsewhere) keeps its own.
if ! command -v npm > /dev/null || ! command -v node > /dev/null; then
  PKGS+=(nodejs npm)
fi

MISSING=()
for p in "${PKGS[@]}"; do
  installed "$p" || MISSING+=("$p")
done
if [ ${#MISSING[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${MISSING[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || {
    echo "install-deps: not root and sudo is not available" >&2
    exit 1
  }
  SUDO=(sudo)
fi
apt() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q "$@"; }

# Empty package lists (fresh container/CI image): update first.
LISTS=/var/lib/apt/lists/
eval "$(apt-config shell LISTS Dir::State::lists/d)"
if ! compgen -G "${LISTS%/}/*_Packages*" > /dev/null; then
  apt update
fi
if ! apt install -y --no-install-recommends "${MISSING[@]}"; then
  echo "install-deps: install failed, refreshing package lists and retrying" >&2
  apt update
  apt install -y --no-install-recommends "${MISSING[@]}"
fi

for p in "${MISSING[@]}"; do
  installed "$p" || {
    echo "install-deps: $p still not installed" >&2
    exit 1
  }
done
echo "install-deps: done"
