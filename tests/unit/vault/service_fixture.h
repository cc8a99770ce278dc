// A VaultService in process over a local-folder store, with one vault
// ("prod"), one machine ("server1", token kMachineToken, key "k1",
// registered at the start of the clock) and an injected clock (now_): the
// fixture of the soft-delete, guard, anomaly, alerts and service tests. A
// test fixture that needs other ServiceOptions overrides Options(); one whose
// options refer to more parts (an alert center, an audit log) opens them in
// OpenParts(), before vaultd first starts.
#pragma once

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "obagent/core/crypto.h"
#include "obagent/storage/blob_store.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

namespace obagent::vault::vault_test {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kAdminToken[] = "admin-token-for-tests-0123456789";
constexpr char kMachineToken[] = "machine-token-for-tests-0123456789";
constexpr char kMachineId[] = "0123456789abcdef0123456789abcdef";
constexpr char kVaultId[] = "fedcba9876543210fedcba9876543210";
constexpr int64_t kStart = int64_t{1'800'000'000} * 1000;  // now_ at the start
constexpr int64_t kDay = int64_t{24} * 3600 * 1000;
const std::string kPack = "data/ab/ab" + std::string(62, '1');

class ServiceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    std::string tmpl = (fs::temp_directory_path() / "obagent-vaultsvc-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ + "/data");
    auto blobs = storage::OpenLocalDirStore(root_ + "/data");
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    auto meta = MetadataStore::Open(platform::Env::Default(), root_ + "/meta");
    ASSERT_TRUE(meta.ok());
    VaultRecord v;
    v.vault_id = kVaultId;
    v.name = "prod";
    v.signing_key = crypto::RandomKey();
    ASSERT_TRUE((*meta)->PutVault(v).ok());
    MachineRecord m;
    m.machine_id = kMachineId;
    m.vault_id = v.vault_id;
    m.name = "server1";
    m.token_sha256 = ToHex(crypto::Sha256(AsBytes(std::string(kMachineToken))));
    m.key_id = "k1";
    m.registered = now_.load() / 1000;
    ASSERT_TRUE((*meta)->PutMachine(m).ok());
    meta->reset();
    OpenParts();
    if (HasFatalFailure()) return;
    Restart();
  }
  // The options vaultd (re)starts with: the admin token and the clock.
  virtual ServiceOptions Options() {
    ServiceOptions options;
    options.admin_token = kAdminToken;
    options.clock = [this] { return now_.load(); };
    return options;
  }
  // Opens what Options() refers to besides the metadata and the blobs.
  virtual void OpenParts() {}
  void TearDown() override {
    service_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  struct Answer {
    int status = 0;
    json body;
    std::string raw;
  };
  Answer Call(const std::string& method, const std::string& path, const std::string& body = "",
              const std::string& token = kMachineToken, const std::string& query = "") {
    ServiceRequest req;
    req.method = method;
    req.path = path;
    req.query = query;
    req.headers["authorization"] = "Bearer " + token;
    if (!lease_.empty()) req.headers["x-obagent-lease"] = lease_;
    if (!pin_.empty()) req.headers["x-obagent-security-pin"] = pin_;
    req.body.assign(body.begin(), body.end());
    ServiceResponse r = service_->Handle(req);
    Answer a;
    a.status = r.status;
    if (r.stream_body) {
      storage::MemorySink sink;
      EXPECT_TRUE(r.stream_body(sink).ok());
      a.raw.assign(sink.bytes().begin(), sink.bytes().end());
    } else {
      a.raw.assign(r.body.begin(), r.body.end());
      if (r.content_type == "application/json") a.body = json::parse(a.raw, nullptr, false);
    }
    return a;
  }
  Answer Admin(const std::string& method, const std::string& path, const std::string& body = "",
               const std::string& query = "") {
    return Call(method, path, body, kAdminToken, query);
  }
  // A request with the Security PIN header (pin "" : none).
  Answer WithPin(const std::string& pin, const std::string& method, const std::string& path,
                 const std::string& body = "", const std::string& token = kMachineToken) {
    pin_ = pin;
    Answer a = Call(method, path, body, token);
    pin_.clear();
    return a;
  }
  // A fresh Security PIN for vault "prod".
  std::string NewPin() {
    Answer a = Admin("POST", "/v1/vaults/prod/security-pin");
    EXPECT_EQ(a.status, 200) << a.raw;
    return a.body.value("pin", "");
  }
  // vaultd stops and starts again on the same metadata and storage, with
  // Options() as they are now.
  void Restart() {
    service_.reset();
    auto meta = MetadataStore::Open(platform::Env::Default(), root_ + "/meta");
    ASSERT_TRUE(meta.ok());
    service_ = std::make_unique<VaultService>(Options(), std::move(meta).value(), *blobs_);
  }
  void TakeLease() {
    lease_.clear();
    Answer a = Call("POST", "/v1/lease", R"({"holder":"test","ttl_seconds":600})");
    ASSERT_EQ(a.status, 200) << a.raw;
    lease_ = a.body.value("lease_id", "");
  }
  int Put(const std::string& key, const std::string& bytes) {
    return Call("PUT", "/v1/objects/" + key, bytes).status;
  }
  std::vector<std::string> Keys() {
    Answer a = Call("GET", "/v1/objects");
    EXPECT_EQ(a.status, 200) << a.raw;
    return a.body["keys"].get<std::vector<std::string>>();
  }
  std::vector<std::string> Points() {
    Answer a = Call("GET", "/v1/recovery-points");
    EXPECT_EQ(a.status, 200) << a.raw;
    std::vector<std::string> ids;
    for (const json& p : a.body) ids.push_back(p.value("id", ""));
    return ids;
  }
  // Whether the bytes are still in the blob store, whatever vaultd shows.
  bool Stored(const std::string& key) {
    auto e = blobs_->Exists("machines/" + std::string(kMachineId) + "/" + key);
    EXPECT_TRUE(e.ok());
    return e.ok() && *e;
  }

  std::string root_;
  std::atomic<int64_t> now_{kStart};
  std::string lease_;
  std::string pin_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<VaultService> service_;
};

}  // namespace obagent::vault::vault_test
