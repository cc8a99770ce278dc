// obctl: the command line of obagent. Command names follow the
// MSOnlineBackup cmdlets (Start-OBBackup -> "backup start",
// Get-OBRecoverableSource/Item -> "recovery list|items", Start-OBRecovery ->
// "recover", Set-OBMachineSetting -EncryptionPassphrase -> "passphrase change").
// This file holds only the command table and Run(): the global options
// (anywhere on the line), help, and dispatch. Each command family lives in
// src/cli/cmd_<family>.cc.
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/platform.h"
#include "obagent/platform_process.h"

namespace obagent::cli {
namespace {

// One line per command: its words, what it does, what runs it. obctl --help
// and obctl GROUP --help list these; obctl CMD --help prints the options of
// the OptionSet the handler parses with, before the handler does anything.
struct Command {
  std::string_view name;     // "recovery list": its first word is its group
  std::string_view summary;  // one line
  Handler run;               // the words after the command's name
};

// A subcommand of a family whose file maps its words to handlers.
Handler Sub(std::string_view family, std::string_view sub) {
  return family == "policy" ? PolicyCommand(sub) : MachineSettingCommand(sub);
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"vault init", "create a local vault folder (embedded mode)", VaultInit},
      {"vault create", "create a vault in vaultd (its administrator)", VaultCreate},
      {"vault credentials", "write a vault-credential file for registering machines",
       VaultCredentials},
      {"vault deleted", "list a machine's soft-deleted data in vaultd (its administrator)",
       VaultDeleted},
      {"vault undelete", "undelete a machine's data deleted since a time, or named points",
       VaultUndelete},
      {"vault alerts", "list a vault's alerts in vaultd (its administrator)", VaultAlerts},
      {"vault alert-ack", "acknowledge an alert in vaultd (its administrator)", VaultAlertAck},
      {"vault audit", "list vaultd's audit log and check its hash chain", VaultAudit},
      {"vault anomalies", "list a vault's flagged backups that hold their machine's data",
       VaultAnomalies},
      {"vault anomaly-ack", "acknowledge an anomaly: release the hold on its machine's data",
       VaultAnomalyAck},
      {"vault security-pin", "generate the vault's Security PIN for a critical operation",
       VaultSecurityPin},
      {"vault set", "soft-delete days, or make the vault immutable (irreversible)", VaultSet},
      {"vault remove-machine", "remove a machine; its data goes to soft delete (needs the PIN)",
       VaultRemoveMachine},
      {"vault purge-deleted", "purge a machine's soft-deleted data now (needs the PIN)",
       VaultPurgeDeleted},
      {"register", "register this machine with a vault", Register},
      {"backup start", "back up files and folders now, in this process", BackupStart},
      {"backup now", "the engine backs up the policy now", BackupNow},
      {"backup scheduled", "run the policy's backup and retention (the OS scheduler's command)",
       BackupScheduled},
      {"job list", "the job history (Get-OBJob)", JobList},
      {"job show", "one job's record and, while it runs, its progress", JobShow},
      {"job stop", "stop a running job (Stop-OBJob)", JobStop},
      {"engine status", "is cbengine running; its current job", EngineStatus},
      {"console url", "the web console's address (with its token)", ConsoleUrl},
      {"recovery list", "list recovery points", RecoveryList},
      {"recovery items", "list what a recovery point holds", RecoveryItems},
      {"recovery mount", "show a recovery point read-only at a folder (Linux: FUSE)",
       RecoveryMount},
      {"recovery unmount", "end such a mount", RecoveryUnmount},
      {"recovery test", "restore drill: restore a sample, compare it with the point, remove it",
       RecoveryTest},
      {"recover", "recover items of a recovery point (Start-OBRecovery)", Recover},
      {"verify", "check every object in the vault (the machine record and key included)", Verify},
      {"repair", "rebuild the index, name damaged points, write them again without the damage",
       RepairCommand},
      {"prune", "apply a retention policy, free vault space", PruneCommand},
      {"passphrase change", "change the encryption passphrase", PassphraseChange},
      {"machine-setting show", "throttling, proxy and scratch folder",
       Sub("machine-setting", "show")},
      {"machine-setting set", "change throttling, proxy or scratch folder (from the next job)",
       Sub("machine-setting", "set")},
      {"policy new", "create the backup policy", Sub("policy", "new")},
      {"policy show", "the policy and its next run", Sub("policy", "show")},
      {"policy add-filespec", "add paths to back up or to skip", Sub("policy", "add-filespec")},
      {"policy remove-filespec", "remove paths from the policy", Sub("policy", "remove-filespec")},
      {"policy set-schedule", "change the days and times of the backup",
       Sub("policy", "set-schedule")},
      {"policy set-retention", "change the retention", Sub("policy", "set-retention")},
      {"policy set-recovery-test", "schedule (or --off) the restore drill",
       Sub("policy", "set-recovery-test")},
      {"policy pause", "stop scheduled backups (and drills)", Sub("policy", "pause")},
      {"policy resume", "restart scheduled backups", Sub("policy", "resume")},
      {"policy remove", "delete the policy (stop protection; --delete-data: also the data)",
       Sub("policy", "remove")},
      {"policy schedule-files", "write the OS scheduler's files for the policy",
       Sub("policy", "schedule-files")},
  };
  return kCommands;
}

constexpr char kGlobalOptions[] = R"(Global options (anywhere on the line):
  --state-dir DIR               the state folder (else $OBAGENT_STATE_DIR, else
                                this system's default)
  --json                        print JSON (failures too)
  --help, -h                    help: obctl --help, obctl GROUP --help,
                                obctl COMMAND --help
)";

std::string GroupOf(std::string_view name) { return std::string(name.substr(0, name.find(' '))); }

// The commands whose name starts with prefix ("" for all), with summaries.
std::string CommandList(const std::string& group) {
  std::string out;
  for (const Command& c : Commands()) {
    if (!group.empty() && GroupOf(c.name) != group) continue;
    std::string left = "  " + std::string(c.name);
    left += left.size() + 2 > 26 ? "\n" + std::string(26, ' ') : std::string(26 - left.size(), ' ');
    out += left + std::string(c.summary) + "\n";
  }
  return out;
}

std::string Usage() {
  return "usage: obctl [--state-dir DIR] [--json] COMMAND [options]\n\nCommands:\n" +
         CommandList("") + "\n" + kGlobalOptions +
         "\nRun 'obctl COMMAND --help' for a command's options. Exit codes: 0 completed,\n"
         "1 failed, 2 usage, 3 completed with warnings.\n";
}

std::string GroupUsage(const std::string& group) {
  return "usage: obctl " + group + " COMMAND [options]\n\nCommands:\n" + CommandList(group) +
         "\nRun 'obctl " + group + " COMMAND --help' for a command's options.\n";
}

bool IsHelp(const std::string& w) { return w == "--help" || w == "-h"; }

int Run(int argc, char** argv) {
  Globals g;
  g.env = &platform::Env::Default();
  g.env->PreferReturningLargeBuffers();
  // Global options anywhere on the line, up to a "--" (after which every
  // word is the command's).
  std::vector<std::string> words;
  std::string state_dir;
  bool help = false, json = false;
  bool after_dashes = false;
  for (int i = 1; i < argc; ++i) {
    std::string w = argv[i];
    if (after_dashes) {
      words.push_back(w);
    } else if (w == "--") {
      after_dashes = true;
      words.push_back(w);
    } else if (w == "--json") {
      json = true;
    } else if (w == "--state-dir") {
      if (i + 1 >= argc) {
        std::cerr << "obctl: the option '--state-dir' needs a folder\n";
        return kExitUsage;
      }
      state_dir = argv[++i];
    } else if (w.starts_with("--state-dir=")) {
      state_dir = w.substr(std::string_view("--state-dir=").size());
    } else if (IsHelp(w)) {
      help = true;
    } else {
      words.push_back(w);
    }
  }
  // One presenter for the whole run: no command asks for --json again.
  g.out = json ? MakeJsonPresenter() : MakeTextPresenter(*g.env);
  // The command: its two words, else its one.
  const Command* command = nullptr;
  size_t used = 0;
  for (const Command& c : Commands()) {
    if (words.size() >= 2 && c.name == words[0] + " " + words[1]) command = &c, used = 2;
    if (command == nullptr && !words.empty() && c.name == words[0]) command = &c, used = 1;
  }
  if (command == nullptr) {
    if (words.empty() || words[0].starts_with("-")) {
      if (!words.empty()) {
        std::cerr << "obctl: unknown option '" << words[0] << "' before the command\n";
      }
      (help && words.empty() ? std::cout : std::cerr) << Usage();
      return help && words.empty() ? kExitOk : kExitUsage;
    }
    const std::string& group = words[0];
    if (CommandList(group).empty()) {
      std::cerr << "obctl: unknown command '" << group << "' (see 'obctl --help')\n";
      return kExitUsage;
    }
    if (help && words.size() == 1) {
      std::cout << GroupUsage(group);
      return kExitOk;
    }
    if (words.size() == 1) {
      std::cerr << "obctl: '" << group << "' needs a command\n" << GroupUsage(group);
    } else {
      std::cerr << "obctl: unknown command '" << group << " " << words[1] << "'\n"
                << GroupUsage(group);
    }
    return kExitUsage;
  }
  g.command_summary = command->summary;
  if (help) {
    // The command's help only: its handler parses "--help", prints the
    // options and returns before it does anything.
    g.help_only = true;
    return command->run(g, {"--help"});
  }
  if (state_dir.empty()) state_dir = g.env->DefaultStateDir();
  auto abs = g.env->AbsolutePath(state_dir);
  if (!abs.ok()) return Fail(g, abs.status());
  g.state_dir = *abs;
  std::vector<std::string> rest(words.begin() + static_cast<long>(used), words.end());
  return command->run(g, rest);
}

}  // namespace
}  // namespace obagent::cli

int main(int argc, char** argv) {
  // obctl runs a job itself when the engine is not running (the scheduled
  // task, as SYSTEM): the same process setup as cbengine, before any
  // thread starts. Missing privileges are cbengine's to report; for obctl
  // run by a user they are expected.
  (void)obagent::platform::InitializeProcessSecurity();
  (void)obagent::platform::EnableBackupPrivileges();
  return obagent::cli::Run(argc, argv);
}
