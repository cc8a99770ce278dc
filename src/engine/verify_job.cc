// The verify job (verify_job.h): verify as the job runner's work.
#include "obagent/engine/verify_job.h"

#include "obagent/engine/job_runner.h"
#include "obagent/engine/machine_check.h"

namespace obagent::engine {

VerifyJobOutcome RunVerifyJob(platform::Env& env, const std::string& state_dir,
                              const VerifyJobRequest& request) {
  VerifyJobOutcome out;
  JobSpec spec;
  spec.type = "Verify";
  spec.title = "Verify";
  spec.name = "verify";
  spec.on_start = request.on_start;
  JobOutcome job = JobRunner(env, state_dir).Run(spec, [&](JobContext& ctx) -> Status {
    OB_ASSIGN_OR_RETURN(VerifyReport report, RunVerify(*ctx.agent.repo));
    // The machine record and the wrapped key: objects verify can
    // authenticate too, needed when registering again or recovering on
    // another machine.
    OB_ASSIGN_OR_RETURN(MachineRecordCheck check, CheckMachineRecord(env, ctx.agent));
    for (const std::string& p : check.problems) report.problems.push_back(p);
    // The damaged copies found are recorded in the vault: the next backup
    // uploads them again from the source.
    Result<size_t> recorded = RecordFoundDamage(ctx.agent);
    if (recorded.ok()) {
      out.damaged_copies_recorded = *recorded;
    } else {
      out.damage_record = recorded.status();
    }
    ctx.record.bytes_scanned = report.bytes;
    ctx.log_detail =
        std::to_string(report.packs) + " packs, " + std::to_string(report.blobs) + " objects, " +
        std::to_string(report.recovery_points) + " recovery points: " +
        (report.ok() ? "no problems" : std::to_string(report.problems.size()) + " problems");
    if (!report.ok()) {
      ctx.record.state = JobState::kFailed;
      ctx.record.error = std::to_string(report.problems.size()) +
                         " problems found; the first: " + report.problems.front();
    } else if (!recorded.ok()) {
      ctx.record.state = JobState::kCompletedWithWarnings;
    }
    out.report = std::move(report);
    return Status::Ok();
  });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  return out;
}

}  // namespace obagent::engine
