# The Windows installer (scripts/package-msi.sh): build it from the Windows
# binaries of the cross build and check its tables with msiinfo: the files,
# the service and how it is started and removed, the state and scratch
# folders and their permissions, the upgrade and purge rules. Installing it
# needs Windows; see installer/README.md for what that leaves untested.
source "$E2E_LIB"

SKIP=77 # SKIP_RETURN_CODE in tests/CMakeLists.txt
SRC=$(cd "$HERE/../.." && pwd)
WINBIN=${OBAGENT_WINBIN_DIR:-$SRC/build-win}
for exe in cbengine.exe obctl.exe; do
  if [ ! -f "$WINBIN/$exe" ]; then
    echo "SKIP: no Windows binaries ($WINBIN/$exe not built; set OBAGENT_WINBIN_DIR to their folder)"
    exit $SKIP
  fi
done
for tool in wixl msibuild msiinfo; do
  if ! command -v "$tool" > /dev/null; then
    echo "SKIP: $tool is not installed (scripts/install-deps.sh installs wixl and msitools)"
    exit $SKIP
  fi
done

MSI=$(bash "$SRC/scripts/package-msi.sh" "$WINBIN" "$WORK")
VERSION=$(sed -n 's/^project(obagent VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ "$MSI" = "$WORK/obagent-$VERSION-x64.msi" ] && [ -f "$MSI" ] || fail "package-msi.sh wrote '$MSI'"
pass "built $(basename "$MSI")"

# rows TABLE: the table's rows (msiinfo export without its three header lines, no CR).
rows() { msiinfo export "$MSI" "$1" | tr -d '\r' | tail -n +4 | sort; }
# expect_rows TABLE ROW...: exactly these rows (tab-separated).
expect_rows() {
  local table=$1 want got
  shift
  want=$(printf '%s\n' "$@" | sort)
  got=$(rows "$table")
  [ "$got" = "$want" ] || fail "table $table differs (- want, + got):
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')"
}
T=$'\t'

# Files: both programs, with their sizes, in components in ProgramFiles64Folder\obagent.
size() { stat -c %s "$WINBIN/$1"; }
expect_rows File \
  "cbengine.exe${T}Engine${T}cbengine.exe${T}$(size cbengine.exe)${T}${T}${T}512${T}1" \
  "obctl.exe${T}Cli${T}obctl.exe${T}$(size obctl.exe)${T}${T}${T}512${T}2"
msiextract -C "$WORK/extract" "$MSI" > /dev/null
for exe in cbengine.exe obctl.exe; do
  f=$(find "$WORK/extract" -name "$exe" | sed -n 1p)
  cmp -s "$f" "$WINBIN/$exe" || fail "$exe in the MSI is not $WINBIN/$exe"
done
# Component attributes 256: 64-bit components.
expect_rows Component \
  "Engine${T}{D033F482-4A29-4894-9415-692482A00015}${T}INSTALLDIR${T}256${T}${T}cbengine.exe" \
  "Cli${T}{C433D12A-EC4C-4105-BD61-3CABC5283281}${T}INSTALLDIR${T}256${T}${T}obctl.exe" \
  "StateFolder${T}{84823464-1CBF-482A-9F07-BCDF7646332B}${T}STATEDIR${T}256${T}${T}" \
  "ScratchFolder${T}{285DE292-1A47-488B-9C32-B9A8542793DD}${T}SCRATCHDIR${T}256${T}${T}"
rows Directory | has -x "INSTALLDIR${T}ProgramFiles64Folder${T}obagent" || fail "not installed to ProgramFiles64Folder\\obagent"
rows Directory | has -x "STATEDIR${T}CommonAppDataFolder${T}obagent" || fail "no CommonAppData\\obagent"
rows Directory | has -x "SCRATCHDIR${T}STATEDIR${T}scratch" || fail "no CommonAppData\\obagent\\scratch"
pass "File, Component, Directory: the two programs in ProgramFiles64Folder\\obagent, byte for byte"

# The service: own process (16), automatic start (2), normal error control (1),
# as LocalSystem. ServiceControl event 163 = start on install (1), stop on
# install (2) and uninstall (32), delete on uninstall (128); wait for each.
expect_rows ServiceInstall \
  "obengine${T}obengine${T}obagent Backup Engine${T}16${T}2${T}1${T}${T}${T}LocalSystem${T}${T}--service${T}Engine${T}Runs obagent's scheduled and on-demand backups and restores."
expect_rows ServiceControl "obengine${T}obengine${T}163${T}${T}1${T}Engine"
for action in StopServices DeleteServices InstallServices StartServices; do
  rows InstallExecuteSequence | has "^$action$T" || fail "InstallExecuteSequence has no $action"
done
pass "ServiceInstall/ServiceControl: obengine, LocalSystem, automatic; stopped and deleted on uninstall"

# The state and scratch folders: created, and only SYSTEM and Administrators
# may use them (a protected DACL: nothing inherited from C:\ProgramData, where
# Users may read).
expect_rows CreateFolder "STATEDIR${T}StateFolder" "SCRATCHDIR${T}ScratchFolder"
# Owner and group SYSTEM: an owner may always rewrite the DACL, so a folder a
# non-administrator created before the install must not stay theirs.
SDDL='O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
expect_rows MsiLockPermissionsEx \
  "LockStateFolder${T}STATEDIR${T}CreateFolder${T}${SDDL}${T}" \
  "LockScratchFolder${T}SCRATCHDIR${T}CreateFolder${T}${SDDL}${T}"
rows InstallExecuteSequence | has "^CreateFolders$T" || fail "InstallExecuteSequence has no CreateFolders"
if msiinfo tables "$MSI" | tr -d '\r' | has -x LockPermissions; then
  fail "both LockPermissions and MsiLockPermissionsEx: Windows Installer refuses that"
fi
pass "CreateFolder + MsiLockPermissionsEx: state and scratch folders owned by SYSTEM, for SYSTEM and Administrators only"

# Per machine, a stable UpgradeCode, the old version removed before the new
# one is installed, no downgrade; purge only on request.
seq_of() { rows InstallExecuteSequence | awk -F'\t' -v a="$1" '$1 == a {print $3}'; }
rows Property | has -x "ALLUSERS${T}1" || fail "not a per-machine package (ALLUSERS)"
rows Property | has -x "UpgradeCode${T}{A793BD26-67B0-4B5E-84B0-95E4AE69DE31}" || fail "UpgradeCode changed"
rows Property | has -x "ProductVersion${T}$VERSION" || fail "ProductVersion is not $VERSION"
[ "$(seq_of RemoveExistingProducts)" -gt "$(seq_of InstallValidate)" ] &&
  [ "$(seq_of RemoveExistingProducts)" -lt "$(seq_of InstallInitialize)" ] ||
  fail "RemoveExistingProducts is not between InstallValidate and InstallInitialize"
rows Upgrade | has "WIX_DOWNGRADE_DETECTED" || fail "no downgrade detection"
rows InstallExecuteSequence | has -x "PurgeState${T}REMOVE=\"ALL\" AND PURGE=\"1\" AND NOT UPGRADINGPRODUCTCODE${T}$(($(seq_of RemoveFolders) + 1))" ||
  fail "PurgeState is not conditioned on an uninstall with PURGE=1 right after RemoveFolders"
# 3186 = 50 (run the program a property names) + 64 (ignore its exit code)
#        + 1024 (deferred) + 2048 (as SYSTEM, not the user)
expect_rows CustomAction \
  "SetPurgeCommand${T}2099${T}PURGECMD${T}[System64Folder]cmd.exe${T}" \
  "PurgeState${T}3186${T}PURGECMD${T}/c rmdir /s /q \"[STATEDIR]\"${T}" \
  "SetFailureCommand${T}2099${T}SCCMD${T}[System64Folder]sc.exe${T}" \
  "SetServiceFailureActions${T}3186${T}SCCMD${T}failure obengine reset= 86400 actions= restart/60000/restart/60000/restart/600000${T}" \
  "SetTaskCommand${T}2099${T}SCHTASKSCMD${T}[System64Folder]schtasks.exe${T}" \
  "RemoveBackupTask${T}3186${T}SCHTASKSCMD${T}/Delete /TN \"\\obagent\\OnlineBackup\" /F${T}"
[ "$(seq_of SetPurgeCommand)" -gt "$(seq_of CostFinalize)" ] || fail "SetPurgeCommand runs before folders are resolved"
# The service restarts after a failure: sc.exe as SYSTEM right after
# InstallServices (before StartServices), on install and repair only.
rows InstallExecuteSequence | has -x "SetServiceFailureActions${T}NOT REMOVE=\"ALL\"${T}$(($(seq_of InstallServices) + 1))" ||
  fail "SetServiceFailureActions is not right after InstallServices"
[ "$(seq_of SetServiceFailureActions)" -lt "$(seq_of StartServices)" ] || fail "failure actions set after the start"
[ "$(seq_of SetFailureCommand)" -gt "$(seq_of CostFinalize)" ] || fail "SetFailureCommand runs before folders are resolved"
# Uninstalling (not upgrading) deletes the backup task before obctl.exe goes.
rows InstallExecuteSequence | has -x "RemoveBackupTask${T}REMOVE=\"ALL\" AND NOT UPGRADINGPRODUCTCODE${T}$(($(seq_of RemoveFiles) - 1))" ||
  fail "RemoveBackupTask is not right before RemoveFiles on uninstall"
[ "$(seq_of SetTaskCommand)" -gt "$(seq_of CostFinalize)" ] || fail "SetTaskCommand runs before folders are resolved"
msiinfo suminfo "$MSI" | has -x 'Template: x64;1033' || fail "not an x64 package"
pass "per machine, stable UpgradeCode, major upgrade after InstallValidate, PURGE=1 purge, service failure actions, the task removed on uninstall"
