// The web console's server, started for real on an ephemeral port of
// 127.0.0.1 and spoken to over HTTP: who gets in (token, session cookie,
// CSRF, Host and Origin), what every answer carries, and the API from
// registration to a recovery run by the engine, against a local vault.
#include "obagent/api/console.h"
#include "obagent/engine/restore.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "obagent/api/local_api.h"
#include "obagent/bytes.h"
#include "obagent/engine/agent.h"

namespace obagent::api {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using nlohmann::json;

constexpr char kPassphrase[] = "correct horse battery staple 42";

struct Answer {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json Json() const { return json::parse(body, nullptr, false); }
};

class ConsoleServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("console-test-" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    state_ = (dir_ / "state").generic_string();
    engine_ = std::make_unique<engine::EngineService>(
        env_, engine::EngineOptions{state_, "/usr/bin/obctl", {}});
    ConsoleOptions options;
    options.state_dir = state_;
    options.port = 0;
    options.login_failure_delay_ms = 50;
    options.max_body_bytes = 64 * 1024;
    auto server = ConsoleServer::Start(*engine_, env_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    host_ = "127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override {
    if (server_) server_->Close();
    engine_.reset();
    std::error_code ec;  // the engine log may stay open (Windows)
    fs::remove_all(dir_, ec);
  }

  Answer Send(const std::string& method, const std::string& target, const std::string& body = "",
              std::map<std::string, std::string> headers = {}) {
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    socket.connect({net::ip::make_address_v4("127.0.0.1"), server_->port()});
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host_);
    if (!cookie_.empty()) req.set(http::field::cookie, cookie_);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(socket, buffer, res, ec);
    Answer a;
    if (ec) return a;
    a.status = static_cast<int>(res.result_int());
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      a.headers[name] = std::string(field.value());
    }
    a.body = res.body();
    return a;
  }
  // A state-changing request of the logged-in page.
  Answer Post(const std::string& target, const json& body, const std::string& method = "POST") {
    return Send(method, target, body.dump(), {{"X-CSRF-Token", csrf_}});
  }
  Answer Get(const std::string& target) { return Send("GET", target); }

  void Login() {
    Answer a = Send("POST", "/api/login", json{{"token", server_->token()}}.dump());
    ASSERT_EQ(a.status, 200) << a.body;
    csrf_ = a.Json()["csrf"].get<std::string>();
    std::string set_cookie = a.headers["set-cookie"];
    cookie_ = set_cookie.substr(0, set_cookie.find(';'));
  }

  // Polls the job until it is no longer InProgress; its record.
  json WaitForJob(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      Answer a = Get("/api/jobs/" + id);
      EXPECT_EQ(a.status, 200) << a.body;
      json job = a.Json()["job"];
      if (job["state"] != "InProgress") return a.Json();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "job " << id << " did not end";
    return {};
  }

  static void ExpectCatalogueError(const Answer& a, int status, const std::string& id) {
    EXPECT_EQ(a.status, status) << a.body;
    json j = a.Json();
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["error_id"], id) << a.body;
    EXPECT_FALSE(j["message"].get<std::string>().empty());
    EXPECT_FALSE(j["explanation"].get<std::string>().empty()) << a.body;
    EXPECT_FALSE(j["action"].get<std::string>().empty()) << a.body;
  }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
  std::string state_;
  std::unique_ptr<engine::EngineService> engine_;
  std::unique_ptr<ConsoleServer> server_;
  std::string host_;
  std::string cookie_;
  std::string csrf_;
};

TEST_F(ConsoleServerTest, WritesItsPortAndTokenForObctl) {
  auto data = env_.ReadFile(state_ + "/" + kConsoleFileName);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  json file = json::parse(AsString(*data));
  EXPECT_EQ(file["port"].get<int>(), server_->port());
  EXPECT_EQ(file["token"].get<std::string>(), server_->token());
  EXPECT_EQ(server_->token().size(), 64u);  // 256 bits, hex
  EXPECT_EQ(server_->Url(),
            "http://127.0.0.1:" + std::to_string(server_->port()) + "/#token=" + server_->token());
  // The local API hands it to obctl.
  json answer = HandleRequest(*engine_, env_, {{"op", "console_url"}}, server_->Url());
  EXPECT_EQ(answer["url"], server_->Url());
  json off = HandleRequest(*engine_, env_, {{"op", "console_url"}});
  EXPECT_FALSE(off["ok"].get<bool>());
  server_->Close();
  EXPECT_FALSE(env_.Exists(state_ + "/" + kConsoleFileName));
}

TEST_F(ConsoleServerTest, ASecondServerCannotTakeThePort) {
  ConsoleOptions options;
  options.state_dir = (dir_ / "other-state").generic_string();
  options.port = server_->port();
  auto second = ConsoleServer::Start(*engine_, env_, options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kAlreadyExists) << second.status().ToString();
  EXPECT_EQ(Get("/robots.txt").status, 200);
}

TEST_F(ConsoleServerTest, LoginNeedsTheTokenAndSetsAStrictHttpOnlyCookie) {
  Answer wrong = Send("POST", "/api/login", json{{"token", std::string(64, 'a')}}.dump());
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(wrong.headers["set-cookie"].empty());
  EXPECT_EQ(server_->failed_logins(), 1u);
  EXPECT_EQ(Send("POST", "/api/login", "not json").status, 401);
  EXPECT_EQ(server_->failed_logins(), 2u);
  EXPECT_EQ(Send("GET", "/api/login").status, 405);

  Answer good = Send("POST", "/api/login", json{{"token", server_->token()}}.dump());
  ASSERT_EQ(good.status, 200) << good.body;
  std::string cookie = good.headers["set-cookie"];
  EXPECT_TRUE(cookie.starts_with("obsession=")) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  std::string csrf = good.Json()["csrf"];
  EXPECT_EQ(csrf.size(), 64u);
  cookie_ = cookie.substr(0, cookie.find(';'));
  Answer session = Get("/api/session");
  EXPECT_EQ(session.status, 200);
  EXPECT_EQ(session.Json()["csrf"], csrf);
}

TEST_F(ConsoleServerTest, ApiNeedsASessionAndChangesNeedTheCsrfToken) {
  EXPECT_EQ(Get("/api/status").status, 401);
  cookie_ = "obsession=" + std::string(64, '0');
  EXPECT_EQ(Get("/api/status").status, 401);
  Login();
  Answer status = Get("/api/status");
  EXPECT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.Json()["registered"], false);
  EXPECT_TRUE(status.Json()["version"].get<std::string>().starts_with("0.")) << status.body;
  // POST, PUT and DELETE need X-CSRF-Token.
  EXPECT_EQ(Send("POST", "/api/backup").status, 403);
  std::string wrong = (csrf_[0] == '0' ? "1" : "0") + csrf_.substr(1);
  EXPECT_EQ(Send("POST", "/api/backup", "", {{"X-CSRF-Token", wrong}}).status, 403);
  EXPECT_EQ(Send("PUT", "/api/policy", "{}").status, 403);
  EXPECT_EQ(Send("DELETE", "/api/policy").status, 403);
  // With it the request reaches the engine: no policy, no backup.
  Answer backup = Post("/api/backup", json::object());
  EXPECT_NE(backup.status, 403);
  EXPECT_NE(backup.status, 401);
  EXPECT_EQ(backup.Json()["ok"], false);
  // Logged out, the cookie no longer works.
  EXPECT_EQ(Post("/api/logout", json::object()).status, 200);
  EXPECT_EQ(Get("/api/status").status, 401);
}

TEST_F(ConsoleServerTest, RefusesOtherHostsAndOrigins) {
  std::string port = std::to_string(server_->port());
  Login();
  // DNS rebinding: another name for 127.0.0.1.
  EXPECT_EQ(Send("GET", "/api/status", "", {{"Host", "evil.example:" + port}}).status, 403);
  EXPECT_EQ(Send("GET", "/robots.txt", "", {{"Host", "127.0.0.1:1"}}).status, 403);
  EXPECT_EQ(Send("GET", "/api/status", "", {{"Host", "localhost:" + port}}).status, 200);
  EXPECT_EQ(Send("POST", "/api/login", json{{"token", server_->token()}}.dump(),
                 {{"Origin", "http://evil.example"}})
                .status,
            403);
  EXPECT_EQ(Send("GET", "/api/status", "", {{"Origin", "http://localhost:" + port}}).status, 200);
  EXPECT_EQ(Send("GET", "/api/status", "", {{"Origin", "null"}}).status, 403);
}

TEST_F(ConsoleServerTest, AnswersCarryTheSecurityHeadersAndServeThePages) {
  Answer page = Get("/robots.txt");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "User-agent: *\nDisallow: /\n");
  EXPECT_EQ(page.headers["content-type"], "text/plain; charset=utf-8");
  Answer missing = Get("/no-such-page.js");
  EXPECT_EQ(missing.status, 404);
  for (const Answer& a : {page, missing, Get("/api/status")}) {
    EXPECT_EQ(a.headers.at("cache-control"), "no-store");
    EXPECT_EQ(a.headers.at("x-frame-options"), "DENY");
    EXPECT_EQ(a.headers.at("content-security-policy"),
              "default-src 'self'; frame-ancestors 'none'");
  }
  // Bodies are limited (64 KiB in this test).
  Login();
  Answer big = Post("/api/policy", json{{"x", std::string(100 * 1024, 'x')}}, "PUT");
  EXPECT_EQ(big.status, 413);
  // A login is a token: 4 KiB.
  EXPECT_EQ(Post("/api/login", json{{"token", std::string(8 * 1024, 'a')}}).status, 413);
  // JSON nested deeper than 32 levels is refused before it is parsed.
  Answer deep = Send("PUT", "/api/policy", std::string(20000, '[') + std::string(20000, ']'),
                     {{"X-CSRF-Token", csrf_}});
  EXPECT_EQ(deep.status, 400);
  EXPECT_NE(deep.body.find("nested deeper than 32 levels"), std::string::npos) << deep.body;
}

TEST_F(ConsoleServerTest, KeepsAConnectionAliveForSeveralRequests) {
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address_v4("127.0.0.1"), server_->port()});
  beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    http::request<http::empty_body> req{http::verb::get, "/robots.txt", 11};
    req.set(http::field::host, host_);
    http::write(socket, req);
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ConsoleServerTest, ErrorsCarryTheCatalogueEntry) {
  Login();
  Answer errors = Get("/api/errors");
  ASSERT_EQ(errors.status, 200);
  bool found = false;
  for (const json& e : errors.Json()) {
    EXPECT_FALSE(e["explanation"].get<std::string>().empty()) << e;
    found = found || e["id"] == "34506";
  }
  EXPECT_TRUE(found) << errors.body;
  // Not registered: 0x1FC07.
  ExpectCatalogueError(Get("/api/points"), 400, "0x1FC07");
  // A credential file that is not one: 34513.
  ExpectCatalogueError(Post("/api/register", {{"credentials", "this is not a vault credential"},
                                              {"passphrase", kPassphrase}}),
                       400, "34513");
  Answer shortpass = Post("/api/register", {{"vault", "/nowhere"}, {"passphrase", "short"}});
  EXPECT_EQ(shortpass.status, 400);
  EXPECT_NE(shortpass.Json()["message"].get<std::string>().find("16"), std::string::npos);
}

// The restore drill through the console: Run Recovery Test Now starts a
// RecoveryTest job that the Jobs view lists with its result; the policy
// carries its drill, and a policy saved without one keeps it.
TEST_F(ConsoleServerTest, RecoveryTestRunsNowAndThePolicyKeepsItsDrill) {
  std::string vault = (dir_ / "vault").generic_string();
  ASSERT_TRUE(engine::InitLocalVault(env_, vault).ok());
  std::string data = (dir_ / "data").generic_string();
  fs::create_directories(data);
  for (int i = 0; i < 5; ++i) std::ofstream(data + "/f" + std::to_string(i)) << "file " << i;
  Login();
  ASSERT_EQ(Post("/api/register", {{"vault", vault}, {"passphrase", kPassphrase}}).status, 200);
  json policy = {{"specs", {{{"path", data}, {"exclude", false}, {"recursive", true}}}},
                 {"schedule", {{"days", {1}}, {"times", {"21:30"}}}},
                 {"recovery_test", {{"days", {0}}, {"times", {"03:00"}}, {"sample_files", 3}}}};
  Answer saved = Post("/api/policy", policy, "PUT");
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.Json()["recovery_test"]["sample_files"], 3);
  policy.erase("recovery_test");
  saved = Post("/api/policy", policy, "PUT");
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.Json()["recovery_test"]["times"][0], "03:00") << "kept when not sent";
  json backup = WaitForJob(Post("/api/backup", json::object()).Json()["job"]["id"]);
  ASSERT_EQ(backup["job"]["state"], "Completed") << backup;

  Answer drill = Post("/api/recovery-test", json::object());
  ASSERT_EQ(drill.status, 200) << drill.body;
  EXPECT_EQ(drill.Json()["job"]["type"], "RecoveryTest");
  json done = WaitForJob(drill.Json()["job"]["id"]);
  EXPECT_EQ(done["job"]["state"], "Completed") << done;
  EXPECT_EQ(done["job"]["files"], 3) << "the policy's sample";
  EXPECT_NE(done["job"]["summary"].get<std::string>().find("identical"), std::string::npos);
  bool listed = false;
  for (const json& j : Get("/api/jobs").Json()) listed |= j["type"] == "RecoveryTest";
  EXPECT_TRUE(listed);

  policy["recovery_test"] = nullptr;
  saved = Post("/api/policy", policy, "PUT");
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_TRUE(saved.Json()["recovery_test"].is_null());
}

// The Security PIN fields of the console reach the engine; a local vault
// has no PIN (vaultd's side: tests/e2e/test_guard.sh and the engine's
// ServiceVaultTest), so there deleting the data is refused and stopping
// protection keeps the data.
TEST_F(ConsoleServerTest, StopProtectionAndThePinFields) {
  std::string vault = (dir_ / "vault").generic_string();
  ASSERT_TRUE(engine::InitLocalVault(env_, vault).ok());
  std::string data = (dir_ / "data").generic_string();
  fs::create_directories(data);
  Login();
  ASSERT_EQ(Post("/api/register", {{"vault", vault}, {"passphrase", kPassphrase}}).status, 200);
  json policy = {{"specs", {{{"path", data}, {"exclude", false}, {"recursive", true}}}},
                 {"schedule", {{"days", {1}}, {"times", {"21:30"}}}},
                 {"retention", {{"daily_days", 30}}},
                 {"security_pin", "12345678"}};
  Answer saved = Post("/api/policy", policy, "PUT");
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.Json()["retention"]["daily_days"], 30);
  policy["retention"]["daily_days"] = 20;  // a reduction: the PIN is read
  policy["security_pin"] = 5;
  EXPECT_EQ(Post("/api/policy", policy, "PUT").status, 400) << "a PIN is a string";
  policy["security_pin"] = "12345678";
  EXPECT_EQ(Post("/api/policy", policy, "PUT").status, 200) << "a local vault ignores it";
  Answer changed = Post("/api/passphrase",
                        {{"passphrase", "a brand new passphrase 2026"}, {"security_pin", "1"}});
  EXPECT_EQ(changed.status, 200) << changed.body;
  Answer refused = Post("/api/stop-protection", {{"delete_data", true}, {"security_pin", "1"}});
  EXPECT_NE(refused.status, 200);
  EXPECT_EQ(refused.Json()["code"], "Unsupported") << refused.body;
  EXPECT_EQ(Get("/api/policy").status, 200) << "a refused stop protection keeps the policy";
  Answer stopped = Post("/api/stop-protection", {{"delete_data", false}});
  ASSERT_EQ(stopped.status, 200) << stopped.body;
  EXPECT_EQ(Get("/api/policy").status, 404);
}

TEST_F(ConsoleServerTest, RegisterPolicyBackupBrowseAndRecover) {
  std::string vault = (dir_ / "vault").generic_string();
  ASSERT_TRUE(engine::InitLocalVault(env_, vault).ok());
  std::string data = (dir_ / "data").generic_string();
  fs::create_directories(data + "/sub");
  std::ofstream(data + "/a.txt") << "alpha";
  std::ofstream(data + "/sub/b.txt") << "bravo";
  std::ofstream(data + "/sub/c.bin") << "charlie";
  Login();

  std::string copy = (dir_ / "passphrase-copy.txt").generic_string();
  Answer reg =
      Post("/api/register",
           {{"vault", vault}, {"passphrase", kPassphrase}, {"passphrase_copy_path", copy}});
  ASSERT_EQ(reg.status, 200) << reg.body;
  EXPECT_EQ(reg.Json()["machine_name"], env_.Hostname());
  auto copied = env_.ReadFile(copy);
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(AsString(*copied), std::string(kPassphrase) + "\n");
  // Registering again under another passphrase: 34506.
  ExpectCatalogueError(
      Post("/api/register", {{"vault", vault}, {"passphrase", "another passphrase, long enough"}}),
      400, "34506");

  // Another machine's points come through vaultd, not a local vault.
  Answer source =
      Post("/api/sources",
           {{"credentials", "garbage"}, {"machine", "other"}, {"passphrase", kPassphrase}});
  EXPECT_EQ(source.status, 400);
  EXPECT_NE(source.Json()["message"].get<std::string>().find("vaultd"), std::string::npos);
  EXPECT_EQ(Get("/api/policy").status, 404);
  json policy = {{"specs", {{{"path", data}, {"exclude", false}, {"recursive", true}}}},
                 {"schedule", {{"days", {1, 3}}, {"times", {"25:00"}}}},
                 {"retention", {{"daily_days", 10}}},
                 {"paused", false}};
  Answer bad = Post("/api/policy", policy, "PUT");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Json()["message"].get<std::string>().find("25:00"), std::string::npos) << bad.body;
  policy["schedule"]["times"] = {"21:30"};
  Answer saved = Post("/api/policy", policy, "PUT");
  ASSERT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(saved.Json()["schedule"]["times"][0], "21:30");
  EXPECT_EQ(saved.Json()["retention"]["daily_days"], 10);

  Answer status = Get("/api/status");
  EXPECT_EQ(status.Json()["registered"], true);
  EXPECT_TRUE(status.Json()["next_run"].is_string()) << status.body;

  Answer backup = Post("/api/backup", json::object());
  ASSERT_EQ(backup.status, 200) << backup.body;
  std::string backup_id = backup.Json()["job"]["id"];
  json done = WaitForJob(backup_id);
  EXPECT_EQ(done["job"]["state"], "Completed") << done;
  EXPECT_EQ(done["job"]["type"], "Backup");
  Answer jobs = Get("/api/jobs");
  ASSERT_EQ(jobs.status, 200);
  EXPECT_EQ(jobs.Json()[0]["id"], backup_id);

  Answer points = Get("/api/points");
  ASSERT_EQ(points.status, 200) << points.body;
  ASSERT_EQ(points.Json()["points"].size(), 1u);
  std::string point = points.Json()["points"][0]["id"];
  EXPECT_EQ(points.Json()["points"][0]["files"], 3);
  EXPECT_TRUE(points.Json()["damaged"].empty());

  // A damaged recovery point is named, and the intact one is still offered.
  std::string bad_id(64, 'e');
  fs::path bad_file;
  for (const auto& e : fs::recursive_directory_iterator(vault)) {
    if (e.is_directory() && e.path().filename() == "snapshots") bad_file = e.path() / bad_id;
  }
  ASSERT_FALSE(bad_file.empty());
  std::ofstream(bad_file) << "not a recovery point";
  Answer with_damage = Get("/api/points");
  ASSERT_EQ(with_damage.status, 200) << with_damage.body;
  ASSERT_EQ(with_damage.Json()["points"].size(), 1u) << with_damage.body;
  EXPECT_EQ(with_damage.Json()["points"][0]["id"], point);
  ASSERT_EQ(with_damage.Json()["damaged"].size(), 1u) << with_damage.body;
  EXPECT_EQ(with_damage.Json()["damaged"][0]["id"], bad_id);
  EXPECT_FALSE(with_damage.Json()["damaged"][0]["problem"].get<std::string>().empty());
  fs::remove(bad_file);

  Answer items = Get("/api/points/" + point + "/items?path=" + data + "/sub");
  ASSERT_EQ(items.status, 200) << items.body;
  ASSERT_EQ(items.Json()["entries"].size(), 2u);
  EXPECT_EQ(items.Json()["entries"][0]["name"], "b.txt");
  EXPECT_EQ(items.Json()["entries"][0]["path"], data + "/sub/b.txt");
  EXPECT_EQ(items.Json()["entries"][0]["size"], 5);

  Answer found = Get("/api/points/" + point.substr(0, 8) + "/search?pattern=*.txt");
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(found.Json()["entries"].size(), 2u);
  EXPECT_EQ(found.Json()["truncated"], false);

  Answer fs_root = Get("/api/fs?path=");
  ASSERT_EQ(fs_root.status, 200);
  EXPECT_FALSE(fs_root.Json()["entries"].empty());
  Answer fs_data = Get("/api/fs?path=" + data);
  ASSERT_EQ(fs_data.status, 200);
  EXPECT_EQ(fs_data.Json()["entries"][0]["name"], "sub");  // folders first
  EXPECT_EQ(fs_data.Json()["entries"][1]["size"], 5);

  std::string target = (dir_ / "restored").generic_string();
  Answer recover = Post("/api/recover", {{"point", point},
                                         {"items", {data + "/sub"}},
                                         {"target", target},
                                         {"conflict", "overwrite"},
                                         {"restore_permissions", false}});
  ASSERT_EQ(recover.status, 200) << recover.body;
  EXPECT_EQ(recover.Json()["job"]["type"], "Recovery");
  json recovered = WaitForJob(recover.Json()["job"]["id"]);
  EXPECT_EQ(recovered["job"]["state"], "Completed") << recovered;
  EXPECT_EQ(recovered["job"]["files"], 2);
  // The item keeps its whole path below the target.
  auto b = env_.ReadFile(engine::RestoredPath(target, data + "/sub/b.txt"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(AsString(*b), "bravo");
  EXPECT_FALSE(env_.Exists(engine::RestoredPath(target, data + "/a.txt")));
  Answer bad_conflict =
      Post("/api/recover", {{"point", point}, {"items", {data}}, {"conflict", "merge"}});
  EXPECT_EQ(bad_conflict.status, 400);

  Answer vault_view = Get("/api/vault");
  ASSERT_EQ(vault_view.status, 200) << vault_view.body;
  EXPECT_EQ(vault_view.Json()["points"], 1);
  // What the vault holds for the blobs: more than nothing, less than the
  // pack files on disk (which add headers and tags).
  uint64_t storage = vault_view.Json()["storage_bytes"].get<uint64_t>();
  uint64_t pack_files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(vault)) {
    if (f.is_regular_file() && f.path().parent_path().parent_path().filename() == "data") {
      pack_files += f.file_size();
    }
  }
  EXPECT_GT(storage, 0u);
  EXPECT_LE(storage, pack_files);
  EXPECT_GT(storage, pack_files / 2);
  EXPECT_EQ(vault_view.Json()["growth"].size(), 1u);

  Answer settings = Get("/api/settings");
  ASSERT_EQ(settings.status, 200) << settings.body;
  EXPECT_FALSE(settings.Json().contains("proxy_password"));
  Answer throttled = Post("/api/settings",
                          {{"throttle",
                            {{"enabled", true},
                             {"work_days", {1, 2, 3}},
                             {"work_start", "08:00"},
                             {"work_end", "17:00"},
                             {"work_hour_bytes_per_second", 1 << 20},
                             {"non_work_hour_bytes_per_second", 4 << 20}}}},
                          "PUT");
  ASSERT_EQ(throttled.status, 200) << throttled.body;
  EXPECT_EQ(throttled.Json()["throttle"]["work_start"], "08:00");
  EXPECT_EQ(Get("/api/settings").Json()["throttle"]["enabled"], true);

  Answer changed = Post("/api/passphrase", {{"passphrase", "a brand new passphrase 2026"}});
  EXPECT_EQ(changed.status, 200) << changed.body;
}

}  // namespace
}  // namespace obagent::api
