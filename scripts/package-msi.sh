#!/usr/bin/env bash
# package-msi.sh - build the Windows installer (MSI) with wixl (Debian packages wixl, msitools).
#
# Usage: bash scripts/package-msi.sh WINBIN_DIR [OUT_DIR]
#   WINBIN_DIR  folder of the Windows binaries: cbengine.exe and obctl.exe (the cross build)
#   OUT_DIR     where obagent-<version>-x64.msi is written (default: WINBIN_DIR)
# Prints the path of the MSI. The version is the CMake project version.
#
# wixl builds installer/msi/obagent.wxs; two things it cannot express are then
# added with msibuild (installer/README.md has the details):
#   - the MsiLockPermissionsEx table (installer/msi/MsiLockPermissionsEx.idt): the state and
#     scratch folders are for SYSTEM and Administrators only;
#   - RemoveExistingProducts right after InstallValidate (WiX's default for MajorUpgrade), so
#     an upgrade removes the old version, service included, before installing the new one.
set -euo pipefail

cd "$(dirname "$(readlink -f "$0")")/.."
SRC=$PWD

die() {
  echo "package-msi: $*" >&2
  exit 1
}

[ $# -ge 1 ] || die "usage: package-msi.sh WINBIN_DIR [OUT_DIR]"
WINBIN=$(readlink -f "$1")
OUT_DIR=$(readlink -f "${2:-$1}")
for tool in wixl msibuild msiinfo; do
  command -v "$tool" > /dev/null || die "$tool not found (apt-get install wixl msitools)"
done
for exe in cbengine.exe obctl.exe; do
  [ -f "$WINBIN/$exe" ] || die "$WINBIN/$exe not found (build the Windows binaries first)"
done
VERSION=$(sed -n 's/^project(obagent VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$VERSION" ] || die "no project version in CMakeLists.txt"
mkdir -p "$OUT_DIR"
MSI=$OUT_DIR/obagent-$VERSION-x64.msi
TMP=$MSI.tmp
trap 'rm -f "$TMP"' EXIT

# wixl takes File/@Source relative to the current folder only.
(cd "$WINBIN" && wixl --arch x64 -D Version="$VERSION" -D WinBin=. -o "$TMP" "$SRC/installer/msi/obagent.wxs")
msibuild "$TMP" -i "$SRC/installer/msi/MsiLockPermissionsEx.idt"
msibuild "$TMP" -q "UPDATE \`InstallExecuteSequence\` SET \`Sequence\` = 1401 WHERE \`Action\` = 'RemoveExistingProducts'"
msiinfo export "$TMP" InstallExecuteSequence | grep -P '^RemoveExistingProducts\t\t1401\r?$' > /dev/null ||
  die "could not move RemoveExistingProducts after InstallValidate"
mv "$TMP" "$MSI"
echo "$MSI"
