// obctl recovery list|items|mount|unmount|test and obctl recover
// (Get-OBRecoverableSource/Item, Start-OBRecovery): reading recovery points,
// this machine's or another one's of the vault.
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
#include "obagent/engine/engine_log.h"
#include "obagent/engine/machine_check.h"
#include "obagent/engine/progress.h"
#include "obagent/engine/recovery_job.h"
#include "obagent/engine/recovery_reader.h"
#include "obagent/engine/recovery_test.h"
#include "obagent/engine/restore.h"
#include "obagent/platform_mount.h"

namespace obagent::cli {
namespace {

// A recovery point opened for reading: this machine's or, with the source
// options, another machine's; the index is loaded.
struct OpenedPoint {
  engine::OpenedAgent agent;
  engine::NamedRecoveryPoint point;
};

Result<OpenedPoint> OpenPointFor(Globals& g, const SourceOptions& source,
                                 const std::string& point_id) {
  OB_ASSIGN_OR_RETURN(std::optional<std::string> pass, OptionalPassphrase(g, source));
  OB_ASSIGN_OR_RETURN(engine::OpenedAgent agent, OpenFor(g, source, pass));
  OB_RETURN_IF_ERROR(agent.repo->LoadIndex());
  OB_ASSIGN_OR_RETURN(engine::NamedRecoveryPoint point, agent.repo->FindRecoveryPoint(point_id));
  return OpenedPoint{std::move(agent), std::move(point)};
}

// What obctl recover was asked, parsed before its job starts.
struct RecoverArgs {
  engine::RestoreOptions request;
  bool overwrite = false, create_copy = false, skip = false, no_permissions = false;
  SourceOptions source;
};

void AddRecoverOptions(OptionSet& options, RecoverArgs& a) {
  options.Add("point", &a.request.point, "recovery point or 'latest'").Required();
  options.Add("item", &a.request.items, "paths to recover");
  options.Add("target", &a.request.target, "alternate folder (default: original location)");
  options.Add("overwrite", &a.overwrite, "replace existing files (default)");
  options.Add("create-copy", &a.create_copy, "keep existing files, restore beside them");
  options.Add("skip", &a.skip, "keep existing files, skip them");
  options.Add("threads", &a.request.threads, "worker threads");
  options.Add("no-permissions", &a.no_permissions,
              "default permissions and owner for what is restored, not the backed-up ones");
  AddSourceOptions(options, a.source);
}

// Prints what a recovery job did; obctl's exit code for it.
int PresentRecovery(Globals& g, const engine::RecoveryJobRequest& request, bool own_machine,
                    const engine::RecoveryJobOutcome& out) {
  // Damaged copies the restore met are recorded in this machine's vault, so
  // its next backup uploads them again (not for another machine's points).
  if (own_machine && !out.damage_record.ok()) {
    g.out->Warning("the damage found could not be recorded in the vault (" +
                   out.damage_record.ToString() + "); run obctl verify before the next backup");
  }
  if (!out.report) return Fail(g, out.status);
  const engine::RestoreReport* report = &*out.report;
  const engine::RestoreOptions& restore = request.restore;
  const engine::JobRecord& job = out.record;
  bool ok = report->state == engine::JobState::kCompleted ||
            report->state == engine::JobState::kCompletedWithWarnings;
  g.out->Result(
      {{"ok", ok},
       {"state", engine::JobStateName(report->state)},
       {"recovery_point", report->point_id},
       {"files", report->files},
       {"bytes", report->bytes},
       {"hardlinks", report->hardlinks},
       {"skipped_existing", report->skipped_existing},
       {"unchanged", report->unchanged},
       {"failed_files", FailedFilesJson(report->failed_files)},
       {"warnings", FailedFilesJson(report->warnings)},
       {"failed_files_log", job.failed_files_log}},
      [&](std::ostream& o, std::ostream& err) {
        o << "Recovery " << engine::JobStateName(report->state) << ": " << report->files
          << " files, " << HumanBytes(report->bytes) << " from recovery point "
          << report->point_id.substr(0, 12) << "\n";
        if (report->unchanged) {
          o << "  " << report->unchanged
            << " files already in place with the backed-up content (checked, not written)\n";
        }
        if (report->skipped_existing) {
          o << "  " << report->skipped_existing << " existing items kept (--skip)\n";
        }
        if (restore.target) {
          o << "  under " << *restore.target << ", each item at its full original path";
          if (!restore.items.empty()) {
            o << " (" << engine::RestoredPath(*restore.target, restore.items.front()) << ")";
          }
          o << "\n";
        }
        for (const auto& f : report->warnings) {
          err << "  warning: " << f.path << ": " << f.error << "\n";
        }
        for (const auto& f : report->failed_files) {
          err << "  not recovered: " << f.path << ": " << f.error << "\n";
        }
        if (!job.failed_files_log.empty()) {
          o << "  listed in " << job.failed_files_log << "\n";
        }
      });
  return report->state == engine::JobState::kCompleted               ? kExitOk
         : report->state == engine::JobState::kCompletedWithWarnings ? kExitWarnings
                                                                     : kExitFailed;
}

}  // namespace

int RecoveryList(Globals& g, const std::vector<std::string>& args) {
  SourceOptions source;
  OptionSet options("recovery list");
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto pass = OptionalPassphrase(g, source);
  if (!pass.ok()) return Fail(g, pass.status());
  Result<engine::OpenedAgent> agent = OpenFor(g, source, *pass);
  if (!agent.ok()) return Fail(g, agent.status());
  std::vector<engine::DamagedObject> damaged;
  auto points = agent->repo->ListRecoveryPoints(&damaged);
  if (!points.ok()) return Fail(g, points.status());
  // Damaged points are named, the intact ones listed.
  for (const auto& d : damaged) g.out->Warning(d.ToString());
  json list = json::array();
  for (const auto& p : *points) {
    const auto& s = p.point.stats;
    list.push_back({{"id", p.id},
                    {"time", Time(p.point.time_ns)},
                    {"hostname", p.point.hostname},
                    {"paths", p.point.paths},
                    {"files", s.files},
                    {"bytes", s.bytes_scanned}});
    if (!p.point.repaired_from.empty()) list.back()["repaired_from"] = p.point.repaired_from;
  }
  g.out->Result({{"ok", true}, {"points", list}}, [&](std::ostream& o, std::ostream&) {
    for (const auto& p : *points) {
      const auto& s = p.point.stats;
      o << p.id.substr(0, 12) << "  " << TextTime(p.point.time_ns) << "  " << s.files << " files  "
        << HumanBytes(s.bytes_scanned);
      for (const auto& path : p.point.paths) o << "  " << path;
      if (!p.point.repaired_from.empty()) {
        o << "  (repaired from " << p.point.repaired_from.substr(0, 12) << ")";
      }
      o << "\n";
    }
  });
  return kExitOk;
}

int RecoveryItems(Globals& g, const std::vector<std::string>& args) {
  std::string point_id, path = "/";
  SourceOptions source;
  OptionSet options("recovery items");
  options.Add("point", &point_id, "recovery point").Required();
  options.Add("path", &path, "folder in the recovery point").Positional();
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto opened = OpenPointFor(g, source, point_id);
  if (!opened.ok()) return Fail(g, opened.status());
  engine::Repository& repo = *opened->agent.repo;
  auto node = engine::FindNode(repo, opened->point.point.tree, path);
  if (!node.ok()) return Fail(g, node.status());
  std::vector<tree::Node> nodes;
  if (node->type == tree::NodeType::kDirectory) {
    auto t = repo.ReadTree(*node->subtree);
    if (!t.ok()) return Fail(g, t.status());
    nodes = t->nodes;
  } else {
    nodes.push_back(*node);
  }
  json list = json::array();
  for (const auto& n : nodes) {
    list.push_back({{"name", n.name},
                    {"type", tree::NodeTypeName(n.type)},
                    {"size", n.size},
                    {"mode", n.mode},
                    {"mtime", Time(n.mtime_ns)}});
  }
  g.out->Result({{"ok", true}, {"items", list}}, [&](std::ostream& o, std::ostream&) {
    for (const auto& n : nodes) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", n.mode);
      o << tree::NodeTypeName(n.type) << "\t" << mode << "\t" << n.size << "\t"
        << TextTime(n.mtime_ns) << "\t" << n.name
        << (n.type == tree::NodeType::kSymlink ? " -> " + n.symlink_target : "") << "\n";
    }
  });
  return kExitOk;
}

// Instant Restore: the recovery point as a read-only folder, served by this
// process until it is unmounted; files are fetched and decrypted as they
// are read.
int RecoveryMount(Globals& g, const std::vector<std::string>& args) {
  std::string point_id, mount_point;
  bool allow_other = false;
  SourceOptions source;
  OptionSet options("recovery mount");
  options.Add("point", &point_id, "recovery point or 'latest'").Required();
  options.Add("dir", &mount_point, "existing folder to mount it at").Positional().Required();
  options.Add("allow-other", &allow_other, "let other users read the mounted files");
  AddSourceOptions(options, source);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto dir = g.env->AbsolutePath(mount_point);
  if (!dir.ok()) return Fail(g, dir.status());
  auto opened = OpenPointFor(g, source, point_id);
  if (!opened.ok()) return Fail(g, opened.status());
  const engine::NamedRecoveryPoint& point = opened->point;
  engine::RecoveryPointReader reader(*opened->agent.repo, point.point);
  platform::MountOptions mount;
  mount.source_name = "obagent:" + point.id.substr(0, 12);
  mount.allow_other = allow_other;
  mount.on_mounted = [&] {
    g.out->Event({{"ok", true},
                  {"state", "mounted"},
                  {"recovery_point", point.id},
                  {"time", Time(point.point.time_ns)},
                  {"mount_point", *dir}},
                 [&](std::ostream& o, std::ostream&) {
                   o << "Recovery point " << point.id.substr(0, 12) << " ("
                     << TextTime(point.point.time_ns) << ") mounted read-only at " << *dir
                     << "\nUnmount with 'obctl recovery unmount " << *dir << "' or Ctrl+C.\n";
                 });
  };
  mount.on_read_error = [](const std::string& path, const Status& error) {
    std::cerr << "obctl: reading " << path << " failed: " << error.ToString() << std::endl;
  };
  Status st = platform::ServeReadOnlyMount(reader, *dir, mount);
  if (!st.ok()) return Fail(g, st.WithContext("mounting the recovery point"));
  g.out->Event({{"ok", true}, {"state", "unmounted"}, {"mount_point", *dir}},
               [&](std::ostream& o, std::ostream&) { o << "Unmounted " << *dir << "\n"; });
  return kExitOk;
}

int RecoveryUnmount(Globals& g, const std::vector<std::string>& args) {
  std::string mount_point;
  OptionSet options("recovery unmount");
  options.Add("dir", &mount_point, "where the recovery point is mounted").Positional().Required();
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto dir = g.env->AbsolutePath(mount_point);
  if (!dir.ok()) return Fail(g, dir.status());
  Status st = platform::UnmountReadOnly(*dir);
  if (!st.ok()) return Fail(g, st);
  g.out->Result({{"ok", true}, {"mount_point", *dir}},
                [&](std::ostream& o, std::ostream&) { o << "Unmounted " << *dir << "\n"; });
  return kExitOk;
}

// Start-OBRecovery: the engine's Recovery job, run in this process.
int Recover(Globals& g, const std::vector<std::string>& args) {
  RecoverArgs a;
  OptionSet options("recover");
  AddRecoverOptions(options, a);
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  if (a.overwrite + a.create_copy + a.skip > 1) {
    return Fail(g, InvalidArgument("choose one of --overwrite, --create-copy, --skip"));
  }
  engine::RecoveryJobRequest request;
  request.restore = a.request;
  request.restore.restore_permissions = !a.no_permissions;
  request.restore.conflict = a.skip          ? engine::ConflictPolicy::kSkip
                             : a.create_copy ? engine::ConflictPolicy::kCreateCopy
                                             : engine::ConflictPolicy::kOverwrite;
  if (request.restore.target) {
    auto abs = g.env->AbsolutePath(*request.restore.target);
    if (!abs.ok()) return Fail(g, abs.status());
    request.restore.target = *abs;
  }
  auto machine = RecoveryMachineFor(g, a.source);
  if (!machine.ok()) return Fail(g, machine.status());
  request.machine = *machine;
  ProgressLine line(g.out->ShowsProgress(), "Recovering");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::RecoveryJobOutcome out = engine::RunRecoveryJob(*g.env, g.state_dir, request);
  line.Finish();
  return PresentRecovery(g, request, request.machine.machine.empty(), out);
}

// The restore drill (Start-OBRecoveryTest, if MARS had one): the engine's
// RecoveryTest job, run in this process.
int RecoveryTest(Globals& g, const std::vector<std::string>& args) {
  engine::RecoveryTestJobRequest request;
  std::optional<int> sample;
  std::optional<double> percent;
  OptionSet options("recovery test");
  options.Add("point", &request.point, "recovery point or 'latest'");
  options.Add("sample", &sample, "how many files to restore (default 100)");
  options.Add("percent", &percent, "or this share of the point's files, in percent");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  if (sample && percent) return UsageError(options, "give --sample or --percent, not both");
  if (sample && *sample < 1) return UsageError(options, "--sample must be at least 1");
  if (sample) request.sample.count = static_cast<uint64_t>(*sample);
  if (percent) {
    if (!(*percent > 0 && *percent <= 100)) {
      return UsageError(options, "--percent must be above 0 and at most 100");
    }
    request.sample.percent = *percent;
  }
  ProgressLine line(g.out->ShowsProgress(), "Restoring the sample");
  request.progress = [&](const engine::Progress& p) { line.Update(p); };
  engine::RecoveryTestJobOutcome out = engine::RunRecoveryTestJob(*g.env, g.state_dir, request);
  line.Finish();
  if (!out.report) {
    if (out.record.state == engine::JobState::kCancelled) {
      g.out->Result({{"ok", false}, {"job", JobJson(out.record)}, {"state", "Cancelled"}},
                    [&](std::ostream& o, std::ostream&) {
                      o << "Recovery test Cancelled (job " << out.record.id << ")\n";
                    });
      return kExitFailed;
    }
    return Fail(g, out.status);
  }
  const engine::RecoveryTestReport& r = *out.report;
  g.out->Result({{"ok", r.state != engine::JobState::kFailed},
                 {"job", JobJson(out.record)},
                 {"state", engine::JobStateName(r.state)},
                 {"recovery_point", r.point_id},
                 {"files_in_point", r.files_in_point},
                 {"sampled", r.sampled},
                 {"identical", r.identical},
                 {"bytes", r.bytes},
                 {"seconds", r.seconds},
                 {"files_per_second", r.files_per_second},
                 {"bytes_per_second", r.bytes_per_second},
                 {"damage", r.damage},
                 {"message", out.record.error},
                 {"failed_files", FailedFilesJson(r.failed_files)},
                 {"failed_files_log", out.record.failed_files_log}},
                [&](std::ostream& o, std::ostream& err) {
                  o << "Recovery test " << engine::JobStateName(r.state) << ": recovery point "
                    << r.point_id.substr(0, 12) << "\n  " << engine::DescribeRecoveryTest(r)
                    << "\n";
                  if (!out.record.error.empty()) o << "  " << out.record.error << "\n";
                  for (const auto& f : r.failed_files)
                    err << "  " << f.path << ": " << f.error << "\n";
                  if (!out.record.failed_files_log.empty()) {
                    o << "  failed files: " << out.record.failed_files_log << "\n";
                  }
                });
  return r.state == engine::JobState::kCompleted               ? kExitOk
         : r.state == engine::JobState::kCompletedWithWarnings ? kExitWarnings
                                                               : kExitFailed;
}

}  // namespace obagent::cli
