// The console's HTTP side: Boost.Beast on net::ConnectionServer (one thread
// per connection, each with its own io_context, so a slow engine call holds
// only its own connection and every read and write has a deadline), the
// checks every request passes (Host, Origin, session, CSRF) and the static
// pages.
#include <algorithm>
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <optional>
#include <thread>

#include "api/console_assets.h"
#include "api/console_internal.h"
#include "obagent/bytes.h"
#include "obagent/core/bounded_json.h"
#include "obagent/core/crypto.h"
#include "obagent/engine/engine_log.h"
#include "obagent/net/connection_server.h"
#include "obagent/net/query.h"

namespace obagent::api {

namespace beast = boost::beast;
namespace http = beast::http;
using console::Request;
using console::Response;
using console::Session;
using nlohmann::json;

namespace {

constexpr char kSessionCookie[] = "obsession";

std::string RandomHex(size_t bytes) { return ToHex(crypto::RandomBytes(bytes)); }

// Compares secrets in time independent of where they differ.
bool SecretEquals(std::string_view a, std::string_view b) {
  return crypto::EqualConstantTime(AsBytes(a), AsBytes(b));
}

// How the console reads its URLs: a path keeps '+', a query reads it as a
// space; a broken escape stays as it is.
constexpr net::DecodeRules kPathRules{.plus_is_space = false, .strict = false};
constexpr net::QueryRules kQueryRules{.decode = {.plus_is_space = true, .strict = false}};

std::string CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view part = header.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.starts_with(name) && part.size() > name.size() && part[name.size()] == '=') {
      return std::string(part.substr(name.size() + 1));
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return "";
}

Response Refuse(int http_status, std::string message) {
  return console::ErrorResponse(http_status, InvalidArgument(std::move(message)));
}

}  // namespace

// The request handling above the transport.
class ConsoleApp {
 public:
  ConsoleApp(engine::EngineService& engine, platform::Env& env, ConsoleOptions options,
             std::string token)
      : engine_(engine), env_(env), options_(std::move(options)), token_(std::move(token)) {}

  void set_port(uint16_t port) { port_ = port; }
  uint16_t port() const { return port_; }
  const std::string& token() const { return token_; }
  const ConsoleOptions& options() const { return options_; }
  uint64_t failed_logins() const { return failed_logins_; }

  Response Handle(const Request& request) {
    // DNS rebinding: a page of another site whose name now resolves to
    // 127.0.0.1 sends its own name as Host.
    std::string port = std::to_string(port_);
    if (request.host != "127.0.0.1:" + port && request.host != "localhost:" + port) {
      return Refuse(403, "the console answers only to 127.0.0.1:" + port);
    }
    if (!request.origin.empty() && request.origin != "http://127.0.0.1:" + port &&
        request.origin != "http://localhost:" + port) {
      return Refuse(403, "requests from other sites are refused");
    }
    if (!request.path.starts_with("/api/")) return Static(request);
    if (request.path == "/api/login") {
      if (request.method != "POST") return Refuse(405, "use POST");
      return Login(request);
    }
    std::shared_ptr<Session> session = FindSession(request.cookie);
    if (!session) {
      return console::ErrorResponse(
          401, InvalidArgument("not logged in: open the address `obctl console url` prints"));
    }
    bool changes_state =
        request.method == "POST" || request.method == "PUT" || request.method == "DELETE";
    if (changes_state && !SecretEquals(request.csrf, session->csrf)) {
      return Refuse(403, "missing or wrong X-CSRF-Token");
    }
    if (request.path == "/api/session" && request.method == "GET") {
      return console::JsonResponse({{"ok", true}, {"csrf", session->csrf}});
    }
    if (request.path == "/api/logout" && request.method == "POST") {
      std::lock_guard lock(mu_);
      sessions_.erase(CookieValue(request.cookie, kSessionCookie));
      Response r = console::JsonResponse({{"ok", true}});
      r.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) +
                                               "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
      return r;
    }
    console::RouteContext context{engine_, env_, options_, *session};
    return console::HandleApi(context, request);
  }

 private:
  Response Static(const Request& request) {
    if (request.method != "GET" && request.method != "HEAD") return Refuse(405, "use GET");
    // A view into request.path (substr would make a temporary string).
    std::string_view path = request.path == "/" ? std::string_view("index.html")
                                                : std::string_view(request.path).substr(1);
    for (const ConsoleAsset& asset : ConsoleAssets()) {
      if (asset.path == path) {
        Response r;
        r.content_type = std::string(asset.content_type);
        r.body.assign(reinterpret_cast<const char*>(asset.data), asset.size);
        return r;
      }
    }
    return console::ErrorResponse(404, NotFound("no page " + request.path));
  }

  Response Login(const Request& request) {
    Result<json> parsed = bounded_json::Parse(request.body, console::kJsonLimits);
    json body = parsed.ok() ? std::move(parsed).value() : json();
    std::string token;
    if (body.is_object() && body.contains("token") && body["token"].is_string()) {
      token = body["token"].get<std::string>();
    }
    if (!SecretEquals(token, token_)) {
      uint64_t failures = ++failed_logins_;
      engine::LogEngineEvent(
          "console: login with a wrong token refused (" + std::to_string(failures) + " so far)",
          true);
      // Slows guessing down; each connection waits on its own thread.
      std::this_thread::sleep_for(std::chrono::milliseconds(options_.login_failure_delay_ms));
      return console::ErrorResponse(
          401, InvalidArgument("wrong console token: open the address `obctl console url` prints"));
    }
    auto session = std::make_shared<Session>();
    session->csrf = RandomHex(32);
    session->last_used = std::chrono::steady_clock::now();
    std::string id = RandomHex(32);
    {
      std::lock_guard lock(mu_);
      sessions_[id] = session;
    }
    Response r = console::JsonResponse({{"ok", true}, {"csrf", session->csrf}});
    r.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) + "=" + id +
                                             "; HttpOnly; SameSite=Strict; Path=/");
    return r;
  }

  std::shared_ptr<Session> FindSession(const std::string& cookie_header) {
    std::string id = CookieValue(cookie_header, kSessionCookie);
    auto now = std::chrono::steady_clock::now();
    auto idle = std::chrono::seconds(options_.session_idle_seconds);
    std::lock_guard lock(mu_);
    std::erase_if(sessions_, [&](const auto& s) { return now - s.second->last_used > idle; });
    if (id.empty()) return nullptr;
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    it->second->last_used = now;
    return it->second;
  }

  engine::EngineService& engine_;
  platform::Env& env_;
  ConsoleOptions options_;
  std::string token_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> failed_logins_{0};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;
};

struct ConsoleServer::Impl {
  Impl(engine::EngineService& engine, platform::Env& env, ConsoleOptions options, std::string token)
      : app(engine, env, std::move(options), std::move(token)), env(env) {}

  // One connection's requests, one after another (net::ConnectionServer
  // gives each its own thread, io_context and deadlines).
  void Serve(net::Connection& c) {
    beast::tcp_stream& stream = c.stream();
    beast::flat_buffer buffer;
    for (;;) {
      if (c.closing()) break;
      http::request_parser<http::string_body> parser;
      // The route's limit is set once the header names the route.
      parser.body_limit(std::numeric_limits<uint64_t>::max());
      parser.header_limit(16 * 1024);
      // The idle and header deadlines, then the body within io_timeout
      // (net/connection_server.h).
      beast::error_code ec = c.WaitForRequest(buffer.size() > 0, [&](auto handler) {
        http::async_read_header(stream, buffer, parser, handler);
      });
      if (ec) break;
      const size_t limit = BodyLimit(parser.get());
      Response response;
      unsigned version = parser.get().version();
      bool keep_alive = false;
      if (parser.content_length() && *parser.content_length() > limit) {
        // Refused from the header: the body is not read.
        ec = http::error::body_limit;
      } else if (!parser.is_done()) {
        parser.body_limit(limit);
        ec = c.Run([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
      }
      if (ec == http::error::body_limit) {
        response = Refuse(
            413, "the request body is larger than the " + std::to_string(limit) + " bytes " +
                     std::string(parser.get().target().data(), parser.get().target().size()) +
                     " accepts");
      } else if (ec) {
        break;
      } else {
        const auto& req = parser.get();
        keep_alive = req.keep_alive();
        Result<Request> request = ToRequest(req);
        response =
            request.ok() ? app.Handle(*request) : console::ErrorResponse(400, request.status());
      }
      http::response<http::string_body> res{static_cast<http::status>(response.status), version};
      res.set(http::field::content_type, response.content_type);
      res.set(http::field::cache_control, "no-store");
      res.set("X-Frame-Options", "DENY");
      res.set("X-Content-Type-Options", "nosniff");
      res.set("Referrer-Policy", "no-referrer");
      res.set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
      for (const auto& [name, value] : response.headers) res.insert(name, value);
      bool head = parser.get().method() == http::verb::head;
      res.body() = std::move(response.body);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      if (head) res.body().clear();  // Content-Length stays that of GET
      beast::error_code write_ec =
          c.Run([&](auto handler) { http::async_write(stream, res, handler); });
      // Refused from the header: the answer must reach the client.
      if (!write_ec && !parser.is_done()) c.LingerAfterEarlyAnswer();
      if (write_ec || !keep_alive) break;
    }
  }

  // A route's body limit: a login is a token; the other routes take up to
  // max_body_bytes (a restore's selection of files).
  size_t BodyLimit(const http::request<http::string_body>& req) const {
    if (req.method() == http::verb::get || req.method() == http::verb::head) return 0;
    if (req.target() == "/api/login") return std::min<size_t>(4096, app.options().max_body_bytes);
    return app.options().max_body_bytes;
  }

  // kInvalidArgument for a query the console does not take (too many
  // parameters).
  static Result<Request> ToRequest(const http::request<http::string_body>& req) {
    Request r;
    r.method = std::string(req.method_string());
    std::string_view target(req.target().data(), req.target().size());
    size_t q = target.find('?');
    OB_ASSIGN_OR_RETURN(r.path, net::PercentDecode(target.substr(0, q), kPathRules));
    if (q != std::string_view::npos) {
      OB_ASSIGN_OR_RETURN(r.query, net::ParseQuery(target.substr(q + 1), kQueryRules));
    }
    r.body = req.body();
    r.host = std::string(req[http::field::host]);
    r.origin = std::string(req[http::field::origin]);
    r.cookie = std::string(req[http::field::cookie]);
    r.csrf = std::string(req["X-CSRF-Token"]);
    return r;
  }

  ConsoleApp app;
  platform::Env& env;
  std::string console_file;
  std::unique_ptr<net::ConnectionServer> server;
};

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() { Close(); }

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(engine::EngineService& engine,
                                                            platform::Env& env,
                                                            ConsoleOptions options) {
  std::string state_dir = options.state_dir;
  uint16_t wanted = options.port;
  auto impl = std::make_unique<Impl>(engine, env, std::move(options), RandomHex(32));
  net::ConnectionServerOptions server_options;
  server_options.host = "127.0.0.1";
  server_options.port = wanted;
  const ConsoleOptions& o = impl->app.options();
  server_options.max_connections = o.max_connections;
  // Every client of 127.0.0.1 shares one address: the cap that keeps an
  // administrator in is the displacing of idle connections.
  server_options.max_connections_per_client = o.max_connections;
  server_options.idle_timeout = std::chrono::milliseconds(std::max<int64_t>(o.idle_timeout_ms, 1));
  server_options.header_timeout =
      std::chrono::milliseconds(std::max<int64_t>(o.header_timeout_ms, 1));
  server_options.io_timeout = std::chrono::milliseconds(std::max<int64_t>(o.io_timeout_ms, 1));
  server_options.exclusive_port = true;  // a restarted engine gets its port back
  server_options.name = "the console";
  Impl* raw = impl.get();
  auto server =
      net::ConnectionServer::Start(server_options, [raw](net::Connection& c) { raw->Serve(c); });
  if (!server.ok()) {
    return Status(server.status().code(),
                  server.status().detail() + " (choose another with --console-port)");
  }
  impl->server = std::move(server).value();
  impl->app.set_port(impl->server->port());
  Status st = env.CreateDirs(state_dir, true);
  impl->console_file = state_dir + "/" + kConsoleFileName;
  json file = {{"port", impl->app.port()}, {"token", impl->app.token()}};
  if (st.ok()) st = env.WriteFileAtomic(impl->console_file, AsBytes(file.dump()), true);
  if (!st.ok()) return st.WithContext("writing the console token");
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

void ConsoleServer::Close() {
  if (!impl_ || !impl_->server) return;
  impl_->server->Close();
  impl_->server.reset();
  // The token dies with the server.
  (void)impl_->env.RemoveFile(impl_->console_file);
}

uint16_t ConsoleServer::port() const { return impl_->app.port(); }
const std::string& ConsoleServer::token() const { return impl_->app.token(); }
uint64_t ConsoleServer::failed_logins() const { return impl_->app.failed_logins(); }
std::string ConsoleServer::Url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/#token=" + token();
}

}  // namespace obagent::api
