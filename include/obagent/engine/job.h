// What backup and restore jobs report while they run and when they end.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace obagent::engine {

enum class JobState { kInProgress, kCompleted, kCompletedWithWarnings, kFailed, kCancelled };
const char* JobStateName(JobState state);

// What a running job has done so far. The bar, rate and ETA follow
// bytes_done against bytes_total, i.e. what remains to be made safe (for a
// backup: to upload), at the recent rate (EstimateProgress,
// obagent/engine/progress.h).
struct Progress {
  uint64_t files_done = 0;
  uint64_t files_total = 0;  // 0 when unknown (a backup; a restore knows it from the tree)
  // Source bytes the job is finished with. Backup: bytes whose data is safe
  // in the vault (an unchanged file, a chunk the vault already holds, or a
  // chunk in a pack the vault has accepted). Restore: bytes written.
  uint64_t bytes_done = 0;
  // 0 when unknown: only a machine's first backup. A later backup starts
  // from the previous point's size, grows it to the sizes it has scanned,
  // and once every file is scanned knows it exactly (the upload may still
  // be draining then).
  uint64_t bytes_total = 0;
  // Backup only: source bytes read from disk so far (runs ahead of the
  // upload by what the workers and staging hold) and bytes of packs the
  // vault has accepted (compressed and encrypted, new data only).
  uint64_t bytes_read = 0;
  uint64_t bytes_uploaded = 0;
  double elapsed_seconds = 0;
  // How fast bytes_done moved lately (ProgressRate, measured by the job's
  // ProgressReporter over the last seconds, so a fast start — unchanged
  // files, data the vault holds — does not speak for a throttled upload
  // still to come). None: EstimateProgress uses the average since the start.
  std::optional<double> recent_bytes_per_second;
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
