// A backup job as every front end runs it (obctl, the engine's scheduler,
// the local API, the console): the backup as the work of the job runner
// (job_runner.h: the job record, the writer lock, the failed-files log
// LastBackupFailedFiles, the engine-log milestones 5030/5035/5036/5037, the
// report to vaultd and, for scheduled runs, retention under the same lock),
// then the AfterBackup script. Front ends only present the outcome.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "obagent/engine/backup.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/retention.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct BackupJobRequest {
  std::vector<std::string> includes;
  std::vector<std::string> excludes;
  size_t threads = 0;
  std::optional<RetentionPolicy> retention;  // applied after a backup that wrote its point
  ProgressFn progress;
  // Called once the job is in the history (InProgress), before it runs.
  std::function<void(const JobRecord&)> on_start;
};

struct BackupJobOutcome {
  JobRecord record;  // final state, counts, error, failed-files log
  Status status;     // why it failed or was cancelled; ok otherwise
  std::optional<BackupReport> report;
  std::optional<PruneReport> retention;
  Status retention_status;
  std::string after_backup_script;  // "" if not run, else its result
};

// "snapshot btrfs (btrfs subvolume /home); read live: /etc is on ext4 …"
// for the engine log and the job summary.
std::string DescribeSnapshot(const BackupReport& report);

BackupJobOutcome RunBackupJob(platform::Env& env, const std::string& state_dir,
                              const BackupJobRequest& request);

// The selection and retention of the stored policy, run as a backup job. A
// paused policy is not an error: the outcome's status is ok and no job is
// recorded (record.id is empty).
BackupJobOutcome RunPolicyBackupJob(platform::Env& env, const std::string& state_dir,
                                    ProgressFn progress = {},
                                    std::function<void(const JobRecord&)> on_start = {});

}  // namespace obagent::engine
