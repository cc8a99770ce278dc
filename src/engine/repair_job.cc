// The repair job (repair_job.h): machine record and index repair as the job
// runner's work.
#include "obagent/engine/repair_job.h"

#include "obagent/engine/job_runner.h"
#include "obagent/engine/machine_check.h"

namespace obagent::engine {

RepairJobOutcome RunRepairJob(platform::Env& env, const std::string& state_dir,
                              const RepairJobRequest& request) {
  RepairJobOutcome out;
  const bool dry_run = request.options.dry_run;
  JobSpec spec;
  spec.type = "Repair";
  spec.title = "Repair";
  spec.name = "repair";
  spec.load_index = false;  // RunRepair rebuilds it from the packs
  // One writer per machine: repair writes and removes index files and points.
  spec.writer_lock = !dry_run;
  spec.report_to_vault = !dry_run;
  spec.on_start = request.on_start;
  JobOutcome job = JobRunner(env, state_dir).Run(spec, [&](JobContext& ctx) -> Status {
    OB_ASSIGN_OR_RETURN(out.machine_record_written, HealMachineRecord(env, ctx.agent, dry_run));
    OB_ASSIGN_OR_RETURN(MachineRecordCheck check, CheckMachineRecord(env, ctx.agent));
    out.machine_record_problems = check.problems;
    Result<RepairReport> report = RunRepair(*ctx.agent.repo, request.options);
    if (!report.ok()) return report.status();
    const RepairReport& r = *report;
    out.damage_left = !r.damaged_packs.empty() || !r.unreadable_points.empty() ||
                      !r.damaged_points.empty() || !out.machine_record_problems.empty() ||
                      (r.dry_run && (!r.clean() || !out.machine_record_written.empty()));
    out.healed_something = !r.clean() || !out.machine_record_written.empty();
    ctx.record.state = out.damage_left ? JobState::kCompletedWithWarnings : JobState::kCompleted;
    // vaultd hears what the index held: damage found (and perhaps mended).
    ctx.vault_report["state"] =
        JobStateName(r.clean() ? JobState::kCompleted : JobState::kCompletedWithWarnings);
    ctx.vault_report["damaged_points"] = r.damaged_points.size();
    ctx.vault_report["points_written"] = r.points_written.size();
    ctx.log_detail = std::to_string(r.packs) + " packs, " + std::to_string(r.points) +
                     " recovery points: " +
                     (out.damage_left        ? "damage found"
                      : out.healed_something ? "damage repaired"
                                             : "no damage");
    out.report = std::move(report).value();
    return Status::Ok();
  });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  return out;
}

}  // namespace obagent::engine
