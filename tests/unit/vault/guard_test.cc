// vaultd's guard (obagent/vault/guard.h, vault/guard_routes.h): the
// Security PIN (8 digits, single use, 5 minutes, voided after 5 wrong
// ones), MARS's minimum retention and the retention floor on a machine's
// deletes and on the collector, the immutable vault, and the critical
// operations that need the PIN. VaultService::Handle in process over a
// local-folder store with an injected clock (vault_test::ServiceFixture).
#include <string>
#include <vector>

#include "obagent/vault/guard.h"
#include "vault/service_fixture.h"

namespace obagent::vault {
namespace {

using nlohmann::json;
using vault_test::kDay;
using vault_test::kMachineToken;
using vault_test::kPack;

const std::string kPoint = "snapshots/" + std::string(64, 'a');

json Retention(int daily, int weekly = 0, int monthly = 0, int yearly = 0) {
  return {{"daily_days", daily},
          {"weekly_weeks", weekly},
          {"monthly_months", monthly},
          {"yearly_years", yearly}};
}

class GuardTest : public vault_test::ServiceFixture {
 protected:
  Answer SetRetention(const json& r, const std::string& pin = "") {
    return WithPin(pin, "PUT", "/v1/machine/retention", r.dump());
  }
  static std::string ErrorId(const Answer& a) { return a.body.value("error_id", ""); }
};

TEST(GuardRules, MinimumRetentionIsMarsS) {
  EXPECT_EQ(RetentionUnderMinimum({7, 0, 0, 0}), "");
  EXPECT_EQ(RetentionUnderMinimum({7, 4, 3, 1}), "");
  EXPECT_NE(RetentionUnderMinimum({6, 0, 0, 0}).find("daily"), std::string::npos);
  EXPECT_NE(RetentionUnderMinimum({7, 3, 0, 0}).find("weekly"), std::string::npos);
  EXPECT_NE(RetentionUnderMinimum({7, 0, 2, 0}).find("monthly"), std::string::npos);
  EXPECT_NE(RetentionUnderMinimum({0, 0, 0, 1}).find("daily"), std::string::npos);
}

TEST(GuardRules, AReductionIsAnyTierKeepingLess) {
  EXPECT_FALSE(ReducesRetention({30, 4, 0, 0}, {30, 4, 0, 0}));
  EXPECT_FALSE(ReducesRetention({30, 4, 0, 0}, {60, 8, 12, 1}));
  EXPECT_TRUE(ReducesRetention({30, 4, 0, 0}, {29, 4, 0, 0}));
  EXPECT_TRUE(ReducesRetention({30, 4, 0, 0}, {90, 0, 0, 0}));  // weekly turned off
}

TEST(GuardRules, TheFloorIsTheDailyRetentionAndNeverUnderSevenDays) {
  EXPECT_EQ(FloorDays(std::nullopt), 7);
  EXPECT_EQ(FloorDays(RetentionSetting{30, 0, 0, 0}), 30);
  MachineRecord m;
  m.key_id = "k1";
  RecoveryPointRecord p{"m", "p1", 1'000'000, 5};
  const int64_t uploaded = int64_t{1'000'000} * 1000;
  EXPECT_TRUE(DeleteRefusal(m, "snapshots/p1", p, uploaded + 7 * kDay - 1));
  EXPECT_FALSE(DeleteRefusal(m, "snapshots/p1", p, uploaded + 7 * kDay));
  // A point vaultd has no record of (stored past it) is not judged.
  EXPECT_FALSE(DeleteRefusal(m, "snapshots/p1", std::nullopt, uploaded));
  EXPECT_FALSE(DeleteRefusal(m, "data/ab/ab12", std::nullopt, uploaded));
  // The key in use, never; another key, yes.
  auto refusal = DeleteRefusal(m, "keys/k1", std::nullopt, uploaded);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, ErrorCode::kProtectedByRetentionFloor);
  EXPECT_FALSE(DeleteRefusal(m, "keys/k0", std::nullopt, uploaded));
  // The collector keeps a deleted object for the longer of both.
  EXPECT_EQ(SoftDeleteKeepMs(14, RetentionSetting{30, 0, 0, 0}), 30 * kDay);
  EXPECT_EQ(SoftDeleteKeepMs(14, std::nullopt), 14 * kDay);
  EXPECT_EQ(SoftDeleteKeepMs(0, std::nullopt), 7 * kDay);
}

TEST_F(GuardTest, APinIsEightDigitsForOneOperationWithinFiveMinutes) {
  ASSERT_EQ(SetRetention(Retention(30)).status, 200);
  // A machine token cannot generate one.
  EXPECT_EQ(Call("POST", "/v1/vaults/prod/security-pin").status, 401);
  Answer issued = Admin("POST", "/v1/vaults/prod/security-pin");
  ASSERT_EQ(issued.status, 200) << issued.raw;
  const std::string pin = issued.body.value("pin", "");
  ASSERT_EQ(pin.size(), 8u);
  EXPECT_EQ(pin.find_first_not_of("0123456789"), std::string::npos) << pin;
  EXPECT_EQ(issued.body.value("expires_at", ""), FormatUtcTime(now_ / 1000 + 300));
  // vaultd keeps only its hash.
  EXPECT_EQ(Admin("GET", "/v1/vaults/prod/settings").raw.find(pin), std::string::npos);

  Answer missing = SetRetention(Retention(20));
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(ErrorId(missing), "100130");
  EXPECT_EQ(SetRetention(Retention(20), pin).status, 200);
  // Used: refused, the retention stays.
  Answer used = SetRetention(Retention(10), pin);
  EXPECT_EQ(used.status, 403);
  EXPECT_NE(used.body.value("message", "").find("used already"), std::string::npos) << used.raw;
  EXPECT_EQ(Call("GET", "/v1/machine/retention").body["retention"], Retention(20));

  // Expired after 5 minutes.
  const std::string late = NewPin();
  now_ += 300 * 1000;
  Answer expired = SetRetention(Retention(10), late);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(ErrorId(expired), "100130");
  EXPECT_NE(expired.body.value("message", "").find("expired"), std::string::npos) << expired.raw;
  // One of another vault's (none here) or a new one replaces the old.
  const std::string first = NewPin();
  const std::string second = NewPin();
  if (first != second) {
    EXPECT_EQ(SetRetention(Retention(10), first).status, 403);
  }
  EXPECT_EQ(SetRetention(Retention(10), second).status, 200);
}

TEST_F(GuardTest, FiveWrongPinsVoidTheVaultsPin) {
  ASSERT_EQ(SetRetention(Retention(30)).status, 200);
  const std::string pin = NewPin();
  const std::string wrong = pin == "00000000" ? "11111111" : "00000000";
  for (int i = 0; i < kMaxWrongPins; ++i) {
    Answer a = SetRetention(Retention(10), wrong);
    ASSERT_EQ(a.status, 403) << i;
    EXPECT_NE(a.body.value("message", "").find("wrong"), std::string::npos) << a.raw;
  }
  Answer a = SetRetention(Retention(10), pin);
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.body.value("message", "").find("voided"), std::string::npos) << a.raw;
  // A new PIN works again.
  EXPECT_EQ(SetRetention(Retention(10), NewPin()).status, 200);
}

TEST_F(GuardTest, RetentionUnderMarsMinimumsIsRefusedAndAReductionNeedsThePin) {
  for (const json& r : {Retention(6), Retention(7, 3), Retention(7, 0, 2), Retention(0, 0, 0, 1)}) {
    Answer a = SetRetention(r);
    EXPECT_EQ(a.status, 400) << r.dump();
    EXPECT_EQ(ErrorId(a), "0x29834") << a.raw;
  }
  EXPECT_EQ(Call("GET", "/v1/machine/retention").body["retention"], json(nullptr));
  EXPECT_EQ(Call("GET", "/v1/machine/retention").body.value("floor_days", 0), 7);
  // The first registration and any increase need no PIN.
  ASSERT_EQ(SetRetention(Retention(7, 4)).status, 200);
  ASSERT_EQ(SetRetention(Retention(30, 8, 12, 1)).status, 200);
  ASSERT_EQ(SetRetention(Retention(30, 8, 12, 1)).status, 200);  // the same again
  // Any tier less: the PIN.
  for (const json& r : {Retention(29, 8, 12, 1), Retention(30, 0, 12, 1), Retention(90, 8, 12)}) {
    EXPECT_EQ(ErrorId(SetRetention(r)), "100130") << r.dump();
  }
  EXPECT_EQ(Call("GET", "/v1/machine/retention").body.value("floor_days", 0), 30);
  // Only a machine registers its retention.
  EXPECT_EQ(Call("PUT", "/v1/machine/retention", Retention(7).dump(), "not-a-token").status, 401);
}

TEST_F(GuardTest, APointYoungerThanTheFloorIsNotDeletedAndTheCollectorKeepsItsData) {
  ASSERT_EQ(SetRetention(Retention(10)).status, 200);
  TakeLease();
  ASSERT_EQ(Put(kPoint, "point"), 201);
  ASSERT_EQ(Put(kPack, "pack"), 201);
  Answer refused = Call("DELETE", "/v1/objects/" + kPoint);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ErrorId(refused), "RetentionFloorProtected");
  EXPECT_NE(refused.body.value("message", "").find("10 days"), std::string::npos) << refused.raw;
  EXPECT_EQ(Points().size(), 1u);
  // A pack is deleted softly; the collector keeps it for the floor (10
  // days), here under the vault's 14 days anyway.
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  now_ += 10 * kDay - 1;
  TakeLease();
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPoint).status, 403);
  now_ += 1;
  EXPECT_EQ(Call("DELETE", "/v1/objects/" + kPoint).status, 204);
  EXPECT_TRUE(Points().empty());

  // A floor longer than soft delete: the collector waits for the floor.
  ASSERT_EQ(SetRetention(Retention(30)).status, 200);
  const std::string pack2 = "data/cd/cd" + std::string(62, '2');
  ASSERT_EQ(Put(pack2, "pack 2"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + pack2).status, 204);
  now_ += 30 * kDay - 1;
  service_->PurgeExpired();
  EXPECT_TRUE(Stored(pack2));
  Answer listed = Admin("GET", "/v1/vaults/prod/machines/server1/deleted");
  EXPECT_EQ(listed.body.value("purge_after_days", 0), 30) << listed.raw;
  now_ += 1;
  service_->PurgeExpired();
  EXPECT_FALSE(Stored(pack2));
}

TEST_F(GuardTest, APassphraseChangeNeedsThePinAndSwitchesTheKeyInUse) {
  TakeLease();
  // The key in use can be stored again (obctl repair), never deleted.
  EXPECT_EQ(Put("keys/k1", "wrapped key 1"), 201);
  EXPECT_EQ(ErrorId(Call("DELETE", "/v1/objects/keys/k1")), "RetentionFloorProtected");
  // Another key is a passphrase change: the PIN.
  Answer refused = Call("PUT", "/v1/objects/keys/k2", "wrapped key 2");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ErrorId(refused), "100130");
  EXPECT_FALSE(Stored("keys/k2"));
  EXPECT_EQ(WithPin(NewPin(), "PUT", "/v1/objects/keys/k2", "wrapped key 2").status, 201);
  // The record names k2 now: k1 may go (softly), k2 not.
  EXPECT_EQ(Call("DELETE", "/v1/objects/keys/k1").status, 204);
  EXPECT_EQ(ErrorId(Call("DELETE", "/v1/objects/keys/k2")), "RetentionFloorProtected");
  EXPECT_EQ(Put("keys/k2", "wrapped key 2"), 200);  // a retry needs no PIN
}

TEST_F(GuardTest, StopProtectionWithDeleteDataNeedsThePinAndIsSoft) {
  TakeLease();
  ASSERT_EQ(Put(kPoint, "point"), 201);
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Put("keys/k1", "wrapped key 1"), 201);
  const std::string body = R"({"delete_data":true})";
  EXPECT_EQ(ErrorId(Call("POST", "/v1/machine/stop-protection", body)), "100130");
  EXPECT_EQ(Points().size(), 1u);
  Answer a = WithPin(NewPin(), "POST", "/v1/machine/stop-protection", body);
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body.value("soft_deleted", 0), 2);
  EXPECT_TRUE(Points().empty());
  EXPECT_EQ(Keys(), std::vector<std::string>{"keys/k1"});  // the key stays
  EXPECT_TRUE(Stored(kPoint));
  // The administrator brings it back.
  Answer undone = Admin("POST", "/v1/vaults/prod/machines/server1/undelete",
                        json{{"since", FormatUtcTime(now_ / 1000 - 1)}}.dump());
  ASSERT_EQ(undone.status, 200) << undone.raw;
  EXPECT_EQ(Points().size(), 1u);
}

TEST_F(GuardTest, RemovingAMachineNeedsThePinRevokesItsTokenAndSoftDeletesItsData) {
  TakeLease();
  ASSERT_EQ(Put(kPoint, "point"), 201);
  EXPECT_EQ(ErrorId(Admin("DELETE", "/v1/vaults/prod/machines/server1")), "100130");
  EXPECT_EQ(Call("GET", "/v1/machine").status, 200);
  Answer removed =
      WithPin(NewPin(), "DELETE", "/v1/vaults/prod/machines/server1", "", vault_test::kAdminToken);
  ASSERT_EQ(removed.status, 200) << removed.raw;
  EXPECT_EQ(Call("GET", "/v1/machine").status, 401);
  EXPECT_TRUE(Stored(kPoint));
  Answer listed = Admin("GET", "/v1/vaults/prod/machines/server1/deleted");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  EXPECT_EQ(listed.body["recovery_points"].size(), 1u);
}

TEST_F(GuardTest, PurgingEarlyAndTurningSoftDeleteOffNeedThePin) {
  TakeLease();
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  const std::string purge = "/v1/vaults/prod/machines/server1/purge";
  EXPECT_EQ(ErrorId(Admin("POST", purge)), "100130");
  EXPECT_TRUE(Stored(kPack));
  Answer a = WithPin(NewPin(), "POST", purge, "", vault_test::kAdminToken);
  ASSERT_EQ(a.status, 200) << a.raw;
  EXPECT_EQ(a.body.value("purged", 0), 1);
  EXPECT_FALSE(Stored(kPack));

  // Soft delete off, or shorter: the PIN; longer: none.
  EXPECT_EQ(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":30})").status, 200);
  EXPECT_EQ(ErrorId(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":20})")),
            "100130");
  EXPECT_EQ(ErrorId(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":0})")),
            "100130");
  Answer off = WithPin(NewPin(), "PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":0})",
                       vault_test::kAdminToken);
  ASSERT_EQ(off.status, 200) << off.raw;
  EXPECT_FALSE(off.body.value("soft_delete", true));
  // Off: a deleted object is still kept for the floor (7 days).
  ASSERT_EQ(Put(kPack, "pack"), 201);
  ASSERT_EQ(Call("DELETE", "/v1/objects/" + kPack).status, 204);
  now_ += 7 * kDay - 1;
  service_->PurgeExpired();
  EXPECT_TRUE(Stored(kPack));
  now_ += 1;
  service_->PurgeExpired();
  EXPECT_FALSE(Stored(kPack));
}

TEST_F(GuardTest, AnImmutableVaultRefusesEveryCutEvenWithThePin) {
  ASSERT_EQ(SetRetention(Retention(30)).status, 200);
  Answer set = Admin("PUT", "/v1/vaults/prod/settings", R"({"immutable":true})");
  ASSERT_EQ(set.status, 200) << set.raw;
  EXPECT_TRUE(set.body.value("immutable", false));
  EXPECT_TRUE(Admin("GET", "/v1/vaults/prod/settings").body.value("immutable", false));
  // Irreversible.
  EXPECT_EQ(ErrorId(WithPin(NewPin(), "PUT", "/v1/vaults/prod/settings", R"({"immutable":false})",
                            vault_test::kAdminToken)),
            "ImmutableVault");
  EXPECT_EQ(ErrorId(SetRetention(Retention(20), NewPin())), "ImmutableVault");
  EXPECT_EQ(ErrorId(WithPin(NewPin(), "PUT", "/v1/vaults/prod/settings",
                            R"({"soft_delete_days":0})", vault_test::kAdminToken)),
            "ImmutableVault");
  EXPECT_EQ(Admin("PUT", "/v1/vaults/prod/settings", R"({"soft_delete_days":60})").status, 200);
  EXPECT_EQ(ErrorId(WithPin(NewPin(), "PUT", "/v1/vaults/prod/settings",
                            R"({"soft_delete_days":30})", vault_test::kAdminToken)),
            "ImmutableVault");
  EXPECT_EQ(ErrorId(WithPin(NewPin(), "POST", "/v1/vaults/prod/machines/server1/purge", "",
                            vault_test::kAdminToken)),
            "ImmutableVault");
  EXPECT_EQ(
      ErrorId(WithPin(NewPin(), "POST", "/v1/machine/stop-protection", R"({"delete_data":true})")),
      "ImmutableVault");
  // Longer retention is fine.
  EXPECT_EQ(SetRetention(Retention(60)).status, 200);
  // It survives a restart of vaultd, and so does the registered retention.
  Restart();
  EXPECT_TRUE(Admin("GET", "/v1/vaults/prod/settings").body.value("immutable", false));
  EXPECT_EQ(Call("GET", "/v1/machine/retention").body["retention"], Retention(60));
}

}  // namespace
}  // namespace obagent::vault
