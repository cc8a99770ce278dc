#include "obagent/engine/backup_job.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "obagent/engine/agent.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/vault_connection.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// <state dir>/scripts/AfterBackup runs after every backup that wrote its
// recovery point (as ConfigMgr's AfterBackup.bat), with the job id, state and
// recovery point in its environment. It must belong to the service account
// and be writable by nobody else; its start and exit code are logged.
std::string RunAfterBackupScript(platform::Env& env, const std::string& state_dir,
                                 const JobRecord& job, const std::string& point,
                                 const std::string& state) {
  std::string script = state_dir + "/scripts/AfterBackup";
  auto info = env.Lstat(script);
  if (!info.ok()) return "";
  if (info->kind != platform::FileKind::kRegular || !env.OwnedByCurrentUser(*info) ||
      (info->mode & 022) != 0) {
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

// The job's body: everything after the record exists. Fills `out`.
void RunRecordedBackup(platform::Env& env, const std::string& state_dir,
                       const BackupJobRequest& request, JobHistory& history,
                       BackupJobOutcome& out) {
  JobRecord& job = out.record;
  Result<OpenedAgent> agent = OpenAgent(env, state_dir, std::nullopt);
  if (!agent.ok()) {
    out.status = agent.status();
    return;
  }
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) {
    out.status = st;
    return;
  }
  BackupOptions options;
  options.includes = request.includes;
  options.excludes = request.excludes;
  options.threads = request.threads;
  options.staging_dir = agent->staging_dir;
  options.snapshots = &platform::SnapshotProvider::Default();
  options.snapshot_dir = agent->config.scratch_dir + "/snapshots";
  options.hostname = agent->config.machine_name;
  options.machine_id = agent->config.machine_id;
  options.progress = request.progress;
  // One writer per machine, held (and renewed) while the job runs.
  auto writer = AcquireWriter(*agent, "backup");
  if (!writer.ok()) {
    out.status = writer.status().WithContext("backup failed");
    return;
  }
  LogMilestone(Milestone::kBackupStarted, "Backup started (job " + job.id + ")");
  Result<BackupReport> report = [&] {
    JobStopWatcher watcher(history, job.id);
    options.cancel = &watcher.flag();
    return RunBackup(*agent->repo, options);
  }();
  {
    // The job report is informational: a vault that went away was already
    // reported by the backup itself.
    JobReport sent;
    sent.type = "Backup";
    sent.state = report.ok()                                       ? report->state
                 : report.status().code() == ErrorCode::kCancelled ? JobState::kCancelled
                                                                   : JobState::kFailed;
    sent.recovery_point = report.ok() ? report->point_id : "";
    sent.error = report.ok() ? "" : report.status().ToString();
    if (report.ok()) {
      sent.counts = {{"files", report->point.stats.files},
                     {"bytes_scanned", report->point.stats.bytes_scanned},
                     {"bytes_uploaded", report->point.stats.bytes_uploaded},
                     {"healed_blobs", report->healed_blobs}};
    }
    (void)agent->vault->ReportJob(sent);
  }
  if (!report.ok()) {
    if (report.status().code() == ErrorCode::kCancelled) {
      job.state = JobState::kCancelled;
      out.status = report.status();
      LogMilestone(Milestone::kBackupFailed, "Backup cancelled (job " + job.id + ")");
      return;
    }
    out.status = report.status().WithContext("backup failed");
    LogMilestone(Milestone::kBackupFailed,
                 "Backup failed (job " + job.id + "): " + report.status().ToString());
    return;
  }
  const auto& s = report->point.stats;
  LogMilestone(report->state == JobState::kCompleted ? Milestone::kBackupCompleted
                                                     : Milestone::kBackupCompletedWithWarnings,
               std::string("Backup ") + JobStateName(report->state) + " (job " + job.id +
                   "): recovery point " + report->point_id + ", " + std::to_string(s.files) +
                   " files, " + std::to_string(s.bytes_uploaded) + " bytes uploaded, " +
                   std::to_string(report->failed_files.size()) + " skipped; read from " +
                   DescribeSnapshot(*report) +
                   (report->healed_blobs ? "; " + HealedSummary(*report) : ""));
  job.state = report->state;
  job.files = s.files;
  job.bytes_scanned = s.bytes_scanned;
  job.bytes_transferred = s.bytes_uploaded;
  job.recovery_point = report->point_id;
  job.snapshot = report->snapshot;
  job.summary = HealedSummary(*report);
  job.failed_files_log = WriteFailedFilesLog(
      env, state_dir, "LastBackupFailedFiles",
      job.id.empty() ? report->point_id.substr(0, 12) : job.id, report->failed_files);
  out.after_backup_script =
      RunAfterBackupScript(env, state_dir, job, report->point_id, JobStateName(report->state));
  out.report = std::move(report).value();
  if (request.retention) {
    // Retention runs after a backup that wrote its recovery point, never
    // instead of one. PruneWithPolicy reloads the index itself.
    auto pruned = PruneWithPolicy(*agent->repo, *request.retention, NowNs());
    if (pruned.ok()) {
      out.retention = std::move(pruned).value();
    } else {
      out.retention_status = pruned.status().WithContext("retention after backup failed");
      // Damage in the vault makes prune refuse (deleting nothing): the
      // backup itself is done, so the job completes with the warning.
      job.state = pruned.status().code() == ErrorCode::kCorrupt ? JobState::kCompletedWithWarnings
                                                                : JobState::kFailed;
      job.error = out.retention_status.ToString();
    }
  }
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
  OpenEngineLog(state_dir);
  BackupJobOutcome out;
  RunRecordedJob(
      env, state_dir, "Backup", request.on_start, out.record, out.status,
      [&](JobHistory& history) { RunRecordedBackup(env, state_dir, request, history, out); });
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
