// Checking and healing the machine record and the wrapped key (machine_check.h).
#include "obagent/engine/machine_check.h"

#include <nlohmann/json.hpp>

#include "obagent/core/keys.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

bool Unreachable(const Status& st) { return st.code() == ErrorCode::kServiceUnreachable; }

Result<keys::LocalKekFile> ReadKekFile(platform::Env& env, const OpenedAgent& agent) {
  std::string path = agent.config.scratch_dir + "/" + kKekFileName;
  OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(path));
  return keys::ParseLocalKekFile(AsString(data));
}

std::string MachineJson(const AgentConfig& c, const std::string& key_id) {
  json j = {
      {"version", 1}, {"machine_id", c.machine_id}, {"name", c.machine_name}, {"key_id", key_id}};
  return j.dump(2);
}

}  // namespace

Result<MachineRecordCheck> CheckMachineRecord(platform::Env& env, OpenedAgent& agent) {
  MachineRecordCheck out;
  const AgentConfig& c = agent.config;
  Result<keys::LocalKekFile> kek = ReadKekFile(env, agent);
  if (!kek.ok()) {
    out.problems.push_back("the key file " + c.scratch_dir + "/" + kKekFileName +
                           " cannot be read: " + kek.status().ToString());
    return out;
  }
  const std::string key_id = kek->wrapped.key_id;
  const std::string key_name = RepoLayout::Key(key_id);

  // The wrapped master key.
  Result<Bytes> stored = agent.store->Get(key_name);
  if (!stored.ok()) {
    if (Unreachable(stored.status())) return stored.status();
    out.key_damaged = true;
    out.problems.push_back("wrapped key " + key_name + ": missing from the vault (" +
                           stored.status().ToString() +
                           "); no other machine could recover this machine's data");
  } else {
    Result<keys::WrappedKey> parsed = keys::ParseWrappedKey(AsString(*stored));
    if (!parsed.ok()) {
      out.key_damaged = true;
      out.problems.push_back("wrapped key " + key_name + ": damaged (" +
                             parsed.status().ToString() + ")");
    } else if (parsed->key_id != key_id) {
      out.key_damaged = true;
      out.problems.push_back("wrapped key " + key_name + ": names another key id (" +
                             parsed->key_id + ")");
    } else {
      Result<crypto::Key> master = keys::UnwrapMasterKey(*parsed, kek->kek);
      if (!master.ok()) {
        out.key_damaged = true;
        out.problems.push_back("wrapped key " + key_name +
                               ": does not open with this machine's KEK (damaged or replaced)");
      } else if (agent.repo &&
                 keys::DeriveKeySet(*master).data_key != agent.repo->keys().data_key) {
        out.key_damaged = true;
        out.problems.push_back("wrapped key " + key_name +
                               ": opens to another master key than this machine's data");
      }
    }
  }

  // The machine record.
  if (agent.client) {
    Result<json> machine = agent.client->Call("GET", "/v1/machine");
    if (!machine.ok()) return machine.status();
    auto field = [&](const char* name) {
      auto it = machine->find(name);
      return it != machine->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (field("machine_id") != c.machine_id || field("name") != c.machine_name ||
        field("vault_id") != c.vault_id) {
      out.record_damaged = true;
      out.problems.push_back("machine record at the vault service: names machine '" +
                             field("name") + "' (" + field("machine_id") + ") of vault " +
                             field("vault_id") + ", not this machine '" + c.machine_name + "' (" +
                             c.machine_id + ") of vault " + c.vault_id);
    }
    return out;
  }
  Result<Bytes> record = agent.store->Get("machine.json");
  if (!record.ok()) {
    if (Unreachable(record.status())) return record.status();
    out.record_damaged = true;
    out.problems.push_back("machine record machine.json: missing (" + record.status().ToString() +
                           "); registering again would not find this machine");
    return out;
  }
  json j = json::parse(AsString(*record), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.record_damaged = true;
    out.problems.push_back(
        "machine record machine.json: damaged (not valid JSON); registering again would fail");
    return out;
  }
  auto text = [&](const char* name) {
    auto it = j.find(name);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("(missing)");
  };
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<int64_t>() != 1) {
    out.record_damaged = true;
    out.problems.push_back("machine record machine.json: unknown or missing version");
  }
  if (text("machine_id") != c.machine_id) {
    out.record_damaged = true;
    out.problems.push_back("machine record machine.json: machine_id is " + text("machine_id") +
                           ", not " + c.machine_id);
  }
  if (text("name") != c.machine_name) {
    out.record_damaged = true;
    out.problems.push_back("machine record machine.json: name is '" + text("name") + "', not '" +
                           c.machine_name + "'");
  }
  if (text("key_id") != key_id) {
    out.record_damaged = true;
    out.problems.push_back("machine record machine.json: key_id is " + text("key_id") +
                           ", not this machine's key " + key_id);
  }
  return out;
}

Result<std::vector<std::string>> HealMachineRecord(platform::Env& env, OpenedAgent& agent,
                                                   bool dry_run) {
  std::vector<std::string> done;
  OB_ASSIGN_OR_RETURN(MachineRecordCheck check, CheckMachineRecord(env, agent));
  if (check.ok()) return done;
  OB_ASSIGN_OR_RETURN(keys::LocalKekFile kek, ReadKekFile(env, agent));
  const std::string would = dry_run ? "would write " : "wrote ";
  if (check.key_damaged) {
    Result<crypto::Key> master = keys::UnwrapMasterKey(kek.wrapped, kek.kek);
    if (master.ok() &&
        (!agent.repo || keys::DeriveKeySet(*master).data_key == agent.repo->keys().data_key)) {
      if (!dry_run) {
        OB_RETURN_IF_ERROR(agent.store->Put(RepoLayout::Key(kek.wrapped.key_id),
                                            AsBytes(keys::SerializeWrappedKey(kek.wrapped))));
      }
      done.push_back(would + "wrapped key " + RepoLayout::Key(kek.wrapped.key_id) +
                     " from the copy in " + kKekFileName);
    }
  }
  if (check.record_damaged && !agent.client) {
    if (!dry_run) {
      OB_RETURN_IF_ERROR(
          agent.store->Put("machine.json", AsBytes(MachineJson(agent.config, kek.wrapped.key_id))));
    }
    done.push_back(would + "machine record machine.json from this machine's registration");
  }
  return done;
}

}  // namespace obagent::engine
