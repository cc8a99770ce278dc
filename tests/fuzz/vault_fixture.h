// A vaultd VaultService in process for the vault fuzz targets
// (vault_routes.cc, vault_range.cc): the real service over a metadata
// folder and a local-folder blob store in a scratch folder, with one vault
// ("v"), its newest credential file, a registered machine ("m") holding a
// lease, a recovery session for it and a 4096-byte object
// ("data/seed"). Fuzzed requests may change all of that (new credentials,
// a re-registration, another lease holder, a deleted object); Restore()
// puts it back after each input so the tokens of the seeds stay valid.
// Single-threaded, as libFuzzer runs inputs.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.h"
#include "obagent/core/keys.h"
#include "obagent/storage/blob_store.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

namespace obagent::fuzz {

class VaultFixture {
 public:
  static constexpr char kAdminToken[] = "fuzz-admin-token-0123456789abcdef";
  static constexpr size_t kSeedObjectSize = 4096;

  VaultFixture() {
    spdlog::set_level(spdlog::level::off);
    const std::string& dir = ScratchDir("vault");
    std::filesystem::create_directories(dir + "/data");
    auto meta = vault::MetadataStore::Open(platform::Env::Default(), dir + "/meta");
    auto blobs = storage::OpenLocalDirStore(dir + "/data");
    if (!meta.ok() || !blobs.ok()) Die("cannot open the stores");
    meta_ = meta->get();
    blobs_ = std::move(blobs).value();
    vault::ServiceOptions options;
    options.admin_token = kAdminToken;
    options.min_lease_ttl_seconds = 1;
    options.max_object_bytes = 1 << 20;
    service_ = std::make_unique<vault::VaultService>(options, std::move(meta).value(), *blobs_);

    auto created = Call("POST", "/v1/vaults", kAdminToken, R"({"name":"v"})");
    if (created.status != 201) Die("cannot create the vault");
    vault_id_ = Json(created).value("vault_id", "");
    keys::KdfParams params;
    params.n = 1024;
    params.salt = Bytes(32, 7);
    wrapped_ = keys::SerializeWrappedKey(
        keys::WrapMasterKey(TestKey(), TestKey(), std::string(32, 'c'), params));
    Restore();
    if (vars_["machine"].empty() || vars_["lease"].empty()) Die("cannot register the machine");
  }

  // The request with $admin, $machine, $recovery, $lease, $vault_id,
  // $machine_id replaced by their values, and $creds and $wrapped by theirs
  // as the inside of a JSON string.
  std::string Substitute(std::string text) const {
    return fuzz::Substitute(std::move(text), vars_);
  }

  vault::ServiceResponse Handle(const vault::ServiceRequest& request) {
    return service_->Handle(request);
  }

  // Back to the state the class comment describes.
  void Restore() {
    if (auto v = meta_->FindVault(vault_id_);
        creds_.empty() || !v || v->newest_credential_id != credential_id_) {
      auto r = Call("POST", "/v1/vaults/v/credentials", kAdminToken, "{}");
      if (r.status != 200) Die("cannot download credentials");
      creds_ = Json(r).value("credentials", "");
      auto parsed = vault::VaultCredentials::Parse(creds_);
      if (!parsed.ok()) Die("the service's credentials do not parse");
      credential_id_ = parsed->credential_id;
      vars_["creds"] = JsonInside(creds_);
      vars_["machine"].clear();  // a new token proves the new file works
    }
    if (vars_["machine"].empty() ||
        Call("GET", "/v1/machine", vars_["machine"], "").status != 200) {
      nlohmann::json body = {{"credentials", creds_},
                             {"machine_name", "m"},
                             {"wrapped_key", wrapped_},
                             {"key_check", std::string(64, 'a')}};
      auto r = Call("POST", "/v1/register", "", body.dump());
      if (r.status != 200) return;
      vars_["machine"] = Json(r).value("token", "");
      vars_["machine_id"] = Json(r).value("machine_id", "");
      vars_["recovery"].clear();
    }
    const std::string& machine_id = vars_["machine_id"];
    auto lease = meta_->FindLease(machine_id);
    if (lease && lease->expires_ms > NowMs() + 60000) {
      vars_["lease"] = lease->lease_id;  // ours, or adopted from a fuzzed holder
    } else {
      if (lease) (void)meta_->RemoveLease(machine_id);
      auto r =
          Call("POST", "/v1/lease", vars_["machine"], R"({"holder":"fuzz","ttl_seconds":3600})");
      vars_["lease"] = r.status == 200 ? Json(r).value("lease_id", "") : "";
    }
    if (vars_["recovery"].empty() ||
        Call("GET", "/v1/machine", vars_["recovery"], "").status != 200) {
      nlohmann::json body = {{"credentials", creds_}, {"source_machine", "m"}};
      auto r = Call("POST", "/v1/recovery-sessions", vars_["machine"], body.dump());
      vars_["recovery"] = r.status == 200 ? Json(r).value("token", "") : "";
    }
    const std::string seed_key = "machines/" + machine_id + "/data/seed";
    auto info = blobs_->Stat(seed_key);
    if (!info.ok() || info->size != kSeedObjectSize) {
      Bytes seed(kSeedObjectSize);
      for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(i * 7);
      (void)blobs_->Put(seed_key, seed);
    }
    vars_["admin"] = kAdminToken;
    vars_["vault_id"] = vault_id_;
    vars_["wrapped"] = JsonInside(wrapped_);
  }

  const std::string& var(const std::string& name) { return vars_[name]; }

 private:
  [[noreturn]] void Die(const char* what) const {
    std::fprintf(stderr, "vault fixture: %s (last answer: %d %s)\n", what, last_.status,
                 std::string(last_.body.begin(), last_.body.end()).c_str());
    std::abort();
  }
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static std::string JsonInside(const std::string& text) {
    std::string quoted = nlohmann::json(text).dump();
    return quoted.substr(1, quoted.size() - 2);
  }
  static nlohmann::json Json(const vault::ServiceResponse& r) {
    return nlohmann::json::parse(r.body.begin(), r.body.end(), nullptr, false);
  }
  vault::ServiceResponse Call(const std::string& method, const std::string& path,
                              const std::string& token, const std::string& body) {
    vault::ServiceRequest req;
    req.method = method;
    req.path = path;
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    req.body.assign(body.begin(), body.end());
    last_ = service_->Handle(req);
    return last_;
  }

  vault::MetadataStore* meta_ = nullptr;  // owned by service_
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<vault::VaultService> service_;
  std::string vault_id_, creds_, credential_id_, wrapped_;
  std::map<std::string, std::string> vars_;
  vault::ServiceResponse last_;  // of Call, for Die
};

}  // namespace obagent::fuzz
