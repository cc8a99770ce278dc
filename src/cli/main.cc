// obctl: the command line of obagent. Command names follow the
// MSOnlineBackup cmdlets (Start-OBBackup -> "backup start",
// Get-OBRecoverableSource/Item -> "recovery list|items", Start-OBRecovery ->
// "recover", Set-OBMachineSetting -EncryptionPassphrase -> "passphrase change").
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/policy.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/vault_client.h"
#include "obagent/engine/verify.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace po = boost::program_options;
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
  recover --point ID [--item PATH...] [--target DIR]
          [--overwrite | --create-copy | --skip] [--passphrase-file F]
  (recovery list|items and recover take --source-machine NAME
   --vault-credentials FILE --passphrase-file F to recover another machine)
  verify                                 check every object in the vault
  passphrase change [--new-passphrase-file F]  (or $OBAGENT_NEW_PASSPHRASE)
  policy new|show|add-filespec|remove-filespec|set-schedule|set-retention|
         pause|resume|remove|schedule-files   the backup policy (see 'obctl policy')
  backup scheduled                       run the policy's backup and retention
  job list [--last N] | job show ID      job history (Get-OBJob)
  prune --daily N [--weekly N] [--monthly N] [--yearly N] [--dry-run]
                                         apply a retention policy, free vault space

The state folder is --state-dir, else $OBAGENT_STATE_DIR, else the default
for this system. Exit codes: 0 completed, 1 failed, 2 usage, 3 completed
with warnings.
)";

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

int VaultInit(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("vault init");
  desc.add_options()("path", po::value<std::string>()->required(), "vault folder");
  auto vm = Parse(args, desc);
  Result<std::string> id = engine::InitLocalVault(*g.env, vm["path"].as<std::string>());
  if (!id.ok()) return Fail(g, id.status());
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"vault_id", *id}}));
  } else {
    std::cout << "Vault " << *id << " created at " << vm["path"].as<std::string>() << "\n";
  }
  return kExitOk;
}

int Register(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("register");
  desc.add_options()("vault-credentials", po::value<std::string>()->default_value(""),
                     "vault-credential file downloaded from the vault")(
      "vault", po::value<std::string>()->default_value(""), "local vault folder (embedded mode)")(
      "scratch", po::value<std::string>()->default_value(""), "scratch folder")(
      "passphrase-file", po::value<std::string>()->default_value(""), "file with the passphrase")(
      "proxy", po::value<std::string>()->default_value(""), "HTTP proxy URL")(
      "proxy-user", po::value<std::string>()->default_value(""), "proxy user")(
      "proxy-password-file", po::value<std::string>()->default_value(""), "proxy password file");
  auto vm = Parse(args, desc);
  Result<std::string> pass = ReadSecret(*g.env, vm["passphrase-file"].as<std::string>(),
                                        "OBAGENT_PASSPHRASE", "passphrase");
  if (!pass.ok()) return Fail(g, pass.status());
  engine::RegisterOptions options;
  options.vault = vm["vault"].as<std::string>();
  options.credentials_file = vm["vault-credentials"].as<std::string>();
  options.passphrase = *pass;
  options.scratch_dir = vm["scratch"].as<std::string>();
  options.proxy = vm["proxy"].as<std::string>();
  options.proxy_user = vm["proxy-user"].as<std::string>();
  if (!vm["proxy-password-file"].as<std::string>().empty()) {
    auto pw = ReadSecret(*g.env, vm["proxy-password-file"].as<std::string>(),
                         "OBAGENT_PROXY_PASSWORD", "proxy password");
    if (!pw.ok()) return Fail(g, pw.status());
    options.proxy_password = *pw;
  }
  Result<engine::AgentConfig> config = engine::Register(*g.env, g.state_dir, options);
  if (!config.ok()) return Fail(g, config.status());
  std::string where = config->service_url.empty()
                          ? config->vault
                          : config->vault_name + " at " + config->service_url;
  if (g.json) {
    PrintJson(Json({{"ok", true},
                    {"machine_id", config->machine_id},
                    {"machine_name", config->machine_name},
                    {"vault_id", config->vault_id},
                    {"vault", where},
                    {"scratch", config->scratch_dir}}));
  } else {
    std::cout << "Registered '" << config->machine_name << "' (machine " << config->machine_id
              << ") with vault " << where << "\nScratch folder: " << config->scratch_dir
              << "\nKeep your passphrase safe: without it no other machine can recover this "
              << "data.\n";
  }
  return kExitOk;
}

// Administrator commands against vaultd.
Result<std::unique_ptr<engine::VaultClient>> AdminClient(Globals& g, const po::variables_map& vm) {
  auto token = ReadSecret(*g.env, vm["admin-token-file"].as<std::string>(),
                          "OBAGENT_VAULT_ADMIN_TOKEN", "vault administrator token");
  if (!token.ok()) return token.status();
  engine::ServiceConnection conn;
  conn.url = vm["service"].as<std::string>();
  conn.token = *token;
  return std::make_unique<engine::VaultClient>(conn);
}

void AddAdminOptions(po::options_description& desc) {
  desc.add_options()("service", po::value<std::string>()->required(), "vaultd URL")(
      "admin-token-file", po::value<std::string>()->default_value(""),
      "file with the administrator token (or $OBAGENT_VAULT_ADMIN_TOKEN)");
}

int VaultCreate(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("vault create");
  desc.add_options()("name", po::value<std::string>()->required(), "vault name");
  AddAdminOptions(desc);
  po::positional_options_description pos;
  pos.add("name", 1);
  auto vm = Parse(args, desc, &pos);
  auto client = AdminClient(g, vm);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("POST", "/v1/vaults", {{"name", vm["name"].as<std::string>()}});
  if (!answer.ok()) return Fail(g, answer.status());
  if (g.json) {
    PrintJson(*answer);
  } else {
    std::cout << "Vault '" << answer->value("name", "") << "' created ("
              << answer->value("vault_id", "") << ")\n";
  }
  return kExitOk;
}

int VaultCredentials(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("vault credentials");
  desc.add_options()("name", po::value<std::string>()->required(), "vault name")(
      "out", po::value<std::string>()->required(), "file to write")(
      "validity-hours", po::value<double>(), "validity (default: the vault's, 48 h)");
  AddAdminOptions(desc);
  po::positional_options_description pos;
  pos.add("name", 1);
  auto vm = Parse(args, desc, &pos);
  auto client = AdminClient(g, vm);
  if (!client.ok()) return Fail(g, client.status());
  json body = json::object();
  if (vm.count("validity-hours")) body["validity_hours"] = vm["validity-hours"].as<double>();
  auto answer =
      (*client)->Call("POST", "/v1/vaults/" + vm["name"].as<std::string>() + "/credentials", body);
  if (!answer.ok()) return Fail(g, answer.status());
  std::string xml = answer->value("credentials", "");
  Status st = g.env->WriteFileAtomic(vm["out"].as<std::string>(), AsBytes(xml), true);
  if (!st.ok()) return Fail(g, st);
  if (g.json) {
    PrintJson(Json({{"ok", true},
                    {"file", vm["out"].as<std::string>()},
                    {"expires_at", answer->value("expires_at", "")}}));
  } else {
    std::cout << "Vault credentials written to " << vm["out"].as<std::string>() << " (valid until "
              << answer->value("expires_at", "") << "; earlier downloads are no longer valid)\n";
  }
  return kExitOk;
}

// This machine, or another one of the vault for alternate-machine recovery.
Result<engine::OpenedAgent> OpenFor(Globals& g, const po::variables_map& vm,
                                    const std::optional<std::string>& passphrase) {
  if (vm.count("source-machine") && !vm["source-machine"].as<std::string>().empty()) {
    if (!passphrase) {
      return InvalidArgument("recovering another machine needs its passphrase (--passphrase-file)");
    }
    return engine::OpenSourceMachine(*g.env, g.state_dir, vm["vault-credentials"].as<std::string>(),
                                     vm["source-machine"].as<std::string>(), *passphrase);
  }
  return engine::OpenAgent(*g.env, g.state_dir, passphrase);
}

void AddSourceOptions(po::options_description& desc) {
  desc.add_options()("source-machine", po::value<std::string>()->default_value(""),
                     "recover another machine of the vault")(
      "vault-credentials", po::value<std::string>()->default_value(""),
      "a fresh vault-credential file (for --source-machine)")(
      "passphrase-file", po::value<std::string>()->default_value(""),
      "the passphrase (checked; required for --source-machine)");
}

Result<std::optional<std::string>> OptionalPassphrase(Globals& g, const po::variables_map& vm) {
  if (vm["passphrase-file"].as<std::string>().empty()) return std::optional<std::string>();
  auto p = ReadSecret(*g.env, vm["passphrase-file"].as<std::string>(), "OBAGENT_PASSPHRASE",
                      "passphrase");
  if (!p.ok()) return p.status();
  return std::optional<std::string>(*p);
}

json FailedFilesJson(const std::vector<engine::FailedFile>& files) {
  json list = json::array();
  for (const auto& f : files) list.push_back({{"path", f.path}, {"error", f.error}});
  return list;
}

// LastBackupFailedFiles-<job>.txt in the agent's temp folder, as MARS does.
std::string WriteFailedFilesLog(Globals& g, const std::string& job,
                                const std::vector<engine::FailedFile>& files) {
  if (files.empty()) return "";
  std::string dir = g.state_dir + "/temp";
  std::string path = dir + "/LastBackupFailedFiles-" + job + ".txt";
  std::string text;
  for (const auto& f : files) text += f.path + "\t" + f.error + "\n";
  if (!g.env->CreateDirs(dir, true).ok()) return "";
  if (!g.env->WriteFileAtomic(path, AsBytes(text), true).ok()) return "";
  return path;
}

// <state dir>/scripts/AfterBackup runs after every backup that wrote its
// recovery point (as ConfigMgr's AfterBackup.bat), with the job id, state and
// recovery point in its environment. It must belong to the service account
// and be writable by nobody else; its exit code is logged.
void RunAfterBackupScript(Globals& g, const engine::JobRecord& job, const std::string& point,
                          const std::string& state) {
  std::string script = g.state_dir + "/scripts/AfterBackup";
  auto info = g.env->Lstat(script);
  if (!info.ok()) return;
  if (info->kind != platform::FileKind::kRegular || !g.env->OwnedByCurrentUser(*info) ||
      (info->mode & 022) != 0) {
    std::string why = script +
                      " is not run: it must be a regular file owned by the service "
                      "account and writable by nobody else";
    engine::LogMilestone(engine::Milestone::kAfterBackupScriptFinished, why);
    if (!g.json) std::cerr << "obctl: " << why << "\n";
    return;
  }
  engine::LogMilestone(engine::Milestone::kAfterBackupScriptStarted,
                       "Post-backup script " + script + " started (job " + job.id + ")");
  auto rc = g.env->RunProgram(script, {},
                              {"OBAGENT_JOB_ID=" + job.id, "OBAGENT_JOB_STATE=" + state,
                               "OBAGENT_RECOVERY_POINT=" + point});
  std::string result = rc.ok() ? "exit code " + std::to_string(*rc) : rc.status().ToString();
  engine::LogMilestone(engine::Milestone::kAfterBackupScriptFinished,
                       "Post-backup script finished (job " + job.id + "): " + result);
  if (!g.json && (!rc.ok() || *rc != 0)) {
    std::cerr << "obctl: the post-backup script failed: " << result << "\n";
  }
}

// "snapshot btrfs (btrfs subvolume /home); read live: /etc is on ext4 …"
// for the engine log and the summary.
std::string SnapshotText(const engine::BackupReport& report) {
  std::string taken, live;
  for (const auto& v : report.snapshot_volumes) {
    std::string& list = v.kind == platform::SnapshotKind::kNone ? live : taken;
    list += (list.empty() ? "" : ", ") + v.detail;
  }
  if (taken.empty() && live.empty()) return "the live file system (no snapshot)";
  std::string out = "snapshot " + report.snapshot;
  if (!taken.empty()) out += " (" + taken + ")";
  if (!live.empty()) out += "; read live: " + live;
  return out;
}

// Runs a job with its record in the job history (Get-OBJob): InProgress at
// the start, then its final state, counts and error.
int WithJob(Globals& g, const std::string& type,
            const std::function<int(engine::JobRecord&)>& body) {
  engine::OpenEngineLog(g.state_dir);
  engine::JobHistory history(*g.env, g.state_dir);
  auto record = history.Start(type);
  if (!record.ok()) {
    engine::JobRecord untracked;  // no writable state folder: run it anyway
    return body(untracked);
  }
  int rc = body(*record);
  if (record->state == engine::JobState::kInProgress) {
    record->state = rc == kExitOk         ? engine::JobState::kCompleted
                    : rc == kExitWarnings ? engine::JobState::kCompletedWithWarnings
                                          : engine::JobState::kFailed;
  }
  if (record->state == engine::JobState::kFailed && record->error.empty()) {
    record->error = g.last_error;
  }
  (void)history.Finish(*record);
  return rc;
}

// A backup job (with the policy's retention applied afterwards, under the
// same lease, when one is given).
int RunBackupJob(Globals& g, std::vector<std::string> includes, std::vector<std::string> excludes,
                 size_t threads, const std::optional<engine::RetentionPolicy>& retention,
                 engine::JobRecord& job) {
  Result<engine::OpenedAgent> agent = engine::OpenAgent(*g.env, g.state_dir, std::nullopt);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  engine::BackupOptions options;
  options.includes = std::move(includes);
  options.excludes = std::move(excludes);
  options.threads = threads;
  options.staging_dir = agent->staging_dir;
  options.snapshots = &platform::SnapshotProvider::Default();
  options.snapshot_dir = agent->config.scratch_dir + "/snapshots";
  options.hostname = agent->config.machine_name;
  options.machine_id = agent->config.machine_id;
  // One writer per machine, held (and renewed) while the job runs.
  auto writer = engine::AcquireWriter(*agent, "backup");
  if (!writer.ok()) return Fail(g, writer.status().WithContext("backup failed"));
  engine::LogMilestone(engine::Milestone::kBackupStarted, "Backup started (job " + job.id + ")");
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Backing up");
  options.progress = [&](const engine::Progress& p) { line.Update(p); };
  Result<engine::BackupReport> report = engine::RunBackup(*agent->repo, options);
  line.Finish();
  if (agent->client) {
    // The job report is informational: a vault that went away was already
    // reported by the backup itself.
    json job = {{"type", "Backup"},
                {"state", report.ok() ? engine::JobStateName(report->state) : "Failed"},
                {"recovery_point", report.ok() ? report->point_id : ""},
                {"error", report.ok() ? "" : report.status().ToString()}};
    if (report.ok()) {
      job["files"] = report->point.stats.files;
      job["bytes_scanned"] = report->point.stats.bytes_scanned;
      job["bytes_uploaded"] = report->point.stats.bytes_uploaded;
    }
    (void)agent->client->Call("POST", "/v1/jobs", job);
  }
  if (!report.ok()) {
    engine::LogMilestone(engine::Milestone::kBackupFailed,
                         "Backup failed (job " + job.id + "): " + report.status().ToString());
    return Fail(g, report.status().WithContext("backup failed"));
  }
  const auto& s = report->point.stats;
  std::string snapshot_text = SnapshotText(*report);
  engine::LogMilestone(report->state == engine::JobState::kCompleted
                           ? engine::Milestone::kBackupCompleted
                           : engine::Milestone::kBackupCompletedWithWarnings,
                       std::string("Backup ") + engine::JobStateName(report->state) + " (job " +
                           job.id + "): recovery point " + report->point_id + ", " +
                           std::to_string(s.files) + " files, " + std::to_string(s.bytes_uploaded) +
                           " bytes uploaded, " + std::to_string(report->failed_files.size()) +
                           " skipped; read from " + snapshot_text);
  std::string failed_log = WriteFailedFilesLog(
      g, job.id.empty() ? report->point_id.substr(0, 12) : job.id, report->failed_files);
  job.files = s.files;
  job.bytes_scanned = s.bytes_scanned;
  job.bytes_transferred = s.bytes_uploaded;
  job.recovery_point = report->point_id;
  job.failed_files_log = failed_log;
  job.snapshot = report->snapshot;
  if (g.json) {
    PrintJson(Json({{"ok", true},
                    {"state", engine::JobStateName(report->state)},
                    {"recovery_point", report->point_id},
                    {"files", s.files},
                    {"directories", s.directories},
                    {"bytes_scanned", s.bytes_scanned},
                    {"bytes_read", s.bytes_read},
                    {"bytes_new", s.bytes_new},
                    {"bytes_uploaded", s.bytes_uploaded},
                    {"failed_files", FailedFilesJson(report->failed_files)},
                    {"failed_files_log", failed_log},
                    {"snapshot", report->snapshot}}));
  } else {
    std::cout << "Backup " << engine::JobStateName(report->state) << ": recovery point "
              << report->point_id.substr(0, 12) << "\n  " << s.files << " files, "
              << HumanBytes(s.bytes_scanned) << " scanned, " << HumanBytes(s.bytes_read)
              << " read, " << HumanBytes(s.bytes_new) << " new, " << HumanBytes(s.bytes_uploaded)
              << " uploaded\n  read from " << snapshot_text << "\n";
    for (const auto& f : report->failed_files)
      std::cout << "  skipped " << f.path << ": " << f.error << "\n";
    if (!failed_log.empty()) std::cout << "  failed files listed in " << failed_log << "\n";
  }
  RunAfterBackupScript(g, job, report->point_id, engine::JobStateName(report->state));
  if (retention) {
    // Retention runs after a backup that wrote its recovery point, never
    // instead of one. RunPrune reloads the index itself.
    auto now = std::chrono::system_clock::now().time_since_epoch();
    auto pruned =
        engine::PruneWithPolicy(*agent->repo, *retention,
                                std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
    if (!pruned.ok()) return Fail(g, pruned.status().WithContext("retention after backup failed"));
    if (!g.json) {
      std::cout << "Retention: " << pruned->removed_points.size() << " expired recovery points "
                << "removed, " << HumanBytes(pruned->bytes_freed()) << " freed\n";
    }
  }
  return report->state == engine::JobState::kCompleted ? kExitOk : kExitWarnings;
}

int BackupStart(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("backup start");
  desc.add_options()("include", po::value<std::vector<std::string>>()->multitoken()->required(),
                     "files or folders to back up")(
      "exclude", po::value<std::vector<std::string>>()->multitoken(), "glob patterns to skip")(
      "threads", po::value<size_t>()->default_value(0), "worker threads (0: one per core)");
  auto vm = Parse(args, desc);
  std::vector<std::string> excludes;
  if (vm.count("exclude")) excludes = vm["exclude"].as<std::vector<std::string>>();
  return WithJob(g, "Backup", [&](engine::JobRecord& job) {
    return RunBackupJob(g, vm["include"].as<std::vector<std::string>>(), std::move(excludes),
                        vm["threads"].as<size_t>(), std::nullopt, job);
  });
}

// What the OS scheduler (Task Scheduler task, systemd timer) runs: the
// stored policy's selection, then its retention. A paused policy does nothing.
int BackupScheduled(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("backup scheduled");
  auto vm = Parse(args, desc);
  auto policy = engine::LoadPolicy(*g.env, g.state_dir);
  if (!policy.ok()) return Fail(g, policy.status().WithContext("no backup policy"));
  if (policy->paused) {
    if (!g.json) std::cout << "The backup policy is paused; nothing to do.\n";
    return kExitOk;
  }
  auto selection = engine::ResolveSelection(*g.env, policy->specs);
  if (!selection.ok()) return Fail(g, selection.status());
  return WithJob(g, "Backup", [&](engine::JobRecord& job) {
    return RunBackupJob(g, selection->includes, selection->excludes, 0, policy->Retention(), job);
  });
}

json JobJson(const engine::JobRecord& j) {
  return {{"id", j.id},
          {"type", j.type},
          {"state", engine::JobStateName(j.state)},
          {"start", FormatTime(j.start_ns)},
          {"end", j.end_ns ? FormatTime(j.end_ns) : ""},
          {"duration_seconds", j.end_ns ? static_cast<double>(j.end_ns - j.start_ns) / 1e9 : 0.0},
          {"files", j.files},
          {"bytes_scanned", j.bytes_scanned},
          {"bytes_transferred", j.bytes_transferred},
          {"recovery_point", j.recovery_point},
          {"error", j.error},
          {"failed_files_log", j.failed_files_log},
          {"snapshot", j.snapshot}};
}

int JobList(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("job list");
  desc.add_options()("last", po::value<size_t>()->default_value(20), "how many jobs");
  auto vm = Parse(args, desc);
  auto jobs = engine::JobHistory(*g.env, g.state_dir).List();
  if (!jobs.ok()) return Fail(g, jobs.status());
  size_t n = std::min(jobs->size(), vm["last"].as<size_t>());
  json list = json::array();
  for (size_t i = 0; i < n; ++i) {
    const auto& j = (*jobs)[i];
    if (g.json) {
      list.push_back(JobJson(j));
    } else {
      std::cout << j.id << "  " << FormatTime(j.start_ns) << "  " << j.type << "  "
                << engine::JobStateName(j.state) << "  " << j.files << " files  "
                << HumanBytes(static_cast<double>(j.bytes_transferred)) << "\n";
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

int JobShow(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("job show");
  desc.add_options()("id", po::value<std::string>()->required(), "job id or prefix");
  po::positional_options_description pos;
  pos.add("id", 1);
  auto vm = Parse(args, desc, &pos);
  auto job = engine::JobHistory(*g.env, g.state_dir).Find(vm["id"].as<std::string>());
  if (!job.ok()) return Fail(g, job.status());
  json j = JobJson(*job);
  if (g.json) {
    PrintJson(j);
  } else {
    for (auto& [key, value] : j.items()) {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                << "\n";
    }
  }
  return kExitOk;
}

int Policy(Globals& g, const std::vector<std::string>& args) {
  return PolicyCommand(g.state_dir, g.json, args);
}

int RecoveryList(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("recovery list");
  AddSourceOptions(desc);
  auto vm = Parse(args, desc);
  auto pass = OptionalPassphrase(g, vm);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, vm, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  auto points = agent->repo->ListRecoveryPoints();
  if (!points.ok()) return Fail(g, points.status());
  json list = json::array();
  for (const auto& p : *points) {
    const auto& s = p.point.stats;
    if (g.json) {
      list.push_back({{"id", p.id},
                      {"time", FormatTime(p.point.time_ns)},
                      {"hostname", p.point.hostname},
                      {"paths", p.point.paths},
                      {"files", s.files},
                      {"bytes", s.bytes_scanned}});
    } else {
      std::cout << p.id.substr(0, 12) << "  " << FormatTime(p.point.time_ns) << "  " << s.files
                << " files  " << HumanBytes(s.bytes_scanned);
      for (const auto& path : p.point.paths) std::cout << "  " << path;
      std::cout << "\n";
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

const char* TypeName(tree::NodeType t) {
  switch (t) {
    case tree::NodeType::kFile:
      return "file";
    case tree::NodeType::kDirectory:
      return "dir";
    case tree::NodeType::kSymlink:
      return "symlink";
  }
  return "?";
}

int RecoveryItems(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("recovery items");
  desc.add_options()("point", po::value<std::string>()->required(), "recovery point")(
      "path", po::value<std::string>()->default_value("/"), "folder in the recovery point");
  AddSourceOptions(desc);
  po::positional_options_description pos;
  pos.add("path", 1);
  auto vm = Parse(args, desc, &pos);
  auto pass = OptionalPassphrase(g, vm);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, vm, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  auto point = agent->repo->FindRecoveryPoint(vm["point"].as<std::string>());
  if (!point.ok()) return Fail(g, point.status());
  std::string path = vm["path"].as<std::string>();
  auto node = engine::FindNode(*agent->repo, point->point.tree, path);
  if (!node.ok()) return Fail(g, node.status());
  std::vector<tree::Node> nodes;
  if (node->type == tree::NodeType::kDirectory) {
    auto t = agent->repo->ReadTree(*node->subtree);
    if (!t.ok()) return Fail(g, t.status());
    nodes = t->nodes;
  } else {
    nodes.push_back(*node);
  }
  json list = json::array();
  for (const auto& n : nodes) {
    if (g.json) {
      list.push_back({{"name", n.name},
                      {"type", TypeName(n.type)},
                      {"size", n.size},
                      {"mode", n.mode},
                      {"mtime", FormatTime(n.mtime_ns)}});
    } else {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", n.mode);
      std::cout << TypeName(n.type) << "\t" << mode << "\t" << n.size << "\t"
                << FormatTime(n.mtime_ns) << "\t" << n.name
                << (n.type == tree::NodeType::kSymlink ? " -> " + n.symlink_target : "") << "\n";
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

int RecoverJob(Globals& g, const std::vector<std::string>& args, engine::JobRecord& job);

int Recover(Globals& g, const std::vector<std::string>& args) {
  return WithJob(g, "Recovery", [&](engine::JobRecord& job) { return RecoverJob(g, args, job); });
}

int RecoverJob(Globals& g, const std::vector<std::string>& args, engine::JobRecord& job) {
  po::options_description desc("recover");
  desc.add_options()("point", po::value<std::string>()->required(), "recovery point or 'latest'")(
      "item", po::value<std::vector<std::string>>()->multitoken(), "paths to recover")(
      "target", po::value<std::string>(), "alternate folder (default: original location)")(
      "overwrite", po::bool_switch(), "replace existing files (default)")(
      "create-copy", po::bool_switch(), "keep existing files, restore beside them")(
      "skip", po::bool_switch(), "keep existing files, skip them")(
      "threads", po::value<size_t>()->default_value(0), "worker threads");
  AddSourceOptions(desc);
  auto vm = Parse(args, desc);
  int policies = vm["overwrite"].as<bool>() + vm["create-copy"].as<bool>() + vm["skip"].as<bool>();
  if (policies > 1) {
    return Fail(g, InvalidArgument("choose one of --overwrite, --create-copy, --skip"));
  }
  auto pass = OptionalPassphrase(g, vm);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, vm, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  engine::RestoreOptions options;
  options.point = vm["point"].as<std::string>();
  if (vm.count("item")) options.items = vm["item"].as<std::vector<std::string>>();
  if (vm.count("target")) {
    auto abs = g.env->AbsolutePath(vm["target"].as<std::string>());
    if (!abs.ok()) return Fail(g, abs.status());
    options.target = *abs;
  }
  options.conflict = vm["skip"].as<bool>()          ? engine::ConflictPolicy::kSkip
                     : vm["create-copy"].as<bool>() ? engine::ConflictPolicy::kCreateCopy
                                                    : engine::ConflictPolicy::kOverwrite;
  options.threads = vm["threads"].as<size_t>();
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Recovering");
  options.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::LogMilestone(engine::Milestone::kRecoveryStarted,
                       "Recovery started (job " + job.id + ")");
  auto report = engine::RunRestore(*agent->repo, options);
  line.Finish();
  if (!report.ok() || report->state != engine::JobState::kCompleted) {
    engine::LogMilestone(
        engine::Milestone::kRecoveryFailed,
        "Recovery failed (job " + job.id + "): " +
            (report.ok() ? std::to_string(report->failed_files.size()) + " files not recovered"
                         : report.status().ToString()));
  } else {
    engine::LogMilestone(
        engine::Milestone::kRecoveryCompleted,
        "Recovery completed (job " + job.id + "): " + std::to_string(report->files) + " files");
  }
  if (!report.ok()) return Fail(g, report.status().WithContext("recovery failed"));
  job.files = report->files;
  job.bytes_transferred = report->bytes;
  job.recovery_point = report->point_id;
  if (!report->failed_files.empty()) {
    job.error = std::to_string(report->failed_files.size()) + " files could not be recovered";
  }
  if (g.json) {
    PrintJson(Json({{"ok", report->state == engine::JobState::kCompleted},
                    {"state", engine::JobStateName(report->state)},
                    {"recovery_point", report->point_id},
                    {"files", report->files},
                    {"bytes", report->bytes},
                    {"hardlinks", report->hardlinks},
                    {"skipped_existing", report->skipped_existing},
                    {"failed_files", FailedFilesJson(report->failed_files)}}));
  } else {
    std::cout << "Recovery " << engine::JobStateName(report->state) << ": " << report->files
              << " files, " << HumanBytes(report->bytes) << " from recovery point "
              << report->point_id.substr(0, 12) << "\n";
    if (report->skipped_existing) {
      std::cout << "  " << report->skipped_existing << " existing items kept (--skip)\n";
    }
    for (const auto& f : report->failed_files) {
      std::cerr << "  not recovered: " << f.path << ": " << f.error << "\n";
    }
  }
  return report->state == engine::JobState::kCompleted ? kExitOk : kExitFailed;
}

int Verify(Globals& g) {
  Result<engine::OpenedAgent> agent = engine::OpenAgent(*g.env, g.state_dir, std::nullopt);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  auto report = engine::RunVerify(*agent->repo);
  if (!report.ok()) return Fail(g, report.status());
  if (g.json) {
    PrintJson(Json({{"ok", report->ok()},
                    {"packs", report->packs},
                    {"blobs", report->blobs},
                    {"bytes", report->bytes},
                    {"recovery_points", report->recovery_points},
                    {"problems", report->problems}}));
  } else {
    std::cout << "Verified " << report->packs << " packs, " << report->blobs << " objects, "
              << HumanBytes(report->bytes) << ", " << report->recovery_points
              << " recovery points: " << (report->ok() ? "no problems" : "DAMAGE FOUND") << "\n";
    for (const auto& p : report->problems) std::cerr << "  " << p << "\n";
  }
  return report->ok() ? kExitOk : kExitFailed;
}

int PassphraseChange(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("passphrase change");
  desc.add_options()("new-passphrase-file", po::value<std::string>()->default_value(""),
                     "file with the new passphrase");
  auto vm = Parse(args, desc);
  auto pass = ReadSecret(*g.env, vm["new-passphrase-file"].as<std::string>(),
                         "OBAGENT_NEW_PASSPHRASE", "new passphrase");
  if (!pass.ok()) return Fail(g, pass.status());
  Status st = engine::ChangePassphrase(*g.env, g.state_dir, *pass);
  if (!st.ok()) return Fail(g, st);
  if (g.json) {
    PrintJson(Json({{"ok", true}}));
  } else {
    std::cout << "Passphrase changed. The data was not re-encrypted; the old passphrase no "
                 "longer opens it.\n";
  }
  return kExitOk;
}

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
      {"policy", Policy},
      {"job list", JobList},
      {"job show", JobShow},
      {"recovery list", RecoveryList},
      {"recovery items", RecoveryItems},
      {"recover", Recover},
      {"verify", no_args(Verify)},
      {"passphrase change", PassphraseChange},
      {"prune",
       [](Globals& g, const std::vector<std::string>& args) {
         return WithJob(g, "Prune", [&](engine::JobRecord&) { return PruneCommand(g, args); });
       }},
  };
  std::string cmd = take();
  auto it = commands.find(cmd);
  if (it == commands.end() && !rest.empty()) {
    it = commands.find(cmd + " " + rest.front());
    if (it != commands.end()) cmd += " " + take();
  }
  if (it != commands.end()) {
    try {
      return it->second(g, rest);
    } catch (const po::error& e) {
      std::cerr << "obctl " << cmd << ": " << e.what() << "\n";
      return kExitUsage;
    }
  }
  std::cerr << (cmd.empty() ? "" : "obctl: unknown command '" + cmd + "'\n") << kUsage;
  return kExitUsage;
}

}  // namespace
}  // namespace obagent::cli

int main(int argc, char** argv) { return obagent::cli::Run(argc, argv); }
