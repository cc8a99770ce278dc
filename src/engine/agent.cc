#include "obagent/engine/agent.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/staging.h"
#include "obagent/storage/throttled_store.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

std::string ConfigPath(const std::string& state_dir) { return state_dir + "/agent.json"; }

Result<json> ParseJson(ByteView data, const std::string& what) {
  json j = json::parse(AsString(data), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(what + " is not valid JSON");
  return j;
}

json ThrottleJson(const BandwidthThrottle& t) {
  return {{"enabled", t.enabled},
          {"work_days", FormatWorkDays(t.work_days)},
          {"start_work_hour", FormatHourMinute(t.work_start_minute)},
          {"end_work_hour", FormatHourMinute(t.work_end_minute)},
          {"work_hour_bytes_per_second", t.work_bytes_per_second},
          {"non_work_hour_bytes_per_second", t.non_work_bytes_per_second}};
}

Result<BandwidthThrottle> ThrottleFromJson(const json& j) {
  BandwidthThrottle t;
  if (j.is_null()) return t;  // written before throttling existed: off
  if (!j.is_object()) return Corrupt("agent.json: throttle is not an object");
  t.enabled = j.value("enabled", false);
  OB_ASSIGN_OR_RETURN(t.work_days, ParseWorkDays(j.value("work_days", "mon,tue,wed,thu,fri")));
  OB_ASSIGN_OR_RETURN(t.work_start_minute, ParseHourMinute(j.value("start_work_hour", "09:00")));
  OB_ASSIGN_OR_RETURN(t.work_end_minute, ParseHourMinute(j.value("end_work_hour", "18:00")));
  t.work_bytes_per_second = j.value("work_hour_bytes_per_second", uint64_t{0});
  t.non_work_bytes_per_second = j.value("non_work_hour_bytes_per_second", uint64_t{0});
  Status valid = t.Validate();
  if (!valid.ok()) return Corrupt("agent.json: throttle: " + valid.detail());
  return t;
}

}  // namespace

Status SaveAgentConfig(platform::Env& env, const std::string& state_dir, const AgentConfig& c) {
  json j = {{"version", kAgentConfigVersion},
            {"vault", c.vault},
            {"service_url", c.service_url},
            {"vault_id", c.vault_id},
            {"vault_name", c.vault_name},
            {"machine_id", c.machine_id},
            {"machine_name", c.machine_name},
            {"token", c.token},
            {"proxy", c.proxy},
            {"proxy_user", c.proxy_user},
            {"proxy_password", c.proxy_password},
            {"scratch_dir", c.scratch_dir},
            {"throttle", ThrottleJson(c.throttle)}};
  OB_RETURN_IF_ERROR(env.CreateDirs(state_dir, true));
  return env.WriteFileAtomic(ConfigPath(state_dir), AsBytes(j.dump(2)), true);
}

Result<AgentConfig> LoadAgentConfig(platform::Env& env, const std::string& state_dir) {
  Result<Bytes> data = env.ReadFile(ConfigPath(state_dir));
  if (!data.ok()) {
    if (data.status().code() == ErrorCode::kNotFound) {
      return Status(ErrorCode::kActivationFailed, "this machine is not registered (no " +
                                                      ConfigPath(state_dir) +
                                                      "); run 'obctl register'");
    }
    return data.status();
  }
  OB_ASSIGN_OR_RETURN(json j, ParseJson(*data, ConfigPath(state_dir)));
  if (j.value("version", 0) != kAgentConfigVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  ConfigPath(state_dir) + " has an unknown version");
  }
  AgentConfig c;
  c.vault = j.value("vault", "");
  c.service_url = j.value("service_url", "");
  c.vault_id = j.value("vault_id", "");
  c.vault_name = j.value("vault_name", "");
  c.machine_id = j.value("machine_id", "");
  c.machine_name = j.value("machine_name", "");
  c.token = j.value("token", "");
  c.proxy = j.value("proxy", "");
  c.proxy_user = j.value("proxy_user", "");
  c.proxy_password = j.value("proxy_password", "");
  c.scratch_dir = j.value("scratch_dir", "");
  if ((c.vault.empty() && c.service_url.empty()) || c.machine_id.empty() || c.scratch_dir.empty()) {
    return Corrupt(ConfigPath(state_dir) + " is incomplete");
  }
  OB_ASSIGN_OR_RETURN(c.throttle,
                      ThrottleFromJson(j.contains("throttle") ? j["throttle"] : json()));
  return c;
}

namespace {

Status WriteKekFile(platform::Env& env, const std::string& scratch, const keys::LocalKekFile& f) {
  return env.WriteFileAtomic(scratch + "/" + kKekFileName, AsBytes(keys::SerializeLocalKekFile(f)),
                             true);
}

std::string NewId() { return ToHex(crypto::RandomBytes(16)); }

// Proves knowledge of the master key to vaultd without revealing it.
std::string KeyCheck(const crypto::Key& master) {
  return ToHex(crypto::HmacSha256(master, AsBytes("obagent key check v1")));
}

// Opens an existing wrapped key with the passphrase; 34506 when it does not.
Result<keys::LocalKekFile> OpenWithPassphrase(const keys::WrappedKey& wrapped,
                                              const std::string& passphrase, crypto::Key& master) {
  keys::LocalKekFile file;
  file.wrapped = wrapped;
  OB_ASSIGN_OR_RETURN(file.kek, keys::DeriveKek(passphrase, wrapped.kdf));
  Result<crypto::Key> opened = keys::UnwrapMasterKey(wrapped, file.kek);
  if (!opened.ok()) {
    return Status(ErrorCode::kPassphraseNotConfigured,
                  "this machine is already registered with the vault under another "
                  "passphrase; re-registration must use the same passphrase");
  }
  master = *opened;
  return file;
}

Status PrepareScratch(platform::Env& env, const std::string& state_dir,
                      const RegisterOptions& options, AgentConfig& config) {
  OB_ASSIGN_OR_RETURN(
      config.scratch_dir,
      env.AbsolutePath(options.scratch_dir.empty() ? state_dir + "/scratch" : options.scratch_dir));
  OB_RETURN_IF_ERROR(env.CreateDirs(config.scratch_dir, true));
  return CheckScratch(env, config.scratch_dir);
}

// With throttling on, every transfer of the machine's store goes through one
// token bucket following the work-hour schedule; the rate is logged so an
// administrator can see which one a job ran with.
void ApplyThrottle(const AgentConfig& c, std::unique_ptr<storage::BlobStore>& store) {
  if (!c.throttle.enabled) return;
  storage::ThrottleClock& clock = storage::ThrottleClock::Real();
  std::unique_ptr<storage::RateSchedule> schedule = NewLocalTimeSchedule(c.throttle);
  LogEngineEvent("Bandwidth throttling: " + c.throttle.Describe() + "; now " +
                 FormatBandwidth(schedule->BytesPerSecondAt(clock.NowNs())));
  auto bucket = std::make_shared<storage::TokenBucket>(std::move(schedule), clock);
  store = storage::NewThrottledStore(std::move(store), std::move(bucket));
}

// Opens the repository of a machine-scoped store with a KEK.
Result<std::unique_ptr<Repository>> OpenRepository(platform::Env& env, storage::BlobStore& store,
                                                   const keys::WrappedKey& wrapped,
                                                   const crypto::Key& kek,
                                                   const std::string& cache_dir) {
  OB_ASSIGN_OR_RETURN(crypto::Key master, keys::UnwrapMasterKey(wrapped, kek));
  OB_RETURN_IF_ERROR(env.CreateDirs(cache_dir, true));
  return std::make_unique<Repository>(store, keys::DeriveKeySet(master), cache_dir, env);
}

}  // namespace

Status CheckScratch(platform::Env& env, const std::string& scratch_dir) {
  Result<platform::FileInfo> info = env.Lstat(scratch_dir);
  if (!info.ok() || info->kind != platform::FileKind::kDirectory) {
    return Status(ErrorCode::kActivationFailed,
                  "the scratch folder " + scratch_dir +
                      " is missing or was moved; restore it or register again with --scratch");
  }
  Result<platform::ScratchAttributes> attributes = env.ScratchFolderProblems(scratch_dir);
  if (!attributes.ok()) {
    return Status(ErrorCode::kScratchInaccessible, attributes.status().ToString());
  }
  if (attributes->any()) {
    std::string what;
    if (attributes->compressed) what += "compressed, ";
    if (attributes->sparse) what += "sparse, ";
    if (attributes->reparse_point) what += "a reparse point (junction, symlink or mount), ";
    what.resize(what.size() - 2);
    return Status(ErrorCode::kScratchInaccessible,
                  "the scratch folder " + scratch_dir + " is " + what +
                      "; staging needs a plain folder: move the scratch folder "
                      "('obctl machine-setting set --scratch-location DIR')");
  }
  Result<platform::DiskSpace> space = env.GetDiskSpace(scratch_dir);
  if (!space.ok()) return Status(ErrorCode::kScratchInaccessible, space.status().ToString());
  if (space->total_bytes > 0 &&
      static_cast<double>(space->free_bytes) <
          kMinScratchFreeFraction * static_cast<double>(space->total_bytes)) {
    return Status(ErrorCode::kLowDiskSpace,
                  "the volume of " + scratch_dir + " has " +
                      std::to_string(space->free_bytes >> 20) + " MiB free of " +
                      std::to_string(space->total_bytes >> 20) +
                      " MiB (at least 5 % must be free); free space or move the scratch folder");
  }
  std::string probe = scratch_dir + "/.write-test";
  Status st = env.WriteFileAtomic(probe, AsBytes("ok"), true);
  if (!st.ok()) {
    (void)env.RemoveFile(probe);
    return Status(ErrorCode::kScratchInaccessible, st.ToString());
  }
  return env.RemoveFile(probe);
}

Result<AgentConfig> Register(platform::Env& env, const std::string& state_dir,
                             const RegisterOptions& options) {
  OB_RETURN_IF_ERROR(keys::ValidatePassphrase(options.passphrase));
  AgentConfig config;
  OB_ASSIGN_OR_RETURN(auto vault, ConnectToRegister(env, options, config));
  config.machine_name = env.Hostname();
  OB_RETURN_IF_ERROR(PrepareScratch(env, state_dir, options, config));
  // Re-registration (the same host name) needs the passphrase that opens the
  // key already in the vault; a new machine gets a new master key.
  keys::LocalKekFile kek_file;
  auto choose = [&](const std::optional<keys::WrappedKey>& existing) -> Result<RegistrationKey> {
    crypto::Key master;
    if (existing) {
      OB_ASSIGN_OR_RETURN(kek_file, OpenWithPassphrase(*existing, options.passphrase, master));
    } else {
      keys::KdfParams params = keys::NewKdfParams();
      OB_ASSIGN_OR_RETURN(kek_file.kek, keys::DeriveKek(options.passphrase, params));
      master = crypto::RandomKey();
      kek_file.wrapped = keys::WrapMasterKey(master, kek_file.kek, NewId(), params);
    }
    return RegistrationKey{kek_file.wrapped, KeyCheck(master)};
  };
  OB_ASSIGN_OR_RETURN(MachineRegistration registered, vault->Register(config.machine_name, choose));
  config.machine_id = registered.machine_id;
  config.token = registered.token;
  OB_RETURN_IF_ERROR(WriteKekFile(env, config.scratch_dir, kek_file));
  OB_RETURN_IF_ERROR(SaveAgentConfig(env, state_dir, config));
  return config;
}

Result<OpenedAgent> OpenAgent(platform::Env& env, const std::string& state_dir,
                              const std::optional<std::string>& passphrase) {
  OpenedAgent agent;
  OB_ASSIGN_OR_RETURN(agent.config, LoadAgentConfig(env, state_dir));
  const AgentConfig& c = agent.config;
  if (env.Hostname() != c.machine_name) {
    return Status(ErrorCode::kMachineRenamed, "this machine was registered as '" + c.machine_name +
                                                  "' and is now named '" + env.Hostname() +
                                                  "'; rename it back or register it again");
  }
  OB_RETURN_IF_ERROR(CheckScratch(env, c.scratch_dir));
  Result<Bytes> kek_data = env.ReadFile(c.scratch_dir + "/" + kKekFileName);
  if (!kek_data.ok()) {
    return Status(ErrorCode::kPassphraseNotConfigured,
                  "the key file " + c.scratch_dir + "/" + kKekFileName +
                      " is missing or unreadable; register again with your passphrase");
  }
  Result<keys::LocalKekFile> kek_file = keys::ParseLocalKekFile(AsString(*kek_data));
  if (!kek_file.ok()) {
    return Status(ErrorCode::kPassphraseNotConfigured,
                  "the key file in scratch is damaged: " + kek_file.status().ToString());
  }
  OB_ASSIGN_OR_RETURN(agent.vault, ConnectVault(env, c));
  agent.store = agent.vault->ObjectStore();
  // The vault's copy of the wrapped key is the one another machine recovers
  // with. When it is missing or damaged but the copy in the key file opens,
  // jobs go on with that one (verify reports the vault's copy, repair
  // writes it again): one damaged object must not stop every backup.
  Result<keys::WrappedKey> vault_key = agent.vault->ReadKey(kek_file->wrapped.key_id);
  if (!vault_key.ok() && vault_key.status().code() == ErrorCode::kServiceUnreachable) {
    return vault_key.status();
  }
  keys::WrappedKey wrapped;
  if (vault_key.ok() && keys::UnwrapMasterKey(*vault_key, kek_file->kek).ok()) {
    wrapped = *vault_key;
  } else if (keys::UnwrapMasterKey(kek_file->wrapped, kek_file->kek).ok()) {
    wrapped = kek_file->wrapped;
    LogEngineEvent("The vault's copy of this machine's wrapped key (keys/" +
                       kek_file->wrapped.key_id + ") is missing or damaged (" +
                       (vault_key.ok() ? std::string("it does not open with this machine's KEK")
                                       : vault_key.status().ToString()) +
                       "); using the copy in " + kKekFileName +
                       ". Run 'obctl repair' to store it again",
                   true);
  } else if (!vault_key.ok()) {
    return vault_key.status();
  } else {
    wrapped = *vault_key;  // OpenRepository reports 34506
  }
  if (passphrase) {
    OB_ASSIGN_OR_RETURN(crypto::Key kek, keys::DeriveKek(*passphrase, wrapped.kdf));
    if (!keys::UnwrapMasterKey(wrapped, kek).ok()) {
      return Status(ErrorCode::kPassphraseNotConfigured,
                    "the passphrase is not the one this machine's data is encrypted with");
    }
  }
  ApplyThrottle(c, agent.store);
  agent.staging_dir = c.scratch_dir + "/staging";
  OB_RETURN_IF_ERROR(env.CreateDirs(agent.staging_dir, true));
  OB_ASSIGN_OR_RETURN(agent.repo, OpenRepository(env, *agent.store, wrapped, kek_file->kek,
                                                 c.scratch_dir + "/cache"));
  return agent;
}

Result<OpenedAgent> OpenSourceMachine(platform::Env& env, const std::string& state_dir,
                                      const std::string& credentials_file,
                                      const std::string& source_machine,
                                      const std::string& passphrase) {
  OpenedAgent agent;
  OB_ASSIGN_OR_RETURN(agent.config, LoadAgentConfig(env, state_dir));
  OB_RETURN_IF_ERROR(CheckScratch(env, agent.config.scratch_dir));
  OB_ASSIGN_OR_RETURN(auto own, ConnectVault(env, agent.config));
  OB_ASSIGN_OR_RETURN(RecoverySession session,
                      own->OpenRecoverySession(env, credentials_file, source_machine));
  agent.vault = std::move(session.vault);
  agent.store = agent.vault->ObjectStore();
  // The source machine's current key is whichever one the passphrase opens.
  OB_ASSIGN_OR_RETURN(std::vector<keys::WrappedKey> candidates, agent.vault->ListKeys());
  for (const keys::WrappedKey& wrapped : candidates) {
    OB_ASSIGN_OR_RETURN(crypto::Key kek, keys::DeriveKek(passphrase, wrapped.kdf));
    if (!keys::UnwrapMasterKey(wrapped, kek).ok()) continue;
    agent.config.machine_id = session.machine_id;
    agent.config.machine_name = source_machine;
    agent.staging_dir = "";
    ApplyThrottle(agent.config, agent.store);
    OB_ASSIGN_OR_RETURN(agent.repo,
                        OpenRepository(env, *agent.store, wrapped, kek,
                                       agent.config.scratch_dir + "/cache-" + session.machine_id));
    return agent;
  }
  return Status(ErrorCode::kPassphraseNotConfigured,
                "the passphrase does not open the data of machine '" + source_machine + "'");
}

Result<std::unique_ptr<WriterLock>> AcquireWriter(OpenedAgent& agent, const std::string& job) {
  OB_ASSIGN_OR_RETURN(std::unique_ptr<WriterLock> writer, agent.vault->AcquireWriter(job));
  // The only job of the machine now: what dead jobs left in staging is ours
  // to reclaim (staging.h). A failure here is logged and does not stop the job.
  if (agent.repo && !agent.staging_dir.empty()) {
    Result<StagingReclaim> reclaimed = ReclaimStagedPacks(*agent.repo, agent.staging_dir);
    if (!reclaimed.ok()) {
      LogEngineEvent(
          "Reclaiming staged packs failed (" + job + "): " + reclaimed.status().ToString(), true);
    } else if (!reclaimed->empty()) {
      LogEngineEvent(DescribeStagingReclaim(*reclaimed) + " (" + job + ")");
    }
  }
  return writer;
}

Result<size_t> RecordFoundDamage(OpenedAgent& agent) {
  if (!agent.repo->HasDamageChanges()) return size_t{0};
  OB_ASSIGN_OR_RETURN(auto writer, AcquireWriter(agent, "damage record"));
  return agent.repo->SaveDamageRecord();
}

Status ChangePassphrase(platform::Env& env, const std::string& state_dir,
                        const std::string& new_passphrase, const std::string& pin) {
  OB_RETURN_IF_ERROR(keys::ValidatePassphrase(new_passphrase));
  OB_ASSIGN_OR_RETURN(OpenedAgent agent, OpenAgent(env, state_dir, std::nullopt));
  const AgentConfig& c = agent.config;
  OB_ASSIGN_OR_RETURN(Bytes kek_data, env.ReadFile(c.scratch_dir + "/" + kKekFileName));
  OB_ASSIGN_OR_RETURN(keys::LocalKekFile old_file, keys::ParseLocalKekFile(AsString(kek_data)));
  OB_ASSIGN_OR_RETURN(keys::WrappedKey old_key, agent.vault->ReadKey(old_file.wrapped.key_id));
  OB_ASSIGN_OR_RETURN(crypto::Key master, keys::UnwrapMasterKey(old_key, old_file.kek));
  OB_ASSIGN_OR_RETURN(auto writer, AcquireWriter(agent, "passphrase change"));
  // Order matters for a crash at any point: the new key is stored under a new
  // id first, then this machine switches to it, and only then the old one goes.
  keys::LocalKekFile new_file;
  keys::KdfParams params = keys::NewKdfParams();
  OB_ASSIGN_OR_RETURN(new_file.kek, keys::DeriveKek(new_passphrase, params));
  new_file.wrapped = keys::WrapMasterKey(master, new_file.kek, NewId(), params);
  // vaultd takes the new key only with the vault's Security PIN, and then
  // names it as the machine's key; refused, nothing here has changed.
  agent.vault->SetSecurityPin(pin);
  OB_RETURN_IF_ERROR(agent.vault->StoreKey(new_file.wrapped));
  OB_RETURN_IF_ERROR(WriteKekFile(env, c.scratch_dir, new_file));
  OB_RETURN_IF_ERROR(agent.vault->WriteMachineRecord(new_file.wrapped.key_id, false).status());
  return agent.vault->DeleteKey(old_file.wrapped.key_id);
}

}  // namespace obagent::engine
