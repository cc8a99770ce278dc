#include "obagent/vault/metadata.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "obagent/core/crypto.h"

namespace obagent::vault {
namespace {

namespace fs = std::filesystem;

class VaultMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "obagent-meta-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = tmpl;
    dir_ = root_ + "/meta";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  std::unique_ptr<MetadataStore> Open() {
    auto store = MetadataStore::Open(platform::Env::Default(), dir_);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static void WriteText(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << text;
  }

  std::string root_;
  std::string dir_;
};

VaultRecord SampleVault(const std::string& name) {
  VaultRecord v;
  v.vault_id = ToHex(crypto::RandomBytes(16));
  v.name = name;
  v.created = 1700000000;
  v.signing_key = crypto::RandomKey();
  v.newest_credential_id = ToHex(crypto::RandomBytes(16));
  return v;
}

MachineRecord SampleMachine(const std::string& vault_id, const std::string& name) {
  MachineRecord m;
  m.machine_id = ToHex(crypto::RandomBytes(16));
  m.vault_id = vault_id;
  m.name = name;
  m.token_sha256 = ToHex(crypto::RandomBytes(32));
  m.key_check = ToHex(crypto::RandomBytes(32));
  m.key_id = ToHex(crypto::RandomBytes(16));
  m.registered = 1700000100;
  return m;
}

// Job reports list in the order they arrived, also when many arrive in
// one millisecond (the engine sends prune and repair reports back to back)
// or the clock steps back, and still after a reopen.
TEST_F(VaultMetadataTest, JobReportsKeepTheirArrivalOrderWithinAMillisecond) {
  const int64_t times[] = {1700000300000, 1700000300000, 1700000300000, 1700000299000,
                           1700000300000, 1700000300001, 1700000300001};
  {
    auto store = Open();
    ASSERT_TRUE(store);
    for (size_t i = 0; i < std::size(times); ++i) {
      JobReportRecord r;
      r.machine_id = "m1";
      r.received_ms = times[i];
      r.report_json = "{\"n\":" + std::to_string(i) + "}";
      ASSERT_TRUE(store->AddJobReport(r).ok());
    }
  }
  auto store = Open();
  ASSERT_TRUE(store);
  std::vector<JobReportRecord> listed = store->JobReports("m1");
  ASSERT_EQ(listed.size(), std::size(times));
  for (size_t i = 0; i < listed.size(); ++i) {
    EXPECT_EQ(listed[i].report_json, "{\"n\":" + std::to_string(i) + "}") << i;
  }
}

TEST_F(VaultMetadataTest, EveryRecordSurvivesReopen) {
  VaultRecord v = SampleVault("finance");
  MachineRecord m = SampleMachine(v.vault_id, "host-1");
  RecoverySessionRecord s{ToHex(crypto::RandomBytes(32)), m.machine_id, "other", 4000000000000};
  LeaseRecord l{m.machine_id, "lease-1", "backup job 7", 4000000000000};
  RecoveryPointRecord p{m.machine_id, "abcdef", 1700000200, 1234};
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutVault(v).ok());
    ASSERT_TRUE(store->PutMachine(m).ok());
    ASSERT_TRUE(store->PutRecoverySession(s).ok());
    ASSERT_TRUE(store->PutLease(l).ok());
    ASSERT_TRUE(store->PutRecoveryPoint(p).ok());
    JobReportRecord r;
    r.machine_id = m.machine_id;
    r.received_ms = 1700000300000;
    r.report_json = R"({"job":"backup","state":"Completed","files":3})";
    ASSERT_TRUE(store->AddJobReport(r).ok());
    r.received_ms += 1;
    r.report_json = R"({"job":"backup","state":"Failed"})";
    ASSERT_TRUE(store->AddJobReport(r).ok());
  }
  auto store = Open();
  ASSERT_TRUE(store);
  auto v2 = store->FindVault(v.vault_id);
  ASSERT_TRUE(v2);
  EXPECT_EQ(v2->name, "finance");
  EXPECT_EQ(v2->created, v.created);
  EXPECT_EQ(v2->signing_key, v.signing_key);
  EXPECT_EQ(v2->newest_credential_id, v.newest_credential_id);
  EXPECT_TRUE(store->FindVaultByName("finance"));
  EXPECT_FALSE(store->FindVaultByName("other"));

  auto m2 = store->FindMachineByToken(m.token_sha256);
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->machine_id, m.machine_id);
  EXPECT_EQ(m2->name, "host-1");
  EXPECT_EQ(m2->key_check, m.key_check);
  EXPECT_EQ(m2->key_id, m.key_id);
  EXPECT_EQ(m2->registered, m.registered);
  EXPECT_TRUE(store->FindMachineByName(v.vault_id, "host-1"));
  EXPECT_FALSE(store->FindMachineByName("other", "host-1"));
  EXPECT_EQ(store->CountMachines(v.vault_id), 1u);

  auto s2 = store->FindRecoverySession(s.token_sha256);
  ASSERT_TRUE(s2);
  EXPECT_EQ(s2->source_machine_id, m.machine_id);
  EXPECT_EQ(s2->expires_ms, s.expires_ms);

  auto l2 = store->FindLease(m.machine_id);
  ASSERT_TRUE(l2);
  EXPECT_EQ(l2->lease_id, "lease-1");
  EXPECT_EQ(l2->holder, "backup job 7");

  auto p2 = store->FindRecoveryPoint(m.machine_id, "abcdef");
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->size, 1234u);

  auto jobs = store->JobReports(m.machine_id);
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_NE(jobs[0].report_json.find("Completed"), std::string::npos);
  EXPECT_NE(jobs[1].report_json.find("Failed"), std::string::npos);
}

TEST_F(VaultMetadataTest, FilesAreOwnerOnly) {
  auto store = Open();
  ASSERT_TRUE(store);
  VaultRecord v = SampleVault("secret-keys");
  ASSERT_TRUE(store->PutVault(v).ok());
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/vaults/" + v.vault_id + ".json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST_F(VaultMetadataTest, NewTokenReplacesTheOldOne) {
  auto store = Open();
  ASSERT_TRUE(store);
  MachineRecord m = SampleMachine("v", "host");
  ASSERT_TRUE(store->PutMachine(m).ok());
  std::string old_token = m.token_sha256;
  m.token_sha256 = ToHex(crypto::RandomBytes(32));
  ASSERT_TRUE(store->PutMachine(m).ok());
  EXPECT_FALSE(store->FindMachineByToken(old_token));
  EXPECT_TRUE(store->FindMachineByToken(m.token_sha256));
  store.reset();
  store = Open();
  EXPECT_FALSE(store->FindMachineByToken(old_token));
  EXPECT_TRUE(store->FindMachineByToken(m.token_sha256));
}

TEST_F(VaultMetadataTest, RemovalsPersist) {
  auto store = Open();
  ASSERT_TRUE(store);
  LeaseRecord l{"m1", "lease", "holder", 1};
  RecoverySessionRecord old_session{"aa", "m1", "m2", 1000};
  RecoverySessionRecord live_session{"bb", "m1", "m2", 5000};
  RecoveryPointRecord p{"m1", "point", 1, 2};
  ASSERT_TRUE(store->PutLease(l).ok());
  ASSERT_TRUE(store->PutRecoverySession(old_session).ok());
  ASSERT_TRUE(store->PutRecoverySession(live_session).ok());
  ASSERT_TRUE(store->PutRecoveryPoint(p).ok());
  ASSERT_TRUE(store->RemoveLease("m1").ok());
  ASSERT_TRUE(store->RemoveLease("m1").ok());  // twice is fine
  ASSERT_TRUE(store->RemoveExpiredRecoverySessions(2000).ok());
  ASSERT_TRUE(store->RemoveRecoveryPoint("m1", "point").ok());
  store.reset();
  store = Open();
  EXPECT_FALSE(store->FindLease("m1"));
  EXPECT_FALSE(store->FindRecoverySession("aa"));
  EXPECT_TRUE(store->FindRecoverySession("bb"));
  EXPECT_FALSE(store->FindRecoveryPoint("m1", "point"));
}

TEST_F(VaultMetadataTest, IgnoresLeftoverTempFiles) {
  VaultRecord v = SampleVault("kept");
  {
    auto store = Open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->PutVault(v).ok());
  }
  // What a crash in the middle of WriteFileAtomic leaves behind.
  WriteText(dir_ + "/vaults/.tmp-" + v.vault_id + ".json-x1y2z3", "{\"version\":1,\"vault_");
  WriteText(dir_ + "/machines/.tmp-abc.json-123456", "");
  WriteText(dir_ + "/jobs/m1/.tmp-000.json-9", "{");
  WriteText(dir_ + "/leases/README", "not a record");
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Vaults().size(), 1u);
  EXPECT_TRUE(store->FindVaultByName("kept"));
}

TEST_F(VaultMetadataTest, CorruptRecordStopsOpenWithItsPath) {
  WriteText(dir_ + "/machines/0123.json", "{\"version\":1,\"machine_id\":");
  auto store = MetadataStore::Open(platform::Env::Default(), dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(store.status().detail().find("machines/0123.json"), std::string::npos)
      << store.status().detail();
}

TEST_F(VaultMetadataTest, UnknownRecordVersionIsRefused) {
  WriteText(dir_ + "/leases/m.json", R"({"version":9,"machine_id":"m"})");
  auto store = MetadataStore::Open(platform::Env::Default(), dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), ErrorCode::kUnsupportedVersion);
}

TEST_F(VaultMetadataTest, SafeRecordNames) {
  EXPECT_TRUE(IsSafeRecordName("0123abcd"));
  EXPECT_TRUE(IsSafeRecordName("a.b_c-d"));
  EXPECT_FALSE(IsSafeRecordName(""));
  EXPECT_FALSE(IsSafeRecordName(".hidden"));
  EXPECT_FALSE(IsSafeRecordName(".."));
  EXPECT_FALSE(IsSafeRecordName("a/b"));
  EXPECT_FALSE(IsSafeRecordName(std::string(129, 'a')));
}

}  // namespace
}  // namespace obagent::vault
