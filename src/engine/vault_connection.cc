// The two VaultConnections (obagent/engine/vault_connection.h): a local
// vault folder used directly, and vaultd over HTTP; and the two places that
// choose between them.
#include "obagent/engine/vault_connection.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "obagent/core/crypto.h"
#include "obagent/core/vault_layout.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/repository.h"
#include "obagent/vault/credentials.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

constexpr std::string_view kVaultRecord = "vault.json";

Result<json> ParseJson(ByteView data, const std::string& what) {
  json j = json::parse(AsString(data), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(what + " is not valid JSON");
  return j;
}

std::string NewId() { return ToHex(crypto::RandomBytes(16)); }

// ----- key storage, the same objects (keys/<key id>) in both kinds of vault

Result<keys::WrappedKey> ReadKeyFrom(storage::BlobStore& machine_store, const std::string& key_id) {
  Result<Bytes> data = machine_store.Get(RepoLayout::Key(key_id));
  if (!data.ok()) {
    if (data.status().code() == ErrorCode::kServiceUnreachable) return data.status();
    return Status(
        ErrorCode::kPassphraseNotConfigured,
        "the vault has no key " + key_id + " for this machine: " + data.status().ToString());
  }
  return keys::ParseWrappedKey(AsString(*data));
}

Result<std::vector<keys::WrappedKey>> ListKeysIn(storage::BlobStore& machine_store) {
  std::vector<keys::WrappedKey> out;
  OB_ASSIGN_OR_RETURN(auto names, machine_store.List(RepoLayout::Key("")));
  for (const std::string& name : names) {
    OB_ASSIGN_OR_RETURN(Bytes data, machine_store.Get(name));
    OB_ASSIGN_OR_RETURN(keys::WrappedKey wrapped, keys::ParseWrappedKey(AsString(data)));
    out.push_back(std::move(wrapped));
  }
  return out;
}

Status StoreKeyIn(storage::BlobStore& machine_store, const keys::WrappedKey& key) {
  return machine_store.Put(RepoLayout::Key(key.key_id), AsBytes(keys::SerializeWrappedKey(key)));
}

// What both connections share: the machine they are for and its key store.
class ConnectionBase : public VaultConnection {
 public:
  Result<keys::WrappedKey> ReadKey(const std::string& key_id) override {
    OB_RETURN_IF_ERROR(Registered());
    return ReadKeyFrom(*machine_, key_id);
  }
  Result<std::vector<keys::WrappedKey>> ListKeys() override {
    OB_RETURN_IF_ERROR(Registered());
    return ListKeysIn(*machine_);
  }
  Status StoreKey(const keys::WrappedKey& key) override {
    OB_RETURN_IF_ERROR(Registered());
    return StoreKeyIn(*machine_, key);
  }
  Status DeleteKey(const std::string& key_id) override {
    OB_RETURN_IF_ERROR(Registered());
    return machine_->Delete(RepoLayout::Key(key_id));
  }

 protected:
  // The machine this connection is for ("" before Register).
  void Adopt(std::string machine_id, std::string machine_name) {
    machine_id_ = std::move(machine_id);
    machine_name_ = std::move(machine_name);
    machine_ = ObjectStore();
  }

  std::string machine_id_;
  std::string machine_name_;
  std::string vault_id_;
  // The machine's objects (its keys, a local vault's machine record).
  std::unique_ptr<storage::BlobStore> machine_;

  // A connection made for registration has no machine until Register.
  Status Registered() const {
    if (machine_) return Status::Ok();
    return InvalidArgument(Describe() + ": this machine is not registered with it yet");
  }
};

// ----- embedded: a local vault folder

Result<std::string> ReadVaultId(storage::BlobStore& store) {
  Result<Bytes> data = store.Get(kVaultRecord);
  if (!data.ok()) {
    if (data.status().code() == ErrorCode::kNotFound) {
      return InvalidArgument(store.Describe() +
                             " is not a vault (no vault.json); create one with "
                             "'obctl vault init'");
    }
    return Status(ErrorCode::kServiceUnreachable, data.status().ToString());
  }
  OB_ASSIGN_OR_RETURN(json j, ParseJson(*data, std::string(kVaultRecord)));
  if (j.value("version", 0) != kVaultVersion) {
    return Status(ErrorCode::kUnsupportedVersion, "the vault has an unknown format version");
  }
  return j.value("vault_id", "");
}

// The machine already registered under this host name, if any.
Result<std::optional<std::string>> FindMachine(storage::BlobStore& root, const std::string& name) {
  OB_ASSIGN_OR_RETURN(auto keys, root.List(vault_layout::kMachinesPrefix));
  const std::string suffix = "/" + std::string(vault_layout::kMachineRecord);
  for (const std::string& key : keys) {
    if (!key.ends_with(suffix)) continue;
    OB_ASSIGN_OR_RETURN(Bytes data, root.Get(key));
    OB_ASSIGN_OR_RETURN(MachineRecord record, ParseMachineRecord(AsString(data), key));
    if (record.name == name) return std::optional<std::string>(record.machine_id);
  }
  return std::optional<std::string>();
}

class FileWriterLock final : public WriterLock {
 public:
  explicit FileWriterLock(std::unique_ptr<platform::FileLock> lock) : lock_(std::move(lock)) {}

 private:
  std::unique_ptr<platform::FileLock> lock_;
};

class EmbeddedVault final : public ConnectionBase {
 public:
  EmbeddedVault(platform::Env& env, std::string folder, std::unique_ptr<storage::BlobStore> root,
                std::string vault_id)
      : env_(env), folder_(std::move(folder)), root_(std::move(root)) {
    vault_id_ = std::move(vault_id);
  }

  void ForMachine(std::string machine_id, std::string machine_name) {
    Adopt(std::move(machine_id), std::move(machine_name));
  }

  std::string Describe() const override { return "the vault at " + folder_; }

  Result<MachineRegistration> Register(const std::string& machine_name,
                                       const ChooseRegistrationKey& choose) override {
    OB_ASSIGN_OR_RETURN(auto existing, FindMachine(*root_, machine_name));
    if (existing) {
      // Re-registration: the key chosen must be the one already stored.
      auto machine = MachineStore(*existing);
      const std::string what(vault_layout::kMachineRecord);
      OB_ASSIGN_OR_RETURN(Bytes data, machine->Get(what));
      OB_ASSIGN_OR_RETURN(MachineRecord record, ParseMachineRecord(AsString(data), what));
      OB_ASSIGN_OR_RETURN(keys::WrappedKey wrapped, ReadKeyFrom(*machine, record.key_id));
      OB_RETURN_IF_ERROR(choose(wrapped).status());
      Adopt(*existing, machine_name);
      return MachineRegistration{*existing, ""};
    }
    OB_ASSIGN_OR_RETURN(RegistrationKey key, choose(std::nullopt));
    MachineRecord record;
    record.machine_id = NewId();
    record.name = machine_name;
    record.key_id = key.wrapped.key_id;
    auto machine = MachineStore(record.machine_id);
    OB_RETURN_IF_ERROR(StoreKeyIn(*machine, key.wrapped));
    OB_RETURN_IF_ERROR(
        machine->Put(vault_layout::kMachineRecord, AsBytes(SerializeMachineRecord(record))));
    Adopt(record.machine_id, machine_name);
    return MachineRegistration{record.machine_id, ""};
  }

  std::unique_ptr<storage::BlobStore> ObjectStore() override { return MachineStore(machine_id_); }

  Result<std::unique_ptr<WriterLock>> AcquireWriter(const std::string&) override {
    OB_RETURN_IF_ERROR(Registered());
    std::string dir = folder_ + "/" + vault_layout::MachinePrefix(machine_id_);
    OB_RETURN_IF_ERROR(env_.CreateDirs(dir, false));
    Result<std::unique_ptr<platform::FileLock>> lock = env_.TryLockFile(dir + "writer.lock");
    if (!lock.ok()) {
      if (lock.status().code() == ErrorCode::kAlreadyExists) {
        return Status(
            ErrorCode::kAlreadyExists,
            "another job of this machine is writing to the vault (" + lock.status().detail() + ")");
      }
      return lock.status();
    }
    return std::unique_ptr<WriterLock>(std::make_unique<FileWriterLock>(std::move(lock).value()));
  }

  Status ReportJob(const JobReport&) override { return Status::Ok(); }

  Result<std::vector<std::string>> CheckMachineRecord(const std::string& key_id) override {
    OB_RETURN_IF_ERROR(Registered());
    std::vector<std::string> problems;
    const std::string name = "machine record " + std::string(vault_layout::kMachineRecord);
    Result<Bytes> data = machine_->Get(vault_layout::kMachineRecord);
    if (!data.ok()) {
      if (data.status().code() == ErrorCode::kServiceUnreachable) return data.status();
      problems.push_back(name + ": missing (" + data.status().ToString() +
                         "); registering again would not find this machine");
      return problems;
    }
    Result<MachineRecord> record = ParseMachineRecord(AsString(*data), name);
    if (!record.ok()) {
      problems.push_back(name + ": damaged (not valid JSON); registering again would fail");
      return problems;
    }
    auto text = [](const std::string& s) { return s.empty() ? std::string("(missing)") : s; };
    if (record->version != kMachineRecordVersion) {
      problems.push_back(name + ": unknown or missing version");
    }
    if (record->machine_id != machine_id_) {
      problems.push_back(name + ": machine_id is " + text(record->machine_id) + ", not " +
                         machine_id_);
    }
    if (record->name != machine_name_) {
      problems.push_back(name + ": name is '" + text(record->name) + "', not '" + machine_name_ +
                         "'");
    }
    if (record->key_id != key_id) {
      problems.push_back(name + ": key_id is " + text(record->key_id) +
                         ", not this machine's key " + key_id);
    }
    return problems;
  }

  Result<std::optional<std::string>> WriteMachineRecord(const std::string& key_id,
                                                        bool dry_run) override {
    OB_RETURN_IF_ERROR(Registered());
    if (!dry_run) {
      MachineRecord record;
      record.machine_id = machine_id_;
      record.name = machine_name_;
      record.key_id = key_id;
      OB_RETURN_IF_ERROR(
          machine_->Put(vault_layout::kMachineRecord, AsBytes(SerializeMachineRecord(record))));
    }
    return std::optional<std::string>("machine record " +
                                      std::string(vault_layout::kMachineRecord) +
                                      " from this machine's registration");
  }

  Result<RecoverySession> OpenRecoverySession(platform::Env&, const std::string&,
                                              const std::string&) override {
    return InvalidArgument("alternate-machine recovery needs a machine registered with vaultd");
  }

  // A local vault has no Security PIN and no retention floor: whoever can
  // write its folder can delete it (docs/operations.md).
  void SetSecurityPin(const std::string&) override {}
  Status RegisterRetention(const VaultRetention&) override { return Status::Ok(); }
  Status DeleteAllData() override {
    return Status(ErrorCode::kUnsupported,
                  "deleting the data with stop protection needs vaultd; in a local vault "
                  "folder, remove the machine's folder " +
                      folder_ + "/" + vault_layout::MachinePrefix(machine_id_) + " yourself");
  }

 private:
  std::unique_ptr<storage::BlobStore> MachineStore(const std::string& machine_id) {
    return storage::NewPrefixedStore(*root_, vault_layout::MachinePrefix(machine_id));
  }

  platform::Env& env_;
  const std::string folder_;
  const std::unique_ptr<storage::BlobStore> root_;
};

// ----- service: vaultd over HTTP

// The file's text (what vaultd is shown) and, in `parsed`, what it says.
Result<std::string> ReadCredentialsText(platform::Env& env, const std::string& file,
                                        vault::VaultCredentials& parsed) {
  Result<Bytes> data = env.ReadFile(file);
  if (!data.ok()) {
    return Status(ErrorCode::kInvalidVaultCredentials,
                  "cannot read the vault-credential file: " + data.status().ToString());
  }
  std::string text(data->begin(), data->end());
  OB_ASSIGN_OR_RETURN(parsed, vault::VaultCredentials::Parse(text));
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  if (parsed.ExpiredAt(now)) {
    return Status(ErrorCode::kInvalidVaultCredentials, "the vault-credential file expired at " +
                                                           vault::FormatUtcTime(parsed.expires_at) +
                                                           "; download a new one");
  }
  return text;
}

class LeaseWriterLock final : public WriterLock {
 public:
  explicit LeaseWriterLock(std::unique_ptr<LeaseHolder> lease) : lease_(std::move(lease)) {}

 private:
  std::unique_ptr<LeaseHolder> lease_;
};

json JobReportJson(const JobReport& r) {
  json j = {{"type", r.type}, {"state", JobStateName(r.state)}, {"error", r.error}};
  if (r.recovery_point) j["recovery_point"] = *r.recovery_point;
  for (const auto& [name, count] : r.counts) j[name] = count;
  return j;
}

class ServiceVault final : public ConnectionBase {
 public:
  // `connection` carries the machine's (or a recovery session's) token, or
  // none for registration; `credentials` is the vault-credential file's text
  // a registration presents.
  ServiceVault(ServiceConnection connection, std::string vault_id, std::string credentials = "")
      : connection_(std::move(connection)),
        client_(std::make_unique<VaultClient>(connection_)),
        credentials_(std::move(credentials)) {
    vault_id_ = std::move(vault_id);
  }

  void ForMachine(std::string machine_id, std::string machine_name) {
    Adopt(std::move(machine_id), std::move(machine_name));
  }

  // The vault answering for this token is the one this machine registered with.
  Status CheckVault() {
    OB_ASSIGN_OR_RETURN(json machine, client_->Call("GET", "/v1/machine"));
    if (machine.value("vault_id", "") != vault_id_) {
      return Status(ErrorCode::kInvalidVaultCredentials,
                    Describe() + " is not the one this machine registered with");
    }
    return Status::Ok();
  }

  std::string Describe() const override { return "the vault service at " + connection_.url; }

  Result<MachineRegistration> Register(const std::string& machine_name,
                                       const ChooseRegistrationKey& choose) override {
    OB_ASSIGN_OR_RETURN(json prepared, client_->Call("POST", "/v1/register/prepare",
                                                     {{"credentials", credentials_},
                                                      {"machine_name", machine_name}}));
    std::optional<keys::WrappedKey> existing;
    if (prepared.value("machine_exists", false)) {
      OB_ASSIGN_OR_RETURN(existing, keys::ParseWrappedKey(prepared.value("wrapped_key", "")));
    }
    OB_ASSIGN_OR_RETURN(RegistrationKey key, choose(existing));
    OB_ASSIGN_OR_RETURN(json registered,
                        client_->Call("POST", "/v1/register",
                                      {{"credentials", credentials_},
                                       {"machine_name", machine_name},
                                       {"wrapped_key", keys::SerializeWrappedKey(key.wrapped)},
                                       {"key_check", key.key_check}}));
    MachineRegistration out;
    out.machine_id = registered.value("machine_id", "");
    out.token = registered.value("token", "");
    if (out.machine_id.empty() || out.token.empty()) {
      return Corrupt("the vault service did not return a machine id and token");
    }
    connection_.token = out.token;
    client_ = std::make_unique<VaultClient>(connection_);
    Adopt(out.machine_id, machine_name);
    return out;
  }

  std::unique_ptr<storage::BlobStore> ObjectStore() override { return client_->ObjectStore(); }

  Result<std::unique_ptr<WriterLock>> AcquireWriter(const std::string& job) override {
    OB_ASSIGN_OR_RETURN(auto lease, LeaseHolder::Acquire(*client_, machine_name_ + " " + job));
    return std::unique_ptr<WriterLock>(std::make_unique<LeaseWriterLock>(std::move(lease)));
  }

  Status ReportJob(const JobReport& report) override {
    return client_->Call("POST", "/v1/jobs", JobReportJson(report)).status();
  }

  Result<std::vector<std::string>> CheckMachineRecord(const std::string&) override {
    std::vector<std::string> problems;
    OB_ASSIGN_OR_RETURN(json machine, client_->Call("GET", "/v1/machine"));
    auto field = [&](const char* name) {
      auto it = machine.find(name);
      return it != machine.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (field("machine_id") != machine_id_ || field("name") != machine_name_ ||
        field("vault_id") != vault_id_) {
      problems.push_back("machine record at the vault service: names machine '" + field("name") +
                         "' (" + field("machine_id") + ") of vault " + field("vault_id") +
                         ", not this machine '" + machine_name_ + "' (" + machine_id_ +
                         ") of vault " + vault_id_);
    }
    return problems;
  }

  Result<std::optional<std::string>> WriteMachineRecord(const std::string&, bool) override {
    return std::optional<std::string>();  // vaultd's own; a machine cannot write it
  }

  void SetSecurityPin(const std::string& pin) override { client_->SetSecurityPin(pin); }

  Status RegisterRetention(const VaultRetention& r) override {
    return client_
        ->Call("PUT", "/v1/machine/retention",
               {{"daily_days", r.daily_days},
                {"weekly_weeks", r.weekly_weeks},
                {"monthly_months", r.monthly_months},
                {"yearly_years", r.yearly_years}})
        .status();
  }

  Status DeleteAllData() override {
    return client_->Call("POST", "/v1/machine/stop-protection", {{"delete_data", true}}).status();
  }

  Result<RecoverySession> OpenRecoverySession(platform::Env& env,
                                              const std::string& credentials_file,
                                              const std::string& source_machine) override {
    vault::VaultCredentials creds;
    OB_ASSIGN_OR_RETURN(std::string text, ReadCredentialsText(env, credentials_file, creds));
    OB_ASSIGN_OR_RETURN(json session,
                        client_->Call("POST", "/v1/recovery-sessions",
                                      {{"credentials", text}, {"source_machine", source_machine}}));
    ServiceConnection source = connection_;
    source.token = session.value("token", "");
    auto vault = std::make_unique<ServiceVault>(std::move(source), vault_id_);
    RecoverySession out;
    out.machine_id = session.value("machine_id", "");
    vault->ForMachine(out.machine_id, source_machine);
    out.vault = std::move(vault);
    return out;
  }

 private:
  ServiceConnection connection_;
  std::unique_ptr<VaultClient> client_;
  const std::string credentials_;
};

Result<std::unique_ptr<storage::BlobStore>> OpenVaultFolder(const std::string& folder) {
  auto root = storage::OpenLocalDirStore(folder);
  if (!root.ok()) return Status(ErrorCode::kServiceUnreachable, root.status().ToString());
  return std::move(root).value();
}

}  // namespace

std::string SerializeMachineRecord(const MachineRecord& r) {
  json j = {
      {"version", r.version}, {"machine_id", r.machine_id}, {"name", r.name}, {"key_id", r.key_id}};
  return j.dump(2);
}

Result<MachineRecord> ParseMachineRecord(std::string_view text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(what + " is not valid JSON");
  auto string_field = [&](const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  MachineRecord r;
  auto version = j.find("version");
  r.version = version != j.end() && version->is_number_integer() &&
                      version->get<int64_t>() == kMachineRecordVersion
                  ? kMachineRecordVersion
                  : 0;
  r.machine_id = string_field("machine_id");
  r.name = string_field("name");
  r.key_id = string_field("key_id");
  return r;
}

Result<std::string> InitLocalVault(platform::Env& env, const std::string& path) {
  OB_ASSIGN_OR_RETURN(std::string abs, env.AbsolutePath(path));
  OB_RETURN_IF_ERROR(env.CreateDirs(abs, true));
  OB_ASSIGN_OR_RETURN(auto store, storage::OpenLocalDirStore(abs));
  OB_ASSIGN_OR_RETURN(bool exists, store->Exists(kVaultRecord));
  if (exists) return Status(ErrorCode::kAlreadyExists, abs + " already holds a vault");
  std::string id = NewId();
  json j = {{"version", kVaultVersion}, {"vault_id", id}};
  OB_RETURN_IF_ERROR(store->Put(kVaultRecord, AsBytes(j.dump(2))));
  return id;
}

ServiceConnection ServiceConnectionFor(const AgentConfig& c, std::string token) {
  ServiceConnection conn;
  conn.url = c.service_url;
  conn.token = std::move(token);
  conn.proxy = c.proxy;
  conn.proxy_user = c.proxy_user;
  conn.proxy_password = c.proxy_password;
  return conn;
}

Result<std::unique_ptr<VaultConnection>> ConnectVault(platform::Env& env,
                                                      const AgentConfig& config) {
  if (!config.service_url.empty()) {
    auto vault =
        std::make_unique<ServiceVault>(ServiceConnectionFor(config, config.token), config.vault_id);
    OB_RETURN_IF_ERROR(vault->CheckVault());
    vault->ForMachine(config.machine_id, config.machine_name);
    return std::unique_ptr<VaultConnection>(std::move(vault));
  }
  OB_ASSIGN_OR_RETURN(auto root, OpenVaultFolder(config.vault));
  OB_ASSIGN_OR_RETURN(std::string vault_id, ReadVaultId(*root));
  if (vault_id != config.vault_id) {
    return Status(ErrorCode::kInvalidVaultCredentials,
                  "the vault at " + config.vault + " is not the one this machine registered with");
  }
  auto vault = std::make_unique<EmbeddedVault>(env, config.vault, std::move(root), vault_id);
  vault->ForMachine(config.machine_id, config.machine_name);
  return std::unique_ptr<VaultConnection>(std::move(vault));
}

Result<std::unique_ptr<VaultConnection>> ConnectToRegister(platform::Env& env,
                                                           const RegisterOptions& options,
                                                           AgentConfig& config) {
  if (!options.credentials_file.empty()) {
    vault::VaultCredentials creds;
    OB_ASSIGN_OR_RETURN(std::string text,
                        ReadCredentialsText(env, options.credentials_file, creds));
    config.service_url = creds.service_url;
    config.vault_id = creds.vault_id;
    config.vault_name = creds.vault_name;
    config.proxy = options.proxy;
    config.proxy_user = options.proxy_user;
    config.proxy_password = options.proxy_password;
    return std::unique_ptr<VaultConnection>(std::make_unique<ServiceVault>(
        ServiceConnectionFor(config, ""), config.vault_id, std::move(text)));
  }
  if (options.vault.empty()) {
    return InvalidArgument("give --vault-credentials FILE (or --vault DIR for a local vault)");
  }
  OB_ASSIGN_OR_RETURN(std::string folder, env.AbsolutePath(options.vault));
  auto opened = storage::OpenLocalDirStore(folder);
  if (!opened.ok()) {
    return InvalidArgument(folder + " is not a vault (" + opened.status().ToString() +
                           "); create one with 'obctl vault init'");
  }
  std::unique_ptr<storage::BlobStore> root = std::move(opened).value();
  config.vault = folder;
  OB_ASSIGN_OR_RETURN(config.vault_id, ReadVaultId(*root));
  return std::unique_ptr<VaultConnection>(
      std::make_unique<EmbeddedVault>(env, folder, std::move(root), config.vault_id));
}

}  // namespace obagent::engine
