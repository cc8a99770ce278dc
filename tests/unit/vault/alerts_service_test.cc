// VaultService with alerts and the audit log, in process over a
// local-folder store with an injected clock: a failed or warning job report
// raises an alert, a machine deleting most of its objects raises
// mass_deletion, an overdue machine backup_missed; the admin lists and
// acknowledges alerts (audited); administrative requests are audited and
// GET /v1/audit verifies the chain; without alerts the endpoints say so.
#include <memory>
#include <string>
#include <vector>

#include "obagent/vault/alerts.h"
#include "obagent/vault/audit.h"
#include "vault/service_fixture.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

// ServiceFixture's vaultd with an alert center and an audit log (while
// with_alerts_), a mass-deletion rule of 3 of half the objects in an hour
// and a backup expected every hour.
class AlertsServiceTest : public vault_test::ServiceFixture {
 protected:
  void OpenParts() override {
    auto clock = [this] { return now_.load(); };
    alerts_ =
        std::move(AlertCenter::Open(platform::Env::Default(), root_ + "/alerts", {.clock = clock}))
            .value();
    audit_ = std::move(AuditLog::Open(platform::Env::Default(), root_, clock)).value();
  }
  ServiceOptions Options() override {
    ServiceOptions options = ServiceFixture::Options();
    if (with_alerts_) {
      options.alerts = alerts_.get();
      options.audit = audit_.get();
    }
    options.mass_deletion = {
        .window_ms = 3600 * 1000, .min_count = 3, .share = 0.5, .max_count = 1000};
    options.expected_backup_interval_ms = 3600 * 1000;
    return options;
  }
  void TearDown() override {
    service_.reset();  // it refers to them
    alerts_.reset();
    audit_.reset();
    ServiceFixture::TearDown();
  }

  std::vector<std::string> Kinds(const std::string& state = "active") {
    Answer a = Admin("GET", "/v1/vaults/prod/alerts", "", "state=" + state);
    EXPECT_EQ(a.status, 200) << a.body.dump();
    std::vector<std::string> out;
    for (const json& alert : a.body["alerts"]) out.push_back(alert["kind"]);
    return out;
  }
  std::vector<std::string> AuditActions() {
    Answer a = Admin("GET", "/v1/audit");
    EXPECT_EQ(a.status, 200);
    EXPECT_TRUE(a.body["verified"].get<bool>()) << a.body.dump();
    std::vector<std::string> out;
    for (const json& e : a.body["entries"]) out.push_back(e["action"]);
    return out;
  }

  bool with_alerts_ = true;
  std::unique_ptr<AlertCenter> alerts_;
  std::unique_ptr<AuditLog> audit_;
};

TEST_F(AlertsServiceTest, JobReportsRaiseAndTheAdminAcknowledges) {
  EXPECT_EQ(Call("POST", "/v1/jobs", R"({"type":"Backup","state":"Completed"})").status, 201);
  EXPECT_TRUE(Kinds().empty());
  EXPECT_EQ(
      Call("POST", "/v1/jobs", R"({"type":"Backup","state":"Failed","error":"disk gone"})").status,
      201);
  now_ += 1000;
  EXPECT_EQ(Call("POST", "/v1/jobs", R"({"type":"Backup","state":"CompletedWithWarnings"})").status,
            201);
  Answer list = Admin("GET", "/v1/vaults/prod/alerts");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["alerts"].size(), 2u);
  json failed = list.body["alerts"][1];  // newest first
  EXPECT_EQ(failed["kind"], "job_failed");
  EXPECT_EQ(failed["machine"], "server1");
  EXPECT_EQ(failed["details"]["job"]["error"], "disk gone");
  const std::string id = failed["id"];

  // The machine cannot see or acknowledge alerts.
  EXPECT_EQ(Call("GET", "/v1/vaults/prod/alerts").status, 401);
  EXPECT_EQ(Call("POST", "/v1/vaults/prod/alerts/" + id + "/ack").status, 401);
  Answer ack = Admin("POST", "/v1/vaults/prod/alerts/" + id + "/ack", R"({"by":"oncall"})");
  ASSERT_EQ(ack.status, 200) << ack.body.dump();
  EXPECT_EQ(ack.body["state"], "acknowledged");
  EXPECT_EQ(ack.body["acknowledged_by"], "oncall");
  EXPECT_EQ(Kinds(), std::vector<std::string>{"job_warning"});
  EXPECT_EQ(Kinds("all").size(), 2u);
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/alerts/0000000000000-00000000/ack").status, 404);
  EXPECT_EQ(Admin("POST", "/v1/vaults/nope/alerts/" + id + "/ack").status, 404);
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/alerts", "", "state=some").status, 400);
  // Acknowledged once in the audit log, though acknowledged twice.
  EXPECT_TRUE(Admin("POST", "/v1/vaults/prod/alerts/" + id + "/ack").body["already_acknowledged"]);
  EXPECT_EQ(AuditActions(), std::vector<std::string>{"alert.ack"});
}

TEST_F(AlertsServiceTest, MassDeletionRaisesOnce) {
  Answer lease = Call("POST", "/v1/lease", R"({"holder":"t","ttl_seconds":600})");
  lease_ = lease.body.value("lease_id", "");
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Call("PUT", "/v1/objects/index/i" + std::to_string(i), "x").status, 201);
  }
  EXPECT_EQ(Call("DELETE", "/v1/objects/index/i0").status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/objects/index/i1").status, 204);
  EXPECT_TRUE(Kinds().empty());
  EXPECT_EQ(Call("DELETE", "/v1/objects/index/i2").status, 204);  // 3 of 4
  EXPECT_EQ(Kinds(), std::vector<std::string>{"mass_deletion"});
  EXPECT_EQ(Call("DELETE", "/v1/objects/index/i3").status, 204);
  Answer list = Admin("GET", "/v1/vaults/prod/alerts");
  ASSERT_EQ(list.body["alerts"].size(), 1u);
  EXPECT_EQ(list.body["alerts"][0]["count"], 1);
  EXPECT_EQ(list.body["alerts"][0]["severity"], "critical");
}

TEST_F(AlertsServiceTest, MissedBackups) {
  service_->CheckMissedBackups();
  EXPECT_TRUE(Kinds().empty());
  now_ += 3600 * 1000 + 1;
  service_->CheckMissedBackups();
  EXPECT_EQ(Kinds(), std::vector<std::string>{"backup_missed"});
  service_->CheckMissedBackups();  // the same miss: not counted again
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/alerts").body["alerts"][0]["count"], 1);
  // A successful backup, then silence again: a new miss, counted on the
  // active alert.
  EXPECT_EQ(Call("POST", "/v1/jobs", R"({"type":"Backup","state":"Completed"})").status, 201);
  service_->CheckMissedBackups();
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/alerts").body["alerts"][0]["count"], 1);
  now_ += 3600 * 1000 + 1;
  service_->CheckMissedBackups();
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/alerts").body["alerts"][0]["count"], 2);
}

TEST_F(AlertsServiceTest, AdministrativeRequestsAreAudited) {
  EXPECT_EQ(Admin("POST", "/v1/vaults", R"({"name":"second"})").status, 201);
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/credentials", "{}").status, 200);
  EXPECT_EQ(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":30})").status, 200);
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/machines/server1/undelete",
                  R"({"since":"2020-01-01T00:00:00Z"})")
                .status,
            200);
  EXPECT_EQ(Admin("POST", "/v1/deleted/purge").status, 200);
  // Refused requests change nothing and are not entries.
  EXPECT_EQ(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":1})").status, 400);
  EXPECT_EQ(Call("GET", "/v1/audit").status, 401);
  EXPECT_EQ(AuditActions(),
            (std::vector<std::string>{"vault.create", "vault.credentials", "vault.settings",
                                      "machine.undelete", "deleted.purge"}));
  Answer limited = Admin("GET", "/v1/audit", "", "limit=2");
  ASSERT_EQ(limited.body["entries"].size(), 2u);
  EXPECT_EQ(limited.body["lines"], 5);
  EXPECT_EQ(limited.body["entries"][1]["actor"], "admin");
  EXPECT_EQ(limited.body["entries"][0]["details"]["machine_id"], json());  // not a field there
}

TEST_F(AlertsServiceTest, WithoutAlertsTheEndpointsSaySo) {
  with_alerts_ = false;
  Restart();
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/alerts").status, 503);
  EXPECT_EQ(Admin("GET", "/v1/audit").status, 503);
  // And the requests that would raise still work.
  EXPECT_EQ(Call("POST", "/v1/jobs", R"({"type":"Backup","state":"Failed"})").status, 201);
  EXPECT_EQ(Admin("POST", "/v1/vaults", R"({"name":"second"})").status, 201);
}

}  // namespace
}  // namespace obagent::vault
