// The job runner (engine/job_runner.h): the record and its states, stop
// requests, the writer lock around the work, the report to vaultd, the
// failed-files log and retention after a backup, against a local folder
// vault (TestVault) and with the vault calls replaced by recording fakes.
#include "obagent/engine/job_runner.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/forwarding_store.h"
#include "engine/test_vault.h"
#include "obagent/engine/job_history.h"

namespace obagent::engine {
namespace {

using testing::TestVault;
using testing::WriteFile;
namespace fs = std::filesystem;

// What the fake vault calls saw.
struct FakeVault {
  int locks_taken = 0;
  bool lock_held = false;
  Status refuse_lock;  // not ok: the lock is refused with it
  std::vector<nlohmann::json> reports;
  std::vector<RetentionPolicy> registered;  // retention registered with the vault, in order
  Status refuse_retention;                  // not ok: the vault refuses the retention with it

  JobVaultCalls Calls() {
    class Lock final : public WriterLock {
     public:
      explicit Lock(bool& held) : held_(held) { held_ = true; }
      ~Lock() override { held_ = false; }

     private:
      bool& held_;
    };
    JobVaultCalls calls;
    calls.lock_writer = [this](OpenedAgent&,
                               const std::string&) -> Result<std::unique_ptr<WriterLock>> {
      ++locks_taken;
      if (!refuse_lock.ok()) return refuse_lock;
      return std::unique_ptr<WriterLock>(std::make_unique<Lock>(lock_held));
    };
    calls.report_job = [this](OpenedAgent&, const nlohmann::json& r) { reports.push_back(r); };
    calls.register_retention = [this](OpenedAgent&, const RetentionPolicy& policy) {
      registered.push_back(policy);
      return refuse_retention;
    };
    return calls;
  }
};

class JobRunnerTest : public ::testing::Test {
 protected:
  JobRunnerTest() : vault_("obagent-jobrunner") {
    state_ = (vault_.dir() / "state").string();
    agent_.repo = vault_.NewRepository(vault_.store());
    agent_.config.machine_name = "test";
  }

  // A job of `type` on the test vault's repository, its vault calls faked.
  JobSpec Spec(const std::string& type) {
    JobSpec spec;
    spec.type = type;
    spec.title = type;
    spec.name = "backup";
    spec.agent = &agent_;
    return spec;
  }
  JobRunner Runner() { return JobRunner(env_, state_, fake_.Calls()); }
  JobRecord Saved(const std::string& id) {
    auto found = JobHistory(env_, state_).Find(id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : JobRecord{};
  }

  platform::Env& env_ = platform::Env::Default();
  TestVault vault_;
  std::string state_;
  OpenedAgent agent_;
  FakeVault fake_;
};

TEST_F(JobRunnerTest, RecordsTheJobInProgressThenItsOutcome) {
  JobSpec spec = Spec("Prune");
  JobRecord at_start;
  spec.on_start = [&](const JobRecord& r) { at_start = r; };
  bool ran = false;
  JobOutcome out = Runner().Run(spec, [&](JobContext& ctx) {
    ran = true;
    // The record is in the history, InProgress, while the work runs.
    EXPECT_EQ(Saved(ctx.record.id).state, JobState::kInProgress);
    EXPECT_EQ(Saved(ctx.record.id).pid, env_.ProcessId());
    ctx.record.files = 7;
    return Status::Ok();
  });
  EXPECT_TRUE(ran);
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(at_start.type, "Prune");
  EXPECT_EQ(at_start.state, JobState::kInProgress);
  ASSERT_EQ(out.record.id, at_start.id);
  JobRecord saved = Saved(out.record.id);
  EXPECT_EQ(saved.state, JobState::kCompleted);
  EXPECT_EQ(saved.files, 7u);
  EXPECT_EQ(saved.pid, 0);
  EXPECT_GT(saved.end_ns, 0);
}

TEST_F(JobRunnerTest, AWorkErrorFailsTheJobWithItsText) {
  JobOutcome out = Runner().Run(Spec("Backup"), [](JobContext&) { return IoError("disk gone"); });
  EXPECT_EQ(out.status.code(), ErrorCode::kIo);
  EXPECT_EQ(out.status.detail(), "backup failed: disk gone");
  JobRecord saved = Saved(out.record.id);
  EXPECT_EQ(saved.state, JobState::kFailed);
  EXPECT_EQ(saved.error, "backup failed: disk gone");

  // A state and error the work sets itself stay.
  out = Runner().Run(Spec("Verify"), [](JobContext& ctx) {
    ctx.record.state = JobState::kFailed;
    ctx.record.error = "2 problems found";
    return Status::Ok();
  });
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(Saved(out.record.id).state, JobState::kFailed);
  EXPECT_EQ(Saved(out.record.id).error, "2 problems found");
}

// obctl job stop and the local API ask through the history; the runner's
// watcher sets the work's cancel flag, the job ends Cancelled and the
// request is cleared.
TEST_F(JobRunnerTest, AStopRequestReachesTheWorkAndEndsItCancelled) {
  JobOutcome out = Runner().Run(Spec("Recovery"), [&](JobContext& ctx) {
    EXPECT_TRUE(JobHistory(env_, state_).RequestCancel(ctx.record.id).ok());
    while (!ctx.cancel->load()) std::this_thread::yield();  // the watcher polls the history
    return Status(ErrorCode::kCancelled, "stopped");
  });
  EXPECT_EQ(out.status.code(), ErrorCode::kCancelled);
  EXPECT_EQ(out.status.detail(), "stopped");  // no "… failed" for a stop
  EXPECT_EQ(Saved(out.record.id).state, JobState::kCancelled);
  EXPECT_FALSE(JobHistory(env_, state_).CancelRequested(out.record.id));
}

TEST_F(JobRunnerTest, TheWriterLockIsHeldAroundTheWorkOnlyWhenTheKindNeedsIt) {
  JobSpec spec = Spec("Backup");
  spec.writer_lock = true;
  bool held_in_work = false;
  JobOutcome out = Runner().Run(spec, [&](JobContext&) {
    held_in_work = fake_.lock_held;
    return Status::Ok();
  });
  EXPECT_TRUE(out.status.ok());
  EXPECT_EQ(fake_.locks_taken, 1);
  EXPECT_TRUE(held_in_work);
  EXPECT_FALSE(fake_.lock_held);  // released when the job ended

  spec.writer_lock = false;
  out = Runner().Run(spec, [&](JobContext&) { return Status::Ok(); });
  EXPECT_EQ(fake_.locks_taken, 1);

  // Another writer holds it: the job fails without running or reporting.
  spec.writer_lock = true;
  spec.report_to_vault = true;
  fake_.refuse_lock = Status(ErrorCode::kAlreadyExists, "another job is writing");
  bool ran = false;
  out = Runner().Run(spec, [&](JobContext&) {
    ran = true;
    return Status::Ok();
  });
  EXPECT_FALSE(ran);
  EXPECT_EQ(out.status.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(out.status.detail(), "backup failed: another job is writing");
  EXPECT_EQ(Saved(out.record.id).state, JobState::kFailed);
  EXPECT_TRUE(fake_.reports.empty());
}

TEST_F(JobRunnerTest, ReportsTheWorksOutcomeToTheVaultWhenTheKindDoes) {
  JobSpec spec = Spec("Backup");
  spec.report_to_vault = true;
  JobOutcome out = Runner().Run(spec, [](JobContext& ctx) {
    ctx.record.state = JobState::kCompletedWithWarnings;
    ctx.record.recovery_point = "ab12";
    ctx.vault_report["files"] = 3;
    return Status::Ok();
  });
  ASSERT_EQ(fake_.reports.size(), 1u);
  const nlohmann::json& r = fake_.reports[0];
  EXPECT_EQ(r["type"], "Backup");
  EXPECT_EQ(r["state"], "CompletedWithWarnings");
  EXPECT_EQ(r["recovery_point"], "ab12");
  EXPECT_EQ(r["error"], "");
  EXPECT_EQ(r["files"], 3);

  // A failed work is reported with the error as it happened; the work may
  // name its own state for the vault.
  Runner().Run(spec, [](JobContext&) { return IoError("disk gone"); });
  ASSERT_EQ(fake_.reports.size(), 2u);
  EXPECT_EQ(fake_.reports[1]["state"], "Failed");
  EXPECT_EQ(fake_.reports[1]["error"], "disk gone");
  Runner().Run(spec, [](JobContext& ctx) {
    ctx.vault_report["state"] = "Completed";
    ctx.record.state = JobState::kCompletedWithWarnings;
    return Status::Ok();
  });
  EXPECT_EQ(fake_.reports[2]["state"], "Completed");

  spec.report_to_vault = false;
  Runner().Run(spec, [](JobContext&) { return Status::Ok(); });
  EXPECT_EQ(fake_.reports.size(), 3u);
}

// One log for every front end: <state>/temp/<log>-<job>.txt.
TEST_F(JobRunnerTest, WritesTheFailedFilesLogOfTheKind) {
  JobSpec spec = Spec("Recovery");
  spec.failed_files_log = "LastRecoveryFailedFiles";
  JobOutcome out = Runner().Run(spec, [](JobContext& ctx) {
    ctx.failed_files.push_back({"/data/a", "access denied", os_error::kAccessDenied});
    ctx.failed_files.push_back({"/data/b", "restored as 'b_'", os_error::kNone});
    ctx.record.state = JobState::kCompletedWithWarnings;
    return Status::Ok();
  });
  EXPECT_EQ(out.record.failed_files_log,
            state_ + "/temp/LastRecoveryFailedFiles-" + out.record.id + ".txt");
  EXPECT_EQ(Saved(out.record.id).failed_files_log, out.record.failed_files_log);
  auto lines = ReadFailedFilesLog(env_, out.record.failed_files_log);
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].os_error, "0x80070005");
  EXPECT_EQ((*lines)[0].path, "/data/a");
  EXPECT_EQ((*lines)[1].os_error, "-");

  // Nothing failed: no log.
  out = Runner().Run(spec, [](JobContext&) { return Status::Ok(); });
  EXPECT_EQ(out.record.failed_files_log, "");
}

TEST_F(JobRunnerTest, AMachineThatDoesNotOpenFailsTheJobBeforeTheWork) {
  JobSpec spec = Spec("Recovery");
  spec.agent = nullptr;
  spec.report_to_vault = true;
  spec.writer_lock = true;
  spec.open = []() -> Result<OpenedAgent> {
    return Status(ErrorCode::kPassphraseNotConfigured, "no");
  };
  bool ran = false;
  JobOutcome out = Runner().Run(spec, [&](JobContext&) {
    ran = true;
    return Status::Ok();
  });
  EXPECT_FALSE(ran);
  EXPECT_EQ(out.status.code(), ErrorCode::kPassphraseNotConfigured);
  EXPECT_EQ(Saved(out.record.id).state, JobState::kFailed);
  EXPECT_EQ(fake_.locks_taken, 0);
  EXPECT_TRUE(fake_.reports.empty());
}

// No writable state folder: the job runs anyway, unrecorded.
TEST_F(JobRunnerTest, AJobWhoseRecordCannotBeWrittenStillRuns) {
  WriteFile(vault_.dir() / "not-a-folder", "x");
  JobRunner runner(env_, (vault_.dir() / "not-a-folder").string(), fake_.Calls());
  bool ran = false;
  JobOutcome out = runner.Run(Spec("Backup"), [&](JobContext& ctx) {
    ran = true;
    ctx.record.recovery_point = "ab12";
    return Status::Ok();
  });
  EXPECT_TRUE(ran);
  EXPECT_TRUE(out.record.id.empty());
  EXPECT_EQ(out.record.type, "Backup");
  EXPECT_EQ(out.record.state, JobState::kCompleted);
}

// Retention runs after a work that wrote its recovery point, under the same
// writer lock, never after a failed one; damage makes it refuse and the job
// ends CompletedWithWarnings.
TEST_F(JobRunnerTest, AppliesRetentionAfterAWorkThatWroteItsPoint) {
  fs::path src = vault_.dir() / "src";
  WriteFile(src / "f", "data");
  std::string point =
      testing::BackupOrFail(*agent_.repo, testing::SmallBackupOptions({src.string()}));
  ASSERT_FALSE(point.empty());
  JobSpec spec = Spec("Backup");
  spec.writer_lock = true;
  spec.retention = RetentionPolicy{7, 0, 0, 0};
  bool held_at_end = false;
  auto wrote_point = [&](JobContext& ctx) {
    ctx.record.recovery_point = point;
    return Status::Ok();
  };
  JobOutcome out = Runner().Run(spec, wrote_point,
                                [&](JobContext&, const Status&) { held_at_end = fake_.lock_held; });
  EXPECT_TRUE(held_at_end);
  ASSERT_TRUE(out.retention.has_value()) << out.retention_status.ToString();
  ASSERT_EQ(fake_.registered.size(), 1u);  // vaultd learns the retention first
  EXPECT_EQ(fake_.registered[0].daily_days, 7);
  EXPECT_EQ(out.retention->kept_points, std::vector<std::string>{point});
  EXPECT_TRUE(out.retention->removed_points.empty());
  EXPECT_EQ(Saved(out.record.id).state, JobState::kCompleted);

  out = Runner().Run(spec, [](JobContext&) { return IoError("disk gone"); });
  EXPECT_FALSE(out.retention.has_value());
  out = Runner().Run(spec, [](JobContext&) { return Status::Ok(); });  // no point written
  EXPECT_FALSE(out.retention.has_value());

  // A vault that refuses the retention (a reduction without the Security
  // PIN): nothing is pruned, the backup itself is done, with the warning.
  fake_.refuse_retention = Status(ErrorCode::kSecurityPinInvalid, "no PIN");
  out = Runner().Run(spec, wrote_point);
  EXPECT_FALSE(out.retention.has_value());
  EXPECT_EQ(out.retention_status.code(), ErrorCode::kSecurityPinInvalid);
  EXPECT_EQ(Saved(out.record.id).state, JobState::kCompletedWithWarnings);
  fake_.refuse_retention = Status::Ok();

  // A damaged recovery point: prune refuses, the backup itself is done.
  ASSERT_TRUE(vault_.store().Put("snapshots/" + point, AsBytes(std::string("garbage"))).ok());
  out = Runner().Run(spec, wrote_point);
  EXPECT_FALSE(out.retention.has_value());
  EXPECT_EQ(out.retention_status.code(), ErrorCode::kCorrupt) << out.retention_status.ToString();
  EXPECT_EQ(out.status.code(), ErrorCode::kOk);
  JobRecord saved = Saved(out.record.id);
  EXPECT_EQ(saved.state, JobState::kCompletedWithWarnings);
  EXPECT_NE(saved.error.find("retention after backup failed"), std::string::npos) << saved.error;
}

// The vault's anomaly hold refuses every delete (423, VaultHold): retention
// after a backup deletes nothing and the job completes with the warning.
TEST_F(JobRunnerTest, RetentionUnderTheVaultsHoldIsAWarning) {
  class HeldStore final : public testing::ForwardingStore {
   public:
    using ForwardingStore::ForwardingStore;
    Status Delete(std::string_view key) override {
      ++refused;
      return Status(ErrorCode::kVaultHold, "deleting " + std::string(key) +
                                               ": the vault holds this machine's data: anomaly X");
    }
    int refused = 0;
  } held(vault_.store());
  agent_.repo = vault_.NewRepository(held);
  fs::path src = vault_.dir() / "src";
  WriteFile(src / "f", "data");
  std::string point =
      testing::BackupOrFail(*agent_.repo, testing::SmallBackupOptions({src.string()}));
  ASSERT_FALSE(point.empty());
  // The same point again, 30 days older: retention drops it.
  auto points = agent_.repo->ListRecoveryPoints();
  ASSERT_TRUE(points.ok() && points->size() == 1);
  recovery_point::RecoveryPoint old = points->front().point;
  old.time_ns -= int64_t{30} * 24 * 3600 * 1'000'000'000;
  ASSERT_TRUE(agent_.repo->SaveRecoveryPoint(old).ok());
  JobSpec spec = Spec("Backup");
  spec.retention = RetentionPolicy{7, 0, 0, 0};
  JobOutcome out = Runner().Run(spec, [&](JobContext& ctx) {
    ctx.record.recovery_point = point;
    return Status::Ok();
  });
  EXPECT_GE(held.refused, 1);
  EXPECT_EQ(out.status.code(), ErrorCode::kOk);
  EXPECT_EQ(out.retention_status.code(), ErrorCode::kVaultHold) << out.retention_status.ToString();
  JobRecord saved = Saved(out.record.id);
  EXPECT_EQ(saved.state, JobState::kCompletedWithWarnings);
  EXPECT_NE(saved.error.find("anomaly X"), std::string::npos) << saved.error;
  EXPECT_EQ(agent_.repo->ListRecoveryPoints()->size(), 2u);  // nothing deleted
}

// obctl job stop without the engine: the request through the history, then
// waiting on the record, whichever process runs the job.
TEST_F(JobRunnerTest, AJobStoppedFromOutsideEndsCancelled) {
  std::mutex mu;
  std::condition_variable cv;
  std::string id;
  bool release = false;
  JobOutcome out;
  std::thread job([&] {
    JobSpec spec = Spec("Backup");
    spec.on_start = [&](const JobRecord& r) {
      std::lock_guard lock(mu);
      id = r.id;
      cv.notify_all();
    };
    out = Runner().Run(spec, [&](JobContext& ctx) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
      lock.unlock();
      while (!ctx.cancel->load()) std::this_thread::yield();
      return Status(ErrorCode::kCancelled, "stopped");
    });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !id.empty(); });
  }
  // Still running: the wait gives up, saying so.
  auto early = WaitForStoppedJob(env_, state_, id, 0);
  EXPECT_EQ(early.status().code(), ErrorCode::kCancelled);
  EXPECT_EQ(RequestJobStop(env_, state_, "nope-unknown").code(), ErrorCode::kNotFound);
  ASSERT_TRUE(RequestJobStop(env_, state_, id.substr(0, 6)).ok());
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  auto ended = WaitForStoppedJob(env_, state_, id, 60000);
  job.join();
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->state, JobState::kCancelled);
  EXPECT_EQ(out.record.state, JobState::kCancelled);
  // An ended job cannot be stopped; it is listed, newest first.
  EXPECT_EQ(RequestJobStop(env_, state_, id).code(), ErrorCode::kInvalidArgument);
  auto jobs = ListJobs(env_, state_);
  ASSERT_TRUE(jobs.ok());
  ASSERT_FALSE(jobs->empty());
  EXPECT_EQ(jobs->front().id, id);
  EXPECT_EQ(FindJob(env_, state_, id.substr(0, 4))->id, id);
}

// Jobs run from several threads at once, each with its own record.
TEST_F(JobRunnerTest, RunsJobsFromSeveralThreadsAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  int in_work = 0;
  auto work = [&](JobContext&) {
    std::unique_lock lock(mu);
    ++in_work;
    cv.notify_all();
    cv.wait(lock, [&] { return in_work == 2; });  // both jobs are running now
    return Status::Ok();
  };
  JobOutcome a, b;
  std::thread other([&] { a = JobRunner(env_, state_).Run(Spec("Verify"), work); });
  b = JobRunner(env_, state_).Run(Spec("Verify"), work);
  other.join();
  EXPECT_NE(a.record.id, b.record.id);
  EXPECT_EQ(Saved(a.record.id).state, JobState::kCompleted);
  EXPECT_EQ(Saved(b.record.id).state, JobState::kCompleted);
}

}  // namespace
}  // namespace obagent::engine
