// A recovery job (Start-OBRecovery) as every front end runs it (obctl, the
// local API, the console): the restore as the work of the job runner
// (job_runner.h: the "Recovery" record, milestones 5050/5055/5057, stop
// requests, the failed-files log LastRecoveryFailedFiles-<job>.txt listing
// the files that failed, then the warnings). Front ends only present it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "obagent/engine/agent.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/restore.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

// Whose recovery points: this machine's (machine empty: opened with the
// stored key, checked against `passphrase` when given) or another machine's
// of the vault (alternate-machine recovery: a fresh vault-credential file
// and that machine's passphrase; read-only).
struct RecoveryMachine {
  std::string machine;
  std::string credentials_file;
  std::optional<std::string> passphrase;
};
// Opens it; the index is not loaded.
Result<OpenedAgent> OpenRecoveryMachine(platform::Env& env, const std::string& state_dir,
                                        const RecoveryMachine& which);

struct RecoveryJobRequest {
  RestoreOptions restore;  // its progress and cancel are the job's
  // Another machine's points already open (and its index loaded) by the
  // front end that browsed them; else the job opens `machine`.
  std::shared_ptr<OpenedAgent> source;
  RecoveryMachine machine;
  ProgressFn progress;
  // Called once the job is in the history (InProgress), before it runs.
  std::function<void(const JobRecord&)> on_start;
};

struct RecoveryJobOutcome {
  JobRecord record;  // final state, counts, error, failed-files log
  Status status;     // why it failed or was cancelled; ok otherwise
  std::optional<RestoreReport> report;
  // Damaged copies the restore met are recorded in this machine's vault so
  // that its next backup uploads them again; why that failed, if it did.
  Status damage_record;
};

RecoveryJobOutcome RunRecoveryJob(platform::Env& env, const std::string& state_dir,
                                  const RecoveryJobRequest& request);

}  // namespace obagent::engine
