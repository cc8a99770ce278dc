// What backup and restore jobs report while they run and when they end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace obagent::engine {

enum class JobState { kInProgress, kCompleted, kCompletedWithWarnings, kFailed, kCancelled };
const char* JobStateName(JobState state);

// What a running job has done so far. The bar, rate and ETA follow
// bytes_done against bytes_total (EstimateProgress, obagent/engine/progress.h).
struct Progress {
  uint64_t files_done = 0;
  uint64_t files_total = 0;  // 0 when unknown (a backup; a restore knows it from the tree)
  // Source bytes the job is finished with. Backup: bytes whose data is safe
  // in the vault (an unchanged file, a chunk the vault already holds, or a
  // chunk in a pack the vault has accepted). Restore: bytes written.
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 when unknown (first backup); a backup's is an estimate
  // Backup only: source bytes read from disk so far (runs ahead of the
  // upload by what the workers and staging hold) and bytes of packs the
  // vault has accepted (compressed and encrypted, new data only).
  uint64_t bytes_read = 0;
  uint64_t bytes_uploaded = 0;
  double elapsed_seconds = 0;
};
// Called while the job runs, from whichever of its threads noticed the
// change, at most a few times a second, never concurrently, and once more
// with the final figures when the job ends (ProgressReporter).
using ProgressFn = std::function<void(const Progress&)>;

// A file a job could not process. The job goes on without it and ends
// CompletedWithWarnings.
struct FailedFile {
  std::string path;
  std::string error;
  // The OS error that made the file fail (os_error::k…, e.g. 0x80070005
  // access denied), kNone when the cause was not an OS call.
  uint32_t os_error = 0;
};

}  // namespace obagent::engine
