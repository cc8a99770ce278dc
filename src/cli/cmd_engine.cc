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
#include "obagent/engine/progress.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {

// Whether the engine runs, its scheduler and its running job.
int EngineStatus(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("engine status");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "status"}});
  if (!answer.ok()) return Fail(g, answer.status());
  if (g.json) {
    PrintJson(*answer);
    return kExitOk;
  }
  std::cout << "cbengine running (pid " << (*answer)["pid"].dump() << "), schedule fired by "
            << (*answer)["scheduler"].get<std::string>() << "\n";
  if ((*answer)["running"].is_object()) {
    auto r = engine::RunningJobFromJson((*answer)["running"]);
    if (!r.ok()) return Fail(g, r.status().WithContext("the engine's answer"));
    std::cout << "  " << r->record.type << " job " << r->record.id << " (" << r->trigger
              << "): " << FormatProgressLine("", r->progress) << "\n";
  } else {
    std::cout << "  no job running\n";
  }
  return kExitOk;
}

// The web console's address with its login token, from the engine (root or
// administrators only, like the rest of the local API).
int ConsoleUrl(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("console url");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto answer = api::CallEngine(*g.env, g.state_dir, {{"op", "console_url"}});
  if (!answer.ok()) return Fail(g, answer.status());
  if (g.json) {
    PrintJson(Json({{"ok", true}, {"url", (*answer)["url"]}}));
  } else {
    std::cout << (*answer)["url"].get<std::string>() << "\n";
  }
  return kExitOk;
}

}  // namespace obagent::cli
