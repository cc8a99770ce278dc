// The restore drill (obctl recovery test, the policy's scheduled drill, the
// console's Run Drill): proof that data comes back, not only that packs
// authenticate. A random sample of a recovery point's files is restored with
// the real restore (RunRestore, items = the sample) into a private folder
// (owner only) below the scratch folder, and every restored file is compared
// with what the point's tree records: its size, its content (each chunk
// re-hashed with the id key must give the chunk's id), its mode and mtime,
// its owner when the drill runs with the rights to restore owners, a
// symlink's target. The sample folder is removed afterwards, whether the
// drill completed, failed or was stopped.
//
// Outcome (a job of its own, "RecoveryTest" in the job history):
//   Completed              every sampled file came back identical;
//   CompletedWithWarnings  every file's data came back, but some differ in
//                          metadata or could not be written here (listed
//                          in LastRecoveryTestFailedFiles-<job>.txt);
//   Failed                 the point cannot be read, or some data did not
//                          come back: an object is damaged or missing (the
//                          message names the pack), or restored bytes differ
//                          from the point's tree;
//   Cancelled              stopped (obctl job stop, the local API).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "obagent/core/crypto.h"
#include "obagent/core/tree.h"
#include "obagent/engine/job.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/repository.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

constexpr uint64_t kDefaultRecoveryTestSample = 100;

// How many files to draw: a count, or a percentage of the point's files
// (rounded up, at least one file when the point has any).
struct RecoveryTestSample {
  uint64_t count = kDefaultRecoveryTestSample;  // used when percent is 0
  double percent = 0;                           // (0, 100]
  Status Validate() const;
  // How many of `total` files this selects.
  uint64_t CountOf(uint64_t total) const;
};

struct RecoveryTestOptions {
  std::string point = "latest";
  RecoveryTestSample sample;
  // The folder the sample folder is made in (owner only); the sample folder
  // itself ("recovery-test-<tag>") is created and removed by the drill.
  std::string work_dir;
  std::string tag;  // names the sample folder; the job id
  size_t threads = 0;
  ProgressFn progress;
  const std::atomic<bool>* cancel = nullptr;
  // For tests: the random draw is repeatable with a seed.
  std::optional<uint64_t> seed;
};

struct RecoveryTestReport {
  JobState state = JobState::kCompleted;
  std::string point_id;
  uint64_t files_in_point = 0;  // files and symlinks
  uint64_t sampled = 0;
  uint64_t identical = 0;  // restored and equal to the tree in content and metadata
  uint64_t bytes = 0;      // file bytes of the sample restored and compared
  double seconds = 0;      // restore and comparison
  double files_per_second = 0;
  double bytes_per_second = 0;
  // Files whose data did not come back (damaged, missing, different bytes).
  uint64_t data_failures = 0;
  // One line per damaged or missing object met ("blob … in pack …: …").
  std::vector<std::string> damage;
  std::vector<FailedFile> failed_files;  // point paths, with why
  std::string sample_dir;                // where the sample was (removed)
};

// Runs the drill on an open repository with its index loaded. An error
// Status when the drill could not run at all (no such point, no folder for
// the sample, kCancelled when stopped); damage found is a report with state
// Failed. The sample folder is gone when this returns.
Result<RecoveryTestReport> RunRecoveryTest(Repository& repo, const RecoveryTestOptions& options);

// Every file and symlink of a point: its path in the point ("/home/me/a",
// "C:/data/a") and its node. Directories are walked, not listed.
struct PointFile {
  std::string path;
  tree::Node node;
};
Result<std::vector<PointFile>> ListPointFiles(Repository& repo, const ObjectId& root);

// Compares a restored file at `path` with its tree node. Empty when they
// match; else what differs. `content` is set when the bytes (size or a
// chunk) differ or cannot be read, as against metadata only.
struct FileComparison {
  bool content = false;
  std::string problem;  // "" = identical
};
struct CompareOptions {
  bool check_owner = false;  // when the restore could set owners (root)
};
FileComparison CompareRestoredFile(platform::Env& env, const crypto::Key& id_key,
                                   const tree::Node& node, const std::string& path,
                                   const CompareOptions& options = {});

// The drill as a job, as every front end runs it (obctl, the engine's
// scheduler, the local API): the job record ("RecoveryTest"), the engine-log
// milestones, the failed-files log, stop requests (JobStopWatcher).
struct RecoveryTestJobRequest {
  std::string point = "latest";
  RecoveryTestSample sample;
  ProgressFn progress;
  std::function<void(const JobRecord&)> on_start;
  std::optional<uint64_t> seed;
};
struct RecoveryTestJobOutcome {
  JobRecord record;
  Status status;  // why it failed to run or was cancelled; ok otherwise
  std::optional<RecoveryTestReport> report;
};
RecoveryTestJobOutcome RunRecoveryTestJob(platform::Env& env, const std::string& state_dir,
                                          const RecoveryTestJobRequest& request);

// The sample the policy's drill draws.
RecoveryTestSample SampleOf(const RecoveryTestPolicy& drill);
// The sample of a drill started without one (Run Drill Now, the local API):
// the policy's when it schedules drills, else the default of 100 files.
RecoveryTestSample PolicySampleOrDefault(platform::Env& env, const std::string& state_dir);

// The record's one-line summary for the job history and the console
// ("20 of 1,234 files restored and identical, 3.1 MB, 45 files/s, …").
std::string DescribeRecoveryTest(const RecoveryTestReport& report);

}  // namespace obagent::engine
