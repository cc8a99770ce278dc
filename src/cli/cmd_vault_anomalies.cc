// obctl vault anomalies|anomaly-ack: vaultd's administrator lists a vault's
// flagged backups (anomalies that hold their machine's data from deletes and
// purges) and acknowledges one, releasing the hold (docs/operations.md,
// "Anomaly hold").
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/http_client.h"
#include "obagent/platform.h"

namespace obagent::cli {
namespace {
// One anomaly as obctl prints it: id, machine, time, point, then its findings.
void PrintAnomaly(std::ostream& o, const json& a) {
  o << a.value("id", "") << "  machine '" << a.value("machine", "") << "'  flagged "
    << a.value("created_at", "") << "  recovery point "
    << a.value("recovery_point", "").substr(0, 12)
    << (a.value("open", false) ? "  HOLDING its data"
                               : "  acknowledged " + a.value("acknowledged_at", ""))
    << "\n";
  for (const json& f : a.value("findings", json::array())) {
    o << "  " << f.value("kind", "") << ": " << f.value("reason", "") << "\n";
  }
}
}  // namespace

int VaultAnomalies(Globals& g, const std::vector<std::string>& args) {
  std::string vault;
  bool all = false;
  AdminOptions admin;
  OptionSet options("vault anomalies");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("all", &all, "acknowledged anomalies too");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call(
      "GET", "/v1/vaults/" + platform::UrlEncode(vault) + "/anomalies" + (all ? "?all=1" : ""));
  if (!answer.ok()) return Fail(g, answer.status());
  json list = answer->value("anomalies", json::array());
  size_t open = 0;
  for (const json& a : list) open += a.value("open", false) ? 1 : 0;
  g.out->Result(
      {{"ok", true}, {"vault", vault}, {"anomalies", list}}, [&](std::ostream& o, std::ostream&) {
        o << "Vault '" << vault << "': " << open << " open anomal" << (open == 1 ? "y" : "ies")
          << (open > 0 ? " holding machine data (no deletes, no purge until "
                         "acknowledged)"
                       : "")
          << "\n";
        for (const json& a : list) PrintAnomaly(o, a);
      });
  return kExitOk;
}

int VaultAnomalyAck(Globals& g, const std::vector<std::string>& args) {
  std::string vault, id;
  AdminOptions admin;
  OptionSet options("vault anomaly-ack");
  options.Add("vault", &vault, "vault name").Required().Positional();
  options.Add("id", &id, "the anomaly's id (obctl vault anomalies)").Required().Positional();
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call(
      "POST",
      "/v1/vaults/" + platform::UrlEncode(vault) + "/anomalies/" + platform::UrlEncode(id) + "/ack",
      json::object());
  if (!answer.ok()) return Fail(g, answer.status());
  const bool held = answer->value("held", false);
  json j = *answer;
  j["ok"] = true;
  g.out->Result(j, [&](std::ostream& o, std::ostream&) {
    o << "Anomaly " << id << " acknowledged: "
      << (held ? "another open anomaly still holds the machine's data"
               : "the machine's data is no longer held")
      << "\n";
  });
  return kExitOk;
}

}  // namespace obagent::cli
