// VaultClient on the HTTP layer's one retry policy, against a scripted HTTP
// server: what it repeats (idempotent requests, the POSTs whose repeat
// changes nothing), what it sends once (creating a vault, taking the lease,
// a job report), and that 407 still means the proxy refused us.

#include <map>
#include <memory>
#include <mutex>
#include <string>

// cpprestsdk's U() macro would clash with gtest's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <gtest/gtest.h>

#include "net/free_port.h"
#include "obagent/engine/vault_client.h"

namespace obagent::engine {
namespace {

using testing::FreePort;

// Answers every request with `status` (Retry-After: 0, so retries do not
// wait) and counts the requests per "METHOD /path".
class VaultClientRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int attempt = 0; attempt < 5 && url_.empty(); ++attempt) {
      std::string base = "http://127.0.0.1:" + std::to_string(FreePort());
      listener_ = std::make_unique<web::http::experimental::listener::http_listener>(base);
      listener_->support([this](web::http::http_request request) {
        request.extract_vector().wait();
        int status;
        {
          std::lock_guard lock(mu_);
          ++counts_[request.method() + " " + request.relative_uri().path()];
          status = status_;
        }
        web::http::http_response response(static_cast<web::http::status_code>(status));
        response.headers().add("Retry-After", "0");
        request.reply(response).wait();
      });
      try {
        listener_->open().wait();
        url_ = base;
      } catch (const std::exception&) {
        listener_.reset();
      }
    }
    ASSERT_FALSE(url_.empty()) << "could not open a listener";
  }
  void TearDown() override {
    if (listener_) listener_->close().wait();
  }

  int Count(const std::string& request) {
    std::lock_guard lock(mu_);
    return counts_[request];
  }
  void Answer(int status) {
    std::lock_guard lock(mu_);
    status_ = status;
  }
  VaultClient Client() {
    ServiceConnection c{url_, "token"};
    c.max_attempts = 3;
    c.base_delay_ms = 1;
    c.timeout_seconds = 10;
    return VaultClient(c);
  }

  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  std::string url_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
  int status_ = 503;
};

TEST_F(VaultClientRetryTest, IdempotentRequestsAreRetriedThenUnreachable) {
  VaultClient client = Client();
  auto machine = client.Call("GET", "/v1/machine");
  EXPECT_EQ(machine.status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_NE(machine.status().detail().find("GET /v1/machine at " + url_ +
                                           " failed after 3 attempts: HTTP 503"),
            std::string::npos)
      << machine.status().ToString();
  EXPECT_EQ(Count("GET /v1/machine"), 3);

  auto store = client.ObjectStore();
  EXPECT_EQ(store->Put("data/ab/ab12", AsBytes("x")).code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ(Count("PUT /v1/objects/data/ab/ab12"), 3);
  EXPECT_EQ(store->Delete("data/ab/ab12").code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ(Count("DELETE /v1/objects/data/ab/ab12"), 3);
}

TEST_F(VaultClientRetryTest, PostsWhoseRepeatChangesNothingAreRetried) {
  VaultClient client = Client();
  for (const char* path : {"/v1/lease/l1/renew", "/v1/register/prepare", "/v1/register",
                           "/v1/recovery-sessions", "/v1/vaults/v1/credentials"}) {
    auto r = client.Call("POST", path, {{"x", 1}});
    EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable) << path;
    EXPECT_EQ(Count(std::string("POST ") + path), 3) << path;
  }
}

TEST_F(VaultClientRetryTest, PostsThatCreateSomethingAreSentOnce) {
  VaultClient client = Client();
  for (const char* path : {"/v1/vaults", "/v1/lease", "/v1/jobs"}) {
    auto r = client.Call("POST", path, {{"x", 1}});
    EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable) << path;
    EXPECT_NE(r.status().detail().find("failed after 1 attempt: HTTP 503"), std::string::npos)
        << r.status().ToString();
    EXPECT_EQ(Count(std::string("POST ") + path), 1) << path;
  }
}

TEST_F(VaultClientRetryTest, AnswersThatAreNotRetryableComeBackOnce) {
  Answer(409);
  VaultClient client = Client();
  auto r = client.Call("POST", "/v1/lease/l1/renew", {{"ttl_seconds", 60}});
  EXPECT_EQ(r.status().code(), ErrorCode::kAlreadyExists) << r.status().ToString();
  EXPECT_EQ(Count("POST /v1/lease/l1/renew"), 1);

  Answer(407);
  r = client.Call("GET", "/v1/machine");
  EXPECT_EQ(r.status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_NE(r.status().detail().find("407 Proxy Authentication Required"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(Count("GET /v1/machine"), 1);
}

}  // namespace
}  // namespace obagent::engine
