// vaultd in process: a VaultService behind the real HTTP listener on
// 127.0.0.1 and a random port, driven with cpprestsdk's http_client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "net/free_port.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/vault_client.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/http_server.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

#include <spdlog/spdlog.h>

#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_client.h>

namespace obagent::vault {
namespace {

namespace fs = std::filesystem;
namespace http = web::http;
using nlohmann::json;

constexpr char kAdminToken[] = "admin-token-for-tests-0123456789";

using testing::FreePort;

// Forwards to a real store and counts what is read from it, so the tests
// can tell that HEAD reads nothing and a ranged GET only its range.
class CountingStore final : public storage::BlobStore {
 public:
  explicit CountingStore(std::unique_ptr<storage::BlobStore> base) : base_(std::move(base)) {}
  Status Put(std::string_view key, ByteView data) override { return base_->Put(key, data); }
  Result<Bytes> Get(std::string_view key) override {
    auto r = base_->Get(key);
    if (r.ok()) bytes_read += r->size();
    return r;
  }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    auto r = base_->GetRange(key, offset, length);
    if (r.ok()) bytes_read += r->size();
    return r;
  }
  Result<storage::ObjectInfo> Stat(std::string_view key) override { return base_->Stat(key); }
  Status PutFrom(std::string_view key, storage::ByteSource& source) override {
    return base_->PutFrom(key, source);
  }
  Status GetTo(std::string_view key, uint64_t offset, uint64_t length,
               storage::ByteSink& sink) override {
    struct Counted final : storage::ByteSink {
      storage::ByteSink& inner;
      std::atomic<uint64_t>& count;
      Counted(storage::ByteSink& i, std::atomic<uint64_t>& c) : inner(i), count(c) {}
      Status Write(ByteView data) override {
        count += data.size();
        return inner.Write(data);
      }
    } counted(sink, bytes_read);
    return base_->GetTo(key, offset, length, counted);
  }
  Result<std::vector<std::string>> List(std::string_view prefix) override {
    return base_->List(prefix);
  }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Result<bool> Exists(std::string_view key) override { return base_->Exists(key); }
  std::string Describe() const override { return base_->Describe(); }

  std::atomic<uint64_t> bytes_read{0};

 private:
  std::unique_ptr<storage::BlobStore> base_;
};

// One raw HTTP/1.1 exchange on a fresh connection: sends `request`, then
// `then` (after the first answer bytes arrived, if `wait_first`), and
// returns everything the server sent until it closed the connection or
// `timeout_ms` passed without data.
std::string RawExchange(int port, const std::string& request, int timeout_ms = 5000) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

struct Answer {
  int status = 0;
  std::vector<unsigned char> body;
  http::http_headers headers;
  json Json() const { return json::parse(body.begin(), body.end(), nullptr, false); }
  std::string Text() const { return std::string(body.begin(), body.end()); }
};

// A registered machine as the tests see it.
struct Machine {
  std::string id;
  std::string token;
};

std::string WrappedKeyJson() {
  keys::KdfParams params;
  params.n = 1024;
  params.salt = crypto::RandomBytes(32);
  keys::WrappedKey w = keys::WrapMasterKey(crypto::RandomKey(), crypto::RandomKey(),
                                           ToHex(crypto::RandomBytes(16)), params);
  return keys::SerializeWrappedKey(w);
}

class VaultServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "obagent-vaultd-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = tmpl;
    fs::create_directories(root_ + "/data");
    auto blobs = storage::OpenLocalDirStore(root_ + "/data");
    ASSERT_TRUE(blobs.ok());
    auto counting = std::make_unique<CountingStore>(std::move(blobs).value());
    counting_ = counting.get();
    blobs_ = std::move(counting);
    spdlog::set_level(spdlog::level::warn);
    options_.admin_token = kAdminToken;
    options_.min_lease_ttl_seconds = 1;
  }

  void TearDown() override {
    StopServer();
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void StartServer(const std::string& scheme = "http") {
    auto meta = MetadataStore::Open(platform::Env::Default(), root_ + "/meta");
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    HttpServerOptions http_options;
    http_options.tls_cert_file = tls_cert_;
    http_options.tls_key_file = tls_key_;
    http_options.max_connections = max_connections_;
    for (int attempt = 0; attempt < 5; ++attempt) {
      url_ = scheme + "://127.0.0.1:" + std::to_string(FreePort());
      options_.service_url = url_;
      http_options.listen_url = url_;
      if (!service_) {
        service_ = std::make_unique<VaultService>(options_, std::move(meta).value(), *blobs_);
      }
      auto server = HttpServer::Start(*service_, http_options);
      if (server.ok()) {
        server_ = std::move(server).value();
        break;
      }
      ASSERT_LT(attempt, 4) << server.status().ToString();
    }
    http::client::http_client_config config;
    config.set_validate_certificates(false);
    config.set_timeout(std::chrono::seconds(60));
    client_ = std::make_unique<http::client::http_client>(web::uri(url_), config);
  }

  void StopServer() {
    client_.reset();
    server_.reset();
    service_.reset();
  }

  void RestartServer() {
    StopServer();
    StartServer();
  }

  Answer Send(const std::string& method, const std::string& path, const std::string& token = "",
              const std::vector<unsigned char>* bytes = nullptr, const json* body = nullptr,
              const std::map<std::string, std::string>& headers = {}) {
    http::http_request req(method);
    req.set_request_uri(web::uri(path));
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    for (const auto& [k, v] : headers) req.headers().add(k, v);
    if (bytes) req.set_body(*bytes);
    if (body) {
      // The bytes overload: cpprestsdk's string overload reinterprets a char
      // stream buffer as an unsigned char one, which UBSan reports.
      std::string text = body->dump();
      req.set_body(std::vector<unsigned char>(text.begin(), text.end()));
      req.headers().set_content_type("application/json");
    }
    http::http_response resp = client_->request(req).get();
    Answer a;
    a.status = resp.status_code();
    a.headers = resp.headers();
    a.body = resp.extract_vector().get();
    return a;
  }

  Answer Call(const std::string& method, const std::string& path, const json& body,
              const std::string& token = "") {
    return Send(method, path, token, nullptr, &body);
  }

  Answer Admin(const std::string& method, const std::string& path, const json& body = json()) {
    if (body.is_null()) return Send(method, path, kAdminToken);
    return Call(method, path, body, kAdminToken);
  }

  std::string CreateVault(const std::string& name) {
    Answer a = Admin("POST", "/v1/vaults", {{"name", name}});
    EXPECT_EQ(a.status, 201) << a.Text();
    return a.Json().value("vault_id", "");
  }

  std::string DownloadCredentials(const std::string& vault, const json& body = json::object()) {
    Answer a = Admin("POST", "/v1/vaults/" + vault + "/credentials", body);
    EXPECT_EQ(a.status, 200) << a.Text();
    return a.Json().value("credentials", "");
  }

  Answer RegisterRaw(const std::string& creds, const std::string& name,
                     const std::string& key_check, const std::string& wrapped = "") {
    return Call("POST", "/v1/register",
                {{"credentials", creds},
                 {"machine_name", name},
                 {"wrapped_key", wrapped.empty() ? WrappedKeyJson() : wrapped},
                 {"key_check", key_check}});
  }

  Machine Register(const std::string& creds, const std::string& name,
                   const std::string& key_check = std::string(64, 'a')) {
    Answer a = RegisterRaw(creds, name, key_check);
    EXPECT_EQ(a.status, 200) << a.Text();
    json j = a.Json();
    return {j.value("machine_id", ""), j.value("token", "")};
  }

  std::string Lease(const Machine& m, const std::string& holder = "job", int ttl = 60) {
    Answer a = Call("POST", "/v1/lease", {{"holder", holder}, {"ttl_seconds", ttl}}, m.token);
    EXPECT_EQ(a.status, 200) << a.Text();
    return a.Json().value("lease_id", "");
  }

  Answer Put(const Machine& m, const std::string& key, const std::string& data,
             const std::string& lease) {
    std::vector<unsigned char> bytes(data.begin(), data.end());
    std::map<std::string, std::string> headers;
    if (!lease.empty()) headers["X-Obagent-Lease"] = lease;
    return Send("PUT", "/v1/objects/" + key, m.token, &bytes, nullptr, headers);
  }

  Answer Get(const Machine& m, const std::string& key, const std::string& range = "") {
    std::map<std::string, std::string> headers;
    if (!range.empty()) headers["Range"] = range;
    return Send("GET", "/v1/objects/" + key, m.token, nullptr, nullptr, headers);
  }

  static void ExpectInvalidCredentials(const Answer& a, const std::string& reason) {
    EXPECT_EQ(a.status, 401) << a.Text();
    json j = a.Json();
    EXPECT_EQ(j.value("error_id", ""), "34513") << a.Text();
    EXPECT_NE(j.value("message", "").find(reason), std::string::npos) << a.Text();
  }

  std::string root_;
  std::string url_;
  std::string tls_cert_, tls_key_;
  ServiceOptions options_;
  std::unique_ptr<storage::BlobStore> blobs_;
  CountingStore* counting_ = nullptr;
  size_t max_connections_ = 256;
  std::unique_ptr<VaultService> service_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<http::client::http_client> client_;
};

TEST_F(VaultServerTest, AdminEndpointsNeedTheAdminToken) {
  StartServer();
  json body = {{"name", "v1"}};
  EXPECT_EQ(Call("POST", "/v1/vaults", body).status, 401);
  EXPECT_EQ(Call("POST", "/v1/vaults", body, "wrong-token-wrong-token").status, 401);
  EXPECT_EQ(Send("GET", "/v1/vaults").status, 401);
  EXPECT_EQ(Send("GET", "/v1/vaults", std::string(kAdminToken) + "x").status, 401);
  EXPECT_EQ(Call("POST", "/v1/vaults/v1/credentials", json::object()).status, 401);
  Answer a = Call("POST", "/v1/vaults", body);
  EXPECT_EQ(a.Json().value("error_id", "x"), "");
  EXPECT_FALSE(a.Json().value("message", "").empty());

  std::string id = CreateVault("v1");
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(Admin("POST", "/v1/vaults", {{"name", "v1"}}).status, 409);
  EXPECT_EQ(Admin("POST", "/v1/vaults", {{"name", "bad name"}}).status, 400);
  EXPECT_EQ(Admin("POST", "/v1/vaults", {{"name", std::string(65, 'a')}}).status, 400);
  EXPECT_EQ(Admin("POST", "/v1/vaults", {{"nom", "x"}}).status, 400);
  EXPECT_EQ(Admin("POST", "/v1/vaults/nope/credentials", json::object()).status, 404);
  Answer list = Admin("GET", "/v1/vaults");
  ASSERT_EQ(list.status, 200);
  json j = list.Json();
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["vault_id"], id);
  EXPECT_EQ(j[0]["name"], "v1");
  EXPECT_EQ(j[0]["machines"], 0);
  EXPECT_TRUE(ParseUtcTime(j[0]["created"].get<std::string>()).ok());
  // A machine token is no admin token.
  Machine m = Register(DownloadCredentials("v1"), "host");
  EXPECT_EQ(Send("GET", "/v1/vaults", m.token).status, 401);
}

TEST_F(VaultServerTest, DownloadPrepareRegister) {
  StartServer();
  std::string vault_id = CreateVault("main");
  Answer dl = Admin("POST", "/v1/vaults/main/credentials", json::object());
  ASSERT_EQ(dl.status, 200);
  std::string creds = dl.Json()["credentials"];
  auto parsed = VaultCredentials::Parse(creds);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->vault_id, vault_id);
  EXPECT_EQ(parsed->vault_name, "main");
  EXPECT_EQ(parsed->service_url, url_);
  EXPECT_NEAR(static_cast<double>(parsed->expires_at - parsed->issued_at), 48 * 3600, 1);
  EXPECT_EQ(dl.Json()["expires_at"], FormatUtcTime(parsed->expires_at));

  Answer prep =
      Call("POST", "/v1/register/prepare", {{"credentials", creds}, {"machine_name", "host-a"}});
  ASSERT_EQ(prep.status, 200) << prep.Text();
  EXPECT_EQ(prep.Json()["vault_id"], vault_id);
  EXPECT_EQ(prep.Json()["machine_exists"], false);
  EXPECT_FALSE(prep.Json().contains("wrapped_key"));

  std::string wrapped = WrappedKeyJson();
  Answer reg = RegisterRaw(creds, "host-a", std::string(64, 'b'), wrapped);
  ASSERT_EQ(reg.status, 200) << reg.Text();
  Machine m{reg.Json()["machine_id"], reg.Json()["token"]};
  EXPECT_EQ(m.id.size(), 32u);
  EXPECT_EQ(m.token.size(), 64u);

  Answer me = Send("GET", "/v1/machine", m.token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.Json()["machine_id"], m.id);
  EXPECT_EQ(me.Json()["name"], "host-a");
  EXPECT_EQ(me.Json()["vault_id"], vault_id);
  EXPECT_EQ(me.Json()["vault_name"], "main");

  // The wrapped key is the machine's object keys/<key id>, and prepare hands it back.
  auto key = keys::ParseWrappedKey(wrapped);
  ASSERT_TRUE(key.ok());
  Answer obj = Get(m, "keys/" + key->key_id);
  ASSERT_EQ(obj.status, 200);
  EXPECT_EQ(obj.Text(), wrapped);
  prep = Call("POST", "/v1/register/prepare", {{"credentials", creds}, {"machine_name", "host-a"}});
  ASSERT_EQ(prep.status, 200);
  EXPECT_EQ(prep.Json()["machine_exists"], true);
  EXPECT_EQ(prep.Json()["wrapped_key"], wrapped);

  EXPECT_EQ(Admin("GET", "/v1/vaults").Json()[0]["machines"], 1);
  EXPECT_EQ(Send("GET", "/v1/machine", "not-a-token").status, 401);
  EXPECT_EQ(Send("GET", "/v1/machine").status, 401);
  EXPECT_EQ(RegisterRaw(creds, "host-b", "xyz").status, 400);
  EXPECT_EQ(RegisterRaw(creds, "", std::string(64, 'b')).status, 400);
  EXPECT_EQ(Call("POST", "/v1/register",
                 {{"credentials", creds},
                  {"machine_name", "host-c"},
                  {"wrapped_key", "{}"},
                  {"key_check", std::string(64, 'b')}})
                .status,
            400);
}

TEST_F(VaultServerTest, NewDownloadSupersedesTheOld) {
  StartServer();
  CreateVault("main");
  std::string first = DownloadCredentials("main");
  std::string second = DownloadCredentials("main");
  json body = {{"credentials", first}, {"machine_name", "h"}};
  ExpectInvalidCredentials(Call("POST", "/v1/register/prepare", body), "superseded");
  ExpectInvalidCredentials(RegisterRaw(first, "h", std::string(64, 'a')), "superseded");
  body["credentials"] = second;
  EXPECT_EQ(Call("POST", "/v1/register/prepare", body).status, 200);
  Register(second, "h");
}

TEST_F(VaultServerTest, ExpiredCredentialsAreRefused) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main", {{"validity_seconds", 1}});
  auto parsed = VaultCredentials::Parse(creds);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->expires_at - parsed->issued_at, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  ExpectInvalidCredentials(RegisterRaw(creds, "h", std::string(64, 'a')),
                           "expired at " + FormatUtcTime(parsed->expires_at));
  // Fractional hours (0.0005 h = 1.8 s) are rounded up to whole seconds.
  creds = DownloadCredentials("main", {{"validity_hours", 0.0005}});
  parsed = VaultCredentials::Parse(creds);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->expires_at - parsed->issued_at, 2);
  Register(creds, "h");
  EXPECT_EQ(Admin("POST", "/v1/vaults/main/credentials", {{"validity_hours", 0}}).status, 400);
  EXPECT_EQ(Admin("POST", "/v1/vaults/main/credentials", {{"validity_hours", -1}}).status, 400);
  EXPECT_EQ(Admin("POST", "/v1/vaults/main/credentials", {{"validity_hours", "2"}}).status, 400);
}

TEST_F(VaultServerTest, TamperedMalformedAndForeignCredentials) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  // Longer validity, signature kept: the signature no longer matches.
  auto parsed = VaultCredentials::Parse(creds);
  ASSERT_TRUE(parsed.ok());
  VaultCredentials tampered = *parsed;
  tampered.expires_at += 365 * 24 * 3600;
  ExpectInvalidCredentials(RegisterRaw(tampered.Serialize(), "h", std::string(64, 'a')),
                           "tampered");
  ExpectInvalidCredentials(RegisterRaw("<not xml", "h", std::string(64, 'a')), "malformed");
  ExpectInvalidCredentials(RegisterRaw("", "h", std::string(64, 'a')), "malformed");
  // Well-formed, but for a vault this service has never heard of.
  VaultCredentials foreign = *parsed;
  foreign.vault_id = ToHex(crypto::RandomBytes(16));
  foreign.Sign(crypto::RandomKey());
  ExpectInvalidCredentials(RegisterRaw(foreign.Serialize(), "h", std::string(64, 'a')),
                           "does not know");
  // The genuine file still works.
  Register(creds, "h");
}

TEST_F(VaultServerTest, FiftyMachinesPerVault) {
  StartServer();
  CreateVault("full");
  std::string creds = DownloadCredentials("full");
  for (int i = 0; i < 50; ++i) Register(creds, "host-" + std::to_string(i));
  Answer a = RegisterRaw(creds, "host-50", std::string(64, 'a'));
  EXPECT_EQ(a.status, 403) << a.Text();
  EXPECT_EQ(a.Json().value("error_id", ""), "403");
  EXPECT_NE(a.Json().value("message", "").find("50"), std::string::npos);
  // A machine already registered may still register again.
  Register(creds, "host-7");
  EXPECT_EQ(Admin("GET", "/v1/vaults").Json()[0]["machines"], 50);
  // Another vault is not affected.
  CreateVault("other");
  Register(DownloadCredentials("other"), "host-50");
}

TEST_F(VaultServerTest, ReRegistration) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  std::string check = std::string(64, 'c');
  Machine m = Register(creds, "host", check);
  std::string lease = Lease(m);
  ASSERT_EQ(Put(m, "data/x", "payload", lease).status, 201);
  std::string wrapped_before =
      Call("POST", "/v1/register/prepare", {{"credentials", creds}, {"machine_name", "host"}})
          .Json()["wrapped_key"];

  // Another passphrase: refused, nothing changes.
  Answer a = RegisterRaw(creds, "host", std::string(64, 'd'));
  EXPECT_EQ(a.status, 409) << a.Text();
  EXPECT_EQ(a.Json().value("error_id", ""), "34506");
  EXPECT_EQ(Send("GET", "/v1/machine", m.token).status, 200);
  EXPECT_EQ(Get(m, "data/x").Text(), "payload");
  EXPECT_EQ(Call("POST", "/v1/register/prepare", {{"credentials", creds}, {"machine_name", "host"}})
                .Json()["wrapped_key"],
            wrapped_before);

  // The same passphrase: same machine, new token, the old token stops working.
  Machine again = Register(creds, "host", check);
  EXPECT_EQ(again.id, m.id);
  EXPECT_NE(again.token, m.token);
  EXPECT_EQ(Send("GET", "/v1/machine", m.token).status, 401);
  EXPECT_EQ(Get(again, "data/x").Text(), "payload");
  EXPECT_EQ(Admin("GET", "/v1/vaults").Json()[0]["machines"], 1);
}

TEST_F(VaultServerTest, MachinesOnlySeeTheirOwnObjects) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  Machine a = Register(creds, "a");
  Machine b = Register(creds, "b");
  std::string lease_a = Lease(a), lease_b = Lease(b);
  ASSERT_EQ(Put(b, "data/secret", "b's data", lease_b).status, 201);
  ASSERT_EQ(Put(a, "data/mine", "a's data", lease_a).status, 201);

  EXPECT_EQ(Get(a, "data/secret").status, 404);
  EXPECT_EQ(Send("HEAD", "/v1/objects/data/secret", a.token).status, 404);
  Answer list = Send("GET", "/v1/objects", a.token);
  ASSERT_EQ(list.status, 200);
  std::vector<std::string> keys = list.Json()["keys"];
  for (const std::string& k : keys) EXPECT_EQ(k.find("secret"), std::string::npos) << k;
  EXPECT_NE(std::find(keys.begin(), keys.end(), "data/mine"), keys.end());

  // Escapes out of the machine's folder are refused.
  for (const std::string& path : std::vector<std::string>{
           "/v1/objects/../" + b.id + "/data/secret", "/v1/objects/%2E%2E/" + b.id + "/data/secret",
           "/v1/objects/data/../../" + b.id + "/data/secret", "/v1/objects//etc/passwd",
           "/v1/objects/data/./x", "/v1/objects/data%2F..%2F..%2F" + b.id + "%2Fdata%2Fsecret"}) {
    EXPECT_EQ(Send("GET", path, a.token).status, 400) << path;
    std::map<std::string, std::string> h = {{"X-Obagent-Lease", lease_a}};
    EXPECT_EQ(Send("DELETE", path, a.token, nullptr, nullptr, h).status, 400) << path;
  }
  EXPECT_EQ(Send("GET", "/v1/objects?prefix=..%2F" + b.id, a.token).status, 400);
  EXPECT_EQ(Send("GET", "/v1/objects?prefix=../", a.token).status, 400);

  // Deleting "the same key" in A's folder leaves B's object alone.
  std::map<std::string, std::string> h = {{"X-Obagent-Lease", lease_a}};
  EXPECT_EQ(Send("DELETE", "/v1/objects/data/secret", a.token, nullptr, nullptr, h).status, 204);
  EXPECT_EQ(Get(b, "data/secret").Text(), "b's data");
  // A cannot use B's lease either.
  EXPECT_EQ(Put(a, "data/y", "x", lease_b).status, 409);
}

TEST_F(VaultServerTest, LeasesAreExclusiveAndExpire) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  EXPECT_EQ(Put(m, "data/x", "1", "").status, 409);  // no lease at all

  Answer first = Call("POST", "/v1/lease", {{"holder", "job-1"}, {"ttl_seconds", 2}}, m.token);
  ASSERT_EQ(first.status, 200) << first.Text();
  std::string lease = first.Json()["lease_id"];
  EXPECT_TRUE(ParseUtcTime(first.Json()["expires_at"].get<std::string>()).ok());

  Answer second = Call("POST", "/v1/lease", {{"holder", "job-2"}, {"ttl_seconds", 60}}, m.token);
  EXPECT_EQ(second.status, 409);
  EXPECT_EQ(second.Json()["holder"], "job-1");
  EXPECT_EQ(second.Json()["expires_at"], first.Json()["expires_at"]);

  EXPECT_EQ(Put(m, "data/x", "1", "").status, 409);  // header missing
  EXPECT_EQ(Put(m, "data/x", "1", "not-the-lease").status, 409);
  EXPECT_EQ(Put(m, "data/x", "1", lease).status, 201);
  std::map<std::string, std::string> no_lease;
  EXPECT_EQ(Send("DELETE", "/v1/objects/data/x", m.token).status, 409);
  EXPECT_EQ(Get(m, "data/x").Text(), "1");

  Answer renewed = Call("POST", "/v1/lease/" + lease + "/renew", {{"ttl_seconds", 1}}, m.token);
  EXPECT_EQ(renewed.status, 200) << renewed.Text();
  EXPECT_EQ(Call("POST", "/v1/lease/nope/renew", {{"ttl_seconds", 1}}, m.token).status, 409);
  EXPECT_EQ(Call("POST", "/v1/lease", {{"holder", "job"}, {"ttl_seconds", 0}}, m.token).status,
            400);
  EXPECT_EQ(Call("POST", "/v1/lease", {{"holder", "job"}, {"ttl_seconds", 3601}}, m.token).status,
            400);

  // Expired: free to take; the old lease neither renews nor writes.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  std::string taken = Lease(m, "job-3");
  EXPECT_NE(taken, lease);
  EXPECT_EQ(Call("POST", "/v1/lease/" + lease + "/renew", {{"ttl_seconds", 60}}, m.token).status,
            409);
  EXPECT_EQ(Put(m, "data/y", "2", lease).status, 409);
  EXPECT_EQ(Put(m, "data/y", "3", taken).status, 201);  // objects are write-once: a new key
  // Releasing someone else's lease does nothing; releasing one's own frees it.
  EXPECT_EQ(Send("DELETE", "/v1/lease/" + lease, m.token).status, 204);
  EXPECT_EQ(Call("POST", "/v1/lease", {{"holder", "x"}, {"ttl_seconds", 60}}, m.token).status, 409);
  EXPECT_EQ(Send("DELETE", "/v1/lease/" + taken, m.token).status, 204);
  EXPECT_EQ(Put(m, "data/z", "4", taken).status, 409);
  Lease(m, "job-4");
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

TEST_F(VaultServerTest, ObjectsRangesHeadAndListing) {
  options_.list_page_size = 3;
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::string lease = Lease(m);
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>('a' + i % 26);
  ASSERT_EQ(Put(m, "data/ab/pack1", data, lease).status, 201);

  Answer full = Get(m, "data/ab/pack1");
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.Text(), data);
  Answer part = Get(m, "data/ab/pack1", "bytes=10-19");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Text(), data.substr(10, 10));
  part = Get(m, "data/ab/pack1", "bytes=990-5000");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Text(), data.substr(990));
  EXPECT_EQ(part.headers["Content-Range"], "bytes 990-999/1000");
  part = Get(m, "data/ab/pack1", "bytes=995-");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Text(), data.substr(995));
  part = Get(m, "data/ab/pack1", "bytes=-7");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.Text(), data.substr(993));
  EXPECT_EQ(Get(m, "data/ab/pack1", "bytes=1000-1010").status, 416);
  EXPECT_EQ(Get(m, "data/ab/pack1", "bytes=5000-").status, 416);
  EXPECT_EQ(Get(m, "data/ab/missing").status, 404);
  EXPECT_EQ(Get(m, "data/ab/missing", "bytes=0-1").status, 404);

  Answer head = Send("HEAD", "/v1/objects/data/ab/pack1", m.token);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["X-Obagent-Size"], "1000");
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Send("HEAD", "/v1/objects/data/ab/none", m.token).status, 404);

  // Listing: sorted pages of list_page_size keys.
  for (const char* key : {"index/1", "index/2", "index/3", "index/4", "snapshots/s1", "locks/k"}) {
    ASSERT_EQ(Put(m, key, "x", lease).status, 201);
  }
  std::vector<std::string> all;
  std::string marker;
  int pages = 0;
  do {
    Answer page =
        Send("GET", "/v1/objects?marker=" + web::uri::encode_data_string(marker), m.token);
    ASSERT_EQ(page.status, 200) << page.Text();
    std::vector<std::string> keys = page.Json()["keys"];
    EXPECT_LE(keys.size(), 3u);
    all.insert(all.end(), keys.begin(), keys.end());
    marker = page.Json()["next_marker"];
    ++pages;
  } while (!marker.empty() && pages < 10);
  std::vector<std::string> expected = {"data/ab/pack1", "index/1", "index/2",     "index/3",
                                       "index/4",       "locks/k", "snapshots/s1"};
  // Registration stored the wrapped key too.
  ASSERT_EQ(all.size(), expected.size() + 1);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  Answer idx = Send("GET", "/v1/objects?prefix=index%2F", m.token);
  ASSERT_EQ(idx.status, 200);
  EXPECT_EQ(idx.Json()["keys"], json({"index/1", "index/2", "index/3"}));
  EXPECT_EQ(idx.Json()["next_marker"], "index/3");
  idx = Send("GET", "/v1/objects?prefix=index/&marker=index%2F3", m.token);
  EXPECT_EQ(idx.Json()["keys"], json({"index/4"}));
  EXPECT_EQ(idx.Json()["next_marker"], "");
}

TEST_F(VaultServerTest, LargeObjects) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::string lease = Lease(m);
  Bytes big = crypto::RandomBytes(70u << 20);
  std::vector<unsigned char> body(big.begin(), big.end());
  std::map<std::string, std::string> h = {{"X-Obagent-Lease", lease}};
  Answer put = Send("PUT", "/v1/objects/data/big", m.token, &body, nullptr, h);
  ASSERT_EQ(put.status, 201) << put.Text();
  Answer got = Get(m, "data/big");
  ASSERT_EQ(got.status, 200);
  EXPECT_TRUE(got.body == body);
  Answer part = Get(m, "data/big", "bytes=50000000-50000099");
  ASSERT_EQ(part.status, 206);
  EXPECT_TRUE(std::equal(part.body.begin(), part.body.end(), body.begin() + 50000000));
}

TEST_F(VaultServerTest, HeadReadsNothingAndRangesReadOnlyTheirBytes) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::string lease = Lease(m);
  std::string data(3u << 20, 'x');
  for (size_t i = 0; i < data.size(); i += 4093) data[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(Put(m, "data/p", data, lease).status, 201);

  counting_->bytes_read = 0;
  Answer head = Send("HEAD", "/v1/objects/data/p", m.token);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["X-Obagent-Size"], std::to_string(data.size()));
  EXPECT_EQ(counting_->bytes_read, 0u);
  // HEAD announces the length a GET would send, and sends no body.
  int port = std::stoi(url_.substr(url_.rfind(':') + 1));
  std::string raw = RawExchange(port,
                                "HEAD /v1/objects/data/p HTTP/1.1\r\nHost: x\r\n"
                                "Authorization: Bearer " +
                                    m.token + "\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("Content-Length: " + std::to_string(data.size())), std::string::npos) << raw;
  EXPECT_EQ(raw.substr(raw.find("\r\n\r\n") + 4), "");
  EXPECT_EQ(counting_->bytes_read, 0u);

  Answer part = Get(m, "data/p", "bytes=1000000-1000999");
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.Text(), data.substr(1000000, 1000));
  EXPECT_EQ(part.headers["Content-Range"], "bytes 1000000-1000999/" + std::to_string(data.size()));
  EXPECT_EQ(counting_->bytes_read, 1000u);

  // The engine's client sends real Range requests: one coalesced run of
  // blobs costs one request that reads only that run.
  engine::VaultClient client(engine::ServiceConnection{url_, m.token});
  auto objects = client.ObjectStore();
  counting_->bytes_read = 0;
  auto run = objects->GetRange("data/p", 2000000, 70000);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(AsString(*run), data.substr(2000000, 70000));
  EXPECT_EQ(counting_->bytes_read, 70000u);
  EXPECT_EQ(objects->GetRange("data/p", data.size() - 10, 11).status().code(), ErrorCode::kCorrupt);
  auto whole = objects->Get("data/p");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(AsString(*whole), data);
  auto exists = objects->Exists("data/p");
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  exists = objects->Exists("data/none");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
}

TEST_F(VaultServerTest, BodiesAreReadOnlyAfterAuthenticationAndWithinLimits) {
  options_.max_object_bytes = 10u << 20;
  options_.max_pack_bytes = 10u << 20;
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::string lease = Lease(m);
  int port = std::stoi(url_.substr(url_.rfind(':') + 1));
  auto status_of = [](const std::string& raw) {
    return raw.size() > 12 ? raw.substr(9, 3) : "<" + raw + ">";
  };

  // A 1 GiB PUT without a token: refused from its headers, the body (never
  // sent here) is not waited for, the connection ends.
  std::string put_head = "PUT /v1/objects/data/big HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(1u << 30) + "\r\n";
  std::string raw = RawExchange(port, put_head + "\r\n" + std::string(4096, 'z'));
  EXPECT_EQ(status_of(raw), "401") << raw;
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
  // With a token but announcing more than the limit: 413 from the headers.
  raw = RawExchange(port, put_head + "Authorization: Bearer " + m.token +
                              "\r\nX-Obagent-Lease: " + lease + "\r\n\r\n");
  EXPECT_EQ(status_of(raw), "413") << raw;
  // A JSON route announcing 2 MiB: 413 as well.
  raw = RawExchange(port, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + m.token +
                              "\r\nContent-Length: 2097152\r\n\r\n{");
  EXPECT_EQ(status_of(raw), "413") << raw;
  // Chunked, without a length, past the limit: cut off at the limit.
  std::string chunk(1u << 20, 'c');
  std::string chunked =
      "PUT /v1/objects/data/chunked HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + m.token +
      "\r\nX-Obagent-Lease: " + lease + "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 12; ++i) chunked += "100000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  raw = RawExchange(port, chunked);
  EXPECT_EQ(status_of(raw), "413") << raw.substr(0, 200);
  EXPECT_EQ(Get(m, "data/chunked").status, 404);  // nothing half-stored
  // Within the limit, chunked is stored whole.
  chunked = "PUT /v1/objects/data/chunked HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + m.token +
            "\r\nX-Obagent-Lease: " + lease +
            "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "100000\r\n" + chunk + "\r\n";
  chunked += "0\r\n\r\n";
  raw = RawExchange(port, chunked);
  EXPECT_EQ(status_of(raw), "201") << raw.substr(0, 200);
  EXPECT_EQ(Get(m, "data/chunked").body.size(), 3u << 20);

  // Expect: 100-continue: a refused request gets its answer instead of
  // "100 Continue"; an accepted one gets "100 Continue" first.
  raw = RawExchange(port,
                    "PUT /v1/objects/data/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    "Content-Length: 5\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(raw), "401") << raw;
  EXPECT_EQ(raw.find("100 Continue"), std::string::npos) << raw;
  raw = RawExchange(port,
                    "PUT /v1/objects/data/e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    "Authorization: Bearer " +
                        m.token + "\r\nX-Obagent-Lease: " + lease +
                        "\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
  EXPECT_EQ(raw.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << raw;
  EXPECT_NE(raw.find("HTTP/1.1 201"), std::string::npos) << raw;
  EXPECT_EQ(Get(m, "data/e").Text(), "hello");

  // A small refused body is read and dropped: the connection serves the
  // next request.
  raw = RawExchange(port,
                    "PUT /v1/objects/data/f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                    "GET /v1/machine HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        m.token + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(raw), "401") << raw;
  EXPECT_NE(raw.find("HTTP/1.1 200"), std::string::npos) << raw;
}

// At the connection cap, idle connections make room (net/connection_server.h
// has the cap's own tests): three held idle do not keep a request out.
TEST_F(VaultServerTest, IdleConnectionsAtTheCapMakeRoom) {
  max_connections_ = 3;
  StartServer();
  int port = std::stoi(url_.substr(url_.rfind(':') + 1));
  auto connect = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(connect());
  std::string request = "GET /v1/vaults HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        std::string(kAdminToken) + "\r\nConnection: close\r\n\r\n";
  // The three are idle once their threads wait for a request: try until
  // one of them has made room.
  std::string answer;
  for (int attempt = 0; attempt < 100 && answer.empty(); ++attempt) {
    answer = RawExchange(port, request);
    if (answer.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 200") << answer;
  for (int fd : idle) ::close(fd);
}

TEST_F(VaultServerTest, RecoverySessionIsReadOnlyAndExpires) {
  options_.recovery_session_seconds = 2;
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  Machine source = Register(creds, "old-host");
  std::string lease = Lease(source);
  ASSERT_EQ(Put(source, "snapshots/p1", "point", lease).status, 201);
  Machine alt = Register(creds, "new-host");

  json body = {{"credentials", creds}, {"source_machine", "old-host"}};
  EXPECT_EQ(Call("POST", "/v1/recovery-sessions", body).status, 401);  // needs a machine token
  Answer bad = Call("POST", "/v1/recovery-sessions",
                    {{"credentials", creds}, {"source_machine", "nobody"}}, alt.token);
  EXPECT_EQ(bad.status, 404);
  Answer s = Call("POST", "/v1/recovery-sessions", body, alt.token);
  ASSERT_EQ(s.status, 200) << s.Text();
  EXPECT_EQ(s.Json()["machine_id"], source.id);
  Machine reader{source.id, s.Json()["token"]};
  // By machine id works too.
  EXPECT_EQ(Call("POST", "/v1/recovery-sessions",
                 {{"credentials", creds}, {"source_machine", source.id}}, alt.token)
                .status,
            200);

  EXPECT_EQ(Get(reader, "snapshots/p1").Text(), "point");
  EXPECT_EQ(Send("HEAD", "/v1/objects/snapshots/p1", reader.token).status, 200);
  EXPECT_EQ(Send("GET", "/v1/objects?prefix=snapshots/", reader.token).Json()["keys"],
            json({"snapshots/p1"}));
  EXPECT_EQ(Send("GET", "/v1/machine", reader.token).Json()["machine_id"], source.id);
  Answer points = Send("GET", "/v1/recovery-points", reader.token);
  ASSERT_EQ(points.status, 200);
  EXPECT_EQ(points.Json()[0]["id"], "p1");

  EXPECT_EQ(Put(reader, "snapshots/p2", "x", lease).status, 403);
  std::map<std::string, std::string> h = {{"X-Obagent-Lease", lease}};
  EXPECT_EQ(Send("DELETE", "/v1/objects/snapshots/p1", reader.token, nullptr, nullptr, h).status,
            403);
  EXPECT_EQ(Call("POST", "/v1/lease", {{"holder", "x"}, {"ttl_seconds", 60}}, reader.token).status,
            403);
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"state", "x"}}, reader.token).status, 403);
  EXPECT_EQ(Call("POST", "/v1/recovery-sessions", body, reader.token).status, 403);
  EXPECT_EQ(Get(source, "snapshots/p1").Text(), "point");

  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  Answer expired = Get(reader, "snapshots/p1");
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.Json().value("message", "").find("expired"), std::string::npos);
  // Superseded credentials cannot open a session.
  DownloadCredentials("main");
  EXPECT_EQ(Call("POST", "/v1/recovery-sessions", body, alt.token).Json().value("error_id", ""),
            "34513");
}

TEST_F(VaultServerTest, JobReportsAndRecoveryPoints) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  Machine m = Register(creds, "host");
  Machine other = Register(creds, "other");
  json report = {{"type", "Backup"}, {"state", "Completed"}, {"files", 12}};
  EXPECT_EQ(Call("POST", "/v1/jobs", report, m.token).status, 201);
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"type", "Prune"}, {"state", "Failed"}}, m.token).status,
            201);
  EXPECT_EQ(Send("POST", "/v1/jobs", m.token).status, 400);
  Answer jobs = Send("GET", "/v1/jobs", m.token);
  ASSERT_EQ(jobs.status, 200);
  ASSERT_EQ(jobs.Json().size(), 2u);
  EXPECT_EQ(jobs.Json()[0], report);
  EXPECT_EQ(Send("GET", "/v1/jobs", other.token).Json().size(), 0u);

  std::string lease = Lease(m);
  ASSERT_EQ(Put(m, "snapshots/aaaa", "12345", lease).status, 201);
  ASSERT_EQ(Put(m, "snapshots/bbbb", "1", lease).status, 201);
  ASSERT_EQ(Put(m, "data/cc/cccc", "1", lease).status, 201);
  Answer points = Send("GET", "/v1/recovery-points", m.token);
  ASSERT_EQ(points.status, 200);
  json p = points.Json();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0]["id"], "aaaa");
  EXPECT_EQ(p[0]["size"], 5);
  EXPECT_TRUE(ParseUtcTime(p[0]["uploaded_at"].get<std::string>()).ok());
  std::map<std::string, std::string> h = {{"X-Obagent-Lease", lease}};
  // A point younger than the retention floor (7 days) is not deleted
  // (guard_test.cc steps the clock past it); one vaultd never recorded is.
  EXPECT_EQ(Send("DELETE", "/v1/objects/snapshots/aaaa", m.token, nullptr, nullptr, h).status, 403);
  EXPECT_EQ(Send("GET", "/v1/recovery-points", m.token).Json().size(), 2u);
  EXPECT_EQ(Send("DELETE", "/v1/objects/data/cc/cccc", m.token, nullptr, nullptr, h).status, 204);
  EXPECT_EQ(Send("GET", "/v1/recovery-points", other.token).Json().size(), 0u);
}

// Job reports are validated against the engine's schema, bounded and
// stored compact: a hostile body neither crashes vaultd (nlohmann recurses
// per nesting level) nor grows on disk.
TEST_F(VaultServerTest, JobReportsAreValidatedBoundedAndStoredCompact) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  auto post_raw = [&](const std::string& text) {
    std::vector<unsigned char> bytes(text.begin(), text.end());
    return Send("POST", "/v1/jobs", m.token, &bytes, nullptr,
                {{"Content-Type", "application/json"}});
  };
  // 100,000 levels (200 KB) are past the size limit: 413 unread. 30,000
  // levels within it: refused before parsing. vaultd answers on.
  auto deep = [](size_t levels) {
    return "{\"type\":\"Backup\",\"state\":\"Completed\",\"x\":" + std::string(levels, '[') +
           std::string(levels, ']') + "}";
  };
  EXPECT_EQ(post_raw(deep(100000)).status, 413);
  Answer a = post_raw(deep(30000));
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.Json().value("message", ""), "the request body is nested deeper than 16 levels");
  // Larger than 64 KiB: 413.
  EXPECT_EQ(post_raw("{\"error\":\"" + std::string(70000, 'e') + "\"}").status, 413);
  // Known fields of the wrong type, or missing: 400.
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"type", "Backup"}, {"state", 3}}, m.token).status, 400);
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"type", "Backup"}}, m.token).status, 400);
  EXPECT_EQ(
      Call("POST", "/v1/jobs", {{"type", "Backup"}, {"state", "Completed"}, {"files", -1}}, m.token)
          .status,
      400);
  EXPECT_EQ(
      Call("POST", "/v1/jobs", {{"type", std::string(65, 'a')}, {"state", "Completed"}}, m.token)
          .status,
      400);
  // An inflated report within 64 KiB: nested unknown fields dropped, the
  // error text cut, at most 32 extra scalar fields kept.
  json inflated = {{"type", "Backup"},
                   {"state", "Failed"},
                   {"error", std::string(20000, 'E')},
                   {"nested", json::parse(std::string(15, '[') + std::string(15, ']'))},
                   {"a_note", "kept"}};  // before the extras in name order
  for (int i = 0; i < 100; ++i) inflated["extra_" + std::to_string(i)] = i;
  ASSERT_LT(inflated.dump().size(), 64u * 1024);
  EXPECT_EQ(Call("POST", "/v1/jobs", inflated, m.token).status, 201);
  Answer jobs = Send("GET", "/v1/jobs", m.token);
  ASSERT_EQ(jobs.status, 200);
  ASSERT_EQ(jobs.Json().size(), 1u);
  json stored = jobs.Json()[0];
  EXPECT_FALSE(stored.contains("nested"));
  EXPECT_EQ(stored["a_note"], "kept");
  EXPECT_EQ(stored["type"], "Backup");
  EXPECT_LT(stored["error"].get<std::string>().size(), kMaxJobReportString + 16);
  EXPECT_LE(stored.size(), 4 + kMaxJobReportExtraFields);
  // On disk: one compact record, a bounded size.
  std::vector<fs::path> records;
  for (const auto& e : fs::recursive_directory_iterator(root_ + "/meta/jobs")) {
    if (e.is_regular_file()) records.push_back(e.path());
  }
  ASSERT_EQ(records.size(), 1u);
  uint64_t size = fs::file_size(records[0]);
  EXPECT_LT(size, 8u * 1024) << records[0];
  std::ifstream in(records[0]);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find('\n'), std::string::npos) << "stored pretty-printed";
  // Still readable after a restart.
  RestartServer();
  EXPECT_EQ(Send("GET", "/v1/jobs", m.token).Json()[0]["a_note"], "kept");
}

// The reports the engine sends (src/engine/backup_job.cc,
// src/cli/cmd_prune.cc, src/cli/cmd_repair.cc) pass the schema
// unchanged.
TEST_F(VaultServerTest, TheEnginesJobReportsPassTheSchema) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::vector<json> reports = {
      {{"type", "Backup"},
       {"state", "CompletedWithWarnings"},
       {"recovery_point", "20261206T120000Z-0a1b2c3d"},
       {"error", ""},
       {"files", 12},
       {"bytes_scanned", uint64_t{1} << 40},
       {"bytes_uploaded", 0}},
      {{"type", "Backup"},
       {"state", "Failed"},
       {"recovery_point", ""},
       {"error", "[100050] the vault service at http://x failed after 5 attempts: HTTP 503"}},
      {{"type", "Prune"},
       {"state", "Completed"},
       {"error", ""},
       {"points_removed", 3},
       {"bytes_freed", 123456}},
      {{"type", "Repair"},
       {"state", "CompletedWithWarnings"},
       {"error", ""},
       {"damaged_points", 1},
       {"points_written", 1}}};
  for (const json& r : reports) {
    Answer a = Call("POST", "/v1/jobs", r, m.token);
    EXPECT_EQ(a.status, 201) << r << " " << a.Text();
  }
  Answer jobs = Send("GET", "/v1/jobs", m.token);
  ASSERT_EQ(jobs.Json().size(), reports.size());
  for (size_t i = 0; i < reports.size(); ++i) EXPECT_EQ(jobs.Json()[i], reports[i]);
}

// A job report record an older vaultd stored inflated (or a damaged one)
// is skipped at start instead of stopping vaultd or being read whole.
TEST_F(VaultServerTest, AnInflatedOrDamagedJobRecordIsSkippedAtStart) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"type", "Backup"}, {"state", "Completed"}}, m.token).status,
            201);
  StopServer();
  std::string folder = root_ + "/meta/jobs/" + m.id;
  ASSERT_TRUE(fs::is_directory(folder));
  {
    std::ofstream big(folder + "/000000000000001-aaaaaaaaaaaa.json");
    big << "{\"version\":1,\"report\":" << std::string(300 * 1024, ' ') << "{}}";
    std::ofstream deep(folder + "/000000000000002-bbbbbbbbbbbb.json");
    deep << std::string(100000, '[');
  }
  StartServer();
  Answer jobs = Send("GET", "/v1/jobs", m.token);
  ASSERT_EQ(jobs.status, 200);
  EXPECT_EQ(jobs.Json().size(), 1u);
}

// Errors name objects by their key; vaultd's storage paths stay in its log.
TEST_F(VaultServerTest, ErrorsNameKeysNeverServerPaths) {
  StartServer();
  CreateVault("main");
  Machine m = Register(DownloadCredentials("main"), "host");
  std::string lease = Lease(m);
  // A folder where the object's file would go: the local store fails with
  // its path in the Status.
  std::string machine_dir = root_ + "/data/machines/" + m.id;
  fs::create_directories(machine_dir + "/index/blocked/inner");
  std::vector<Answer> answers = {Put(m, "index/blocked", "x", lease), Get(m, "index/blocked"),
                                 Get(m, "index/missing"),
                                 Send("DELETE", "/v1/objects/index/blocked", m.token, nullptr,
                                      nullptr, {{"X-Obagent-Lease", lease}})};
  bool some_error = false;
  for (Answer& a : answers) {
    if (a.status < 400) continue;
    some_error = true;
    std::string text = a.Text();
    EXPECT_EQ(text.find(root_), std::string::npos) << text;
    EXPECT_EQ(text.find("/data/machines"), std::string::npos) << text;
    EXPECT_NE(text.find("index/"), std::string::npos) << text;
  }
  EXPECT_TRUE(some_error);
  EXPECT_EQ(Get(m, "index/missing").Json().value("message", ""),
            "object 'index/missing' does not exist");
}

TEST_F(VaultServerTest, EverythingSurvivesARestart) {
  StartServer();
  CreateVault("main");
  std::string creds = DownloadCredentials("main");
  Machine m = Register(creds, "host");
  std::string lease = Lease(m);
  ASSERT_EQ(Put(m, "data/x", "kept", lease).status, 201);
  EXPECT_EQ(Call("POST", "/v1/jobs", {{"type", "Backup"}, {"state", "Completed"}}, m.token).status,
            201);

  RestartServer();
  EXPECT_EQ(Send("GET", "/v1/machine", m.token).status, 200);
  EXPECT_EQ(Get(m, "data/x").Text(), "kept");
  EXPECT_EQ(Put(m, "data/y", "after restart", lease).status, 201);  // lease still live
  EXPECT_EQ(Call("POST", "/v1/lease", {{"holder", "x"}, {"ttl_seconds", 60}}, m.token).status, 409);
  EXPECT_EQ(Call("POST", "/v1/register/prepare", {{"credentials", creds}, {"machine_name", "host"}})
                .status,
            200);
  EXPECT_EQ(Send("GET", "/v1/jobs", m.token).Json().size(), 1u);
  EXPECT_EQ(Admin("GET", "/v1/vaults").Json()[0]["machines"], 1);
}

TEST_F(VaultServerTest, UnknownEndpointsAndMethods) {
  StartServer();
  EXPECT_EQ(Send("GET", "/nothing").status, 404);
  EXPECT_EQ(Send("GET", "/v1/nothing", kAdminToken).status, 404);
  EXPECT_EQ(Send("DELETE", "/v1/vaults", kAdminToken).status, 405);
  Answer bad_json = Send("POST", "/v1/vaults", kAdminToken);
  EXPECT_EQ(bad_json.status, 400);
}

TEST_F(VaultServerTest, ServesHttps) {
  tls_cert_ = root_ + "/cert.pem";
  tls_key_ = root_ + "/key.pem";
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout " + tls_key_ +
      " -out " + tls_cert_ + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  StartServer("https");
  ASSERT_EQ(url_.substr(0, 8), "https://");
  CreateVault("tls");
  Machine m = Register(DownloadCredentials("tls"), "host");
  EXPECT_EQ(Send("GET", "/v1/machine", m.token).status, 200);
}

TEST_F(VaultServerTest, HttpsNeedsReadableCertificate) {
  auto meta = MetadataStore::Open(platform::Env::Default(), root_ + "/meta");
  ASSERT_TRUE(meta.ok());
  VaultService service(options_, std::move(meta).value(), *blobs_);
  HttpServerOptions o;
  o.listen_url = "https://127.0.0.1:" + std::to_string(FreePort());
  o.tls_cert_file = root_ + "/missing.pem";
  o.tls_key_file = root_ + "/missing.key";
  auto server = HttpServer::Start(service, o);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().detail().find("missing.pem"), std::string::npos);
  o.tls_cert_file.clear();
  EXPECT_FALSE(HttpServer::Start(service, o).ok());  // https without files
}

TEST(VaultServerAdminTokenTest, CreatedOwnerOnlyThenReused) {
  std::string tmpl = (fs::temp_directory_path() / "obagent-token-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::string path = tmpl + "/admin.token";
  auto token = LoadOrCreateAdminToken(platform::Env::Default(), path);
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(token->size(), 64u);
  EXPECT_EQ(fs::status(path).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  auto again = LoadOrCreateAdminToken(platform::Env::Default(), path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *token);
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace obagent::vault
