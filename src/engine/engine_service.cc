#include "obagent/engine/engine_service.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "obagent/core/text.h"
#include "obagent/engine/backup_job.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/os_schedule.h"
#include "obagent/engine/recovery_job.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string SchedulerStatePath(const std::string& state_dir) {
  return state_dir + "/scheduler.json";
}

}  // namespace

ScheduleAction DecideScheduledRun(const std::optional<Policy>& policy, bool os_scheduler,
                                  int64_t last_checked_unix, int64_t now_unix,
                                  int utc_offset_minutes) {
  // With an OS scheduler the OS fires (and catches up: StartWhenAvailable,
  // Persistent=true); firing here too would run every backup twice.
  if (!policy || policy->paused || os_scheduler) return ScheduleAction::kNothing;
  return MissedRun(policy->schedule, last_checked_unix, now_unix, utc_offset_minutes)
             ? ScheduleAction::kRun
             : ScheduleAction::kNothing;
}

EngineService::EngineService(platform::Env& env, EngineOptions options)
    : env_(env), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemNow;
}

EngineService::~EngineService() {
  std::optional<std::string> id;
  {
    std::lock_guard lock(mu_);
    if (running_) id = running_->record.id;
  }
  if (id && !id->empty()) (void)StopJob(*id);
  if (worker_.joinable()) worker_.join();
}

int64_t EngineService::Now() const { return options_.clock(); }

Result<JobRecord> EngineService::StartJob(const std::string& type, const std::string& trigger,
                                          JobBody body) {
  std::unique_lock lock(mu_);
  if (running_) {
    return Status(ErrorCode::kAlreadyExists, "a " + running_->record.type + " job (" +
                                                 running_->record.id +
                                                 ") is already running; try again when it ends");
  }
  if (worker_.joinable()) worker_.join();  // the previous job's thread has ended
  running_ = RunningJob{};
  running_->record.type = type;
  running_->trigger = trigger;
  // Set by the worker: the recorded job, or why none started.
  auto started = std::make_shared<std::optional<Result<JobRecord>>>();
  worker_ = std::thread([this, started, body = std::move(body)] {
    auto on_start = [&](const JobRecord& record) {
      std::lock_guard l(mu_);
      running_->record = record;
      *started = Result<JobRecord>(record);
      job_done_.notify_all();
    };
    auto progress = [&](const Progress& p) {
      std::lock_guard l(mu_);
      running_->progress = p;
    };
    Status status = body(on_start, progress);
    std::lock_guard l(mu_);
    if (!started->has_value()) {
      *started = status.ok() ? Result<JobRecord>(InternalError("the job did not start"))
                             : Result<JobRecord>(status);
    }
    running_.reset();
    job_done_.notify_all();
  });
  job_done_.wait(lock, [&] { return started->has_value(); });
  return **started;
}

Result<JobRecord> EngineService::StartPolicyBackup(const std::string& trigger) {
  return StartJob("Backup", trigger, [this, trigger](const auto& on_start, const auto& progress) {
    LogMilestone(Milestone::kBackupStarted, "Backup triggered (" + trigger + ")");
    bool recorded = false;
    BackupJobOutcome out =
        RunPolicyBackupJob(env_, options_.state_dir, progress, [&](const JobRecord& record) {
          recorded = true;
          on_start(record);
        });
    if (!recorded && out.status.ok()) {
      return Status(ErrorCode::kInvalidArgument, "the backup policy is paused");
    }
    return out.status;
  });
}

Result<JobRecord> EngineService::StartRestore(RestoreOptions options,
                                              std::optional<RecoverySource> source,
                                              const std::string& trigger) {
  if (source && (!source->agent || !source->agent->repo)) {
    return InvalidArgument("the recovery source is not open");
  }
  RecoveryJobRequest request;
  request.restore = std::move(options);
  if (source) request.source = std::move(source->agent);
  return StartJob(
      "Recovery", trigger,
      [this, request = std::move(request)](const auto& on_start, const auto& progress) mutable {
        request.on_start = on_start;
        request.progress = progress;
        return RunRecoveryJob(env_, options_.state_dir, request).status;
      });
}

Result<JobRecord> EngineService::StartRecoveryTest(const std::string& trigger,
                                                   std::optional<RecoveryTestSample> sample) {
  RecoveryTestJobRequest request;
  request.sample = sample ? *sample : PolicySampleOrDefault(env_, options_.state_dir);
  OB_RETURN_IF_ERROR(request.sample.Validate());
  return StartJob("RecoveryTest", trigger,
                  [this, trigger, request](const auto& on_start, const auto& progress) mutable {
                    LogEngineEvent("Recovery test triggered (" + trigger + ")");
                    request.progress = progress;
                    request.on_start = on_start;
                    return RunRecoveryTestJob(env_, options_.state_dir, request).status;
                  });
}

Status EngineService::StopJob(const std::string& id_or_prefix) {
  JobHistory history(env_, options_.state_dir);
  return history.RequestCancel(id_or_prefix);
}

std::optional<RunningJob> EngineService::Running() {
  std::lock_guard lock(mu_);
  return running_;
}

Result<JobRecord> EngineService::WaitForJob(const std::string& id, int64_t timeout_ms) {
  {
    std::unique_lock lock(mu_);
    bool done = job_done_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                                   [&] { return !running_ || running_->record.id != id; });
    if (!done) return Status(ErrorCode::kCancelled, "job " + id + " is still running");
  }
  JobHistory history(env_, options_.state_dir);
  return history.Find(id);
}

Result<std::vector<JobRecord>> EngineService::ListJobs() {
  std::optional<RunningJob> running = Running();
  OB_ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, JobHistory(env_, options_.state_dir).List());
  if (running) {
    for (JobRecord& job : jobs) {
      if (job.id == running->record.id) job = running->record;
    }
  }
  return jobs;
}

Result<JobRecord> EngineService::FindJob(const std::string& id_or_prefix) {
  std::optional<RunningJob> running = Running();
  OB_ASSIGN_OR_RETURN(JobRecord job, JobHistory(env_, options_.state_dir).Find(id_or_prefix));
  if (running && job.id == running->record.id) return running->record;
  return job;
}

int64_t EngineService::LastSchedulerTime(const std::string& key) {
  auto data = env_.ReadFile(SchedulerStatePath(options_.state_dir));
  if (!data.ok()) return 0;
  json j = json::parse(AsString(*data), nullptr, false);
  return j.is_object() ? j.value(key, int64_t{0}) : 0;
}

void EngineService::RecordSchedulerTime(const std::string& key, int64_t when) {
  json j = json::object();
  if (auto data = env_.ReadFile(SchedulerStatePath(options_.state_dir)); data.ok()) {
    json old = json::parse(AsString(*data), nullptr, false);
    if (old.is_object()) j = old;
  }
  j[key] = when;
  (void)env_.WriteFileAtomic(SchedulerStatePath(options_.state_dir), AsBytes(j.dump()), true);
}

std::string EngineService::SchedulerKind() {
  std::lock_guard lock(mu_);
  return os_scheduler_.empty() ? "engine" : os_scheduler_;
}

void EngineService::SchedulerTick() {
  int64_t now = Now();
  std::optional<Policy> policy;
  if (auto p = LoadPolicy(env_, options_.state_dir); p.ok()) policy = std::move(p).value();

  // Keep the OS scheduler's registration in step with the policy.
  std::optional<std::string> wanted;
  if (policy) {
    json key = {{"days", policy->schedule.days},
                {"times", policy->schedule.minutes_of_day},
                {"obctl", options_.obctl_path}};
    wanted = key.dump();
  }
  if (wanted != registered_schedule_) {
    std::string os;
    if (policy) {
      platform::OsScheduleDefinition d = ScheduleDefinition(
          policy->schedule, options_.obctl_path, options_.state_dir,
          ScheduledRunWritablePaths(env_, options_.state_dir),
          TaskStartDate(policy->modified, LocalUtcOffsetMinutes(policy->modified)));
      auto registered = env_.RegisterBackupSchedule(d);
      if (registered.ok()) os = *registered;
      LogEngineEvent(registered.ok()
                         ? "Backup schedule registered with " + os
                         : "OS scheduler not available (" + registered.status().ToString() +
                               "): the engine runs the schedule itself");
    } else if (registered_schedule_) {
      platform::OsScheduleDefinition d;
      d.task_name = kTaskName;
      d.systemd_timer_name = kSystemdTimerName;
      d.systemd_service_name = kSystemdServiceName;
      (void)env_.UnregisterBackupSchedule(d);
      LogEngineEvent("Backup policy removed: schedule unregistered");
    }
    std::lock_guard lock(mu_);
    os_scheduler_ = os;
    registered_schedule_ = wanted;
  }

  // The first look after start covers the time the engine was not running:
  // a run scheduled then is a missed run.
  bool first = last_checked_ == 0;
  if (first) {
    last_checked_ =
        std::max(LastSchedulerTime("last_scheduled_run"), policy ? policy->modified : int64_t{0});
    if (last_checked_ == 0 || last_checked_ > now) last_checked_ = now;
  }
  ScheduleAction action = DecideScheduledRun(policy, !os_scheduler_.empty(), last_checked_, now,
                                             LocalUtcOffsetMinutes(now));
  last_checked_ = now;
  if (action == ScheduleAction::kRun) {
    RecordSchedulerTime("last_scheduled_run", now);
    auto job = StartPolicyBackup(first ? "MissedRun" : "Scheduled");
    if (!job.ok()) {
      LogEngineEvent("Scheduled backup not started: " + job.status().ToString());
    }
  }

  // The restore drill. A missed one (engine stopped) runs once at start.
  std::optional<RecoveryTestPolicy> drill;
  if (policy && !policy->paused) drill = policy->recovery_test;
  bool first_drill = drill_checked_ == 0;
  if (first_drill) {
    drill_checked_ =
        std::max(LastSchedulerTime("last_recovery_test"), policy ? policy->modified : int64_t{0});
    if (drill_checked_ == 0 || drill_checked_ > now) drill_checked_ = now;
  }
  if (drill && MissedRun(drill->schedule, drill_checked_, now, LocalUtcOffsetMinutes(now))) {
    drill_due_ = true;
  }
  drill_checked_ = now;
  if (!drill) drill_due_ = false;
  if (!drill_due_) return;
  auto job = StartRecoveryTest(first_drill ? "MissedRun" : "Scheduled", SampleOf(*drill));
  if (!job.ok() && job.status().code() == ErrorCode::kAlreadyExists) return;  // next step
  drill_due_ = false;
  RecordSchedulerTime("last_recovery_test", now);
  if (!job.ok()) LogEngineEvent("Scheduled recovery test not started: " + job.status().ToString());
}

}  // namespace obagent::engine
