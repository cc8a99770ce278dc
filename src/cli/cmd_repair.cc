// obctl repair: the engine's repair (engine/repair.h, machine_check.h) run in
// this process under the machine's writer lock, its findings printed.
#include <iostream>
#include <memory>
#include <optional>

#include "cli/cli_common.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/machine_check.h"
#include "obagent/engine/repair.h"

namespace obagent::cli {

namespace {

json DamagedPointsJson(const engine::RepairReport& r) {
  json list = json::array();
  for (const auto& d : r.damaged_points) {
    list.push_back({{"id", d.id},
                    {"time", FormatTime(d.time_ns)},
                    {"lost", d.lost},
                    {"repaired_as", d.rewritten_as},
                    {"removed", d.removed},
                    {"note", d.note}});
  }
  return list;
}

void PrintList(const char* title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  std::cout << "  " << title << ":\n";
  for (const auto& i : items) std::cout << "    " << i << "\n";
}

}  // namespace

int RepairCommand(Globals& g, const std::vector<std::string>& args) {
  engine::RepairOptions request;
  OptionSet options("repair");
  options.Add("rewrite-lost", &request.rewrite_lost,
              "write each damaged recovery point again without its lost files");
  options.Add("forget-damaged", &request.forget_damaged,
              "remove each damaged point once its repaired copy is saved (--rewrite-lost), "
              "and points that hold nothing readable");
  options.Add("read-data", &request.read_data,
              "read whole packs and index only blobs that authenticate (slower)");
  options.Add("dry-run", &request.dry_run, "report what is damaged; change nothing");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  Result<engine::OpenedAgent> agent = engine::OpenAgent(*g.env, g.state_dir, std::nullopt);
  if (!agent.ok()) return Fail(g, agent.status());
  // One writer per machine: repair writes and removes index files and points.
  std::unique_ptr<engine::WriterLock> writer;
  if (!request.dry_run) {
    auto held = engine::AcquireWriter(*agent, "repair");
    if (!held.ok()) return Fail(g, held.status().WithContext("repair failed"));
    writer = std::move(held).value();
  }
  auto healed = engine::HealMachineRecord(*g.env, *agent, request.dry_run);
  if (!healed.ok()) return Fail(g, healed.status().WithContext("repair failed"));
  auto record = engine::CheckMachineRecord(*g.env, *agent);
  if (!record.ok()) return Fail(g, record.status().WithContext("repair failed"));
  // Left after healing (all of them in a dry run, which heals nothing).
  const std::vector<std::string>& record_problems = record->problems;

  Result<engine::RepairReport> report = engine::RunRepair(*agent->repo, request);
  if (!request.dry_run) {
    engine::JobReport sent;
    sent.type = "Repair";
    sent.state = !report.ok()      ? engine::JobState::kFailed
                 : report->clean() ? engine::JobState::kCompleted
                                   : engine::JobState::kCompletedWithWarnings;
    sent.error = report.ok() ? "" : report.status().ToString();
    if (report.ok()) {
      sent.counts = {{"damaged_points", report->damaged_points.size()},
                     {"points_written", report->points_written.size()}};
    }
    (void)agent->vault->ReportJob(sent);
  }
  if (!report.ok()) return Fail(g, report.status().WithContext("repair failed"));
  const engine::RepairReport& r = *report;
  // What repair cannot undo: lost data, unreadable packs or points, a
  // record vaultd keeps. Damaged or stale index files are healed by the
  // rebuild (unless this is a dry run).
  const bool damage = !r.damaged_packs.empty() || !r.unreadable_points.empty() ||
                      !r.damaged_points.empty() || !record_problems.empty() ||
                      (r.dry_run && (!r.clean() || !healed->empty()));
  const bool healed_something = !r.clean() || !healed->empty();

  if (g.json) {
    PrintJson(Json({{"ok", !damage},
                    {"dry_run", r.dry_run},
                    {"packs", r.packs},
                    {"blobs_indexed", r.blobs_indexed},
                    {"damaged_packs", r.damaged_packs},
                    {"missing_packs", r.missing_packs},
                    {"index_files", r.index_files},
                    {"damaged_index_files", r.damaged_index_files},
                    {"index_rewritten", r.index_rewritten},
                    {"index_files_written", r.index_files_written},
                    {"index_files_removed", r.index_files_removed},
                    {"recovery_points", r.points},
                    {"unreadable_points", r.unreadable_points},
                    {"damaged_points", DamagedPointsJson(r)},
                    {"points_written", r.points_written},
                    {"points_removed", r.points_removed},
                    {"machine_record_written", *healed},
                    {"machine_record_problems", record_problems}}));
  } else {
    const char* would = r.dry_run ? "would be " : "";
    std::cout << (r.dry_run ? "Repair (dry run, nothing changed): " : "Repair completed: ")
              << r.packs << " packs, " << r.blobs_indexed << " blobs indexed, " << r.points
              << " recovery points: "
              << (damage             ? "DAMAGE FOUND"
                  : healed_something ? "damage repaired"
                                     : "no damage")
              << "\n";
    if (r.index_rewritten) {
      std::cout << "  index " << would << "rebuilt from the packs present: "
                << (r.dry_run ? 0 : r.index_files_written.size()) << " files written, "
                << (r.dry_run ? r.index_files : r.index_files_removed.size()) << " old files "
                << would << "removed\n";
    } else {
      std::cout << "  index: already matches the packs present\n";
    }
    PrintList("damaged index files (not used)", r.damaged_index_files);
    PrintList("damaged packs", r.damaged_packs);
    PrintList("packs the index named that are missing", r.missing_packs);
    PrintList("recovery points that cannot be read", r.unreadable_points);
    PrintList("recovery points removed (--forget-damaged)", r.points_removed);
    for (const auto& d : r.damaged_points) {
      std::cout << "  damaged recovery point " << d.id.substr(0, 12) << "  "
                << FormatTime(d.time_ns) << ": " << d.lost.size() << " lost\n";
      for (const auto& p : d.lost) std::cout << "    lost " << p << "\n";
      if (!d.rewritten_as.empty()) {
        std::cout << "    repaired copy without them: " << d.rewritten_as.substr(0, 12)
                  << (d.removed ? " (the damaged point was removed)" : "") << "\n";
      } else if (!d.note.empty()) {
        std::cout << "    " << d.note << "\n";
      } else if (!request.rewrite_lost) {
        std::cout << "    ('obctl repair --rewrite-lost' writes a copy without them)\n";
      }
    }
    for (const auto& h : *healed) std::cout << "  " << h << "\n";
    PrintList("machine record problems left", record_problems);
  }
  return damage ? kExitWarnings : kExitOk;
}

}  // namespace obagent::cli
