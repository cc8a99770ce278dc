// The job runner (job_runner.h): the one life of every job, whatever its
// kind and whichever front end starts it.
#include "obagent/engine/job_runner.h"

#include "obagent/engine/critical_ops.h"

#include <chrono>
#include <thread>

#include "obagent/engine/critical_ops.h"
#include "obagent/engine/vault_connection.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool EndedWell(JobState state) {
  return state == JobState::kCompleted || state == JobState::kCompletedWithWarnings;
}

void LogJobLine(const JobSpec& spec, std::optional<Milestone> id, const std::string& text,
                bool error) {
  if (spec.milestones && id) {
    LogMilestone(*id, text);
  } else {
    LogEngineEvent(text, error);
  }
}

void LogStarted(const JobSpec& spec, const JobRecord& record) {
  LogJobLine(spec, spec.milestones ? std::optional(spec.milestones->started) : std::nullopt,
             spec.title + " started (job " + record.id + ")", false);
}

// "<Title> <State> (job …): <detail>"; a work that failed says "failed" or
// "cancelled" and, without a detail of its own, why.
void LogEnded(const JobSpec& spec, const JobRecord& record, const Status& raw,
              const std::string& detail) {
  std::string text = spec.title;
  if (!raw.ok()) {
    text += raw.code() == ErrorCode::kCancelled ? " cancelled" : " failed";
  } else {
    text += std::string(" ") + JobStateName(record.state);
  }
  text += " (job " + record.id + ")";
  std::string said = !detail.empty() ? detail : !raw.ok() ? raw.ToString() : record.error;
  if (!said.empty()) text += ": " + said;
  std::optional<Milestone> id;
  if (spec.milestones) {
    id = record.state == JobState::kCompleted ? spec.milestones->completed
         : record.state == JobState::kCompletedWithWarnings
             ? spec.milestones->completed_with_warnings
             : spec.milestones->failed;
  }
  LogJobLine(spec, id, text, !EndedWell(record.state));
}

}  // namespace

void ReportJobToVault(OpenedAgent& agent, const json& report) {
  JobReport sent;
  for (const auto& [key, value] : report.items()) {
    if (key == "type" && value.is_string()) {
      sent.type = value.get<std::string>();
    } else if (key == "state" && value.is_string()) {
      for (JobState s :
           {JobState::kInProgress, JobState::kCompleted, JobState::kCompletedWithWarnings,
            JobState::kFailed, JobState::kCancelled}) {
        if (value.get<std::string>() == JobStateName(s)) sent.state = s;
      }
    } else if (key == "error" && value.is_string()) {
      sent.error = value.get<std::string>();
    } else if (key == "recovery_point" && value.is_string()) {
      sent.recovery_point = value.get<std::string>();
    } else if (value.is_number_unsigned() || value.is_number_integer()) {
      sent.counts.emplace_back(key, value.get<uint64_t>());
    }
  }
  // The report is informational: a vault that went away was already
  // reported by the job itself (an embedded vault keeps no reports).
  (void)agent.vault->ReportJob(sent);
}

JobRunner::JobRunner(platform::Env& env, std::string state_dir, JobVaultCalls calls)
    : env_(env), state_dir_(std::move(state_dir)), calls_(std::move(calls)) {
  if (!calls_.lock_writer) {
    calls_.lock_writer = [](OpenedAgent& agent, const std::string& name) {
      return AcquireWriter(agent, name);
    };
  }
  if (!calls_.report_job) calls_.report_job = ReportJobToVault;
  if (!calls_.register_retention) {
    calls_.register_retention = [](OpenedAgent& agent, const RetentionPolicy& policy) {
      return agent.vault->RegisterRetention(VaultRetentionOf(policy));
    };
  }
}

JobOutcome JobRunner::Run(const JobSpec& spec, const JobWork& work,
                          const std::function<void(JobContext&, const Status&)>& then) {
  OpenEngineLog(state_dir_);
  JobOutcome out;
  JobRecord& record = out.record;
  JobHistory history(env_, state_dir_);
  Result<JobRecord> started = history.Start(spec.type);
  const bool tracked = started.ok();  // no writable state folder: run it anyway
  if (tracked) {
    record = std::move(started).value();
  } else {
    record.type = spec.type;
  }
  if (spec.on_start) spec.on_start(record);
  LogStarted(spec, record);

  // Ends the job: its state and error from `raw` (the failure as it
  // happened) and `status` (as the caller sees it), and the record saved.
  auto end_record = [&] {
    if (tracked) {
      (void)history.Finish(record);
      history.ClearCancelRequest(record.id);
    }
  };
  auto settle = [&](const Status& raw, const Status& status) {
    out.status = status;
    if (!raw.ok()) {
      if (record.state == JobState::kInProgress || EndedWell(record.state)) {
        record.state =
            raw.code() == ErrorCode::kCancelled ? JobState::kCancelled : JobState::kFailed;
      }
      if (record.error.empty()) record.error = status.ToString();
    } else if (record.state == JobState::kInProgress) {
      record.state = JobState::kCompleted;
    }
  };
  auto failed_before_work = [&](const Status& raw, const Status& status) {
    settle(raw, status);
    LogEnded(spec, record, raw, "");
    end_record();
    return out;
  };
  auto with_context = [&](const Status& raw) {
    return raw.code() == ErrorCode::kCancelled ? raw : raw.WithContext(spec.name + " failed");
  };

  // The machine.
  std::optional<OpenedAgent> opened;
  OpenedAgent* agent = spec.agent;
  if (agent == nullptr) {
    Result<OpenedAgent> o = spec.open ? spec.open() : OpenAgent(env_, state_dir_, std::nullopt);
    if (!o.ok()) return failed_before_work(o.status(), o.status());
    opened = std::move(o).value();
    agent = &*opened;
    if (spec.load_index) {
      Status loaded = agent->repo->LoadIndex();
      if (!loaded.ok()) return failed_before_work(loaded, loaded);
    }
  }
  // One writer per machine, held (and renewed) until the job has ended.
  std::unique_ptr<WriterLock> writer;
  if (spec.writer_lock) {
    auto held = calls_.lock_writer(*agent, spec.name);
    if (!held.ok()) return failed_before_work(held.status(), with_context(held.status()));
    writer = std::move(held).value();
  }

  JobContext ctx{env_, state_dir_, history, record, *agent, nullptr, spec.progress};
  Status raw;
  {
    JobStopWatcher watcher(history, record.id);
    ctx.cancel = &watcher.flag();
    raw = work(ctx);
    ctx.cancel = nullptr;
  }
  settle(raw, with_context(raw));

  if (spec.report_to_vault) {
    json report = {{"type", spec.type},
                   {"state", JobStateName(record.state)},
                   {"error", raw.ok() ? record.error : raw.ToString()}};
    if (!record.recovery_point.empty()) report["recovery_point"] = record.recovery_point;
    for (auto& [key, value] : ctx.vault_report.items()) report[key] = value;
    calls_.report_job(*agent, report);
  }
  if (!spec.failed_files_log.empty() && !ctx.failed_files.empty()) {
    std::string name = !record.id.empty()               ? record.id
                       : !record.recovery_point.empty() ? record.recovery_point.substr(0, 12)
                                                        : "untracked";
    record.failed_files_log =
        WriteFailedFilesLog(env_, state_dir_, spec.failed_files_log, name, ctx.failed_files);
  }
  LogEnded(spec, record, raw, ctx.log_detail);
  if (then) then(ctx, out.status);

  // Retention runs after a backup that wrote its recovery point, never
  // instead of one, under the same writer lock. PruneWithPolicy reloads the
  // index itself.
  if (spec.retention && out.status.ok() && EndedWell(record.state) &&
      !record.recovery_point.empty()) {
    // vaultd learns the retention first (the floor of the machine's points).
    Status registered = calls_.register_retention(*agent, *spec.retention)
                            .WithContext("registering the retention with the vault");
    Result<PruneReport> pruned = registered.ok()
                                     ? PruneWithPolicy(*agent->repo, *spec.retention, NowNs())
                                     : Result<PruneReport>(registered);
    if (pruned.ok()) {
      out.retention = std::move(pruned).value();
    } else {
      out.retention_status =
          pruned.status().WithContext("retention after " + spec.name + " failed");
      // Damage in the vault makes prune refuse (deleting nothing), and so
      // do the vault's anomaly hold and a vault that refuses the retention
      // (a reduction without the Security PIN, an immutable vault): the
      // job's own work is done, so it completes with the warning.
      const ErrorCode code = pruned.status().code();
      record.state = code == ErrorCode::kCorrupt || code == ErrorCode::kVaultHold ||
                             code == ErrorCode::kSecurityPinInvalid ||
                             code == ErrorCode::kRetentionBelowMinimum ||
                             code == ErrorCode::kVaultImmutable
                         ? JobState::kCompletedWithWarnings
                         : JobState::kFailed;
      record.error = out.retention_status.ToString();
    }
  }
  end_record();
  return out;
}

Result<std::vector<JobRecord>> ListJobs(platform::Env& env, const std::string& state_dir) {
  return JobHistory(env, state_dir).List();
}

Result<JobRecord> FindJob(platform::Env& env, const std::string& state_dir,
                          const std::string& id_or_prefix) {
  return JobHistory(env, state_dir).Find(id_or_prefix);
}

Status RequestJobStop(platform::Env& env, const std::string& state_dir,
                      const std::string& id_or_prefix) {
  return JobHistory(env, state_dir).RequestCancel(id_or_prefix);
}

Result<JobRecord> WaitForStoppedJob(platform::Env& env, const std::string& state_dir,
                                    const std::string& id_or_prefix, int64_t timeout_ms) {
  JobHistory history(env, state_dir);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    OB_ASSIGN_OR_RETURN(JobRecord job, history.Find(id_or_prefix));
    if (job.state != JobState::kInProgress) return job;
    if (std::chrono::steady_clock::now() > deadline) {
      return Status(ErrorCode::kCancelled,
                    "job " + job.id + " was asked to stop but is still running");
    }
    // Another process runs it: its record is all there is to watch.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace obagent::engine
