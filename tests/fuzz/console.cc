// Fuzz target: the web console's JSON API after login (console::HandleApi,
// src/api/console_routes.cc: the routes' paths, queries and JSON bodies)
// against a real EngineService on a scratch state folder with no
// registration. Input: the text request of fuzz_util.h (the query is
// split at '&' and '=' as the server decodes it). Routes that reach beyond
// the process are not driven: register and sources (they contact the vault a
// body names, or create one in any folder), passphrase (scrypt: seconds per
// input), fs (lists the host's folders) and a PUT of settings that names
// the scratch folder (moves it). Every answer must be a status of 100-599 with a JSON body.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/console_internal.h"
#include "fuzz_util.h"
#include "obagent/engine/engine_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static platform::Env& env = platform::Env::Default();
  static const std::string& state_dir = fuzz::ScratchDir("console");
  static engine::EngineService* engine =
      new engine::EngineService(env, engine::EngineOptions{state_dir, "/nonexistent/obctl", {}});
  static api::ConsoleOptions* options = [] {
    auto* o = new api::ConsoleOptions;
    o->state_dir = state_dir;
    return o;
  }();
  fuzz::TextRequest text = fuzz::ParseTextRequest(fuzz::AsText(data, size));
  if (!text.path.starts_with("/api/")) return 0;
  const std::string route = text.method + " " + text.path.substr(0, text.path.find('/', 5));
  for (const char* outside :
       {"POST /api/register", "POST /api/sources", "POST /api/passphrase", "GET /api/fs"}) {
    if (route == outside) return 0;
  }
  if (route == "PUT /api/settings" && text.body.find("scratch") != std::string::npos) return 0;
  api::console::Request req;
  req.method = text.method;
  req.path = text.path;
  req.body = text.body;
  std::string_view query = text.query;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    size_t eq = part.find('=');
    req.query[std::string(part.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1));
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  api::console::Session session;
  session.csrf = "csrf";
  api::console::RouteContext context{*engine, env, *options, session};
  api::console::Response resp = api::console::HandleApi(context, req);
  if (resp.status < 100 || resp.status > 599) std::abort();
  if (resp.content_type == "application/json" &&
      nlohmann::json::parse(resp.body, nullptr, false).is_discarded()) {
    std::abort();
  }
  return 0;
}
