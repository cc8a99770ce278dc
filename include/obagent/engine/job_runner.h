// The one life of every job (backup, recovery, prune, verify, repair, the
// restore drill), whichever front end starts it (obctl, the engine's
// scheduler, the local API, the console). The runner owns what every job
// shares:
//   - the record in the job history (JobHistory): InProgress when it starts,
//     then its final state, counts and error; a stop request is cleared at
//     the end;
//   - the machine it works on: opened (and its index loaded) here, or given;
//   - the machine's writer lock, for the kinds that write to the vault;
//   - the stop watcher (obctl job stop, the local API) around the work;
//   - the engine-log milestones: "<Title> started (job …)" and
//     "<Title> <State> (job …): …";
//   - the failed-files log (<state dir>/temp/<log>-<job>.txt), the same for
//     every front end;
//   - retention after a backup that wrote its recovery point, under the same
//     writer lock;
//   - the job report to vaultd (POST /v1/jobs).
// A job kind supplies only its work function (JobWork) and its JobSpec, as
// Kopia's uitask.Manager runs each task's function; the kinds are
// backup_job.h, recovery_job.h, prune_job.h, repair_job.h, verify_job.h and
// recovery_test.h. Front ends only parse, call and present.
//
// Thread safety: a JobRunner keeps no state between jobs; Run may be called
// from several threads at once, each call being one job with its own record
// and watcher (whether two jobs may write to the vault at once is the writer
// lock's business). Run calls on_start and the work on the calling thread;
// the stop watcher polls on a thread of its own; progress comes from the
// work's threads as ProgressFn says. A JobContext belongs to its one job and
// must not be kept after the work returns.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "obagent/engine/agent.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/job.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/retention.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

// The engine-log message IDs of a kind that has them (backup, recovery, the
// restore drill). Kinds without them log the same lines without an ID.
struct JobMilestones {
  Milestone started;
  Milestone completed;
  Milestone completed_with_warnings;  // recovery: its completed ID
  Milestone failed;                   // Failed and Cancelled
};

// What a job is, apart from its work.
struct JobSpec {
  std::string type;   // the record's type: "Backup", "Recovery", "Prune", …
  std::string title;  // in the engine log: "Backup", "Recovery test"
  // In the writer lock's holder and before errors: "backup" → "backup failed: …".
  std::string name;
  std::optional<JobMilestones> milestones;

  // The machine the job works on: `agent` when given (another machine's
  // points, opened and its index loaded by whoever chose them); else what
  // `open` returns (default: this machine with its stored key), its index
  // loaded when load_index.
  OpenedAgent* agent = nullptr;
  std::function<Result<OpenedAgent>()> open;
  bool load_index = true;

  bool writer_lock = false;      // held from before the work to after retention
  bool report_to_vault = false;  // a vaultd machine reports the outcome
  // "LastBackupFailedFiles": the work's failed_files go to
  // <state dir>/temp/<failed_files_log>-<job>.txt. Empty: no log.
  std::string failed_files_log;
  // Applied after a work that ended well and wrote a recovery point.
  std::optional<RetentionPolicy> retention;

  ProgressFn progress;
  // Called once the job is in the history (InProgress), before anything else.
  std::function<void(const JobRecord&)> on_start;
};

// What the work gets and fills in.
struct JobContext {
  platform::Env& env;
  const std::string& state_dir;
  JobHistory& history;
  // The work sets the counts, recovery point, summary and, when it knows
  // better than Completed, the state (CompletedWithWarnings, Failed) and the
  // error. Its id is empty when the history could not be written.
  JobRecord& record;
  OpenedAgent& agent;
  // Set when a stop was requested; the work passes it on
  // (BackupOptions::cancel, RestoreOptions::cancel …).
  const std::atomic<bool>* cancel = nullptr;
  const ProgressFn& progress;
  // Listed in the failed-files log (JobSpec::failed_files_log).
  std::vector<FailedFile> failed_files;
  // What the end milestone says after "(job …): "; empty: the error.
  std::string log_detail;
  // Fields of the report to vaultd beyond type, state, error and recovery
  // point (and replacing them when named the same).
  nlohmann::json vault_report = nlohmann::json::object();
};

// The work of one job. An error ends the job Failed (Cancelled for
// kCancelled) with the error's text unless the work set one; ok ends it in
// the state the work set, Completed if it left it InProgress.
using JobWork = std::function<Status(JobContext&)>;

struct JobOutcome {
  JobRecord record;  // as it was saved last
  Status status;     // why the job failed or was cancelled; ok otherwise
  std::optional<PruneReport> retention;
  Status retention_status;  // retention after backup failed: the job's state says how badly
};

// The calls the runner makes to the machine's vault, one function each
// (VaultConnection takes them over); replaced in tests.
struct JobVaultCalls {
  // Default: AcquireWriter(agent, name).
  std::function<Result<std::unique_ptr<WriterLock>>(OpenedAgent&, const std::string& name)>
      lock_writer;
  // Default: ReportJobToVault (VaultConnection::ReportJob: POST /v1/jobs
  // with vaultd, nothing for a local vault); a failed report is not the
  // job's failure.
  std::function<void(OpenedAgent&, const nlohmann::json& report)> report_job;
  // Default: VaultConnection::RegisterRetention (vaultd learns the
  // retention, and so the floor of the machine's points, before retention
  // after a backup deletes anything; nothing for a local vault).
  std::function<Status(OpenedAgent&, const RetentionPolicy&)> register_retention;
};

class JobRunner {
 public:
  JobRunner(platform::Env& env, std::string state_dir, JobVaultCalls calls = {});

  // Runs one job, in this order: the record (InProgress), the started
  // milestone, the machine, the writer lock, the work under the stop
  // watcher, the report to vaultd (of the work's outcome), the failed-files
  // log, the end milestone, `then` (the record final but for retention:
  // backup runs its AfterBackup script there), retention, the record's end.
  // A failure before the work ends the job Failed without running it or
  // reporting it. A job whose record cannot be written still runs.
  JobOutcome Run(const JobSpec& spec, const JobWork& work,
                 const std::function<void(JobContext&, const Status&)>& then = {});

 private:
  platform::Env& env_;
  std::string state_dir_;
  JobVaultCalls calls_;
};

// The report to vaultd: the runner's one way to send it (JobVaultCalls's
// default).
void ReportJobToVault(OpenedAgent& agent, const nlohmann::json& report);

// What front ends do with jobs besides running them (obctl job
// list|show|stop; the engine has its own view, EngineService::ListJobs).
// The job history, newest first; a job whose process died reads Failed.
Result<std::vector<JobRecord>> ListJobs(platform::Env& env, const std::string& state_dir);
// A full id or a prefix of at least 4 characters.
Result<JobRecord> FindJob(platform::Env& env, const std::string& state_dir,
                          const std::string& id_or_prefix);
// Stop-OBJob for a job whichever process runs it: its runner's stop watcher
// sees the request. kNotFound for an unknown job, kInvalidArgument for one
// that has ended.
Status RequestJobStop(platform::Env& env, const std::string& state_dir,
                      const std::string& id_or_prefix);
// After a stop request: waits until the job's record is no longer InProgress, for at most
// timeout_ms; its final record, or kCancelled "… is still running".
Result<JobRecord> WaitForStoppedJob(platform::Env& env, const std::string& state_dir,
                                    const std::string& id_or_prefix, int64_t timeout_ms);

}  // namespace obagent::engine
