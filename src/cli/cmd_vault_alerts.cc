// obctl vault alerts|alert-ack|audit: vaultd's administrator lists a
// vault's alerts, acknowledges one, and reads the audit log with the check
// of its hash chain (docs/vault-api.md, "Alerts" and "Audit log").
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/http_client.h"

namespace obagent::cli {
namespace {

std::string Text(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

void PrintAlert(std::ostream& o, const json& a) {
  o << Text(a, "id") << "  " << Text(a, "severity") << "  " << Text(a, "kind") << "  "
    << Text(a, "state");
  int count = a.value("count", 1);
  if (count > 1) o << "  (" << count << " times, last " << Text(a, "last_at") << ")";
  o << "\n  " << Text(a, "raised_at") << "  "
    << (Text(a, "machine").empty() ? std::string("vault-wide") : "machine " + Text(a, "machine"))
    << "\n  " << Text(a, "summary") << "\n";
  if (Text(a, "state") == "acknowledged") {
    o << "  acknowledged by " << Text(a, "acknowledged_by") << " at " << Text(a, "acknowledged_at")
      << "\n";
  }
  for (const auto& [channel, d] : a.value("delivery", json::object()).items()) {
    o << "  " << channel << ": " << Text(d, "state");
    if (!Text(d, "last_error").empty()) o << " (" << Text(d, "last_error") << ")";
    o << "\n";
  }
}

}  // namespace

int VaultAlerts(Globals& g, const std::vector<std::string>& args) {
  std::string vault;
  bool all = false;
  AdminOptions admin;
  OptionSet options("vault alerts");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("all", &all, "acknowledged alerts too (default: the active ones)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("GET", "/v1/vaults/" + platform::UrlEncode(vault) +
                                           "/alerts?state=" + (all ? "all" : "active"));
  if (!answer.ok()) return Fail(g, answer.status());
  json alerts = answer->value("alerts", json::array());
  g.out->Result({{"ok", true},
                 {"vault", answer->value("vault", "")},
                 {"vault_id", answer->value("vault_id", "")},
                 {"alerts", alerts}},
                [&](std::ostream& o, std::ostream&) {
                  o << alerts.size() << (all ? " alert(s)" : " active alert(s)") << " in vault '"
                    << vault << "'\n";
                  for (const json& a : alerts) PrintAlert(o, a);
                });
  return kExitOk;
}

int VaultAlertAck(Globals& g, const std::vector<std::string>& args) {
  std::string vault, id, by;
  AdminOptions admin;
  OptionSet options("vault alert-ack");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("id", &id, "alert id (obctl vault alerts)").Required().Positional();
  options.Add("by", &by, "who acknowledges (default: admin)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  json body = json::object();
  if (!by.empty()) body["by"] = by;
  auto answer = (*client)->Call(
      "POST",
      "/v1/vaults/" + platform::UrlEncode(vault) + "/alerts/" + platform::UrlEncode(id) + "/ack",
      body);
  if (!answer.ok()) return Fail(g, answer.status());
  bool already = answer->value("already_acknowledged", false);
  json alert = *answer;
  alert.erase("already_acknowledged");
  g.out->Result({{"ok", true}, {"alert", alert}, {"already_acknowledged", already}},
                [&](std::ostream& o, std::ostream&) {
                  o << "Alert " << id
                    << (already ? " was acknowledged already\n" : " acknowledged\n");
                  PrintAlert(o, alert);
                });
  return kExitOk;
}

int VaultAudit(Globals& g, const std::vector<std::string>& args) {
  int limit = 0;
  AdminOptions admin;
  OptionSet options("vault audit");
  options.Add("limit", &limit, "only the newest N entries (the chain is checked whole)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  if (limit < 0) return Fail(g, InvalidArgument("--limit must be 0 or more"));
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("GET", "/v1/audit?limit=" + std::to_string(limit));
  if (!answer.ok()) return Fail(g, answer.status());
  json entries = answer->value("entries", json::array());
  bool verified = answer->value("verified", false);
  size_t bad = answer->value("first_bad_line", size_t{0});
  g.out->Result({{"ok", true},
                 {"verified", verified},
                 {"lines", answer->value("lines", 0)},
                 {"first_bad_line", bad == 0 ? json(nullptr) : json(bad)},
                 {"problem", answer->value("problem", "")},
                 {"head", answer->value("head", "")},
                 {"entries", entries}},
                [&](std::ostream& o, std::ostream&) {
                  for (const json& e : entries) {
                    if (e.contains("raw")) {
                      o << "(not an entry) " << Text(e, "raw") << "\n";
                      continue;
                    }
                    o << e.value("seq", 0) << "  " << Text(e, "time") << "  " << Text(e, "actor")
                      << "  " << Text(e, "action");
                    if (!Text(e, "vault_id").empty()) o << "  vault " << Text(e, "vault_id");
                    if (!Text(e, "machine_id").empty()) o << "  machine " << Text(e, "machine_id");
                    o << "  " << e.value("details", json::object()).dump() << "\n";
                  }
                  o << answer->value("lines", 0) << " entries; hash chain "
                    << (verified ? "verifies" : "BROKEN: " + answer->value("problem", ""))
                    << "\nhead " << answer->value("head", "") << "\n";
                });
  // A broken chain is a finding, not a failed command: listed, with the
  // exit code of a warning (3) so scripts notice.
  return verified ? kExitOk : kExitWarnings;
}

}  // namespace obagent::cli
