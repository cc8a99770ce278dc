// The engine's local API: how obctl (and later the console) talk to cbengine.
// Transport: platform::LocalListener (a Unix socket / named pipe that only
// root/administrators reach). Protocol: one JSON object per line each way;
// every request has an "op", every answer an "ok" and, when not ok, the
// error as engine::StatusToJson writes it ("code" by name, "error_id" the
// catalogue ID or "", "message", "detail"…; engine/wire.h).
//
//   {"op":"status"}                      -> engine pid, scheduler, running job
//   {"op":"backup_now","trigger":T}      -> starts the policy's backup: "job"
//   {"op":"recovery_test"}               -> starts a restore drill (the policy's
//                                           sample, else 100 files): "job"
//   {"op":"wait_job","id":ID,"timeout_ms":N} -> the job's final record
//   {"op":"job_stop","id":ID}            -> asks a running job to stop
//   {"op":"console_url"}                 -> "url": the web console with its
//                                           token (docs/console.md)
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "obagent/engine/engine_service.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::api {

// The answer to one request (no transport: unit-tested directly).
// console_url is "" when the console is off.
nlohmann::json HandleRequest(engine::EngineService& engine, platform::Env& env,
                             const nlohmann::json& request, const std::string& console_url = "");

// One line of the protocol (without its '\n') to the answer line: JSON
// that does not parse is answered with an error, not dropped. What the
// server runs for each line it reads.
std::string HandleRequestLine(engine::EngineService& engine, platform::Env& env,
                              std::string_view line, const std::string& console_url = "");

class LocalApiServer {
 public:
  LocalApiServer(engine::EngineService& engine, platform::Env& env,
                 std::unique_ptr<platform::LocalListener> listener);
  ~LocalApiServer();  // closes and joins
  // The console's address with its token, for "console_url" (before Start).
  void SetConsoleUrl(std::string url) { console_url_ = std::move(url); }
  // Accepts connections on a thread of its own until Close.
  void Start();
  void Close();
  uint64_t refused() const { return listener_->refused(); }

 private:
  struct Connection {
    std::unique_ptr<platform::LocalConnection> connection;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void Serve();
  void ServeConnection(platform::LocalConnection& connection);

  engine::EngineService& engine_;
  platform::Env& env_;
  std::unique_ptr<platform::LocalListener> listener_;
  std::string console_url_;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::shared_ptr<Connection>> connections_;
};

// One request to the engine of `state_dir`. kEngineNotRunning (0x80070426)
// when no engine is running; the engine's error (as a Status, decoded by
// engine::StatusFromJson) when it refused.
Result<nlohmann::json> CallEngine(platform::Env& env, const std::string& state_dir,
                                  const nlohmann::json& request);

}  // namespace obagent::api
