// What obctl's commands share: global options, exit codes, the presenter
// their results go to (output.h), failure reporting, option parsing, secrets, the source-machine
// options and the job record of jobs run in this process (cli_common.cc). Each command family lives
// in a file of its own, src/cli/cmd_<family>.cc; main.cc parses the global options and dispatches.
#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/output.h"
#include "obagent/cmdline/options.h"
#include "obagent/core/text.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/recovery_job.h"
#include "obagent/engine/vault_client.h"
#include "obagent/engine/wire.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::cli {

using cmdline::Option;
using cmdline::OptionSet;
using nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitWarnings = 3;

struct Globals {
  std::string state_dir;
  // Where results, failures and progress go: text or JSON (--json), chosen
  // once; commands hand it what they did and never ask which it is.
  std::unique_ptr<Presenter> out;
  platform::Env* env = nullptr;
  // The running command's one-line summary (main.cc's table), for --help.
  std::string_view command_summary;
  // obctl CMD --help: the command prints its options and does nothing else.
  bool help_only = false;
};

// A command: the words after its name -> obctl's exit code. It parses its
// options first (ParseOptions) and, given --help, prints them and returns
// before doing anything else.
using Handler = std::function<int(Globals&, const std::vector<std::string>&)>;

inline int Fail(const Globals& g, const Status& status) {
  g.out->Failure(status);
  return kExitFailed;
}

// A command's usage error: "obctl vault create: <message>" on stderr.
inline int UsageError(const OptionSet& options, const std::string& message) {
  std::cerr << "obctl " << options.command() << ": " << message << "\n";
  return kExitUsage;
}

// Parses a command's options. nullopt when the command goes on; else the
// exit code, after printing the usage error or the command's --help (its
// summary and every option it accepts, described).
std::optional<int> ParseOptions(const Globals& g, OptionSet& options,
                                const std::vector<std::string>& args);

// A secret: the first line of file, else $var; what names it in errors.
Result<std::string> ReadSecret(platform::Env& env, const std::string& file, const char* var,
                               const char* what);

// Which machine's recovery points: this one (machine empty), or another
// one of the vault for alternate-machine recovery.
struct SourceOptions {
  std::string machine;
  std::string credentials_file;
  std::string passphrase_file;
};

void AddSourceOptions(OptionSet& options, SourceOptions& source);

// Whose points the source options name, with the passphrase of
// --passphrase-file if given (engine::RecoveryMachine).
Result<engine::RecoveryMachine> RecoveryMachineFor(Globals& g, const SourceOptions& source);
// This machine's agent or, with --source-machine, the other machine's.
Result<engine::OpenedAgent> OpenFor(Globals& g, const SourceOptions& source,
                                    const std::optional<std::string>& passphrase);
// The passphrase of --passphrase-file, if given.
Result<std::optional<std::string>> OptionalPassphrase(Globals& g, const SourceOptions& source);

// Prints a job's final record; obctl's exit code for it.
int PresentEngineJob(Globals& g, const engine::JobRecord& job);

// Administrator commands against vaultd: where it is, who asks
// (--service, --admin-token-file; cmd_vault.cc).
struct AdminOptions {
  std::string service_url;
  std::string token_file;
};
void AddAdminOptions(OptionSet& options, AdminOptions& admin);
// `pin`: the vault's Security PIN, sent with every request (critical
// operations: vault set, remove-machine, purge-deleted).
Result<std::unique_ptr<engine::VaultClient>> AdminClient(Globals& g, const AdminOptions& admin,
                                                         const std::string& pin = "");

// The commands, one family per file; args are the words after the command.
// cmd_vault_alerts.cc
int VaultAlerts(Globals& g, const std::vector<std::string>& args);
int VaultAlertAck(Globals& g, const std::vector<std::string>& args);
int VaultAudit(Globals& g, const std::vector<std::string>& args);
// cmd_vault.cc
int VaultInit(Globals& g, const std::vector<std::string>& args);
int VaultCreate(Globals& g, const std::vector<std::string>& args);
int VaultCredentials(Globals& g, const std::vector<std::string>& args);
int VaultDeleted(Globals& g, const std::vector<std::string>& args);
int VaultUndelete(Globals& g, const std::vector<std::string>& args);
int VaultAnomalies(Globals& g, const std::vector<std::string>& args);
int VaultAnomalyAck(Globals& g, const std::vector<std::string>& args);
int VaultSecurityPin(Globals& g, const std::vector<std::string>& args);
int VaultSet(Globals& g, const std::vector<std::string>& args);
int VaultRemoveMachine(Globals& g, const std::vector<std::string>& args);
int VaultPurgeDeleted(Globals& g, const std::vector<std::string>& args);
int Register(Globals& g, const std::vector<std::string>& args);
// cmd_backup.cc
int BackupStart(Globals& g, const std::vector<std::string>& args);
int BackupNow(Globals& g, const std::vector<std::string>& args);
int BackupScheduled(Globals& g, const std::vector<std::string>& args);
// cmd_job.cc
int JobList(Globals& g, const std::vector<std::string>& args);
int JobShow(Globals& g, const std::vector<std::string>& args);
int JobStop(Globals& g, const std::vector<std::string>& args);
// cmd_engine.cc
int EngineStatus(Globals& g, const std::vector<std::string>& args);
int ConsoleUrl(Globals& g, const std::vector<std::string>& args);
// cmd_recovery.cc
int RecoveryList(Globals& g, const std::vector<std::string>& args);
int RecoveryItems(Globals& g, const std::vector<std::string>& args);
int RecoveryMount(Globals& g, const std::vector<std::string>& args);
int RecoveryUnmount(Globals& g, const std::vector<std::string>& args);
int RecoveryTest(Globals& g, const std::vector<std::string>& args);
int Recover(Globals& g, const std::vector<std::string>& args);
// cmd_verify.cc
int Verify(Globals& g, const std::vector<std::string>& args);
// cmd_passphrase.cc
int PassphraseChange(Globals& g, const std::vector<std::string>& args);
// cmd_prune.cc
int PruneCommand(Globals& g, const std::vector<std::string>& args);
// cmd_repair.cc
int RepairCommand(Globals& g, const std::vector<std::string>& args);
// cmd_machine_setting.cc: the handler of "machine-setting show|set" (null
// for another word).
Handler MachineSettingCommand(std::string_view sub);
// cmd_policy.cc: the handler of "policy new", "policy show"... (null for an
// unknown word).
Handler PolicyCommand(std::string_view sub);

}  // namespace obagent::cli
