// vaultd's guarded endpoints (guard_routes.h): the Security PIN, vault
// settings, removing a machine, purging early, retention registration and
// stop protection, and the checks on a machine's key writes and deletes.
#include "vault/guard_routes.h"

#include "vault/alert_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "obagent/core/crypto.h"
#include "obagent/core/vault_layout.h"
#include "obagent/vault/credentials.h"
#include "vault/responses.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

constexpr std::string_view kSnapshotsPrefix = "snapshots/";
constexpr std::string_view kKeysPrefix = "keys/";
constexpr int kMaxSoftDeleteDays = 36500;
constexpr int kMaxRetentionValue = 9999;

ServiceResponse Refused(const GuardRefusal& r) {
  return Error(r.http_status, CatalogueId(r.code), r.message);
}

ServiceResponse MetadataFailed(const Status& st) {
  spdlog::error("the vault metadata: {}", st.ToString());
  return Error(500, CatalogueId(st.code()),
               "the vault's storage failed on the vault metadata (vaultd's log has the details)");
}

std::string MachineKey(const std::string& machine_id, const std::string& key) {
  return vault_layout::MachinePrefix(machine_id) + key;
}

json RetentionJson(const RetentionSetting& r) {
  return {{"daily_days", r.daily_days},
          {"weekly_weeks", r.weekly_weeks},
          {"monthly_months", r.monthly_months},
          {"yearly_years", r.yearly_years}};
}

json SettingsJson(const VaultRecord& v) {
  return {{"vault", v.name},
          {"soft_delete_days", v.soft_delete_days},
          {"soft_delete", v.soft_delete_days > 0},
          {"immutable", v.immutable}};
}

}  // namespace

std::string GuardRoutes::PinOf(const ServiceRequest& req) {
  auto it = req.headers.find(kSecurityPinHeader);
  if (it == req.headers.end()) return "";
  std::string pin = it->second;
  while (!pin.empty() && pin.back() == ' ') pin.pop_back();
  while (!pin.empty() && pin.front() == ' ') pin.erase(pin.begin());
  return pin;
}

std::optional<VaultRecord> GuardRoutes::FindVault(const std::string& name, ServiceResponse* error) {
  std::optional<VaultRecord> vault = meta_.FindVaultByName(name);
  if (!vault) *error = Error(404, "", "no vault named '" + name + "'");
  return vault;
}

std::optional<MachineRecord> GuardRoutes::FindMachine(const VaultRecord& vault,
                                                      const std::string& machine,
                                                      ServiceResponse* error) {
  std::optional<MachineRecord> m = meta_.FindMachineByName(vault.vault_id, machine);
  if (!m) {
    m = meta_.FindMachine(machine);
    if (m && m->vault_id != vault.vault_id) m.reset();
  }
  if (!m) *error = Error(404, "", "no machine '" + machine + "' in vault '" + vault.name + "'");
  return m;
}

std::optional<ServiceResponse> GuardRoutes::NeedPin(const std::string& vault_id,
                                                    const std::string& machine_id,
                                                    const std::string& pin,
                                                    const std::string& operation) {
  SecurityPins::Check check = pins_.Consume(vault_id, pin, operation, clock_ms_());
  NoteSecurityPin(vault_id, machine_id, operation, check.outcome);
  if (!check.refusal) return std::nullopt;
  spdlog::warn("vault {}: {} refused: {}", vault_id, operation, check.refusal->message);
  return Refused(*check.refusal);
}

// ----- administrator

ServiceResponse GuardRoutes::IssuePin(const std::string& vault_name) {
  std::lock_guard lock(mu_);
  ServiceResponse err;
  auto vault = FindVault(vault_name, &err);
  if (!vault) return err;
  SecurityPins::Issued issued = pins_.Issue(vault->vault_id, clock_ms_());
  spdlog::warn("vault '{}': a Security PIN was generated, valid until {}", vault->name,
               FormatUtcTime(issued.expires_ms / 1000));
  NoteCriticalOperation("security-pin-generated", vault->vault_id, "",
                        {{"expires_at", FormatUtcTime(issued.expires_ms / 1000)}});
  return Json(200, {{"vault", vault->name},
                    {"pin", issued.pin},
                    {"expires_at", FormatUtcTime(issued.expires_ms / 1000)},
                    {"valid_seconds", kPinValiditySeconds}});
}

ServiceResponse GuardRoutes::VaultSettings(const std::string& vault_name) {
  std::lock_guard lock(mu_);
  ServiceResponse err;
  auto vault = FindVault(vault_name, &err);
  if (!vault) return err;
  return Json(200, SettingsJson(*vault));
}

ServiceResponse GuardRoutes::SetVaultSettings(const std::string& vault_name, const json& body,
                                              const std::string& pin) {
  auto days_it = body.find("soft_delete_days");
  auto immutable_it = body.find("immutable");
  if (days_it == body.end() && immutable_it == body.end()) {
    return Error(400, "", "give \"soft_delete_days\" (an integer) or \"immutable\": true");
  }
  std::optional<int> days;
  if (days_it != body.end()) {
    if (!days_it->is_number_integer()) {
      return Error(400, "", "\"soft_delete_days\" must be an integer");
    }
    int64_t d = days_it->get<int64_t>();
    if (d != 0 && (d < kMinSoftDeleteDays || d > kMaxSoftDeleteDays)) {
      return Error(400, "",
                   "soft_delete_days must be at least " + std::to_string(kMinSoftDeleteDays) +
                       " (deleted backup data is kept at least 14 days) and at most 36500, or "
                       "0 to turn soft delete off (with the Security PIN)");
    }
    days = static_cast<int>(d);
  }
  std::optional<bool> immutable;
  if (immutable_it != body.end()) {
    if (!immutable_it->is_boolean()) return Error(400, "", "\"immutable\" must be true or false");
    immutable = immutable_it->get<bool>();
  }
  std::lock_guard lock(mu_);
  ServiceResponse err;
  auto vault = FindVault(vault_name, &err);
  if (!vault) return err;
  if (immutable == false && vault->immutable) {
    return Refused(ImmutableRefusal(vault->name, "making it mutable again"));
  }
  const bool shortens =
      days && (*days == 0 || (vault->soft_delete_days != 0 && *days < vault->soft_delete_days));
  if (shortens) {
    // Checked against the vault as it is and as this request leaves it:
    // both settings in one request do not pass the PIN before immutable.
    if (vault->immutable || immutable == true) {
      return Refused(ImmutableRefusal(
          vault->name, *days == 0 ? "turning soft delete off" : "shortening soft delete"));
    }
    std::string operation = *days == 0 ? "turning soft delete off" : "shortening soft delete";
    if (auto refused = NeedPin(vault->vault_id, "", pin, operation)) return *refused;
  }
  VaultRecord updated = *vault;
  if (days) updated.soft_delete_days = *days;
  if (immutable) updated.immutable = updated.immutable || *immutable;
  Status st = meta_.PutVault(updated);
  if (!st.ok()) return MetadataFailed(st);
  if (days && *days != vault->soft_delete_days) {
    spdlog::warn("vault '{}': soft delete {} days (was {})", vault->name, *days,
                 vault->soft_delete_days);
    // The request itself is audited as vault.settings (service.cc): only
    // the alert here.
    NoteCriticalOperation(*days == 0 ? "soft-delete-off" : "soft-delete-days", vault->vault_id, "",
                          {{"soft_delete_days", *days}, {"was", vault->soft_delete_days}},
                          /*audit=*/false);
  }
  if (updated.immutable && !vault->immutable) {
    spdlog::warn("vault '{}' is immutable from now on", vault->name);
    NoteCriticalOperation("vault-immutable", vault->vault_id, "", json::object(),
                          /*audit=*/false);
  }
  return Json(200, SettingsJson(updated));
}

Result<size_t> GuardRoutes::SoftDeleteAll(const std::string& machine_id, bool keep_keys) {
  const std::string base = MachineKey(machine_id, "");
  OB_ASSIGN_OR_RETURN(std::vector<std::string> keys, blobs_.List(base));
  const int64_t now = clock_ms_();
  size_t marked = 0;
  for (const std::string& full : keys) {
    if (!full.starts_with(base)) continue;
    std::string key = full.substr(base.size());
    if (keep_keys && key.starts_with(kKeysPrefix)) continue;
    if (meta_.FindDeleted(machine_id, key)) continue;
    OB_RETURN_IF_ERROR(meta_.PutDeleted({machine_id, key, now}));
    ++marked;
  }
  return marked;
}

ServiceResponse GuardRoutes::RemoveMachine(const std::string& vault_name,
                                           const std::string& machine, const std::string& pin) {
  std::lock_guard lock(mu_);
  ServiceResponse err;
  auto vault = FindVault(vault_name, &err);
  if (!vault) return err;
  auto m = FindMachine(*vault, machine, &err);
  if (!m) return err;
  if (auto refused = NeedPin(vault->vault_id, m->machine_id, pin, "removing a machine")) {
    return *refused;
  }
  // The token first: from here on the machine cannot write or read.
  MachineRecord removed = *m;
  removed.token_sha256 = ToHex(crypto::Sha256(crypto::RandomBytes(32)));
  if (removed.removed == 0) removed.removed = clock_ms_() / 1000;
  Status st = meta_.PutMachine(removed);
  if (!st.ok()) return MetadataFailed(st);
  Result<size_t> marked = SoftDeleteAll(m->machine_id, false);
  if (!marked.ok()) return MetadataFailed(marked.status());
  spdlog::warn("vault '{}': machine '{}' ({}) removed, {} object(s) soft-deleted", vault->name,
               m->name, m->machine_id, *marked);
  NoteCriticalOperation("machine-removed", vault->vault_id, m->machine_id,
                        {{"machine", m->name}, {"soft_deleted", *marked}});
  return Json(200, {{"machine_id", m->machine_id},
                    {"machine", m->name},
                    {"removed", true},
                    {"soft_deleted", *marked},
                    {"purge_after_days", KeepMs(m->machine_id) / (int64_t{24} * 3600 * 1000)}});
}

ServiceResponse GuardRoutes::PurgeMachine(const std::string& vault_name, const std::string& machine,
                                          const std::string& pin) {
  std::lock_guard lock(mu_);
  ServiceResponse err;
  auto vault = FindVault(vault_name, &err);
  if (!vault) return err;
  auto m = FindMachine(*vault, machine, &err);
  if (!m) return err;
  if (vault->immutable) {
    return Refused(ImmutableRefusal(vault->name, "purging soft-deleted data early"));
  }
  if (auto refused =
          NeedPin(vault->vault_id, m->machine_id, pin, "purging soft-deleted data early")) {
    return *refused;
  }
  size_t purged = 0, failed = 0;
  for (const DeletedObjectRecord& d : meta_.DeletedObjects(m->machine_id)) {
    Status st = blobs_.Delete(MachineKey(d.machine_id, d.key));
    if (st.ok() || st.code() == ErrorCode::kNotFound) st = meta_.RemoveDeleted(d.machine_id, d.key);
    if (!st.ok()) {
      spdlog::error("purging {} of machine {}: {}", d.key, d.machine_id, st.ToString());
      ++failed;
      continue;
    }
    if (d.key.starts_with(kSnapshotsPrefix)) {
      (void)meta_.RemoveRecoveryPoint(d.machine_id, d.key.substr(kSnapshotsPrefix.size()));
    }
    ++purged;
  }
  spdlog::warn(
      "vault '{}': soft-deleted data of machine '{}' purged early: {} object(s), {} "
      "failed",
      vault->name, m->name, purged, failed);
  NoteCriticalOperation("purged-early", vault->vault_id, m->machine_id,
                        {{"purged", purged}, {"failed", failed}});
  return Json(200, {{"machine_id", m->machine_id}, {"purged", purged}, {"failed", failed}});
}

// ----- the machine

ServiceResponse GuardRoutes::Retention(const std::string& machine_id) {
  std::lock_guard lock(mu_);
  auto m = meta_.FindMachine(machine_id);
  if (!m) return Error(404, "", "the machine no longer exists");
  json out = {{"floor_days", FloorDays(m->retention)}};
  out["retention"] = m->retention ? RetentionJson(*m->retention) : json(nullptr);
  return Json(200, out);
}

ServiceResponse GuardRoutes::SetRetention(const std::string& machine_id, const json& body,
                                          const std::string& pin) {
  RetentionSetting next;
  for (auto [name, field] :
       {std::pair{"daily_days", &next.daily_days}, std::pair{"weekly_weeks", &next.weekly_weeks},
        std::pair{"monthly_months", &next.monthly_months},
        std::pair{"yearly_years", &next.yearly_years}}) {
    auto it = body.find(name);
    if (it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 0 ||
        it->get<int64_t>() > kMaxRetentionValue) {
      return Error(400, "",
                   std::string("the field \"") + name + "\" (an integer, 0 to 9999) is missing");
    }
    *field = static_cast<int>(it->get<int64_t>());
  }
  if (std::string why = RetentionUnderMinimum(next); !why.empty()) {
    return Error(400, CatalogueId(ErrorCode::kRetentionBelowMinimum),
                 why +
                     "; the vault refuses retention under 7 days, 4 weeks, 3 months and 1 "
                     "year (nothing was changed)");
  }
  std::lock_guard lock(mu_);
  auto m = meta_.FindMachine(machine_id);
  if (!m) return Error(404, "", "the machine no longer exists");
  auto vault = meta_.FindVault(m->vault_id);
  if (m->retention && ReducesRetention(*m->retention, next)) {
    if (vault && vault->immutable) {
      return Refused(ImmutableRefusal(vault->name, "reducing retention"));
    }
    if (auto refused = NeedPin(m->vault_id, machine_id, pin, "reducing retention")) {
      return *refused;
    }
    NoteCriticalOperation("retention-reduced", m->vault_id, machine_id,
                          {{"from", RetentionJson(*m->retention)}, {"to", RetentionJson(next)}});
    spdlog::warn("machine '{}' ({}): retention reduced with the Security PIN", m->name, machine_id);
  }
  if (m->retention != next) {
    m->retention = next;
    Status st = meta_.PutMachine(*m);
    if (!st.ok()) return MetadataFailed(st);
  }
  return Json(200, {{"retention", RetentionJson(next)}, {"floor_days", FloorDays(next)}});
}

ServiceResponse GuardRoutes::StopProtection(const std::string& machine_id, const json& body,
                                            const std::string& pin) {
  auto it = body.find("delete_data");
  if (it == body.end() || !it->is_boolean() || !it->get<bool>()) {
    return Error(400, "",
                 "stop protection without deleting data needs nothing from the vault; give "
                 "\"delete_data\": true to delete it");
  }
  std::lock_guard lock(mu_);
  auto m = meta_.FindMachine(machine_id);
  if (!m) return Error(404, "", "the machine no longer exists");
  auto vault = meta_.FindVault(m->vault_id);
  if (vault && vault->immutable) {
    return Refused(ImmutableRefusal(vault->name, "stop protection and delete data"));
  }
  if (auto refused = NeedPin(m->vault_id, machine_id, pin, "stop protection and delete data")) {
    return *refused;
  }
  Result<size_t> marked = SoftDeleteAll(machine_id, true);
  if (!marked.ok()) return MetadataFailed(marked.status());
  spdlog::warn("machine '{}' ({}): protection stopped, {} object(s) soft-deleted", m->name,
               machine_id, *marked);
  NoteCriticalOperation("stop-protection-delete-data", m->vault_id, machine_id,
                        {{"soft_deleted", *marked}});
  return Json(200, {{"soft_deleted", *marked},
                    {"purge_after_days", KeepMs(machine_id) / (int64_t{24} * 3600 * 1000)}});
}

std::optional<ServiceResponse> GuardRoutes::DeleteRefused(const std::string& machine_id,
                                                          const std::string& key) {
  auto m = meta_.FindMachine(machine_id);
  if (!m) return Error(404, "", "the machine no longer exists");
  std::optional<RecoveryPointRecord> point;
  if (key.starts_with(kSnapshotsPrefix)) {
    point = meta_.FindRecoveryPoint(machine_id, key.substr(kSnapshotsPrefix.size()));
  }
  std::optional<GuardRefusal> refusal = DeleteRefusal(*m, key, point, clock_ms_());
  if (!refusal) return std::nullopt;
  spdlog::warn("machine {}: refused DELETE {}: {}", machine_id, key, refusal->message);
  return Refused(*refusal);
}

std::optional<ServiceResponse> GuardRoutes::KeyPutRefused(const std::string& machine_id,
                                                          const std::string& key,
                                                          const std::string& pin, bool* switches) {
  *switches = false;
  std::lock_guard lock(mu_);
  auto m = meta_.FindMachine(machine_id);
  if (!m) return Error(404, "", "the machine no longer exists");
  if (key.substr(kKeysPrefix.size()) == m->key_id) return std::nullopt;
  if (auto refused = NeedPin(m->vault_id, machine_id, pin, "a passphrase change")) {
    return *refused;
  }
  *switches = true;
  return std::nullopt;
}

Status GuardRoutes::KeyStored(const std::string& machine_id, const std::string& key) {
  std::lock_guard lock(mu_);
  auto m = meta_.FindMachine(machine_id);
  if (!m) return NotFound("the machine no longer exists");
  std::string old = m->key_id;
  m->key_id = key.substr(kKeysPrefix.size());
  OB_RETURN_IF_ERROR(meta_.PutMachine(*m));
  spdlog::warn("machine '{}' ({}): passphrase changed with the Security PIN (key {} -> {})",
               m->name, machine_id, old, m->key_id);
  NoteCriticalOperation("passphrase-changed", m->vault_id, machine_id,
                        {{"old_key_id", old}, {"key_id", m->key_id}});
  return Status::Ok();
}

int GuardRoutes::SoftDeleteDays(const std::string& machine_id) const {
  auto m = meta_.FindMachine(machine_id);
  if (!m) return kMinSoftDeleteDays;
  auto vault = meta_.FindVault(m->vault_id);
  return vault ? vault->soft_delete_days : kMinSoftDeleteDays;
}

int64_t GuardRoutes::KeepMs(const std::string& machine_id) const {
  auto m = meta_.FindMachine(machine_id);
  return SoftDeleteKeepMs(SoftDeleteDays(machine_id),
                          m ? m->retention : std::optional<RetentionSetting>());
}

namespace {
const char* OutcomeName(SecurityPins::Outcome outcome) {
  switch (outcome) {
    case SecurityPins::Outcome::kAccepted:
      return "accepted";
    case SecurityPins::Outcome::kMissing:
      return "missing";
    case SecurityPins::Outcome::kWrong:
      return "wrong";
    case SecurityPins::Outcome::kUsed:
      return "used";
    case SecurityPins::Outcome::kExpired:
      return "expired";
    case SecurityPins::Outcome::kNone:
      return "none issued";
    case SecurityPins::Outcome::kLockedOut:
      return "locked out";
  }
  return "unknown";
}
}  // namespace

void GuardRoutes::NoteSecurityPin(const std::string& vault_id, const std::string& machine_id,
                                  const std::string& operation, SecurityPins::Outcome outcome) {
  const std::string result = OutcomeName(outcome);
  const json detail = {{"operation", operation}, {"pin", result}};
  Audit(audit_, machine_id.empty() ? "admin" : "machine", "security_pin.check", vault_id,
        machine_id, detail);
  // A critical operation tried without a PIN is as alarming as one with it.
  AlertInput in;
  in.kind = alert_kind::kPinUsed;
  in.severity = outcome == SecurityPins::Outcome::kAccepted ? "warning" : "critical";
  in.vault_id = vault_id;
  in.machine_id = machine_id;
  auto m = machine_id.empty() ? std::nullopt : meta_.FindMachine(machine_id);
  in.summary = (outcome == SecurityPins::Outcome::kAccepted
                    ? "The Security PIN was used for " + operation
                    : "A Security PIN check failed (" + result + ") for " + operation) +
               (m ? " by machine '" + m->name + "'" : std::string());
  in.detail_json = detail.dump();
  RaiseAlert(alerts_, in);
}

void GuardRoutes::NoteCriticalOperation(const std::string& action, const std::string& vault_id,
                                        const std::string& machine_id, const json& detail,
                                        bool audit) {
  if (audit) {
    Audit(audit_, machine_id.empty() ? "admin" : "machine", "critical." + action, vault_id,
          machine_id, detail);
  }
  AlertInput in;
  in.kind = alert_kind::kCriticalOperation;
  in.severity = "critical";
  in.vault_id = vault_id;
  in.machine_id = machine_id;
  auto m = machine_id.empty() ? std::nullopt : meta_.FindMachine(machine_id);
  in.summary =
      "Critical operation: " + action + (m ? " (machine '" + m->name + "')" : std::string());
  in.detail_json = detail.is_object() ? detail.dump() : json::object().dump();
  RaiseAlert(alerts_, in);
}

}  // namespace obagent::vault
