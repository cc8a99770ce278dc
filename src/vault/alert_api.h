// The alert and audit side of VaultService (private to src/vault): the
// admin endpoints' answers (GET /v1/vaults/{v}/alerts, POST
// /v1/vaults/{v}/alerts/{id}/ack, GET /v1/audit) and the calls the request
// handlers make to raise alerts and write audit entries, so service.cc only
// routes and calls. Every function accepts a null AlertCenter or AuditLog
// (vaultd without them: unit tests) and does nothing then.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "obagent/vault/alerts.h"
#include "obagent/vault/audit.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {

struct ApiAnswer {
  int status = 200;
  nlohmann::json body;
};

// GET /v1/vaults/{v}/alerts[?state=active|all] (active by default).
ApiAnswer ListAlertsAnswer(AlertCenter* alerts, const VaultRecord& vault, std::string_view query,
                           const std::function<std::string(const std::string&)>& machine_name);
// POST /v1/vaults/{v}/alerts/{id}/ack with {"by": "..."} (optional): the
// acknowledgement is audited.
ApiAnswer AckAlertAnswer(AlertCenter* alerts, AuditLog* audit, const VaultRecord& vault,
                         const std::string& id, const nlohmann::json& body);
// GET /v1/audit[?limit=N]
ApiAnswer AuditAnswer(AuditLog* audit, std::string_view query);

// One audit entry of an administrative request; a failed write is logged
// (the operation it records has happened already).
void Audit(AuditLog* audit, const std::string& actor, const std::string& action,
           const std::string& vault_id, const std::string& machine_id,
           const nlohmann::json& detail = nlohmann::json::object());

// Raises what a stored job report calls for (failed, warnings).
void NoteJobReport(AlertCenter* alerts, const MachineRecord& machine,
                   const std::string& report_json);

// Raises a mass_deletion alert when this delete makes one
// (MassDeletionWatch); live_objects counts the machine's undeleted objects.
// A delete vaultd refused (a recovery point younger than its retention
// floor, the key in use) counts too: a server that tries to delete its young
// points is what the alert is for.
void NoteDeleteAttempt(AlertCenter* alerts, MassDeletionWatch& watch, const MachineRecord& machine,
                       int64_t now_ms, const std::function<size_t()>& live_objects);

// Raises an alert, logging a failure instead of returning it.
void RaiseAlert(AlertCenter* alerts, const AlertInput& input);

}  // namespace obagent::vault
