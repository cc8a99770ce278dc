// The prune job (prune_job.h): retention or --keep-last as the job runner's
// work.
#include "obagent/engine/prune_job.h"

#include <chrono>

#include "obagent/engine/critical_ops.h"
#include "obagent/engine/job_runner.h"

namespace obagent::engine {

PruneJobOutcome RunPruneJob(platform::Env& env, const std::string& state_dir,
                            const PruneJobRequest& request) {
  PruneJobOutcome out;
  const bool dry_run = request.options.dry_run;
  JobSpec spec;
  spec.type = "Prune";
  spec.title = "Prune";
  spec.name = "prune";
  spec.load_index = false;  // RunPrune reads every index file itself
  // One writer per machine: prune deletes, so it must not race a backup.
  spec.writer_lock = !dry_run;
  spec.report_to_vault = !dry_run;
  spec.on_start = request.on_start;
  JobOutcome job = JobRunner(env, state_dir).Run(spec, [&](JobContext& ctx) -> Status {
    if (request.keep_last) {
      if (*request.keep_last < 1) return InvalidArgument("--keep-last must be at least 1");
    } else {
      OB_RETURN_IF_ERROR(request.policy.Validate());
      // vaultd learns the retention first: it refuses one under MARS's
      // minimums, and a reduction without the Security PIN.
      if (!dry_run) {
        ctx.agent.vault->SetSecurityPin(request.security_pin);
        OB_RETURN_IF_ERROR(ctx.agent.vault->RegisterRetention(VaultRetentionOf(request.policy))
                               .WithContext("registering the retention with the vault"));
      }
    }
    Repository& repo = *ctx.agent.repo;
    OB_ASSIGN_OR_RETURN(out.points, repo.ListRecoveryPoints());
    std::vector<std::string> keep;
    if (request.keep_last) {
      size_t n = *request.keep_last;
      for (size_t i = out.points.size() > n ? out.points.size() - n : 0; i < out.points.size();
           ++i) {
        keep.push_back(out.points[i].id);
      }
    } else {
      auto now = std::chrono::system_clock::now().time_since_epoch();
      keep = PointsToKeep(out.points, request.policy,
                          std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
    }
    Result<PruneReport> pruned = RunPrune(repo, keep, request.options);
    if (!pruned.ok() && pruned.status().code() == ErrorCode::kVaultHold) {
      // The vault refused the first delete: nothing is gone. A warning,
      // not a failure: the points stay until the administrator acknowledges.
      out.held = pruned.status().WithContext("prune deleted nothing");
      ctx.record.state = JobState::kCompletedWithWarnings;
      ctx.record.error = out.held.ToString();
      ctx.log_detail = out.held.ToString();
      return Status::Ok();
    }
    if (!pruned.ok()) return pruned.status();
    PruneReport report = std::move(pruned).value();
    ctx.vault_report["points_removed"] = report.removed_points.size();
    if (!report.held_points.empty()) ctx.vault_report["points_held"] = report.held_points.size();
    ctx.vault_report["bytes_freed"] = report.bytes_freed();
    ctx.log_detail = std::to_string(report.removed_points.size()) + " recovery points " +
                     (dry_run ? "would be " : "") + "removed, " +
                     std::to_string(report.bytes_freed()) + " bytes " +
                     (dry_run ? "would be " : "") + "freed";
    if (!report.held_points.empty()) {
      ctx.log_detail +=
          ", " + std::to_string(report.held_points.size()) + " held by the vault's retention floor";
    }
    out.report = std::move(report);
    return Status::Ok();
  });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  return out;
}

}  // namespace obagent::engine
