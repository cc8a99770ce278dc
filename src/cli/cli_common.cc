// The helpers obctl's commands share (cli_common.h): secrets, the
// source-machine options, presenting a job's record.
#include "cli/cli_common.h"

#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

namespace obagent::cli {

std::optional<int> ParseOptions(const Globals& g, OptionSet& options,
                                const std::vector<std::string>& args) {
  Status parsed = options.Parse(args);
  if (!parsed.ok()) return UsageError(options, parsed.detail());
  if (options.HelpRequested()) {
    std::cout << "usage: obctl " << options.command() << " [options]\n";
    if (!g.command_summary.empty()) std::cout << "\n" << g.command_summary << "\n";
    std::cout << "\nOptions:\n"
              << options.Help()
              << "\nGlobal options (anywhere on the line): --state-dir DIR, --json\n";
    return kExitOk;
  }
  return std::nullopt;
}

Result<std::string> ReadSecret(platform::Env& env, const std::string& file, const char* var,
                               const char* what) {
  if (!file.empty()) {
    Result<Bytes> data = env.ReadFile(file);
    if (!data.ok()) return data.status().WithContext("reading the " + std::string(what) + " file");
    std::string text(data->begin(), data->end());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  }
  if (const char* v = std::getenv(var); v != nullptr && *v != '\0') return std::string(v);
  return InvalidArgument(std::string("no ") + what + ": give a file or set $" + var);
}

Result<engine::OpenedAgent> OpenFor(Globals& g, const SourceOptions& source,
                                    const std::optional<std::string>& passphrase) {
  return engine::OpenRecoveryMachine(*g.env, g.state_dir,
                                     {source.machine, source.credentials_file, passphrase});
}

Result<engine::RecoveryMachine> RecoveryMachineFor(Globals& g, const SourceOptions& source) {
  OB_ASSIGN_OR_RETURN(std::optional<std::string> passphrase, OptionalPassphrase(g, source));
  return engine::RecoveryMachine{source.machine, source.credentials_file, passphrase};
}

Result<std::optional<std::string>> OptionalPassphrase(Globals& g, const SourceOptions& source) {
  if (source.passphrase_file.empty()) return std::optional<std::string>();
  auto p = ReadSecret(*g.env, source.passphrase_file, "OBAGENT_PASSPHRASE", "passphrase");
  if (!p.ok()) return p.status();
  return std::optional<std::string>(*p);
}

int PresentEngineJob(Globals& g, const engine::JobRecord& job) {
  g.out->Result({{"ok", job.state == engine::JobState::kCompleted ||
                            job.state == engine::JobState::kCompletedWithWarnings},
                 {"job", JobJson(job)}},
                [&](std::ostream& out, std::ostream& err) {
                  out << job.type << " job " << job.id << " " << engine::JobStateName(job.state);
                  if (!job.recovery_point.empty()) {
                    out << ": recovery point " << job.recovery_point.substr(0, 12);
                  }
                  out << "\n";
                  if (!job.summary.empty()) out << "  " << job.summary << "\n";
                  if (!job.error.empty()) err << "obctl: " << job.error << "\n";
                  if (!job.failed_files_log.empty()) {
                    out << "  failed files listed in " << job.failed_files_log << "\n";
                  }
                });
  switch (job.state) {
    case engine::JobState::kCompleted:
      return kExitOk;
    case engine::JobState::kCompletedWithWarnings:
      return kExitWarnings;
    default:
      return kExitFailed;
  }
}

void AddSourceOptions(OptionSet& options, SourceOptions& source) {
  options.Add("source-machine", &source.machine, "recover another machine of the vault");
  options.Add("vault-credentials", &source.credentials_file,
              "a fresh vault-credential file (for --source-machine)");
  options.Add("passphrase-file", &source.passphrase_file,
              "the passphrase (checked; required for --source-machine)");
}

}  // namespace obagent::cli
