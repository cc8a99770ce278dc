// obctl verify: check every object in the vault, the machine record and the
// wrapped key included; damage found is recorded for the next backup.
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
#include "obagent/engine/agent.h"
#include "obagent/engine/machine_check.h"
#include "obagent/engine/verify.h"

namespace obagent::cli {

int Verify(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("verify");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
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
  g.out->Result(
      {{"ok", report->ok()},
       {"packs", report->packs},
       {"blobs", report->blobs},
       {"bytes", report->bytes},
       {"recovery_points", report->recovery_points},
       {"lost_items", report->lost_items},
       {"damaged_copies_recorded", recorded.ok() ? *recorded : 0},
       {"damage_cleared", report->damage_cleared},
       {"notes", record_note.empty() ? json::array() : json::array({record_note})},
       {"problems", report->problems}},
      [&](std::ostream& o, std::ostream& err) {
        o << "Verified " << report->packs << " packs, " << report->blobs << " objects, "
          << HumanBytes(report->bytes) << ", " << report->recovery_points
          << " recovery points: " << (report->ok() ? "no problems" : "DAMAGE FOUND") << "\n";
        for (const auto& p : report->problems) err << "  " << p << "\n";
        if (recorded.ok() && *recorded > 0) {
          o << "Recorded " << *recorded
            << " damaged objects in the vault: the next backup uploads them again from "
               "the source where it still has them.\n";
        }
        if (report->damage_cleared > 0) {
          o << report->damage_cleared
            << " objects recorded as damaged are whole again (their pack was put back).\n";
        }
        if (!record_note.empty()) err << "obctl: warning: " << record_note << "\n";
      });
  return report->ok() ? kExitOk : kExitFailed;
}

}  // namespace obagent::cli
