// The restore drill: a random sample of a recovery point restored with the
// real restore into a private folder, compared with the point's tree, and
// removed. See include/obagent/engine/recovery_test.h.
#include "obagent/engine/recovery_test.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "engine/paths.h"
#include "obagent/core/blob_id.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/engine_log.h"
#include "obagent/engine/job_runner.h"
#include "obagent/engine/restore.h"

namespace obagent::engine {

namespace {

constexpr char kSampleFolderPrefix[] = "recovery-test-";

bool IsDriveName(const std::string& name) {
  return name.size() == 2 && name[1] == ':' &&
         ((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z'));
}

// The point path of a child of the folder at `dir` ("" = the point's root).
std::string ChildPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return IsDriveName(name) ? name : "/" + name;
  return JoinPath(dir, name);
}

std::string FormatRate(double value, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s/s", value, unit);
  return buf;
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (bytes >= 1024 && u + 1 < std::size(units)) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

// The first chunk of the node that cannot be read back from the vault, as
// the repository words it ("blob … in pack …: …"); "" when all can.
std::string UnreadableChunk(Repository& repo, const tree::Node& node) {
  std::string first;
  tree::ForEachChunk(node, [&](const tree::ChunkRef& chunk) {  // named streams too
    if (!first.empty()) return;
    Result<Bytes> data = repo.ReadBlob(chunk.id);
    if (!data.ok()) first = data.status().ToString();
  });
  return first;
}

// Removes sample folders of drills whose process died (they would never be
// removed otherwise); folders of drills still running are left alone.
void RemoveStaleSampleFolders(platform::Env& env, const std::string& work_dir,
                              JobHistory* history) {
  auto entries = env.ListDir(work_dir);
  if (!entries.ok()) return;
  for (const auto& e : *entries) {
    if (!e.name.starts_with(kSampleFolderPrefix)) continue;
    std::string job = e.name.substr(std::strlen(kSampleFolderPrefix));
    if (history != nullptr && job.size() >= 4) {
      auto record = history->Find(job);
      if (record.ok() && record->state == JobState::kInProgress) continue;
    }
    (void)env.RemoveAll(JoinPath(work_dir, e.name));
  }
}

}  // namespace

Status RecoveryTestSample::Validate() const {
  if (percent != 0) {
    if (!(percent > 0 && percent <= 100)) {
      return InvalidArgument("the sample percentage must be above 0 and at most 100");
    }
    return Status::Ok();
  }
  if (count == 0) return InvalidArgument("the sample must hold at least one file");
  return Status::Ok();
}

uint64_t RecoveryTestSample::CountOf(uint64_t total) const {
  if (percent > 0) {
    auto n = static_cast<uint64_t>(std::ceil(static_cast<double>(total) * percent / 100.0));
    return std::min(total, std::max<uint64_t>(n, total > 0 ? 1 : 0));
  }
  return std::min(total, count);
}

Result<std::vector<PointFile>> ListPointFiles(Repository& repo, const ObjectId& root) {
  std::vector<PointFile> files;
  std::vector<std::pair<std::string, ObjectId>> folders = {{"", root}};
  while (!folders.empty()) {
    auto [dir, id] = std::move(folders.back());
    folders.pop_back();
    Result<tree::Tree> tree = repo.ReadTree(id);
    if (!tree.ok()) {
      return tree.status().WithContext("reading the folder '" + (dir.empty() ? "/" : dir) + "'");
    }
    for (tree::Node& node : tree->nodes) {
      std::string path = ChildPath(dir, node.name);
      if (node.type == tree::NodeType::kDirectory) {
        if (node.subtree) folders.emplace_back(path, *node.subtree);
      } else {
        files.push_back({std::move(path), std::move(node)});
      }
    }
  }
  return files;
}

// Whether `file` holds exactly `chunks` (each re-hashed against its id) and
// `size` bytes: "" if so, else what differs.
std::string CompareChunks(platform::ReadableFile& file, const crypto::Key& id_key,
                          const std::vector<tree::ChunkRef>& chunks, uint64_t size) {
  uint64_t offset = 0;
  Bytes buffer;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const tree::ChunkRef& chunk = chunks[i];
    buffer.resize(chunk.size);
    size_t got = 0;
    while (got < chunk.size) {
      Result<size_t> n = file.ReadAt(offset + got, buffer.data() + got, chunk.size - got);
      if (!n.ok()) return n.status().ToString();
      if (*n == 0) break;
      got += *n;
    }
    if (got != chunk.size) {
      return "ends inside chunk " + std::to_string(i + 1) + " of " + std::to_string(chunks.size());
    }
    if (!BlobId::Matches(id_key, buffer, chunk.id)) {
      return "bytes " + std::to_string(offset) + ".." + std::to_string(offset + chunk.size) +
             " (chunk " + std::to_string(i + 1) + " of " + std::to_string(chunks.size()) +
             ") differ from the recovery point: their hash is not the chunk's id";
    }
    offset += chunk.size;
  }
  if (offset != size) {
    return "the recovery point's chunks hold " + std::to_string(offset) + " bytes, its size says " +
           std::to_string(size);
  }
  uint8_t extra;
  Result<size_t> more = file.ReadAt(offset, &extra, 1);
  if (more.ok() && *more != 0)
    return "longer than the recovery point's " + std::to_string(size) + " bytes";
  return "";
}

FileComparison CompareRestoredFile(platform::Env& env, const crypto::Key& id_key,
                                   const tree::Node& node, const std::string& path,
                                   const CompareOptions& options) {
  FileComparison out;
  auto content = [&](std::string why) {
    out.content = true;
    out.problem = std::move(why);
    return out;
  };
  Result<platform::FileInfo> info = env.Lstat(path);
  if (!info.ok()) return content("not restored: " + info.status().ToString());
  if (node.type == tree::NodeType::kSymlink) {
    if (info->kind != platform::FileKind::kSymlink)
      return content("restored, but not as a symlink");
    Result<std::string> target = env.ReadLink(path);
    if (!target.ok()) return content(target.status().ToString());
    if (*target != node.symlink_target) {
      return content("the symlink points to '" + *target + "', the recovery point has '" +
                     node.symlink_target + "'");
    }
    return out;
  }
  if (info->kind != platform::FileKind::kRegular) return content("restored, but not as a file");
  if (info->size != node.size) {
    return content("size " + std::to_string(info->size) + ", the recovery point has " +
                   std::to_string(node.size));
  }
  Result<std::unique_ptr<platform::ReadableFile>> file = env.OpenForRead(path);
  if (!file.ok()) return content(file.status().ToString());
  std::string differs = CompareChunks(**file, id_key, node.content, node.size);
  if (!differs.empty()) return content(differs);
  // Named streams, where this system has them (elsewhere the restore
  // warned that they were not restored).
  for (const tree::NamedStream& stream : node.streams) {
    Result<std::unique_ptr<platform::ReadableFile>> s = env.OpenStreamForRead(path, stream.name);
    if (!s.ok() && s.status().code() == ErrorCode::kUnsupported) break;
    if (!s.ok()) return content("stream '" + stream.name + "': " + s.status().ToString());
    differs = CompareChunks(**s, id_key, stream.content, stream.size);
    if (!differs.empty()) return content("stream '" + stream.name + "': " + differs);
  }
  std::string meta;
  auto add = [&](const std::string& what) { meta += (meta.empty() ? "" : "; ") + what; };
  if ((info->mode & 07777) != (node.mode & 07777)) {
    char buf[80];
    std::snprintf(buf, sizeof buf, "mode %04o, the recovery point has %04o", info->mode & 07777,
                  node.mode & 07777);
    add(buf);
  }
  if (info->mtime_ns != node.mtime_ns) {
    add("modified " + std::to_string(info->mtime_ns) + " ns, the recovery point has " +
        std::to_string(node.mtime_ns));
  }
  if (options.check_owner && (info->uid != node.uid || info->gid != node.gid)) {
    add("owner " + std::to_string(info->uid) + ":" + std::to_string(info->gid) +
        ", the recovery point has " + std::to_string(node.uid) + ":" + std::to_string(node.gid));
  }
  out.problem = meta;
  return out;
}

Result<RecoveryTestReport> RunRecoveryTest(Repository& repo, const RecoveryTestOptions& options) {
  OB_RETURN_IF_ERROR(options.sample.Validate());
  if (options.work_dir.empty()) return InvalidArgument("no folder for the drill's sample");
  platform::Env& env = repo.env();
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->load(); };
  RecoveryTestReport report;
  OB_ASSIGN_OR_RETURN(NamedRecoveryPoint point, repo.FindRecoveryPoint(options.point));
  report.point_id = point.id;
  OB_ASSIGN_OR_RETURN(std::vector<PointFile> files, ListPointFiles(repo, point.point.tree));
  report.files_in_point = files.size();

  // The draw: a partial Fisher-Yates shuffle, then point order (a restore
  // reads packs best in the order the backup wrote them).
  uint64_t want = options.sample.CountOf(files.size());
  uint64_t seed = 0;
  if (options.seed) {
    seed = *options.seed;
  } else {
    Bytes random = crypto::RandomBytes(sizeof seed);
    std::memcpy(&seed, random.data(), sizeof seed);
  }
  std::mt19937_64 rng(seed);
  for (uint64_t i = 0; i < want; ++i) {
    std::uniform_int_distribution<uint64_t> pick(i, files.size() - 1);
    std::swap(files[i], files[pick(rng)]);
  }
  files.resize(want);
  std::sort(files.begin(), files.end(),
            [](const PointFile& a, const PointFile& b) { return a.path < b.path; });
  report.sampled = files.size();
  if (files.empty()) return report;
  if (cancelled()) return Status(ErrorCode::kCancelled, "the job was stopped");

  // The private sample folder, removed whatever happens from here on.
  OB_RETURN_IF_ERROR(env.CreateDirs(options.work_dir, /*owner_only=*/true));
  std::string tag = options.tag.empty() ? ToHex(crypto::RandomBytes(8)) : options.tag;
  report.sample_dir = JoinPath(options.work_dir, kSampleFolderPrefix + tag);
  OB_RETURN_IF_ERROR(env.RemoveAll(report.sample_dir));
  OB_RETURN_IF_ERROR(env.CreateDirs(report.sample_dir, /*owner_only=*/true));
  struct Cleanup {
    platform::Env& env;
    const std::string& dir;
    bool done = false;
    Status Run() {
      done = true;
      return env.RemoveAll(dir);
    }
    ~Cleanup() {
      if (!done) (void)env.RemoveAll(dir);
    }
  } cleanup{env, report.sample_dir};
  // Owners are restored (and compared) when the drill may set them: the
  // folder it just made belongs to root.
  CompareOptions compare;
  if (auto own = env.Lstat(report.sample_dir); own.ok()) compare.check_owner = own->uid == 0;

  auto started = std::chrono::steady_clock::now();
  RestoreOptions restore;
  restore.point = point.id;
  restore.target = report.sample_dir;
  restore.threads = options.threads;
  restore.progress = options.progress;
  restore.cancel = options.cancel;
  restore.durable = false;  // the sample is deleted when compared
  // The restore names a failed file by where it lands (or by its path in
  // the point): either finds the sampled file.
  std::map<std::string, const PointFile*> by_restored_path;
  for (const PointFile& f : files) {
    restore.items.push_back(f.path);
    by_restored_path[RestoredPath(report.sample_dir, f.path)] = &f;
    by_restored_path[f.path] = &f;
  }
  Result<RestoreReport> restored = RunRestore(repo, restore);
  if (!restored.ok()) return restored.status();

  // Files the restore could not write: damage in the vault (read the file's
  // chunks again to know, and to name the pack) or a local problem.
  std::set<const PointFile*> done;
  std::set<std::string> damage;
  for (const FailedFile& failed : restored->failed_files) {
    auto it = by_restored_path.find(failed.path);
    const PointFile* f = it == by_restored_path.end() ? nullptr : it->second;
    std::string unreadable = f ? UnreadableChunk(repo, f->node) : "";
    if (!unreadable.empty()) {
      ++report.data_failures;
      damage.insert(unreadable);
      report.failed_files.push_back({f->path, "not restored: " + unreadable, failed.os_error});
    } else {
      report.failed_files.push_back(
          {f ? f->path : failed.path, "not restored: " + failed.error, failed.os_error});
    }
    if (f) done.insert(f);
  }
  for (const PointFile& f : files) {
    if (cancelled()) return Status(ErrorCode::kCancelled, "the job was stopped");
    if (done.contains(&f)) continue;
    FileComparison cmp = CompareRestoredFile(env, repo.keys().id_key, f.node,
                                             RestoredPath(report.sample_dir, f.path), compare);
    if (cmp.problem.empty()) {
      ++report.identical;
      if (f.node.type == tree::NodeType::kFile) report.bytes += f.node.size;
      continue;
    }
    if (cmp.content) ++report.data_failures;
    report.failed_files.push_back({f.path, cmp.problem, 0});
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  double seconds = std::max(report.seconds, 1e-6);
  report.files_per_second = static_cast<double>(report.identical) / seconds;
  report.bytes_per_second = static_cast<double>(report.bytes) / seconds;
  report.damage.assign(damage.begin(), damage.end());
  Status removed = cleanup.Run();
  if (!removed.ok()) {
    report.failed_files.push_back(
        {report.sample_dir, "the sample folder could not be removed: " + removed.ToString(), 0});
  }
  report.state = report.data_failures > 0      ? JobState::kFailed
                 : report.failed_files.empty() ? JobState::kCompleted
                                               : JobState::kCompletedWithWarnings;
  return report;
}

RecoveryTestSample SampleOf(const RecoveryTestPolicy& drill) {
  RecoveryTestSample sample;
  sample.count = drill.sample_files;
  sample.percent = drill.sample_percent;
  return sample;
}

RecoveryTestSample PolicySampleOrDefault(platform::Env& env, const std::string& state_dir) {
  auto policy = LoadPolicy(env, state_dir);
  if (policy.ok() && policy->recovery_test) return SampleOf(*policy->recovery_test);
  return RecoveryTestSample{};
}

std::string DescribeRecoveryTest(const RecoveryTestReport& r) {
  std::string text = std::to_string(r.identical) + " of " + std::to_string(r.sampled) +
                     " sampled files (of " + std::to_string(r.files_in_point) +
                     ") restored and identical, " + FormatBytes(static_cast<double>(r.bytes)) +
                     ", " + FormatRate(r.files_per_second, "files") + ", " +
                     FormatBytes(r.bytes_per_second) + "/s";
  if (!r.failed_files.empty()) {
    text += "; " + std::to_string(r.failed_files.size()) + " failed";
  }
  return text;
}

namespace {

// The work of a RecoveryTest job: the drill. Fills `out.report`.
Status RecoveryTestWork(JobContext& ctx, const RecoveryTestJobRequest& request,
                        RecoveryTestJobOutcome& out) {
  JobRecord& job = ctx.record;
  RecoveryTestOptions options;
  options.point = request.point;
  options.sample = request.sample;
  options.work_dir = ctx.agent.config.scratch_dir;
  options.tag = job.id;
  options.progress = ctx.progress;
  options.seed = request.seed;
  options.cancel = ctx.cancel;
  RemoveStaleSampleFolders(ctx.env, options.work_dir, job.id.empty() ? nullptr : &ctx.history);
  Result<RecoveryTestReport> report = RunRecoveryTest(*ctx.agent.repo, options);
  if (!report.ok()) return report.status();
  const RecoveryTestReport& r = *report;
  job.state = r.state;
  job.recovery_point = r.point_id;
  job.files = r.identical;
  job.bytes_scanned = r.bytes;
  job.bytes_transferred = r.bytes;
  job.summary = DescribeRecoveryTest(r);
  ctx.failed_files = r.failed_files;
  if (r.state == JobState::kFailed) {
    job.error = std::to_string(r.data_failures) + " of " + std::to_string(r.sampled) +
                " sampled files did not come back";
    if (!r.damage.empty()) {
      job.error += ": " + r.damage.front();
      if (r.damage.size() > 1) {
        job.error += " (and " + std::to_string(r.damage.size() - 1) + " more damaged objects)";
      }
    } else {
      job.error += ": " + r.failed_files.front().path + ": " + r.failed_files.front().error;
    }
  } else if (r.state == JobState::kCompletedWithWarnings) {
    job.error = std::to_string(r.failed_files.size()) + " of " + std::to_string(r.sampled) +
                " sampled files differ or could not be restored here";
  }
  ctx.log_detail = "recovery point " + r.point_id + ", " + job.summary +
                   (job.error.empty() ? "" : "; " + job.error);
  out.report = std::move(report).value();
  return Status::Ok();
}

}  // namespace

RecoveryTestJobOutcome RunRecoveryTestJob(platform::Env& env, const std::string& state_dir,
                                          const RecoveryTestJobRequest& request) {
  RecoveryTestJobOutcome out;
  JobSpec spec;
  spec.type = "RecoveryTest";
  spec.title = "Recovery test";
  spec.name = "recovery test";
  spec.milestones =
      JobMilestones{Milestone::kRecoveryTestStarted, Milestone::kRecoveryTestCompleted,
                    Milestone::kRecoveryTestCompletedWithWarnings, Milestone::kRecoveryTestFailed};
  spec.failed_files_log = "LastRecoveryTestFailedFiles";
  spec.progress = request.progress;
  spec.on_start = request.on_start;
  Status valid = request.sample.Validate();
  JobOutcome job = JobRunner(env, state_dir).Run(spec, [&](JobContext& ctx) {
    if (!valid.ok()) return valid;
    return RecoveryTestWork(ctx, request, out);
  });
  out.record = std::move(job.record);
  out.status = std::move(job.status);
  return out;
}

}  // namespace obagent::engine
