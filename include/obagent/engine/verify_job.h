// A verify job (obctl verify) as the work of the job runner (job_runner.h:
// the "Verify" record): every object of the vault checked (verify.h), the
// machine record and wrapped key included (machine_check.h), and the damaged
// copies found recorded in the vault so the next backup uploads them again.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "obagent/engine/job_history.h"
#include "obagent/engine/verify.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct VerifyJobRequest {
  // Called once the job is in the history (InProgress), before it runs.
  std::function<void(const JobRecord&)> on_start;
};

struct VerifyJobOutcome {
  JobRecord record;                    // Failed when verify found problems
  Status status;                       // why verify could not run to its end; ok otherwise
  std::optional<VerifyReport> report;  // its problems include the machine record's
  size_t damaged_copies_recorded = 0;
  // Why the damage found could not be recorded in the vault, if it could not.
  Status damage_record;
};

VerifyJobOutcome RunVerifyJob(platform::Env& env, const std::string& state_dir,
                              const VerifyJobRequest& request = {});

}  // namespace obagent::engine
