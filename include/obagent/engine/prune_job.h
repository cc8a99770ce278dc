// A prune job (obctl prune) as the work of the job runner (job_runner.h: the
// "Prune" record, the machine's writer lock, the report to vaultd; a dry run
// takes no lock and reports nothing): a retention policy, or the newest N
// points, applied and the vault space of the dropped points freed (prune.h).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "obagent/engine/job_history.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/retention.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct PruneJobRequest {
  RetentionPolicy policy;  // validated by the job
  // A manual override of the policy: keep only the newest N (≥ 1) points,
  // whatever their age.
  std::optional<size_t> keep_last;
  PruneOptions options;
  // The vault's Security PIN, for a retention that is less than the one
  // registered with vaultd ("" for none).
  std::string security_pin;
  // Called once the job is in the history (InProgress), before it runs.
  std::function<void(const JobRecord&)> on_start;
};

struct PruneJobOutcome {
  JobRecord record;
  Status status;  // why it failed; ok otherwise
  // The vault holds the machine's data (an unacknowledged anomaly,
  // kVaultHold): nothing was deleted, `report` is empty and the job ended
  // CompletedWithWarnings with this as its error. Ok otherwise.
  Status held;
  std::optional<PruneReport> report;
  std::vector<NamedRecoveryPoint> points;  // the recovery points before the prune, oldest first
};

PruneJobOutcome RunPruneJob(platform::Env& env, const std::string& state_dir,
                            const PruneJobRequest& request);

}  // namespace obagent::engine
