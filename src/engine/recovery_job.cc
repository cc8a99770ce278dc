// The recovery job (recovery_job.h): the restore as the job runner's work.
#include "obagent/engine/recovery_job.h"

#include "obagent/engine/engine_log.h"
#include "obagent/engine/job_runner.h"

namespace obagent::engine {

Result<OpenedAgent> OpenRecoveryMachine(platform::Env& env, const std::string& state_dir,
                                        const RecoveryMachine& which) {
  if (which.machine.empty()) return OpenAgent(env, state_dir, which.passphrase);
  if (!which.passphrase) {
    return InvalidArgument("recovering another machine needs its passphrase (--passphrase-file)");
  }
  return OpenSourceMachine(env, state_dir, which.credentials_file, which.machine,
                           *which.passphrase);
}

RecoveryJobOutcome RunRecoveryJob(platform::Env& env, const std::string& state_dir,
                                  const RecoveryJobRequest& request) {
  RecoveryJobOutcome out;
  // Only this machine's vault records the damage its restores meet.
  const bool own = !request.source && request.machine.machine.empty();
  JobSpec spec;
  spec.type = "Recovery";
  spec.title = "Recovery";
  spec.name = "recovery";
  spec.milestones = JobMilestones{Milestone::kRecoveryStarted, Milestone::kRecoveryCompleted,
                                  Milestone::kRecoveryCompleted, Milestone::kRecoveryFailed};
  spec.agent = request.source.get();
  spec.open = [&] { return OpenRecoveryMachine(env, state_dir, request.machine); };
  spec.failed_files_log = "LastRecoveryFailedFiles";
  spec.progress = request.progress;
  spec.on_start = request.on_start;
  JobOutcome job = JobRunner(env, state_dir).Run(spec, [&](JobContext& ctx) -> Status {
    RestoreOptions options = request.restore;
    options.progress = ctx.progress;
    options.cancel = ctx.cancel;
    Result<RestoreReport> report = RunRestore(*ctx.agent.repo, options);
    if (own) out.damage_record = RecordFoundDamage(ctx.agent).status();
    if (!report.ok()) return report.status();
    JobRecord& record = ctx.record;
    record.state = report->state;
    record.files = report->files;
    record.bytes_transferred = report->bytes;
    record.recovery_point = report->point_id;
    // One list for the console (Job details) and obctl job show: the files
    // that failed, then the warnings (names restored escaped).
    ctx.failed_files = report->failed_files;
    ctx.failed_files.insert(ctx.failed_files.end(), report->warnings.begin(),
                            report->warnings.end());
    if (!report->failed_files.empty()) {
      record.error = std::to_string(report->failed_files.size()) + " files could not be recovered";
    } else {
      ctx.log_detail = std::to_string(report->files) + " files";
      if (!report->warnings.empty()) {
        ctx.log_detail += ", " + std::to_string(report->warnings.size()) + " warnings";
      }
    }
    out.report = std::move(report).value();
    return Status::Ok();
  });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  return out;
}

}  // namespace obagent::engine
