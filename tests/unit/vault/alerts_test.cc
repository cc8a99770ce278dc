// vaultd's alerts and audit log without a server: AlertCenter stores,
// reloads and collapses alerts, delivers them on its worker with retries
// (a fake channel), says when a delivery failed, queues again what was
// pending at a restart; the raising rules (job reports, missed backups,
// mass deletion); the audit log's hash chain and what tampering it finds.
#include "obagent/vault/alerts.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "obagent/vault/alert_delivery.h"
#include "obagent/vault/audit.h"

namespace obagent::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "obagent-alerts-XXXXXX").string();
    EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fails its first `failures` deliveries, then succeeds; counts them.
class FakeChannel final : public AlertChannel {
 public:
  FakeChannel(std::string name, int failures, std::atomic<int>* calls)
      : name_(std::move(name)), failures_(failures), calls_(calls) {}
  std::string name() const override { return name_; }
  Status Deliver(const AlertRecord&) override {
    int n = ++*calls_;
    if (n <= failures_) return IoError("refused, attempt " + std::to_string(n));
    return Status::Ok();
  }

 private:
  std::string name_;
  int failures_;
  std::atomic<int>* calls_;
};

AlertInput Input(std::string kind, std::string machine, std::string summary = "something") {
  return {std::move(kind), "warning", "vault1", std::move(machine), std::move(summary), ""};
}

class AlertCenterTest : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::off); }
  std::unique_ptr<AlertCenter> Open(AlertCenterOptions options = {}) {
    options.clock = [this] { return now_.load(); };
    auto c = AlertCenter::Open(platform::Env::Default(), dir_.path() + "/alerts", options);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  TempDir dir_;
  std::atomic<int64_t> now_{1'800'000'000'000};
};

TEST_F(AlertCenterTest, StoresReloadsAndCollapsesRepeats) {
  std::string id;
  {
    auto center = Open();
    auto a = center->Raise({"job_failed", "critical", "vault1", "m1", "first", R"({"n":1})"});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    id = a->id;
    EXPECT_EQ(a->count, 1);
    EXPECT_EQ(a->state, "active");
    now_ += 1000;
    // Same kind and machine while active: counted, not a new alert.
    auto again = center->Raise({"job_failed", "critical", "vault1", "m1", "second", R"({"n":2})"});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->id, id);
    EXPECT_EQ(again->count, 2);
    EXPECT_EQ(again->summary, "second");
    EXPECT_EQ(again->last_ms, now_.load());
    // Another machine or kind: alerts of their own.
    ASSERT_TRUE(center->Raise(Input("job_failed", "m2")).ok());
    ASSERT_TRUE(center->Raise(Input("job_warning", "m1")).ok());
    ASSERT_TRUE(center->Raise(Input("backup_missed", "m1", "x")).ok());
    EXPECT_EQ(center->List("vault1", true).size(), 4u);
    EXPECT_TRUE(center->List("vault2", false).empty());
  }
  auto reopened = Open();
  auto a = reopened->Find(id);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->count, 2);
  EXPECT_EQ(json::parse(a->detail_json)["n"], 2);
  EXPECT_EQ(reopened->List("vault1", false).size(), 4u);
}

TEST_F(AlertCenterTest, AcknowledgeEndsCollapsingAndFilters) {
  auto center = Open();
  auto a = center->Raise(Input("mass_deletion", "m1"));
  ASSERT_TRUE(a.ok());
  now_ += 5000;
  auto acked = center->Acknowledge(a->id, "oncall");
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->state, "acknowledged");
  EXPECT_EQ(acked->acknowledged_by, "oncall");
  EXPECT_EQ(acked->acknowledged_ms, now_.load());
  // Again: unchanged.
  now_ += 5000;
  auto twice = center->Acknowledge(a->id, "someone else");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->acknowledged_by, "oncall");
  EXPECT_TRUE(center->List("vault1", true).empty());
  EXPECT_EQ(center->List("vault1", false).size(), 1u);
  // The same kind again after the acknowledgement is a new alert.
  auto fresh = center->Raise(Input("mass_deletion", "m1"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->id, a->id);
  EXPECT_EQ(center->Acknowledge("0000000000000-00000000", "x").status().code(),
            ErrorCode::kNotFound);
}

TEST_F(AlertCenterTest, RefusesBadInput) {
  auto center = Open();
  EXPECT_EQ(center->Raise(Input("no_such_kind", "m")).status().code(), ErrorCode::kInvalidArgument);
  AlertInput bad_severity = Input("anomaly", "m");
  bad_severity.severity = "meh";
  EXPECT_EQ(center->Raise(bad_severity).status().code(), ErrorCode::kInvalidArgument);
  AlertInput bad_detail = Input("anomaly", "m");
  bad_detail.detail_json = "[1,2]";
  EXPECT_EQ(center->Raise(bad_detail).status().code(), ErrorCode::kInvalidArgument);
  // A summary becomes one line (it is a mail subject).
  auto a = center->Raise(Input("anomaly", "m", "line one\r\nBcc: x@y"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->summary.find('\n'), std::string::npos);
  EXPECT_EQ(a->summary.find('\r'), std::string::npos);
  EXPECT_TRUE(center->List("vault1", false).size() == 1u);
}

TEST_F(AlertCenterTest, DeliversWithRetriesAndRecordsTheOutcome) {
  std::atomic<int> flaky_calls{0}, dead_calls{0};
  AlertCenterOptions options;
  options.first_retry_ms = 1;
  options.max_attempts = 3;
  auto center = Open(options);
  center->AddChannel(std::make_unique<FakeChannel>("email", 2, &flaky_calls));
  center->AddChannel(std::make_unique<FakeChannel>("webhook", 1000, &dead_calls));
  center->Start();
  auto a = center->Raise(Input("job_failed", "m1"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->delivery.at("email").state, "pending");
  ASSERT_TRUE(center->WaitIdle(60000));
  auto done = center->Find(a->id);
  EXPECT_EQ(done->delivery.at("email").state, "delivered");
  EXPECT_EQ(done->delivery.at("email").attempts, 3);
  EXPECT_EQ(done->delivery.at("webhook").state, "failed");
  EXPECT_EQ(done->delivery.at("webhook").attempts, 3);
  EXPECT_NE(done->delivery.at("webhook").last_error.find("refused"), std::string::npos);
  EXPECT_EQ(dead_calls.load(), 3);
  // A repeat is collapsed and not delivered again.
  ASSERT_TRUE(center->Raise(Input("job_failed", "m1")).ok());
  ASSERT_TRUE(center->WaitIdle(60000));
  EXPECT_EQ(flaky_calls.load(), 3);
  // Stored.
  center->Stop();
  auto reopened = Open();
  EXPECT_EQ(reopened->Find(a->id)->delivery.at("email").state, "delivered");
}

TEST_F(AlertCenterTest, AFullQueueFailsTheDeliveryNotTheRaise) {
  std::atomic<int> calls{0};
  AlertCenterOptions options;
  options.max_queue = 0;
  auto center = Open(options);
  center->AddChannel(std::make_unique<FakeChannel>("email", 0, &calls));
  center->Start();
  auto a = center->Raise(Input("anomaly", "m1"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(center->WaitIdle(60000));
  auto stored = center->Find(a->id);
  EXPECT_EQ(stored->delivery.at("email").state, "failed");
  EXPECT_NE(stored->delivery.at("email").last_error.find("queue is full"), std::string::npos);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(AlertCenterTest, PendingDeliveriesAreSentAfterARestart) {
  std::string id;
  {
    std::atomic<int> unused{0};
    auto center = Open();
    center->AddChannel(std::make_unique<FakeChannel>("email", 0, &unused));
    // Not started: vaultd stopped before the worker got to it.
    auto a = center->Raise(Input("backup_missed", "m1"));
    ASSERT_TRUE(a.ok());
    id = a->id;
  }
  std::atomic<int> calls{0};
  auto center = Open();
  EXPECT_EQ(center->Find(id)->delivery.at("email").state, "pending");
  center->AddChannel(std::make_unique<FakeChannel>("email", 0, &calls));
  center->Start();
  ASSERT_TRUE(center->WaitIdle(60000));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(center->Find(id)->delivery.at("email").state, "delivered");
}

TEST_F(AlertCenterTest, ACorruptRecordStopsOpen) {
  { auto center = Open(); }
  std::ofstream(dir_.path() + "/alerts/0000000000001-abcdef01.json") << "{not json";
  auto c = AlertCenter::Open(platform::Env::Default(), dir_.path() + "/alerts");
  EXPECT_EQ(c.status().code(), ErrorCode::kCorrupt);
}

// ----- rules

TEST(AlertRules, JobReports) {
  auto failed = AlertForJobReport("v", "m", "server1",
                                  R"({"type":"Backup","state":"Failed","error":"disk gone"})");
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->kind, "job_failed");
  EXPECT_EQ(failed->severity, "critical");
  EXPECT_NE(failed->summary.find("disk gone"), std::string::npos);
  EXPECT_EQ(json::parse(failed->detail_json)["job"]["state"], "Failed");
  auto warned = AlertForJobReport("v", "m", "server1",
                                  R"({"type":"Backup","state":"CompletedWithWarnings"})");
  ASSERT_TRUE(warned.has_value());
  EXPECT_EQ(warned->kind, "job_warning");
  EXPECT_FALSE(AlertForJobReport("v", "m", "s", R"({"type":"Backup","state":"Completed"})"));
  EXPECT_FALSE(AlertForJobReport("v", "m", "s", "not json"));
  EXPECT_TRUE(IsSuccessfulBackup(R"({"type":"backup","state":"Completed"})"));
  EXPECT_TRUE(IsSuccessfulBackup(R"({"type":"Backup","state":"CompletedWithWarnings"})"));
  EXPECT_FALSE(IsSuccessfulBackup(R"({"type":"Backup","state":"Failed"})"));
  EXPECT_FALSE(IsSuccessfulBackup(R"({"type":"Prune","state":"Completed"})"));
}

TEST(AlertRules, ExpectedInterval) {
  EXPECT_EQ(ExpectedBackupIntervalMs({}, 5000), 5000);
  EXPECT_FALSE(ExpectedBackupIntervalMs({0, 100}, 0).has_value());
  // Gaps 100, 100, 400: the median 100, times 1.5.
  EXPECT_EQ(ExpectedBackupIntervalMs({0, 100, 200, 600}, 0), 150);
}

TEST(AlertRules, MissedBackupOncePerMiss) {
  MissedBackupWatch watch;
  MissedBackupWatch::Machine m{"v", "m1", "server1", 1000, {}};
  EXPECT_FALSE(watch.Check(m, 5000, 10000).has_value());
  auto missed = watch.Check(m, 12000, 10000);
  ASSERT_TRUE(missed.has_value());
  EXPECT_EQ(missed->kind, "backup_missed");
  EXPECT_NE(missed->summary.find("since its registration"), std::string::npos);
  EXPECT_FALSE(watch.Check(m, 20000, 10000).has_value());  // the same miss
  m.successes_ms = {21000};
  EXPECT_FALSE(watch.Check(m, 25000, 10000).has_value());
  EXPECT_TRUE(watch.Check(m, 32000, 10000).has_value());  // a new miss
  // Learnt intervals: no alert before there is something to learn from.
  MissedBackupWatch learnt;
  MissedBackupWatch::Machine young{"v", "m2", "s", 0, {0, 1000}};
  EXPECT_FALSE(learnt.Check(young, 1'000'000, 0).has_value());
}

TEST(AlertRules, MassDeletion) {
  MassDeletionRules rules;
  rules.window_ms = 1000;
  rules.min_count = 4;
  rules.share = 0.5;
  rules.max_count = 100;
  MassDeletionWatch watch(rules);
  int listings = 0;
  auto many = [&] {
    ++listings;
    return size_t{1000};
  };
  // 4 deletes of 1004 objects: not a mass deletion; the count is checked
  // again at 8, not on every delete.
  for (int i = 0; i < 7; ++i) EXPECT_EQ(watch.Note("m1", i, many), 0u);
  EXPECT_EQ(listings, 1);
  // A machine with few objects: 4 of 6 is a mass deletion, reported once.
  auto few = [] { return size_t{2}; };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(watch.Note("m2", i, few), 0u);
  EXPECT_EQ(watch.Note("m2", 3, few), 4u);
  EXPECT_EQ(watch.Note("m2", 4, few), 0u);
  // After a quiet window it can fire again.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(watch.Note("m2", 5000 + i, few), 0u);
  EXPECT_EQ(watch.Note("m2", 5003, few), 4u);
  // max_count fires whatever the share.
  MassDeletionWatch capped({1000, 1000, 0.5, 5});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(capped.Note("m", i, many), 0u);
  EXPECT_EQ(capped.Note("m", 4, many), 5u);
}

// ----- delivery helpers

TEST(AlertDelivery, DotStuffing) {
  EXPECT_EQ(DotStuff("a\n.b\n..c\nd."), "a\r\n..b\r\n...c\r\nd.\r\n");
  EXPECT_EQ(DotStuff(".\r\nx\r\n"), "..\r\nx\r\n");
  EXPECT_EQ(DotStuff("one\rtwo"), "one\r\ntwo\r\n");
  EXPECT_EQ(DotStuff(""), "");
}

TEST(AlertDelivery, WebhookSignatureIsHmacOverTimestampAndBody) {
  // python3: hmac.new(b"0123456789abcdef-secret", b'1796584217.{"a":1}',
  // hashlib.sha256).hexdigest()
  EXPECT_EQ(WebhookSignature("0123456789abcdef-secret", "1796584217", R"({"a":1})"),
            "sha256=3cd0e0b550c6fc6e96e0eccf710e097a9f16a882b4b65915df76a2d03fc9eba9");
}

TEST(AlertDelivery, SmtpSettingsAreChecked) {
  SmtpSettings s;
  s.server = "mail.example.test";
  s.from = "vaultd@example.test";
  s.to = {"admin@example.test"};
  EXPECT_TRUE(ValidateSmtpSettings(s).ok());
  SmtpSettings plain_auth = s;
  plain_auth.starttls = "off";
  plain_auth.user = "u";
  EXPECT_EQ(ValidateSmtpSettings(plain_auth).code(), ErrorCode::kInvalidArgument);
  SmtpSettings injected = s;
  injected.to = {"a@b.test>\r\nRCPT TO:<evil@x.test"};
  EXPECT_EQ(ValidateSmtpSettings(injected).code(), ErrorCode::kInvalidArgument);
  SmtpSettings nobody = s;
  nobody.to.clear();
  EXPECT_EQ(ValidateSmtpSettings(nobody).code(), ErrorCode::kInvalidArgument);
  SmtpSettings mode = s;
  mode.starttls = "maybe";
  EXPECT_EQ(ValidateSmtpSettings(mode).code(), ErrorCode::kInvalidArgument);
}

// ----- audit log

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::off); }
  std::unique_ptr<AuditLog> Open() {
    auto log =
        AuditLog::Open(platform::Env::Default(), dir_.path(), [] { return 1'800'000'000'000; });
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  std::string Text() {
    std::ifstream in(dir_.path() + "/" + kAuditFileName, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Write(const std::string& text) {
    std::ofstream(dir_.path() + "/" + kAuditFileName, std::ios::binary | std::ios::trunc) << text;
  }
  void AppendThree() {
    auto log = Open();
    ASSERT_TRUE(log->Append({"admin", "vault.create", "v1", "", R"({"name":"prod"})"}).ok());
    ASSERT_TRUE(log->Append({"admin", "vault.credentials", "v1", "", ""}).ok());
    ASSERT_TRUE(log->Append({"registration", "machine.register", "v1", "m1", ""}).ok());
  }
  TempDir dir_;
};

TEST_F(AuditTest, ChainsAndReadsBack) {
  AppendThree();
  auto log = Open();
  ASSERT_TRUE(log->Append({"admin", "alert.ack", "v1", "m1", R"({"alert_id":"x"})"}).ok());
  EXPECT_EQ(log->Append({"admin", "x", "", "", "[1]"}).code(), ErrorCode::kInvalidArgument);
  auto listing = log->Read(0);
  ASSERT_TRUE(listing.ok());
  EXPECT_TRUE(listing->verification.verified) << listing->verification.problem;
  ASSERT_EQ(listing->lines.size(), 4u);
  json first = json::parse(listing->lines[0]);
  EXPECT_EQ(first["seq"], 1);
  EXPECT_EQ(first["prev"], std::string(64, '0'));
  EXPECT_EQ(first["details"]["name"], "prod");
  EXPECT_EQ(first["time"], "2027-01-15T08:00:00Z");
  json last = json::parse(listing->lines[3]);
  EXPECT_EQ(last["seq"], 4);  // continued after reopening
  EXPECT_EQ(last["action"], "alert.ack");
  auto newest = log->Read(2);
  ASSERT_EQ(newest->lines.size(), 2u);
  EXPECT_EQ(json::parse(newest->lines[1])["seq"], 4);
}

TEST_F(AuditTest, AnEditedLineBreaksTheChainAtTheNext) {
  AppendThree();
  std::string text = Text();
  size_t at = text.find("vault.credentials");
  text.replace(at, 17, "vault.credential!");
  Write(text);
  AuditVerification v = VerifyAuditText(Text());
  EXPECT_FALSE(v.verified);
  EXPECT_EQ(v.first_bad_line, 3u);
}

TEST_F(AuditTest, ARemovedLineIsFound) {
  AppendThree();
  std::string text = Text();
  size_t end_of_first = text.find('\n');
  Write(text.substr(end_of_first + 1));
  AuditVerification v = VerifyAuditText(Text());
  EXPECT_FALSE(v.verified);
  EXPECT_EQ(v.first_bad_line, 1u);
  // Removing the middle line: the third no longer follows.
  Write(text);
  size_t second_end = text.find('\n', end_of_first + 1);
  Write(text.substr(0, end_of_first + 1) + text.substr(second_end + 1));
  v = VerifyAuditText(Text());
  EXPECT_FALSE(v.verified);
  EXPECT_EQ(v.first_bad_line, 2u);
}

TEST_F(AuditTest, ACutShortLineIsReportedAndTheLogGoesOn) {
  AppendThree();
  std::string text = Text();
  Write(text.substr(0, text.size() - 10));
  auto log = Open();
  ASSERT_TRUE(log->Append({"admin", "vault.create", "v2", "", ""}).ok());
  auto listing = log->Read(0);
  EXPECT_FALSE(listing->verification.verified);
  EXPECT_EQ(listing->verification.first_bad_line, 3u);
  EXPECT_EQ(listing->lines.size(), 4u);
  EXPECT_EQ(json::parse(listing->lines[3])["action"], "vault.create");
}

TEST(AuditText, EmptyVerifies) {
  AuditVerification v = VerifyAuditText("");
  EXPECT_TRUE(v.verified);
  EXPECT_EQ(v.lines, 0u);
  EXPECT_EQ(v.head, std::string(64, '0'));
}

}  // namespace
}  // namespace obagent::vault
