// VaultService::Handle in process, without the HTTP front end: the answers
// to malformed requests that the fuzz targets (tests/fuzz/vault_routes.cc)
// found wrong. Each test is a reproducer, also kept in
// tests/fuzz/corpus/vault_routes/.
#include "obagent/vault/service.h"

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>

#include <gtest/gtest.h>

#include "vault/service_fixture.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

class VaultServiceTest : public vault_test::ServiceFixture {
 protected:
  // The answer to an admin request, with its body parsed (a JSON answer must
  // parse).
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    Answer a = Admin(method, path, body);
    json j = a.raw.empty() ? json() : json::parse(a.raw, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << a.raw;
    return {a.status, j};
  }
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
