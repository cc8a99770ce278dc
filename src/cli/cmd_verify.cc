// obctl verify: check every object in the vault, the machine record and the
// wrapped key included; damage found is recorded for the next backup. The
// engine's Verify job (engine/verify_job.h) runs in this process.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/engine/verify_job.h"

namespace obagent::cli {

int Verify(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("verify");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  engine::VerifyJobOutcome out = engine::RunVerifyJob(*g.env, g.state_dir);
  if (!out.report) return Fail(g, out.status);
  const engine::VerifyReport* report = &*out.report;
  std::string record_note = out.damage_record.ok()
                                ? ""
                                : "the damage found could not be recorded in the vault (" +
                                      out.damage_record.ToString() +
                                      "); run verify again before the "
                                      "next backup";
  g.out->Result(
      {{"ok", report->ok()},
       {"packs", report->packs},
       {"blobs", report->blobs},
       {"bytes", report->bytes},
       {"recovery_points", report->recovery_points},
       {"lost_items", report->lost_items},
       {"damaged_copies_recorded", out.damaged_copies_recorded},
       {"damage_cleared", report->damage_cleared},
       {"notes", record_note.empty() ? json::array() : json::array({record_note})},
       {"problems", report->problems}},
      [&](std::ostream& o, std::ostream& err) {
        o << "Verified " << report->packs << " packs, " << report->blobs << " objects, "
          << HumanBytes(report->bytes) << ", " << report->recovery_points
          << " recovery points: " << (report->ok() ? "no problems" : "DAMAGE FOUND") << "\n";
        for (const auto& p : report->problems) err << "  " << p << "\n";
        if (out.damaged_copies_recorded > 0) {
          o << "Recorded " << out.damaged_copies_recorded
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
