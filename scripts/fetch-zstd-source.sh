#!/usr/bin/env bash
# fetch-zstd-source.sh - zstd's C sources for the Windows build, from a Debian package.
#
# Usage: bash scripts/fetch-zstd-source.sh      (prints the source folder on stdout)
# Env:   OBAGENT_DEPS_CACHE   cache folder (default ${XDG_CACHE_HOME:-~/.cache}/obagent)
#
# Debian has no mingw-w64 build of libzstd, and its zstd source package needs
# deb-src lines that a stock machine does not have. linux-source-6.1 (a binary
# package) ships lib/zstd, the kernel's copy of upstream zstd 1.4.10
# (GPL-2.0+ OR BSD-3-Clause; we use it under BSD-3-Clause), and lib/xxhash.c
# (GPL-2.0+ OR BSD-2-Clause). This downloads the .deb with `apt-get download`
# and extracts only those files; cmake/zstd/zstd.cmake builds them with the
# shim headers in cmake/zstd/shim. The result is cached: later runs print the
# folder without touching the network. Nothing from it is committed.
set -euo pipefail

PACKAGE=linux-source-6.1
CACHE=${OBAGENT_DEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/obagent}
DEST=$CACHE/zstd-$PACKAGE

if [ -f "$DEST/.complete" ]; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/fetch-zstd.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# As root, apt downloads as the _apt user, which cannot enter a folder
# under /root: download as root instead (the .deb is verified either way).
APT_OPTS=()
[ "$(id -u)" -ne 0 ] || APT_OPTS=(-o APT::Sandbox::User=root)
download() { (cd "$WORK" && apt-get -q "${APT_OPTS[@]}" download "$PACKAGE" >&2); }
if ! download; then
  # Stale package lists name a kernel version the mirror no longer has.
  if [ "$(id -u)" -eq 0 ]; then
    echo "fetch-zstd-source: refreshing package lists and retrying" >&2
    apt-get -q update >&2 && download
  else
    false
  fi || {
    echo "fetch-zstd-source: apt-get download $PACKAGE failed (run 'apt-get update'?)" >&2
    exit 1
  }
fi
deb=$(ls "$WORK"/"$PACKAGE"_*.deb)
version=$(dpkg-deb -f "$deb" Version)
tarball=./usr/src/$PACKAGE.tar.xz
top=$PACKAGE
echo "fetch-zstd-source: extracting lib/zstd from $PACKAGE $version" >&2
mkdir "$WORK/out"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "$tarball" | xz -dc -T2 |
  tar -x -C "$WORK/out" --strip-components=1 --wildcards \
    "$top/lib/zstd/common/*" "$top/lib/zstd/compress/*" "$top/lib/zstd/decompress/*" \
    "$top/lib/xxhash.c" "$top/include/linux/zstd_lib.h" "$top/include/linux/zstd_errors.h" \
    "$top/include/linux/xxhash.h" "$top/LICENSES/preferred/BSD-3-Clause" \
    "$top/LICENSES/preferred/BSD-2-Clause"
echo "$PACKAGE $version" > "$WORK/out/SOURCE"
touch "$WORK/out/.complete"
rm -rf "$DEST"
mv "$WORK/out" "$DEST"
echo "$DEST"
