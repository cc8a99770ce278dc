// Both VaultConnections through the one interface: the embedded one on a
// local vault in a temporary folder, the service one against vaultd in
// process (VaultService behind its real HTTP listener on 127.0.0.1).
// Registration, the object store, the writer lock, job reports, the machine
// record and key storage, and what each kind does differently where the
// interface says so.
#include "obagent/engine/vault_connection.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net/free_port.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/vault_layout.h"
#include "obagent/engine/agent.h"
#include "obagent/vault/http_server.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

#include <spdlog/spdlog.h>

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kAdminToken[] = "admin-token-for-vault-connection-tests";

// A wrapped key with cheap KDF parameters (what the passphrase opens is
// not what these tests are about), and its key check.
struct TestKey {
  crypto::Key master = crypto::RandomKey();
  crypto::Key kek = crypto::RandomKey();
  keys::WrappedKey wrapped;
  std::string key_check;
  TestKey() {
    keys::KdfParams params;
    params.n = 1024;
    params.salt = crypto::RandomBytes(32);
    wrapped = keys::WrapMasterKey(master, kek, ToHex(crypto::RandomBytes(16)), params);
    key_check = ToHex(crypto::HmacSha256(master, AsBytes("obagent key check v1")));
  }
};

// A chooser that registers `key` for a new machine and records what the
// vault already held.
struct Chooser {
  const TestKey& key;
  std::optional<keys::WrappedKey> seen;
  bool called = false;
  ChooseRegistrationKey Fn() {
    return [this](const std::optional<keys::WrappedKey>& existing) -> Result<RegistrationKey> {
      called = true;
      seen = existing;
      return RegistrationKey{existing ? *existing : key.wrapped, key.key_check};
    };
  }
};

std::string Text(const Result<Bytes>& r) {
  return r.ok() ? std::string(r->begin(), r->end()) : "<" + r.status().ToString() + ">";
}

std::vector<std::string> FilesBelow(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(e.path().lexically_relative(root).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-vault-connection.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
};

// What the tests of both kinds of connection share: registering a machine
// (the kind decides where ConnectToRegister finds the vault) and connecting
// as it.
class ConnectionTest : public TempDirTest {
 protected:
  void TearDown() override {
    vault_.reset();
    TempDirTest::TearDown();
  }

  // Where ConnectToRegister finds the vault: a folder or a credential file.
  virtual RegisterOptions WhereToRegister() = 0;

  Result<std::unique_ptr<VaultConnection>> ToRegister(AgentConfig& config) {
    return ConnectToRegister(env_, WhereToRegister(), config);
  }

  // Registers `name` with `key`; config then names the machine (and holds
  // the token vaultd gave it).
  AgentConfig RegisterMachine(const std::string& name, const TestKey& key) {
    AgentConfig config;
    auto vault = ToRegister(config);
    EXPECT_TRUE(vault.ok()) << vault.status().ToString();
    if (!vault.ok()) return config;
    Chooser chooser{key};
    auto registered = (*vault)->Register(name, chooser.Fn());
    EXPECT_TRUE(registered.ok()) << registered.status().ToString();
    if (!registered.ok()) return config;
    config.machine_id = registered->machine_id;
    config.token = registered->token;
    config.machine_name = name;
    return config;
  }

  // Registers "host-a" with key_ and connects as it (config_, vault_).
  void ConnectHostA() {
    config_ = RegisterMachine("host-a", key_);
    auto vault = ConnectVault(env_, config_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
  }

  TestKey key_;
  AgentConfig config_;
  std::unique_ptr<VaultConnection> vault_;
};

// ----- the machine record's codec

TEST(MachineRecordCodecTest, RoundTripsAndNamesWhatIsMissing) {
  MachineRecord r;
  r.machine_id = "m1";
  r.name = "host";
  r.key_id = "k1";
  auto back = ParseMachineRecord(SerializeMachineRecord(r), "machine.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->version, kMachineRecordVersion);
  EXPECT_EQ(back->machine_id, "m1");
  EXPECT_EQ(back->name, "host");
  EXPECT_EQ(back->key_id, "k1");
  // The shape docs/formats.md gives.
  json j = json::parse(SerializeMachineRecord(r));
  EXPECT_EQ(j, json({{"version", 1}, {"machine_id", "m1"}, {"name", "host"}, {"key_id", "k1"}}));

  auto odd = ParseMachineRecord(R"({"version":"1","machine_id":7,"name":"host"})", "x");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->version, 0);
  EXPECT_EQ(odd->machine_id, "");
  EXPECT_EQ(odd->name, "host");
  EXPECT_EQ(odd->key_id, "");

  for (const char* bad : {"{garbage", "[1,2]", "\"text\"", ""}) {
    auto parsed = ParseMachineRecord(bad, "machines/m1/machine.json");
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kCorrupt);
    EXPECT_EQ(parsed.status().detail(), "machines/m1/machine.json is not valid JSON");
  }
}

TEST(VaultLayoutTest, MachinePrefixIsTheOneBothSidesUse) {
  EXPECT_EQ(vault_layout::MachinePrefix("ab12"), "machines/ab12/");
  EXPECT_EQ(RepoLayout::MachinePrefix("ab12"), vault_layout::MachinePrefix("ab12"));
}

// ----- embedded: a local vault folder

class EmbeddedVaultTest : public ConnectionTest {
 protected:
  void SetUp() override {
    ConnectionTest::SetUp();
    vault_dir_ = dir_ / "vault";
    auto id = InitLocalVault(env_, vault_dir_.string());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    vault_id_ = *id;
  }

  RegisterOptions WhereToRegister() override {
    RegisterOptions options;
    options.vault = vault_dir_.string();
    return options;
  }

  fs::path MachineDir(const AgentConfig& config) {
    return vault_dir_ / "machines" / config.machine_id;
  }

  fs::path vault_dir_;
  std::string vault_id_;
};

TEST_F(EmbeddedVaultTest, ConnectToRegisterFillsTheVaultFields) {
  AgentConfig config;
  auto vault = ToRegister(config);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  EXPECT_EQ(config.vault, vault_dir_.string());
  EXPECT_EQ(config.vault_id, vault_id_);
  EXPECT_TRUE(config.service_url.empty());
  EXPECT_EQ(config.VaultAddress(), vault_dir_.string());
  EXPECT_EQ((*vault)->Describe(), "the vault at " + vault_dir_.string());

  AgentConfig none;
  RegisterOptions nothing;
  auto refused = ConnectToRegister(env_, nothing, none);
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  RegisterOptions not_a_vault;
  not_a_vault.vault = (dir_ / "missing").string();
  refused = ConnectToRegister(env_, not_a_vault, none);
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().detail().find("is not a vault"), std::string::npos);
}

TEST_F(EmbeddedVaultTest, RegisterStoresTheRecordAndKeyAndReRegisteringChangesNothing) {
  TestKey key;
  AgentConfig config;
  auto vault = ToRegister(config);
  ASSERT_TRUE(vault.ok());
  Chooser chooser{key};
  auto registered = (*vault)->Register("host-a", chooser.Fn());
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  EXPECT_TRUE(chooser.called);
  EXPECT_FALSE(chooser.seen.has_value());  // a new machine
  EXPECT_EQ(registered->machine_id.size(), 32u);
  EXPECT_TRUE(registered->token.empty());

  const fs::path machine = vault_dir_ / "machines" / registered->machine_id;
  std::ifstream in(machine / "machine.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto record = ParseMachineRecord(text, "machine.json");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->machine_id, registered->machine_id);
  EXPECT_EQ(record->name, "host-a");
  EXPECT_EQ(record->key_id, key.wrapped.key_id);
  EXPECT_TRUE(fs::exists(machine / "keys" / key.wrapped.key_id));
  // The connection is the machine's now.
  auto stored = (*vault)->ReadKey(key.wrapped.key_id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(keys::SerializeWrappedKey(*stored), keys::SerializeWrappedKey(key.wrapped));

  // The same name again: the chooser sees the stored key, the id stays and
  // nothing in the vault changes.
  std::vector<std::string> before = FilesBelow(vault_dir_);
  AgentConfig again_config;
  auto again = ToRegister(again_config);
  ASSERT_TRUE(again.ok());
  TestKey other;
  Chooser second{other};
  auto re = (*again)->Register("host-a", second.Fn());
  ASSERT_TRUE(re.ok()) << re.status().ToString();
  EXPECT_EQ(re->machine_id, registered->machine_id);
  ASSERT_TRUE(second.seen.has_value());
  EXPECT_EQ(second.seen->key_id, key.wrapped.key_id);
  EXPECT_EQ(FilesBelow(vault_dir_), before);

  // Another name is another machine.
  Chooser third{other};
  AgentConfig third_config;
  auto b = ToRegister(third_config);
  ASSERT_TRUE(b.ok());
  auto other_machine = (*b)->Register("host-b", third.Fn());
  ASSERT_TRUE(other_machine.ok());
  EXPECT_NE(other_machine->machine_id, registered->machine_id);
}

TEST_F(EmbeddedVaultTest, ARefusedKeyLeavesTheVaultAsItWas) {
  std::vector<std::string> before = FilesBelow(vault_dir_);
  AgentConfig config;
  auto vault = ToRegister(config);
  ASSERT_TRUE(vault.ok());
  auto refused = (*vault)->Register("host-a", [](const std::optional<keys::WrappedKey>&) {
    return Result<RegistrationKey>(Status(ErrorCode::kPassphraseNotConfigured, "no"));
  });
  EXPECT_EQ(refused.status().code(), ErrorCode::kPassphraseNotConfigured);
  EXPECT_EQ(FilesBelow(vault_dir_), before);
  // Not registered: the machine's things are refused, not written anywhere.
  EXPECT_FALSE((*vault)->ReadKey("k").ok());
  EXPECT_FALSE((*vault)->AcquireWriter("job").ok());
  EXPECT_EQ(FilesBelow(vault_dir_), before);
}

TEST_F(EmbeddedVaultTest, ConnectVaultChecksTheVaultAndScopesTheStoreToTheMachine) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto store = vault_->ObjectStore();
  ASSERT_TRUE(store->Put("data/ab/ab12", AsBytes("pack")).ok());
  EXPECT_EQ(Text(store->Get("data/ab/ab12")), "pack");
  std::ifstream in(MachineDir(config_) / "data" / "ab" / "ab12");
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), {}), "pack");

  AgentConfig wrong = config_;
  wrong.vault_id = "0000";
  auto refused = ConnectVault(env_, wrong);
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidVaultCredentials);
  AgentConfig gone = config_;
  gone.vault = (dir_ / "unmounted").string();
  refused = ConnectVault(env_, gone);
  EXPECT_EQ(refused.status().code(), ErrorCode::kServiceUnreachable);
}

TEST_F(EmbeddedVaultTest, OneWriterAtATime) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto other = ConnectVault(env_, config_);
  ASSERT_TRUE(other.ok());
  {
    auto held = vault_->AcquireWriter("backup");
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    EXPECT_TRUE(fs::exists(MachineDir(config_) / "writer.lock"));
    auto second = (*other)->AcquireWriter("prune");
    EXPECT_EQ(second.status().code(), ErrorCode::kAlreadyExists);
  }
  EXPECT_TRUE((*other)->AcquireWriter("prune").ok());
}

TEST_F(EmbeddedVaultTest, JobReportsAreAcceptedAndKeptNowhere) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  std::vector<std::string> before = FilesBelow(vault_dir_);
  JobReport report;
  report.type = "Backup";
  report.recovery_point = "ab";
  report.counts = {{"files", 3}};
  EXPECT_TRUE(vault_->ReportJob(report).ok());
  EXPECT_EQ(FilesBelow(vault_dir_), before);
}

TEST_F(EmbeddedVaultTest, MachineRecordIsCheckedAndWrittenAgain) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto problems = vault_->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  EXPECT_TRUE(problems->empty()) << ::testing::PrintToString(*problems);
  // Another key in use: the record names the old one.
  problems = vault_->CheckMachineRecord("ffff");
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("key_id is " + key_.wrapped.key_id), std::string::npos);

  const fs::path record = MachineDir(config_) / "machine.json";
  std::ofstream(record, std::ios::trunc) << "{garbage";
  problems = vault_->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("machine record machine.json: damaged"), std::string::npos);

  auto would = vault_->WriteMachineRecord(key_.wrapped.key_id, true);
  ASSERT_TRUE(would.ok());
  ASSERT_TRUE(would->has_value());
  EXPECT_EQ(**would, "machine record machine.json from this machine's registration");
  EXPECT_FALSE(vault_->CheckMachineRecord(key_.wrapped.key_id)->empty());  // dry run
  auto wrote = vault_->WriteMachineRecord(key_.wrapped.key_id, false);
  ASSERT_TRUE(wrote.ok() && wrote->has_value());
  problems = vault_->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty()) << ::testing::PrintToString(*problems);

  fs::remove(record);
  problems = vault_->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("machine record machine.json: missing"), std::string::npos);
}

// A local vault folder has no Security PIN and no retention floor.
TEST_F(EmbeddedVaultTest, HasNoSecurityPinNorRetentionFloor) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  vault_->SetSecurityPin("12345678");
  EXPECT_TRUE(vault_->RegisterRetention({6, 0, 0, 0}).ok());
  EXPECT_EQ(vault_->DeleteAllData().code(), ErrorCode::kUnsupported);
}

TEST_F(EmbeddedVaultTest, KeyStorage) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  TestKey second;
  ASSERT_TRUE(vault_->StoreKey(second.wrapped).ok());
  auto listed = vault_->ListKeys();
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> ids;
  for (const auto& k : *listed) ids.push_back(k.key_id);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected = {key_.wrapped.key_id, second.wrapped.key_id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
  ASSERT_TRUE(vault_->DeleteKey(key_.wrapped.key_id).ok());
  auto missing = vault_->ReadKey(key_.wrapped.key_id);
  EXPECT_EQ(missing.status().code(), ErrorCode::kPassphraseNotConfigured);
  std::ofstream(MachineDir(config_) / "keys" / second.wrapped.key_id, std::ios::trunc) << "garbage";
  auto damaged = vault_->ReadKey(second.wrapped.key_id);
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().code(), ErrorCode::kPassphraseNotConfigured);
}

TEST_F(EmbeddedVaultTest, NoRecoverySessionsWithoutVaultd) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto session = vault_->OpenRecoverySession(env_, "/nonexistent", "host-b");
  EXPECT_EQ(session.status().code(), ErrorCode::kInvalidArgument);
}

// ----- service: vaultd in process

using testing::FreePort;

class ServiceVaultTest : public ConnectionTest {
 protected:
  void SetUp() override {
    ConnectionTest::SetUp();
    spdlog::set_level(spdlog::level::warn);
    fs::create_directories(dir_ / "data");
    auto blobs = storage::OpenLocalDirStore((dir_ / "data").string());
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    auto meta = vault::MetadataStore::Open(env_, (dir_ / "meta").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    vault::ServiceOptions options;
    options.admin_token = kAdminToken;
    options.min_lease_ttl_seconds = 1;
    vault::HttpServerOptions http;
    for (int attempt = 0; attempt < 5 && !server_; ++attempt) {
      url_ = "http://127.0.0.1:" + std::to_string(FreePort());
      options.service_url = url_;
      http.listen_url = url_;
      if (!service_) {
        service_ = std::make_unique<vault::VaultService>(options, std::move(meta).value(), *blobs_);
      }
      auto server = vault::HttpServer::Start(*service_, http);
      if (server.ok()) server_ = std::move(server).value();
    }
    ASSERT_TRUE(server_) << "vaultd did not start";
    ServiceConnection admin_conn;
    admin_conn.url = url_;
    admin_conn.token = kAdminToken;
    admin_ = std::make_unique<VaultClient>(admin_conn);
    auto created = admin_->Call("POST", "/v1/vaults", {{"name", "prod"}});
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    vault_id_ = created->value("vault_id", "");
    credentials_ = WriteCredentials("prod.VaultCredentials");
  }

  void TearDown() override {
    vault_.reset();
    admin_.reset();
    server_.reset();
    service_.reset();
    ConnectionTest::TearDown();
  }

  // A fresh vault-credential file of the vault "prod".
  std::string WriteCredentials(const std::string& name) {
    auto answer = admin_->Call("POST", "/v1/vaults/prod/credentials", json::object());
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    std::string path = (dir_ / name).string();
    std::ofstream(path) << (answer.ok() ? answer->value("credentials", "") : "");
    return path;
  }

  RegisterOptions WhereToRegister() override {
    RegisterOptions options;
    options.credentials_file = credentials_;
    return options;
  }

  // vaultd's job reports of a machine.
  json Jobs(const AgentConfig& config_) {
    VaultClient client(ServiceConnectionFor(config_, config_.token));
    auto jobs = client.Call("GET", "/v1/jobs");
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? *jobs : json();
  }

  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<vault::VaultService> service_;
  std::unique_ptr<vault::HttpServer> server_;
  std::unique_ptr<VaultClient> admin_;
  std::string url_;
  std::string vault_id_;
  std::string credentials_;
};

TEST_F(ServiceVaultTest, ConnectToRegisterReadsTheCredentialFile) {
  AgentConfig config;
  RegisterOptions options;
  options.credentials_file = credentials_;
  options.proxy = "http://proxy.invalid:3128";
  auto vault = ConnectToRegister(env_, options, config);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  EXPECT_EQ(config.service_url, url_);
  EXPECT_EQ(config.vault_id, vault_id_);
  EXPECT_EQ(config.vault_name, "prod");
  EXPECT_EQ(config.proxy, "http://proxy.invalid:3128");
  EXPECT_TRUE(config.vault.empty());
  EXPECT_EQ(config.VaultAddress(), url_);
  EXPECT_EQ((*vault)->Describe(), "the vault service at " + url_);

  options.credentials_file = (dir_ / "missing").string();
  auto refused = ConnectToRegister(env_, options, config);
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidVaultCredentials);
}

TEST_F(ServiceVaultTest, RegisterStoresTheKeyAndReRegisteringKeepsTheMachine) {
  TestKey key;
  AgentConfig config;
  auto vault = ToRegister(config);
  ASSERT_TRUE(vault.ok());
  Chooser chooser{key};
  auto registered = (*vault)->Register("host-a", chooser.Fn());
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  EXPECT_FALSE(chooser.seen.has_value());
  EXPECT_FALSE(registered->machine_id.empty());
  EXPECT_FALSE(registered->token.empty());
  // vaultd stored the wrapped key as the machine's object; the connection
  // is the machine's now.
  EXPECT_TRUE(fs::exists(dir_ / "data" / "machines" / registered->machine_id / "keys" /
                         key.wrapped.key_id));
  auto stored = (*vault)->ReadKey(key.wrapped.key_id);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->key_id, key.wrapped.key_id);

  AgentConfig again_config;
  auto again = ToRegister(again_config);
  ASSERT_TRUE(again.ok());
  Chooser second{key};
  auto re = (*again)->Register("host-a", second.Fn());
  ASSERT_TRUE(re.ok()) << re.status().ToString();
  ASSERT_TRUE(second.seen.has_value());
  EXPECT_EQ(second.seen->key_id, key.wrapped.key_id);
  EXPECT_EQ(re->machine_id, registered->machine_id);

  // Another master key under the same name: vaultd refuses (34506).
  TestKey other;
  AgentConfig third_config;
  auto third = ToRegister(third_config);
  ASSERT_TRUE(third.ok());
  auto refused = (*third)->Register("host-a", [&](const std::optional<keys::WrappedKey>&) {
    return Result<RegistrationKey>(RegistrationKey{other.wrapped, other.key_check});
  });
  EXPECT_EQ(refused.status().code(), ErrorCode::kPassphraseNotConfigured);
}

TEST_F(ServiceVaultTest, ConnectVaultChecksTheVaultAndTheStoreWritesUnderTheLease) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto store = vault_->ObjectStore();
  EXPECT_FALSE(store->Put("data/ab/ab12", AsBytes("pack")).ok());  // no lease yet
  {
    auto writer = vault_->AcquireWriter("backup");
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    ASSERT_TRUE(store->Put("data/ab/ab12", AsBytes("pack")).ok());
    EXPECT_EQ(Text(store->Get("data/ab/ab12")), "pack");
    EXPECT_TRUE(
        fs::exists(dir_ / "data" / "machines" / config_.machine_id / "data" / "ab" / "ab12"));
    // Another connection of the same machine waits for the lease.
    auto other = ConnectVault(env_, config_);
    ASSERT_TRUE(other.ok());
    auto second = (*other)->AcquireWriter("prune");
    EXPECT_EQ(second.status().code(), ErrorCode::kAlreadyExists) << second.status().ToString();
  }
  auto other = ConnectVault(env_, config_);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE((*other)->AcquireWriter("prune").ok());

  AgentConfig wrong = config_;
  wrong.vault_id = "0000";
  EXPECT_EQ(ConnectVault(env_, wrong).status().code(), ErrorCode::kInvalidVaultCredentials);
}

TEST_F(ServiceVaultTest, JobReportsReachVaultd) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  JobReport backup;
  backup.type = "Backup";
  backup.state = JobState::kCompletedWithWarnings;
  backup.recovery_point = "";
  backup.counts = {{"files", 3}, {"bytes_uploaded", 4096}, {"healed_blobs", 1}};
  ASSERT_TRUE(vault_->ReportJob(backup).ok());
  JobReport prune;
  prune.type = "Prune";
  prune.state = JobState::kFailed;
  prune.error = "prune failed: no";
  ASSERT_TRUE(vault_->ReportJob(prune).ok());

  json jobs = Jobs(config_);
  ASSERT_TRUE(jobs.is_array()) << jobs.dump();
  ASSERT_EQ(jobs.size(), 2u) << jobs.dump();
  bool saw_backup = false, saw_prune = false;
  for (const json& j : jobs) {
    if (j.value("type", "") == "Backup") {
      saw_backup = true;
      EXPECT_EQ(j.value("state", ""), "CompletedWithWarnings");
      EXPECT_EQ(j.value("recovery_point", "?"), "");
      EXPECT_EQ(j.value("files", 0), 3);
      EXPECT_EQ(j.value("bytes_uploaded", 0), 4096);
      EXPECT_EQ(j.value("healed_blobs", 0), 1);
    } else if (j.value("type", "") == "Prune") {
      saw_prune = true;
      EXPECT_EQ(j.value("state", ""), "Failed");
      EXPECT_EQ(j.value("error", ""), "prune failed: no");
      EXPECT_FALSE(j.contains("recovery_point"));
    }
  }
  EXPECT_TRUE(saw_backup && saw_prune) << jobs.dump();
}

TEST_F(ServiceVaultTest, MachineRecordIsVaultdsOwn) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto problems = vault_->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  EXPECT_TRUE(problems->empty()) << ::testing::PrintToString(*problems);
  auto wrote = vault_->WriteMachineRecord(key_.wrapped.key_id, false);
  ASSERT_TRUE(wrote.ok());
  EXPECT_FALSE(wrote->has_value());
  EXPECT_FALSE(fs::exists(dir_ / "data" / "machines" / config_.machine_id / "machine.json"));

  // Registered under another name than the one this agent believes.
  AgentConfig renamed = config_;
  renamed.machine_name = "host-z";
  auto other = ConnectVault(env_, renamed);
  ASSERT_TRUE(other.ok());
  problems = (*other)->CheckMachineRecord(key_.wrapped.key_id);
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE((*problems)[0].find("names machine 'host-a'"), std::string::npos) << (*problems)[0];
}

TEST_F(ServiceVaultTest, KeyStorageUnderTheLease) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  auto writer = vault_->AcquireWriter("passphrase change");
  ASSERT_TRUE(writer.ok());
  TestKey second;
  // Another key is a passphrase change: vaultd wants the vault's Security
  // PIN, which the connection carries once set.
  EXPECT_EQ(vault_->StoreKey(second.wrapped).code(), ErrorCode::kSecurityPinInvalid);
  auto pin = admin_->Call("POST", "/v1/vaults/prod/security-pin");
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  vault_->SetSecurityPin(pin->value("pin", ""));
  ASSERT_TRUE(vault_->StoreKey(second.wrapped).ok());
  auto listed = vault_->ListKeys();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(listed->size(), 2u);
  // vaultd names the new key now: the old one may go, the new one not.
  EXPECT_EQ(vault_->DeleteKey(second.wrapped.key_id).code(), ErrorCode::kProtectedByRetentionFloor);
  ASSERT_TRUE(vault_->DeleteKey(key_.wrapped.key_id).ok());
  EXPECT_EQ(vault_->ReadKey(key_.wrapped.key_id).status().code(),
            ErrorCode::kPassphraseNotConfigured);
  auto kept = vault_->ReadKey(second.wrapped.key_id);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->key_id, second.wrapped.key_id);
}

// The critical operations the engine carries the vault's Security PIN for
// (critical_ops.h): vaultd judges the retention and the delete of all data.
TEST_F(ServiceVaultTest, RetentionAndDeletingAllDataCarryTheSecurityPin) {
  ASSERT_NO_FATAL_FAILURE(ConnectHostA());
  EXPECT_EQ(vault_->RegisterRetention({6, 0, 0, 0}).code(), ErrorCode::kRetentionBelowMinimum);
  ASSERT_TRUE(vault_->RegisterRetention({30, 4, 0, 0}).ok());
  EXPECT_EQ(vault_->RegisterRetention({7, 4, 0, 0}).code(), ErrorCode::kSecurityPinInvalid);
  EXPECT_EQ(vault_->DeleteAllData().code(), ErrorCode::kSecurityPinInvalid);
  auto pin = admin_->Call("POST", "/v1/vaults/prod/security-pin");
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  vault_->SetSecurityPin(pin->value("pin", ""));
  ASSERT_TRUE(vault_->RegisterRetention({7, 4, 0, 0}).ok());
  // One operation per PIN.
  EXPECT_EQ(vault_->DeleteAllData().code(), ErrorCode::kSecurityPinInvalid);
  pin = admin_->Call("POST", "/v1/vaults/prod/security-pin");
  ASSERT_TRUE(pin.ok());
  vault_->SetSecurityPin(pin->value("pin", ""));
  EXPECT_TRUE(vault_->DeleteAllData().ok());
}

TEST_F(ServiceVaultTest, RecoverySessionOpensAnotherMachinesKeys) {
  TestKey key_a, key_b;
  AgentConfig a = RegisterMachine("host-a", key_a);
  AgentConfig b = RegisterMachine("host-b", key_b);
  auto vault = ConnectVault(env_, b);
  ASSERT_TRUE(vault.ok());
  auto session =
      (*vault)->OpenRecoverySession(env_, WriteCredentials("fresh.VaultCredentials"), "host-a");
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(session->machine_id, a.machine_id);
  auto listed = session->vault->ListKeys();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key_id, key_a.wrapped.key_id);

  auto unknown = (*vault)->OpenRecoverySession(env_, credentials_, "host-nobody");
  EXPECT_FALSE(unknown.ok());
  auto no_file = (*vault)->OpenRecoverySession(env_, (dir_ / "missing").string(), "host-a");
  EXPECT_EQ(no_file.status().code(), ErrorCode::kInvalidVaultCredentials);
}

}  // namespace
}  // namespace obagent::engine
