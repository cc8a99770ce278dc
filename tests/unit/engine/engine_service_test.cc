// The engine's own scheduler: when it fires, that it catches up a run missed
// while it was not running exactly once, and that it stays quiet when the OS
// scheduler fires instead.
#include "obagent/engine/engine_service.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/forwarding_env.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMonday0000 = 1700438400;  // 2023-11-20 00:00:00 UTC, a Monday

Policy DailyAt(int minutes) {
  Policy p;
  p.specs.push_back(FileSpec{"/data", false, true});
  p.schedule.days = {0, 1, 2, 3, 4, 5, 6};
  p.schedule.minutes_of_day = {minutes};
  p.modified = kMonday0000;
  return p;
}

TEST(DecideScheduledRunTest, RunsWhenAScheduledTimeHasPassedSinceTheLastLook) {
  Policy p = DailyAt(21 * 60);
  int64_t at2100 = kMonday0000 + 21 * 3600;
  EXPECT_EQ(DecideScheduledRun(p, false, at2100 - 10, at2100 + 5, 0), ScheduleAction::kRun);
  EXPECT_EQ(DecideScheduledRun(p, false, at2100 - 10, at2100 - 1, 0), ScheduleAction::kNothing);
  EXPECT_EQ(DecideScheduledRun(p, false, at2100, at2100 + 3600, 0), ScheduleAction::kNothing);
  // Local time: 21:00 at UTC+1 is 20:00 UTC.
  EXPECT_EQ(DecideScheduledRun(p, false, at2100 - 3610, at2100 - 3590, 60), ScheduleAction::kRun);
}

TEST(DecideScheduledRunTest, QuietWithoutPolicyWhenPausedOrWhenTheOsSchedules) {
  Policy p = DailyAt(21 * 60);
  int64_t from = kMonday0000, to = kMonday0000 + 2 * 86400;
  EXPECT_EQ(DecideScheduledRun(p, false, from, to, 0), ScheduleAction::kRun);
  EXPECT_EQ(DecideScheduledRun(std::nullopt, false, from, to, 0), ScheduleAction::kNothing);
  EXPECT_EQ(DecideScheduledRun(p, true, from, to, 0), ScheduleAction::kNothing);
  p.paused = true;
  EXPECT_EQ(DecideScheduledRun(p, false, from, to, 0), ScheduleAction::kNothing);
}

class EngineServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("engine-service-test-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    // The engine log stays open for the process (Windows cannot delete an
    // open file): leave what cannot be removed to the temp folder.
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::vector<JobRecord> Jobs() {
    auto jobs = JobHistory(env_, dir_.string()).List();
    EXPECT_TRUE(jobs.ok());
    return jobs.ok() ? *jobs : std::vector<JobRecord>{};
  }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
};

TEST_F(EngineServiceTest, MissedRunStartsOnceAtStartThenOnlyOnSchedule) {
  Policy policy = DailyAt(3 * 60);  // 03:00 every day
  ASSERT_TRUE(SavePolicy(env_, dir_.string(), policy).ok());
  int64_t now = kMonday0000 + 2 * 86400 + 12 * 3600;  // two days later, noon
  {
    EngineService engine(env_, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
    engine.SchedulerTick();  // the runs of Tue and Wed 03:00 were missed
    auto running = engine.Running();
    if (running) {
      ASSERT_TRUE(engine.WaitForJob(running->record.id, 60000).ok());
    }
    // Not registered with a vault: the job is recorded and fails, which is
    // what a user would see after a missed run on a broken agent.
    auto jobs = Jobs();
    ASSERT_EQ(jobs.size(), 1u);
    EXPECT_EQ(jobs[0].type, "Backup");
    EXPECT_EQ(jobs[0].state, JobState::kFailed);
    EXPECT_EQ(engine.SchedulerKind(), "engine");  // no systemd in the test sandbox

    now += 60;
    engine.SchedulerTick();  // nothing due between noon and 12:01
    EXPECT_FALSE(engine.Running());
    EXPECT_EQ(Jobs().size(), 1u);
  }
  {
    // A restart the same day: the missed run already ran.
    now += 3600;
    EngineService engine(env_, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
    engine.SchedulerTick();
    EXPECT_FALSE(engine.Running());
    EXPECT_EQ(Jobs().size(), 1u);
    // Next day 03:00 passes while the engine runs: one scheduled run.
    now = kMonday0000 + 3 * 86400 + 3 * 3600 + 10;
    engine.SchedulerTick();
    auto running = engine.Running();
    if (running) {
      ASSERT_TRUE(engine.WaitForJob(running->record.id, 60000).ok());
    }
    EXPECT_EQ(Jobs().size(), 2u);
  }
}

TEST_F(EngineServiceTest, PausedPolicyOrNoPolicyStartsNoJob) {
  EngineService engine(env_, {dir_.string(), "/usr/bin/obctl", [] { return kMonday0000; }});
  auto none = engine.StartPolicyBackup("BackupNow");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().ToString().find("no backup policy"), std::string::npos);
  Policy policy = DailyAt(60);
  policy.paused = true;
  ASSERT_TRUE(SavePolicy(env_, dir_.string(), policy).ok());
  auto paused = engine.StartPolicyBackup("BackupNow");
  ASSERT_FALSE(paused.ok());
  EXPECT_NE(paused.status().ToString().find("paused"), std::string::npos);
  EXPECT_TRUE(Jobs().empty());
}

// An OS scheduler that accepts every registration, as systemd or Task
// Scheduler on a machine that has one.
class FakeOsSchedulerEnv final : public testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  Result<std::string> RegisterBackupSchedule(const platform::OsScheduleDefinition& d) override {
    registered.push_back(d.task_name);
    return std::string("FakeScheduler");
  }
  Status UnregisterBackupSchedule(const platform::OsScheduleDefinition& d) override {
    unregistered.push_back(d.task_name);
    return Status::Ok();
  }
  std::vector<std::string> registered;
  std::vector<std::string> unregistered;
};

TEST_F(EngineServiceTest, ReportsTheSchedulerThePlatformRegisteredWithAndLeavesItTheRuns) {
  FakeOsSchedulerEnv env(env_);
  ASSERT_TRUE(SavePolicy(env_, dir_.string(), DailyAt(3 * 60)).ok());
  int64_t now = kMonday0000 + 2 * 86400 + 12 * 3600;  // runs were missed meanwhile
  EngineService engine(env, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
  EXPECT_EQ(engine.SchedulerKind(), "engine");  // nothing registered yet
  engine.SchedulerTick();
  EXPECT_EQ(env.registered.size(), 1u);
  EXPECT_EQ(engine.SchedulerKind(), "FakeScheduler");
  EXPECT_FALSE(engine.Running()) << "the OS scheduler starts the runs, missed ones included";
  EXPECT_TRUE(Jobs().empty());

  ASSERT_TRUE(env_.RemoveFile(PolicyPath(dir_.string())).ok());
  engine.SchedulerTick();
  EXPECT_EQ(env.unregistered.size(), 1u);
  EXPECT_EQ(engine.SchedulerKind(), "engine");
}

// The policy's restore drill fires at its time on the fake clock, also
// when the OS scheduler runs the backups, once per scheduled time; a missed
// one runs once at start; none while paused.
TEST_F(EngineServiceTest, ScheduledRecoveryTestFiresAtItsTime) {
  FakeOsSchedulerEnv env(env_);  // the OS runs backups; drills stay the engine's
  Policy policy = DailyAt(21 * 60);
  policy.recovery_test = RecoveryTestPolicy{{{1}, {3 * 60}}, 5, 0};  // Mondays 03:00, 5 files
  ASSERT_TRUE(SavePolicy(env_, dir_.string(), policy).ok());
  auto drills = [&] {
    int n = 0;
    for (const auto& j : Jobs()) n += j.type == "RecoveryTest";
    return n;
  };
  auto wait = [&](EngineService& engine) {
    if (auto running = engine.Running()) {
      ASSERT_TRUE(engine.WaitForJob(running->record.id, 60000).ok());
    }
  };
  int64_t now = kMonday0000 + 2 * 3600 + 59 * 60;  // Monday 02:59
  {
    EngineService engine(env, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
    engine.SchedulerTick();
    wait(engine);
    EXPECT_EQ(drills(), 0) << "not yet 03:00";
    now = kMonday0000 + 3 * 3600 + 5;  // 03:00:05
    engine.SchedulerTick();
    wait(engine);
    ASSERT_EQ(drills(), 1);
    // Not registered with a vault: recorded and failed, saying why.
    JobRecord drill = Jobs()[0];
    EXPECT_EQ(drill.type, "RecoveryTest");
    EXPECT_EQ(drill.state, JobState::kFailed);
    EXPECT_FALSE(drill.error.empty());
    now += 60;
    engine.SchedulerTick();
    wait(engine);
    EXPECT_EQ(drills(), 1) << "one drill per scheduled time";
    EXPECT_TRUE(Jobs().size() == 1u) << "the backups are the OS scheduler's";
  }
  {
    // The engine was stopped over next Monday's 03:00: one drill at start.
    now = kMonday0000 + 7 * 86400 + 9 * 3600;
    EngineService engine(env, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
    engine.SchedulerTick();
    wait(engine);
    EXPECT_EQ(drills(), 2);
    engine.SchedulerTick();
    wait(engine);
    EXPECT_EQ(drills(), 2);
  }
  {
    policy.paused = true;
    policy.modified = kMonday0000 + 7 * 86400 + 10 * 3600;
    ASSERT_TRUE(SavePolicy(env_, dir_.string(), policy).ok());
    now = kMonday0000 + 14 * 86400 + 3 * 3600 + 5;
    EngineService engine(env, {dir_.string(), "/usr/bin/obctl", [&] { return now; }});
    engine.SchedulerTick();
    wait(engine);
    EXPECT_EQ(drills(), 2) << "no drill while the policy is paused";
  }
}

TEST_F(EngineServiceTest, RecoveryTestRunsNowAsAJobOfItsOwn) {
  EngineService engine(env_, {dir_.string(), "/usr/bin/obctl", [] { return kMonday0000; }});
  RecoveryTestSample bad;
  bad.count = 0;
  EXPECT_FALSE(engine.StartRecoveryTest("Console", bad).ok());
  auto job = engine.StartRecoveryTest("Console");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->type, "RecoveryTest");
  auto done = engine.WaitForJob(job->id, 60000);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state, JobState::kFailed);  // no vault registered here
}

}  // namespace
}  // namespace obagent::engine
