// vaultd's guarded endpoints (docs/vault-api.md, "Security PIN, retention
// floors, immutable vault"): the administrator's Security PIN, vault
// settings (soft delete, immutable), removing a machine and purging its
// soft-deleted data early; a machine's retention registration and its stop
// protection with delete data; and the checks VaultService runs on a
// machine's object writes and deletes. The decisions themselves are
// guard.h's; this file applies them to vaultd's metadata and blob store.
//
// Thread safety: every method takes the service's metadata mutex itself,
// except those documented "call with the mutex held".
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "obagent/storage/blob_store.h"
#include "obagent/vault/alerts.h"
#include "obagent/vault/audit.h"
#include "obagent/vault/guard.h"
#include "obagent/vault/metadata.h"
#include "obagent/vault/service.h"

namespace obagent::vault {

class GuardRoutes {
 public:
  // `alerts` and `audit` may be null (none raised, nothing audited).
  GuardRoutes(MetadataStore& meta, std::mutex& mu, storage::BlobStore& blobs,
              std::function<int64_t()> clock_ms, AlertCenter* alerts, AuditLog* audit)
      : meta_(meta),
        mu_(mu),
        blobs_(blobs),
        clock_ms_(std::move(clock_ms)),
        alerts_(alerts),
        audit_(audit) {}

  // The PIN a request carries ("" when none).
  static std::string PinOf(const ServiceRequest& req);

  // ----- administrator (admin token)
  // POST /v1/vaults/{v}/security-pin
  ServiceResponse IssuePin(const std::string& vault_name);
  // GET and PUT /v1/vaults/{v}/settings
  ServiceResponse VaultSettings(const std::string& vault_name);
  ServiceResponse SetVaultSettings(const std::string& vault_name, const nlohmann::json& body,
                                   const std::string& pin);
  // DELETE /v1/vaults/{v}/machines/{m}: with the PIN; the token stops
  // working and every object goes to soft delete.
  ServiceResponse RemoveMachine(const std::string& vault_name, const std::string& machine,
                                const std::string& pin);
  // POST /v1/vaults/{v}/machines/{m}/purge: with the PIN, not on an
  // immutable vault; the machine's soft-deleted objects are purged now.
  ServiceResponse PurgeMachine(const std::string& vault_name, const std::string& machine,
                               const std::string& pin);

  // ----- the machine (its token)
  // GET and PUT /v1/machine/retention
  ServiceResponse Retention(const std::string& machine_id);
  ServiceResponse SetRetention(const std::string& machine_id, const nlohmann::json& body,
                               const std::string& pin);
  // POST /v1/machine/stop-protection {"delete_data": true}: with the PIN,
  // not on an immutable vault; every object but the keys goes to soft delete.
  ServiceResponse StopProtection(const std::string& machine_id, const nlohmann::json& body,
                                 const std::string& pin);

  // A machine's DELETE of `key`: the refusal answer, or nullopt to go on.
  // Call with the mutex held.
  std::optional<ServiceResponse> DeleteRefused(const std::string& machine_id,
                                               const std::string& key);
  // A machine's PUT of keys/<id>: storing a key other than the one its
  // record names is a passphrase change and needs the PIN. The refusal, or
  // nullopt; *switches is set when the record is to name the key once it is
  // stored (KeyStored).
  std::optional<ServiceResponse> KeyPutRefused(const std::string& machine_id,
                                               const std::string& key, const std::string& pin,
                                               bool* switches);
  Status KeyStored(const std::string& machine_id, const std::string& key);

  // How long the collector keeps the machine's soft-deleted objects, and
  // the vault's soft_delete_days for it. Call with the mutex held.
  int64_t KeepMs(const std::string& machine_id) const;
  int SoftDeleteDays(const std::string& machine_id) const;

 private:
  // The vault by name, or the 404 in *error. Call with the mutex held.
  std::optional<VaultRecord> FindVault(const std::string& name, ServiceResponse* error);
  std::optional<MachineRecord> FindMachine(const VaultRecord& vault, const std::string& machine,
                                           ServiceResponse* error);
  // Checks and uses the vault's PIN for `operation`; the refusal, or
  // nullopt. Call with the mutex held.
  std::optional<ServiceResponse> NeedPin(const std::string& vault_id, const std::string& machine_id,
                                         const std::string& pin, const std::string& operation);
  // Marks every object of the machine under `prefixes` (all when empty)
  // soft-deleted now; how many were newly marked. Call with the mutex held.
  Result<size_t> SoftDeleteAll(const std::string& machine_id, bool keep_keys);

  // An alert (pin_used, critical_operation) and an audit entry for each.
  void NoteSecurityPin(const std::string& vault_id, const std::string& machine_id,
                       const std::string& operation, SecurityPins::Outcome outcome);
  // `audit` false: the request is audited by its route already.
  void NoteCriticalOperation(const std::string& action, const std::string& vault_id,
                             const std::string& machine_id, const nlohmann::json& detail,
                             bool audit = true);

  MetadataStore& meta_;
  std::mutex& mu_;
  storage::BlobStore& blobs_;
  std::function<int64_t()> clock_ms_;
  AlertCenter* alerts_;
  AuditLog* audit_;
  SecurityPins pins_;
};

}  // namespace obagent::vault
