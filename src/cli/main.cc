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
    return kExitFailed;
  }
  return report.state == engine::JobState::kCompleted ? kExitOk : kExitWarnings;
}

int BackupStart(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("backup start");
  desc.add_options()("include", po::value<std::vector<std::string>>()->multitoken()->required(),
                     "files or folders to back up")(
      "exclude", po::value<std::vector<std::string>>()->multitoken(), "glob patterns to skip")(
      "threads", po::value<size_t>()->default_value(0), "worker threads (0: one per core)");
  auto vm = Parse(args, desc);
  engine::BackupJobRequest request;
  request.includes = vm["include"].as<std::vector<std::string>>();
  if (vm.count("exclude")) request.excludes = vm["exclude"].as<std::vector<std::string>>();
  request.threads = vm["threads"].as<size_t>();
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
      const json& p = (*status)["running"]["progress"];
      engine::Progress progress;
      progress.files_done = p.value("files_done", uint64_t{0});
      progress.bytes_done = p.value("bytes_done", uint64_t{0});
      progress.bytes_total = p.value("bytes_total", uint64_t{0});
      progress.elapsed_seconds = p.value("elapsed_seconds", 0.0);
      line.Update(progress);
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
  po::options_description desc("backup now");
  desc.add_options()("no-wait", "return once the job has started");
  auto vm = Parse(args, desc);
  return StartInEngine(g, "BackupNow", vm.count("no-wait") == 0);
}

// What the OS scheduler (Task Scheduler task, systemd timer) runs: the
// engine runs the policy's backup and retention; when the engine is not
// running, this process does. A paused policy does nothing.
int BackupScheduled(Globals& g, const std::vector<std::string>& args) {
  po::options_description desc("backup scheduled");
  auto vm = Parse(args, desc);
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
  po::options_description desc("job stop");
  desc.add_options()("id", po::value<std::string>()->required(), "job id or prefix")(
      "timeout", po::value<int>()->default_value(120), "seconds to wait for the job to end");
  po::positional_options_description pos;
  pos.add("id", 1);
  auto vm = Parse(args, desc, &pos);
  std::string id = vm["id"].as<std::string>();
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
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(vm["timeout"].as<int>());
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
  po::options_description desc("engine status");
  auto vm = Parse(args, desc);
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
              << "): " << r["progress"]["files_done"].dump() << " files, "
              << HumanBytes(r["progress"]["bytes_done"].get<uint64_t>()) << "\n";
  } else {
    std::cout << "  no job running\n";
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
  engine::JobHistory history(*g.env, g.state_dir);
  auto report = [&] {
    engine::JobStopWatcher watcher(history, job.id);
    options.cancel = &watcher.flag();
    return engine::RunRestore(*agent->repo, options);
  }();
  line.Finish();
  if (!report.ok() && report.status().code() == ErrorCode::kCancelled) {
    job.state = engine::JobState::kCancelled;
  }
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
      {"job stop", JobStop},
      {"backup now", BackupNow},
      {"engine status", EngineStatus},
      {"recovery list", RecoveryList},
      {"recovery items", RecoveryItems},
      {"recover", Recover},
      {"verify", no_args(Verify)},
      {"passphrase change", PassphraseChange},
      {"machine-setting", MachineSettingCommand},
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
