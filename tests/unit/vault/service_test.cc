// VaultService::Handle in process, without the HTTP front end: the answers
// to malformed requests that the fuzz targets (tests/fuzz/vault_routes.cc)
// found wrong. Each test is a reproducer, also kept in
// tests/fuzz/corpus/vault_routes/.
#include "obagent/vault/service.h"

#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "obagent/storage/blob_store.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr char kAdminToken[] = "admin-token-for-tests-0123456789";

class VaultServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "obagent-service-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ + "/data");
    auto blobs = storage::OpenLocalDirStore(root_ + "/data");
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(blobs).value();
    auto meta = MetadataStore::Open(platform::Env::Default(), root_ + "/meta");
    ASSERT_TRUE(meta.ok());
    spdlog::set_level(spdlog::level::off);
    ServiceOptions options;
    options.admin_token = kAdminToken;
    service_ = std::make_unique<VaultService>(options, std::move(meta).value(), *blobs_);
  }
  void TearDown() override {
    service_.reset();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // The answer, with its body parsed (a JSON answer must parse).
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const std::string& token = kAdminToken) {
    ServiceRequest req;
    req.method = method;
    req.path = path;
    req.headers["authorization"] = "Bearer " + token;
    req.body.assign(body.begin(), body.end());
    ServiceResponse r = service_->Handle(req);
    json j = r.body.empty() ? json() : json::parse(r.body.begin(), r.body.end(), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << std::string(r.body.begin(), r.body.end());
    return {r.status, j};
  }

  std::string root_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<VaultService> service_;
};

// fuzz finding: a path that is not UTF-8 is quoted in the 404's message;
// the JSON dump threw on it and the answer became a 500 "internal error".
TEST_F(VaultServiceTest, NonUtf8InAnErrorMessageIsReplacedNotAnInternalError) {
  auto [status, body] = Call("POST", "/v1/\x88\x9e\x8a\x93ts", R"({"name":"v2"})");
  EXPECT_EQ(status, 404);
  const std::string message = body.value("message", "");
  EXPECT_NE(message.find("no such endpoint: /v1/\xEF\xBF\xBD"), std::string::npos) << message;

  // The same for a vault name, an object key and a method.
  std::tie(status, body) = Call("POST", "/v1/vaults/v%ff/credentials", "{}");
  EXPECT_EQ(status, 404);
  EXPECT_NE(body.value("message", "").find("v\xEF\xBF\xBD"), std::string::npos);
  std::tie(status, body) = Call("GET", "/v1/objects/a%ff%00b");
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.value("message", "").find("invalid object key"), std::string::npos);
  std::tie(status, body) = Call("\xff", "/v1/vaults");
  EXPECT_EQ(status, 405);
}

}  // namespace
}  // namespace obagent::vault
