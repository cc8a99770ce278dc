// The engine's one way to its vault. A vault is either a local folder used
// directly (embedded mode: machines/<id>/… of a LocalDirStore, for tests and
// single machines) or vaultd over HTTP (service mode, vault_client.h). Both
// give the same things through VaultConnection:
//   - registering this machine: its record and its wrapped master key;
//   - the machine's object store, the BlobStore the Repository uses;
//   - the writer lock (one writer per machine);
//   - job reports;
//   - key storage (keys/<key id>, the wrapped master keys).
// ConnectVault (a registered machine) and ConnectToRegister (registration)
// are the only places that choose an implementation; no other code asks
// which one it has.
//
// Thread safety: once made, a VaultConnection may be used by any number of
// threads at once, and so may the stores ObjectStore() returns (the embedded
// one is a LocalDirStore, the service one vaultd's HTTP client, both
// thread-safe). Register is the exception: it runs once, on a connection
// from ConnectToRegister, before anything else uses it. Stores and writer
// locks must not outlive their connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/core/keys.h"
#include "obagent/engine/job.h"
#include "obagent/engine/vault_client.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {

struct AgentConfig;      // agent.h
struct RegisterOptions;  // agent.h

// vault.json of a local vault: {"version", "vault_id"}.
constexpr int kVaultVersion = 1;

// Creates an empty local vault. kAlreadyExists if one is there.
Result<std::string> InitLocalVault(platform::Env& env, const std::string& path);

// How this machine reaches vaultd (service URL and proxy) with a token.
ServiceConnection ServiceConnectionFor(const AgentConfig& config, std::string token);

// machines/<id>/machine.json of a local vault (docs/formats.md). vaultd
// keeps its own record of a machine, which a machine cannot write.
constexpr int kMachineRecordVersion = 1;
struct MachineRecord {
  int version = kMachineRecordVersion;  // 0 when missing or not an integer
  std::string machine_id;               // "" when missing or not a string
  std::string name;                     // the host name at registration
  std::string key_id;                   // the wrapped key in use (keys/<key id>)
};
std::string SerializeMachineRecord(const MachineRecord& record);
// kCorrupt "<what> is not valid JSON" unless the text is a JSON object;
// fields that are missing or of another type are left empty (0), so a check
// can name each of them.
Result<MachineRecord> ParseMachineRecord(std::string_view text, const std::string& what);

// Held while a job of this machine writes to the vault; released when
// destroyed, and lapses by itself if the process dies.
class WriterLock {
 public:
  virtual ~WriterLock() = default;
};

// What the vault is told about a job that wrote to it (vaultd's POST
// /v1/jobs, docs/vault-api.md). A local vault keeps no job reports.
struct JobReport {
  std::string type;  // "Backup", "Prune", "Repair", …
  JobState state = JobState::kCompleted;
  std::string error;                          // "" when the job succeeded
  std::optional<std::string> recovery_point;  // a backup's point ("" if none)
  // "files", "bytes_scanned", "bytes_uploaded", "healed_blobs",
  // "points_removed", "bytes_freed", "damaged_points", "points_written".
  std::vector<std::pair<std::string, uint64_t>> counts;
};

// The key a registration stores for the machine, and the proof that the
// registering agent holds its master key (vaultd's key_check).
struct RegistrationKey {
  keys::WrappedKey wrapped;
  std::string key_check;
};
// Given the wrapped key the vault already holds for this host name (a
// re-registration) or none (a new machine), returns the key to register:
// the existing one opened with the passphrase, or a new one.
using ChooseRegistrationKey =
    std::function<Result<RegistrationKey>(const std::optional<keys::WrappedKey>& existing)>;

struct MachineRegistration {
  std::string machine_id;
  std::string token;  // vaultd's machine token; "" for a local vault
};

// A machine's retention as vaultd records it (PUT /v1/machine/retention):
// the tiers of retention.h.
struct VaultRetention {
  int daily_days = 7;
  int weekly_weeks = 0;
  int monthly_months = 0;
  int yearly_years = 0;
};

class VaultConnection;

// Another machine's data, opened for alternate-machine recovery.
struct RecoverySession {
  std::unique_ptr<VaultConnection> vault;  // read-only: that machine's objects and keys
  std::string machine_id;
};

class VaultConnection {
 public:
  virtual ~VaultConnection() = default;

  // "the vault at /srv/vault" or "the vault service at http://…".
  virtual std::string Describe() const = 0;

  // Registers `machine_name`: the vault is asked for the machine already
  // registered under that name, `choose` picks the key, and the machine is
  // recorded (a new machine: its record and wrapped key are stored; an
  // existing one: nothing in the vault changes unless vaultd issues a new
  // token). Afterwards the connection is that machine's.
  virtual Result<MachineRegistration> Register(const std::string& machine_name,
                                               const ChooseRegistrationKey& choose) = 0;

  // The machine's objects, keys relative to its folder: what the Repository
  // reads and writes. Writes carry the writer lock where the vault needs it.
  virtual std::unique_ptr<storage::BlobStore> ObjectStore() = 0;

  // One writer per machine (backup, prune, repair, passphrase change, moving
  // scratch): vaultd's lease, renewed in the background, or an exclusive
  // lock on machines/<id>/writer.lock of a local vault. kAlreadyExists
  // while another job holds it. `job` names the holder.
  virtual Result<std::unique_ptr<WriterLock>> AcquireWriter(const std::string& job) = 0;

  // Tells the vault how a job that wrote to it ended. Informational: the
  // caller may ignore a failure.
  virtual Status ReportJob(const JobReport& report) = 0;

  // The machine record, checked against this machine's registration and
  // the key in use: one line per problem (a local vault's machine.json:
  // version, id, name and key id; vaultd's record: id, name and vault).
  // Errors reaching the vault are returned.
  virtual Result<std::vector<std::string>> CheckMachineRecord(const std::string& key_id) = 0;
  // Writes the machine record again from this machine's registration with
  // `key_id` as the key in use (not when dry_run) and returns what it wrote
  // (or would write); nullopt where the vault keeps the record itself.
  virtual Result<std::optional<std::string>> WriteMachineRecord(const std::string& key_id,
                                                                bool dry_run) = 0;

  // Key storage: the machine's wrapped master keys (keys/<key id>).
  // ReadKey: 34506 when the key is missing; parse errors as they are;
  // 100050 when the vault cannot be reached.
  virtual Result<keys::WrappedKey> ReadKey(const std::string& key_id) = 0;
  virtual Result<std::vector<keys::WrappedKey>> ListKeys() = 0;
  virtual Status StoreKey(const keys::WrappedKey& key) = 0;
  virtual Status DeleteKey(const std::string& key_id) = 0;

  // The vault's Security PIN for the critical operations that follow on
  // this connection (vaultd checks it; a local vault has none and ignores
  // it). "" for none.
  virtual void SetSecurityPin(const std::string& pin) = 0;
  // Tells vaultd the machine's retention, which sets the floor of its
  // recovery points; a reduction needs the Security PIN (100130), a
  // retention under MARS's minimums is refused (0x29834), an immutable vault
  // refuses a reduction whatever the PIN. A local vault: nothing to tell.
  virtual Status RegisterRetention(const VaultRetention& retention) = 0;
  // Stop protection and delete data: vaultd soft-deletes every object of
  // the machine but its keys (the Security PIN). kUnsupported for a local
  // vault.
  virtual Status DeleteAllData() = 0;

  // Alternate-machine recovery: another machine's data, with a fresh
  // vault-credential file (vaultd only; kInvalidArgument for a local vault).
  virtual Result<RecoverySession> OpenRecoverySession(platform::Env& env,
                                                      const std::string& credentials_file,
                                                      const std::string& source_machine) = 0;
};

// The vault a registered machine's agent.json names, checked to be the one
// it registered with (34513 otherwise; 100050 when it cannot be reached).
Result<std::unique_ptr<VaultConnection>> ConnectVault(platform::Env& env,
                                                      const AgentConfig& config);

// The vault a registration names (a local folder or a vault-credential
// file), ready for Register; fills in config's vault fields (folder or
// service URL and proxy, vault id and name).
Result<std::unique_ptr<VaultConnection>> ConnectToRegister(platform::Env& env,
                                                           const RegisterOptions& options,
                                                           AgentConfig& config);

}  // namespace obagent::engine
