// What backup and restore jobs report while they run and when they end.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace obagent::engine {

enum class JobState { kInProgress, kCompleted, kCompletedWithWarnings, kFailed, kCancelled };
const char* JobStateName(JobState state);

struct Progress {
  uint64_t files_done = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0 when unknown (first backup)
  uint64_t files_total = 0;  // 0 when unknown
  double elapsed_seconds = 0;
};
// Called a few times a second, from one of the job's threads at a time
// (never from two at once).
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
