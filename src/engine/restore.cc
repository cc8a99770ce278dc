#include "obagent/engine/restore.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/executor.h"
#include "engine/paths.h"
#include "obagent/core/crypto.h"
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

using Clock = std::chrono::steady_clock;
using platform::FileKind;
using platform::RestoreDir;

// Directory handles are kept open only until their attributes are applied;
// past this many finished folders the job drains and applies them.
constexpr size_t kMaxPendingDirs = 256;

struct FileJob {
  std::shared_ptr<RestoreDir> dir;
  std::unique_ptr<platform::WritableFile> file;
  tree::Node node;
  std::string temp_name;
  std::string final_name;
  std::string display;
  std::atomic<size_t> remaining{0};
  std::mutex mu;
  std::string error;  // first failure
};

struct PendingDirAttrs {
  std::shared_ptr<RestoreDir> dir;
  tree::Node node;
};

struct PendingLink {
  std::shared_ptr<RestoreDir> dir;
  std::string name;
  std::string target_rel;  // path in the recovery point of the first name
  tree::Node node;         // to restore as a copy if the link cannot be made
  std::string display;
};

struct LinkAnchor {
  std::shared_ptr<RestoreDir> dir;
  std::string name;
};

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& options)
      : repo_(repo),
        options_(options),
        threads_(options.threads ? options.threads
                                 : std::max(1u, std::thread::hardware_concurrency())),
        executor_(threads_, 4 * threads_ + 4) {}

  Result<RestoreReport> Run();

 private:
  void RestoreNode(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                   const std::string& rel, const std::string& display);
  void RestoreDirectory(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                        const std::string& rel, const std::string& display);
  void RestoreFile(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                   const std::string& name, const std::string& display);
  void RestoreSymlink(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                      const std::string& name, const std::string& display);
  // Resolves a name clash per the policy; returns false to restore nothing.
  bool ResolveName(RestoreDir& dir, const tree::Node& node, const std::string& display,
                   std::string& name);
  void FinishFile(const std::shared_ptr<FileJob>& job);
  void ApplyPending();
  void Failed(const std::string& path, const std::string& error);
  bool Cancelled() const {
    return options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed);
  }
  void ReportProgress(bool force);
  uint32_t ModeOf(const tree::Node& node) const {
    return options_.restore_permissions ? node.mode : platform::kDefaultPermissions;
  }

  Repository& repo_;
  const RestoreOptions& options_;
  size_t threads_;
  BoundedExecutor executor_;
  std::mutex mu_;
  std::vector<FailedFile> failed_;
  std::atomic<uint64_t> files_{0};
  std::atomic<uint64_t> bytes_{0};
  uint64_t skipped_existing_ = 0;
  uint64_t hardlinks_ = 0;
  uint64_t bytes_total_ = 0;
  std::vector<PendingDirAttrs> pending_dirs_;
  std::vector<PendingLink> pending_links_;
  std::map<std::string, LinkAnchor> anchors_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_progress_{};
};

void RestoreRun::Failed(const std::string& path, const std::string& error) {
  std::lock_guard lock(mu_);
  failed_.push_back({path, error});
}

void RestoreRun::ReportProgress(bool force) {
  if (!options_.progress) return;
  auto now = Clock::now();
  if (!force && now - last_progress_ < std::chrono::milliseconds(200)) return;
  last_progress_ = now;
  Progress p;
  p.files_done = files_;
  p.bytes_done = bytes_;
  p.bytes_total = bytes_total_;
  p.elapsed_seconds = std::chrono::duration<double>(now - start_).count();
  options_.progress(p);
}

bool RestoreRun::ResolveName(RestoreDir& dir, const tree::Node& node, const std::string& display,
                             std::string& name) {
  Result<FileKind> existing = dir.Probe(name);
  if (!existing.ok()) {
    if (existing.status().code() == ErrorCode::kNotFound) return true;
    Failed(display, existing.status().ToString());
    return false;
  }
  bool node_is_dir = node.type == tree::NodeType::kDirectory;
  if (node_is_dir && *existing == FileKind::kDirectory) return true;  // folders merge
  switch (options_.conflict) {
    case ConflictPolicy::kSkip:
      ++skipped_existing_;
      return false;
    case ConflictPolicy::kOverwrite:
      if (*existing == FileKind::kDirectory) {
        Failed(display, "a folder with this name is in the way; not replaced");
        return false;
      }
      if (node_is_dir) {
        Status st = dir.Remove(name);
        if (!st.ok()) {
          Failed(display, st.ToString());
          return false;
        }
      }
      return true;
    case ConflictPolicy::kCreateCopy:
      for (int n = 1; n < 10000; ++n) {
        std::string candidate =
            name + (n == 1 ? " (restored)" : " (restored " + std::to_string(n) + ")");
        Result<FileKind> taken = dir.Probe(candidate);
        if (!taken.ok() && taken.status().code() == ErrorCode::kNotFound) {
          name = candidate;
          return true;
        }
      }
      Failed(display, "no free name for a copy");
      return false;
  }
  return false;
}

void RestoreRun::FinishFile(const std::shared_ptr<FileJob>& job) {
  Status st = job->error.empty() ? job->file->Close() : Status::Ok();
  if (job->error.empty() && st.ok()) {
    st = job->dir->Rename(job->temp_name, job->final_name);
  }
  if (job->error.empty() && st.ok()) {
    st = job->dir->SetAttributes(job->final_name, ModeOf(job->node), job->node.mtime_ns,
                                 job->node.uid, job->node.gid, false);
  }
  if (!job->error.empty() || !st.ok()) {
    if (job->error.empty()) (void)job->file->Close();
    (void)job->dir->Remove(job->temp_name);
    Failed(job->display, job->error.empty() ? st.ToString() : job->error);
    return;
  }
  ++files_;
}

void RestoreRun::RestoreFile(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                             const std::string& name, const std::string& display) {
  auto job = std::make_shared<FileJob>();
  job->dir = dir;
  job->node = node;
  job->final_name = name;
  job->display = display;
  job->temp_name = ".obrestore-" + ToHex(crypto::RandomBytes(8));
  Result<std::unique_ptr<platform::WritableFile>> file = dir->CreateFile(job->temp_name, true);
  if (!file.ok()) {
    Failed(display, file.status().ToString());
    return;
  }
  job->file = std::move(file).value();
  Status st = job->file->Truncate(node.size);
  if (!st.ok()) job->error = st.ToString();
  if (node.content.empty() || !job->error.empty()) {
    FinishFile(job);
    return;
  }
  job->remaining = node.content.size();
  uint64_t offset = 0;
  for (const tree::ChunkRef& chunk : node.content) {
    executor_.Submit([this, job, chunk, offset] {
      bool skip;
      {
        std::lock_guard lock(job->mu);
        if (job->error.empty() && Cancelled()) job->error = "the job was stopped";
        skip = !job->error.empty();
      }
      if (!skip) {
        Result<Bytes> data = repo_.ReadBlob(chunk.id);
        Status st = !data.ok() ? data.status()
                    : data->size() != chunk.size
                        ? Corrupt("chunk " + chunk.id.Hex() + " has the wrong size")
                        : job->file->WriteAt(offset, *data);
        if (!st.ok()) {
          std::lock_guard lock(job->mu);
          if (job->error.empty()) job->error = st.ToString();
        } else {
          bytes_ += chunk.size;
        }
      }
      if (--job->remaining == 0) FinishFile(job);
    });
    offset += chunk.size;
  }
}

void RestoreRun::RestoreSymlink(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                                const std::string& name, const std::string& display) {
  Status st = dir->CreateSymlink(name, node.symlink_target,
                                 options_.conflict == ConflictPolicy::kOverwrite);
  if (st.ok()) {
    st = dir->SetAttributes(name, ModeOf(node), node.mtime_ns, node.uid, node.gid, true);
  }
  if (!st.ok()) {
    Failed(display, st.ToString());
    return;
  }
  ++files_;
}

void RestoreRun::RestoreDirectory(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                                  const std::string& rel, const std::string& display) {
  if (!node.subtree) {
    Failed(display, "folder without a tree");
    return;
  }
  Result<tree::Tree> tree = repo_.ReadTree(*node.subtree);
  if (!tree.ok()) {
    Failed(display, tree.status().ToString());
    return;
  }
  Result<std::unique_ptr<RestoreDir>> sub = dir->OpenOrCreateSubdir(node.name);
  if (!sub.ok()) {
    Failed(display, sub.status().ToString());
    return;
  }
  std::shared_ptr<RestoreDir> subdir = std::move(sub).value();
  for (const tree::Node& child : tree->nodes) {
    RestoreNode(subdir, child, rel + "/" + child.name, JoinPath(display, child.name));
    ReportProgress(false);
  }
  pending_dirs_.push_back({subdir, node});
  if (pending_dirs_.size() >= kMaxPendingDirs) ApplyPending();
}

void RestoreRun::RestoreNode(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                             const std::string& rel, const std::string& display) {
  if (Cancelled()) return;
  if (!tree::IsSafeName(node.name)) {
    Failed(display,
           Status(ErrorCode::kPathEscape, "unsafe name in recovery point; refused").ToString());
    return;
  }
  std::string name = node.name;
  if (!ResolveName(*dir, node, display, name)) return;
  switch (node.type) {
    case tree::NodeType::kDirectory: {
      tree::Node renamed = node;
      renamed.name = name;
      RestoreDirectory(dir, renamed, rel, display);
      return;
    }
    case tree::NodeType::kSymlink:
      RestoreSymlink(dir, node, name, display);
      return;
    case tree::NodeType::kFile:
      if (!node.hardlink_to.empty()) {
        pending_links_.push_back({dir, name, node.hardlink_to, node, display});
        return;
      }
      if (node.link_count > 1) anchors_[rel] = {dir, name};
      RestoreFile(dir, node, name, display);
      return;
  }
}

void RestoreRun::ApplyPending() {
  executor_.Drain();
  // Hard links need their first name finished; a first name not restored in
  // this job makes the link a copy.
  std::vector<PendingLink> links = std::move(pending_links_);
  pending_links_.clear();
  bool copies = false;
  for (PendingLink& link : links) {
    auto it = anchors_.find(link.target_rel);
    if (it != anchors_.end()) {
      if (options_.conflict == ConflictPolicy::kOverwrite) (void)link.dir->Remove(link.name);
      Status st = link.dir->CreateHardLink(link.name, *it->second.dir, it->second.name, false);
      if (st.ok()) {
        ++hardlinks_;
        ++files_;
        continue;
      }
    }
    RestoreFile(link.dir, link.node, link.name, link.display);
    copies = true;
  }
  if (copies) executor_.Drain();
  // Folders last, innermost first: creating and renaming entries changes a
  // folder's mtime, and a read-only mode would stop the writes.
  for (PendingDirAttrs& d : pending_dirs_) {
    Status st = d.dir->SetOwnAttributes(ModeOf(d.node), d.node.mtime_ns, d.node.uid, d.node.gid);
    if (!st.ok()) Failed(d.node.name, st.ToString());
  }
  pending_dirs_.clear();
}

Result<RestoreReport> RestoreRun::Run() {
  OB_ASSIGN_OR_RETURN(NamedRecoveryPoint point, repo_.FindRecoveryPoint(options_.point));
  std::vector<std::string> items = options_.items;
  if (items.empty()) {
    items = point.point.paths;
    bytes_total_ = point.point.stats.bytes_scanned;
  }
  platform::Env& env = repo_.env();
  for (const std::string& item : items) {
    std::vector<std::string> parts = SplitPath(item);
    std::string item_path = "/";
    for (const auto& p : parts) item_path = JoinPath(item_path, p);
    OB_ASSIGN_OR_RETURN(tree::Node node, FindNode(repo_, point.point.tree, item_path));
    std::string rel;
    for (const auto& p : parts) rel += (rel.empty() ? "" : "/") + p;
    // The destination folder: the target, or the item's original parent.
    std::string dest =
        options_.target ? *options_.target : item_path.substr(0, item_path.rfind('/'));
    if (dest.empty()) dest = "/";
    OB_ASSIGN_OR_RETURN(auto root, env.OpenRestoreRoot(dest, true));
    std::shared_ptr<RestoreDir> root_dir = std::move(root);
    if (parts.empty()) {
      // The whole recovery point: its top-level folders go under the target.
      OB_ASSIGN_OR_RETURN(tree::Tree top, repo_.ReadTree(*node.subtree));
      for (const auto& child : top.nodes) {
        RestoreNode(root_dir, child, child.name, JoinPath(dest, child.name));
      }
    } else {
      RestoreNode(root_dir, node, rel, JoinPath(dest, node.name));
    }
  }
  ApplyPending();
  ReportProgress(true);
  if (Cancelled()) {
    return Status(ErrorCode::kCancelled, "the job was stopped (obctl job stop) after " +
                                             std::to_string(files_) + " files");
  }
  RestoreReport report;
  report.point_id = point.id;
  report.files = files_;
  report.bytes = bytes_;
  report.skipped_existing = skipped_existing_;
  report.hardlinks = hardlinks_;
  report.failed_files = std::move(failed_);
  report.state = report.failed_files.empty() ? JobState::kCompleted : JobState::kFailed;
  return report;
}

}  // namespace

Result<tree::Node> FindNode(Repository& repo, const ObjectId& root, const std::string& path) {
  tree::Node node;
  node.name = "/";
  node.type = tree::NodeType::kDirectory;
  node.mode = 0755;
  node.subtree = root;
  for (const std::string& part : SplitPath(path)) {
    if (node.type != tree::NodeType::kDirectory || !node.subtree) {
      return NotFound("'" + path + "' is not in the recovery point");
    }
    OB_ASSIGN_OR_RETURN(tree::Tree tree, repo.ReadTree(*node.subtree));
    auto it = std::find_if(tree.nodes.begin(), tree.nodes.end(),
                           [&](const tree::Node& n) { return n.name == part; });
    if (it == tree.nodes.end()) return NotFound("'" + path + "' is not in the recovery point");
    node = *it;
  }
  return node;
}

Result<RestoreReport> RunRestore(Repository& repo, const RestoreOptions& options) {
  RestoreRun run(repo, options);
  return run.Run();
}

}  // namespace obagent::engine
