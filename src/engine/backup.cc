#include "obagent/engine/backup.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/executor.h"
#include "engine/glob.h"
#include "engine/paths.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"
#include "obagent/engine/progress.h"

namespace obagent::engine {

namespace {

// The included paths as a trie of absolute path components: inner nodes are
// the folders above an included root (only their metadata is kept), marked
// nodes are included roots (walked completely).
struct IncludeTrie {
  bool included = false;
  std::map<std::string, IncludeTrie> children;
};

// A file whose chunks are still being processed by the workers.
struct PendingChunks {
  std::vector<std::future<ObjectId>> ids;
  std::vector<uint32_t> sizes;
};

struct PendingNode {
  tree::Node node;
  std::optional<PendingChunks> chunks;
};

class BackupRun {
 public:
  BackupRun(Repository& repo, const BackupOptions& options)
      : repo_(repo),
        env_(repo.env()),
        options_(options),
        chunker_(options.chunker, repo.keys().chunker_seed),
        threads_(options.threads ? options.threads
                                 : std::max(1u, std::thread::hardware_concurrency())),
        reporter_(options.progress, [this] { return SampleProgress(); }),
        // A thread waiting for the workers (the queue is full, a file's
        // chunks or the last uploads are pending) keeps the progress moving.
        executor_(threads_, 2 * threads_ + 2, [this] { reporter_.Report(); }),
        // Room for a full pack, one more maximal chunk and the header.
        data_pack_(repo.keys().data_key, options.pack_size + options.chunker.max_size + (1u << 20)),
        tree_pack_(repo.keys().data_key) {}

  Result<BackupReport> Run();
  // The job's last progress report, on every path (ProgressReporter::Finish).
  void FinishProgress() { reporter_.Finish(); }

 private:
  Result<ObjectId> BackupDirectory(const std::string& path, const std::string& rel,
                                   const IncludeTrie* trie, const tree::Tree* previous);
  // Fills `pending` for one entry; returns false when the entry is skipped.
  bool BackupEntry(const std::string& path, const std::string& rel, const std::string& name,
                   const platform::FileInfo& info, const IncludeTrie* trie,
                   const tree::Node* previous, PendingNode& pending);
  bool ReadFile(const std::string& path, const platform::FileInfo& info, PendingChunks& out);
  Status ReadFileOnce(const std::string& path, PendingChunks& out, platform::FileInfo& after);
  ObjectId ProcessChunk(ByteView data, pack::BlobType type);
  void AddToPack(pack::PackWriter& writer, pack::BlobType type, const ObjectId& id, ByteView sealed,
                 uint32_t raw_length);
  Status UploadFinished(const pack::PackWriter::Finished& finished);
  Status FlushPacks();
  void Fail(Status status);
  // A stop request counts as the job's first error: no recovery point is
  // written and uploads stop.
  bool failed() {
    if (options_.cancel != nullptr && !failed_.load(std::memory_order_relaxed) &&
        options_.cancel->load(std::memory_order_relaxed)) {
      Fail(Status(ErrorCode::kCancelled, "the job was stopped (obctl job stop)"));
    }
    return failed_.load(std::memory_order_relaxed);
  }
  void Skip(const std::string& path, const Status& why);
  Progress SampleProgress() const;
  const tree::Tree* LoadPrevious(const std::optional<ObjectId>& id, std::vector<tree::Tree>& keep);
  // Where to read a source path from: inside the snapshot, if there is one.
  // The recovery point records `path` itself.
  std::string ReadPath(const std::string& path) const {
    return snapshot_ ? snapshot_->ReadPath(path) : path;
  }
  // `job` with the failure to remove the snapshot added, if any.
  static Status WithRelease(Status job, const Status& released);

  Repository& repo_;
  platform::Env& env_;
  const BackupOptions& options_;
  chunker::Chunker chunker_;
  size_t threads_;
  // Progress figures, updated by the reader and the workers; reported by
  // reporter_ from whichever thread moved them or waits.
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> bytes_uploaded_{0};
  std::atomic<uint64_t> bytes_total_estimate_{0};
  ProgressReporter reporter_;
  BoundedExecutor executor_;  // after reporter_, which its wait hook calls

  std::mutex known_mu_;
  std::unordered_set<ObjectId, ObjectIdHash> added_;  // blobs new in this run

  std::mutex pack_mu_;
  pack::PackWriter data_pack_;
  pack::PackWriter tree_pack_;
  std::vector<index::PackEntries> uploaded_;

  std::mutex error_mu_;
  Status first_error_;
  std::atomic<bool> failed_{false};

  std::vector<FailedFile> skipped_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> hardlinks_;  // (dev, ino) -> first path
  recovery_point::Stats stats_;
  std::atomic<uint64_t> bytes_new_{0};
  Bytes read_buffer_;
  std::unique_ptr<platform::Snapshot> snapshot_;  // released by its destructor on every path
};

Status BackupRun::WithRelease(Status job, const Status& released) {
  if (released.ok()) return job;
  return Status(job.code(), job.detail() + "; the snapshot could not be removed either: " +
                                released.ToString());
}

void BackupRun::Fail(Status status) {
  std::lock_guard lock(error_mu_);
  if (first_error_.ok()) first_error_ = std::move(status);
  failed_ = true;
}

void BackupRun::Skip(const std::string& path, const Status& why) {
  skipped_.push_back({path, why.ToString(), why.os_error()});
  ++stats_.files_skipped;
}

Progress BackupRun::SampleProgress() const {
  Progress p;
  p.files_done = files_done_;
  p.bytes_done = bytes_done_;
  p.bytes_total = bytes_total_estimate_;
  p.bytes_read = bytes_read_;
  p.bytes_uploaded = bytes_uploaded_;
  return p;
}

ObjectId BackupRun::ProcessChunk(ByteView data, pack::BlobType type) {
  auto mac = crypto::HmacSha256(repo_.keys().id_key, data);
  ObjectId id;
  std::memcpy(id.bytes.data(), mac.data(), mac.size());
  // Data the vault holds already (or that is on its way in this run's
  // packs) is done; new data is done when its pack is accepted.
  const uint64_t done = type == pack::BlobType::kData ? data.size() : 0;
  if (repo_.index().Contains(id)) {
    bytes_done_ += done;
    return id;
  }
  {
    std::lock_guard lock(known_mu_);
    if (!added_.insert(id).second) {
      bytes_done_ += done;
      return id;
    }
  }
  Bytes payload = compress::EncodePayload(data);
  Bytes sealed = pack::SealBlob(repo_.keys().data_key, type, id, payload);
  bytes_new_ += data.size();
  AddToPack(type == pack::BlobType::kTree ? tree_pack_ : data_pack_, type, id, sealed,
            static_cast<uint32_t>(data.size()));
  return id;
}

void BackupRun::AddToPack(pack::PackWriter& writer, pack::BlobType type, const ObjectId& id,
                          ByteView sealed, uint32_t raw_length) {
  std::optional<pack::PackWriter::Finished> finished;
  {
    std::lock_guard lock(pack_mu_);
    writer.Add(type, id, sealed, raw_length);
    if (writer.size() >= options_.pack_size) finished = writer.Finish();
  }
  // Uploading outside the lock lets the other workers keep filling packs.
  if (finished) {
    Status st = UploadFinished(*finished);
    if (!st.ok()) Fail(st);
  }
}

Status BackupRun::UploadFinished(const pack::PackWriter::Finished& finished) {
  if (failed()) return Status::Ok();  // the job is failing: upload nothing more
  OB_RETURN_IF_ERROR(repo_.UploadPack(finished, options_.staging_dir));
  uint64_t data_bytes = 0;
  for (const auto& e : finished.entries) {
    if (e.type == pack::BlobType::kData) data_bytes += e.raw_length;
  }
  bytes_uploaded_ += finished.bytes.size();
  bytes_done_ += data_bytes;
  reporter_.Report();
  std::lock_guard lock(pack_mu_);
  uploaded_.push_back({finished.name, finished.entries});
  return Status::Ok();
}

Status BackupRun::FlushPacks() {
  for (pack::PackWriter* writer : {&data_pack_, &tree_pack_}) {
    std::optional<pack::PackWriter::Finished> finished;
    {
      std::lock_guard lock(pack_mu_);
      if (!writer->empty()) finished = writer->Finish();
    }
    if (finished) OB_RETURN_IF_ERROR(UploadFinished(*finished));
  }
  return Status::Ok();
}

Status BackupRun::ReadFileOnce(const std::string& path, PendingChunks& out,
                               platform::FileInfo& after) {
  OB_ASSIGN_OR_RETURN(auto file, env_.OpenForRead(ReadPath(path)));
  const size_t max = options_.chunker.max_size;
  if (read_buffer_.size() < 2 * max) read_buffer_.resize(2 * max);
  size_t start = 0, end = 0;
  bool eof = false;
  for (;;) {
    // Keep at least max_size bytes ahead of `start` unless the file ended.
    if (!eof && end - start < max) {
      if (start > 0) {
        std::memmove(read_buffer_.data(), read_buffer_.data() + start, end - start);
        end -= start;
        start = 0;
      }
      while (!eof && end < read_buffer_.size()) {
        OB_ASSIGN_OR_RETURN(size_t n,
                            file->Read(read_buffer_.data() + end, read_buffer_.size() - end));
        if (n == 0) eof = true;
        end += n;
        stats_.bytes_read += n;
        bytes_read_ += n;
        reporter_.Report();  // a large file moves the figures while it is read
      }
    }
    if (start == end) break;
    size_t cut = chunker_.NextChunkLength(ByteView(read_buffer_.data() + start, end - start));
    auto data =
        std::make_shared<Bytes>(read_buffer_.begin() + start, read_buffer_.begin() + start + cut);
    auto promise = std::make_shared<std::promise<ObjectId>>();
    out.ids.push_back(promise->get_future());
    out.sizes.push_back(static_cast<uint32_t>(cut));
    executor_.Submit(
        [this, data, promise] { promise->set_value(ProcessChunk(*data, pack::BlobType::kData)); });
    start += cut;
    if (failed()) return Status::Ok();
  }
  OB_ASSIGN_OR_RETURN(after, file->Stat());
  return Status::Ok();
}

bool BackupRun::ReadFile(const std::string& path, const platform::FileInfo& info,
                         PendingChunks& out) {
  // Without a snapshot a file can change while it is read: read it again
  // once, then keep what was read and warn.
  for (int attempt = 0; attempt < 2; ++attempt) {
    PendingChunks chunks;
    platform::FileInfo after;
    Status st = ReadFileOnce(path, chunks, after);
    if (!st.ok()) {
      Skip(path, st);
      for (auto& f : chunks.ids) (void)executor_.Await(f);
      return false;
    }
    out = std::move(chunks);
    if (after.size == info.size && after.mtime_ns == info.mtime_ns) return true;
  }
  skipped_.push_back({path,
                      "the file changed while it was being read; the copy may be "
                      "inconsistent"});
  return true;
}

bool BackupRun::BackupEntry(const std::string& path, const std::string& rel,
                            const std::string& name, const platform::FileInfo& info,
                            const IncludeTrie* trie, const tree::Node* previous,
                            PendingNode& pending) {
  tree::Node& node = pending.node;
  node.name = name;
  node.mode = info.mode;
  node.mtime_ns = info.mtime_ns;
  node.ctime_ns = info.ctime_ns;
  node.uid = info.uid;
  node.gid = info.gid;
  node.inode = info.inode;
  node.device = info.device;
  node.link_count = static_cast<uint32_t>(info.link_count);
  switch (info.kind) {
    case platform::FileKind::kDirectory: {
      node.type = tree::NodeType::kDirectory;
      std::vector<tree::Tree> keep;
      const tree::Tree* prev_tree = nullptr;
      if (previous && previous->type == tree::NodeType::kDirectory) {
        prev_tree = LoadPrevious(previous->subtree, keep);
      }
      Result<ObjectId> sub = BackupDirectory(path, rel, trie, prev_tree);
      if (!sub.ok()) {
        if (failed()) return false;
        Skip(path, sub.status());
        return false;
      }
      node.subtree = *sub;
      ++stats_.directories;
      return true;
    }
    case platform::FileKind::kSymlink: {
      node.type = tree::NodeType::kSymlink;
      Result<std::string> target = env_.ReadLink(ReadPath(path));
      if (!target.ok()) {
        Skip(path, target.status());
        return false;
      }
      node.symlink_target = std::move(target).value();
      ++stats_.files;
      ++files_done_;
      return true;
    }
    case platform::FileKind::kRegular: {
      node.type = tree::NodeType::kFile;
      node.size = info.size;
      if (info.link_count > 1) {
        auto [it, first] = hardlinks_.try_emplace({info.device, info.inode}, rel);
        if (!first) node.hardlink_to = it->second;
      }
      ++stats_.files;
      ++files_done_;
      stats_.bytes_scanned += info.size;
      // Unchanged since the previous recovery point: reuse its chunk list.
      if (previous && previous->type == tree::NodeType::kFile && previous->size == info.size &&
          previous->mtime_ns == info.mtime_ns && previous->ctime_ns == info.ctime_ns &&
          previous->inode == info.inode) {
        bool all_known = true;
        for (const auto& c : previous->content) {
          if (!repo_.index().Contains(c.id)) all_known = false;
        }
        if (all_known) {
          node.content = previous->content;
          bytes_done_ += info.size;
          return true;
        }
      }
      pending.chunks.emplace();
      return ReadFile(path, info, *pending.chunks);
    }
    case platform::FileKind::kOther:
      Skip(path, Status(ErrorCode::kInvalidArgument,
                        "unsupported file type (device, socket or pipe)", os_error::kNotSupported));
      return false;
  }
  return false;
}

const tree::Tree* BackupRun::LoadPrevious(const std::optional<ObjectId>& id,
                                          std::vector<tree::Tree>& keep) {
  if (!id) return nullptr;
  Result<tree::Tree> t = repo_.ReadTree(*id);
  if (!t.ok()) return nullptr;  // change detection is an optimisation only
  keep.push_back(std::move(t).value());
  return &keep.back();
}

Result<ObjectId> BackupRun::BackupDirectory(const std::string& path, const std::string& rel,
                                            const IncludeTrie* trie, const tree::Tree* previous) {
  // Names to visit: everything for an included folder, else only the trie's
  // children (the folders above an included root).
  std::vector<std::string> names;
  if (trie == nullptr || trie->included) {
    OB_ASSIGN_OR_RETURN(auto entries, env_.ListDir(ReadPath(path)));
    for (auto& e : entries) names.push_back(std::move(e.name));
  } else {
    for (const auto& [name, _] : trie->children) names.push_back(name);
  }
  std::vector<PendingNode> pending;
  pending.reserve(names.size());
  for (const std::string& name : names) {
    if (failed()) return first_error_;
    std::string child_path = JoinPath(path, name);
    if (!tree::IsSafeName(name)) {
      // A name the tree cannot store (empty, ".", "..", a '/' or NUL: no
      // file system lists one, but a broken one or a hostile FUSE server
      // could). Writing it would make a tree the restore refuses, so the
      // entry is skipped and listed instead.
      Skip(child_path, Status(ErrorCode::kInvalidArgument,
                              "the name cannot be stored in a recovery point (empty, '.', '..', "
                              "or containing '/' or a NUL byte); not backed up"));
      continue;
    }
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    const IncludeTrie* child_trie = nullptr;
    if (trie != nullptr && !trie->included) child_trie = &trie->children.at(name);
    bool inside_included = child_trie == nullptr;
    if (inside_included) {
      bool excluded = false;
      for (const auto& pattern : options_.excludes) {
        if (ExcludedBy(pattern, child_path, name)) excluded = true;
      }
      if (excluded) continue;
    }
    Result<platform::FileInfo> info = env_.Lstat(ReadPath(child_path));
    if (!info.ok()) {
      if (!inside_included) return info.status();
      Skip(child_path, info.status());
      continue;
    }
    const tree::Node* prev_node = nullptr;
    if (previous) {
      auto it =
          std::lower_bound(previous->nodes.begin(), previous->nodes.end(), name,
                           [](const tree::Node& n, const std::string& s) { return n.name < s; });
      if (it != previous->nodes.end() && it->name == name) prev_node = &*it;
    }
    PendingNode node;
    if (BackupEntry(child_path, child_rel, name, *info, child_trie, prev_node, node)) {
      pending.push_back(std::move(node));
    }
    reporter_.Report();
  }
  tree::Tree tree;
  tree.nodes.reserve(pending.size());
  for (auto& p : pending) {
    if (p.chunks) {
      for (size_t i = 0; i < p.chunks->ids.size(); ++i) {
        p.node.content.push_back({executor_.Await(p.chunks->ids[i]), p.chunks->sizes[i]});
      }
    }
    tree.nodes.push_back(std::move(p.node));
  }
  if (failed()) return first_error_;
  Bytes data = tree::SerializeTree(tree);
  return ProcessChunk(data, pack::BlobType::kTree);
}

Result<BackupReport> BackupRun::Run() {
  if (options_.includes.empty()) return InvalidArgument("nothing to back up: no --include path");
  OB_RETURN_IF_ERROR(options_.chunker.Validate());
  IncludeTrie root;
  std::vector<std::string> roots;
  for (const auto& include : options_.includes) {
    OB_ASSIGN_OR_RETURN(std::string abs, env_.AbsolutePath(include));
    Result<platform::FileInfo> info = env_.Lstat(abs);
    if (!info.ok()) return info.status().WithContext("included path " + abs);
    IncludeTrie* node = &root;
    for (const std::string& part : SplitPath(abs)) node = &node->children[part];
    node->included = true;
    node->children.clear();
    roots.push_back(abs);
  }
  if (root.included)
    return InvalidArgument("backing up the whole file system root is not supported");

  // The latest recovery point is the parent for change detection.
  std::optional<ObjectId> parent_tree;
  std::string parent_id;
  auto points = repo_.ListRecoveryPoints();
  if (!points.ok()) return points.status();
  if (!points->empty()) {
    parent_tree = points->back().point.tree;
    parent_id = points->back().id;
    bytes_total_estimate_ = points->back().point.stats.bytes_scanned;
  }
  auto start_wall = std::chrono::system_clock::now();
  std::vector<tree::Tree> keep;
  const tree::Tree* previous = LoadPrevious(parent_tree, keep);
  if (options_.snapshots != nullptr) {
    // One snapshot of all sources, before the scan; an error here (VSS:
    // insufficient shadow storage, a failed writer) fails the job before
    // anything is read.
    OB_ASSIGN_OR_RETURN(snapshot_, options_.snapshots->Create(roots, options_.snapshot_dir));
  }
  Result<ObjectId> tree_id = BackupDirectory("/", "", &root, previous);
  executor_.Drain();
  // Everything is read: uploading and committing need no snapshot.
  Status released = snapshot_ ? snapshot_->Release() : Status::Ok();
  if (failed()) return WithRelease(first_error_, released);
  if (!tree_id.ok()) return WithRelease(tree_id.status(), released);
  Status st = FlushPacks();
  if (!st.ok()) return WithRelease(st, released);
  if (failed()) return WithRelease(first_error_, released);
  st = repo_.SaveIndexFile(uploaded_).WithContext("saving the index");
  if (!st.ok()) return WithRelease(st, released);

  BackupReport report;
  report.point.time_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start_wall.time_since_epoch()).count();
  report.point.hostname = options_.hostname;
  report.point.machine_id = options_.machine_id;
  report.point.paths = roots;
  report.point.tree = *tree_id;
  report.point.parent = parent_id;
  stats_.bytes_new = bytes_new_;
  stats_.bytes_uploaded = bytes_uploaded_;
  report.point.stats = stats_;
  Result<std::string> point_id = repo_.SaveRecoveryPoint(report.point);
  if (!point_id.ok()) return WithRelease(point_id.status(), released);
  report.point_id = std::move(point_id).value();
  if (snapshot_) {
    report.snapshot = snapshot_->KindSummary();
    report.snapshot_volumes = snapshot_->volumes();
  }
  if (!released.ok()) {
    // The data was read from the snapshot and is safe; the snapshot is left
    // behind and takes space until removed by hand.
    std::string where = options_.snapshot_dir;
    for (const auto& v : report.snapshot_volumes) {
      if (!v.snapshot_root.empty()) where = v.snapshot_root;
    }
    skipped_.push_back({where, released.ToString()});
  }
  report.failed_files = std::move(skipped_);
  report.state =
      report.failed_files.empty() ? JobState::kCompleted : JobState::kCompletedWithWarnings;
  return report;
}

}  // namespace

Result<BackupReport> RunBackup(Repository& repo, const BackupOptions& options) {
  BackupRun run(repo, options);
  Result<BackupReport> report = run.Run();
  run.FinishProgress();
  return report;
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kInProgress:
      return "InProgress";
    case JobState::kCompleted:
      return "Completed";
    case JobState::kCompletedWithWarnings:
      return "CompletedWithWarnings";
    case JobState::kFailed:
      return "Failed";
    case JobState::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

}  // namespace obagent::engine
