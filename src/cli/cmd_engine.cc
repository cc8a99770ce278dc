// obctl engine status and obctl console url: what the running engine says.
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/api/local_api.h"
#include "obagent/engine/job_history.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {

// Whether the engine runs, its scheduler and its running job.
int EngineStatus(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("engine status");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
  if (!answer.ok()) return Fail(g, answer.status());
  const json& a = *answer;
  std::optional<engine::RunningJob> running;
  if (a["running"].is_object()) {
    auto r = engine::RunningJobFromJson(a["running"]);
    if (!r.ok()) return Fail(g, r.status().WithContext("the engine's answer"));
    running = *r;
  }
  json running_json = nullptr;
  if (running) {
    running_json = {{"job", JobJson(running->record)},
                    {"trigger", running->trigger},
                    {"progress", engine::ProgressToJson(running->progress)}};
  }
  g.out->Result(
      {{"ok", true}, {"pid", a["pid"]}, {"scheduler", a["scheduler"]}, {"running", running_json}},
      [&](std::ostream& o, std::ostream&) {
        o << "cbengine running (pid " << a["pid"].dump() << "), schedule fired by "
          << a.value("scheduler", "") << "\n";
        if (running) {
          o << "  " << running->record.type << " job " << running->record.id << " ("
            << running->trigger << "): " << FormatProgressLine("", running->progress) << "\n";
        } else {
          o << "  no job running\n";
        }
      });
  return kExitOk;
}

// The web console's address with its login token, from the engine (root or
// administrators only, like the rest of the local API).
int ConsoleUrl(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("console url");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "console_url"}});
  if (!answer.ok()) return Fail(g, answer.status());
  std::string url = answer->value("url", "");
  g.out->Result({{"ok", true}, {"url", url}},
                [&](std::ostream& o, std::ostream&) { o << url << "\n"; });
  return kExitOk;
}

}  // namespace obagent::cli
