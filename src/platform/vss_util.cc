#include "platform/vss_util.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace obagent::platform::vss {

namespace {

bool SameVolume(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string JoinVolumes(const std::vector<std::string>& volumes) {
  std::string out;
  for (const std::string& v : volumes) {
    if (!out.empty()) out += ", ";
    out += VssadminVolume(v);
  }
  return out.empty() ? "the volumes being backed up" : out;
}

}  // namespace

std::string_view HresultName(uint32_t hr) {
  switch (hr) {
    case kEAccessDenied:
      return "E_ACCESSDENIED";
    case kENotImpl:
      return "E_NOTIMPL";
    case 0x00042309:
      return "VSS_S_ASYNC_PENDING";
    case 0x0004230B:
      return "VSS_S_ASYNC_CANCELLED";
    case 0x80042301:
      return "VSS_E_BAD_STATE";
    case 0x80042302:
      return "VSS_E_UNEXPECTED";
    case 0x80042306:
      return "VSS_E_PROVIDER_VETO";
    case 0x80042308:
      return "VSS_E_OBJECT_NOT_FOUND";
    case 0x8004230C:
      return "VSS_E_VOLUME_NOT_SUPPORTED";
    case 0x8004230E:
      return "VSS_E_VOLUME_NOT_SUPPORTED_BY_PROVIDER";
    case 0x8004230F:
      return "VSS_E_UNEXPECTED_PROVIDER_ERROR";
    case 0x80042312:
      return "VSS_E_MAXIMUM_NUMBER_OF_VOLUMES_REACHED";
    case 0x80042313:
      return "VSS_E_FLUSH_WRITES_TIMEOUT";
    case 0x80042314:
      return "VSS_E_HOLD_WRITES_TIMEOUT";
    case 0x80042315:
      return "VSS_E_UNEXPECTED_WRITER_ERROR";
    case 0x80042316:
      return "VSS_E_SNAPSHOT_SET_IN_PROGRESS";
    case kMaximumNumberOfSnapshotsReached:
      return "VSS_E_MAXIMUM_NUMBER_OF_SNAPSHOTS_REACHED";
    case 0x80042318:
      return "VSS_E_WRITER_INFRASTRUCTURE";
    case 0x80042319:
      return "VSS_E_WRITER_NOT_RESPONDING";
    case 0x8004231E:
      return "VSS_E_MAXIMUM_DIFFAREA_ASSOCIATIONS_REACHED";
    case kInsufficientStorage:
      return "VSS_E_INSUFFICIENT_STORAGE";
    case 0x8004232D:
      return "VSS_E_VOLUME_NOT_LOCAL";
    case 0x800423F0:
      return "VSS_E_WRITERERROR_INCONSISTENTSNAPSHOT";
    case 0x800423F1:
      return "VSS_E_WRITERERROR_OUTOFRESOURCES";
    case 0x800423F2:
      return "VSS_E_WRITERERROR_TIMEOUT";
    case 0x800423F3:
      return "VSS_E_WRITERERROR_RETRYABLE";
    case 0x800423F4:
      return "VSS_E_WRITERERROR_NONRETRYABLE";
    default:
      return "";
  }
}

std::string HresultHex(uint32_t hr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(hr));
  return buf;
}

std::string ToBackslashes(std::string_view path) {
  std::string out(path);
  std::replace(out.begin(), out.end(), '/', '\\');
  return out;
}

std::string VssadminVolume(std::string_view volume_root) {
  // A drive letter alone ("C:/") is written "C:"; a volume mounted in a
  // folder is named by that folder, with its trailing backslash.
  if (volume_root.size() <= 3 && volume_root.size() >= 2 && volume_root[1] == ':') {
    return std::string(volume_root.substr(0, 2));
  }
  std::string out = ToBackslashes(volume_root);
  if (!out.empty() && out.back() != '\\') out += '\\';
  return out;
}

std::string ShadowDeviceRoot(std::string_view device_object) {
  std::string out(device_object);
  std::replace(out.begin(), out.end(), '\\', '/');
  if (out.empty() || out.back() != '/') out += '/';
  return out;
}

Status StatusFromHresult(uint32_t hr, std::string_view operation,
                         const std::vector<std::string>& volumes) {
  std::string name(HresultName(hr));
  std::string code = name.empty() ? HresultHex(hr) : name + ", " + HresultHex(hr);
  std::string what = "the Volume Shadow Copy Service could not snapshot " + JoinVolumes(volumes) +
                     " (" + std::string(operation) + ": " + code + ")";
  switch (hr) {
    case kInsufficientStorage: {
      // MARS's guide: "Increase shadow copy storage" with vssadmin.
      std::string fix;
      for (const std::string& v : volumes) {
        std::string vol = VssadminVolume(v);
        if (!fix.empty()) fix += "; ";
        fix += "vssadmin Resize ShadowStorage /For=" + vol + " /On=" + vol + " /MaxSize=10%";
      }
      if (fix.empty()) {
        fix = "vssadmin Resize ShadowStorage /For=C: /On=C: /MaxSize=10%";
      }
      return Status(ErrorCode::kShadowStorageInsufficient,
                    what +
                        ". The shadow copy storage is too small for the changes made while the "
                        "backup runs. Check it with 'vssadmin List ShadowStorage' and enlarge it "
                        "from an elevated command prompt: " +
                        fix +
                        " (or a fixed size such as /MaxSize=20GB), then run the backup again");
    }
    case kMaximumNumberOfSnapshotsReached:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": the volume already has the most shadow copies it can hold; delete "
                        "old ones ('vssadmin Delete Shadows /For=" +
                        (volumes.empty() ? std::string("C:") : VssadminVolume(volumes.front())) +
                        " /Oldest') and run the backup again");
    case 0x8004230C:
    case 0x8004230E:
    case 0x8004232D:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": only fixed, online, writable NTFS or ReFS volumes can be backed up "
                        "(as with MARS); remove the others from the backup policy");
    case 0x80042316:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": another shadow copy is being created (another backup program?); "
                        "run the backup again when it has finished");
    case 0x80042313:
    case 0x80042314:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": the system was too busy to hold writes while the snapshot was "
                        "taken; run the backup again, preferably at a quieter time");
    case 0x80042315:
    case 0x80042318:
    case 0x80042319:
    case 0x800423F0:
    case 0x800423F1:
    case 0x800423F2:
    case 0x800423F3:
    case 0x800423F4:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": a VSS writer failed; 'vssadmin List Writers' shows which one, and "
                        "restarting the service it belongs to usually clears it");
    case kEAccessDenied:
      return Status(ErrorCode::kSnapshotFailed,
                    what +
                        ": the agent must run as LocalSystem or as an administrator to use "
                        "VSS");
    case kENotImpl:
      return Status(ErrorCode::kSnapshotFailed,
                    what + ": this system has no Volume Shadow Copy Service");
    default:
      return Status(ErrorCode::kSnapshotFailed,
                    what + ": the Application event log (sources VSS and volsnap) tells why");
  }
}

Result<std::vector<std::string>> VolumesOfSources(
    const std::vector<std::string>& sources,
    const std::function<Result<std::string>(const std::string&)>& volume_of) {
  std::vector<std::string> volumes;
  for (const std::string& source : sources) {
    Result<std::string> volume = volume_of(source);
    if (!volume.ok()) return volume.status().WithContext("finding the volume of " + source);
    bool known = std::any_of(volumes.begin(), volumes.end(),
                             [&](const std::string& v) { return SameVolume(v, *volume); });
    if (!known) volumes.push_back(std::move(volume).value());
  }
  return volumes;
}

}  // namespace obagent::platform::vss
