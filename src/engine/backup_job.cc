// The backup job (backup_job.h): the backup as the job runner's work
// (job_runner.h), the AfterBackup script, and the policy's backup.
#include "obagent/engine/backup_job.h"

#include "obagent/engine/agent.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/job_runner.h"
#include "obagent/engine/policy.h"

namespace obagent::engine {

namespace {

// <state dir>/scripts/AfterBackup runs after every backup that wrote its
// recovery point (as ConfigMgr's AfterBackup.bat), with the job id, state and
// recovery point in its environment. It must belong to the service account
// and be writable by nobody else; its start and exit code are logged.
std::string RunAfterBackupScript(platform::Env& env, const std::string& state_dir,
                                 const JobRecord& job, const std::string& point,
                                 const std::string& state) {
  std::string script = state_dir + "/scripts/AfterBackup";
  if (!env.Lstat(script).ok()) return "";
  if (!env.OnlyThisAccountCanChange(script)) {
    std::string why = script +
                      " is not run: it must be a regular file owned by the service "
                      "account and writable by nobody else";
    LogMilestone(Milestone::kAfterBackupScriptFinished, why);
    return why;
  }
  LogMilestone(Milestone::kAfterBackupScriptStarted,
               "Post-backup script " + script + " started (job " + job.id + ")");
  auto rc = env.RunProgram(script, {},
                           {"OBAGENT_JOB_ID=" + job.id, "OBAGENT_JOB_STATE=" + state,
                            "OBAGENT_RECOVERY_POINT=" + point});
  std::string result = rc.ok() ? "exit code " + std::to_string(*rc) : rc.status().ToString();
  LogMilestone(Milestone::kAfterBackupScriptFinished,
               "Post-backup script finished (job " + job.id + "): " + result);
  return result;
}

// The work of a backup job: the backup itself. Fills `out.report`.
Status BackupWork(JobContext& ctx, const BackupJobRequest& request, BackupJobOutcome& out) {
  OpenedAgent& agent = ctx.agent;
  JobRecord& job = ctx.record;
  BackupOptions options;
  options.includes = request.includes;
  options.excludes = request.excludes;
  options.threads = request.threads;
  options.staging_dir = agent.staging_dir;
  options.snapshots = &platform::SnapshotProvider::Default();
  options.snapshot_dir = agent.config.scratch_dir + "/snapshots";
  options.hostname = agent.config.machine_name;
  options.machine_id = agent.config.machine_id;
  options.progress = ctx.progress;
  options.cancel = ctx.cancel;
  Result<BackupReport> report = RunBackup(*agent.repo, options);
  if (!report.ok()) return report.status();
  const auto& s = report->point.stats;
  job.state = report->state;
  job.files = s.files;
  job.bytes_scanned = s.bytes_scanned;
  job.bytes_transferred = s.bytes_uploaded;
  job.recovery_point = report->point_id;
  job.snapshot = report->snapshot;
  job.summary = BackupSummary(*report);
  const BackupFigures& fig = report->figures;
  job.files_new = fig.files_new;
  job.files_changed = fig.files_changed;
  job.files_deleted = fig.files_deleted;
  job.bytes_new = fig.bytes_new;
  job.bytes_new_incompressible = fig.bytes_new_incompressible;
  ctx.failed_files = report->failed_files;
  ctx.vault_report["files"] = s.files;
  ctx.vault_report["bytes_scanned"] = s.bytes_scanned;
  ctx.vault_report["bytes_uploaded"] = s.bytes_uploaded;
  ctx.vault_report["healed_blobs"] = report->healed_blobs;
  // The figures vaultd judges against the machine's baseline (anomaly hold).
  ctx.vault_report["files_new"] = fig.files_new;
  ctx.vault_report["files_changed"] = fig.files_changed;
  ctx.vault_report["files_deleted"] = fig.files_deleted;
  ctx.vault_report["bytes_new"] = fig.bytes_new;
  ctx.vault_report["bytes_new_incompressible"] = fig.bytes_new_incompressible;
  ctx.log_detail = "recovery point " + report->point_id + ", " + std::to_string(s.files) +
                   " files, " + std::to_string(s.bytes_uploaded) + " bytes uploaded, " +
                   std::to_string(report->failed_files.size()) + " skipped; read from " +
                   DescribeSnapshot(*report) + (job.summary.empty() ? "" : "; " + job.summary);
  for (size_t i = 0; i < report->excluded_nodump.size() && i < 20; ++i) {
    ctx.log_detail += (i == 0 ? ": " : ", ") + report->excluded_nodump[i];
  }
  out.report = std::move(report).value();
  return Status::Ok();
}

}  // namespace

std::string DescribeSnapshot(const BackupReport& report) {
  std::string taken, live;
  for (const auto& v : report.snapshot_volumes) {
    std::string& list = v.kind == platform::SnapshotKind::kNone ? live : taken;
    list += (list.empty() ? "" : ", ") + v.detail;
  }
  if (taken.empty() && live.empty()) return "the live file system (no snapshot)";
  std::string out = "snapshot " + report.snapshot;
  if (!taken.empty()) out += " (" + taken + ")";
  if (!live.empty()) out += "; read live: " + live;
  return out;
}

BackupJobOutcome RunBackupJob(platform::Env& env, const std::string& state_dir,
                              const BackupJobRequest& request) {
  BackupJobOutcome out;
  JobSpec spec;
  spec.type = "Backup";
  spec.title = "Backup";
  spec.name = "backup";
  spec.milestones =
      JobMilestones{Milestone::kBackupStarted, Milestone::kBackupCompleted,
                    Milestone::kBackupCompletedWithWarnings, Milestone::kBackupFailed};
  spec.writer_lock = true;
  spec.report_to_vault = true;
  spec.failed_files_log = "LastBackupFailedFiles";
  spec.retention = request.retention;
  spec.progress = request.progress;
  spec.on_start = request.on_start;
  JobOutcome job = JobRunner(env, state_dir)
                       .Run(
                           spec, [&](JobContext& ctx) { return BackupWork(ctx, request, out); },
                           [&](JobContext& ctx, const Status& status) {
                             if (!status.ok() || !out.report) return;
                             out.after_backup_script = RunAfterBackupScript(
                                 env, state_dir, ctx.record, out.report->point_id,
                                 JobStateName(out.report->state));
                           });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  out.retention = std::move(job.retention);
  out.retention_status = std::move(job.retention_status);
  return out;
}

BackupJobOutcome RunPolicyBackupJob(platform::Env& env, const std::string& state_dir,
                                    ProgressFn progress,
                                    std::function<void(const JobRecord&)> on_start) {
  BackupJobOutcome out;
  auto policy = LoadPolicy(env, state_dir);
  if (!policy.ok()) {
    out.status = policy.status().WithContext("no backup policy");
    return out;
  }
  if (policy->paused) return out;
  auto selection = ResolveSelection(env, policy->specs);
  if (!selection.ok()) {
    out.status = selection.status();
    return out;
  }
  BackupJobRequest request;
  request.includes = std::move(selection->includes);
  request.excludes = std::move(selection->excludes);
  request.retention = policy->Retention();
  request.progress = std::move(progress);
  request.on_start = std::move(on_start);
  return RunBackupJob(env, state_dir, request);
}

}  // namespace obagent::engine
