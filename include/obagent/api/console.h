// The web console's server (docs/console.md): the pages compiled into the
// binary and a JSON API under /api/ on http://127.0.0.1:<port>/ only, for
// whoever holds the console token the engine writes to
// <state dir>/console.json (owner only) and hands to `obctl console url`.
// HTTP is Boost.Beast on a thread per connection (docs/dependencies.md).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "obagent/engine/engine_service.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::api {

constexpr uint16_t kDefaultConsolePort = 8472;
constexpr char kConsoleFileName[] = "console.json";

struct ConsoleOptions {
  std::string state_dir;
  uint16_t port = kDefaultConsolePort;  // 0: any free port (tests)
  // A login with a wrong token is answered this much later (guessing is slow).
  int64_t login_failure_delay_ms = 1000;
  int64_t session_idle_seconds = 30 * 60;
  // A route's request body (413 beyond; a login takes 4 KiB).
  size_t max_body_bytes = 1 << 20;
  // net/connection_server.h: a connection waiting for its next request is
  // closed after idle_timeout_ms, a request's header must be complete
  // header_timeout_ms after its first byte, and its body and answer get
  // io_timeout_ms per read or write.
  int64_t idle_timeout_ms = 15000;
  int64_t header_timeout_ms = 10000;
  int64_t io_timeout_ms = 30000;
  // At the cap, a new connection displaces the longest-waiting idle one:
  // a process holding idle connections cannot lock the administrator out.
  size_t max_connections = 64;
};

class ConsoleServer {
 public:
  // Binds 127.0.0.1:<port>, makes a new console token and writes
  // console.json ({"port", "token"}, owner only). kAlreadyExists when the
  // port is taken.
  static Result<std::unique_ptr<ConsoleServer>> Start(engine::EngineService& engine,
                                                      platform::Env& env, ConsoleOptions options);
  ~ConsoleServer();  // Close()
  ConsoleServer(const ConsoleServer&) = delete;
  ConsoleServer& operator=(const ConsoleServer&) = delete;

  // Stops accepting, ends open connections (a request being handled is
  // finished first) and removes console.json.
  void Close();
  uint16_t port() const;
  const std::string& token() const;
  // http://127.0.0.1:<port>/#token=<token>
  std::string Url() const;
  uint64_t failed_logins() const;

  struct Impl;

 private:
  explicit ConsoleServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obagent::api
