// Job history (Get-OBJob): one JSON record per job in <state dir>/jobs,
// written atomically when the job starts (InProgress) and again when it ends.
// A job whose process died shows as Failed ("interrupted") instead of
// staying InProgress forever.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "obagent/engine/job.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct JobRecord {
  std::string id;    // 16 hex characters
  std::string type;  // "Backup", "Recovery", "Prune", "RecoveryTest"
  JobState state = JobState::kInProgress;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t pid = 0;  // of the process running it, while InProgress
  uint64_t files = 0;
  uint64_t bytes_scanned = 0;
  uint64_t bytes_transferred = 0;  // uploaded (backup) or written (recovery)
  std::string recovery_point;
  std::string error;
  std::string failed_files_log;
  std::string snapshot;  // backup: what the sources were read from ("vss", "btrfs", "none", …)
  // One line on what the job found (RecoveryTest: "20 of 20 sampled files
  // … restored and identical, 3.1 MiB, 45.0 files/s, …").
  std::string summary;
  // Backup: what changed since the parent point (BackupFigures, backup.h).
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_deleted = 0;
  uint64_t bytes_new = 0;
  uint64_t bytes_new_incompressible = 0;
};

// The record as JSON (the history's files, the local API, the console,
// obctl --json): the job record's one codec (engine/wire.h lists them all).
// The decoder refuses what is not a record (not an object, an unknown
// "state", a field of the wrong type); absent fields read as empty or 0.
nlohmann::json JobRecordToJson(const JobRecord& record);
Result<JobRecord> JobRecordFromJson(const nlohmann::json& j);

class JobHistory {
 public:
  JobHistory(platform::Env& env, std::string state_dir);
  // Records a new InProgress job and returns it (id, start time, pid set).
  Result<JobRecord> Start(const std::string& type);
  Status Finish(JobRecord& record);
  // Newest first.
  Result<std::vector<JobRecord>> List();
  // A full id or a prefix of at least 4 characters.
  Result<JobRecord> Find(const std::string& id_or_prefix);

  // Stop-OBJob: a marker beside the record that the process running the job
  // polls, so a job can be stopped whichever process (engine or obctl) runs
  // it. kNotFound for an unknown job, kInvalidArgument for one that ended.
  Status RequestCancel(const std::string& id_or_prefix);
  bool CancelRequested(const std::string& id);
  void ClearCancelRequest(const std::string& id);

 private:
  std::string PathOf(const JobRecord& record) const;
  Status Save(const JobRecord& record);

  platform::Env& env_;
  std::string dir_;
};

// <state dir>/temp/<log_name>-<job>.txt (LastBackupFailedFiles-<job>.txt,
// as MARS does): one line per file, "<OS error>\t<path>\t<message>", the
// OS error in its Windows form (0x80070005) or "-" when the cause was not an
// OS call. The code comes first because a path may itself contain a tab.
// Returns the path, or "" when there was nothing to write (or it failed).
std::string WriteFailedFilesLog(platform::Env& env, const std::string& state_dir,
                                const std::string& log_name, const std::string& job,
                                const std::vector<FailedFile>& files);
struct FailedFileLine {
  std::string os_error;  // "0x80070005" or "-"
  std::string path;
  std::string message;
};
Result<std::vector<FailedFileLine>> ReadFailedFilesLog(platform::Env& env, const std::string& path);

// Polls the history for a stop request (`obctl job stop`, the local API)
// while a job runs, so a job can be stopped whichever process runs it; the
// job passes flag() to the work (BackupOptions::cancel, RestoreOptions::cancel).
class JobStopWatcher {
 public:
  JobStopWatcher(JobHistory& history, std::string job_id);
  ~JobStopWatcher();
  JobStopWatcher(const JobStopWatcher&) = delete;
  JobStopWatcher& operator=(const JobStopWatcher&) = delete;
  const std::atomic<bool>& flag() const { return stop_requested_; }

 private:
  void Watch();

  JobHistory& history_;
  std::string job_id_;
  std::atomic<bool> stop_requested_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace obagent::engine
