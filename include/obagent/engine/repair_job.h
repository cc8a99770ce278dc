// A repair job (obctl repair) as the work of the job runner (job_runner.h:
// the "Repair" record, the machine's writer lock, the report to vaultd; a
// dry run takes no lock and reports nothing): the machine record healed and
// checked (machine_check.h), then the index rebuilt and damaged points named
// or written again (repair.h).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "obagent/engine/job_history.h"
#include "obagent/engine/repair.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct RepairJobRequest {
  RepairOptions options;
  // Called once the job is in the history (InProgress), before it runs.
  std::function<void(const JobRecord&)> on_start;
};

struct RepairJobOutcome {
  JobRecord record;  // CompletedWithWarnings while damage_left
  Status status;     // why it failed; ok otherwise
  std::optional<RepairReport> report;
  std::vector<std::string> machine_record_written;   // what healing wrote
  std::vector<std::string> machine_record_problems;  // left after healing (all in a dry run)
  // What repair cannot undo: lost data, unreadable packs or points, a record
  // vaultd keeps; in a dry run, anything it would change.
  bool damage_left = false;
  bool healed_something = false;  // the index or the machine record was (or would be) mended
};

RepairJobOutcome RunRepairJob(platform::Env& env, const std::string& state_dir,
                              const RepairJobRequest& request);

}  // namespace obagent::engine
