// The VSS requester: one shadow copy set over the volumes of a backup's
// sources, read through the shadow copy devices, deleted afterwards. The
// calls follow Microsoft's documented backup sequence (CreateVssBackupComponents,
// InitializeForBackup, SetContext, SetBackupState, GatherWriterMetadata,
// StartSnapshotSet, AddToSnapshotSet per volume, PrepareForBackup,
// DoSnapshotSet, GetSnapshotProperties; afterwards BackupComplete and
// DeleteSnapshots; AbortBackup when anything fails after StartSnapshotSet).
// The sequence itself, which volumes, the path mapping and the error texts
// are portable and unit-tested against a fake (platform/vss_requester.h,
// platform/vss_util.h); this file only adapts IVssBackupComponents.
// Link with -lvssapi -lole32.
#include <windows.h>
// After windows.h:
#include <vss.h>
#include <vswriter.h>
// After vss.h and vswriter.h:
#include <vsbackup.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "obagent/platform.h"
#include "platform/vss_requester.h"
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

// Waits for an asynchronous VSS call; its result, or the call's own error
// (vss::AsyncOutcome: VSS_S_ASYNC_CANCELLED is a failure). Takes the
// address of the IVssAsync pointer: the call that fills it is the other
// argument, and argument evaluation order is unspecified, so reading the
// pointer itself here could see it still null.
uint32_t Wait(HRESULT started, IVssAsync** async_out) {
  if (FAILED(started)) return Code(started);
  IVssAsync* async = *async_out;
  *async_out = nullptr;
  if (async == nullptr) return Code(E_POINTER);
  HRESULT waited = async->Wait();
  HRESULT result = S_OK;
  HRESULT queried = SUCCEEDED(waited) ? async->QueryStatus(&result, nullptr) : S_OK;
  async->Release();
  return vss::AsyncOutcome(Code(waited), Code(queried), Code(result));
}

// IVssBackupComponents behind the portable sequence (vss_requester.h).
class ComBackupComponents final : public vss::BackupComponents {
 public:
  explicit ComBackupComponents(IVssBackupComponents* c) : c_(c) {}
  ~ComBackupComponents() override { c_->Release(); }

  uint32_t InitializeForBackup() override { return Code(c_->InitializeForBackup(nullptr)); }
  uint32_t SetContextBackup() override { return Code(c_->SetContext(VSS_CTX_BACKUP)); }
  uint32_t SetBackupStateCopy() override {
    return Code(c_->SetBackupState(false, false, VSS_BT_COPY, false));
  }
  uint32_t GatherWriterMetadata() override {
    IVssAsync* async = nullptr;
    uint32_t hr = Wait(c_->GatherWriterMetadata(&async), &async);
    if (hr == vss::kOk) c_->FreeWriterMetadata();
    return hr;
  }
  uint32_t IsVolumeSupported(const std::string& volume, bool* supported) override {
    std::wstring name = Widen(vss::ToBackslashes(volume));  // "C:\", "\\server\share\"
    BOOL yes = FALSE;
    HRESULT hr = c_->IsVolumeSupported(GUID_NULL, name.data(), &yes);
    *supported = SUCCEEDED(hr) && yes;
    return Code(hr);
  }
  uint32_t StartSnapshotSet() override { return Code(c_->StartSnapshotSet(&set_id_)); }
  uint32_t AddToSnapshotSet(const std::string& volume) override {
    std::wstring name = Widen(vss::ToBackslashes(volume));
    VSS_ID id = GUID_NULL;
    HRESULT hr = c_->AddToSnapshotSet(name.data(), GUID_NULL, &id);
    if (SUCCEEDED(hr)) ids_.push_back({volume, id});
    return Code(hr);
  }
  uint32_t PrepareForBackup() override {
    IVssAsync* async = nullptr;
    return Wait(c_->PrepareForBackup(&async), &async);
  }
  uint32_t DoSnapshotSet() override {
    IVssAsync* async = nullptr;
    return Wait(c_->DoSnapshotSet(&async), &async);
  }
  uint32_t GatherWriterStatus(std::vector<vss::WriterStatus>* writers) override {
    IVssAsync* async = nullptr;
    uint32_t hr = Wait(c_->GatherWriterStatus(&async), &async);
    if (hr != vss::kOk) return hr;
    UINT count = 0;
    HRESULT got = c_->GetWriterStatusCount(&count);
    for (UINT i = 0; SUCCEEDED(got) && i < count; ++i) {
      VSS_ID instance = GUID_NULL, writer = GUID_NULL;
      BSTR name = nullptr;
      VSS_WRITER_STATE state = VSS_WS_UNKNOWN;
      HRESULT failure = S_OK;
      if (FAILED(c_->GetWriterStatus(i, &instance, &writer, &name, &state, &failure))) continue;
      writers->push_back({Narrow(name), static_cast<int>(state), Code(failure)});
      SysFreeString(name);
    }
    c_->FreeWriterStatus();
    return Code(got);
  }
  uint32_t SnapshotDevice(const std::string& volume, std::string* device) override {
    for (const auto& [v, id] : ids_) {
      if (v != volume) continue;
      VSS_SNAPSHOT_PROP prop{};
      HRESULT hr = c_->GetSnapshotProperties(id, &prop);
      if (FAILED(hr)) return Code(hr);
      *device = Narrow(prop.m_pwszSnapshotDeviceObject);
      VssFreeSnapshotProperties(&prop);
      return vss::kOk;
    }
    return vss::kObjectNotFound;
  }
  uint32_t BackupComplete() override {
    IVssAsync* async = nullptr;
    return Wait(c_->BackupComplete(&async), &async);
  }
  uint32_t DeleteSnapshotSet() override {
    LONG deleted = 0;
    VSS_ID undeleted = GUID_NULL;
    return Code(c_->DeleteSnapshots(set_id_, VSS_OBJECT_SNAPSHOT_SET, TRUE, &deleted, &undeleted));
  }
  uint32_t AbortBackup() override { return Code(c_->AbortBackup()); }

 private:
  IVssBackupComponents* c_;
  VSS_ID set_id_ = GUID_NULL;
  std::vector<std::pair<std::string, VSS_ID>> ids_;
};

class VssSnapshot final : public Snapshot {
 public:
  VssSnapshot(std::unique_ptr<ComBackupComponents> components, bool com_initialized)
      : components_(std::move(components)), com_initialized_(com_initialized) {}
  ~VssSnapshot() override { (void)Release(); }

  const std::vector<SnapshotVolume>& volumes() const override { return volumes_; }

  Status Release() override {
    Status first;
    if (components_ != nullptr && created_) {
      std::vector<std::string> roots;
      for (const auto& v : volumes_) roots.push_back(v.original_root);
      first = vss::CompleteSnapshotSet(*components_, roots);
    }
    // A VSS_CTX_BACKUP shadow copy also goes away with the last reference
    // to the backup components, so it is never left behind by this process.
    components_.reset();
    if (com_initialized_) CoUninitialize();
    com_initialized_ = false;
    return first;
  }

  std::vector<SnapshotVolume> volumes_;
  bool created_ = false;  // DoSnapshotSet succeeded: there is something to delete

 private:
  std::unique_ptr<ComBackupComponents> components_;
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
    // This job thread joins the multithreaded apartment. COM security is
    // process-wide and set once at process start
    // (platform::InitializeProcessSecurity in cbengine's main), never
    // lazily here.
    HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
    bool com_initialized = SUCCEEDED(hr);  // S_FALSE too: balanced by CoUninitialize
    if (FAILED(hr) && hr != RPC_E_CHANGED_MODE) {
      return vss::StatusFromHresult(Code(hr), "CoInitializeEx", volumes);
    }
    IVssBackupComponents* raw = nullptr;
    hr = CreateVssBackupComponents(&raw);
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
    auto components = std::make_unique<ComBackupComponents>(raw);
    ComBackupComponents& vss_calls = *components;
    auto snapshot = std::make_unique<VssSnapshot>(std::move(components), com_initialized);
    Result<vss::SnapshotSet> set = vss::CreateSnapshotSet(vss_calls, volumes);
    if (!set.ok()) return set.status();
    snapshot->created_ = set->created;
    snapshot->volumes_ = std::move(set->volumes);
    if (!set->warnings.empty() && !snapshot->volumes_.empty()) {
      // Writer failures ride on the volumes' descriptions, which the job shows.
      for (SnapshotVolume& v : snapshot->volumes_) {
        if (v.kind != SnapshotKind::kVss) continue;
        for (const std::string& w : set->warnings) v.detail += "; " + w;
      }
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
