// Tests of the HttpClient of this OS (cpprestsdk on Linux, WinHTTP under
// Wine) against a real local HTTP server and proxy, which the ctest fixture
// http_test_server.py starts; OBAGENT_HTTP_TEST_SERVER names its state file.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "obagent/http_client.h"

namespace obagent::platform {
namespace {

using namespace std::string_literals;

struct TestServer {
  int port = 0;
  int proxy_port = 0;
  int closed_port = 0;
  int tls_port = 0;
};

// The ports of the fixture's server; fails the test if it is not running.
TestServer ReadServer() {
  TestServer server;
  const char* state = std::getenv("OBAGENT_HTTP_TEST_SERVER");
  if (state == nullptr || *state == '\0') {
    ADD_FAILURE() << "OBAGENT_HTTP_TEST_SERVER is not set: run through ctest, which starts "
                     "tests/unit/http/http_test_server.py";
    return server;
  }
  std::ifstream in(state);
  in >> server.port >> server.proxy_port >> server.closed_port >> server.tls_port;
  if (!in) ADD_FAILURE() << "cannot read the test server's state file " << state;
  return server;
}

std::string Url(int port) { return "http://127.0.0.1:" + std::to_string(port); }

std::unique_ptr<HttpClient> Client(int port, int timeout_seconds = 10) {
  HttpClientOptions options;
  options.base_url = Url(port);
  options.timeout_seconds = timeout_seconds;
  auto client = NewHttpClient(options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

HttpRequest Request(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  return request;
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = ReadServer();
    // Fatal, so the body never runs without a server (a skip after
    // ReadServer's failure is no skip to gtest, and the body would run on a
    // null client).
    if (server_.port == 0) GTEST_FAIL() << "no test server";
    client_ = Client(server_.port);
    ASSERT_NE(client_, nullptr);
  }

  TestServer server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, GetReturnsStatusHeadersAndBody) {
  auto response = client_->Send(Request("GET", "/hello"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(AsString(response->body), "hello, world\n");
  EXPECT_EQ(response->Header("X-Test-Header"), "yes");
  EXPECT_EQ(response->Header("x-test-header"), "yes") << "header names are case-insensitive";
  EXPECT_EQ(response->Header("ETag"), "\"v1\"");
  EXPECT_EQ(response->Header("Content-Length"), "13");
  EXPECT_EQ(response->Header("X-Not-Sent"), "");
}

TEST_F(HttpClientTest, RangedGet) {
  HttpRequest request = Request("GET", "/data");
  request.headers = {{"Range", "bytes=100-199"}};
  request.expected_response_bytes = 100;
  auto response = client_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 206);
  EXPECT_EQ(response->Header("Content-Range"), "bytes 100-199/4096");
  ASSERT_EQ(response->body.size(), 100u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(response->body[i], (100 + i) % 251) << i;

  request.headers = {{"Range", "bytes=5000-5001"}};
  response = client_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 416);
}

TEST_F(HttpClientTest, ResponseIsBuiltInTheCallersStorage) {
  Bytes storage(8192, 0xEE);  // old bytes that must not survive
  const uint8_t* const memory = storage.data();
  HttpRequest request = Request("GET", "/data");
  request.headers = {{"Range", "bytes=10-109"}};
  request.expected_response_bytes = 100;
  request.response_storage = &storage;
  auto response = client_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 206);
  ASSERT_EQ(response->body.size(), 100u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(response->body[i], (10 + i) % 251) << i;
  EXPECT_EQ(response->body.data(), memory) << "the storage's memory is reused, not a new buffer";
  EXPECT_GE(response->body.capacity(), 8192u);
  EXPECT_TRUE(storage.empty()) << "the storage moved into the response";
}

// A restore reads ranges of growing sizes into one storage: it must not get
// a fresh allocation (every page faulted in again) for each larger range.
TEST_F(HttpClientTest, StorageForGrowingRangesIsReallocatedOnlyAFewTimes) {
  Bytes storage;
  int reallocations = 0;
  const uint8_t* memory = nullptr;
  for (size_t size = 100; size <= 1000; size += 20) {  // 46 ranges, each larger
    HttpRequest request = Request("GET", "/data");
    request.headers = {{"Range", "bytes=0-" + std::to_string(size - 1)}};
    request.expected_response_bytes = size;
    request.response_storage = &storage;
    auto response = client_->Send(request);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    ASSERT_EQ(response->body.size(), size);
    EXPECT_EQ(response->body[size - 1], (size - 1) % 251);
    if (response->body.data() != memory) ++reallocations;
    memory = response->body.data();
    storage = std::move(response->body);
  }
  EXPECT_LE(reallocations, 5) << "grown twofold: 100, 200, 400, 800, 1600";
}

TEST(ReserveResponseTest, ANewBufferIsExactAStorageGrowsTwofold) {
  Bytes fresh;
  ReserveResponse(fresh, 100);
  EXPECT_EQ(fresh.capacity(), 100u);
  ReserveResponse(fresh, 150);
  EXPECT_GE(fresh.capacity(), 200u);
  const uint8_t* memory = fresh.data();
  ReserveResponse(fresh, 120);  // already room: untouched
  EXPECT_EQ(fresh.data(), memory);
  ReserveResponse(fresh, 5000);  // more than twice: what is asked
  EXPECT_GE(fresh.capacity(), 5000u);
  Bytes unknown;
  ReserveResponse(unknown, 0);
  EXPECT_EQ(unknown.capacity(), 0u);
}

TEST_F(HttpClientTest, HeadHasHeadersButNoBody) {
  auto response = client_->Send(Request("HEAD", "/data"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Length"), "4096");
  EXPECT_TRUE(response->body.empty());
}

TEST_F(HttpClientTest, MissingIsAResponseNotAnError) {
  auto response = client_->Send(Request("GET", "/no/such/thing"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(AsString(response->body), "no such thing");
}

TEST_F(HttpClientTest, ServerErrorsAndTheirHeadersReachTheCaller) {
  auto response = client_->Send(Request("GET", "/status/503"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->Header("Retry-After"), "7");
}

TEST_F(HttpClientTest, RedirectsAreNotFollowed) {
  auto response = client_->Send(Request("GET", "/redirect"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->Header("Location"), "/hello");
}

TEST_F(HttpClientTest, PutSendsBodyHeadersAndQuery) {
  std::string text = "some bytes\0with a zero"s;
  HttpRequest request = Request("PUT", "/echo?comp=block&blockid=" + UrlEncode("a+b/c="));
  request.headers = {{"X-Custom", "custom value"}, {"Content-Type", "application/xml"}};
  request.body = AsBytes(text);
  auto response = client_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("X-Received-Method"), "PUT");
  EXPECT_EQ(response->Header("X-Received-Length"), std::to_string(text.size()));
  EXPECT_EQ(response->Header("X-Received-Content-Type"), "application/xml");
  EXPECT_EQ(response->Header("X-Received-Custom"), "custom value");
  EXPECT_EQ(response->Header("X-Received-Query"), "comp=block&blockid=a%2Bb%2Fc%3D");
  EXPECT_EQ(AsString(response->body), text);
}

TEST_F(HttpClientTest, EmptyPutAnnouncesZeroLength) {
  // Azure answers 411 to a PUT without Content-Length.
  auto response = client_->Send(Request("PUT", "/echo"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->Header("X-Received-Length"), "0");
  EXPECT_TRUE(response->body.empty());
}

TEST_F(HttpClientTest, LargeBodyRoundTrips) {
  Bytes body(3 << 20);
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<uint8_t>(i * 7 + (i >> 13));
  HttpRequest request = Request("POST", "/echo");
  request.body = body;
  auto response = client_->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->Header("X-Received-Content-Type"), "application/octet-stream");
  EXPECT_TRUE(response->body == body);
}

// The client sends a copy of each body, in storage it reuses from the last
// upload: a smaller body after a larger one, a larger after a smaller, and
// uploads from several threads at once each arrive exactly.
TEST_F(HttpClientTest, BodiesOfChangingSizesAndConcurrentUploadsArriveExactly) {
  auto body_of = [](size_t size, uint8_t seed) {
    Bytes body(size);
    for (size_t i = 0; i < size; ++i) body[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 11));
    return body;
  };
  for (auto [size, seed] :
       {std::pair<size_t, uint8_t>{3 << 20, 1}, {1 << 20, 2}, {5, 3}, {2 << 20, 4}}) {
    Bytes body = body_of(size, seed);
    HttpRequest request = Request("PUT", "/echo");
    request.body = body;
    auto response = client_->Send(request);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->Header("X-Received-Length"), std::to_string(size));
    EXPECT_TRUE(response->body == body) << size << " bytes";
  }
  std::vector<std::thread> threads;
  std::vector<int> exact(4);
  for (size_t t = 0; t < exact.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        Bytes body = body_of((1 << 20) + t * 4096 + i, static_cast<uint8_t>(10 * t + i));
        HttpRequest request = Request("PUT", "/echo");
        request.body = body;
        auto response = client_->Send(request);
        if (response.ok() && response->body == body) ++exact[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int n : exact) EXPECT_EQ(n, 3);
}

TEST_F(HttpClientTest, ConcurrentRequestsShareOneClient) {
  std::vector<std::thread> threads;
  std::vector<int> statuses(8);
  for (size_t t = 0; t < statuses.size(); ++t) {
    threads.emplace_back([&, t] {
      auto response = client_->Send(Request("GET", "/data"));
      statuses[t] = response.ok() && response->body.size() == 4096 ? response->status : -1;
    });
  }
  for (auto& thread : threads) thread.join();
  for (int status : statuses) EXPECT_EQ(status, 200);
}

TEST_F(HttpClientTest, ConnectionClosedEarlyIsAnError) {
  auto response = client_->Send(Request("GET", "/truncated"));
  ASSERT_FALSE(response.ok()) << "a body cut short must not pass as complete";
  EXPECT_EQ(response.status().code(), ErrorCode::kServiceUnreachable);
}

TEST_F(HttpClientTest, TimeoutIsAnError) {
  auto slow = Client(server_.port, 1);
  ASSERT_NE(slow, nullptr);
  auto response = slow->Send(Request("GET", "/slow"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kServiceUnreachable);
}

TEST_F(HttpClientTest, BasePathIsPrependedToTargets) {
  HttpClientOptions options;
  options.base_url = Url(server_.port) + "/status/";
  auto client = NewHttpClient(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->base_url(), Url(server_.port) + "/status");
  auto response = (*client)->Send(Request("GET", "/418"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 418);
}

TEST_F(HttpClientTest, ConnectionRefusedIsAClearError) {
  auto client = Client(server_.closed_port);
  ASSERT_NE(client, nullptr);
  auto response = client->Send(Request("GET", "/hello"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), ErrorCode::kServiceUnreachable);
  // The message names what failed, so a user can tell which endpoint is down.
  EXPECT_NE(response.status().detail().find("GET " + Url(server_.closed_port) + "/hello"),
            std::string::npos)
      << response.status().detail();
}

// The origin is named "localhost" and the proxy "127.0.0.1": Wine's WinHTTP
// compares host names only, not ports, to decide whether it talks to a proxy,
// and sends origin-form requests ("GET /hello") when the two names match.
std::string OriginBehindProxy(int port) { return "http://localhost:" + std::to_string(port); }

TEST_F(HttpClientTest, HttpsRefusesAnUntrustedCertificate) {
  // The fixture's TLS server has a fresh self-signed certificate: the client
  // must speak TLS to it (not plain HTTP) and refuse the certificate.
  HttpClientOptions options;
  options.base_url = "https://localhost:" + std::to_string(server_.tls_port);
  auto client = NewHttpClient(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto response = (*client)->Send(Request("GET", "/hello"));
  ASSERT_FALSE(response.ok()) << "an untrusted certificate was accepted";
  EXPECT_EQ(response.status().code(), ErrorCode::kServiceUnreachable);
  std::string detail = response.status().detail();
  for (char& c : detail) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(detail.find("certificate") != std::string::npos ||
              detail.find("tls") != std::string::npos || detail.find("ssl") != std::string::npos)
      << response.status().detail();
}

TEST_F(HttpClientTest, ProxyWithCredentialsForwards) {
  HttpClientOptions options;
  options.base_url = OriginBehindProxy(server_.port);
  options.proxy_url = Url(server_.proxy_port);
  options.proxy_user = "user";
  options.proxy_password = "secret";
  auto client = NewHttpClient(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto response = (*client)->Send(Request("GET", "/hello"));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(AsString(response->body), "hello, world\n");
}

TEST_F(HttpClientTest, ProxyRefusalIs407) {
  for (std::string password : {"", "wrong"}) {
    HttpClientOptions options;
    options.base_url = OriginBehindProxy(server_.port);
    options.proxy_url = Url(server_.proxy_port);
    if (!password.empty()) options.proxy_user = "user";
    options.proxy_password = password;
    auto client = NewHttpClient(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    auto response = (*client)->Send(Request("GET", "/hello"));
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 407) << "password '" << password << "'";
  }
}

TEST(HttpClientOptionsTest, BadUrlsAreRefused) {
  for (std::string url : {"", "ftp://host/", "127.0.0.1:80", "http://", "http://host:0",
                          "http://host:99999", "http://user@host/", "http://host/?q=1"}) {
    HttpClientOptions options;
    options.base_url = url;
    auto client = NewHttpClient(options);
    ASSERT_FALSE(client.ok()) << url;
    EXPECT_EQ(client.status().code(), ErrorCode::kInvalidArgument) << url;
  }
  HttpClientOptions options;
  options.base_url = "http://127.0.0.1:1";
  options.proxy_url = "socks5://proxy:1080";
  EXPECT_EQ(NewHttpClient(options).status().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpUrlTest, Parse) {
  auto url = ParseHttpUrl("https://acct.blob.core.windows.net");
  ASSERT_TRUE(url.ok());
  EXPECT_TRUE(url->https);
  EXPECT_EQ(url->host, "acct.blob.core.windows.net");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->path, "");
  url = ParseHttpUrl("HTTP://127.0.0.1:10000/devstoreaccount1/");
  ASSERT_TRUE(url.ok());
  EXPECT_FALSE(url->https);
  EXPECT_EQ(url->port, 10000);
  EXPECT_EQ(url->path, "/devstoreaccount1");
  url = ParseHttpUrl("http://[::1]:8470");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 8470);
}

TEST(HttpUrlTest, EncodeAndDate) {
  EXPECT_EQ(UrlEncode("a b/c~d_e.f-g+h"), "a%20b%2Fc~d_e.f-g%2Bh");
  EXPECT_EQ(UrlEncode("dir/file name", true), "dir/file%20name");
  EXPECT_EQ(UrlEncode("\xc3\xa9"), "%C3%A9");
  EXPECT_EQ(HttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
  EXPECT_EQ(HttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(HttpDate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

}  // namespace
}  // namespace obagent::platform
