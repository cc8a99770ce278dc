// obctl backup start|now|scheduled: a backup run in this process, or asked
// of the engine and followed until it ends.
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/api/local_api.h"
#include "obagent/engine/backup_job.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {
namespace {

// Prints what a backup job did; returns obctl's exit code for it.
int PresentBackup(Globals& g, const engine::BackupJobOutcome& out) {
  if (!out.status.ok()) return Fail(g, out.status);
  if (!out.report) {  // a paused policy
    g.out->Result({{"ok", true}, {"paused", true}}, [](std::ostream& o, std::ostream&) {
      o << "The backup policy is paused; nothing to do.\n";
    });
    return kExitOk;
  }
  const engine::BackupReport& report = *out.report;
  const auto& s = report.point.stats;
  json j = {{"ok", out.retention_status.ok()},
            {"job", JobJson(out.record)},
            {"state", engine::JobStateName(report.state)},
            {"recovery_point", report.point_id},
            {"files", s.files},
            {"directories", s.directories},
            {"bytes_scanned", s.bytes_scanned},
            {"bytes_read", s.bytes_read},
            {"bytes_new", s.bytes_new},
            {"bytes_uploaded", s.bytes_uploaded},
            {"failed_files", FailedFilesJson(report.failed_files)},
            {"failed_files_log", out.record.failed_files_log},
            {"healed_blobs", report.healed_blobs},
            {"summary", out.record.summary},
            {"snapshot", report.snapshot},
            {"changes",
             {{"files_new", report.figures.files_new},
              {"files_changed", report.figures.files_changed},
              {"files_deleted", report.figures.files_deleted},
              {"bytes_new", report.figures.bytes_new},
              {"bytes_new_incompressible", report.figures.bytes_new_incompressible},
              {"incompressible_share", report.figures.IncompressibleShare()}}}};
  if (out.retention) j["retention_removed_points"] = out.retention->removed_points;
  if (!out.retention_status.ok()) j["message"] = out.retention_status.ToString();
  g.out->Result(j, [&](std::ostream& o, std::ostream& err) {
    o << "Backup " << engine::JobStateName(report.state) << ": recovery point "
      << report.point_id.substr(0, 12) << "\n  " << s.files << " files, "
      << HumanBytes(s.bytes_scanned) << " scanned, " << HumanBytes(s.bytes_read) << " read, "
      << HumanBytes(s.bytes_new) << " new, " << HumanBytes(s.bytes_uploaded) << " uploaded\n  "
      << report.figures.files_new << " new, " << report.figures.files_changed << " changed, "
      << report.figures.files_deleted << " deleted files; "
      << static_cast<int>(report.figures.IncompressibleShare() * 100 + 0.5)
      << " % of the new data did not compress\n  read from " << engine::DescribeSnapshot(report)
      << "\n";
    if (report.healed_blobs > 0) o << "  " << engine::HealedSummary(report) << "\n";
    if (!report.recreated_roots.empty()) o << "  " << engine::RecreatedSummary(report) << "\n";
    for (const auto& f : report.failed_files) {
      o << "  skipped " << f.path << ": "
        << (f.os_error ? "[" + os_error::Format(f.os_error) + "] " : "") << f.error << "\n";
    }
    if (!out.record.failed_files_log.empty()) {
      o << "  failed files listed in " << out.record.failed_files_log << "\n";
    }
    if (!out.after_backup_script.empty() && out.after_backup_script != "exit code 0") {
      err << "obctl: the post-backup script: " << out.after_backup_script << "\n";
    }
    if (out.retention) {
      o << "Retention: " << out.retention->removed_points.size()
        << " expired recovery points removed, " << HumanBytes(out.retention->bytes_freed())
        << " freed\n";
    }
    if (!out.retention_status.ok()) err << "obctl: " << out.retention_status.ToString() << "\n";
  });
  if (!out.retention_status.ok()) {
    // Retention refused because of damage: the backup is done (a warning).
    return out.retention_status.code() == ErrorCode::kCorrupt ? kExitWarnings : kExitFailed;
  }
  return report.state == engine::JobState::kCompleted ? kExitOk : kExitWarnings;
}

// Waits for a job the engine runs, showing its progress; its final record.
Result<engine::JobRecord> WaitForEngineJob(Globals& g, const std::string& id) {
  ProgressLine line(g.out->ShowsProgress(), "Backing up");
  for (;;) {
    auto answer =
        api::CallEngine(*g.env, g.state_dir, {{"op", "wait_job"}, {"id", id}, {"timeout_ms", 500}});
    if (answer.ok()) {
      line.Finish();
      return engine::JobRecordFromJson((*answer)["job"]);
    }
    if (answer.status().code() != ErrorCode::kCancelled) {
      line.Finish();
      return answer.status();
    }
    auto status = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
    if (status.ok() && (*status)["running"].is_object()) {
      auto running = engine::RunningJobFromJson((*status)["running"]);
      if (running.ok()) line.Update(running->progress);
    }
  }
}

// Asks the engine to back up the policy now; waits unless --no-wait.
int StartInEngine(Globals& g, const std::string& trigger, bool wait) {
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "backup_now"}, {"trigger", trigger}});
  if (!answer.ok()) return Fail(g, answer.status());
  auto started = engine::JobRecordFromJson((*answer)["job"]);
  if (!started.ok()) return Fail(g, started.status().WithContext("the engine's answer"));
  const engine::JobRecord& job = *started;
  if (!wait) {
    g.out->Result({{"ok", true}, {"job", JobJson(job)}}, [&](std::ostream& o, std::ostream&) {
      o << "Backup job " << job.id << " started by the engine\n";
    });
    return kExitOk;
  }
  auto final_record = WaitForEngineJob(g, job.id);
  if (!final_record.ok()) return Fail(g, final_record.status());
  return PresentEngineJob(g, *final_record);
}

}  // namespace

int BackupStart(Globals& g, const std::vector<std::string>& args) {
  engine::BackupJobRequest request;
  OptionSet options("backup start");
  options.Add("include", &request.includes, "files or folders to back up").Required();
  options.Add("exclude", &request.excludes, "glob patterns to skip");
  options.Add("threads", &request.threads, "worker threads (0: one per core)");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  ProgressLine line(g.out->ShowsProgress(), "Backing up");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::BackupJobOutcome out = engine::RunBackupJob(*g.env, g.state_dir, request);
  line.Finish();
  return PresentBackup(g, out);
}

// Start-OBBackup -Policy: the engine runs the stored policy's backup.
int BackupNow(Globals& g, const std::vector<std::string>& args) {
  bool no_wait = false;
  OptionSet options("backup now");
  options.Add("no-wait", &no_wait, "return once the job has started");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  return StartInEngine(g, "BackupNow", !no_wait);
}

// What the OS scheduler (Task Scheduler task, systemd timer) runs: the
// engine runs the policy's backup and retention; when the engine is not
// running, this process does. A paused policy does nothing.
int BackupScheduled(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("backup scheduled");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto probe = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
  if (probe.ok()) return StartInEngine(g, "Scheduled", true);
  if (probe.status().code() != ErrorCode::kEngineNotRunning) return Fail(g, probe.status());
  ProgressLine line(g.out->ShowsProgress(), "Backing up");
  engine::BackupJobOutcome out = engine::RunPolicyBackupJob(
      *g.env, g.state_dir, [&](const engine::Progress& p) { line.Update(p); });
  line.Finish();
  return PresentBackup(g, out);
}

}  // namespace obagent::cli
