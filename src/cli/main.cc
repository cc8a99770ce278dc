// obctl: the command line of obagent. Command names follow the
// MSOnlineBackup cmdlets (Start-OBBackup -> "backup start",
// Get-OBRecoverableSource/Item -> "recovery list|items", Start-OBRecovery ->
// "recover", Set-OBMachineSetting -EncryptionPassphrase -> "passphrase change").
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/api/local_api.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/backup_job.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/machine_check.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/recovery_reader.h"
#include "obagent/engine/recovery_test.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/vault_client.h"
#include "obagent/engine/verify.h"
#include "obagent/platform.h"
#include "obagent/platform_mount.h"
#include "obagent/status.h"

using nlohmann::json;

namespace obagent::cli {
namespace {

constexpr char kUsage[] = R"(usage: obctl [--state-dir DIR] [--json] COMMAND [options]

Commands:
  vault create NAME --service URL [--admin-token-file F]     (vaultd administrator)
  vault credentials NAME --service URL --out FILE [--validity-hours H]
  vault init --path DIR                  create a local vault (embedded mode)
  register --vault-credentials FILE | --vault DIR   register this machine
           [--scratch DIR] [--passphrase-file F] (or $OBAGENT_PASSPHRASE)
           [--proxy URL [--proxy-user U --proxy-password-file F]]
  backup start --include PATH... [--exclude GLOB...]
  recovery list                          list recovery points
  recovery items --point ID [PATH]       list what a recovery point holds
  recovery mount --point ID DIR [--allow-other]
                                         show a recovery point read-only at DIR
                                         until unmounted or Ctrl+C (Linux: FUSE)
  recovery unmount DIR                   end such a mount
  recover --point ID [--item PATH...] [--target DIR]
          [--overwrite | --create-copy | --skip] [--no-permissions] [--passphrase-file F]
                                         with --target every item keeps its whole path below DIR
  (recovery list|items|mount and recover take --source-machine NAME
   --vault-credentials FILE --passphrase-file F to recover another machine)
  recovery test [--point ID] [--sample N | --percent P]
                                         restore drill: restore a random sample
                                         (default 100 files) to a private folder,
                                         compare it with the point, remove it
  verify                                 check every object in the vault (the machine
                                         record and the wrapped key included)
  repair [--rewrite-lost [--forget-damaged]] [--read-data] [--dry-run]
                                         rebuild the index from the packs present,
                                         name damaged points and their lost files,
                                         write them again without (see 'obctl repair --help')
  passphrase change [--new-passphrase-file F]  (or $OBAGENT_NEW_PASSPHRASE)
  machine-setting show | set [--work-hour-bandwidth RATE ... | --no-throttle]
         [--proxy-server URL --proxy-port N | --no-proxy] [--scratch-location DIR]
                                         throttling, proxy, scratch (see 'obctl machine-setting')
  policy new|show|add-filespec|remove-filespec|set-schedule|set-retention|
         pause|resume|remove|schedule-files   the backup policy (see 'obctl policy')
  backup scheduled                       run the policy's backup and retention
                                         (in the engine when it runs)
  backup now [--no-wait]                 the engine backs up the policy now
  job list [--last N] | job show ID      job history (Get-OBJob)
  job stop ID                            stop a running job (Stop-OBJob)
  engine status                          is cbengine running; its current job
  console url                            the web console's address (with its token)
  prune --daily N [--weekly N] [--monthly N] [--yearly N] [--dry-run]
                                         apply a retention policy, free vault space

The state folder is --state-dir, else $OBAGENT_STATE_DIR, else the default
for this system. Exit codes: 0 completed, 1 failed, 2 usage, 3 completed
with warnings.
)";

int Run(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  Globals g;
  g.env = &platform::Env::Default();
  g.env->PreferReturningLargeBuffers();
  // Global options come before the command.
  size_t i = 0;
  std::string state_dir;
  for (; i < words.size() && words[i].starts_with("--"); ++i) {
    if (words[i] == "--json") {
      g.json = true;
    } else if (words[i] == "--state-dir" && i + 1 < words.size()) {
      state_dir = words[++i];
    } else if (words[i] == "--help") {
      std::cout << kUsage;
      return kExitOk;
    } else {
      std::cerr << "obctl: unknown option " << words[i] << "\n" << kUsage;
      return kExitUsage;
    }
  }
  if (state_dir.empty()) state_dir = g.env->DefaultStateDir();
  auto abs = g.env->AbsolutePath(state_dir);
  if (!abs.ok()) return Fail(g, abs.status());
  g.state_dir = *abs;
  std::vector<std::string> rest(words.begin() + static_cast<long>(i), words.end());
  auto take = [&rest]() {
    std::string w = rest.empty() ? "" : rest.front();
    if (!rest.empty()) rest.erase(rest.begin());
    return w;
  };
  using Handler = std::function<int(Globals&, const std::vector<std::string>&)>;
  auto no_args = [](int (*f)(Globals&)) {
    return [f](Globals& g, const std::vector<std::string>&) { return f(g); };
  };
  // "command" or "command subcommand" -> handler.
  const std::map<std::string, Handler> commands = {
      {"vault init", VaultInit},
      {"vault create", VaultCreate},
      {"vault credentials", VaultCredentials},
      {"register", Register},
      {"backup start", BackupStart},
      {"backup scheduled", BackupScheduled},
      {"policy",
       [](Globals& g, const std::vector<std::string>& args) {
         return PolicyCommand(g.state_dir, g.json, args);
       }},
      {"job list", JobList},
      {"job show", JobShow},
      {"job stop", JobStop},
      {"backup now", BackupNow},
      {"engine status", EngineStatus},
      {"console url", ConsoleUrl},
      {"recovery list", RecoveryList},
      {"recovery items", RecoveryItems},
      {"recovery mount", RecoveryMount},
      {"recovery unmount", RecoveryUnmount},
      {"recovery test", RecoveryTest},
      {"recover", Recover},
      {"verify", no_args(Verify)},
      {"passphrase change", PassphraseChange},
      {"machine-setting", MachineSettingCommand},
      {"prune",
       [](Globals& g, const std::vector<std::string>& args) {
         return WithJob(g, "Prune", [&](engine::JobRecord&) { return PruneCommand(g, args); });
       }},
      {"repair",
       [](Globals& g, const std::vector<std::string>& args) {
         return WithJob(g, "Repair", [&](engine::JobRecord&) { return RepairCommand(g, args); });
       }},
  };
  std::string cmd = take();
  auto it = commands.find(cmd);
  if (it == commands.end() && !rest.empty()) {
    it = commands.find(cmd + " " + rest.front());
    if (it != commands.end()) cmd += " " + take();
  }
  if (it != commands.end()) return it->second(g, rest);
  std::cerr << (cmd.empty() ? "" : "obctl: unknown command '" + cmd + "'\n") << kUsage;
  return kExitUsage;
}

}  // namespace
}  // namespace obagent::cli

int main(int argc, char** argv) { return obagent::cli::Run(argc, argv); }
