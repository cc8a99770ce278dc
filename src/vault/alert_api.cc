// The alert and audit side of VaultService: admin endpoints' answers and the
// raising/auditing calls of the request handlers (vault/alert_api.h).
#include "vault/alert_api.h"

#include <spdlog/spdlog.h>

#include <charconv>

#include "obagent/core/bounded_json.h"
#include "obagent/net/query.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

constexpr net::QueryRules kRules{.decode = {.plus_is_space = false, .strict = true},
                                 .skip_undecodable = true};

ApiAnswer ErrorAnswer(int status, const std::string& message) {
  return {status, {{"error_id", ""}, {"message", message}}};
}

ApiAnswer NotConfigured(const char* what) {
  return ErrorAnswer(503, std::string(what) + " is not set up in this vaultd");
}

}  // namespace

ApiAnswer ListAlertsAnswer(AlertCenter* alerts, const VaultRecord& vault, std::string_view query,
                           const std::function<std::string(const std::string&)>& machine_name) {
  if (alerts == nullptr) return NotConfigured("alerting");
  Result<net::QueryParams> q = net::ParseQuery(query, kRules);
  if (!q.ok()) return ErrorAnswer(400, q.status().detail());
  std::string state = (*q)["state"].empty() ? "active" : (*q)["state"];
  if (state != "active" && state != "all") {
    return ErrorAnswer(400, "state must be active or all, not '" + state + "'");
  }
  json list = json::array();
  for (const AlertRecord& a : alerts->List(vault.vault_id, state == "active")) {
    json item = json::parse(AlertToJson(a));
    item["machine"] = a.machine_id.empty() ? "" : machine_name(a.machine_id);
    list.push_back(std::move(item));
  }
  return {
      200,
      {{"vault", vault.name}, {"vault_id", vault.vault_id}, {"state", state}, {"alerts", list}}};
}

ApiAnswer AckAlertAnswer(AlertCenter* alerts, AuditLog* audit, const VaultRecord& vault,
                         const std::string& id, const json& body) {
  if (alerts == nullptr) return NotConfigured("alerting");
  std::string by = "admin";
  if (auto it = body.find("by"); it != body.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
        it->get_ref<const std::string&>().size() > 128) {
      return ErrorAnswer(400, "\"by\" must be a name of 1 to 128 characters");
    }
    by = it->get<std::string>();
  }
  std::optional<AlertRecord> current = alerts->Find(id);
  if (!current || current->vault_id != vault.vault_id) {
    return ErrorAnswer(404, "no alert '" + id + "' in vault '" + vault.name + "'");
  }
  const bool already = current->state == "acknowledged";
  Result<AlertRecord> acked = alerts->Acknowledge(id, by);
  if (!acked.ok()) {
    spdlog::error("acknowledging alert {}: {}", id, acked.status().ToString());
    return ErrorAnswer(500, "the alert could not be stored (vaultd's log has the details)");
  }
  if (!already) {
    Audit(audit, "admin", "alert.ack", vault.vault_id, acked->machine_id,
          {{"alert_id", id}, {"kind", acked->kind}, {"by", by}});
  }
  json out = json::parse(AlertToJson(*acked));
  out["already_acknowledged"] = already;
  return {200, out};
}

ApiAnswer AuditAnswer(AuditLog* audit, std::string_view query) {
  if (audit == nullptr) return NotConfigured("the audit log");
  Result<net::QueryParams> q = net::ParseQuery(query, kRules);
  if (!q.ok()) return ErrorAnswer(400, q.status().detail());
  size_t limit = 0;
  if (const std::string& text = (*q)["limit"]; !text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc() || end != text.data() + text.size()) {
      return ErrorAnswer(400, "limit must be a number of entries");
    }
  }
  Result<AuditLog::Listing> listing = audit->Read(limit);
  if (!listing.ok()) {
    spdlog::error("reading the audit log: {}", listing.status().ToString());
    return ErrorAnswer(500, "the audit log could not be read (vaultd's log has the details)");
  }
  json entries = json::array();
  for (const std::string& line : listing->lines) {
    Result<json> j = bounded_json::Parse(line, {1 << 20, 16});
    entries.push_back(j.ok() && j->is_object() ? *j : json{{"raw", line}});
  }
  const AuditVerification& v = listing->verification;
  return {200,
          {{"verified", v.verified},
           {"lines", v.lines},
           {"first_bad_line", v.first_bad_line},
           {"problem", v.problem},
           {"head", v.head},
           {"entries", entries}}};
}

void Audit(AuditLog* audit, const std::string& actor, const std::string& action,
           const std::string& vault_id, const std::string& machine_id, const json& detail) {
  if (audit == nullptr) return;
  Status st = audit->Append({actor, action, vault_id, machine_id,
                             detail.dump(-1, ' ', false, json::error_handler_t::replace)});
  if (!st.ok()) spdlog::error("audit log: {} by {} not recorded: {}", action, actor, st.ToString());
}

void RaiseAlert(AlertCenter* alerts, const AlertInput& input) {
  if (alerts == nullptr) return;
  Result<AlertRecord> r = alerts->Raise(input);
  if (!r.ok()) spdlog::error("alert '{}' not raised: {}", input.summary, r.status().ToString());
}

void NoteJobReport(AlertCenter* alerts, const MachineRecord& machine,
                   const std::string& report_json) {
  if (alerts == nullptr) return;
  if (auto in =
          AlertForJobReport(machine.vault_id, machine.machine_id, machine.name, report_json)) {
    RaiseAlert(alerts, *in);
  }
}

void NoteDeleteAttempt(AlertCenter* alerts, MassDeletionWatch& watch, const MachineRecord& machine,
                       int64_t now_ms, const std::function<size_t()>& live_objects) {
  if (alerts == nullptr) return;
  size_t count = watch.Note(machine.machine_id, now_ms, live_objects);
  if (count == 0) return;
  const MassDeletionRules& rules = watch.rules();
  AlertInput in;
  in.kind = alert_kind::kMassDeletion;
  in.severity = "critical";
  in.vault_id = machine.vault_id;
  in.machine_id = machine.machine_id;
  in.summary = "Machine '" + machine.name + "' deleted or tried to delete " +
               std::to_string(count) + " objects within " + std::to_string(rules.window_ms / 1000) +
               " s (what was deleted is kept soft-deleted: obctl vault undelete; young recovery "
               "points were refused)";
  in.detail_json =
      json{
          {"machine", machine.name}, {"deleted", count}, {"window_seconds", rules.window_ms / 1000}}
          .dump();
  RaiseAlert(alerts, in);
}

}  // namespace obagent::vault
