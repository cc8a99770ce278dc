// vaultd's protection of a machine's objects against the machine itself
// (a compromised server): objects are write-once (the same bytes again are
// accepted, other bytes refused, also when sent concurrently), deletes are
// soft (hidden, kept the vault's soft_delete_days, revived by the same
// bytes, purged by the collector after their time and never before), and
// the administrator lists and undeletes. VaultService::Handle in process
// over a local-folder store, with an injected clock.
#include <string>
#include <thread>
#include <vector>

#include "vault/service_fixture.h"

namespace obagent::vault {
namespace {

using nlohmann::json;
using SoftDeleteTest = vault_test::ServiceFixture;
using vault_test::kDay;
using vault_test::kMachineId;
using vault_test::kPack;

TEST_F(SoftDeleteTest, SameBytesAreAcceptedOtherBytesRefusedWithTheKey) {
  TakeLease();
  EXPECT_EQ(Put(kPack, "pack bytes"), 201);
  EXPECT_EQ(Put(kPack, "pack bytes"), 200);  // a repeated upload
  Answer refused = Call("PUT", "/v1/objects/" + kPack, "garbage over the pack");
  EXPECT_EQ(refused.status, 409);
  const std::string message = refused.body.value("message", "");
  EXPECT_NE(message.find(kPack), std::string::npos) << message;
  EXPECT_NE(message.find("write-once"), std::string::npos) << message;
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).raw, "pack bytes");
  // A longer or empty body is refused as well.
  EXPECT_EQ(Put(kPack, "pack bytes and more"), 409);
  EXPECT_EQ(Put(kPack, ""), 409);
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).raw, "pack bytes");
}

TEST_F(SoftDeleteTest, TheMachineRecordStaysReplaceable) {
  TakeLease();
  EXPECT_EQ(Put("machine.json", R"({"key_id":"k1"})"), 201);
  EXPECT_EQ(Put("machine.json", R"({"key_id":"k2"})"), 201);
  EXPECT_EQ(Call("GET", "/v1/objects/machine.json").raw, R"({"key_id":"k2"})");
}

TEST_F(SoftDeleteTest, ConcurrentPutsOfOneKeyCreateItOnceAndRefuseTheOthers) {
  TakeLease();
  constexpr int kWriters = 8;
  std::vector<int> status(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      // Two writers per body: the second of a pair may meet its twin.
      status[i] = Put(kPack, "body " + std::to_string(i / 2));
    });
  }
  for (auto& t : threads) t.join();
  int created = 0;
  int winner = -1;
  for (int i = 0; i < kWriters; ++i) {
    if (status[i] == 201) {
      ++created;
      winner = i;
    }
  }
  ASSERT_EQ(created, 1);
  const std::string stored = Call("GET", "/v1/objects/" + kPack).raw;
  EXPECT_EQ(stored, "body " + std::to_string(winner / 2));
  for (int i = 0; i < kWriters; ++i) {
    if (i == winner) continue;
    EXPECT_EQ(status[i], i / 2 == winner / 2 ? 200 : 409) << "writer " << i;
  }
}

TEST_F(SoftDeleteTest, ADeleteHidesTheObjectButKeepsItsBytes) {
  TakeLease();
  const std::string point = "snapshots/" + std::string(64, 'c');
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Put(point, "point"), 201);
  ASSERT_EQ(Points().size(), 1u);
  now_ += 7 * kDay;  // the retention floor (guard_test.cc)
  TakeLease();
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + point).status, 204);
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + point).status, 204);  // again: no error
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).status, 404);
  EXPECT_EQ(Call("HEAD", "/v1/objects/" + kPack).status, 404);
  EXPECT_TRUE(Keys().empty());
  EXPECT_TRUE(Points().empty());
  EXPECT_TRUE(Stored(kPack));
  EXPECT_TRUE(Stored(point));
  // Other bytes under a deleted key are refused and it stays hidden.
  EXPECT_EQ(Put(kPack, "garbage"), 409);
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).status, 404);
  // Its own bytes bring it back.
  EXPECT_EQ(Put(kPack, "pack"), 200);
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).raw, "pack");
  EXPECT_EQ(Keys(), std::vector<std::string>{kPack});
}

TEST_F(SoftDeleteTest, TheCollectorPurgesAfterTheVaultsDaysAndNeverBefore) {
  TakeLease();
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Put("index/" + std::string(64, 'd'), "index"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  now_ += 14 * kDay - 1;
  PurgeReport r = service_->PurgeExpired();
  EXPECT_EQ(r.purged, 0u);
  EXPECT_EQ(r.kept, 1u);
  EXPECT_TRUE(Stored(kPack));
  now_ += 1;
  // The admin endpoint runs the same collector.
  Answer a = Admin("POST", "/v1/deleted/purge");
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body.value("purged", 0), 1);
  EXPECT_FALSE(Stored(kPack));
  EXPECT_TRUE(Stored("index/" + std::string(64, 'd')));  // never deleted
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/machines/server1/deleted").body["objects"].size(), 0u);
  // The key is free again.
  TakeLease();
  EXPECT_EQ(Put(kPack, "new pack"), 201);
}

TEST_F(SoftDeleteTest, TheVaultsSoftDeleteDaysAreNeverBelow14) {
  Answer a = Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":13})");
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.body.value("message", "").find("at least 14"), std::string::npos) << a.raw;
  a = Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":30})");
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/settings").body.value("soft_delete_days", 0), 30);
  // A machine token cannot change it.
  EXPECT_EQ(Call("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":14})").status, 401);
  TakeLease();
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  now_ += 29 * kDay;
  EXPECT_EQ(service_->PurgeExpired().purged, 0u);
  EXPECT_TRUE(Stored(kPack));
  now_ += kDay;
  EXPECT_EQ(service_->PurgeExpired().purged, 1u);
  EXPECT_FALSE(Stored(kPack));
}

TEST_F(SoftDeleteTest, TheAdministratorListsAndUndeletesSinceATimeOrByPoint) {
  TakeLease();
  const std::string p1 = std::string(64, '1'), p2 = std::string(64, '2');
  const std::string pack2 = "data/cd/cd" + std::string(62, '2');
  ASSERT_EQ(Put("snapshots/" + p1, "point 1"), 201);
  ASSERT_EQ(Put("snapshots/" + p2, "point 2"), 201);
  ASSERT_EQ(Put(kPack, "pack 1"), 201);
  ASSERT_EQ(Put(pack2, "pack 2"), 201);
  now_ += 7 * kDay;  // the retention floor (guard_test.cc)
  TakeLease();
  // A prune on day 0 removes point 1 and its pack, one on day 1 the rest.
  ASSERT_EQ(Call("DELETE", "/v1/objects/snapshots/" + p1).status, 204);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  now_ += kDay;
  const std::string day1 = FormatUtcTime(now_ / 1000);
  TakeLease();
  ASSERT_EQ(Call("DELETE", "/v1/objects/snapshots/" + p2).status, 204);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + pack2).status, 204);
  ASSERT_TRUE(Points().empty());

  // A machine token sees none of it.
  EXPECT_EQ(Call("GET", "/v1/vaults/prod/machines/server1/deleted").status, 401);
  Answer list = Admin("GET", "/v1/vaults/prod/machines/server1/deleted");
  ASSERT_EQ(list.status, 200) << list.raw;
  EXPECT_EQ(list.body["objects"].size(), 4u);
  ASSERT_EQ(list.body["recovery_points"].size(), 2u);
  EXPECT_EQ(list.body.value("soft_delete_days", 0), 14);
  // By machine id too.
  EXPECT_EQ(Admin("GET", std::string("/v1/vaults/prod/machines/") + kMachineId + "/deleted").status,
            200);
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/machines/nobody/deleted").status, 404);

  // Since day 1: point 2 and its pack come back, point 1 stays deleted.
  Answer a =
      Admin("POST", "/v1/vaults/prod/machines/server1/undelete", json{{"since", day1}}.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body.value("undeleted", 0), 2);
  EXPECT_EQ(Points(), std::vector<std::string>{p2});
  EXPECT_EQ(Call("GET", "/v1/objects/" + pack2).raw, "pack 2");
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).status, 404);

  // By point: point 1 and the data deleted with it.
  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/machines/server1/undelete",
                  json{{"points", {std::string(64, '9')}}}.dump())
                .status,
            404);
  a = Admin("POST", "/v1/vaults/prod/machines/server1/undelete", json{{"points", {p1}}}.dump());
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body["recovery_points"], json({p1}));
  EXPECT_EQ(Points().size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).raw, "pack 1");
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/machines/server1/deleted").body["objects"].size(), 0u);
  // Nothing is purged later: nothing is deleted any more.
  now_ += 30 * kDay;
  EXPECT_EQ(service_->PurgeExpired().purged, 0u);
  EXPECT_TRUE(Stored(kPack));

  EXPECT_EQ(Admin("POST", "/v1/vaults/prod/machines/server1/undelete", "{}").status, 400);
}

TEST_F(SoftDeleteTest, SoftDeletesSurviveARestartOfVaultd) {
  TakeLease();
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  Restart();
  EXPECT_EQ(Call("GET", "/v1/objects/" + kPack).status, 404);
  EXPECT_TRUE(Keys().empty());
  now_ += 14 * kDay;
  EXPECT_EQ(service_->PurgeExpired().purged, 1u);
}

}  // namespace
}  // namespace obagent::vault
