// The portable half of the Windows VSS requester (src/platform/win/
// vss_snapshot.cc): which volumes go into the snapshot set, how a path maps
// to the shadow copy device, and what a failed VSS call tells the user. No
// Windows API here, so it builds and is unit-tested on every platform.
// Internal to src/platform.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/status.h"

namespace obagent::platform::vss {

// HRESULTs the messages below single out (values from vsserror.h/winerror.h).
inline constexpr uint32_t kEAccessDenied = 0x80070005;
inline constexpr uint32_t kENotImpl = 0x80004001;
inline constexpr uint32_t kInsufficientStorage = 0x8004231F;  // VSS_E_INSUFFICIENT_STORAGE
inline constexpr uint32_t kMaximumNumberOfSnapshotsReached = 0x80042317;  // VSS_E_MAXIMUM_...

// "VSS_E_INSUFFICIENT_STORAGE" for the VSS (and a few COM) HRESULTs, else "".
std::string_view HresultName(uint32_t hr);

// "0x8004231F".
std::string HresultHex(uint32_t hr);

// The Status for a failed VSS call: kShadowStorageInsufficient for
// VSS_E_INSUFFICIENT_STORAGE, with the vssadmin commands that fix it for
// each volume of the set; kSnapshotFailed with what to do for the rest.
// `operation` names the call ("DoSnapshotSet"); `volumes` are the volume
// roots of the snapshot set in '/' form ("C:/", "D:/mnt/data/").
Status StatusFromHresult(uint32_t hr, std::string_view operation,
                         const std::vector<std::string>& volumes);

// How vssadmin names a volume in /For= and /On=: "C:/" -> "C:",
// "D:/mnt/data/" -> "D:\mnt\data\" (a volume mounted in a folder).
std::string VssadminVolume(std::string_view volume_root);

// '/' form -> Windows form: "C:/data/" -> "C:\data\".
std::string ToBackslashes(std::string_view path);

// The snapshot root for a shadow copy device object:
// "\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3" ->
// "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/". Reading "C:/data/x"
// from it (platform::Snapshot::ReadPath) gives
// "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/data/x".
std::string ShadowDeviceRoot(std::string_view device_object);

// The volumes of the sources, each once (compared without case), in the
// order first needed. `volume_of` gives a path's volume root in '/' form
// ending with '/' (GetVolumePathNameW on Windows); its errors are returned
// with the path as context.
Result<std::vector<std::string>> VolumesOfSources(
    const std::vector<std::string>& sources,
    const std::function<Result<std::string>(const std::string&)>& volume_of);

}  // namespace obagent::platform::vss
