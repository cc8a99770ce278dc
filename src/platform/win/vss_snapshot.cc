// The VSS requester: one shadow copy set over the volumes of a backup's
// sources, read through the shadow copy devices, deleted afterwards. The
// calls follow Microsoft's documented backup sequence (CreateVssBackupComponents,
// InitializeForBackup, SetContext, SetBackupState, GatherWriterMetadata,
// StartSnapshotSet, AddToSnapshotSet per volume, PrepareForBackup,
// DoSnapshotSet, GetSnapshotProperties; afterwards BackupComplete and
// DeleteSnapshots; AbortBackup when anything fails after StartSnapshotSet).
// Which volumes, the path mapping and the error texts are portable and
// unit-tested (platform/vss_util.h); this file only talks to VSS.
// Link with -lvssapi -lole32.
#include <windows.h>
// After windows.h:
#include <vss.h>
#include <vswriter.h>
// After vss.h and vswriter.h:
#include <vsbackup.h>

#include <memory>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "platform/vss_util.h"

namespace obagent::platform {
namespace {

std::wstring Widen(const std::string& utf8) {
  if (utf8.empty()) return {};
  int n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), n);
  return out;
}

std::string Narrow(const wchar_t* wide) {
  if (wide == nullptr || *wide == L'\0') return {};
  int n = WideCharToMultiByte(CP_UTF8, 0, wide, -1, nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, wide, -1, out.data(), n, nullptr, nullptr);
  out.resize(static_cast<size_t>(n > 0 ? n - 1 : 0));  // without the terminating NUL
  return out;
}

uint32_t Code(HRESULT hr) { return static_cast<uint32_t>(hr); }

// The volume a path is on, as its mount point in '/' form with a trailing
// '/': "C:/", or "D:/mnt/data/" for a volume mounted in a folder.
Result<std::string> VolumeOf(const std::string& path) {
  std::wstring wide = Widen(vss::ToBackslashes(path));
  wchar_t volume[MAX_PATH + 1] = {};
  if (!GetVolumePathNameW(wide.c_str(), volume, MAX_PATH)) {
    return IoError("GetVolumePathNameW '" + path + "' failed with error " +
                   std::to_string(GetLastError()));
  }
  std::string out = Narrow(volume);
  for (char& c : out) {
    if (c == '\\') c = '/';
  }
  if (out.empty() || out.back() != '/') out += '/';
  return out;
}

// Waits for an asynchronous VSS call; its result, or the call's own error.
// Takes the address of the IVssAsync pointer: the call that fills it is the
// other argument, and argument evaluation order is unspecified, so reading
// the pointer itself here could see it still null.
HRESULT Wait(HRESULT started, IVssAsync** async_out) {
  if (FAILED(started)) return started;
  IVssAsync* async = *async_out;
  if (async == nullptr) return E_POINTER;
  HRESULT hr = async->Wait();
  HRESULT result = S_OK;
  if (SUCCEEDED(hr)) hr = async->QueryStatus(&result, nullptr);
  async->Release();
  if (FAILED(hr)) return hr;
  return result == VSS_S_ASYNC_FINISHED ? S_OK : result;
}

class VssSnapshot final : public Snapshot {
 public:
  VssSnapshot(IVssBackupComponents* components, bool com_initialized)
      : components_(components), com_initialized_(com_initialized) {}
  ~VssSnapshot() override { (void)Release(); }

  const std::vector<SnapshotVolume>& volumes() const override { return volumes_; }

  Status Release() override {
    if (components_ == nullptr) return Status::Ok();
    std::vector<std::string> roots;
    for (const auto& v : volumes_) roots.push_back(v.original_root);
    Status first;
    if (created_) {
      // No components were selected (file backup): BackupComplete only
      // tells the writers the backup is over.
      IVssAsync* async = nullptr;
      HRESULT hr = Wait(components_->BackupComplete(&async), &async);
      if (FAILED(hr)) first = vss::StatusFromHresult(Code(hr), "BackupComplete", roots);
      LONG deleted = 0;
      VSS_ID undeleted = GUID_NULL;
      hr =
          components_->DeleteSnapshots(set_id, VSS_OBJECT_SNAPSHOT_SET, TRUE, &deleted, &undeleted);
      if (FAILED(hr) && first.ok()) {
        first = vss::StatusFromHresult(Code(hr), "DeleteSnapshots", roots);
      }
    }
    // A VSS_CTX_BACKUP shadow copy also goes away with the last reference
    // to the backup components, so it is never left behind by this process.
    components_->Release();
    components_ = nullptr;
    if (com_initialized_) CoUninitialize();
    com_initialized_ = false;
    return first;
  }

  std::vector<SnapshotVolume> volumes_;
  VSS_ID set_id = GUID_NULL;
  bool created_ = false;  // DoSnapshotSet succeeded: there is something to delete

 private:
  IVssBackupComponents* components_;
  bool com_initialized_;
};

class VssSnapshotProvider final : public SnapshotProvider {
 public:
  Result<std::unique_ptr<Snapshot>> Create(const std::vector<std::string>& sources,
                                           const std::string& /*work_dir*/) override {
    std::vector<std::string> volumes;
    {
      auto grouped = vss::VolumesOfSources(sources, VolumeOf);
      if (!grouped.ok()) return grouped.status();
      volumes = std::move(grouped).value();
    }
    HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
    bool com_initialized = SUCCEEDED(hr);  // S_FALSE too: balanced by CoUninitialize
    if (FAILED(hr) && hr != RPC_E_CHANGED_MODE) {
      return vss::StatusFromHresult(Code(hr), "CoInitializeEx", volumes);
    }
    // Process-wide; the service host may have set it already (RPC_E_TOO_LATE).
    hr = CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                              RPC_C_IMP_LEVEL_IDENTIFY, nullptr, EOAC_NONE, nullptr);
    if (FAILED(hr) && hr != RPC_E_TOO_LATE) {
      if (com_initialized) CoUninitialize();
      return vss::StatusFromHresult(Code(hr), "CoInitializeSecurity", volumes);
    }

    IVssBackupComponents* components = nullptr;
    hr = CreateVssBackupComponents(&components);
    if (hr == E_NOTIMPL || hr == REGDB_E_CLASSNOTREG) {
      // No VSS on this system at all (Windows PE, Wine): nothing a user can
      // fix, unlike every other VSS error. Read live and re-check each file,
      // as on a Linux volume without snapshots, and say so in the job.
      if (com_initialized) CoUninitialize();
      auto live = std::make_unique<VssSnapshot>(nullptr, false);
      for (const std::string& volume : volumes) {
        live->volumes_.push_back({SnapshotKind::kNone, volume, "",
                                  volume + ": this system has no Volume Shadow Copy Service (" +
                                      std::string(vss::HresultName(Code(hr))) + ")"});
      }
      return std::unique_ptr<Snapshot>(std::move(live));
    }
    if (FAILED(hr)) {
      if (com_initialized) CoUninitialize();
      return vss::StatusFromHresult(Code(hr), "CreateVssBackupComponents", volumes);
    }
    // From here the components (and COM) belong to the snapshot: its
    // destructor releases them on every error path below.
    auto snapshot = std::make_unique<VssSnapshot>(components, com_initialized);
    auto fail = [&](HRESULT error, const char* call) -> Status {
      return vss::StatusFromHresult(Code(error), call, volumes);
    };

    if (FAILED(hr = components->InitializeForBackup(nullptr))) {
      return fail(hr, "InitializeForBackup");
    }
    if (FAILED(hr = components->SetContext(VSS_CTX_BACKUP))) return fail(hr, "SetContext");
    // A copy backup: writers (SQL Server, Exchange) keep their own backup
    // history and logs; this agent does not replace their backups.
    if (FAILED(hr = components->SetBackupState(false, false, VSS_BT_COPY, false))) {
      return fail(hr, "SetBackupState");
    }
    IVssAsync* async = nullptr;
    if (FAILED(hr = Wait(components->GatherWriterMetadata(&async), &async))) {
      return fail(hr, "GatherWriterMetadata");
    }
    components->FreeWriterMetadata();

    if (FAILED(hr = components->StartSnapshotSet(&snapshot->set_id))) {
      return fail(hr, "StartSnapshotSet");
    }
    std::vector<VSS_ID> snapshot_ids;
    auto abort = [&](HRESULT error, const char* call) -> Status {
      components->AbortBackup();
      return fail(error, call);
    };
    for (const std::string& volume : volumes) {
      std::wstring name = Widen(vss::ToBackslashes(volume));  // "C:\"
      VSS_ID id = GUID_NULL;
      hr = components->AddToSnapshotSet(name.data(), GUID_NULL, &id);
      if (FAILED(hr)) {
        return abort(hr, "AddToSnapshotSet");
      }
      snapshot_ids.push_back(id);
    }
    if (FAILED(hr = Wait(components->PrepareForBackup(&async), &async))) {
      return abort(hr, "PrepareForBackup");
    }
    if (FAILED(hr = Wait(components->DoSnapshotSet(&async), &async))) {
      return abort(hr, "DoSnapshotSet");
    }
    snapshot->created_ = true;
    for (size_t i = 0; i < volumes.size(); ++i) {
      VSS_SNAPSHOT_PROP prop{};
      if (FAILED(hr = components->GetSnapshotProperties(snapshot_ids[i], &prop))) {
        return fail(hr, "GetSnapshotProperties");
      }
      // "\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3"
      std::string device = Narrow(prop.m_pwszSnapshotDeviceObject);
      VssFreeSnapshotProperties(&prop);
      snapshot->volumes_.push_back(
          {SnapshotKind::kVss, volumes[i], vss::ShadowDeviceRoot(device),
           "shadow copy " + device + " of " + vss::VssadminVolume(volumes[i])});
    }
    return std::unique_ptr<Snapshot>(std::move(snapshot));
  }
};

}  // namespace

SnapshotProvider& SnapshotProvider::Default() {
  static VssSnapshotProvider provider;  // stateless between jobs
  return provider;
}

}  // namespace obagent::platform
