// The local API's requests and answers, without a transport, and over the
// real platform transport (a Unix socket / named pipe) in the state folder.
#include "obagent/api/local_api.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "obagent/engine/wire.h"

namespace obagent::api {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class LocalApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("local-api-test-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    engine_ = std::make_unique<engine::EngineService>(
        env_, engine::EngineOptions{dir_.string(), "/usr/bin/obctl", {}});
  }
  void TearDown() override {
    engine_.reset();
    std::error_code ec;  // the engine log may stay open (Windows)
    fs::remove_all(dir_, ec);
  }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
  std::unique_ptr<engine::EngineService> engine_;
};

TEST_F(LocalApiTest, RejectsMalformedAndUnknownRequests) {
  for (const json& request : {json(42), json::object(), json{{"op", 7}}, json{{"op", "format"}}}) {
    json answer = HandleRequest(*engine_, env_, request);
    EXPECT_FALSE(answer["ok"].get<bool>()) << request;
    EXPECT_FALSE(answer["message"].get<std::string>().empty());
  }
  json answer = HandleRequest(*engine_, env_, {{"op", "backup_now"}, {"trigger", "Whenever"}});
  EXPECT_FALSE(answer["ok"].get<bool>());
  answer = HandleRequest(*engine_, env_, {{"op", "job_stop"}});
  EXPECT_NE(answer["message"].get<std::string>().find("needs a job"), std::string::npos);
}

// fuzz finding (tests/fuzz/local_api.cc): a field of the wrong type threw
// json::type_error out of HandleRequest, which terminated cbengine from
// the connection's thread. Every line gets a JSON answer instead.
TEST_F(LocalApiTest, FieldsOfTheWrongTypeAreRefusedNotFatal) {
  for (const char* line :
       {R"({"op":"backup_now","trigger":1})", R"({"op":"backup_now","trigger":["BackupNow"]})",
        R"({"op":"wait_job","id":"abcdef12","timeout_ms":"soon"})",
        R"({"op":"wait_job","id":"abcdef12","timeout_ms":1.5})"}) {
    std::string answer;
    ASSERT_NO_THROW(answer = HandleRequestLine(*engine_, env_, line)) << line;
    json j = json::parse(answer, nullptr, false);
    ASSERT_TRUE(j.is_object()) << answer;
    EXPECT_FALSE(j["ok"].get<bool>()) << line;
    EXPECT_EQ(j["code"], "InvalidArgument") << answer;
    EXPECT_NE(j["message"].get<std::string>().find("must be"), std::string::npos) << answer;
  }
  json bad = json::parse(HandleRequestLine(*engine_, env_, "{not json"));
  EXPECT_FALSE(bad["ok"].get<bool>());
  EXPECT_NE(bad["message"].get<std::string>().find("one line of JSON"), std::string::npos);
}

TEST_F(LocalApiTest, StatusAndErrorsCarryTheirCodes) {
  json status = HandleRequest(*engine_, env_, {{"op", "status"}});
  EXPECT_TRUE(status["ok"].get<bool>());
  EXPECT_TRUE(status["running"].is_null());
  EXPECT_EQ(status["pid"].get<int64_t>(), env_.ProcessId());
  json stop = HandleRequest(*engine_, env_, {{"op", "job_stop"}, {"id", "abcdef12"}});
  EXPECT_FALSE(stop["ok"].get<bool>());
  // Codes cross by name, never by the enum's number.
  EXPECT_EQ(stop["code"], "NotFound");
  Status read;
  ASSERT_TRUE(engine::StatusFromJson(stop, &read).ok());
  EXPECT_EQ(read.code(), ErrorCode::kNotFound);
}

TEST_F(LocalApiTest, JobRecordsRoundTrip) {
  engine::JobRecord r;
  r.id = "0123456789abcdef";
  r.type = "Backup";
  r.state = engine::JobState::kCompletedWithWarnings;
  r.start_ns = 5;
  r.end_ns = 9;
  r.files = 3;
  r.bytes_scanned = 100;
  r.bytes_transferred = 40;
  r.recovery_point = "point";
  r.error = "";
  r.failed_files_log = "/x/LastBackupFailedFiles-0123.txt";
  r.summary = "3 of 3 sampled files (of 9) restored and identical";
  engine::JobRecord back = engine::JobRecordFromJson(engine::JobRecordToJson(r)).value();
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.state, r.state);
  EXPECT_EQ(back.bytes_transferred, r.bytes_transferred);
  EXPECT_EQ(back.failed_files_log, r.failed_files_log);
  EXPECT_EQ(back.summary, r.summary);
}

// Run a restore drill now: a RecoveryTest job of the engine (failed here:
// no vault is registered), waited for like any job.
TEST_F(LocalApiTest, RecoveryTestStartsARecoveryTestJob) {
  json started = HandleRequest(*engine_, env_, {{"op", "recovery_test"}});
  ASSERT_TRUE(started["ok"].get<bool>()) << started;
  EXPECT_EQ(started["job"]["type"], "RecoveryTest");
  json done = HandleRequest(
      *engine_, env_, {{"op", "wait_job"}, {"id", started["job"]["id"]}, {"timeout_ms", 60000}});
  ASSERT_TRUE(done["ok"].get<bool>()) << done;
  EXPECT_EQ(done["job"]["state"], "Failed");
  EXPECT_FALSE(done["job"]["error"].get<std::string>().empty());
}

TEST_F(LocalApiTest, ServesOverThePlatformTransportAndRefusesASecondListener) {
  auto listener = env_.ListenLocal(env_.LocalApiAddress(dir_.string()));
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  auto second = env_.ListenLocal(env_.LocalApiAddress(dir_.string()));
  EXPECT_FALSE(second.ok());
  LocalApiServer server(*engine_, env_, std::move(listener).value());
  server.Start();
  for (int i = 0; i < 3; ++i) {
    auto answer = CallEngine(env_, dir_.string(), {{"op", "status"}});
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ((*answer)["pid"].get<int64_t>(), env_.ProcessId());
  }
  auto refused = CallEngine(env_, dir_.string(), {{"op", "job_stop"}, {"id", "ffff0000"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kNotFound);
  server.Close();
  auto gone = CallEngine(env_, dir_.string(), {{"op", "status"}});
  ASSERT_FALSE(gone.ok());
  // Its own code (0x80070426), so obctl need not read the message.
  EXPECT_EQ(gone.status().code(), ErrorCode::kEngineNotRunning);
  EXPECT_EQ(CatalogueId(gone.status().code()), "0x80070426");
  EXPECT_NE(gone.status().detail().find("not running"), std::string::npos);
}

// A line nested 100,000 levels deep (nlohmann alone overflows its stack
// there) is answered with an error; the engine serves on.
TEST_F(LocalApiTest, ADeeplyNestedLineIsRefusedBeforeParsing) {
  auto listener = env_.ListenLocal(env_.LocalApiAddress(dir_.string()));
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  LocalApiServer server(*engine_, env_, std::move(listener).value());
  server.Start();
  auto connection = env_.ConnectLocal(env_.LocalApiAddress(dir_.string()));
  ASSERT_TRUE(connection.ok()) << connection.status().ToString();
  ASSERT_TRUE((*connection)->WriteLine(std::string(100000, '[') + std::string(100000, ']')).ok());
  auto line = (*connection)->ReadLine();
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  json answer = json::parse(*line);
  EXPECT_FALSE(answer["ok"].get<bool>());
  EXPECT_NE(answer["message"].get<std::string>().find("nested deeper than 64 levels"),
            std::string::npos)
      << answer;
  auto status = CallEngine(env_, dir_.string(), {{"op", "status"}});
  EXPECT_TRUE(status.ok()) << status.status().ToString();
  server.Close();
}

}  // namespace
}  // namespace obagent::api
