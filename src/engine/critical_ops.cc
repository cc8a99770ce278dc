// The critical operations that carry the vault's Security PIN
// (obagent/engine/critical_ops.h).
#include "obagent/engine/critical_ops.h"

#include "obagent/engine/agent.h"
#include "obagent/engine/policy.h"

namespace obagent::engine {

Status RegisterRetention(platform::Env& env, const std::string& state_dir,
                         const RetentionPolicy& retention, const std::string& pin) {
  Result<AgentConfig> config = LoadAgentConfig(env, state_dir);
  if (!config.ok()) {
    // Not registered yet: the registration tells the vault nothing, the
    // first job does (RunPruneJob, retention after a backup).
    if (config.status().code() == ErrorCode::kActivationFailed) return Status::Ok();
    return config.status();
  }
  if (config->service_url.empty()) return Status::Ok();  // a local vault: no floor
  OB_ASSIGN_OR_RETURN(std::unique_ptr<VaultConnection> vault, ConnectVault(env, *config));
  vault->SetSecurityPin(pin);
  return vault->RegisterRetention(VaultRetentionOf(retention))
      .WithContext("registering the retention with the vault");
}

Status StopProtection(platform::Env& env, const std::string& state_dir, bool delete_data,
                      const std::string& pin) {
  if (!env.Exists(PolicyPath(state_dir)) && !delete_data) {
    return NotFound("no backup policy is configured");
  }
  if (delete_data) {
    OB_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(env, state_dir));
    OB_ASSIGN_OR_RETURN(std::unique_ptr<VaultConnection> vault, ConnectVault(env, config));
    vault->SetSecurityPin(pin);
    OB_RETURN_IF_ERROR(vault->DeleteAllData());
  }
  Status st = RemovePolicy(env, state_dir);
  if (st.code() == ErrorCode::kNotFound && delete_data) return Status::Ok();
  return st;
}

}  // namespace obagent::engine
