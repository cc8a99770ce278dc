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
  std::string path;
  OptionSet options("vault init");
  options.Add("path", &path, "vault folder").Required();
  if (auto exit = ParseOptions(options, args)) return *exit;
  Result<std::string> id = engine::InitLocalVault(*g.env, path);
  if (!id.ok()) return Fail(g, id.status());
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"vault_id", *id}}));
  } else {
    std::cout << "Vault " << *id << " created at " << path << "\n";
  }
  return kExitOk;
}

int Register(Globals& g, const std::vector<std::string>& args) {
  engine::RegisterOptions request;
  std::string passphrase_file, proxy_password_file;
  OptionSet options("register");
  options.Add("vault-credentials", &request.credentials_file,
              "vault-credential file downloaded from the vault");
  options.Add("vault", &request.vault, "local vault folder (embedded mode)");
  options.Add("scratch", &request.scratch_dir, "scratch folder");
  options.Add("passphrase-file", &passphrase_file, "file with the passphrase");
  options.Add("proxy", &request.proxy, "HTTP proxy URL");
  options.Add("proxy-user", &request.proxy_user, "proxy user");
  options.Add("proxy-password-file", &proxy_password_file, "proxy password file");
  if (auto exit = ParseOptions(options, args)) return *exit;
  Result<std::string> pass =
      ReadSecret(*g.env, passphrase_file, "OBAGENT_PASSPHRASE", "passphrase");
  if (!pass.ok()) return Fail(g, pass.status());
  request.passphrase = *pass;
  if (!proxy_password_file.empty()) {
    auto pw = ReadSecret(*g.env, proxy_password_file, "OBAGENT_PROXY_PASSWORD", "proxy password");
    if (!pw.ok()) return Fail(g, pw.status());
    request.proxy_password = *pw;
  }
  Result<engine::AgentConfig> config = engine::Register(*g.env, g.state_dir, request);
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

// Administrator commands against vaultd: where it is, who asks.
struct AdminOptions {
  std::string service_url;
  std::string token_file;
};

void AddAdminOptions(OptionSet& options, AdminOptions& admin) {
  options.Add("service", &admin.service_url, "vaultd URL").Required();
  options.Add("admin-token-file", &admin.token_file,
              "file with the administrator token (or $OBAGENT_VAULT_ADMIN_TOKEN)");
}

Result<std::unique_ptr<engine::VaultClient>> AdminClient(Globals& g, const AdminOptions& admin) {
  auto token = ReadSecret(*g.env, admin.token_file, "OBAGENT_VAULT_ADMIN_TOKEN",
                          "vault administrator token");
  if (!token.ok()) return token.status();
  engine::ServiceConnection conn;
  conn.url = admin.service_url;
  conn.token = *token;
  return std::make_unique<engine::VaultClient>(conn);
}

int VaultCreate(Globals& g, const std::vector<std::string>& args) {
  std::string name;
  AdminOptions admin;
  OptionSet options("vault create");
  options.Add("name", &name, "vault name").Required().Positional();
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  auto answer = (*client)->Call("POST", "/v1/vaults", {{"name", name}});
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
  std::string name, out;
  std::optional<double> validity_hours;
  AdminOptions admin;
  OptionSet options("vault credentials");
  options.Add("name", &name, "vault name").Required().Positional();
  options.Add("out", &out, "file to write").Required();
  options.Add("validity-hours", &validity_hours, "validity (default: the vault's, 48 h)");
  AddAdminOptions(options, admin);
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto client = AdminClient(g, admin);
  if (!client.ok()) return Fail(g, client.status());
  json body = json::object();
  if (validity_hours) body["validity_hours"] = *validity_hours;
  auto answer = (*client)->Call("POST", "/v1/vaults/" + name + "/credentials", body);
  if (!answer.ok()) return Fail(g, answer.status());
  std::string xml = answer->value("credentials", "");
  Status st = g.env->WriteFileAtomic(out, AsBytes(xml), true);
  if (!st.ok()) return Fail(g, st);
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"file", out}, {"expires_at", answer->value("expires_at", "")}}));
  } else {
    std::cout << "Vault credentials written to " << out << " (valid until "
              << answer->value("expires_at", "") << "; earlier downloads are no longer valid)\n";
  }
  return kExitOk;
}

// Which machine's recovery points: this one (machine empty), or another
// one of the vault for alternate-machine recovery.
struct SourceOptions {
  std::string machine;
  std::string credentials_file;
  std::string passphrase_file;
};

void AddSourceOptions(OptionSet& options, SourceOptions& source) {
  options.Add("source-machine", &source.machine, "recover another machine of the vault");
  options.Add("vault-credentials", &source.credentials_file,
              "a fresh vault-credential file (for --source-machine)");
  options.Add("passphrase-file", &source.passphrase_file,
              "the passphrase (checked; required for --source-machine)");
}

Result<engine::OpenedAgent> OpenFor(Globals& g, const SourceOptions& source,
                                    const std::optional<std::string>& passphrase) {
  if (!source.machine.empty()) {
    if (!passphrase) {
      return InvalidArgument("recovering another machine needs its passphrase (--passphrase-file)");
    }
    return engine::OpenSourceMachine(*g.env, g.state_dir, source.credentials_file, source.machine,
                                     *passphrase);
  }
  return engine::OpenAgent(*g.env, g.state_dir, passphrase);
}

Result<std::optional<std::string>> OptionalPassphrase(Globals& g, const SourceOptions& source) {
  if (source.passphrase_file.empty()) return std::optional<std::string>();
  auto p = ReadSecret(*g.env, source.passphrase_file, "OBAGENT_PASSPHRASE", "passphrase");
  if (!p.ok()) return p.status();
  return std::optional<std::string>(*p);
}

json FailedFilesJson(const std::vector<engine::FailedFile>& files) {
  json list = json::array();
  for (const auto& f : files) {
    list.push_back(
        {{"path", f.path}, {"error", f.error}, {"os_error", os_error::Format(f.os_error)}});
  }
  return list;
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
  history.ClearCancelRequest(record->id);
  return rc;
}

// Prints what a backup job did; returns obctl's exit code for it.
int PresentBackup(Globals& g, const engine::BackupJobOutcome& out) {
  if (!out.status.ok()) return Fail(g, out.status);
  if (!out.report) {  // a paused policy
    if (!g.json) std::cout << "The backup policy is paused; nothing to do.\n";
    return kExitOk;
  }
  const engine::BackupReport& report = *out.report;
  const auto& s = report.point.stats;
  if (g.json) {
    json j = {{"ok", out.retention_status.ok()},
              {"job", out.record.id},
              {"state", engine::JobStateName(report.state)},
              {"recovery_point", report.point_id},
              {"files", s.files},
              {"directories", s.directories},
              {"bytes_scanned", s.bytes_scanned},
              {"bytes_read", s.bytes_read},
              {"bytes_new", s.bytes_new},
              {"bytes_uploaded", s.bytes_uploaded},
              {"failed_files", FailedFilesJson(report.failed_files)},
              {"failed_files_log", out.record.failed_files_log},
              {"healed_blobs", report.healed_blobs},
              {"summary", out.record.summary},
              {"snapshot", report.snapshot}};
    if (out.retention) j["retention_removed_points"] = out.retention->removed_points;
    if (!out.retention_status.ok()) j["message"] = out.retention_status.ToString();
    PrintJson(j);
  } else {
    std::cout << "Backup " << engine::JobStateName(report.state) << ": recovery point "
              << report.point_id.substr(0, 12) << "\n  " << s.files << " files, "
              << HumanBytes(s.bytes_scanned) << " scanned, " << HumanBytes(s.bytes_read)
              << " read, " << HumanBytes(s.bytes_new) << " new, " << HumanBytes(s.bytes_uploaded)
              << " uploaded\n  read from " << engine::DescribeSnapshot(report) << "\n";
    if (report.healed_blobs > 0) std::cout << "  " << engine::HealedSummary(report) << "\n";
    for (const auto& f : report.failed_files) {
      std::cout << "  skipped " << f.path << ": "
                << (f.os_error ? "[" + os_error::Format(f.os_error) + "] " : "") << f.error << "\n";
    }
    if (!out.record.failed_files_log.empty()) {
      std::cout << "  failed files listed in " << out.record.failed_files_log << "\n";
    }
    if (!out.after_backup_script.empty() && out.after_backup_script != "exit code 0") {
      std::cerr << "obctl: the post-backup script: " << out.after_backup_script << "\n";
    }
    if (out.retention) {
      std::cout << "Retention: " << out.retention->removed_points.size()
                << " expired recovery points removed, " << HumanBytes(out.retention->bytes_freed())
                << " freed\n";
    }
  }
  if (!out.retention_status.ok()) {
    if (!g.json) std::cerr << "obctl: " << out.retention_status.ToString() << "\n";
    // Retention refused because of damage: the backup is done (a warning).
    return out.retention_status.code() == ErrorCode::kCorrupt ? kExitWarnings : kExitFailed;
  }
  return report.state == engine::JobState::kCompleted ? kExitOk : kExitWarnings;
}

int BackupStart(Globals& g, const std::vector<std::string>& args) {
  engine::BackupJobRequest request;
  OptionSet options("backup start");
  options.Add("include", &request.includes, "files or folders to back up").Required();
  options.Add("exclude", &request.excludes, "glob patterns to skip");
  options.Add("threads", &request.threads, "worker threads (0: one per core)");
  if (auto exit = ParseOptions(options, args)) return *exit;
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Backing up");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::BackupJobOutcome out = engine::RunBackupJob(*g.env, g.state_dir, request);
  line.Finish();
  return PresentBackup(g, out);
}

// Waits for a job the engine runs, showing its progress; its final record.
Result<engine::JobRecord> WaitForEngineJob(Globals& g, const std::string& id) {
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Backing up");
  for (;;) {
    auto answer =
        api::CallEngine(*g.env, g.state_dir, {{"op", "wait_job"}, {"id", id}, {"timeout_ms", 500}});
    if (answer.ok()) {
      line.Finish();
      return engine::JobRecordFromJson((*answer)["job"]);
    }
    if (answer.status().code() != ErrorCode::kCancelled) {
      line.Finish();
      return answer.status();
    }
    auto status = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
    if (status.ok() && (*status)["running"].is_object()) {
      line.Update(engine::ProgressFromJson((*status)["running"]["progress"]));
    }
  }
}

int PresentEngineJob(Globals& g, const engine::JobRecord& job) {
  if (g.json) {
    PrintJson(Json({{"ok", job.state == engine::JobState::kCompleted ||
                               job.state == engine::JobState::kCompletedWithWarnings},
                    {"job", engine::JobRecordToJson(job)}}));
  } else {
    std::cout << job.type << " job " << job.id << " " << engine::JobStateName(job.state);
    if (!job.recovery_point.empty())
      std::cout << ": recovery point " << job.recovery_point.substr(0, 12);
    std::cout << "\n";
    if (!job.error.empty()) std::cerr << "obctl: " << job.error << "\n";
    if (!job.failed_files_log.empty()) {
      std::cout << "  failed files listed in " << job.failed_files_log << "\n";
    }
  }
  switch (job.state) {
    case engine::JobState::kCompleted:
      return kExitOk;
    case engine::JobState::kCompletedWithWarnings:
      return kExitWarnings;
    default:
      return kExitFailed;
  }
}

// Asks the engine to back up the policy now; waits unless --no-wait.
int StartInEngine(Globals& g, const std::string& trigger, bool wait) {
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "backup_now"}, {"trigger", trigger}});
  if (!answer.ok()) return Fail(g, answer.status());
  engine::JobRecord job = engine::JobRecordFromJson((*answer)["job"]);
  if (!wait) {
    if (g.json) {
      PrintJson(Json({{"ok", true}, {"job", engine::JobRecordToJson(job)}}));
    } else {
      std::cout << "Backup job " << job.id << " started by the engine\n";
    }
    return kExitOk;
  }
  auto final_record = WaitForEngineJob(g, job.id);
  if (!final_record.ok()) return Fail(g, final_record.status());
  return PresentEngineJob(g, *final_record);
}

// Start-OBBackup -Policy: the engine runs the stored policy's backup.
int BackupNow(Globals& g, const std::vector<std::string>& args) {
  bool no_wait = false;
  OptionSet options("backup now");
  options.Add("no-wait", &no_wait, "return once the job has started");
  if (auto exit = ParseOptions(options, args)) return *exit;
  return StartInEngine(g, "BackupNow", !no_wait);
}

// What the OS scheduler (Task Scheduler task, systemd timer) runs: the
// engine runs the policy's backup and retention; when the engine is not
// running, this process does. A paused policy does nothing.
int BackupScheduled(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("backup scheduled");
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto probe = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
  if (probe.ok()) return StartInEngine(g, "Scheduled", true);
  if (probe.status().code() != ErrorCode::kNotFound) return Fail(g, probe.status());
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Backing up");
  engine::BackupJobOutcome out = engine::RunPolicyBackupJob(
      *g.env, g.state_dir, [&](const engine::Progress& p) { line.Update(p); });
  line.Finish();
  return PresentBackup(g, out);
}

// Stop-OBJob: asks the job to stop (through the engine when it runs) and
// waits for it to end.
int JobStop(Globals& g, const std::vector<std::string>& args) {
  std::string id;
  int timeout_seconds = 120;
  OptionSet options("job stop");
  options.Add("id", &id, "job id or prefix").Required().Positional();
  options.Add("timeout", &timeout_seconds, "seconds to wait for the job to end");
  if (auto exit = ParseOptions(options, args)) return *exit;
  engine::JobHistory history(*g.env, g.state_dir);
  auto via_engine = api::CallEngine(*g.env, g.state_dir, {{"op", "job_stop"}, {"id", id}});
  if (!via_engine.ok()) {
    if (via_engine.status().code() != ErrorCode::kNotFound ||
        via_engine.status().detail().find("not running for") == std::string::npos) {
      return Fail(g, via_engine.status());
    }
    Status st = history.RequestCancel(id);  // no engine: the job runs in an obctl
    if (!st.ok()) return Fail(g, st);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    auto job = history.Find(id);
    if (!job.ok()) return Fail(g, job.status());
    if (job->state != engine::JobState::kInProgress) {
      // Stopped as asked: success. A job that ended on its own first keeps
      // its own outcome.
      int rc = PresentEngineJob(g, *job);
      return job->state == engine::JobState::kCancelled ? kExitOk : rc;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return Fail(g, Status(ErrorCode::kCancelled,
                            "job " + job->id + " was asked to stop but is still running"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Whether the engine runs, its scheduler and its running job.
int EngineStatus(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("engine status");
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
  if (!answer.ok()) return Fail(g, answer.status());
  if (g.json) {
    PrintJson(*answer);
    return kExitOk;
  }
  std::cout << "cbengine running (pid " << (*answer)["pid"].dump() << "), schedule fired by "
            << (*answer)["scheduler"].get<std::string>() << "\n";
  if ((*answer)["running"].is_object()) {
    const json& r = (*answer)["running"];
    std::cout << "  " << r["job"]["type"].get<std::string>() << " job "
              << r["job"]["id"].get<std::string>() << " (" << r["trigger"].get<std::string>()
              << "): " << FormatProgressLine("", engine::ProgressFromJson(r["progress"])) << "\n";
  } else {
    std::cout << "  no job running\n";
  }
  return kExitOk;
}

// The web console's address with its login token, from the engine (root or
// administrators only, like the rest of the local API).
int ConsoleUrl(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("console url");
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "console_url"}});
  if (!answer.ok()) return Fail(g, answer.status());
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"url", (*answer)["url"]}}));
  } else {
    std::cout << (*answer)["url"].get<std::string>() << "\n";
  }
  return kExitOk;
}

json JobJson(const engine::JobRecord& j) {
  json out = engine::JobRecordToJson(j);
  out.erase("pid");
  out["start"] = FormatTime(j.start_ns);
  out["end"] = j.end_ns ? FormatTime(j.end_ns) : "";
  out["duration_seconds"] = j.end_ns ? static_cast<double>(j.end_ns - j.start_ns) / 1e9 : 0.0;
  return out;
}

int JobList(Globals& g, const std::vector<std::string>& args) {
  size_t last = 20;
  OptionSet options("job list");
  options.Add("last", &last, "how many jobs");
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto jobs = engine::JobHistory(*g.env, g.state_dir).List();
  if (!jobs.ok()) return Fail(g, jobs.status());
  size_t n = std::min(jobs->size(), last);
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
  std::string id;
  OptionSet options("job show");
  options.Add("id", &id, "job id or prefix").Required().Positional();
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto job = engine::JobHistory(*g.env, g.state_dir).Find(id);
  if (!job.ok()) return Fail(g, job.status());
  json j = JobJson(*job);
  if (job->state == engine::JobState::kInProgress) {
    // The engine's running job: its live progress (bytes read, in the
    // vault, uploaded; percent, rate and ETA).
    auto status = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
    if (status.ok() && (*status)["running"].is_object() &&
        (*status)["running"]["job"].value("id", "") == job->id) {
      j["progress"] = (*status)["running"]["progress"];
      if (!g.json) {
        j["progress"] = FormatProgressLine(job->type, engine::ProgressFromJson(j["progress"]));
      }
    }
  }
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
  SourceOptions source;
  OptionSet options("recovery list");
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto pass = OptionalPassphrase(g, source);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, source, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  std::vector<engine::DamagedObject> damaged;
  auto points = agent->repo->ListRecoveryPoints(&damaged);
  if (!points.ok()) return Fail(g, points.status());
  // Damaged points are named, the intact ones listed.
  for (const auto& d : damaged) std::cerr << "obctl: warning: " << d.ToString() << "\n";
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
      if (!p.point.repaired_from.empty()) list.back()["repaired_from"] = p.point.repaired_from;
    } else {
      std::cout << p.id.substr(0, 12) << "  " << FormatTime(p.point.time_ns) << "  " << s.files
                << " files  " << HumanBytes(s.bytes_scanned);
      for (const auto& path : p.point.paths) std::cout << "  " << path;
      if (!p.point.repaired_from.empty()) {
        std::cout << "  (repaired from " << p.point.repaired_from.substr(0, 12) << ")";
      }
      std::cout << "\n";
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

// A recovery point opened for reading: this machine's or, with the source
// options, another machine's; the index is loaded.
struct OpenedPoint {
  engine::OpenedAgent agent;
  engine::NamedRecoveryPoint point;
};

Result<OpenedPoint> OpenPointFor(Globals& g, const SourceOptions& source,
                                 const std::string& point_id) {
  OB_ASSIGN_OR_RETURN(std::optional<std::string> pass, OptionalPassphrase(g, source));
  OB_ASSIGN_OR_RETURN(engine::OpenedAgent agent, OpenFor(g, source, pass));
  OB_RETURN_IF_ERROR(agent.repo->LoadIndex());
  OB_ASSIGN_OR_RETURN(engine::NamedRecoveryPoint point, agent.repo->FindRecoveryPoint(point_id));
  return OpenedPoint{std::move(agent), std::move(point)};
}

int RecoveryItems(Globals& g, const std::vector<std::string>& args) {
  std::string point_id, path = "/";
  SourceOptions source;
  OptionSet options("recovery items");
  options.Add("point", &point_id, "recovery point").Required();
  options.Add("path", &path, "folder in the recovery point").Positional();
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto opened = OpenPointFor(g, source, point_id);
  if (!opened.ok()) return Fail(g, opened.status());
  engine::Repository& repo = *opened->agent.repo;
  auto node = engine::FindNode(repo, opened->point.point.tree, path);
  if (!node.ok()) return Fail(g, node.status());
  std::vector<tree::Node> nodes;
  if (node->type == tree::NodeType::kDirectory) {
    auto t = repo.ReadTree(*node->subtree);
    if (!t.ok()) return Fail(g, t.status());
    nodes = t->nodes;
  } else {
    nodes.push_back(*node);
  }
  json list = json::array();
  for (const auto& n : nodes) {
    if (g.json) {
      list.push_back({{"name", n.name},
                      {"type", tree::NodeTypeName(n.type)},
                      {"size", n.size},
                      {"mode", n.mode},
                      {"mtime", FormatTime(n.mtime_ns)}});
    } else {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", n.mode);
      std::cout << tree::NodeTypeName(n.type) << "\t" << mode << "\t" << n.size << "\t"
                << FormatTime(n.mtime_ns) << "\t" << n.name
                << (n.type == tree::NodeType::kSymlink ? " -> " + n.symlink_target : "") << "\n";
    }
  }
  if (g.json) PrintJson(list);
  return kExitOk;
}

// Instant Restore: the recovery point as a read-only folder, served by this
// process until it is unmounted; files are fetched and decrypted as they
// are read.
int RecoveryMount(Globals& g, const std::vector<std::string>& args) {
  std::string point_id, mount_point;
  bool allow_other = false;
  SourceOptions source;
  OptionSet options("recovery mount");
  options.Add("point", &point_id, "recovery point or 'latest'").Required();
  options.Add("dir", &mount_point, "existing folder to mount it at").Positional().Required();
  options.Add("allow-other", &allow_other, "let other users read the mounted files");
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto dir = g.env->AbsolutePath(mount_point);
  if (!dir.ok()) return Fail(g, dir.status());
  auto opened = OpenPointFor(g, source, point_id);
  if (!opened.ok()) return Fail(g, opened.status());
  const engine::NamedRecoveryPoint& point = opened->point;
  engine::RecoveryPointReader reader(*opened->agent.repo, point.point);
  platform::MountOptions mount;
  mount.source_name = "obagent:" + point.id.substr(0, 12);
  mount.allow_other = allow_other;
  mount.on_mounted = [&] {
    if (g.json) {
      std::cout << Json({{"ok", true},
                         {"state", "mounted"},
                         {"recovery_point", point.id},
                         {"mount_point", *dir}})
                       .dump()
                << std::endl;
    } else {
      std::cout << "Recovery point " << point.id.substr(0, 12) << " ("
                << FormatTime(point.point.time_ns) << ") mounted read-only at " << *dir
                << "\nUnmount with 'obctl recovery unmount " << *dir << "' or Ctrl+C." << std::endl;
    }
  };
  mount.on_read_error = [](const std::string& path, const Status& error) {
    std::cerr << "obctl: reading " << path << " failed: " << error.ToString() << std::endl;
  };
  Status st = platform::ServeReadOnlyMount(reader, *dir, mount);
  if (!st.ok()) return Fail(g, st.WithContext("mounting the recovery point"));
  if (g.json) {
    std::cout << Json({{"ok", true}, {"state", "unmounted"}, {"mount_point", *dir}}).dump()
              << std::endl;
  } else {
    std::cout << "Unmounted " << *dir << std::endl;
  }
  return kExitOk;
}

int RecoveryUnmount(Globals& g, const std::vector<std::string>& args) {
  std::string mount_point;
  OptionSet options("recovery unmount");
  options.Add("dir", &mount_point, "where the recovery point is mounted").Positional().Required();
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto dir = g.env->AbsolutePath(mount_point);
  if (!dir.ok()) return Fail(g, dir.status());
  Status st = platform::UnmountReadOnly(*dir);
  if (!st.ok()) return Fail(g, st);
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"mount_point", *dir}}));
  } else {
    std::cout << "Unmounted " << *dir << "\n";
  }
  return kExitOk;
}

int RecoverJob(Globals& g, const std::vector<std::string>& args, engine::JobRecord& job);

int Recover(Globals& g, const std::vector<std::string>& args) {
  return WithJob(g, "Recovery", [&](engine::JobRecord& job) { return RecoverJob(g, args, job); });
}

int RecoverJob(Globals& g, const std::vector<std::string>& args, engine::JobRecord& job) {
  engine::RestoreOptions request;
  bool overwrite = false, create_copy = false, skip = false, no_permissions = false;
  SourceOptions source;
  OptionSet options("recover");
  options.Add("point", &request.point, "recovery point or 'latest'").Required();
  options.Add("item", &request.items, "paths to recover");
  options.Add("target", &request.target, "alternate folder (default: original location)");
  options.Add("overwrite", &overwrite, "replace existing files (default)");
  options.Add("create-copy", &create_copy, "keep existing files, restore beside them");
  options.Add("skip", &skip, "keep existing files, skip them");
  options.Add("threads", &request.threads, "worker threads");
  options.Add("no-permissions", &no_permissions,
              "default permissions and owner for what is restored, not the backed-up ones");
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(options, args)) return *exit;
  request.restore_permissions = !no_permissions;
  if (overwrite + create_copy + skip > 1) {
    return Fail(g, InvalidArgument("choose one of --overwrite, --create-copy, --skip"));
  }
  auto pass = OptionalPassphrase(g, source);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, source, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  if (request.target) {
    auto abs = g.env->AbsolutePath(*request.target);
    if (!abs.ok()) return Fail(g, abs.status());
    request.target = *abs;
  }
  request.conflict = skip          ? engine::ConflictPolicy::kSkip
                     : create_copy ? engine::ConflictPolicy::kCreateCopy
                                   : engine::ConflictPolicy::kOverwrite;
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Recovering");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::LogMilestone(engine::Milestone::kRecoveryStarted,
                       "Recovery started (job " + job.id + ")");
  engine::JobHistory history(*g.env, g.state_dir);
  auto report = [&] {
    engine::JobStopWatcher watcher(history, job.id);
    request.cancel = &watcher.flag();
    return engine::RunRestore(*agent->repo, request);
  }();
  line.Finish();
  // Damaged copies the restore met are recorded in this machine's vault, so
  // its next backup uploads them again (not for another machine's points).
  if (source.machine.empty() && source.credentials_file.empty()) {
    Result<size_t> recorded = engine::RecordFoundDamage(*agent);
    if (!recorded.ok()) {
      std::cerr << "obctl: warning: the damage found could not be recorded in the vault ("
                << recorded.status().ToString() << "); run obctl verify before the next backup\n";
    }
  }
  if (!report.ok() && report.status().code() == ErrorCode::kCancelled) {
    job.state = engine::JobState::kCancelled;
  }
  if (!report.ok() || report->state == engine::JobState::kFailed) {
    engine::LogMilestone(
        engine::Milestone::kRecoveryFailed,
        "Recovery failed (job " + job.id + "): " +
            (report.ok() ? std::to_string(report->failed_files.size()) + " files not recovered"
                         : report.status().ToString()));
  } else {
    engine::LogMilestone(engine::Milestone::kRecoveryCompleted,
                         "Recovery " + std::string(engine::JobStateName(report->state)) + " (job " +
                             job.id + "): " + std::to_string(report->files) + " files, " +
                             std::to_string(report->warnings.size()) + " warnings");
  }
  if (!report.ok()) return Fail(g, report.status().WithContext("recovery failed"));
  job.files = report->files;
  job.bytes_transferred = report->bytes;
  job.recovery_point = report->point_id;
  if (!report->failed_files.empty()) {
    job.error = std::to_string(report->failed_files.size()) + " files could not be recovered";
  }
  {
    // The same list the engine's recovery jobs keep (obctl job show, the
    // console's job details): failures, then warnings.
    std::vector<engine::FailedFile> listed = report->failed_files;
    listed.insert(listed.end(), report->warnings.begin(), report->warnings.end());
    job.failed_files_log =
        engine::WriteFailedFilesLog(*g.env, g.state_dir, "LastRecoveryFailedFiles", job.id, listed);
  }
  bool ok = report->state == engine::JobState::kCompleted ||
            report->state == engine::JobState::kCompletedWithWarnings;
  if (g.json) {
    PrintJson(Json({{"ok", ok},
                    {"state", engine::JobStateName(report->state)},
                    {"recovery_point", report->point_id},
                    {"files", report->files},
                    {"bytes", report->bytes},
                    {"hardlinks", report->hardlinks},
                    {"skipped_existing", report->skipped_existing},
                    {"unchanged", report->unchanged},
                    {"failed_files", FailedFilesJson(report->failed_files)},
                    {"warnings", FailedFilesJson(report->warnings)},
                    {"failed_files_log", job.failed_files_log}}));
  } else {
    std::cout << "Recovery " << engine::JobStateName(report->state) << ": " << report->files
              << " files, " << HumanBytes(report->bytes) << " from recovery point "
              << report->point_id.substr(0, 12) << "\n";
    if (report->unchanged) {
      std::cout << "  " << report->unchanged
                << " files already in place with the backed-up content (checked, not written)\n";
    }
    if (report->skipped_existing) {
      std::cout << "  " << report->skipped_existing << " existing items kept (--skip)\n";
    }
    if (request.target) {
      std::cout << "  under " << *request.target << ", each item at its full original path";
      if (!request.items.empty()) {
        std::cout << " (" << engine::RestoredPath(*request.target, request.items.front()) << ")";
      }
      std::cout << "\n";
    }
    for (const auto& f : report->warnings) {
      std::cerr << "  warning: " << f.path << ": " << f.error << "\n";
    }
    for (const auto& f : report->failed_files) {
      std::cerr << "  not recovered: " << f.path << ": " << f.error << "\n";
    }
    if (!job.failed_files_log.empty()) {
      std::cout << "  listed in " << job.failed_files_log << "\n";
    }
  }
  job.state = report->state;
  return report->state == engine::JobState::kCompleted               ? kExitOk
         : report->state == engine::JobState::kCompletedWithWarnings ? kExitWarnings
                                                                     : kExitFailed;
}

// The restore drill (Start-OBRecoveryTest, if MARS had one): the engine's
// RecoveryTest job, run in this process.
int RecoveryTest(Globals& g, const std::vector<std::string>& args) {
  engine::RecoveryTestJobRequest request;
  std::optional<int> sample;
  std::optional<double> percent;
  OptionSet options("recovery test");
  options.Add("point", &request.point, "recovery point or 'latest'");
  options.Add("sample", &sample, "how many files to restore (default 100)");
  options.Add("percent", &percent, "or this share of the point's files, in percent");
  if (auto exit = ParseOptions(options, args)) return *exit;
  if (sample && percent) return UsageError(options, "give --sample or --percent, not both");
  if (sample && *sample < 1) return UsageError(options, "--sample must be at least 1");
  if (sample) request.sample.count = static_cast<uint64_t>(*sample);
  if (percent) {
    if (!(*percent > 0 && *percent <= 100)) {
      return UsageError(options, "--percent must be above 0 and at most 100");
    }
    request.sample.percent = *percent;
  }
  ProgressLine line(!g.json && g.env->IsTerminal(2), "Restoring the sample");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::RecoveryTestJobOutcome out = engine::RunRecoveryTestJob(*g.env, g.state_dir, request);
  line.Finish();
  if (!out.report) {
    if (out.record.state == engine::JobState::kCancelled) {
      if (g.json) {
        PrintJson(Json({{"ok", false}, {"job", out.record.id}, {"state", "Cancelled"}}));
      } else {
        std::cout << "Recovery test Cancelled (job " << out.record.id << ")\n";
      }
      return kExitFailed;
    }
    return Fail(g, out.status);
  }
  const engine::RecoveryTestReport& r = *out.report;
  if (g.json) {
    PrintJson(Json({{"ok", r.state != engine::JobState::kFailed},
                    {"job", out.record.id},
                    {"state", engine::JobStateName(r.state)},
                    {"recovery_point", r.point_id},
                    {"files_in_point", r.files_in_point},
                    {"sampled", r.sampled},
                    {"identical", r.identical},
                    {"bytes", r.bytes},
                    {"seconds", r.seconds},
                    {"files_per_second", r.files_per_second},
                    {"bytes_per_second", r.bytes_per_second},
                    {"damage", r.damage},
                    {"message", out.record.error},
                    {"failed_files", FailedFilesJson(r.failed_files)},
                    {"failed_files_log", out.record.failed_files_log}}));
  } else {
    std::cout << "Recovery test " << engine::JobStateName(r.state) << ": recovery point "
              << r.point_id.substr(0, 12) << "\n  " << engine::DescribeRecoveryTest(r) << "\n";
    if (!out.record.error.empty()) std::cout << "  " << out.record.error << "\n";
    for (const auto& f : r.failed_files) std::cerr << "  " << f.path << ": " << f.error << "\n";
    if (!out.record.failed_files_log.empty()) {
      std::cout << "  failed files: " << out.record.failed_files_log << "\n";
    }
  }
  return r.state == engine::JobState::kCompleted               ? kExitOk
         : r.state == engine::JobState::kCompletedWithWarnings ? kExitWarnings
                                                               : kExitFailed;
}

int Verify(Globals& g) {
  Result<engine::OpenedAgent> agent = engine::OpenAgent(*g.env, g.state_dir, std::nullopt);
  if (!agent.ok()) return Fail(g, agent.status());
  Status st = agent->repo->LoadIndex();
  if (!st.ok()) return Fail(g, st);
  auto report = engine::RunVerify(*agent->repo);
  if (!report.ok()) return Fail(g, report.status());
  // The machine record and the wrapped key: objects verify can authenticate
  // too, needed when registering again or recovering on another machine.
  auto record = engine::CheckMachineRecord(*g.env, *agent);
  if (!record.ok()) return Fail(g, record.status());
  for (const std::string& p : record->problems) report->problems.push_back(p);
  // The damaged copies found are recorded in the vault: the next backup
  // uploads them again from the source.
  Result<size_t> recorded = engine::RecordFoundDamage(*agent);
  std::string record_note = recorded.ok()
                                ? ""
                                : "the damage found could not be recorded in the vault (" +
                                      recorded.status().ToString() +
                                      "); run verify again before the "
                                      "next backup";
  if (g.json) {
    PrintJson(Json({{"ok", report->ok()},
                    {"packs", report->packs},
                    {"blobs", report->blobs},
                    {"bytes", report->bytes},
                    {"recovery_points", report->recovery_points},
                    {"lost_items", report->lost_items},
                    {"damaged_copies_recorded", recorded.ok() ? *recorded : 0},
                    {"damage_cleared", report->damage_cleared},
                    {"warnings", record_note.empty() ? json::array() : json::array({record_note})},
                    {"problems", report->problems}}));
  } else {
    std::cout << "Verified " << report->packs << " packs, " << report->blobs << " objects, "
              << HumanBytes(report->bytes) << ", " << report->recovery_points
              << " recovery points: " << (report->ok() ? "no problems" : "DAMAGE FOUND") << "\n";
    for (const auto& p : report->problems) std::cerr << "  " << p << "\n";
    if (recorded.ok() && *recorded > 0) {
      std::cout << "Recorded " << *recorded
                << " damaged objects in the vault: the next backup uploads them again from "
                   "the source where it still has them.\n";
    }
    if (report->damage_cleared > 0) {
      std::cout << report->damage_cleared
                << " objects recorded as damaged are whole again (their pack was put back).\n";
    }
    if (!record_note.empty()) std::cerr << "obctl: warning: " << record_note << "\n";
  }
  return report->ok() ? kExitOk : kExitFailed;
}

int PassphraseChange(Globals& g, const std::vector<std::string>& args) {
  std::string new_passphrase_file;
  OptionSet options("passphrase change");
  options.Add("new-passphrase-file", &new_passphrase_file, "file with the new passphrase");
  if (auto exit = ParseOptions(options, args)) return *exit;
  auto pass = ReadSecret(*g.env, new_passphrase_file, "OBAGENT_NEW_PASSPHRASE", "new passphrase");
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
