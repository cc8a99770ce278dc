// vaultd's metadata: vaults, machines, recovery sessions, leases, job reports
// and recovery-point upload records. One JSON file per record under the
// metadata folder, each written atomically (Env::WriteFileAtomic: temp file,
// fsync, rename, fsync of the folder), all loaded into memory at Open:
//   <dir>/vaults/<vault id>.json
//   <dir>/machines/<machine id>.json
//   <dir>/recovery-sessions/<sha-256 of the token>.json
//   <dir>/leases/<machine id>.json
//   <dir>/jobs/<machine id>/<report id>.json
//   <dir>/points/<machine id>/<recovery point id>.json
//   <dir>/deleted/<machine id>/<sha-256 of the object key>.json
// Files whose names start with '.' (temp files of an interrupted write) or do
// not end in ".json" are ignored; a record that does not parse stops Open
// with kCorrupt naming the file. Every Put writes the file before it changes
// the in-memory view, so a failed write changes nothing.
//
// Not thread-safe: vaultd serializes all access with one mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/core/crypto.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::vault {

constexpr int kMetadataVersion = 1;
// Job reports kept per machine; older ones are deleted as new ones arrive.
constexpr size_t kMaxJobReportsPerMachine = 500;
// The least (and default) time a soft-deleted object is kept, as MARS keeps
// deleted backup data 14 days.
constexpr int kMinSoftDeleteDays = 14;

struct VaultRecord {
  std::string vault_id;  // 32 hex
  std::string name;
  int64_t created = 0;  // unix seconds
  crypto::Key signing_key{};
  std::string newest_credential_id;  // "" until the first download
  // Days a machine's deleted object is kept (hidden, restorable by the
  // administrator) before vaultd's collector purges it; never below
  // kMinSoftDeleteDays, or 0: soft delete turned off (with the Security
  // PIN; the collector then keeps deleted objects for the retention floor
  // only). Records without the field get the default.
  int soft_delete_days = kMinSoftDeleteDays;
  // Set once by the administrator, never unset: retention cannot be
  // reduced, soft delete not shortened or turned off, soft-deleted data not
  // purged early, even with the Security PIN (guard.h).
  bool immutable = false;
};

// A machine's retention as its agent registered it (PUT
// /v1/machine/retention); the tiers of engine/retention.h, 0 = off.
struct RetentionSetting {
  int daily_days = 0;
  int weekly_weeks = 0;
  int monthly_months = 0;
  int yearly_years = 0;
  bool operator==(const RetentionSetting&) const = default;
};

struct MachineRecord {
  std::string machine_id;  // 32 hex
  std::string vault_id;
  std::string name;
  std::string token_sha256;  // hex SHA-256 of the machine token
  std::string key_check;     // hex HMAC-SHA256(master key, "obagent key check v1")
  std::string key_id;        // the wrapped key is the machine's object keys/<key_id>
  int64_t registered = 0;    // unix seconds
  // The retention the agent registered; none: the floor is MARS's 7 days.
  std::optional<RetentionSetting> retention;
  // Unix seconds the administrator removed the machine (its token no longer
  // works, its data is soft-deleted); 0 while it is registered.
  int64_t removed = 0;
};

struct RecoverySessionRecord {
  std::string token_sha256;
  std::string source_machine_id;  // whose objects the token may read
  std::string requested_by;       // machine id of the recovering machine
  int64_t expires_ms = 0;         // unix milliseconds
};

struct LeaseRecord {
  std::string machine_id;
  std::string lease_id;
  std::string holder;
  int64_t expires_ms = 0;  // unix milliseconds
};

struct JobReportRecord {
  std::string machine_id;
  std::string report_id;  // sorts by arrival
  int64_t received_ms = 0;
  std::string report_json;  // the JSON object the agent sent
};

struct RecoveryPointRecord {
  std::string machine_id;
  std::string id;
  int64_t uploaded_at = 0;  // unix seconds
  uint64_t size = 0;
};

// A machine's object it deleted (DELETE /v1/objects/{key}): the bytes stay
// in the blob store, hidden from the machine, until the collector purges
// them after the vault's soft_delete_days or the administrator undeletes.
struct DeletedObjectRecord {
  std::string machine_id;
  std::string key;         // the machine's object key ("data/ab/ab12…")
  int64_t deleted_ms = 0;  // unix milliseconds
};

class MetadataStore {
 public:
  // Creates the folder (owner only) if needed and loads every record.
  static Result<std::unique_ptr<MetadataStore>> Open(platform::Env& env, const std::string& dir);

  std::vector<VaultRecord> Vaults() const;  // sorted by name
  std::optional<VaultRecord> FindVault(std::string_view vault_id) const;
  std::optional<VaultRecord> FindVaultByName(std::string_view name) const;
  Status PutVault(const VaultRecord& vault);

  std::optional<MachineRecord> FindMachine(std::string_view machine_id) const;
  std::optional<MachineRecord> FindMachineByToken(std::string_view token_sha256) const;
  std::optional<MachineRecord> FindMachineByName(std::string_view vault_id,
                                                 std::string_view name) const;
  size_t CountMachines(std::string_view vault_id) const;
  std::vector<MachineRecord> Machines() const;  // every vault's, by id
  Status PutMachine(const MachineRecord& machine);

  std::optional<RecoverySessionRecord> FindRecoverySession(std::string_view token_sha256) const;
  Status PutRecoverySession(const RecoverySessionRecord& session);
  Status RemoveRecoverySession(std::string_view token_sha256);
  // Drops every session that expired before now_ms.
  Status RemoveExpiredRecoverySessions(int64_t now_ms);

  std::optional<LeaseRecord> FindLease(std::string_view machine_id) const;
  Status PutLease(const LeaseRecord& lease);
  Status RemoveLease(std::string_view machine_id);

  // Assigns report_id if empty.
  Status AddJobReport(JobReportRecord report);
  std::vector<JobReportRecord> JobReports(std::string_view machine_id) const;  // oldest first

  std::optional<RecoveryPointRecord> FindRecoveryPoint(std::string_view machine_id,
                                                       std::string_view id) const;
  Status PutRecoveryPoint(const RecoveryPointRecord& point);
  Status RemoveRecoveryPoint(std::string_view machine_id, std::string_view id);

  std::optional<DeletedObjectRecord> FindDeleted(std::string_view machine_id,
                                                 std::string_view key) const;
  // The machine's soft-deleted objects, by key.
  std::vector<DeletedObjectRecord> DeletedObjects(std::string_view machine_id) const;
  // Machine ids that have soft-deleted objects.
  std::vector<std::string> MachinesWithDeleted() const;
  Status PutDeleted(const DeletedObjectRecord& record);
  Status RemoveDeleted(std::string_view machine_id, std::string_view key);

  const std::string& dir() const { return dir_; }
  platform::Env& env() const { return env_; }

 private:
  MetadataStore(platform::Env& env, std::string dir) : env_(env), dir_(std::move(dir)) {}
  Status Load();
  Status WriteRecord(const std::string& folder, const std::string& name, const std::string& json);
  Status RemoveRecord(const std::string& folder, const std::string& name);

  platform::Env& env_;
  const std::string dir_;
  std::map<std::string, VaultRecord, std::less<>> vaults_;
  std::map<std::string, MachineRecord, std::less<>> machines_;
  std::map<std::string, std::string, std::less<>> machine_by_token_;
  std::map<std::string, RecoverySessionRecord, std::less<>> sessions_;
  std::map<std::string, LeaseRecord, std::less<>> leases_;
  // machine id -> report id -> report
  std::map<std::string, std::map<std::string, JobReportRecord>, std::less<>> jobs_;
  // machine id -> point id -> record
  std::map<std::string, std::map<std::string, RecoveryPointRecord, std::less<>>, std::less<>>
      points_;
  // machine id -> object key -> record
  std::map<std::string, std::map<std::string, DeletedObjectRecord, std::less<>>, std::less<>>
      deleted_;
};

// A name that is safe as one file name component: [A-Za-z0-9._-], not
// starting with '.', at most 128 characters.
bool IsSafeRecordName(std::string_view name);

}  // namespace obagent::vault
