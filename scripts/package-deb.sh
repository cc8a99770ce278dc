#!/usr/bin/env bash
# package-deb.sh - build the Debian packages from a build of obagent.
#
# Usage: bash scripts/package-deb.sh [BUILD_DIR [OUT_DIR]]
#   BUILD_DIR  the build to package (default: build, the Release build of scripts/build.sh)
#   OUT_DIR    where the packages go (default: BUILD_DIR)
# Writes, into OUT_DIR:
#   obagent_<version>_<arch>.deb         /usr/bin/{obctl,cbengine}, cbengine.service
#   obagent-vaultd_<version>_<arch>.deb  /usr/sbin/vaultd, vaultd.service, /etc/obagent/vaultd.conf
# and prints their paths. Builds nothing itself: run scripts/build.sh first.
# The version is the CMake project version; Depends: is computed by
# dpkg-shlibdeps from the libraries the binaries link (dpkg-dev).
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
SRC=$PWD
BUILD_DIR=$(readlink -f "${1:-build}")
OUT_DIR=$(readlink -f "${2:-$BUILD_DIR}")
umask 022

die() {
  echo "package-deb: $*" >&2
  exit 1
}

[ -f "$BUILD_DIR/CMakeCache.txt" ] || die "$BUILD_DIR is not a CMake build folder (run scripts/build.sh)"
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
[ -n "$VERSION" ] || die "no CMAKE_PROJECT_VERSION in $BUILD_DIR/CMakeCache.txt"
ARCH=$(dpkg --print-architecture)
for bin in obctl cbengine vaultd; do
  [ -x "$BUILD_DIR/$bin" ] || die "$BUILD_DIR/$bin is not built"
done

# dpkg-shlibdeps wants a source tree: debian/control and debian/<package>/.
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "$OUT_DIR/package-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/debian"
printf 'Source: obagent\n\nPackage: obagent\nArchitecture: any\n\nPackage: obagent-vaultd\nArchitecture: any\n' \
  > "$WORK/debian/control"

put() { # mode source destination-in-root
  install -D -m "$1" "$2" "$3"
}
put_binary() { # source destination-in-root: stripped, as Debian ships them
  put 0755 "$1" "$2"
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$2"
}

# build_package NAME: ROOT=$WORK/debian/NAME is filled by the caller.
build_package() {
  local name=$1 root=$WORK/debian/$1 binaries=() f
  # (dpkg-shlibdeps finds a package's root by its DEBIAN folder)
  install -d -m 0755 "$root/DEBIAN"
  mapfile -t binaries < <(cd "$WORK" && find "debian/$name/usr" -type f -perm -u+x | sort)
  local depends
  depends=$(cd "$WORK" && dpkg-shlibdeps -O "${binaries[@]/#/-e}" | sed -n 's/^shlibs:Depends=//p')
  [ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for $name"
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

  sed -e "s/@VERSION@/$VERSION/g" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$depends/" \
    -e "s/@INSTALLED_SIZE@/$size/" "$SRC/installer/deb/$name/control.in" > "$root/DEBIAN/control"
  chmod 0644 "$root/DEBIAN/control"
  for f in postinst prerm postrm; do
    put 0755 "$SRC/installer/deb/$name/$f" "$root/DEBIAN/$f"
  done
  if [ -f "$SRC/installer/deb/$name/conffiles" ]; then
    put 0644 "$SRC/installer/deb/$name/conffiles" "$root/DEBIAN/conffiles"
  fi
  # md5sums lets `dpkg --verify NAME` find changed files.
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
    xargs -0 md5sum) > "$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/md5sums"

  local deb=$OUT_DIR/${name}_${VERSION}_${ARCH}.deb
  dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null
  echo "$deb"
}

put_docs() { # package: copyright and the user documentation
  local doc=$WORK/debian/$1/usr/share/doc/$1
  put 0644 "$SRC/installer/deb/copyright" "$doc/copyright"
  put 0644 "$SRC/README.md" "$doc/README.md"
  put 0644 "$SRC/docs/operations.md" "$doc/operations.md"
}

ROOT=$WORK/debian/obagent
put_binary "$BUILD_DIR/obctl" "$ROOT/usr/bin/obctl"
put_binary "$BUILD_DIR/cbengine" "$ROOT/usr/bin/cbengine"
put 0644 "$SRC/service/systemd/cbengine.service" "$ROOT/lib/systemd/system/cbengine.service"
put_docs obagent
build_package obagent

ROOT=$WORK/debian/obagent-vaultd
put_binary "$BUILD_DIR/vaultd" "$ROOT/usr/sbin/vaultd"
put 0644 "$SRC/service/systemd/vaultd.service" "$ROOT/lib/systemd/system/vaultd.service"
put 0644 "$SRC/installer/deb/obagent-vaultd/vaultd.conf" "$ROOT/etc/obagent/vaultd.conf"
put_docs obagent-vaultd
build_package obagent-vaultd
