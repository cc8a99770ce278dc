// The job kinds as every front end runs them through the job runner
// (recovery_job.h, prune_job.h, repair_job.h, verify_job.h), on a machine
// registered with a local folder vault: each is recorded in the job history
// under its type, and a recovery lists its failed files in
// LastRecoveryFailedFiles-<job>.txt whoever starts it.
#include <gtest/gtest.h>

#include "engine/test_vault.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup_job.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/prune_job.h"
#include "obagent/engine/recovery_job.h"
#include "obagent/engine/repair_job.h"
#include "obagent/engine/verify_job.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::WriteFile;

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("obagent-jobs");
    state_ = (dir_ / "state").string();
    ASSERT_TRUE(InitLocalVault(env_, (dir_ / "vault").string()).ok());
    RegisterOptions reg;
    reg.vault = (dir_ / "vault").string();
    reg.passphrase = "a passphrase of enough length";
    auto registered = Register(env_, state_, reg);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  std::string Backup(const fs::path& src) {
    BackupJobRequest request;
    request.includes = {src.string()};
    BackupJobOutcome out = RunBackupJob(env_, state_, request);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.record.recovery_point;
  }
  JobRecord Saved(const std::string& id) {
    auto found = JobHistory(env_, state_).Find(id);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    return found.ok() ? *found : JobRecord{};
  }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
  std::string state_;
};

// The log obctl's recoveries did not write before the runner: failures
// first, then warnings, for the engine's and obctl's recoveries alike.
TEST_F(JobsTest, ARecoveryListsItsFailedFilesInTheLog) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "sub" / "x", "secret restore");
  WriteFile(src / "y", "fine");
  std::string point = Backup(src);
  ASSERT_FALSE(point.empty());
  // A folder above an item became a link: that item is refused.
  fs::remove_all(src / "sub");
  fs::create_directories(dir_ / "elsewhere");
  fs::create_directory_symlink(dir_ / "elsewhere", src / "sub");
  fs::remove(src / "y");

  RecoveryJobRequest request;
  request.restore.point = "latest";
  request.restore.items = {(src / "sub" / "x").string(), (src / "y").string()};
  std::string started;
  request.on_start = [&](const JobRecord& r) { started = r.id; };
  RecoveryJobOutcome out = RunRecoveryJob(env_, state_, request);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_TRUE(out.report.has_value());
  EXPECT_EQ(out.record.id, started);
  JobRecord saved = Saved(out.record.id);
  EXPECT_EQ(saved.type, "Recovery");
  EXPECT_EQ(saved.state, JobState::kFailed);
  EXPECT_EQ(saved.error, "1 files could not be recovered");
  EXPECT_EQ(saved.recovery_point, point);
  EXPECT_EQ(saved.failed_files_log,
            state_ + "/temp/LastRecoveryFailedFiles-" + out.record.id + ".txt");
  auto lines = ReadFailedFilesLog(env_, saved.failed_files_log);
  ASSERT_TRUE(lines.ok()) << lines.status().ToString();
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0].path, (src / "sub" / "x").string());
  EXPECT_NE((*lines)[0].message.find("never follows links"), std::string::npos);
  EXPECT_EQ(ReadFile(src / "y"), "fine");
  EXPECT_TRUE(fs::is_empty(dir_ / "elsewhere"));
}

TEST_F(JobsTest, ARecoveryOfAnotherMachineNeedsItsPassphrase) {
  RecoveryJobRequest request;
  request.restore.point = "latest";
  request.machine.machine = "other-host";
  RecoveryJobOutcome out = RunRecoveryJob(env_, state_, request);
  EXPECT_EQ(out.status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Saved(out.record.id).state, JobState::kFailed);
}

TEST_F(JobsTest, PruneKeepsTheNewestAndIsRecorded) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "a", "one");
  std::string first = Backup(src);
  WriteFile(src / "a", "two");
  std::string second = Backup(src);

  PruneJobRequest dry;
  dry.keep_last = 1;
  dry.options.dry_run = true;
  PruneJobOutcome planned = RunPruneJob(env_, state_, dry);
  ASSERT_TRUE(planned.status.ok()) << planned.status.ToString();
  EXPECT_EQ(planned.report->removed_points, std::vector<std::string>{first});
  EXPECT_EQ(planned.points.size(), 2u);

  PruneJobRequest request;
  request.keep_last = 1;
  PruneJobOutcome out = RunPruneJob(env_, state_, request);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.report->removed_points, std::vector<std::string>{first});
  EXPECT_EQ(out.report->kept_points, std::vector<std::string>{second});
  EXPECT_EQ(Saved(out.record.id).type, "Prune");
  EXPECT_EQ(Saved(out.record.id).state, JobState::kCompleted);

  // A policy below MARS's minimum is refused by the job, changing nothing.
  PruneJobRequest bad;
  bad.policy = {3, 0, 0, 0};
  PruneJobOutcome refused = RunPruneJob(env_, state_, bad);
  EXPECT_EQ(refused.status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Saved(refused.record.id).state, JobState::kFailed);
}

TEST_F(JobsTest, VerifyAndRepairAreRecordedJobs) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "a", "one");
  Backup(src);
  VerifyJobOutcome verified = RunVerifyJob(env_, state_);
  ASSERT_TRUE(verified.status.ok()) << verified.status.ToString();
  ASSERT_TRUE(verified.report.has_value());
  EXPECT_TRUE(verified.report->ok());
  EXPECT_EQ(verified.report->recovery_points, 1u);
  EXPECT_EQ(Saved(verified.record.id).type, "Verify");
  EXPECT_EQ(Saved(verified.record.id).state, JobState::kCompleted);

  RepairJobRequest repair;
  repair.options.dry_run = true;
  RepairJobOutcome repaired = RunRepairJob(env_, state_, repair);
  ASSERT_TRUE(repaired.status.ok()) << repaired.status.ToString();
  EXPECT_FALSE(repaired.damage_left);
  EXPECT_EQ(Saved(repaired.record.id).type, "Repair");
  EXPECT_EQ(Saved(repaired.record.id).state, JobState::kCompleted);

  // A lost pack: verify fails naming it; repair finds the damage left.
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "vault")) {
    if (e.is_regular_file() && e.path().parent_path().parent_path().filename() == "data") {
      fs::remove(e.path());
      break;
    }
  }
  verified = RunVerifyJob(env_, state_);
  ASSERT_TRUE(verified.status.ok()) << verified.status.ToString();
  EXPECT_FALSE(verified.report->ok());
  EXPECT_EQ(Saved(verified.record.id).state, JobState::kFailed);
  EXPECT_NE(Saved(verified.record.id).error.find("problems found"), std::string::npos);
  repaired = RunRepairJob(env_, state_, RepairJobRequest{});
  ASSERT_TRUE(repaired.status.ok()) << repaired.status.ToString();
  EXPECT_TRUE(repaired.damage_left);
  EXPECT_EQ(Saved(repaired.record.id).state, JobState::kCompletedWithWarnings);
}

}  // namespace
}  // namespace obagent::engine
