// cbengine: the backup engine as a service (Windows SCM service "obengine",
// systemd unit cbengine.service) or in the foreground for debugging. It
// serves the local API (obctl, the console), keeps the policy's schedule
// registered with the OS scheduler (or fires it itself) and runs the jobs.
#include <iostream>
#include <optional>
#include <string>

#include "obagent/api/console.h"
#include "obagent/api/local_api.h"
#include "obagent/cmdline/options.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/engine_service.h"
#include "obagent/platform.h"
#include "obagent/platform_process.h"

using namespace obagent;

namespace {

// How often the scheduler looks at the clock and the policy. Schedules are
// per minute, so a scheduled run starts within this much of its time.
constexpr int64_t kSchedulerTickMs = 15000;

constexpr char kUsage[] = R"(usage: cbengine [--state-dir DIR] [--foreground] [--obctl PATH]
                [--console-port N]

The obagent backup engine. Started by the service manager (Windows SCM
service "obengine", systemd unit cbengine.service); --foreground runs it in
this terminal (Ctrl+C stops it) for debugging. The web console listens on
http://127.0.0.1:<console port>/ (default 8472, 0 turns it off); `obctl
console url` prints its address with the login token.
)";

std::string Dirname(const std::string& path) {
  auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

int RunEngine(platform::Env& env, const std::string& state_dir, const std::string& obctl,
              int console_port, platform::ServiceContext& service) {
  Status st = env.CreateDirs(state_dir, true);
  if (!st.ok()) {
    engine::LogEngineEvent("cannot use the state folder: " + st.ToString(), true);
    std::cerr << "cbengine: " << st.ToString() << "\n";
    return 1;
  }
  std::string address = env.LocalApiAddress(state_dir);
  auto listener = env.ListenLocal(address);
  if (!listener.ok()) {
    engine::LogEngineEvent("local API: " + listener.status().ToString(), true);
    std::cerr << "cbengine: " << listener.status().ToString() << "\n";
    return 1;
  }
  engine::EngineService engine(env, {state_dir, obctl, {}});
  api::LocalApiServer server(engine, env, std::move(listener).value());
  // The console is a convenience: the engine runs without it (port taken).
  std::unique_ptr<api::ConsoleServer> console;
  if (console_port != 0) {
    api::ConsoleOptions console_options;
    console_options.state_dir = state_dir;
    console_options.port = static_cast<uint16_t>(console_port);
    auto started = api::ConsoleServer::Start(engine, env, console_options);
    if (started.ok()) {
      console = std::move(started).value();
      server.SetConsoleUrl(console->Url());
      engine::LogEngineEvent("web console on http://127.0.0.1:" + std::to_string(console->port()) +
                             "/ (obctl console url)");
    } else {
      engine::LogEngineEvent("web console not started: " + started.status().ToString(), true);
    }
  }
  server.Start();
  engine::LogEngineEvent("cbengine started (pid " + std::to_string(env.ProcessId()) + ", state " +
                         state_dir + ", local API " + address + ")");
  service.ReportRunning();
  do {
    engine.SchedulerTick();
  } while (!service.WaitForStop(kSchedulerTickMs));
  engine::LogEngineEvent("cbengine stopping");
  if (console) console->Close();
  server.Close();
  if (auto running = engine.Running()) {
    (void)engine.StopJob(running->record.id);
    (void)engine.WaitForJob(running->record.id, 60000);
  }
  engine::LogEngineEvent("cbengine stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  platform::Env& env = platform::Env::Default();
  env.PreferReturningLargeBuffers();
  std::string state_dir_option = env.DefaultStateDir();
  // --foreground is accepted for the units and scripts that pass it (a
  // terminal start is the default); --service says the SCM started us.
  bool foreground = false;
  bool started_by_scm = false;
  std::optional<std::string> obctl_option;
  int console_port = api::kDefaultConsolePort;
  cmdline::OptionSet options("cbengine");
  options.Add("state-dir", &state_dir_option, "the agent's state folder");
  options.Add("foreground", &foreground, "run in this terminal (debugging)");
  options.Add("service", &started_by_scm, "started by the Windows service manager (SCM)");
  options.Add("obctl", &obctl_option,
              "the obctl the OS scheduler starts (default: beside cbengine)");
  options.Add("console-port", &console_port, "the web console's port on 127.0.0.1 (0: off)");
  Status parsed = options.Parse({argv + 1, argv + argc});
  if (parsed.ok() && (console_port < 0 || console_port > 65535)) {
    parsed = InvalidArgument("--console-port must be 0..65535");
  }
  if (!parsed.ok()) {
    std::cerr << "cbengine: " << parsed.detail() << "\n"
              << kUsage << "options:\n"
              << options.Help();
    return 2;
  }
  if (options.HelpRequested()) {
    std::cout << kUsage << "options:\n" << options.Help();
    return 0;
  }
  auto state_dir = env.AbsolutePath(platform::FromNativePath(state_dir_option));
  if (!state_dir.ok()) {
    std::cerr << "cbengine: " << state_dir.status().ToString() << "\n";
    return 2;
  }
  std::string self = env.ExecutablePath();
  std::string obctl =
      obctl_option.value_or(Dirname(self) + "/obctl" + (self.ends_with(".exe") ? ".exe" : ""));
  engine::OpenEngineLog(*state_dir, /*also_stderr=*/true);
  // COM security is process-wide: set here, before any thread uses COM
  // (VSS in a job, the Task Scheduler), never lazily in a job thread.
  Status security = platform::InitializeProcessSecurity();
  if (!security.ok()) engine::LogEngineEvent("process security: " + security.ToString(), true);
  // Before any file is opened: backup reads past DACLs, restore writes
  // there (Windows). Missing privileges are said, the engine runs on.
  platform::BackupPrivileges privileges = platform::EnableBackupPrivileges();
  if (!privileges.missing.empty()) {
    engine::LogEngineEvent("backup privileges " + privileges.Summary(), true);
  } else if (!privileges.enabled.empty()) {
    std::string names;
    for (const std::string& name : privileges.enabled) names += (names.empty() ? "" : ", ") + name;
    engine::LogEngineEvent("backup privileges enabled: " + names);
  }
  return env.RunService("obengine", started_by_scm, [&](platform::ServiceContext& service) {
    return RunEngine(env, *state_dir, obctl, console_port, service);
  });
}
