// vaultd's anomaly judgement and hold: the pure rules (no flag on a
// machine's first backups, on small machines or normal churn; flags on mass
// encryption, mass deletion and incompressible new data), the records and
// baselines kept across a restart, and the hold through VaultService::Handle
// (deletes refused with 423, the collector purges nothing of a held machine,
// the acknowledgement releases both).
#include "obagent/vault/anomaly.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "vault/service_fixture.h"

namespace obagent::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// A backup of a machine with `files` files: `changed` changed, `deleted`
// deleted, `added` new; `bytes_new` new bytes of which `raw` did not compress.
BackupFigures Fig(uint64_t files, uint64_t changed, uint64_t deleted = 0, uint64_t added = 0,
                  uint64_t bytes_new = 0, uint64_t raw = 0) {
  BackupFigures f;
  f.recovery_point = "p" + std::to_string(files);
  f.files = files;
  f.files_changed = changed;
  f.files_deleted = deleted;
  f.files_new = added;
  f.bytes_new = bytes_new;
  f.bytes_new_incompressible = raw;
  return f;
}

Baseline Normal(size_t n, uint64_t files = 1000) {
  Baseline b;
  for (size_t i = 0; i < n; ++i) {
    b.recent.push_back(Fig(files, 10 + i, 2, 3, 20 * kMiB, kMiB));  // ~1 % churn, 5 % raw
  }
  return b;
}

bool Has(const std::vector<AnomalyFinding>& f, AnomalyKind kind) {
  for (const auto& x : f) {
    if (x.kind == kind) return true;
  }
  return false;
}

TEST(AnomalyJudge, FirstBackupsAreNeverFlagged) {
  // Everything changed and nothing compresses, but there is no baseline yet.
  BackupFigures all = Fig(5000, 5000, 0, 0, 500 * kMiB, 500 * kMiB);
  EXPECT_TRUE(Judge(Baseline{}, all).empty());
  EXPECT_TRUE(Judge(Normal(2), all).empty());
  EXPECT_FALSE(Judge(Normal(3), all).empty());
}

TEST(AnomalyJudge, NormalChurnIsNotFlagged) {
  Baseline b = Normal(10);
  EXPECT_TRUE(Judge(b, Fig(1000, 15, 3, 4, 25 * kMiB, 2 * kMiB)).empty());
  // A busier day (10 % changed) is still within the rules.
  EXPECT_TRUE(Judge(b, Fig(1000, 80, 20, 30, 60 * kMiB, 3 * kMiB)).empty());
  // Adding many new files is not change: a restore of a folder, a checkout.
  EXPECT_TRUE(Judge(b, Fig(3000, 10, 0, 2000, 300 * kMiB, 10 * kMiB)).empty());
}

TEST(AnomalyJudge, SmallMachinesAreNotFlaggedForMassChange) {
  Baseline b = Normal(5, 50);
  // All 50 files changed and deleted: under the 100-file minimum.
  auto f = Judge(b, Fig(20, 20, 30, 0, kMiB, kMiB / 2));
  EXPECT_FALSE(Has(f, AnomalyKind::kMassChange));
  EXPECT_FALSE(Has(f, AnomalyKind::kMassDeletion));
  // Incompressible data under 4 MiB is not judged either.
  EXPECT_FALSE(Has(f, AnomalyKind::kIncompressible));
}

TEST(AnomalyJudge, MassEncryptionIsFlagged) {
  Baseline b = Normal(5);
  // Every file rewritten with data that does not compress.
  auto f = Judge(b, Fig(1000, 1000, 0, 0, 800 * kMiB, 790 * kMiB));
  EXPECT_TRUE(Has(f, AnomalyKind::kMassChange));
  EXPECT_TRUE(Has(f, AnomalyKind::kIncompressible));
  for (const auto& x : f) {
    EXPECT_GE(x.value, x.threshold);
    EXPECT_FALSE(x.reason.empty());
  }
  // Encrypted copies beside deleted originals (name.locked): deletion and raw data.
  f = Judge(b, Fig(1000, 0, 1000, 1000, 800 * kMiB, 790 * kMiB));
  EXPECT_TRUE(Has(f, AnomalyKind::kMassDeletion));
  EXPECT_TRUE(Has(f, AnomalyKind::kIncompressible));
  EXPECT_FALSE(Has(f, AnomalyKind::kMassChange));  // deletions are reported once
}

TEST(AnomalyJudge, MassDeletionIsFlagged) {
  auto f = Judge(Normal(4), Fig(100, 0, 900));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].kind, AnomalyKind::kMassDeletion);
  EXPECT_NEAR(f[0].value, 0.9, 1e-9);
  EXPECT_NE(f[0].reason.find("900 of 1000 files deleted"), std::string::npos) << f[0].reason;
}

TEST(AnomalyJudge, AMachineThatAlwaysChangesMuchIsJudgedAgainstItself) {
  Baseline b;
  for (int i = 0; i < 6; ++i) b.recent.push_back(Fig(1000, 500 + 10 * i, 0));
  EXPECT_TRUE(Judge(b, Fig(1000, 600, 0)).empty());  // its usual half, a little more
  EXPECT_TRUE(Has(Judge(b, Fig(1000, 1000, 0)), AnomalyKind::kMassChange));
}

TEST(AnomalyJudge, AMachineOfCompressedMediaIsNotFlaggedForIncompressibleData) {
  Baseline b;
  for (int i = 0; i < 5; ++i) b.recent.push_back(Fig(1000, 5, 0, 20, 200 * kMiB, 190 * kMiB));
  EXPECT_FALSE(
      Has(Judge(b, Fig(1000, 5, 0, 50, 500 * kMiB, 495 * kMiB)), AnomalyKind::kIncompressible));
}

TEST(AnomalyJudge, IncompressibleDataMustAlsoGrowBeyondTheUsualAmount) {
  Baseline b;
  // A machine adding ~10 MiB of media and 100 MiB of text a day.
  for (int i = 0; i < 5; ++i) b.recent.push_back(Fig(1000, 5, 0, 20, 110 * kMiB, 10 * kMiB));
  // 30 MiB of raw data of 35 new: share high, but under 4x the usual 10 MiB.
  EXPECT_FALSE(
      Has(Judge(b, Fig(1000, 5, 0, 20, 35 * kMiB, 30 * kMiB)), AnomalyKind::kIncompressible));
  EXPECT_TRUE(
      Has(Judge(b, Fig(1000, 5, 0, 20, 45 * kMiB, 41 * kMiB)), AnomalyKind::kIncompressible));
}

TEST(AnomalyJudge, AdmitKeepsTheNewestBackups) {
  Baseline b;
  for (uint64_t i = 1; i <= 12; ++i) b = Admit(std::move(b), Fig(i, 0));
  ASSERT_EQ(b.recent.size(), 10u);
  EXPECT_EQ(b.recent.front().files, 3u);
  EXPECT_EQ(b.recent.back().files, 12u);
}

TEST(AnomalyJudge, ReportsWithoutFiguresOrAPointAreNotJudged) {
  json r = {{"type", "Backup"},   {"state", "Completed"}, {"recovery_point", "abc"},
            {"files", 10},        {"files_new", 1},       {"files_changed", 2},
            {"files_deleted", 3}, {"bytes_new", 4},       {"bytes_new_incompressible", 5}};
  auto f = FiguresFromReport(r, 7);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->files_deleted, 3u);
  EXPECT_EQ(f->time_ms, 7);
  json older = r;
  older.erase("bytes_new_incompressible");
  EXPECT_FALSE(FiguresFromReport(older, 7).has_value());
  json failed = r;
  failed["state"] = "Failed";
  EXPECT_FALSE(FiguresFromReport(failed, 7).has_value());
  json prune = r;
  prune["type"] = "Prune";
  EXPECT_FALSE(FiguresFromReport(prune, 7).has_value());
  json no_point = r;
  no_point["recovery_point"] = "";
  EXPECT_FALSE(FiguresFromReport(no_point, 7).has_value());
}

// ----- the store and the hold through vaultd

using vault_test::kDay;
using vault_test::kMachineId;
using vault_test::kPack;
const std::string kPoint = "snapshots/" + std::string(64, 'e');

json Report(uint64_t files, uint64_t changed, uint64_t deleted, uint64_t bytes_new, uint64_t raw,
            const std::string& point) {
  return {{"type", "Backup"},         {"state", "Completed"},   {"recovery_point", point},
          {"files", files},           {"files_new", 0},         {"files_changed", changed},
          {"files_deleted", deleted}, {"bytes_new", bytes_new}, {"bytes_new_incompressible", raw}};
}

class AnomalyHoldTest : public vault_test::ServiceFixture {
 protected:
  void Backup(const json& report) {
    Answer a = Call("POST", "/v1/jobs", report.dump());
    ASSERT_EQ(a.status, 201) << a.raw;
    now_ += kDay;
  }
  // Three normal backups, then a mass encryption: the machine is held.
  std::string Flag() {
    for (int i = 0; i < 3; ++i)
      Backup(Report(1000, 10, 1, 30 * kMiB, kMiB, "p" + std::to_string(i)));
    EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies").body["anomalies"].size(), 0u);
    Backup(Report(1000, 1000, 0, 900 * kMiB, 890 * kMiB, "p9"));
    Answer a = Admin("GET", "/v1/vaults/prod/anomalies");
    EXPECT_EQ(a.status, 200) << a.raw;
    EXPECT_EQ(a.body["anomalies"].size(), 1u) << a.raw;
    if (a.body["anomalies"].empty()) return "";
    return a.body["anomalies"][0].value("id", "");
  }
};

TEST_F(AnomalyHoldTest, AFlaggedBackupIsListedWithItsFindings) {
  std::string id = Flag();
  ASSERT_FALSE(id.empty());
  json a = Admin("GET", "/v1/vaults/prod/anomalies").body["anomalies"][0];
  EXPECT_EQ(a.value("machine", ""), "server1");
  EXPECT_EQ(a.value("machine_id", ""), kMachineId);
  EXPECT_EQ(a.value("recovery_point", ""), "p9");
  EXPECT_TRUE(a.value("open", false));
  std::vector<std::string> kinds;
  for (const json& f : a["findings"]) kinds.push_back(f.value("kind", ""));
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "mass-change"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "incompressible-data"), kinds.end());
  EXPECT_EQ(a["figures"].value("files_changed", 0), 1000);
  // A machine token cannot read them; an unknown vault is a 404.
  EXPECT_EQ(Call("GET", "/v1/vaults/prod/anomalies").status, 401);
  EXPECT_EQ(Admin("GET", "/v1/vaults/nope/anomalies").status, 404);
}

TEST_F(AnomalyHoldTest, AHeldMachineCannotDeleteAndTheAckReleasesIt) {
  TakeLease();
  ASSERT_EQ(Call("PUT", "/v1/objects/" + kPack, "pack").status, 201);
  ASSERT_EQ(Call("PUT", "/v1/objects/" + kPoint, "point").status, 201);
  std::string id = Flag();
  ASSERT_FALSE(id.empty());
  TakeLease();  // the days of backups outlived it
  for (const std::string& key : {kPoint, kPack}) {
    Answer a = Call("DELETE", "/v1/objects/" + key);
    EXPECT_EQ(a.status, 423) << a.raw;
    EXPECT_NE(a.body.value("message", "").find(id), std::string::npos) << a.raw;
    EXPECT_NE(a.body.value("message", "").find("acknowledge"), std::string::npos) << a.raw;
  }
  // Still listed and readable: nothing was deleted, not even softly.
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPoint).status, 200);
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/machines/server1/deleted").body["objects"].size(), 0u);
  // Backups go on while held.
  EXPECT_EQ(Call("PUT", "/v1/objects/snapshots/" + std::string(64, 'f'), "next").status, 201);

  Answer ack = Admin("POST", "/v1/vaults/prod/anomalies/" + id + "/ack");
  ASSERT_EQ(ack.status, 200) << ack.raw;
  EXPECT_FALSE(ack.body.value("open", true));
  EXPECT_FALSE(ack.body.value("held", true));
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies").body["anomalies"].size(), 0u);
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies", "", "all=1").body["anomalies"].size(), 1u);
  // The hold is gone: a pack deletes (softly). The point itself stays
  // protected by its retention floor (GuardTest), which the ack does not lift.
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPoint).status, 403);
  // Acknowledging again changes nothing; an unknown id is a 404.
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/anomalies/" + id + "/ack").status, 200);
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/anomalies/000000000000001-abcdefabcdef/ack").status,
            404);
  EXPECT_EQ(Call("POST", "/v1/vaults/prod/anomalies/" + id + "/ack").status, 401);
}

TEST_F(AnomalyHoldTest, TheCollectorPurgesNothingOfAHeldMachine) {
  TakeLease();
  ASSERT_EQ(Call("PUT", "/v1/objects/" + kPack, "pack").status, 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);  // before the flag
  lease_.clear();
  std::string id = Flag();
  ASSERT_FALSE(id.empty());
  now_ += 30 * kDay;  // long past the 14 days
  PurgeReport r = service_->PurgeExpired();
  EXPECT_EQ(r.purged, 0u);
  EXPECT_EQ(r.kept, 1u);
  EXPECT_TRUE(Stored(kPack));
  ASSERT_EQ(Admin("POST", "/v1/vaults/prod/anomalies/" + id + "/ack").status, 200);
  EXPECT_EQ(service_->PurgeExpired().purged, 1u);
  EXPECT_FALSE(Stored(kPack));
}

TEST_F(AnomalyHoldTest, TheHoldAndTheBaselineSurviveARestart) {
  std::string id = Flag();
  ASSERT_FALSE(id.empty());
  Restart();
  TakeLease();
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 423);
  ASSERT_EQ(Admin("POST", "/v1/vaults/prod/anomalies/" + id + "/ack").status, 200);
  Restart();  // the lease is kept across the restart
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  // The baseline came back too (the flagged backup is not in it): a second
  // mass encryption is flagged at once.
  AnomalyStore store(platform::Env::Default(), root_ + "/meta");
  auto b = store.FindBaseline(kMachineId);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->recent.size(), 3u);
  Backup(Report(1000, 1000, 0, 900 * kMiB, 890 * kMiB, "p10"));
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies").body["anomalies"].size(), 1u);
}

TEST_F(AnomalyHoldTest, UnreadableRecordsHoldEveryMachine) {
  fs::create_directories(root_ + "/meta/anomalies/" + kMachineId);
  std::ofstream(root_ + "/meta/anomalies/" + std::string(kMachineId) + "/x.json") << "{broken";
  Restart();
  TakeLease();
  Answer a = Call("DELETE", "/v1/objects/" + kPack);
  EXPECT_EQ(a.status, 423) << a.raw;
  EXPECT_NE(a.body.value("message", "").find("cannot read"), std::string::npos) << a.raw;
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies").status, 500);
}

TEST_F(AnomalyHoldTest, OtherMachinesAndNormalBackupsAreNotHeld) {
  for (int i = 0; i < 6; ++i)
    Backup(Report(1000, 10 + i, 2, 30 * kMiB, kMiB, "n" + std::to_string(i)));
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/anomalies", "", "all=1").body["anomalies"].size(), 0u);
  TakeLease();
  ASSERT_EQ(Call("PUT", "/v1/objects/" + kPack, "pack").status, 201);
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
}

}  // namespace
}  // namespace obagent::vault
