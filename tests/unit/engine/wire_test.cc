// The engine's wire codecs (engine/wire.h): every type the local API, the
// console and obctl exchange reads back as it was written, through text,
// and what is not that type is refused with a clear error.
#include "obagent/engine/wire.h"

#include <gtest/gtest.h>

namespace obagent::engine {
namespace {

using nlohmann::json;

// Through the text a socket or a browser carries.
json Wire(const json& j) { return json::parse(j.dump()); }

TEST(StatusJson, EveryCodeCrossesByNameWithItsDetailAndOsError) {
  for (int i = 1; i <= static_cast<int>(ErrorCode::kEngineNotRunning); ++i) {
    auto code = static_cast<ErrorCode>(i);
    Status sent(code, "detail of " + std::to_string(i), os_error::kAccessDenied);
    json j = Wire(StatusToJson(sent));
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["code"], std::string(ErrorCodeName(code)));
    EXPECT_EQ(j["error_id"], std::string(CatalogueId(code)));
    EXPECT_EQ(j["message"], sent.ToString());
    EXPECT_EQ(j["os_error"], "0x80070005");
    Status back;
    ASSERT_TRUE(StatusFromJson(j, &back).ok()) << j;
    EXPECT_EQ(back.code(), code) << j;
    EXPECT_EQ(back.detail(), sent.detail());
    EXPECT_EQ(back.os_error(), os_error::kAccessDenied);
    EXPECT_EQ(back.ToString(), sent.ToString());
  }
}

TEST(StatusJson, TheCatalogueTextsTravelWithTheError) {
  json j = StatusToJson(Status(ErrorCode::kEngineNotRunning, "no socket"));
  EXPECT_EQ(j["code"], "EngineNotRunning");
  EXPECT_EQ(j["error_id"], "0x80070426");
  EXPECT_EQ(j["explanation"], std::string(CatalogueExplanation(ErrorCode::kEngineNotRunning)));
  EXPECT_EQ(j["action"], std::string(CatalogueAction(ErrorCode::kEngineNotRunning)));
  EXPECT_EQ(j["os_error"], "");
  Status back(ErrorCode::kIo, "stale", os_error::kDiskFull);
  ASSERT_TRUE(StatusFromJson(j, &back).ok());
  EXPECT_EQ(back.code(), ErrorCode::kEngineNotRunning);
  EXPECT_EQ(back.os_error(), os_error::kNone);
}

TEST(StatusJson, ANewerEnginesCodeReadsAsInternalWithItsWords) {
  Status s;
  ASSERT_TRUE(StatusFromJson({{"ok", false},
                              {"code", "QuantumFlux"},
                              {"message", "flux too high"},
                              {"detail", "flux too high"}},
                             &s)
                  .ok());
  EXPECT_EQ(s.code(), ErrorCode::kInternal);
  EXPECT_EQ(s.detail(), "flux too high");
}

TEST(StatusJson, RefusesWhatIsNotAnErrorAnswer) {
  for (const json& bad : {
           json(nullptr),
           json(3),
           json("NotFound"),
           json::array(),
           json{{"ok", true}, {"code", "NotFound"}},  // a result, not an error
           json{{"ok", false}},                       // no code
           json{{"ok", false}, {"code", 2}},          // an ordinal: names only
           json{{"ok", false}, {"code", "Ok"}},       // not an error
           json{{"ok", false}, {"code", "NotFound"}, {"detail", 7}},
           json{{"ok", false}, {"code", "NotFound"}, {"os_error", "denied"}},
           json{{"ok", false}, {"code", "NotFound"}, {"os_error", "0x8007000G"}},
           json{{"ok", "no"}, {"code", "NotFound"}},
       }) {
    Status untouched(ErrorCode::kIo, "before");
    Status read = StatusFromJson(bad, &untouched);
    EXPECT_EQ(read.code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_EQ(untouched.detail(), "before") << bad;
  }
}

JobRecord FullRecord() {
  JobRecord r;
  r.id = "0123456789abcdef";
  r.type = "Backup";
  r.state = JobState::kCompletedWithWarnings;
  r.start_ns = 1'700'000'000'000'000'000;
  r.end_ns = 1'700'000'060'000'000'000;
  r.pid = 4242;
  r.files = 12;
  r.bytes_scanned = 1u << 30;
  r.bytes_transferred = 1u << 20;
  r.recovery_point = "3fa2c1";
  r.error = "2 files skipped";
  r.failed_files_log = "/var/lib/obagent/temp/LastBackupFailedFiles-0123.txt";
  r.snapshot = "btrfs";
  r.summary = "one line";
  return r;
}

void ExpectSameRecord(const JobRecord& a, const JobRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.start_ns, b.start_ns);
  EXPECT_EQ(a.end_ns, b.end_ns);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.files, b.files);
  EXPECT_EQ(a.bytes_scanned, b.bytes_scanned);
  EXPECT_EQ(a.bytes_transferred, b.bytes_transferred);
  EXPECT_EQ(a.recovery_point, b.recovery_point);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.failed_files_log, b.failed_files_log);
  EXPECT_EQ(a.snapshot, b.snapshot);
  EXPECT_EQ(a.summary, b.summary);
}

TEST(JobRecordJson, EveryFieldAndStateRoundTrips) {
  for (JobState state :
       {JobState::kInProgress, JobState::kCompleted, JobState::kCompletedWithWarnings,
        JobState::kFailed, JobState::kCancelled}) {
    JobRecord r = FullRecord();
    r.state = state;
    Result<JobRecord> back = JobRecordFromJson(Wire(JobRecordToJson(r)));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSameRecord(*back, r);
  }
}

TEST(JobRecordJson, RefusesWhatIsNotARecord) {
  json good = JobRecordToJson(FullRecord());
  std::vector<json> bad = {json(nullptr), json("job"), json::array()};
  for (auto [key, value] : std::vector<std::pair<const char*, json>>{{"state", "Sleeping"},
                                                                     {"state", 3},
                                                                     {"id", 5},
                                                                     {"files", -1},
                                                                     {"bytes_scanned", "1 GiB"},
                                                                     {"start_ns", 1.5},
                                                                     {"error", json::array()}}) {
    json j = good;
    j[key] = value;
    bad.push_back(j);
  }
  json no_state = good;
  no_state.erase("state");
  bad.push_back(no_state);
  for (const json& j : bad) {
    Result<JobRecord> r = JobRecordFromJson(j);
    EXPECT_FALSE(r.ok()) << j;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << j;
    }
  }
}

TEST(RunningJobJson, RecordTriggerAndProgressRoundTrip) {
  RunningJob running;
  running.record = FullRecord();
  running.record.state = JobState::kInProgress;
  running.trigger = "BackupNow";
  running.progress.files_done = 3;
  running.progress.bytes_done = 30;
  running.progress.bytes_total = 120;
  running.progress.bytes_read = 90;
  running.progress.bytes_uploaded = 20;
  running.progress.elapsed_seconds = 12.5;
  running.progress.recent_bytes_per_second = 2;
  Result<RunningJob> back = RunningJobFromJson(Wire(RunningJobToJson(running)));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameRecord(back->record, running.record);
  EXPECT_EQ(back->trigger, "BackupNow");
  EXPECT_EQ(back->progress.files_done, 3u);
  EXPECT_EQ(back->progress.bytes_done, 30u);
  EXPECT_EQ(back->progress.bytes_total, 120u);
  EXPECT_EQ(back->progress.bytes_read, 90u);
  EXPECT_EQ(back->progress.bytes_uploaded, 20u);
  EXPECT_DOUBLE_EQ(back->progress.elapsed_seconds, 12.5);
  EXPECT_DOUBLE_EQ(back->progress.recent_bytes_per_second.value_or(-1), 2);
}

TEST(RunningJobJson, RefusesWhatIsNotARunningJob) {
  RunningJob running;
  running.record = FullRecord();
  json good = RunningJobToJson(running);
  json no_job = good;
  no_job.erase("job");
  json bad_job = good;
  bad_job["job"]["state"] = "Dancing";
  json bad_progress = good;
  bad_progress["progress"]["bytes_done"] = "lots";
  json bad_trigger = good;
  bad_trigger["trigger"] = 1;
  for (const json& j : {json(nullptr), json(1), no_job, bad_job, bad_progress, bad_trigger}) {
    Result<RunningJob> r = RunningJobFromJson(j);
    EXPECT_FALSE(r.ok()) << j;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << j;
    }
  }
}

MachineSettings SomeSettings() {
  MachineSettings s;
  s.throttle.enabled = true;
  s.throttle.work_days = 0x16;  // Mon, Tue, Thu
  s.throttle.work_start_minute = 8 * 60 + 30;
  s.throttle.work_end_minute = 24 * 60;
  s.throttle.work_bytes_per_second = 1 << 20;
  s.throttle.non_work_bytes_per_second = 8 << 20;
  s.proxy = {"http://proxy:3128", "backup", "correct horse"};
  s.scratch_dir = "/var/lib/obagent/scratch";
  return s;
}

TEST(MachineSettingsJson, EverySettingRoundTripsButThePassword) {
  MachineSettings sent = SomeSettings();
  json j = Wire(MachineSettingsToJson(sent));
  EXPECT_EQ(j["throttle"]["work_days"], json({1, 2, 4}));
  EXPECT_EQ(j["throttle"]["work_start"], "08:30");
  EXPECT_EQ(j["throttle"]["work_end"], "24:00");
  EXPECT_EQ(j["proxy"]["password_set"], true);
  EXPECT_EQ(j.dump().find("correct horse"), std::string::npos) << "the password left the engine";
  // Read over empty settings: everything comes back but the password.
  Result<MachineSettings> back = MachineSettingsFromJson(j, MachineSettings{});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->throttle.enabled, true);
  EXPECT_EQ(back->throttle.work_days, sent.throttle.work_days);
  EXPECT_EQ(back->throttle.work_start_minute, sent.throttle.work_start_minute);
  EXPECT_EQ(back->throttle.work_end_minute, sent.throttle.work_end_minute);
  EXPECT_EQ(back->throttle.work_bytes_per_second, sent.throttle.work_bytes_per_second);
  EXPECT_EQ(back->throttle.non_work_bytes_per_second, sent.throttle.non_work_bytes_per_second);
  EXPECT_EQ(back->proxy.url, sent.proxy.url);
  EXPECT_EQ(back->proxy.user, sent.proxy.user);
  EXPECT_EQ(back->proxy.password, "");
  EXPECT_EQ(back->scratch_dir, sent.scratch_dir);
  // Over the stored settings the stored password stays.
  back = MachineSettingsFromJson(j, sent);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->proxy.password, "correct horse");
}

TEST(MachineSettingsJson, AChangeKeepsWhatItDoesNotName) {
  MachineSettings current = SomeSettings();
  Result<MachineSettings> s = MachineSettingsFromJson(
      {{"throttle", {{"work_start", "07:00"}}}, {"proxy", {{"password", "new one"}}}}, current);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->throttle.work_start_minute, 7 * 60);
  EXPECT_EQ(s->throttle.work_end_minute, current.throttle.work_end_minute);
  EXPECT_EQ(s->throttle.work_bytes_per_second, current.throttle.work_bytes_per_second);
  EXPECT_EQ(s->proxy.url, current.proxy.url);
  EXPECT_EQ(s->proxy.password, "new one");
  EXPECT_EQ(s->scratch_dir, current.scratch_dir);
  // An empty server removes the proxy, its user and password with it.
  s = MachineSettingsFromJson({{"proxy", {{"server", ""}}}}, current);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->proxy.url, "");
  EXPECT_EQ(s->proxy.user, "");
  EXPECT_EQ(s->proxy.password, "");
  s = MachineSettingsFromJson({{"scratch_location", "/srv/scratch"}}, current);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->scratch_dir, "/srv/scratch");
}

TEST(MachineSettingsJson, RefusesWrongShapesNamingTheField) {
  MachineSettings current = SomeSettings();
  for (auto [bad, field] : std::vector<std::pair<json, std::string>>{
           {json::array(), "object"},
           {{{"throttle", "on"}}, "throttle"},
           {{{"throttle", {{"enabled", "yes"}}}}, "enabled"},
           {{{"throttle", {{"work_days", "mon,tue"}}}}, "work_days"},
           {{{"throttle", {{"work_days", {1, 7}}}}}, "7"},
           {{{"throttle", {{"work_days", {-1}}}}}, "-1"},
           {{{"throttle", {{"work_start", "8 am"}}}}, "work_start"},
           {{{"throttle", {{"work_end", 1800}}}}, "work_end"},
           {{{"throttle", {{"work_hour_bytes_per_second", -5}}}}, "work_hour_bytes_per_second"},
           {{{"throttle", {{"non_work_hour_bytes_per_second", "10MB/s"}}}},
            "non_work_hour_bytes_per_second"},
           {{{"proxy", "http://proxy:3128"}}, "proxy"},
           {{{"proxy", {{"server", 3128}}}}, "server"},
           {{{"proxy", {{"password", false}}}}, "password"},
           {{{"scratch_location", json::array()}}, "scratch_location"},
       }) {
    Result<MachineSettings> s = MachineSettingsFromJson(bad, current);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), ErrorCode::kInvalidArgument) << bad;
    EXPECT_NE(s.status().ToString().find(field), std::string::npos)
        << bad << ": " << s.status().ToString();
  }
}

}  // namespace
}  // namespace obagent::engine
