// The agent's own state on this machine and its registration with a vault.
//   <state dir>/agent.json        vault (service URL or local folder), machine
//                                 id, name and token, scratch folder (0600)
//   <scratch>/OnlineBackup.KEK    the KEK and wrapped master key (owner only)
//   <scratch>/cache, staging      index/tree cache, packs waiting for upload
//   <state dir>/temp              LastBackupFailedFiles-<job>.txt
// A vault is either vaultd (registration with a vault-credential file; the
// agent then talks HTTP only) or, for tests and single machines, a local
// folder used directly (embedded mode); the agent reaches either through one
// VaultConnection (vault_connection.h).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "obagent/engine/machine_settings.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/vault_connection.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {

constexpr int kAgentConfigVersion = 1;
// design.md §3: a scratch volume with less free space fails the job.
constexpr double kMinScratchFreeFraction = 0.05;

struct AgentConfig {
  std::string vault;        // local vault folder (embedded mode), or ""
  std::string service_url;  // vaultd (service mode), or ""
  std::string vault_id;
  std::string vault_name;
  std::string machine_id;
  std::string machine_name;  // host name at registration
  std::string token;         // machine token for vaultd
  std::string proxy;
  std::string proxy_user;
  std::string proxy_password;
  std::string scratch_dir;
  BandwidthThrottle throttle;

  // Where the vault is, to show: the local folder or vaultd's URL.
  const std::string& VaultAddress() const { return service_url.empty() ? vault : service_url; }
};

// The key file in the scratch folder.
inline constexpr char kKekFileName[] = "OnlineBackup.KEK";

// <state dir>/agent.json: 0x1FC07 when missing (not registered).
Result<AgentConfig> LoadAgentConfig(platform::Env& env, const std::string& state_dir);
// Written atomically, owner only.
Status SaveAgentConfig(platform::Env& env, const std::string& state_dir, const AgentConfig& config);
struct RegisterOptions {
  std::string vault;             // local vault folder, or
  std::string credentials_file;  // a vault-credential file from vaultd
  std::string passphrase;
  std::string scratch_dir;  // default <state dir>/scratch
  std::string proxy;
  std::string proxy_user;
  std::string proxy_password;
};

// Registers this machine. Registering again (same host name) needs the same
// passphrase: the vault's wrapped key is checked, and nothing in the vault
// changes when it does not open.
Result<AgentConfig> Register(platform::Env& env, const std::string& state_dir,
                             const RegisterOptions& options);

// Scratch checks run before every job: exists and is a folder, not a symlink
// (else 0x1FC07); not compressed, sparse or a reparse point (Windows) and
// writable (else SalVhdInitializationError); at least 5 % free (else
// SalLowDiskSpace).
Status CheckScratch(platform::Env& env, const std::string& scratch_dir);

struct OpenedAgent {
  AgentConfig config;
  std::unique_ptr<VaultConnection> vault;     // the one way to the vault
  std::unique_ptr<storage::BlobStore> store;  // this machine's objects (vault->ObjectStore())
  std::unique_ptr<Repository> repo;
  std::string staging_dir;
};

// Everything a job needs: config, scratch checks, the master key opened with
// the stored KEK (34506 if missing or wrong) and, when a passphrase is
// given, checked against it too. With throttling on, the machine's store
// passes every transfer through one token bucket (the rate is logged).
Result<OpenedAgent> OpenAgent(platform::Env& env, const std::string& state_dir,
                              const std::optional<std::string>& passphrase);

// One writer per machine (backup, prune, passphrase change): the vault's
// writer lock (VaultConnection::AcquireWriter). Held until destroyed;
// kAlreadyExists while another job holds it. Once held, the packs dead jobs
// left in staging are reclaimed (staging.h) and the engine log says what was
// uploaded or removed.
Result<std::unique_ptr<WriterLock>> AcquireWriter(OpenedAgent& agent, const std::string& job);

// Saves the damaged copies the repository noted while reading (verify,
// restore) as a sealed damage record in the vault, under the writer lock,
// so that the next backup uploads those blobs again. Returns how many
// copies were recorded (0 when nothing was noted).
Result<size_t> RecordFoundDamage(OpenedAgent& agent);

// Alternate-machine recovery: opens another machine's recovery points with a
// fresh vault-credential file and that machine's passphrase (read-only).
Result<OpenedAgent> OpenSourceMachine(platform::Env& env, const std::string& state_dir,
                                      const std::string& credentials_file,
                                      const std::string& source_machine,
                                      const std::string& passphrase);

// New salt and KEK; the master key is rewrapped, data is never re-encrypted.
// With vaultd, storing the new key needs the vault's Security PIN (`pin`;
// 100130 without a valid one, and nothing changes); a local vault has none.
Status ChangePassphrase(platform::Env& env, const std::string& state_dir,
                        const std::string& new_passphrase, const std::string& pin = "");

}  // namespace obagent::engine
