// Checking and healing the machine record and the wrapped key (machine_check.h).
#include "obagent/engine/machine_check.h"

#include <optional>

#include "obagent/core/keys.h"

namespace obagent::engine {

namespace {

bool Unreachable(const Status& st) { return st.code() == ErrorCode::kServiceUnreachable; }

Result<keys::LocalKekFile> ReadKekFile(platform::Env& env, const OpenedAgent& agent) {
  std::string path = agent.config.scratch_dir + "/" + kKekFileName;
  OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(path));
  return keys::ParseLocalKekFile(AsString(data));
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
  Result<keys::WrappedKey> stored = agent.vault->ReadKey(key_id);
  if (!stored.ok()) {
    if (Unreachable(stored.status())) return stored.status();
    out.key_damaged = true;
    if (stored.status().code() == ErrorCode::kPassphraseNotConfigured) {
      out.problems.push_back("wrapped key " + key_name + ": missing from the vault (" +
                             stored.status().detail() +
                             "); no other machine could recover this machine's data");
    } else {
      out.problems.push_back("wrapped key " + key_name + ": damaged (" +
                             stored.status().ToString() + ")");
    }
  } else if (stored->key_id != key_id) {
    out.key_damaged = true;
    out.problems.push_back("wrapped key " + key_name + ": names another key id (" + stored->key_id +
                           ")");
  } else {
    Result<crypto::Key> master = keys::UnwrapMasterKey(*stored, kek->kek);
    if (!master.ok()) {
      out.key_damaged = true;
      out.problems.push_back("wrapped key " + key_name +
                             ": does not open with this machine's KEK (damaged or replaced)");
    } else if (agent.repo && keys::DeriveKeySet(*master).data_key != agent.repo->keys().data_key) {
      out.key_damaged = true;
      out.problems.push_back("wrapped key " + key_name +
                             ": opens to another master key than this machine's data");
    }
  }

  // The machine record.
  OB_ASSIGN_OR_RETURN(std::vector<std::string> record_problems,
                      agent.vault->CheckMachineRecord(key_id));
  for (std::string& problem : record_problems) {
    out.record_damaged = true;
    out.problems.push_back(std::move(problem));
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
        OB_RETURN_IF_ERROR(agent.vault->StoreKey(kek.wrapped));
      }
      done.push_back(would + "wrapped key " + RepoLayout::Key(kek.wrapped.key_id) +
                     " from the copy in " + kKekFileName);
    }
  }
  if (check.record_damaged) {
    OB_ASSIGN_OR_RETURN(std::optional<std::string> wrote,
                        agent.vault->WriteMachineRecord(kek.wrapped.key_id, dry_run));
    if (wrote) done.push_back(would + *wrote);
  }
  return done;
}

}  // namespace obagent::engine
