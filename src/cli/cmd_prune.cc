// obctl prune: apply a retention policy (as MARS's daily/weekly/monthly/
// yearly retention) and free the vault space of the points it drops. The
// engine's Prune job (engine/prune_job.h) runs in this process; this file
// parses and presents.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/engine/prune_job.h"
#include "obagent/engine/retention.h"

namespace obagent::cli {

int PruneCommand(Globals& g, const std::vector<std::string>& args) {
  std::optional<int> daily, keep_last;
  int weekly = 0, monthly = 0, yearly = 0;
  engine::PruneOptions request;
  OptionSet options("prune");
  options.Add("daily", &daily, "keep every point of the last N days (7-9999)");
  options.Add("weekly", &weekly, "keep the last point of N ISO weeks");
  options.Add("monthly", &monthly, "keep the last point of N months");
  options.Add("yearly", &yearly, "keep the last point of N years");
  options.Add("dry-run", &request.dry_run, "show what would be removed; change nothing");
  std::string pin;
  options.Add("pin", &pin,
              "the vault's Security PIN, when the retention is less than the one registered");
  // Manual override, not part of the policy: keep only the newest N points
  // whatever their age (tests use it; so can an administrator who must
  // free space now).
  options.Add("keep-last", &keep_last, "keep only the newest N points").Hidden();
  if (auto exit = ParseOptions(g, options, args)) return *exit;

  if (!keep_last && !daily) {
    return Fail(g, InvalidArgument("give --daily N (with optional --weekly, --monthly, --yearly)"));
  }
  engine::RetentionPolicy policy;
  if (keep_last) {
    if (*keep_last < 1) {
      return Fail(g, InvalidArgument("--keep-last must be at least 1"));
    }
    if (daily || options.Given("weekly") || options.Given("monthly") || options.Given("yearly")) {
      return Fail(
          g, InvalidArgument("--keep-last replaces the retention policy; give one or the other"));
    }
  } else {
    policy = {*daily, weekly, monthly, yearly};
    Status valid = policy.Validate();
    if (!valid.ok()) return Fail(g, valid);
  }

  engine::PruneJobRequest job;
  job.policy = policy;
  if (keep_last) job.keep_last = static_cast<size_t>(*keep_last);
  job.options = request;
  job.security_pin = pin;
  engine::PruneJobOutcome out = engine::RunPruneJob(*g.env, g.state_dir, job);
  if (!out.held.ok()) {
    // The vault's anomaly hold: nothing was deleted; a warning, not a failure.
    g.out->Result({{"ok", true},
                   {"held", true},
                   {"job", JobJson(out.record)},
                   {"message", out.held.ToString()},
                   {"removed_points", json::array()}},
                  [&](std::ostream&, std::ostream& err) {
                    err << "obctl: warning: " << out.held.ToString() << "\n";
                  });
    return kExitWarnings;
  }
  if (!out.report) return Fail(g, out.status);
  const engine::PruneReport& r = *out.report;
  g.out->Result({{"ok", true},
                 {"dry_run", r.dry_run},
                 {"kept_points", r.kept_points},
                 {"removed_points", r.removed_points},
                 {"held_points", r.held_points},
                 {"packs_kept", r.packs_kept},
                 {"packs_deleted", r.packs_deleted},
                 {"packs_repacked", r.packs_repacked},
                 {"packs_written", r.packs_written},
                 {"index_files_deleted", r.index_files_deleted},
                 {"bytes_deleted", r.bytes_deleted},
                 {"bytes_written", r.bytes_written},
                 {"bytes_freed", r.bytes_freed()}},
                [&](std::ostream& o, std::ostream&) {
                  const char* would = r.dry_run ? "would be " : "";
                  o << (r.dry_run ? "Prune (dry run, nothing changed): " : "Prune completed: ")
                    << r.kept_points.size() << " recovery points kept, " << r.removed_points.size()
                    << " " << would << "removed\n";
                  for (const auto& p : out.points) {
                    bool removed = std::find(r.removed_points.begin(), r.removed_points.end(),
                                             p.id) != r.removed_points.end();
                    if (removed) {
                      o << "  " << (r.dry_run ? "remove " : "removed ") << p.id.substr(0, 12)
                        << "  " << TextTime(p.point.time_ns) << "\n";
                    }
                  }
                  if (!r.held_points.empty()) {
                    o << "  " << r.held_points.size()
                      << " point(s) kept: the vault holds them until they are older than its "
                         "retention floor\n";
                  }
                  o << "  packs: " << r.packs_deleted << " " << would << "deleted, "
                    << r.packs_repacked << " " << would << "repacked, " << r.packs_kept << " kept\n"
                    << "  " << HumanBytes(static_cast<double>(r.bytes_freed())) << " " << would
                    << "freed\n";
                });
  return kExitOk;
}

}  // namespace obagent::cli
