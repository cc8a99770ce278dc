// The console's parts below the transport: a request as the handlers see
// it, sessions, and the JSON API's routes (console_routes.cc).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "obagent/api/console.h"
#include "obagent/core/bounded_json.h"
#include "obagent/engine/engine_service.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::api::console {

// The console's JSON bodies: at most ConsoleOptions::max_body_bytes (the
// transport refuses more with 413), nested at most this deep.
inline constexpr bounded_json::Limits kJsonLimits{size_t{16} << 20, 32};

struct Request {
  std::string method;                        // "GET", "POST", …
  std::string path;                          // decoded, without the query
  std::map<std::string, std::string> query;  // decoded
  std::string body;
  std::string host;
  std::string origin;  // "" when absent
  std::string cookie;
  std::string csrf;  // X-CSRF-Token
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A logged-in browser: its CSRF token and the other machines' recovery
// points it opened (POST /api/sources), read-only.
struct Session {
  std::string csrf;
  std::chrono::steady_clock::time_point last_used;
  std::mutex mu;  // sources
  std::map<std::string, engine::RecoverySource> sources;
};

// What the routes need.
struct RouteContext {
  engine::EngineService& engine;
  platform::Env& env;
  const ConsoleOptions& options;
  Session& session;
};

// The error as engine::StatusToJson writes it ({"ok":false, "code",
// "error_id", "message", "explanation", "action", …}) with the HTTP status
// that fits it.
Response ErrorResponse(const Status& status);
Response ErrorResponse(int http_status, const Status& status);
Response JsonResponse(const nlohmann::json& body, int http_status = 200);
int HttpStatusFor(ErrorCode code);

// The JSON API after authentication (every route of docs/console.md but
// login, session and logout).
Response HandleApi(RouteContext& context, const Request& request);

}  // namespace obagent::api::console
