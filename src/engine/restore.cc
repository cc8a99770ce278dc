// The restore job (see restore.h for where items land, safety and resuming).
//
// One thread walks the point's trees and plans: folders are created (0700
// until their attributes are applied), each file gets a temporary file
// beside its destination, and every chunk it needs is noted with the places
// it goes to. When a batch is full (files, bytes or open folders) the
// chunks are grouped by pack, sorted by offset and merged into runs of
// neighbouring blobs; the executor fetches one run per request, opens each
// blob (authenticated, checked against its id) and writes it to every place
// that needs it. A file whose last chunk is written is renamed into place
// and gets its attributes; folders get theirs last, innermost first.
//
// Planning and fetching overlap: while the workers fetch one batch, the
// walking thread plans (and creates the files of) the next. At most two
// batches exist at once; one batch's links and folder attributes are
// applied when its fetches have all finished, before the next is sent.
#include "obagent/engine/restore.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "engine/executor.h"
#include "engine/paths.h"
#include "engine/restore_writeback.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/crypto.h"
#include "obagent/core/tree.h"
#include "obagent/engine/progress.h"

namespace obagent::engine {

namespace {

using platform::FileKind;
using platform::RestoreDir;

// Limits of one planned batch: folder handles stay open until the batch's
// folder attributes are applied, and the chunk plan is held in memory.
constexpr size_t kMaxPendingDirs = 256;
constexpr size_t kMaxBatchFiles = 8192;
constexpr uint64_t kMaxBatchBytes = 1ull << 30;
// Runs of blobs fetched with one request: neighbours closer than kMaxGap
// bytes are merged (the gap is read and dropped), up to kMaxRun bytes.
constexpr uint64_t kMaxGap = 256u << 10;
constexpr uint64_t kMaxRun = 8u << 20;
// Bytes restored between two background syncs of the target (a durable
// restore; RestoreWriteback). Measured on the benchmark's dataset (1.6 GiB,
// 2 cores, a disk taking 1.4 GB/s): 64, 128, 256, 384 and 512 MiB all
// shorten the restore against none; 256 MiB the most (docs/performance.md).
constexpr uint64_t kWritebackStep = 256u << 20;
// Temporary files carry this prefix; leftovers of an interrupted restore are
// removed when their folder is restored into again.
constexpr char kTempPrefix[] = ".obrestore-";

// One file being written: created under temp_name when planned, renamed to
// final_name when its last chunk is written.
struct FileTask {
  std::shared_ptr<RestoreDir> dir;
  tree::Node node;
  bool has_metadata = false;  // the node is from a tree that records metadata (version 2)
  std::string temp_name;
  std::string final_name;
  std::string display;
  std::atomic<size_t> remaining{0};
  std::mutex mu;
  std::string error;                // first failure (under mu)
  std::atomic<bool> failed{false};  // error is set: other chunks need not be written
  // The file exists under temp_name (under mu): made when planned, or by the
  // first worker to write it (RestoreRun::OpenContent).
  bool created = false;
  // Its attributes and metadata were set through the last handle to it
  // (RestoreRun::FinishThroughHandle), by the thread that then finishes it.
  bool finished_in_place = false;
};

// A place a chunk goes to.
struct ChunkTarget {
  std::shared_ptr<FileTask> file;
  uint64_t offset;
  int stream = -1;  // the index of a named stream in file->node.streams; -1: the content
};

struct PlannedBlob {
  ObjectId id;
  const index::Location* loc;
  std::vector<ChunkTarget> targets;
};

// Blobs of one pack fetched with one ranged read.
struct FetchRun {
  std::string pack;
  pack::BlobType type;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<PlannedBlob*> blobs;
};

struct PendingDirAttrs {
  std::shared_ptr<RestoreDir> dir;
  tree::Node node;
  bool has_metadata = false;
  std::string display;
};

struct PendingLink {
  std::shared_ptr<RestoreDir> dir;
  std::string name;
  std::string target_rel;  // path in the recovery point of the first name
  tree::Node node;         // to restore as a copy if the link cannot be made
  std::string display;
  bool has_metadata = false;
};

// A node's typed metadata in the platform's terms.
platform::FileMetadata MetadataOf(const tree::Node& node) {
  platform::FileMetadata md;
  md.xattrs.reserve(node.xattrs.size());
  for (const tree::Xattr& x : node.xattrs) md.xattrs.push_back({x.name, x.value});
  md.linux_flags = node.linux_flags;
  md.win_security = node.win_security;
  md.win_attributes = node.win_attributes;
  // Not md.sparse: the restore makes the holes itself (WritableFile::
  // SetSparse before the content, WriteDataRuns), on every platform.
  return md;
}

// Writes `data` at `offset` skipping every aligned 4 KiB block that is all
// zeros: the file was created at its full size, so what is skipped stays a
// hole (a sparse file comes back sparse; its content is the same).
Status WriteDataRuns(platform::WritableFile& file, uint64_t offset, ByteView data) {
  constexpr uint64_t kBlock = 4096;
  size_t pos = 0;
  size_t run_start = 0;
  bool in_run = false;
  while (pos < data.size()) {
    const uint64_t abs = offset + pos;
    const size_t len =
        static_cast<size_t>(std::min<uint64_t>(kBlock - abs % kBlock, data.size() - pos));
    bool zero =
        std::all_of(data.begin() + pos, data.begin() + pos + len, [](uint8_t b) { return b == 0; });
    if (!zero && !in_run) {
      run_start = pos;
      in_run = true;
    } else if (zero && in_run) {
      OB_RETURN_IF_ERROR(
          file.WriteAt(offset + run_start, data.subspan(run_start, pos - run_start)));
      in_run = false;
    }
    pos += len;
  }
  if (in_run) OB_RETURN_IF_ERROR(file.WriteAt(offset + run_start, data.subspan(run_start)));
  return Status::Ok();
}

struct LinkAnchor {
  std::shared_ptr<RestoreDir> dir;
  std::string name;
};

// What a file at the chosen destination name is.
enum class Destination { kFree, kIdentical, kReplace };

// An item to restore: its path in the point, split, and its node.
struct Selection {
  std::vector<std::string> parts;
  std::string rel;  // parts joined with '/', no leading '/' (how hardlink_to names paths)
};

std::string JoinParts(const std::vector<std::string>& parts, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? "/" : "") + parts[i];
  return out;
}

// "C:" (a Windows drive as a point records it).
bool IsDrive(const std::string& part) {
  return part.size() == 2 && part[1] == ':' &&
         ((part[0] >= 'A' && part[0] <= 'Z') || (part[0] >= 'a' && part[0] <= 'z'));
}

// The entries of one folder that come back under their own names, when
// another entry of it is escaped (platform::HostableName); empty when none
// is, since then no two names can meet. An escaped name never takes one of
// these.
std::set<std::string> KeptNames(const std::vector<tree::Node>& nodes) {
  std::set<std::string> kept;
  bool any_escaped = false;
  for (const tree::Node& node : nodes) {
    if (platform::HostableName(node.name) == node.name) {
      kept.insert(platform::NameKey(node.name));
    } else {
      any_escaped = true;
    }
  }
  if (!any_escaped) kept.clear();
  return kept;
}

// How a warning names the escaped name it restored an entry under.
std::string EscapedWarning(const std::string& name) {
  return "restored as '" + name +
         "': the name cannot be used on this system as it is; each character it refuses "
         "became U+F000 plus the byte's value";
}

class RestoreRun {
 public:
  RestoreRun(Repository& repo, const RestoreOptions& options)
      : repo_(repo),
        options_(options),
        threads_(options.threads ? options.threads
                                 : std::max(4u, std::thread::hardware_concurrency())),
        // Unbounded: a batch's runs are queued at once so that the walking
        // thread goes on planning the next batch (the batch limits bound
        // the queue).
        executor_(threads_, std::numeric_limits<size_t>::max()) {}
  // Tasks refer to the batch in flight: they end before it is freed, on
  // every way out of Run.
  ~RestoreRun() { executor_.Drain(); }

  Result<RestoreReport> Run();

 private:
  Result<std::vector<Selection>> Selections(const NamedRecoveryPoint& point) const;
  bool InSelection(const std::string& rel) const;
  void CountTotals(const tree::Node& node, const std::string& rel);
  // Opens (creating under a target) the folders above a selected item.
  Result<std::shared_ptr<RestoreDir>> OpenParent(const ObjectId& root, const Selection& sel,
                                                 std::string& display);
  // `kept`: names of the folder's other entries that an escaped name of
  // this one must not take (KeptNames), or null.
  void RestoreNode(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                   const std::string& rel, const std::string& display,
                   const std::set<std::string>* kept = nullptr);
  void RestoreDirectory(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                        const std::string& name, const std::string& rel,
                        const std::string& display);
  void PlanFile(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                const std::string& name, const std::string& display, bool has_metadata);
  void RestoreSymlink(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                      const std::string& name, const std::string& display);
  // Decides the destination name of a node per the conflict policy; false
  // to restore nothing. `dest` says whether the name is free, already holds
  // the backed-up file, or holds something to replace. An escaped name
  // (`escaped`) that another entry of this job has, or that is one of
  // `kept`, becomes a copy name whatever the policy: two entries never meet.
  bool ResolveName(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                   const std::string& display, bool escaped, const std::set<std::string>* kept,
                   std::string& name, Destination& dest);
  bool Claim(const RestoreDir& dir, const std::string& name);
  bool Claimed(const RestoreDir& dir, const std::string& name);
  // Whether `name` in dir is a regular file with the node's size, mtime and
  // content (each chunk re-hashed and compared with its id).
  bool HoldsContent(RestoreDir& dir, const std::string& name, const tree::Node& node);
  void KeepIdentical(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                     const std::string& name, const std::string& display);
  // Removes the temporary files an interrupted restore left in `dir`, and
  // notes whether it held nothing else (empty_dirs_).
  void RemoveLeftovers(RestoreDir& dir);
  void MaybeFlush();
  // Finishes the batch in flight and sends the planned one in its place.
  void Flush();
  // Flushes until nothing is planned or in flight.
  void FlushAll();
  // Sends the planned batch to the workers (it becomes the batch in flight)
  // without waiting for it.
  void SendPlanned();
  void FetchRunNow(const FetchRun& run);
  // Counts chunks of a file as done (written, or failed with `error`); the
  // last one puts the file in place.
  void ChunksWritten(const std::shared_ptr<FileTask>& job, const std::string& error, size_t chunks,
                     uint64_t bytes);
  // Creates a planned file's named streams at their sizes (RestoreDir::
  // CreateStream); how many to write: all, or none where the target has no
  // named streams (one "alternate data streams" warning) or one failed
  // (job.error).
  size_t CreateStreams(FileTask& job);
  void FinishFile(const std::shared_ptr<FileTask>& job);
  // Opens a file's content for writing, creating it if it was planned
  // without being made.
  Result<std::unique_ptr<platform::WritableFile>> OpenContent(FileTask& job);
  // With the last handle to a file (`chunks`: those it wrote and are not
  // counted yet), sets its attributes and metadata through it, when the
  // platform can (WritableFile::FinishRestored): no path lookups, and
  // FinishFile then only renames it.
  void FinishThroughHandle(FileTask& job, platform::WritableFile& file, size_t chunks);
  // After the batch in flight has been fetched: its hard links, then its
  // folders' attributes (held for the next batch when some link became a
  // copy that is still to be written).
  void FinishInFlight();
  void Failed(const std::string& path, const std::string& error);
  void Warn(const std::string& path, const std::string& warning);
  // Applies a node's metadata (after its attributes) and notes what the
  // target could not hold: one warning per kind at the end of the job.
  // `dir_itself`: the node is the folder `dir`. Nodes of a version 1 tree
  // recorded none: nothing is applied, as before.
  void ApplyMetadata(RestoreDir& dir, const std::string& name, const tree::Node& node,
                     bool has_metadata, const std::string& display, bool is_symlink,
                     bool dir_itself = false);
  // Notes what the platform could not apply (`issues`) and the kinds of
  // metadata this version does not know.
  void NoteMetadataIssues(const tree::Node& node,
                          const std::vector<platform::MetadataIssue>& issues,
                          const std::string& display);
  void NoteMetadataIssue(const std::string& kind, const std::string& reason,
                         const std::string& display);
  // Clears immutable/append-only on an existing entry the restore is about
  // to replace, write into or update; false (and the item failed) when it
  // cannot.
  bool Unprotect(RestoreDir& dir, const std::string& name, const std::string& display);
  bool Cancelled() const {
    return options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed);
  }
  bool Unreachable() const { return has_unreachable_.load(std::memory_order_acquire); }
  // The figures for the progress reporter: files and bytes written, plus
  // those found unchanged (done too), against the totals from the tree.
  Progress Sample() const;
  void ReportProgress() {
    if (reporter_) reporter_->Report();
  }
  uint32_t ModeOf(const tree::Node& node) const {
    return options_.restore_permissions ? node.mode : platform::kDefaultPermissions;
  }
  // 16 random hex digits for a temporary name (the walking thread's): drawn
  // 512 names at a time, not one system call per file.
  std::string NextTempSuffix() {
    constexpr size_t kSuffixBytes = 8;
    if (temp_random_used_ >= temp_random_.size()) {
      temp_random_ = crypto::RandomBytes(512 * kSuffixBytes);
      temp_random_used_ = 0;
    }
    ByteView bytes = ByteView(temp_random_).subspan(temp_random_used_, kSuffixBytes);
    temp_random_used_ += kSuffixBytes;
    return ToHex(bytes);
  }

  Repository& repo_;
  const RestoreOptions& options_;
  size_t threads_;
  BoundedExecutor executor_;
  std::mutex mu_;  // failed_, warnings_, unreachable_
  std::vector<FailedFile> failed_;
  std::vector<FailedFile> warnings_;
  // Metadata the target could not hold, per kind: how many items, the
  // first one and why (under mu_).
  struct MetadataWarning {
    uint64_t items = 0;
    std::string first;
    std::string reason;
  };
  std::map<std::string, MetadataWarning> metadata_warnings_;
  // The version of the tree currently being walked (has_metadata for nodes).
  bool tree_has_metadata_ = true;
  // The first 100050 (vault unreachable): no more requests after it.
  std::optional<Status> unreachable_;
  std::atomic<bool> has_unreachable_{false};
  // Buffers of the fetch tasks, reused from run to run (at most one set per
  // worker is in use): a restore reads and decodes gigabytes, and fresh
  // multi-megabyte buffers cost page faults and munmap for every run and
  // every chunk.
  struct FetchBuffers {
    Bytes raw;
    Repository::BlobBuffers blob;
  };
  std::mutex buffers_mu_;
  std::vector<std::unique_ptr<FetchBuffers>> spare_buffers_;
  std::unique_ptr<FetchBuffers> TakeBuffers() {
    std::lock_guard lock(buffers_mu_);
    if (spare_buffers_.empty()) return std::make_unique<FetchBuffers>();
    std::unique_ptr<FetchBuffers> b = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
    return b;
  }
  void ReturnBuffers(std::unique_ptr<FetchBuffers> b) {
    std::lock_guard lock(buffers_mu_);
    spare_buffers_.push_back(std::move(b));
  }
  std::vector<Selection> selections_;
  bool to_target_ = false;

  // Counters: written by workers, read for progress.
  std::atomic<uint64_t> files_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> unchanged_{0};
  std::atomic<uint64_t> unchanged_bytes_{0};
  // Named streams a target without them did not take: done, for progress.
  std::atomic<uint64_t> streams_not_restored_bytes_{0};
  uint64_t skipped_existing_ = 0;
  uint64_t hardlinks_ = 0;
  uint64_t files_total_ = 0;
  uint64_t bytes_total_ = 0;

  // The plan of the current batch (the walking thread's).
  std::unordered_map<ObjectId, PlannedBlob, ObjectIdHash> planned_;
  size_t batch_files_ = 0;
  uint64_t batch_bytes_ = 0;
  std::vector<PendingDirAttrs> pending_dirs_;
  std::vector<PendingLink> pending_links_;
  // The batch the workers are fetching: its runs point into in_flight_.
  struct Batch {
    std::unordered_map<ObjectId, PlannedBlob, ObjectIdHash> planned;
    std::vector<PendingDirAttrs> dirs;
    std::vector<PendingLink> links;
    bool empty() const { return planned.empty() && dirs.empty() && links.empty(); }
  };
  Batch in_flight_;
  std::map<std::string, LinkAnchor> anchors_;
  // Names this job has given out, per folder: no two entries of one job
  // ever get one name, whatever the policy.
  std::map<const RestoreDir*, std::set<std::string>> claimed_;
  // Folders that held nothing (but leftovers) when this job opened them:
  // their names need no probing. Like claimed_, an entry goes when its
  // folder's attributes are applied (the address may be reused after).
  std::set<const RestoreDir*> empty_dirs_;
  // Folders above the items, by destination path, and those of them this
  // job created under a target (they get the point's attributes at the end).
  std::map<std::string, std::shared_ptr<RestoreDir>> parents_;
  std::vector<PendingDirAttrs> created_parents_;
  std::set<const RestoreDir*> cleaned_parents_;  // (all of them are kept in parents_)

  Bytes temp_random_;  // NextTempSuffix's unused draws (walking thread)
  size_t temp_random_used_ = 0;
  std::unique_ptr<ProgressReporter> reporter_;  // set once the totals are known
  // Durable restores (options_.durable): the folders above the items.
  std::unique_ptr<RestoreWriteback> writeback_;
};

void RestoreRun::Failed(const std::string& path, const std::string& error) {
  std::lock_guard lock(mu_);
  failed_.push_back({path, error});
}

void RestoreRun::Warn(const std::string& path, const std::string& warning) {
  std::lock_guard lock(mu_);
  warnings_.push_back({path, warning});
}

Progress RestoreRun::Sample() const {
  Progress p;
  p.files_done = files_ + unchanged_;
  p.files_total = files_total_;
  p.bytes_done = bytes_ + unchanged_bytes_ + streams_not_restored_bytes_;
  p.bytes_total = bytes_total_;
  return p;
}

void RestoreRun::NoteMetadataIssue(const std::string& kind, const std::string& reason,
                                   const std::string& display) {
  std::lock_guard lock(mu_);
  MetadataWarning& w = metadata_warnings_[kind];
  if (w.items++ == 0) {
    w.first = display;
    w.reason = reason;
  }
}

void RestoreRun::ApplyMetadata(RestoreDir& dir, const std::string& name, const tree::Node& node,
                               bool has_metadata, const std::string& display, bool is_symlink,
                               bool dir_itself) {
  if (!has_metadata) return;
  const platform::FileMetadata md = MetadataOf(node);
  const bool permissions = options_.restore_permissions;
  NoteMetadataIssues(node,
                     dir_itself ? dir.ApplyOwnMetadata(md, permissions)
                                : dir.ApplyMetadata(name, md, is_symlink, permissions),
                     display);
}

void RestoreRun::NoteMetadataIssues(const tree::Node& node,
                                    const std::vector<platform::MetadataIssue>& issues,
                                    const std::string& display) {
  for (const tree::MetadataRecord& r : node.other_metadata) {
    NoteMetadataIssue("metadata of kind " + std::to_string(r.kind),
                      "written by a newer obagent; this version does not know it", display);
  }
  for (const platform::MetadataIssue& issue : issues) {
    NoteMetadataIssue(issue.kind, issue.reason, display);
  }
}

bool RestoreRun::Unprotect(RestoreDir& dir, const std::string& name, const std::string& display) {
  Status st = dir.ClearProtectionFlags(name);
  if (st.ok()) return true;
  Failed(display, st.ToString());
  return false;
}

bool RestoreRun::Claim(const RestoreDir& dir, const std::string& name) {
  return claimed_[&dir].insert(platform::NameKey(name)).second;
}

bool RestoreRun::Claimed(const RestoreDir& dir, const std::string& name) {
  auto it = claimed_.find(&dir);
  return it != claimed_.end() && it->second.count(platform::NameKey(name)) != 0;
}

bool RestoreRun::HoldsContent(RestoreDir& dir, const std::string& name, const tree::Node& node) {
  if (node.type != tree::NodeType::kFile) return false;
  auto file = dir.OpenForRead(name);
  if (!file.ok()) return false;
  Result<platform::FileInfo> info = (*file)->Stat();
  if (!info.ok() || info->kind != FileKind::kRegular || info->size != node.size ||
      info->mtime_ns != node.mtime_ns) {
    return false;
  }
  Bytes buffer;
  uint64_t offset = 0;
  // A file with named streams is restored again rather than compared: they
  // cannot be read back through RestoreDir.
  if (!node.streams.empty()) return false;
  for (const tree::ChunkRef& chunk : node.content) {
    buffer.resize(chunk.size);
    Result<size_t> got = (*file)->ReadAt(offset, buffer.data(), buffer.size());
    if (!got.ok() || *got != chunk.size) return false;
    if (!BlobId::Matches(repo_.keys().id_key, buffer, chunk.id)) return false;
    offset += chunk.size;
  }
  return offset == node.size;
}

bool RestoreRun::ResolveName(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                             const std::string& display, bool escaped,
                             const std::set<std::string>* kept, std::string& name,
                             Destination& dest) {
  auto kept_by_other = [&](const std::string& candidate) {
    return escaped && kept != nullptr && kept->count(platform::NameKey(candidate)) != 0;
  };
  dest = Destination::kFree;
  // "name (restored)", "name (restored 2)", …: the first name nobody has,
  // or a copy an interrupted run of this restore already finished.
  auto copy_name = [&] {
    for (int n = 1; n < 10000; ++n) {
      std::string candidate =
          name + (n == 1 ? " (restored)" : " (restored " + std::to_string(n) + ")");
      if (Claimed(*dir, candidate) || kept_by_other(candidate)) continue;
      Result<FileKind> taken = dir->Probe(candidate);
      if (!taken.ok() && taken.status().code() == ErrorCode::kNotFound) {
        name = candidate;
        return Claim(*dir, name);
      }
      if (taken.ok() && *taken == FileKind::kRegular && HoldsContent(*dir, candidate, node)) {
        name = candidate;
        dest = Destination::kIdentical;
        if (!Unprotect(*dir, name, display)) return false;
        return Claim(*dir, name);
      }
    }
    Failed(display, "no free name for a copy");
    return false;
  };
  if (Claimed(*dir, name) || kept_by_other(name)) {
    // Two entries of one job for one name on this system (an escaped name,
    // or names that differ only in case on Windows): the second becomes a
    // copy beside the first, with a warning; nothing is replaced, nothing
    // races. (An escaped name is a warning already.)
    std::string wanted = name;
    if (!copy_name()) return false;
    if (!escaped) {
      Warn(display, "restored as '" + name + "': '" + wanted +
                        "' is taken by another item of this restore on this system (its folders "
                        "do not tell the two names apart)");
    }
    return true;
  }
  // In a folder that was empty, only this job's entries exist (claimed).
  Result<FileKind> existing =
      empty_dirs_.count(dir.get()) != 0 ? Result<FileKind>(NotFound(name)) : dir->Probe(name);
  if (!existing.ok()) {
    if (existing.status().code() == ErrorCode::kNotFound) return Claim(*dir, name);
    Failed(display, existing.status().ToString());
    return false;
  }
  bool node_is_dir = node.type == tree::NodeType::kDirectory;
  if (node_is_dir && *existing == FileKind::kDirectory) {  // folders merge
    if (!Unprotect(*dir, name, display)) return false;
    return Claim(*dir, name);
  }
  if (*existing == FileKind::kRegular && HoldsContent(*dir, name, node)) {
    dest = Destination::kIdentical;
    if (!Unprotect(*dir, name, display)) return false;
    return Claim(*dir, name);
  }
  switch (options_.conflict) {
    case ConflictPolicy::kSkip:
      ++skipped_existing_;
      return false;
    case ConflictPolicy::kOverwrite:
      if (*existing == FileKind::kDirectory) {
        Failed(display, "a folder with this name is in the way; not replaced");
        return false;
      }
      if (!Unprotect(*dir, name, display)) return false;
      if (node_is_dir) {
        // A file or link where the point has a folder: removed (a link is
        // never followed), then the folder is created.
        Status st = dir->Remove(name);
        if (!st.ok()) {
          Failed(display, st.ToString());
          return false;
        }
      }
      dest = Destination::kReplace;
      return Claim(*dir, name);
    case ConflictPolicy::kCreateCopy:
      return copy_name();
  }
  return false;
}

void RestoreRun::RemoveLeftovers(RestoreDir& dir) {
  Result<std::vector<platform::DirEntry>> entries = dir.List();
  if (!entries.ok()) return;  // the restore itself reports what is wrong with the folder
  bool empty = true;
  for (const platform::DirEntry& e : *entries) {
    if (e.kind == FileKind::kRegular && e.name.starts_with(kTempPrefix)) {
      (void)dir.Remove(e.name);
    } else {
      empty = false;
    }
  }
  if (empty) empty_dirs_.insert(&dir);
}

void RestoreRun::KeepIdentical(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                               const std::string& name, const std::string& display) {
  Status st = dir->SetAttributes(name, ModeOf(node), node.mtime_ns, node.uid, node.gid, false);
  if (!st.ok()) {
    Failed(display, st.ToString());
    return;
  }
  ApplyMetadata(*dir, name, node, tree_has_metadata_, display, false);
  ++unchanged_;
  unchanged_bytes_ += node.size;
}

void RestoreRun::FinishFile(const std::shared_ptr<FileTask>& job) {
  Status st;
  if (job->error.empty()) st = job->dir->Rename(job->temp_name, job->final_name);
  if (job->error.empty() && st.ok() && !job->finished_in_place) {
    st = job->dir->SetAttributes(job->final_name, ModeOf(job->node), job->node.mtime_ns,
                                 job->node.uid, job->node.gid, false);
  }
  if (!job->error.empty() || !st.ok()) {
    (void)job->dir->Remove(job->temp_name);
    Failed(job->display, job->error.empty() ? st.ToString() : job->error);
    return;
  }
  if (!job->finished_in_place) {
    ApplyMetadata(*job->dir, job->final_name, job->node, job->has_metadata, job->display, false);
  }
  ++files_;
}

Result<std::unique_ptr<platform::WritableFile>> RestoreRun::OpenContent(FileTask& job) {
  std::lock_guard lock(job.mu);
  if (job.created) return job.dir->OpenForWrite(job.temp_name);
  Result<std::unique_ptr<platform::WritableFile>> file = job.dir->CreateFile(job.temp_name, false);
  if (file.ok()) job.created = true;
  return file;
}

void RestoreRun::FinishThroughHandle(FileTask& job, platform::WritableFile& file, size_t chunks) {
  // Every other chunk is counted: no other handle is open, none will be.
  if (job.remaining.load() != chunks || job.failed.load()) return;
  const tree::Node& node = job.node;
  platform::FileMetadata md;
  if (job.has_metadata) md = MetadataOf(node);
  Result<std::vector<platform::MetadataIssue>> done =
      file.FinishRestored(ModeOf(node), node.mtime_ns, node.uid, node.gid,
                          job.has_metadata ? &md : nullptr, options_.restore_permissions);
  if (!done.ok()) {
    if (done.status().code() == ErrorCode::kUnsupported) return;  // FinishFile does it by name
    std::lock_guard lock(job.mu);
    if (job.error.empty()) job.error = done.status().ToString();
    job.failed = true;
    return;
  }
  job.finished_in_place = true;
  if (job.has_metadata) NoteMetadataIssues(node, *done, job.display);
}

void RestoreRun::ChunksWritten(const std::shared_ptr<FileTask>& job, const std::string& error,
                               size_t chunks, uint64_t bytes) {
  if (!error.empty()) {
    std::lock_guard lock(job->mu);
    if (job->error.empty()) job->error = error;
    job->failed = true;
  }
  bytes_ += bytes;
  if (writeback_ && bytes > 0) writeback_->Wrote(bytes);
  if (job->remaining.fetch_sub(chunks) == chunks) FinishFile(job);
}

void RestoreRun::PlanFile(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                          const std::string& name, const std::string& display, bool has_metadata) {
  auto job = std::make_shared<FileTask>();
  job->dir = dir;
  job->node = node;
  job->has_metadata = has_metadata;
  job->final_name = name;
  job->display = display;
  job->temp_name = kTempPrefix + NextTempSuffix();
  // A file its chunks fill exactly is made by the first worker that writes
  // it (OpenContent). One that must exist first is made here: an empty one,
  // a sparse one (marked before its content, and at its full size so what
  // is not written stays a hole), one with named streams (created beside
  // the content), or one whose chunks do not add up to its size.
  uint64_t content_bytes = 0;
  for (const tree::ChunkRef& chunk : node.content) content_bytes += chunk.size;
  const bool made_by_worker = !node.content.empty() && !node.sparse &&
                              !(has_metadata && !node.streams.empty()) &&
                              content_bytes == node.size;
  if (!made_by_worker) {
    job->created = true;
    Result<std::unique_ptr<platform::WritableFile>> file = dir->CreateFile(job->temp_name, true);
    if (!file.ok()) {
      Failed(display, file.status().ToString());
      return;
    }
    if (node.sparse) {
      // Marked before anything is written (NTFS allocates what is written
      // to a file that is not sparse, zeros included).
      Status sparse = (*file)->SetSparse();
      if (!sparse.ok()) {
        NoteMetadataIssue("sparse files", "restored fully allocated: " + sparse.ToString(),
                          display);
      }
    }
    Status st = (*file)->Truncate(node.size);
    Status closed = (*file)->Close();
    if (st.ok()) st = closed;
    if (!st.ok()) job->error = st.ToString();
  }
  // The named streams are created beside the content, in the new file
  // (the rename keeps them).
  const size_t streams = job->error.empty() && has_metadata ? CreateStreams(*job) : 0;
  size_t chunks = node.content.size();
  for (size_t i = 0; i < streams; ++i) chunks += node.streams[i].content.size();
  if (chunks == 0 || !job->error.empty()) {
    FinishFile(job);
    return;
  }
  job->remaining = chunks;
  auto plan = [&](const std::vector<tree::ChunkRef>& content, int stream) {
    uint64_t offset = 0;
    for (const tree::ChunkRef& chunk : content) {
      PlannedBlob& blob = planned_[chunk.id];
      if (blob.targets.empty()) {
        blob.id = chunk.id;
        blob.loc = repo_.index().Find(chunk.id);
      }
      blob.targets.push_back({job, offset, stream});
      offset += chunk.size;
    }
  };
  plan(node.content, -1);
  for (size_t i = 0; i < streams; ++i) plan(node.streams[i].content, static_cast<int>(i));
  ++batch_files_;
  batch_bytes_ += tree::DataSize(node);
}

size_t RestoreRun::CreateStreams(FileTask& job) {
  const tree::Node& node = job.node;
  for (const tree::NamedStream& stream : node.streams) {
    Result<std::unique_ptr<platform::WritableFile>> file =
        job.dir->CreateStream(job.temp_name, stream.name);
    Status st = file.status();
    if (st.ok()) {
      st = (*file)->Truncate(stream.size);
      Status closed = (*file)->Close();
      if (st.ok()) st = closed;
    }
    if (st.code() == ErrorCode::kUnsupported) {
      // This system has no named streams: the file comes back without them.
      NoteMetadataIssue("alternate data streams", st.detail(), job.display);
      for (const tree::NamedStream& s : node.streams) streams_not_restored_bytes_ += s.size;
      return 0;
    }
    if (!st.ok()) {
      job.error = "its alternate data stream '" + stream.name + "': " + st.ToString();
      return 0;
    }
  }
  return node.streams.size();
}

void RestoreRun::RestoreSymlink(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                                const std::string& name, const std::string& display) {
  const bool replace = options_.conflict == ConflictPolicy::kOverwrite;
  Status st;
  if (tree_has_metadata_ && node.win_reparse) {
    // A Windows reparse point comes back as what it was where the system
    // can hold it (a junction as a junction), else as a symlink with a
    // warning (platform::PlanReparsePoint).
    const platform::ReparseInfo recorded{static_cast<platform::ReparseKind>(node.win_reparse->kind),
                                         node.win_reparse->relative};
    Result<platform::LinkPlan> made =
        dir->CreateReparsePoint(name, node.symlink_target, recorded, replace);
    st = made.status();
    if (made.ok() && made->issue)
      NoteMetadataIssue(made->issue->kind, made->issue->reason, display);
    if (made.ok() && made->make == platform::MakeLink::kNothing) return;
  } else {
    st = dir->CreateSymlink(name, node.symlink_target, replace);
  }
  if (st.ok()) {
    st = dir->SetAttributes(name, ModeOf(node), node.mtime_ns, node.uid, node.gid, true);
  }
  if (!st.ok()) {
    Failed(display, st.ToString());
    return;
  }
  ApplyMetadata(*dir, name, node, tree_has_metadata_, display, true);
  ++files_;
}

void RestoreRun::RestoreDirectory(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                                  const std::string& name, const std::string& rel,
                                  const std::string& display) {
  if (!node.subtree) {
    Failed(display, "folder without a tree");
    return;
  }
  Result<tree::Tree> tree = repo_.ReadTree(*node.subtree);
  if (!tree.ok()) {
    Failed(display, tree.status().ToString());
    return;
  }
  Result<std::unique_ptr<RestoreDir>> sub = dir->OpenOrCreateSubdir(name);
  if (!sub.ok()) {
    Failed(display, sub.status().ToString());
    return;
  }
  std::shared_ptr<RestoreDir> subdir = std::move(sub).value();
  RemoveLeftovers(*subdir);
  std::set<std::string> kept = KeptNames(tree->nodes);
  const bool own_has_metadata = tree_has_metadata_;
  for (const tree::Node& child : tree->nodes) {
    tree_has_metadata_ = tree->version >= 2;
    RestoreNode(subdir, child, rel + "/" + child.name, JoinPath(display, child.name), &kept);
    ReportProgress();
  }
  tree_has_metadata_ = own_has_metadata;
  pending_dirs_.push_back({subdir, node, own_has_metadata, display});
  MaybeFlush();
}

void RestoreRun::RestoreNode(const std::shared_ptr<RestoreDir>& dir, const tree::Node& node,
                             const std::string& rel, const std::string& display,
                             const std::set<std::string>* kept) {
  if (Cancelled() || Unreachable()) return;
  if (!tree::IsSafeName(node.name)) {
    Failed(display,
           Status(ErrorCode::kPathEscape, "unsafe name in recovery point; refused").ToString());
    return;
  }
  // A name this system cannot hold comes back escaped, with a warning.
  std::string name = platform::HostableName(node.name);
  bool escaped = name != node.name;
  Destination dest;
  if (!ResolveName(dir, node, display, escaped, kept, name, dest)) return;
  if (escaped) Warn(display, EscapedWarning(name));
  switch (node.type) {
    case tree::NodeType::kDirectory:
      RestoreDirectory(dir, node, name, rel, display);
      return;
    case tree::NodeType::kSymlink:
      RestoreSymlink(dir, node, name, display);
      return;
    case tree::NodeType::kFile:
      if (node.link_count > 1 && node.hardlink_to.empty()) anchors_[rel] = {dir, name};
      if (dest == Destination::kIdentical) {
        KeepIdentical(dir, node, name, display);
        return;
      }
      if (!node.hardlink_to.empty()) {
        pending_links_.push_back({dir, name, node.hardlink_to, node, display, tree_has_metadata_});
        return;
      }
      PlanFile(dir, node, name, display, tree_has_metadata_);
      MaybeFlush();
      return;
  }
}

void RestoreRun::MaybeFlush() {
  if (pending_dirs_.size() >= kMaxPendingDirs || batch_files_ >= kMaxBatchFiles ||
      batch_bytes_ >= kMaxBatchBytes) {
    Flush();
  }
}

void RestoreRun::FetchRunNow(const FetchRun& run) {
  std::unique_ptr<FetchBuffers> buffers = TakeBuffers();
  Result<ByteView> raw = Status(ErrorCode::kCancelled, "the job was stopped");
  if (Unreachable()) {
    std::lock_guard lock(mu_);
    raw = *unreachable_;
  } else if (!Cancelled()) {
    raw = repo_.ReadPackBytesInto(run.pack, run.type, run.offset, run.length, buffers->raw);
  }
  if (!raw.ok() && raw.status().code() == ErrorCode::kServiceUnreachable) {
    // The vault is gone (after the store's own retries): the job stops here
    // rather than fail every file one by one; running it again resumes.
    std::lock_guard lock(mu_);
    if (!unreachable_) unreachable_ = raw.status();
    has_unreachable_ = true;
  }
  // One file open at a time, kept while consecutive chunks go to it (the
  // usual case: a file's chunks sit side by side in a pack), and closed
  // before its chunks are counted, so a file is renamed only when no handle
  // to it is left. The last handle to a file sets its attributes before it
  // is closed (FinishThroughHandle).
  struct Open {
    std::shared_ptr<FileTask> job;
    int stream = -1;
    std::unique_ptr<platform::WritableFile> file;
    size_t chunks = 0;
    uint64_t bytes = 0;
    std::string error;
  } open;
  auto release = [&] {
    if (!open.job) return;
    if (open.file) {
      if (open.error.empty() && open.stream < 0) {
        FinishThroughHandle(*open.job, *open.file, open.chunks);
      }
      Status st = open.file->Close();
      if (!st.ok() && open.error.empty()) open.error = st.ToString();
    }
    ChunksWritten(open.job, open.error, open.chunks, open.bytes);
    open = Open{};
  };
  Bytes other_copy;
  for (PlannedBlob* blob : run.blobs) {
    Status blob_status = raw.status();
    ByteView plain;
    if (!raw.ok()) {
      blob_status = raw.status().WithContext("pack " + run.pack);
    } else if (blob->loc->offset - run.offset + uint64_t{blob->loc->length} > raw->size()) {
      blob_status = Corrupt("pack " + run.pack + " is shorter than its index says");
    } else {
      Result<ByteView> opened = repo_.DecodeBlobInto(
          blob->id, *blob->loc, raw->subspan(blob->loc->offset - run.offset, blob->loc->length),
          buffers->blob);
      if (opened.ok()) {
        plain = *opened;
      } else {
        blob_status = opened.status();
      }
    }
    // A damaged or missing copy is noted, and another copy (a later backup
    // uploaded the blob again, a prune copied it) is read instead.
    if (!blob_status.ok() &&
        (blob_status.code() == ErrorCode::kCorrupt || blob_status.code() == ErrorCode::kNotFound)) {
      repo_.NoteDamage(blob->id, run.pack);
      Result<Bytes> other = repo_.ReadBlob(blob->id);
      if (other.ok()) {
        other_copy = std::move(other).value();
        plain = other_copy;
        blob_status = Status::Ok();
      }
    }
    for (ChunkTarget& target : blob->targets) {
      if (open.job != target.file || open.stream != target.stream) {
        release();
        open.job = target.file;
        open.stream = target.stream;
      }
      ++open.chunks;
      if (!blob_status.ok()) {
        if (open.error.empty()) open.error = blob_status.ToString();
        continue;
      }
      if (!open.error.empty() || target.file->failed.load(std::memory_order_relaxed)) continue;
      if (!open.file) {
        FileTask& task = *target.file;
        auto file =
            target.stream < 0
                ? OpenContent(task)
                : task.dir->OpenStreamForWrite(
                      task.temp_name, task.node.streams[static_cast<size_t>(target.stream)].name);
        if (!file.ok()) {
          open.error = file.status().ToString();
          continue;
        }
        open.file = std::move(file).value();
      }
      Status st = target.file->node.sparse && target.stream < 0
                      ? WriteDataRuns(*open.file, target.offset, plain)
                      : open.file->WriteAt(target.offset, plain);
      if (!st.ok()) {
        open.error = st.ToString();
        continue;
      }
      open.bytes += plain.size();
    }
    ReportProgress();
  }
  release();
  ReturnBuffers(std::move(buffers));
}

void RestoreRun::SendPlanned() {
  in_flight_.planned = std::move(planned_);
  in_flight_.dirs = std::move(pending_dirs_);
  in_flight_.links = std::move(pending_links_);
  planned_.clear();
  pending_dirs_.clear();
  pending_links_.clear();
  batch_files_ = 0;
  batch_bytes_ = 0;
  // Group by pack, in pack offset order, and merge neighbours into runs.
  std::map<uint32_t, std::vector<PlannedBlob*>> by_pack;
  for (auto& [id, blob] : in_flight_.planned) {
    if (blob.loc == nullptr) {
      for (ChunkTarget& target : blob.targets) {
        ChunksWritten(target.file, repo_.WhyMissing(id), 1, 0);
      }
      blob.targets.clear();
      continue;
    }
    by_pack[blob.loc->pack].push_back(&blob);
  }
  for (auto& [pack_number, blobs] : by_pack) {
    std::sort(blobs.begin(), blobs.end(), [](const PlannedBlob* a, const PlannedBlob* b) {
      return a->loc->offset < b->loc->offset;
    });
    const std::string& pack = repo_.index().pack_names()[pack_number];
    auto run = std::make_shared<FetchRun>();
    auto submit = [&] {
      if (run->blobs.empty()) return;
      executor_.Submit([this, run] { FetchRunNow(*run); });
      run = std::make_shared<FetchRun>();
    };
    for (PlannedBlob* blob : blobs) {
      uint64_t begin = blob->loc->offset;
      uint64_t end = begin + blob->loc->length;
      if (!run->blobs.empty() &&
          (begin > run->offset + run->length + kMaxGap || end - run->offset > kMaxRun)) {
        submit();
      }
      if (run->blobs.empty()) {
        run->pack = pack;
        run->type = blob->loc->type;
        run->offset = begin;
      }
      run->length = std::max(run->length, end - run->offset);
      run->blobs.push_back(blob);
    }
    submit();
  }
}

void RestoreRun::FinishInFlight() {
  executor_.Drain();
  Batch batch = std::move(in_flight_);
  in_flight_ = Batch();
  // Hard links need their first name finished; a first name not restored in
  // this job makes the link a copy, planned into the current batch.
  bool copies = false;
  for (PendingLink& link : batch.links) {
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
    PlanFile(link.dir, link.node, link.name, link.display, link.has_metadata);
    copies = true;
  }
  if (copies) {
    // The copies land in these folders later: their attributes wait for
    // the batch that writes them (still innermost first: older folders
    // come first).
    pending_dirs_.insert(pending_dirs_.begin(), std::make_move_iterator(batch.dirs.begin()),
                         std::make_move_iterator(batch.dirs.end()));
    return;
  }
  // Folders last, innermost first: creating and renaming entries changes a
  // folder's mtime, and a read-only mode would stop the writes.
  for (PendingDirAttrs& d : batch.dirs) {
    Status st = d.dir->SetOwnAttributes(ModeOf(d.node), d.node.mtime_ns, d.node.uid, d.node.gid);
    if (!st.ok()) Failed(d.node.name, st.ToString());
    // Flags last: an immutable folder takes no more entries.
    if (st.ok()) ApplyMetadata(*d.dir, "", d.node, d.has_metadata, d.display, false, true);
    claimed_.erase(d.dir.get());
    empty_dirs_.erase(d.dir.get());
  }
}

void RestoreRun::Flush() {
  FinishInFlight();
  SendPlanned();
  ReportProgress();
}

void RestoreRun::FlushAll() {
  Flush();
  while (!in_flight_.empty()) Flush();
}

Result<std::vector<Selection>> RestoreRun::Selections(const NamedRecoveryPoint& point) const {
  std::vector<Selection> out;
  for (const std::string& item :
       EffectiveItems(options_.items.empty() ? point.point.paths : options_.items)) {
    Selection sel;
    sel.parts = SplitPath(item);
    for (const std::string& part : sel.parts) {
      if (part == "." || part == "..") {
        return InvalidArgument("'" + item + "': a recovery point path has no '.' or '..'");
      }
    }
    sel.rel = JoinParts(sel.parts, sel.parts.size());
    out.push_back(std::move(sel));
  }
  return out;
}

bool RestoreRun::InSelection(const std::string& rel) const {
  for (const Selection& sel : selections_) {
    if (rel == sel.rel || sel.rel.empty() ||
        (rel.size() > sel.rel.size() && rel.starts_with(sel.rel) && rel[sel.rel.size()] == '/')) {
      return true;
    }
  }
  return false;
}

void RestoreRun::CountTotals(const tree::Node& node, const std::string& rel) {
  switch (node.type) {
    case tree::NodeType::kFile:
      ++files_total_;
      // A second name of a hard link restored in this job is a link, no bytes.
      if (node.hardlink_to.empty() || !InSelection(node.hardlink_to)) {
        bytes_total_ += tree::DataSize(node);  // named streams too
      }
      return;
    case tree::NodeType::kSymlink:
      ++files_total_;
      return;
    case tree::NodeType::kDirectory: {
      if (!node.subtree) return;
      Result<tree::Tree> tree = repo_.ReadTree(*node.subtree);
      if (!tree.ok()) return;  // reported when the folder is restored
      for (const tree::Node& child : tree->nodes) {
        CountTotals(child, rel.empty() ? child.name : rel + "/" + child.name);
      }
      return;
    }
  }
}

Result<std::shared_ptr<RestoreDir>> RestoreRun::OpenParent(const ObjectId& root,
                                                           const Selection& sel,
                                                           std::string& display) {
  platform::Env& env = repo_.env();
  const std::vector<std::string>& parts = sel.parts;
  // At the original place a Windows path starts at its drive's root; below
  // a target the drive is a folder like any other.
  size_t first = 0;
  std::string root_path;
  if (to_target_) {
    root_path = *options_.target;
  } else if (!parts.empty() && IsDrive(parts[0])) {
    root_path = parts[0] + "/";
    first = 1;
  } else {
    root_path = "/";
  }
  std::string key = root_path;
  auto cached = parents_.find(key);
  std::shared_ptr<RestoreDir> dir;
  if (cached != parents_.end()) {
    dir = cached->second;
  } else {
    OB_ASSIGN_OR_RETURN(auto opened, env.OpenRestoreRoot(root_path, to_target_));
    dir = std::move(opened);
    parents_[key] = dir;
  }
  display = root_path;
  // The point's nodes along the way, for the attributes of folders created.
  tree::Node node;
  node.type = tree::NodeType::kDirectory;
  node.subtree = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    std::optional<tree::Node> next;
    bool next_has_metadata = false;
    if (node.subtree) {
      Result<tree::Tree> t = repo_.ReadTree(*node.subtree);
      if (t.ok()) {
        for (const tree::Node& n : t->nodes) {
          if (n.name == parts[i]) next = n;
        }
        next_has_metadata = t->version >= 2;
      }
    }
    if (i < first) {
      if (next) node = *next;
      continue;
    }
    std::string shown = to_target_ && IsDrive(parts[i]) ? parts[i].substr(0, 1) : parts[i];
    display = JoinPath(display, shown);
    // The folder's name here: escaped if this system cannot hold it (the
    // cache is keyed by it, so folders that meet share one handle).
    std::string name = platform::HostableName(shown);
    key += "/" + name;
    cached = parents_.find(key);
    if (cached != parents_.end()) {
      dir = cached->second;
    } else {
      Result<FileKind> kind = dir->Probe(name);
      bool created = !kind.ok() && kind.status().code() == ErrorCode::kNotFound;
      if (!kind.ok() && !created) return kind.status();
      if (kind.ok() && *kind != FileKind::kDirectory) {
        return Status(ErrorCode::kPathEscape,
                      "'" + display + "' is " +
                          (*kind == FileKind::kSymlink ? "a link (symlink, junction or mount point)"
                                                       : "not a folder") +
                          " where the recovery point has a folder; a restore never follows "
                          "links: move it away, or restore to another folder (--target)");
      }
      OB_ASSIGN_OR_RETURN(auto sub, dir->OpenOrCreateSubdir(name));
      dir = std::move(sub);
      parents_[key] = dir;
      if (created && next) created_parents_.push_back({dir, *next, next_has_metadata, display});
      if (name != shown) Warn(display, EscapedWarning(name));
    }
    if (next) node = *next;
  }
  return dir;
}

Result<RestoreReport> RestoreRun::Run() {
  OB_ASSIGN_OR_RETURN(NamedRecoveryPoint point, repo_.FindRecoveryPoint(options_.point));
  to_target_ = options_.target.has_value();
  // Index files that were skipped: what they named may be missing below.
  for (const DamagedObject& d : repo_.damaged_index_files()) Warn("vault", d.ToString());
  OB_ASSIGN_OR_RETURN(selections_, Selections(point));
  // Every item first: a missing one fails the job before anything is
  // written, and the totals are known before the first byte.
  std::vector<tree::Node> nodes;
  std::vector<uint8_t> versions;  // of the tree holding each item
  for (const Selection& sel : selections_) {
    std::string item_path = "/" + sel.rel;
    uint8_t version = tree::kFormatVersion;
    OB_ASSIGN_OR_RETURN(tree::Node node, FindNode(repo_, point.point.tree, item_path, &version));
    CountTotals(node, sel.rel);
    nodes.push_back(std::move(node));
    versions.push_back(version);
  }
  if (options_.progress) {
    reporter_ = std::make_unique<ProgressReporter>(options_.progress, [this] { return Sample(); });
    reporter_->Report();
  }
  if (options_.durable) writeback_ = std::make_unique<RestoreWriteback>(kWritebackStep);
  for (size_t i = 0; i < selections_.size() && !Cancelled(); ++i) {
    const Selection& sel = selections_[i];
    std::string parent_display;
    Result<std::shared_ptr<RestoreDir>> parent = OpenParent(point.point.tree, sel, parent_display);
    std::string display = JoinPath(parent_display, sel.parts.empty() ? "" : sel.parts.back());
    if (!parent.ok()) {
      Failed(display, parent.status().ToString());
      continue;
    }
    // The item's own file system (a mount point may lie above it).
    if (writeback_) writeback_->AddFolder(*parent);
    if (sel.parts.empty()) {
      // The whole tree (an item "/"): its top-level entries under the root.
      Result<tree::Tree> top = repo_.ReadTree(*nodes[i].subtree);
      if (!top.ok()) return top.status();
      std::vector<tree::Node> renamed = top->nodes;
      for (tree::Node& child : renamed) {
        if (to_target_ && IsDrive(child.name)) child.name = child.name.substr(0, 1);
      }
      std::set<std::string> kept = KeptNames(renamed);
      tree_has_metadata_ = top->version >= 2;
      for (size_t k = 0; k < renamed.size(); ++k) {
        RestoreNode(*parent, renamed[k], top->nodes[k].name,
                    JoinPath(parent_display, renamed[k].name), &kept);
      }
      continue;
    }
    if (cleaned_parents_.insert(parent->get()).second) RemoveLeftovers(**parent);
    tree_has_metadata_ = versions[i] >= 2;
    RestoreNode(*parent, nodes[i], sel.rel, display);
  }
  FlushAll();
  // Folders this job created above the items under a target, innermost first.
  for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) {
    Status st =
        it->dir->SetOwnAttributes(ModeOf(it->node), it->node.mtime_ns, it->node.uid, it->node.gid);
    if (!st.ok()) Failed(it->node.name, st.ToString());
    if (st.ok()) {
      ApplyMetadata(*it->dir, "", it->node, it->has_metadata, it->display, false, true);
    }
  }
  if (writeback_) {
    // Everything this job wrote, on disk before it says so (also what a
    // stopped job wrote: it stays).
    Status st = writeback_->Finish();
    if (!st.ok()) {
      Failed(to_target_ ? *options_.target : "/",
             "what was restored may not be on disk: " + st.ToString());
    }
  }
  if (reporter_) reporter_->Finish();
  if (Cancelled()) {
    return Status(ErrorCode::kCancelled, "the job was stopped (obctl job stop) after " +
                                             std::to_string(files_) + " files");
  }
  if (Unreachable()) {
    return unreachable_->WithContext(
        "the vault went away after " + std::to_string(files_ + unchanged_) +
        " files were restored; run the same restore again to finish it");
  }
  RestoreReport report;
  report.point_id = point.id;
  report.files = files_;
  report.bytes = bytes_;
  report.unchanged = unchanged_;
  report.skipped_existing = skipped_existing_;
  report.hardlinks = hardlinks_;
  report.failed_files = std::move(failed_);
  for (const auto& [kind, w] : metadata_warnings_) {
    report.warnings.push_back({w.first, kind + " not restored on " + std::to_string(w.items) +
                                            (w.items == 1 ? " item" : " items") +
                                            " (the first is this one): " + w.reason});
  }
  for (FailedFile& w : warnings_) report.warnings.push_back(std::move(w));
  report.state = !report.failed_files.empty() ? JobState::kFailed
                 : !report.warnings.empty()   ? JobState::kCompletedWithWarnings
                                              : JobState::kCompleted;
  return report;
}

}  // namespace

std::vector<std::string> EffectiveItems(const std::vector<std::string>& items) {
  // Sorted by components, so a folder comes right before what is inside it.
  std::vector<std::pair<std::vector<std::string>, std::string>> sorted;
  for (const std::string& item : items) sorted.emplace_back(SplitPath(item), item);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  const std::vector<std::string>* outer = nullptr;
  for (const auto& [parts, item] : sorted) {
    if (outer != nullptr && outer->size() <= parts.size() &&
        std::equal(outer->begin(), outer->end(), parts.begin())) {
      continue;
    }
    outer = &parts;
    out.push_back(item);
  }
  return out;
}

std::string RestoreDestination(const std::optional<std::string>& target, const std::string& item) {
  return target ? RestoredPath(*target, item) : item;
}

std::string RestoredPath(const std::string& target, const std::string& point_path) {
  std::string out = target;
  for (const std::string& part : SplitPath(point_path)) {
    out = JoinPath(out, IsDrive(part) ? part.substr(0, 1) : part);
  }
  return out;
}

Result<tree::Node> FindNode(Repository& repo, const ObjectId& root, const std::string& path,
                            uint8_t* tree_version) {
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
    if (tree_version != nullptr) *tree_version = tree.version;
  }
  return node;
}

Result<RestoreReport> RunRestore(Repository& repo, const RestoreOptions& options) {
  RestoreRun run(repo, options);
  return run.Run();
}

}  // namespace obagent::engine
