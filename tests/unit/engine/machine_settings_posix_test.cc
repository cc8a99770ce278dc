// Machine settings: parsing and validation of the throttle, the work-hour
// schedule in local time, the settings store in agent.json, moving the
// scratch folder (with a fault injected at every write), and the OS error
// codes of files a backup skips.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/forwarding_env.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/machine_settings.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kKiB = 1024, kMiB = 1 << 20;

TEST(BandwidthTest, ParsesByteAndBitUnits) {
  EXPECT_EQ(*ParseBandwidth("65536"), 65536u);
  EXPECT_EQ(*ParseBandwidth("512KB/s"), 512 * kKiB);
  EXPECT_EQ(*ParseBandwidth("512 kb"), 512 * kKiB);
  EXPECT_EQ(*ParseBandwidth("10MB/s"), 10 * kMiB);
  EXPECT_EQ(*ParseBandwidth("1.5MiB/s"), 3 * kMiB / 2);
  EXPECT_EQ(*ParseBandwidth("1GB/s"), 1024 * kMiB);
  EXPECT_EQ(*ParseBandwidth("512Kbps"), 64 * kKiB);  // MARS's minimum
  EXPECT_EQ(*ParseBandwidth("8Mbps"), 1 * kMiB);
  for (const char* bad : {"", "fast", "10 MB/h", "-5MB/s", "0", "MB/s", "1.2.3MB/s"}) {
    EXPECT_EQ(ParseBandwidth(bad).status().code(), ErrorCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(FormatBandwidth(512 * kKiB), "512 KiB/s");
  EXPECT_EQ(FormatBandwidth(3 * kMiB / 2), "1.50 MiB/s");
  EXPECT_EQ(FormatBandwidth(100), "100 B/s");
}

TEST(BandwidthTest, WorkDaysAndHours) {
  EXPECT_EQ(*ParseWorkDays("mon,tue,wed,thu,fri"), 0x3E);
  EXPECT_EQ(*ParseWorkDays("Sun, Sat"), 0x41);
  EXPECT_EQ(*ParseWorkDays("all"), 0x7F);
  EXPECT_FALSE(ParseWorkDays("mon,,tue").ok());
  EXPECT_FALSE(ParseWorkDays("funday").ok());
  EXPECT_EQ(FormatWorkDays(0x3E), "Mon,Tue,Wed,Thu,Fri");
  EXPECT_EQ(*ParseHourMinute("08:30"), 510);
  EXPECT_EQ(*ParseHourMinute("24:00"), 1440);
  EXPECT_FALSE(ParseHourMinute("25:00").ok());
  EXPECT_FALSE(ParseHourMinute("8h").ok());
}

BandwidthThrottle OfficeHours() {
  BandwidthThrottle t;
  t.enabled = true;
  t.work_days = 0x3E;
  t.work_start_minute = 9 * 60;
  t.work_end_minute = 18 * 60;
  t.work_bytes_per_second = 512 * kKiB;
  t.non_work_bytes_per_second = 8 * kMiB;
  return t;
}

TEST(BandwidthTest, ValidateRejectsWhatMarsRejects) {
  EXPECT_TRUE(OfficeHours().Validate().ok());
  BandwidthThrottle t = OfficeHours();
  t.work_bytes_per_second = kMinThrottleBytesPerSecond - 1;
  Status st = t.Validate();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.detail().find("512 Kbps"), std::string::npos) << st.detail();
  t = OfficeHours();
  t.non_work_bytes_per_second = kMaxThrottleBytesPerSecond + 1;
  EXPECT_FALSE(t.Validate().ok());
  t = OfficeHours();
  t.work_days = 0;
  EXPECT_FALSE(t.Validate().ok());
  t = OfficeHours();
  t.work_end_minute = t.work_start_minute;
  EXPECT_FALSE(t.Validate().ok());
  t = OfficeHours();
  t.enabled = false;
  t.work_bytes_per_second = 1;  // ignored while off
  EXPECT_TRUE(t.Validate().ok());
}

TEST(BandwidthTest, RateFollowsWorkDaysAndHours) {
  BandwidthThrottle t = OfficeHours();
  EXPECT_EQ(t.BytesPerSecondAt(1, 9 * 60), 512 * kKiB);       // Monday 09:00
  EXPECT_EQ(t.BytesPerSecondAt(1, 9 * 60 - 1), 8 * kMiB);     // Monday 08:59
  EXPECT_EQ(t.BytesPerSecondAt(5, 18 * 60 - 1), 512 * kKiB);  // Friday 17:59
  EXPECT_EQ(t.BytesPerSecondAt(5, 18 * 60), 8 * kMiB);        // Friday 18:00
  EXPECT_EQ(t.BytesPerSecondAt(6, 12 * 60), 8 * kMiB);        // Saturday noon
  t.enabled = false;
  EXPECT_EQ(t.BytesPerSecondAt(1, 12 * 60), 0u);
}

TEST(BandwidthTest, ScheduleUsesLocalTime) {
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  ::setenv("TZ", "UTC0", 1);
  ::tzset();
  auto utc = NewLocalTimeSchedule(OfficeHours());
  const int64_t monday = 1704067200LL * 1'000'000'000;  // 2024-01-01 00:00 UTC, a Monday
  const int64_t hour = 3600LL * 1'000'000'000;
  EXPECT_EQ(utc->BytesPerSecondAt(monday + 9 * hour), 512 * kKiB);
  EXPECT_EQ(utc->BytesPerSecondAt(monday + 9 * hour - 1'000'000'000), 8 * kMiB);
  EXPECT_EQ(utc->BytesPerSecondAt(monday + 5 * 24 * hour + 10 * hour), 8 * kMiB);  // Saturday
  // Two hours east of UTC, 09:00 local is 07:00 UTC.
  ::setenv("TZ", "XST-2", 1);
  ::tzset();
  EXPECT_EQ(utc->BytesPerSecondAt(monday + 7 * hour), 512 * kKiB);
  EXPECT_EQ(utc->BytesPerSecondAt(monday + 6 * hour), 8 * kMiB);
  if (old_tz) {
    ::setenv("TZ", saved.c_str(), 1);
  } else {
    ::unsetenv("TZ");
  }
  ::tzset();
}

TEST(BandwidthTest, ProxyUrlFromServerAndPort) {
  EXPECT_EQ(*ProxyUrl("proxy.corp", 3128), "http://proxy.corp:3128");
  EXPECT_EQ(*ProxyUrl("https://proxy.corp/", 8443), "https://proxy.corp:8443");
  EXPECT_FALSE(ProxyUrl("proxy.corp:3128", 3128).ok());
  EXPECT_FALSE(ProxyUrl("proxy.corp", 0).ok());
  EXPECT_FALSE(ProxyUrl("proxy.corp", 70000).ok());
  EXPECT_FALSE(ProxyUrl("ftp://proxy.corp", 21).ok());
  EXPECT_FALSE(ProxyUrl("", 80).ok());
}

// A registered machine with a local vault, in a temporary folder.
class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-msettings.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    state_ = dir_ + "/state";
    ASSERT_TRUE(InitLocalVault(env_, dir_ + "/vault").ok());
    RegisterOptions options;
    options.vault = dir_ + "/vault";
    options.passphrase = "correct horse battery staple 42";
    options.scratch_dir = dir_ + "/scratch";
    auto registered = Register(env_, state_, options);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
    auto kek = env_.ReadFile(dir_ + "/scratch/" + kKekFileName);
    ASSERT_TRUE(kek.ok());
    kek_ = *kek;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string AgentJson() {
    auto data = env_.ReadFile(state_ + "/agent.json");
    return data.ok() ? std::string(data->begin(), data->end()) : "";
  }

  // The agent opens, its scratch folder holds the original key file.
  void ExpectWorkingAgent(platform::Env& env) {
    auto config = LoadAgentConfig(env_, state_);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto kek = env_.ReadFile(config->scratch_dir + "/" + kKekFileName);
    ASSERT_TRUE(kek.ok()) << "no key file in " << config->scratch_dir;
    EXPECT_EQ(*kek, kek_);
    auto agent = OpenAgent(env, state_, std::nullopt);
    ASSERT_TRUE(agent.ok()) << agent.status().ToString();
    EXPECT_TRUE(agent->repo->LoadIndex().ok());
  }

  platform::Env& env_ = platform::Env::Default();
  std::string dir_, state_;
  Bytes kek_;
};

TEST_F(AgentTest, SettingsRoundTripAndStayPrivate) {
  auto s = GetMachineSettings(env_, state_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->throttle.enabled);  // registered without throttling
  EXPECT_EQ(s->scratch_dir, dir_ + "/scratch");
  s->throttle = OfficeHours();
  s->proxy = {"http://proxy.corp:3128", "alice", "s3cret"};
  ASSERT_TRUE(SetMachineSettings(env_, state_, *s).ok());
  auto back = GetMachineSettings(env_, state_);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->throttle.Describe(), OfficeHours().Describe());
  EXPECT_EQ(back->throttle.work_bytes_per_second, 512 * kKiB);
  EXPECT_EQ(back->proxy.url, "http://proxy.corp:3128");
  EXPECT_EQ(back->proxy.password, "s3cret");
  struct stat st;
  ASSERT_EQ(::stat((state_ + "/agent.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A job still opens the agent, now through the throttle.
  ExpectWorkingAgent(env_);
}

TEST_F(AgentTest, InvalidSettingsChangeNothing) {
  std::string before = AgentJson();
  auto s = GetMachineSettings(env_, state_);
  ASSERT_TRUE(s.ok());
  MachineSettings bad = *s;
  bad.throttle = OfficeHours();
  bad.throttle.work_bytes_per_second = 1000;
  EXPECT_EQ(SetMachineSettings(env_, state_, bad).code(), ErrorCode::kInvalidArgument);
  bad = *s;
  bad.proxy = {"proxy-without-scheme:1", "", ""};
  EXPECT_EQ(SetMachineSettings(env_, state_, bad).code(), ErrorCode::kInvalidArgument);
  bad = *s;
  bad.proxy = {"", "alice", ""};
  EXPECT_EQ(SetMachineSettings(env_, state_, bad).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(AgentJson(), before);
}

TEST_F(AgentTest, MoveScratchCarriesKeyAndCaches) {
  {
    auto agent = OpenAgent(env_, state_, std::nullopt);
    ASSERT_TRUE(agent.ok());
    ASSERT_TRUE(agent->repo->LoadIndex().ok());
  }
  // (An empty vault's LoadIndex caches nothing, so the folder may not exist.)
  fs::create_directories(dir_ + "/scratch/cache/index");
  std::ofstream(dir_ + "/scratch/cache/index/probe") << "cached";
  std::ofstream(dir_ + "/scratch/not-ours") << "kept";
  ASSERT_TRUE(MoveScratch(env_, state_, dir_ + "/new/scratch").ok());
  EXPECT_EQ(LoadAgentConfig(env_, state_)->scratch_dir, dir_ + "/new/scratch");
  EXPECT_TRUE(fs::exists(dir_ + "/new/scratch/cache/index/probe"));
  EXPECT_FALSE(fs::exists(dir_ + "/scratch/" + kKekFileName));
  EXPECT_FALSE(fs::exists(dir_ + "/scratch/cache"));
  EXPECT_TRUE(fs::exists(dir_ + "/scratch/not-ours"));  // never delete what is not ours
  EXPECT_EQ(fs::status(dir_ + "/new/scratch/" + kKekFileName).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  ExpectWorkingAgent(env_);
  // Back again: the now empty old folder is removed when left empty.
  ASSERT_TRUE(MoveScratch(env_, state_, dir_ + "/third").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/new/scratch"));
  ExpectWorkingAgent(env_);
}

TEST_F(AgentTest, MoveScratchRefusals) {
  std::string before = AgentJson();
  Status inside = MoveScratch(env_, state_, dir_ + "/scratch/sub");
  EXPECT_EQ(inside.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(MoveScratch(env_, state_, dir_).code(), ErrorCode::kInvalidArgument);

  fs::create_directories(dir_ + "/other");
  std::ofstream(dir_ + "/other/" + kKekFileName) << "another registration's key";
  EXPECT_EQ(MoveScratch(env_, state_, dir_ + "/other").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(fs::file_size(dir_ + "/other/" + kKekFileName), 26u);

  // While a job holds the writer lock.
  {
    auto agent = OpenAgent(env_, state_, std::nullopt);
    ASSERT_TRUE(agent.ok());
    auto writer = AcquireWriter(*agent, "backup");
    ASSERT_TRUE(writer.ok());
    Status busy = MoveScratch(env_, state_, dir_ + "/elsewhere");
    EXPECT_EQ(busy.code(), ErrorCode::kAlreadyExists) << busy.ToString();
    EXPECT_FALSE(fs::exists(dir_ + "/elsewhere"));
  }
  // A folder that cannot be created: SalVhdInitializationError.
  std::ofstream(dir_ + "/a-file") << "x";
  Status not_dir = MoveScratch(env_, state_, dir_ + "/a-file/scratch");
  EXPECT_EQ(not_dir.code(), ErrorCode::kScratchInaccessible) << not_dir.ToString();
  EXPECT_EQ(AgentJson(), before);
  ExpectWorkingAgent(env_);
}

// ApplyMachineSettings, the one way front ends apply settings: invalid
// settings move nothing, a refused move saves nothing, else both apply.
TEST_F(AgentTest, ApplyMachineSettingsChangesAllOrNothing) {
  std::string before = AgentJson();
  auto s = GetMachineSettings(env_, state_);
  ASSERT_TRUE(s.ok());

  MachineSettings bad = *s;
  bad.throttle = OfficeHours();
  bad.throttle.work_bytes_per_second = 1000;  // below MARS's range
  bad.scratch_dir = dir_ + "/moved";
  EXPECT_EQ(ApplyMachineSettings(env_, state_, bad).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/moved"));
  EXPECT_EQ(AgentJson(), before);

  MachineSettings refused = *s;
  refused.throttle = OfficeHours();
  refused.scratch_dir = dir_ + "/scratch/inside";  // a folder inside the old one
  Status st = ApplyMachineSettings(env_, state_, refused);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.detail().find("moving the scratch folder"), std::string::npos) << st.ToString();
  EXPECT_EQ(AgentJson(), before);

  MachineSettings good = *s;
  good.throttle = OfficeHours();
  good.proxy = {"http://proxy.corp:3128", "", ""};
  good.scratch_dir = dir_ + "/moved";
  ASSERT_TRUE(ApplyMachineSettings(env_, state_, good).ok());
  auto back = GetMachineSettings(env_, state_);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->scratch_dir, dir_ + "/moved");
  EXPECT_EQ(back->throttle.Describe(), OfficeHours().Describe());
  EXPECT_EQ(back->proxy.url, "http://proxy.corp:3128");
  ExpectWorkingAgent(env_);

  // The same folder (or none) is no move: the other settings still apply.
  good.throttle.enabled = false;
  good.scratch_dir.clear();
  ASSERT_TRUE(ApplyMachineSettings(env_, state_, good).ok());
  EXPECT_FALSE(GetMachineSettings(env_, state_)->throttle.enabled);
  EXPECT_EQ(GetMachineSettings(env_, state_)->scratch_dir, dir_ + "/moved");
}

// Fails the n-th write-side call (create, write, remove) and every one after,
// like a crash just before that call: what was written stays, nothing more is.
class CrashingEnv final : public testing::ForwardingEnv {
 public:
  CrashingEnv(platform::Env& base, int crash_at) : ForwardingEnv(base), crash_at_(crash_at) {}
  Status WriteFileAtomic(const std::string& p, ByteView d, bool o) override {
    if (Crash()) return IoError("injected crash before writing " + p);
    return base_.WriteFileAtomic(p, d, o);
  }
  Status CreateDirs(const std::string& p, bool o) override {
    if (Crash()) return IoError("injected crash before creating " + p);
    return base_.CreateDirs(p, o);
  }
  Status RemoveFile(const std::string& p) override {
    if (Crash()) return IoError("injected crash before removing " + p);
    return base_.RemoveFile(p);
  }
  Status RemoveAll(const std::string& p) override {
    if (Crash()) return IoError("injected crash before removing " + p);
    return base_.RemoveAll(p);
  }
  bool crashed() const { return calls_ >= crash_at_; }

 private:
  bool Crash() { return ++calls_ >= crash_at_; }
  int crash_at_;
  int calls_ = 0;
};

TEST_F(AgentTest, MoveScratchSurvivesACrashAtEveryStep) {
  {
    auto agent = OpenAgent(env_, state_, std::nullopt);
    ASSERT_TRUE(agent.ok());
    ASSERT_TRUE(agent->repo->LoadIndex().ok());
  }
  fs::create_directories(dir_ + "/scratch/cache/packs");
  for (int i = 0; i < 3; ++i) {
    std::ofstream(dir_ + "/scratch/cache/packs/p" + std::to_string(i)) << std::string(1000, 'x');
  }
  std::string from = dir_ + "/scratch", to = dir_ + "/moved";
  int crash_at = 1;
  for (;; ++crash_at) {
    ASSERT_LT(crash_at, 100) << "the move never completed";
    CrashingEnv crashing(env_, crash_at);
    Status st = MoveScratch(crashing, state_, to);
    // Whatever happened, the agent works with the original key ...
    ExpectWorkingAgent(env_);
    if (!crashing.crashed()) {
      ASSERT_TRUE(st.ok()) << st.ToString();
      break;
    }
    // Only the last, best-effort step (removing the emptied old folder) may
    // fail without failing the move.
    if (st.ok()) {
      EXPECT_EQ(LoadAgentConfig(env_, state_)->scratch_dir, to);
    }
    // ... and the move can simply be run again (after a restart).
    ASSERT_TRUE(MoveScratch(env_, state_, to).ok()) << "crash at step " << crash_at;
    ExpectWorkingAgent(env_);
    EXPECT_EQ(LoadAgentConfig(env_, state_)->scratch_dir, to);
    EXPECT_TRUE(fs::exists(to + "/cache/packs/p2"));
    // Back to the start for the next crash point.
    ASSERT_TRUE(MoveScratch(env_, state_, from).ok());
    ASSERT_EQ(LoadAgentConfig(env_, state_)->scratch_dir, from);
  }
  EXPECT_GT(crash_at, 8);  // the crash points covered every step
  EXPECT_EQ(LoadAgentConfig(env_, state_)->scratch_dir, to);
}

// Lists a name that is gone by the time the backup looks at it, as a file
// deleted between the folder listing and its stat.
class VanishingEnv final : public testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  Result<std::vector<platform::DirEntry>> ListDir(const std::string& p) override {
    auto entries = base_.ListDir(p);
    if (entries.ok() && p.ends_with("/src")) {
      entries->push_back({"vanished.txt", platform::FileKind::kRegular});
    }
    return entries;
  }
};

TEST_F(AgentTest, SkippedFilesCarryTheirOsErrorCode) {
  std::string src = dir_ + "/src";
  fs::create_directories(src);
  std::ofstream(src + "/kept.txt") << "kept";
  int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sock_path = src + "/a.sock";
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock_path.c_str());
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  VanishingEnv env(env_);
  auto agent = OpenAgent(env, state_, std::nullopt);
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  ASSERT_TRUE(agent->repo->LoadIndex().ok());
  BackupOptions options;
  options.includes = {src};
  options.staging_dir = agent->staging_dir;
  options.hostname = agent->config.machine_name;
  options.machine_id = agent->config.machine_id;
  options.threads = 1;
  auto report = RunBackup(*agent->repo, options);
  ::close(sock);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(report->failed_files.size(), 2u);
  for (const FailedFile& f : report->failed_files) {
    if (f.path.ends_with("vanished.txt")) {
      EXPECT_EQ(f.os_error, os_error::kFileNotFound) << f.error;
    } else {
      EXPECT_TRUE(f.path.ends_with("a.sock")) << f.path;
      EXPECT_EQ(f.os_error, os_error::kNotSupported) << f.error;
    }
  }
  EXPECT_EQ(report->point.stats.files, 1u);
}

}  // namespace
}  // namespace obagent::engine
