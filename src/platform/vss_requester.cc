// The portable VSS requester sequence (vss_requester.h).
#include "platform/vss_requester.h"

#include "platform/vss_util.h"

namespace obagent::platform::vss {

uint32_t AsyncOutcome(uint32_t wait_hr, uint32_t query_hr, uint32_t async_status) {
  auto failed = [](uint32_t hr) { return (hr & 0x80000000u) != 0; };
  if (failed(wait_hr)) return wait_hr;
  if (failed(query_hr)) return query_hr;
  return async_status == kAsyncFinished ? kOk : async_status;
}

bool WriterFailed(int state) { return state >= 6 && state <= 15; }

std::string WriterStateName(int state) {
  static const char* const kNames[] = {
      "VSS_WS_UNKNOWN",
      "VSS_WS_STABLE",
      "VSS_WS_WAITING_FOR_FREEZE",
      "VSS_WS_WAITING_FOR_THAW",
      "VSS_WS_WAITING_FOR_POST_SNAPSHOT",
      "VSS_WS_WAITING_FOR_BACKUP_COMPLETE",
      "VSS_WS_FAILED_AT_IDENTIFY",
      "VSS_WS_FAILED_AT_PREPARE_BACKUP",
      "VSS_WS_FAILED_AT_PREPARE_SNAPSHOT",
      "VSS_WS_FAILED_AT_FREEZE",
      "VSS_WS_FAILED_AT_THAW",
      "VSS_WS_FAILED_AT_POST_SNAPSHOT",
      "VSS_WS_FAILED_AT_BACKUP_COMPLETE",
      "VSS_WS_FAILED_AT_PRE_RESTORE",
      "VSS_WS_FAILED_AT_POST_RESTORE",
      "VSS_WS_FAILED_AT_BACKUPSHUTDOWN",
  };
  if (state >= 0 && state < static_cast<int>(std::size(kNames))) return kNames[state];
  return "state " + std::to_string(state);
}

namespace {

// Failed writers, once each, as warnings.
void AddWriterWarnings(const std::vector<WriterStatus>& writers, std::vector<std::string>* out) {
  for (const WriterStatus& w : writers) {
    if (!WriterFailed(w.state)) continue;
    std::string text =
        "VSS writer '" + w.name + "' " + WriterStateName(w.state) + " (" + HresultHex(w.failure) +
        (HresultName(w.failure).empty() ? "" : " " + std::string(HresultName(w.failure))) +
        "): its files are read from the shadow copy as they were on disk "
        "(crash-consistent, not application-consistent)";
    bool seen = false;
    for (const std::string& s : *out) seen = seen || s.rfind("VSS writer '" + w.name + "'", 0) == 0;
    if (!seen) out->push_back(std::move(text));
  }
}

bool UnsupportedVolume(uint32_t hr) {
  return hr == kVolumeNotSupported || hr == kVolumeNotSupportedByProvider ||
         hr == kObjectNotFound || hr == kVolumeNotLocal;
}

SnapshotVolume Live(const std::string& volume, uint32_t why) {
  std::string reason =
      why == kOk ? "no shadow copy provider supports it"
                 : std::string(HresultName(why).empty() ? HresultHex(why) : HresultName(why));
  return {SnapshotKind::kNone, volume, "",
          volume + ": no shadow copy (" + reason +
              "; FAT, exFAT and network shares without a VSS provider cannot be snapshotted): "
              "read live, each file re-checked"};
}

}  // namespace

Result<SnapshotSet> CreateSnapshotSet(BackupComponents& vss,
                                      const std::vector<std::string>& volumes) {
  auto fail = [&](uint32_t hr, const char* call) -> Status {
    return StatusFromHresult(hr, call, volumes);
  };
  uint32_t hr = kOk;
  if ((hr = vss.InitializeForBackup()) != kOk) return fail(hr, "InitializeForBackup");
  if ((hr = vss.SetContextBackup()) != kOk) return fail(hr, "SetContext");
  // A copy backup: writers (SQL Server, Exchange) keep their own backup
  // history and logs; this agent does not replace their backups.
  if ((hr = vss.SetBackupStateCopy()) != kOk) return fail(hr, "SetBackupState");
  if ((hr = vss.GatherWriterMetadata()) != kOk) return fail(hr, "GatherWriterMetadata");

  SnapshotSet set;
  set.volumes.resize(volumes.size());
  std::vector<bool> in_set(volumes.size(), false);
  for (size_t i = 0; i < volumes.size(); ++i) {
    bool supported = false;
    hr = vss.IsVolumeSupported(volumes[i], &supported);
    if (hr != kOk && !UnsupportedVolume(hr)) return fail(hr, "IsVolumeSupported");
    in_set[i] = hr == kOk && supported;
    if (!in_set[i]) set.volumes[i] = Live(volumes[i], hr);
  }
  bool any = false;
  for (bool b : in_set) any = any || b;
  if (!any) return set;  // nothing to snapshot: every source is read live

  if ((hr = vss.StartSnapshotSet()) != kOk) return fail(hr, "StartSnapshotSet");
  auto abort = [&](uint32_t error, const char* call) -> Status {
    (void)vss.AbortBackup();
    return fail(error, call);
  };
  any = false;
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (!in_set[i]) continue;
    hr = vss.AddToSnapshotSet(volumes[i]);
    if (UnsupportedVolume(hr)) {
      // Supported in general, not now (IsVolumeSupported says what could
      // be done, not what the configuration allows): this one is read live.
      in_set[i] = false;
      set.volumes[i] = Live(volumes[i], hr);
      continue;
    }
    if (hr != kOk) return abort(hr, "AddToSnapshotSet");
    any = true;
  }
  if (!any) {
    (void)vss.AbortBackup();
    return set;
  }
  if ((hr = vss.PrepareForBackup()) != kOk) return abort(hr, "PrepareForBackup");
  std::vector<WriterStatus> writers;
  if ((hr = vss.GatherWriterStatus(&writers)) != kOk) return abort(hr, "GatherWriterStatus");
  AddWriterWarnings(writers, &set.warnings);
  if ((hr = vss.DoSnapshotSet()) != kOk) return abort(hr, "DoSnapshotSet");
  set.created = true;
  writers.clear();
  // After DoSnapshotSet the set exists: a failure from here deletes it.
  auto drop = [&](uint32_t error, const char* call) -> Status {
    (void)vss.DeleteSnapshotSet();
    return fail(error, call);
  };
  if ((hr = vss.GatherWriterStatus(&writers)) != kOk) return drop(hr, "GatherWriterStatus");
  AddWriterWarnings(writers, &set.warnings);
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (!in_set[i]) continue;
    std::string device;
    if ((hr = vss.SnapshotDevice(volumes[i], &device)) != kOk) {
      return drop(hr, "GetSnapshotProperties");
    }
    // "\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3"
    set.volumes[i] = {SnapshotKind::kVss, volumes[i], ShadowDeviceRoot(device),
                      "shadow copy " + device + " of " + VssadminVolume(volumes[i])};
  }
  return set;
}

Status CompleteSnapshotSet(BackupComponents& vss, const std::vector<std::string>& volumes) {
  Status first;
  // No components were selected (file backup): BackupComplete only tells
  // the writers the backup is over.
  uint32_t hr = vss.BackupComplete();
  if (hr != kOk) first = StatusFromHresult(hr, "BackupComplete", volumes);
  std::vector<WriterStatus> writers;
  hr = vss.GatherWriterStatus(&writers);
  if (hr != kOk && first.ok()) first = StatusFromHresult(hr, "GatherWriterStatus", volumes);
  hr = vss.DeleteSnapshotSet();
  if (hr != kOk && first.ok()) first = StatusFromHresult(hr, "DeleteSnapshots", volumes);
  return first;
}

}  // namespace obagent::platform::vss
