// The engine as a long-running service (cbengine): runs one backup job at a
// time for the local API (Back Up Now, the OS-triggered scheduled run), keeps
// the policy's schedule registered with the OS scheduler and, where there is
// none, fires the schedule itself; a run missed while the engine was not
// running (machine off) is started when it starts.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "obagent/engine/agent.h"
#include "obagent/engine/job.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/recovery_test.h"
#include "obagent/engine/restore.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct EngineOptions {
  std::string state_dir;
  std::string obctl_path;  // what the OS scheduler starts
  // Unix seconds now; replaced in tests.
  std::function<int64_t()> clock;
};

// What the engine's own scheduler should do at `now` given the policy and
// the last time it looked (or the last scheduled run). Pure: unit-tested.
enum class ScheduleAction { kNothing, kRun };
ScheduleAction DecideScheduledRun(const std::optional<Policy>& policy, bool os_scheduler,
                                  int64_t last_checked_unix, int64_t now_unix,
                                  int utc_offset_minutes);

struct RunningJob {
  JobRecord record;
  Progress progress;
  std::string trigger;  // "BackupNow", "Scheduled", "MissedRun", "Console"
};

// Another machine's recovery points (alternate-machine recovery), opened by
// OpenSourceMachine with its index loaded; shared by the front end that
// browses it and the recovery job reading from it.
struct RecoverySource {
  std::shared_ptr<OpenedAgent> agent;
};

class EngineService {
 public:
  EngineService(platform::Env& env, EngineOptions options);
  ~EngineService();  // stops a running job and waits for it

  // Starts a backup of the stored policy unless a job is running
  // (kAlreadyExists, naming it). Returns once the job is recorded.
  Result<JobRecord> StartPolicyBackup(const std::string& trigger);
  // Starts a Recovery job (the restore of `options`, from this machine's
  // recovery points or `source`'s) unless a job is running (kAlreadyExists).
  // Its progress shows in Running(), StopJob stops it, and it ends in the
  // job history like a backup (failed files in
  // LastRecoveryFailedFiles-<job>.txt). Returns once the job is recorded;
  // options.progress and options.cancel are the engine's.
  Result<JobRecord> StartRestore(RestoreOptions options, std::optional<RecoverySource> source,
                                 const std::string& trigger);
  // Starts a restore drill (RecoveryTest job, RunRecoveryTestJob) of the
  // latest recovery point unless a job is running (kAlreadyExists); without
  // a sample, the policy's (PolicySampleOrDefault). Returns once recorded.
  Result<JobRecord> StartRecoveryTest(const std::string& trigger,
                                      std::optional<RecoveryTestSample> sample = std::nullopt);
  // Stop-OBJob for any running job of this machine (ours or obctl's).
  Status StopJob(const std::string& id_or_prefix);
  std::optional<RunningJob> Running();
  // Waits until the job is no longer running here; its final record.
  Result<JobRecord> WaitForJob(const std::string& id, int64_t timeout_ms);
  // The job history as clients must see it: a job this engine still runs
  // reads InProgress (its record as it started) until its slot is free,
  // although its final record may already be written; so a client that
  // sees a final state can start the next job at once. Newest first.
  Result<std::vector<JobRecord>> ListJobs();
  Result<JobRecord> FindJob(const std::string& id_or_prefix);

  // One scheduler step: registers a changed schedule with the OS, fires a
  // due (or missed) run when the OS scheduler is not available, and fires
  // the policy's restore drill when due (always here: the OS scheduler runs
  // backups only). A drill due while another job runs starts on a later
  // step, once that job has ended.
  void SchedulerTick();
  // "systemd", "Task Scheduler" or "engine" (the OS scheduler is unavailable).
  std::string SchedulerKind();

 private:
  // Runs `body` as the one job of the engine on the worker thread; `body`
  // calls on_start once the job is recorded (else the job did not start and
  // its Status says why).
  using JobBody = std::function<Status(const std::function<void(const JobRecord&)>& on_start,
                                       const ProgressFn& progress)>;
  Result<JobRecord> StartJob(const std::string& type, const std::string& trigger, JobBody body);
  // <state dir>/scheduler.json: "last_scheduled_run" (backups) and
  // "last_recovery_test" (drills), Unix seconds.
  void RecordSchedulerTime(const std::string& key, int64_t when);
  int64_t LastSchedulerTime(const std::string& key);
  int64_t Now() const;

  platform::Env& env_;
  EngineOptions options_;
  std::mutex mu_;
  std::condition_variable job_done_;
  std::optional<RunningJob> running_;
  std::thread worker_;
  // Scheduler state (scheduler thread only, guarded by mu_ for SchedulerKind).
  std::optional<std::string> registered_schedule_;  // serialized policy schedule
  // The OS scheduler the schedule is registered with ("systemd"), or empty:
  // the engine fires it itself.
  std::string os_scheduler_;
  int64_t last_checked_ = 0;
  int64_t drill_checked_ = 0;
  bool drill_due_ = false;
};

}  // namespace obagent::engine
