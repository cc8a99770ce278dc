// vaultd's JSON answers (responses.h).
#include "vault/responses.h"

namespace obagent::vault {

ServiceResponse Json(int status, const nlohmann::json& body) {
  ServiceResponse r;
  r.status = status;
  r.content_type = "application/json";
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.body.assign(text.begin(), text.end());
  return r;
}

ServiceResponse Error(int status, std::string_view error_id, const std::string& message) {
  return Json(status, {{"error_id", error_id}, {"message", message}});
}

}  // namespace obagent::vault
