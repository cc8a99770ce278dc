// vaultd's JSON answers (private to src/vault): the builders that
// service.cc and guard_routes.cc answer with, so every endpoint's JSON and
// error bodies are made one way.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "obagent/vault/service.h"

namespace obagent::vault {

// `body` as an application/json answer. Bytes that are not UTF-8 (messages
// quote what the client sent: a path, a key, a name) become U+FFFD instead
// of the answer turning into a 500.
ServiceResponse Json(int status, const nlohmann::json& body);

// {"error_id": error_id, "message": message}: error_id is the MARS
// catalogue ID, or "" where there is none.
ServiceResponse Error(int status, std::string_view error_id, const std::string& message);

}  // namespace obagent::vault
