// obctl repair: the engine's Repair job (engine/repair_job.h: the machine
// record and the index repaired under the writer lock) run in this process,
// its findings printed.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/engine/repair_job.h"

namespace obagent::cli {

namespace {

json DamagedPointsJson(const engine::RepairReport& r) {
  json list = json::array();
  for (const auto& d : r.damaged_points) {
    list.push_back({{"id", d.id},
                    {"time", Time(d.time_ns)},
                    {"lost", d.lost},
                    {"repaired_as", d.rewritten_as},
                    {"removed", d.removed},
                    {"note", d.note}});
  }
  return list;
}

void PrintList(std::ostream& o, const char* title, const std::vector<std::string>& items) {
  if (items.empty()) return;
  o << "  " << title << ":\n";
  for (const auto& i : items) o << "    " << i << "\n";
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
  engine::RepairJobOutcome out = engine::RunRepairJob(*g.env, g.state_dir, {request, {}});
  if (!out.report) return Fail(g, out.status);
  const engine::RepairReport& r = *out.report;
  const std::vector<std::string>& healed = out.machine_record_written;
  const std::vector<std::string>& record_problems = out.machine_record_problems;
  const bool damage = out.damage_left;
  const bool healed_something = out.healed_something;

  g.out->Result({{"ok", !damage},
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
                 {"machine_record_written", healed},
                 {"machine_record_problems", record_problems}},
                [&](std::ostream& o, std::ostream&) {
                  const char* would = r.dry_run ? "would be " : "";
                  o << (r.dry_run ? "Repair (dry run, nothing changed): " : "Repair completed: ")
                    << r.packs << " packs, " << r.blobs_indexed << " blobs indexed, " << r.points
                    << " recovery points: "
                    << (damage             ? "DAMAGE FOUND"
                        : healed_something ? "damage repaired"
                                           : "no damage")
                    << "\n";
                  if (r.index_rewritten) {
                    o << "  index " << would << "rebuilt from the packs present: "
                      << (r.dry_run ? 0 : r.index_files_written.size()) << " files written, "
                      << (r.dry_run ? r.index_files : r.index_files_removed.size()) << " old files "
                      << would << "removed\n";
                  } else {
                    o << "  index: already matches the packs present\n";
                  }
                  PrintList(o, "damaged index files (not used)", r.damaged_index_files);
                  PrintList(o, "damaged packs", r.damaged_packs);
                  PrintList(o, "packs the index named that are missing", r.missing_packs);
                  PrintList(o, "recovery points that cannot be read", r.unreadable_points);
                  PrintList(o, "recovery points removed (--forget-damaged)", r.points_removed);
                  for (const auto& d : r.damaged_points) {
                    o << "  damaged recovery point " << d.id.substr(0, 12) << "  "
                      << TextTime(d.time_ns) << ": " << d.lost.size() << " lost\n";
                    for (const auto& p : d.lost) o << "    lost " << p << "\n";
                    if (!d.rewritten_as.empty()) {
                      o << "    repaired copy without them: " << d.rewritten_as.substr(0, 12)
                        << (d.removed ? " (the damaged point was removed)" : "") << "\n";
                    } else if (!d.note.empty()) {
                      o << "    " << d.note << "\n";
                    } else if (!request.rewrite_lost) {
                      o << "    ('obctl repair --rewrite-lost' writes a copy without them)\n";
                    }
                  }
                  for (const auto& h : healed) o << "  " << h << "\n";
                  PrintList(o, "machine record problems left", record_problems);
                });
  return damage ? kExitWarnings : kExitOk;
}

}  // namespace obagent::cli
