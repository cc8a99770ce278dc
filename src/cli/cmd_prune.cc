// obctl prune: apply a retention policy (as MARS's daily/weekly/monthly/
// yearly retention) and free the vault space of the points it drops.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/cli_common.h"
#include "cli/progress.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/prune.h"
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

  Result<engine::OpenedAgent> agent = engine::OpenAgent(*g.env, g.state_dir, std::nullopt);
  if (!agent.ok()) return Fail(g, agent.status());
  // One writer per machine: prune deletes, so it must not race a backup.
  std::unique_ptr<engine::WriterLock> writer;
  if (!request.dry_run) {
    auto held = engine::AcquireWriter(*agent, "prune");
    if (!held.ok()) return Fail(g, held.status().WithContext("prune failed"));
    writer = std::move(held).value();
  }
  engine::Repository& repo = *agent->repo;
  auto points = repo.ListRecoveryPoints();
  if (!points.ok()) return Fail(g, points.status());
  std::vector<std::string> keep;
  if (keep_last) {
    size_t n = static_cast<size_t>(*keep_last);
    for (size_t i = points->size() > n ? points->size() - n : 0; i < points->size(); ++i) {
      keep.push_back((*points)[i].id);
    }
  } else {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    keep = engine::PointsToKeep(*points, policy,
                                std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  }
  Result<engine::PruneReport> report = engine::RunPrune(repo, keep, request);
  if (!request.dry_run) {
    engine::JobReport sent;
    sent.type = "Prune";
    sent.state = report.ok() ? engine::JobState::kCompleted : engine::JobState::kFailed;
    sent.error = report.ok() ? "" : report.status().ToString();
    if (report.ok()) {
      sent.counts = {{"points_removed", report->removed_points.size()},
                     {"bytes_freed", report->bytes_freed()}};
    }
    (void)agent->vault->ReportJob(sent);
  }
  if (!report.ok()) return Fail(g, report.status().WithContext("prune failed"));

  const engine::PruneReport& r = *report;
  if (g.json) {
    PrintJson(Json({{"ok", true},
                    {"dry_run", r.dry_run},
                    {"kept_points", r.kept_points},
                    {"removed_points", r.removed_points},
                    {"packs_kept", r.packs_kept},
                    {"packs_deleted", r.packs_deleted},
                    {"packs_repacked", r.packs_repacked},
                    {"packs_written", r.packs_written},
                    {"index_files_deleted", r.index_files_deleted},
                    {"bytes_deleted", r.bytes_deleted},
                    {"bytes_written", r.bytes_written},
                    {"bytes_freed", r.bytes_freed()}}));
    return kExitOk;
  }
  const char* would = r.dry_run ? "would be " : "";
  std::cout << (r.dry_run ? "Prune (dry run, nothing changed): " : "Prune completed: ")
            << r.kept_points.size() << " recovery points kept, " << r.removed_points.size() << " "
            << would << "removed\n";
  for (const auto& p : *points) {
    bool removed =
        std::find(r.removed_points.begin(), r.removed_points.end(), p.id) != r.removed_points.end();
    if (removed) {
      std::cout << "  " << (r.dry_run ? "remove " : "removed ") << p.id.substr(0, 12) << "  "
                << FormatTime(p.point.time_ns) << "\n";
    }
  }
  std::cout << "  packs: " << r.packs_deleted << " " << would << "deleted, " << r.packs_repacked
            << " " << would << "repacked, " << r.packs_kept << " kept\n"
            << "  " << HumanBytes(static_cast<double>(r.bytes_freed())) << " " << would
            << "freed\n";
  return kExitOk;
}

}  // namespace obagent::cli
