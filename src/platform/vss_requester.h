// The VSS requester's sequence, portable: which calls, in which order, and
// what each outcome means for the job. The Windows side
// (win/vss_snapshot.cc) adapts IVssBackupComponents to BackupComponents
// below; the unit tests drive the same sequence through a fake that keeps
// Microsoft's documented contract (tests/unit/platform/vss_requester_test.cc).
// Wine has no VSS, so this is where the sequence is proven.
// Internal to src/platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform::vss {

// Values from vss.h / vsserror.h.
inline constexpr uint32_t kOk = 0;
inline constexpr uint32_t kAsyncPending = 0x00042309;                  // VSS_S_ASYNC_PENDING
inline constexpr uint32_t kAsyncFinished = 0x0004230A;                 // VSS_S_ASYNC_FINISHED
inline constexpr uint32_t kAsyncCancelled = 0x0004230B;                // VSS_S_ASYNC_CANCELLED
inline constexpr uint32_t kBadState = 0x80042301;                      // VSS_E_BAD_STATE
inline constexpr uint32_t kObjectNotFound = 0x80042308;                // VSS_E_OBJECT_NOT_FOUND
inline constexpr uint32_t kVolumeNotSupported = 0x8004230C;            // VSS_E_VOLUME_NOT_SUPPORTED
inline constexpr uint32_t kVolumeNotSupportedByProvider = 0x8004230E;  // ..._BY_PROVIDER
inline constexpr uint32_t kVolumeNotLocal = 0x8004232D;                // VSS_E_VOLUME_NOT_LOCAL

// What waiting for an IVssAsync gave: kOk only when the operation finished
// (VSS_S_ASYNC_FINISHED). VSS_S_ASYNC_CANCELLED and VSS_S_ASYNC_PENDING
// are success codes to COM but failures to the requester; the first failed
// call's HRESULT wins.
uint32_t AsyncOutcome(uint32_t wait_hr, uint32_t query_hr, uint32_t async_status);

// One writer's answer to GatherWriterStatus (GetWriterStatus).
struct WriterStatus {
  std::string name;        // "SqlServerWriter"
  int state = 0;           // VSS_WRITER_STATE
  uint32_t failure = kOk;  // hrFailureWriter
};
// VSS_WS_FAILED_AT_IDENTIFY (6) .. VSS_WS_FAILED_AT_BACKUPSHUTDOWN (15).
bool WriterFailed(int state);
// "VSS_WS_FAILED_AT_FREEZE"; "state N" for others.
std::string WriterStateName(int state);

// IVssBackupComponents as the requester uses it for one file backup. Every
// call returns an HRESULT; kOk is success, anything else a failure (the
// adapter has already waited for the asynchronous ones with AsyncOutcome).
// Volumes are roots in '/' form ("C:/", "D:/mnt/data/", "//server/share/").
class BackupComponents {
 public:
  virtual ~BackupComponents() = default;
  virtual uint32_t InitializeForBackup() = 0;
  virtual uint32_t SetContextBackup() = 0;      // SetContext(VSS_CTX_BACKUP)
  virtual uint32_t SetBackupStateCopy() = 0;    // SetBackupState(false, false, VSS_BT_COPY, false)
  virtual uint32_t GatherWriterMetadata() = 0;  // waited for; FreeWriterMetadata after
  virtual uint32_t IsVolumeSupported(const std::string& volume, bool* supported) = 0;
  virtual uint32_t StartSnapshotSet() = 0;
  virtual uint32_t AddToSnapshotSet(const std::string& volume) = 0;
  virtual uint32_t PrepareForBackup() = 0;  // waited for
  virtual uint32_t DoSnapshotSet() = 0;     // waited for
  // Waited for; the writers' states (GetWriterStatusCount/GetWriterStatus,
  // FreeWriterStatus after).
  virtual uint32_t GatherWriterStatus(std::vector<WriterStatus>* writers) = 0;
  // GetSnapshotProperties of the volume's shadow copy: m_pwszSnapshotDeviceObject.
  virtual uint32_t SnapshotDevice(const std::string& volume, std::string* device) = 0;
  virtual uint32_t BackupComplete() = 0;  // waited for
  virtual uint32_t DeleteSnapshotSet() = 0;
  virtual uint32_t AbortBackup() = 0;
};

// What CreateSnapshotSet made: one SnapshotVolume per volume, in order:
// kVss with the shadow device root, or kNone ("read live") for a volume no
// provider supports (FAT, exFAT, a share without a VSS provider) with the
// reason. `created` says whether a shadow copy set exists (to complete and
// delete); `warnings` lists writers that failed (their files are read from
// the snapshot, crash-consistent only).
struct SnapshotSet {
  std::vector<SnapshotVolume> volumes;
  bool created = false;
  std::vector<std::string> warnings;
};

// The documented backup sequence: InitializeForBackup, SetContext,
// SetBackupState, GatherWriterMetadata, IsVolumeSupported per volume,
// StartSnapshotSet, AddToSnapshotSet per supported volume,
// PrepareForBackup, GatherWriterStatus, DoSnapshotSet, GatherWriterStatus,
// GetSnapshotProperties. AbortBackup after any failure between
// StartSnapshotSet and the end of DoSnapshotSet. Errors come back as
// vss::StatusFromHresult statuses naming the call.
Result<SnapshotSet> CreateSnapshotSet(BackupComponents& vss,
                                      const std::vector<std::string>& volumes);

// After the backup read everything: BackupComplete, GatherWriterStatus
// (the writers' session ends there), DeleteSnapshots. The first error wins;
// every step runs.
Status CompleteSnapshotSet(BackupComponents& vss, const std::vector<std::string>& volumes);

}  // namespace obagent::platform::vss
