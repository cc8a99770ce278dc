// obctl repair (repair.h): rebuilds the index from the packs present, names
// damaged recovery points and the files they lost, and can rewrite a damaged
// point without them.
#include "obagent/engine/repair.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engine/executor.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/index.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

// Blobs per index file written by repair (about 45 bytes each).
constexpr size_t kBlobsPerIndexFile = 200000;

std::string NameOf(const std::string& key) { return key.substr(key.rfind('/') + 1); }

bool SameEntries(std::vector<pack::BlobEntry> a, std::vector<pack::BlobEntry> b) {
  auto key = [](const pack::BlobEntry& e) {
    return std::tuple(e.offset, e.id, static_cast<int>(e.type), e.length, e.raw_length);
  };
  auto less = [&](const pack::BlobEntry& x, const pack::BlobEntry& y) { return key(x) < key(y); };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (key(a[i]) != key(b[i])) return false;
  }
  return true;
}

// Whether one sealed blob opens, decompresses and matches its id.
Status CheckBlob(const keys::KeySet& keys, const pack::BlobEntry& e, ByteView pack_bytes) {
  if (uint64_t{e.offset} + e.length > pack_bytes.size()) return Corrupt("lies past the pack's end");
  ByteView sealed = pack_bytes.subspan(e.offset, e.length);
  OB_ASSIGN_OR_RETURN(Bytes payload, pack::OpenBlob(keys.data_key, e.type, e.id, sealed));
  OB_ASSIGN_OR_RETURN(Bytes plain, compress::DecodePayload(payload, e.raw_length));
  if (!BlobId::Matches(keys.id_key, plain, e.id)) return Corrupt("content does not match its id");
  return Status::Ok();
}

// What one present pack holds, as far as it can be read.
struct PackScan {
  std::string name;
  bool header_ok = false;
  std::vector<pack::BlobEntry> intact;  // the blobs to index
  std::string problem;                  // empty when the pack is intact
};

// The header only, with two ranged reads.
void ScanHeader(Repository& repo, PackScan& scan) {
  storage::BlobStore& store = repo.store();
  std::string key = RepoLayout::Pack(scan.name);
  Result<storage::ObjectInfo> info = store.Stat(key);
  if (!info.ok()) {
    scan.problem = "cannot be read: " + info.status().ToString();
    return;
  }
  if (info->size < pack::kPackTailSize) {
    scan.problem = "too short to be a pack (damaged)";
    return;
  }
  Result<Bytes> tail = store.GetRange(key, info->size - pack::kPackTailSize, pack::kPackTailSize);
  if (!tail.ok()) {
    scan.problem = "cannot be read: " + tail.status().ToString();
    return;
  }
  Result<uint32_t> header_len = pack::PackHeaderLength(*tail, info->size);
  if (!header_len.ok()) {
    scan.problem = "header damaged: " + header_len.status().ToString();
    return;
  }
  uint64_t start = info->size - pack::kPackTailSize - *header_len;
  Result<Bytes> sealed = store.GetRange(key, start, *header_len);
  if (!sealed.ok()) {
    scan.problem = "cannot be read: " + sealed.status().ToString();
    return;
  }
  auto entries = pack::OpenSealedHeader(repo.keys().data_key, *sealed, start);
  if (!entries.ok()) {
    scan.problem = "header damaged: " + entries.status().ToString();
    return;
  }
  scan.header_ok = true;
  scan.intact = std::move(entries).value();
}

// The whole pack: its name, its header and every blob. `fallback` are the
// entries an old index gave for the pack, used when the header is damaged.
void ScanWhole(Repository& repo, PackScan& scan, const std::vector<pack::BlobEntry>* fallback) {
  Result<Bytes> bytes = repo.store().Get(RepoLayout::Pack(scan.name));
  if (!bytes.ok()) {
    scan.problem = "cannot be read: " + bytes.status().ToString();
    return;
  }
  std::vector<std::string> problems;
  if (pack::PackName(*bytes) != scan.name) problems.push_back("content does not match its name");
  auto entries = pack::ReadPackHeader(repo.keys().data_key, *bytes);
  std::vector<pack::BlobEntry> candidates;
  if (entries.ok()) {
    scan.header_ok = true;
    candidates = std::move(entries).value();
  } else {
    problems.push_back("header damaged: " + entries.status().ToString());
    if (fallback != nullptr) candidates = *fallback;
  }
  size_t bad = 0;
  for (const pack::BlobEntry& e : candidates) {
    if (CheckBlob(repo.keys(), e, *bytes).ok()) {
      scan.intact.push_back(e);
    } else {
      ++bad;
    }
  }
  if (bad > 0) problems.push_back(std::to_string(bad) + " damaged blobs");
  for (const std::string& p : problems) {
    scan.problem += (scan.problem.empty() ? "" : "; ") + p;
  }
}

// One old index file.
struct OldIndexFile {
  std::string key;
  std::string name;
  std::vector<index::PackEntries> packs;  // empty when damaged
};

// ----- recovery points

struct TreeCheck {
  bool readable = false;
  std::string error;              // when not readable
  std::vector<std::string> lost;  // relative paths ('/'-joined); folders end in '/'
  uint64_t lost_files = 0;
  std::optional<ObjectId> repaired;  // the tree without what is lost, when it differs
};

class PointChecker {
 public:
  PointChecker(Repository& repo, bool write, size_t pack_size)
      : repo_(repo), write_(write), pack_size_(pack_size), trees_(repo.keys().data_key) {}

  const TreeCheck& Check(const ObjectId& id) {
    if (auto it = memo_.find(id); it != memo_.end()) return *it->second;
    auto result = std::make_unique<TreeCheck>();
    Result<tree::Tree> tree = repo_.ReadTree(id);
    if (!tree.ok()) {
      result->error = tree.status().ToString();
    } else {
      result->readable = true;
      Walk(std::move(tree).value(), *result);
    }
    return *memo_.emplace(id, std::move(result)).first->second;
  }

  // Uploads and indexes the packed new trees.
  Status Flush() {
    if (trees_.empty()) return Status::Ok();
    pack::PackWriter::Finished finished = trees_.Finish();
    OB_RETURN_IF_ERROR(repo_.UploadPack(finished, ""));
    return repo_.SaveIndexFile({{finished.name, std::move(finished.entries)}});
  }

  const Status& write_status() const { return write_status_; }

 private:
  void Walk(tree::Tree tree, TreeCheck& out) {
    bool changed = false;
    std::vector<tree::Node> kept;
    kept.reserve(tree.nodes.size());
    for (tree::Node& node : tree.nodes) {
      if (node.type == tree::NodeType::kDirectory && node.subtree) {
        const TreeCheck& sub = Check(*node.subtree);
        if (!sub.readable) {
          out.lost.push_back(node.name + "/");
          changed = true;
          continue;
        }
        for (const std::string& p : sub.lost) out.lost.push_back(node.name + "/" + p);
        out.lost_files += sub.lost_files;
        if (sub.repaired) {
          node.subtree = *sub.repaired;
          changed = true;
        }
      } else if (node.type == tree::NodeType::kFile) {
        // Its named streams too: a file missing a stream's chunk is lost.
        bool complete = true;
        tree::ForEachChunk(node, [&](const tree::ChunkRef& c) { complete &= Present(c.id); });
        if (!complete) {
          out.lost.push_back(node.name);
          ++out.lost_files;
          changed = true;
          continue;
        }
      }
      kept.push_back(std::move(node));
    }
    if (!changed) return;
    tree::Tree repaired{std::move(kept)};
    Bytes data = tree::SerializeTree(repaired);
    const ObjectId id = BlobId::Of(repo_.keys().id_key, data);
    out.repaired = id;
    if (!write_ || Present(id) || !written_.insert(id).second || !write_status_.ok()) return;
    Bytes payload = compress::EncodePayload(data);
    trees_.AddPayload(pack::BlobType::kTree, id, payload, static_cast<uint32_t>(data.size()));
    if (trees_.size() >= pack_size_) write_status_ = Flush();
  }

  bool Present(const ObjectId& id) const { return repo_.index().Contains(id); }

  Repository& repo_;
  bool write_;
  size_t pack_size_;
  pack::PackWriter trees_;
  Status write_status_;
  std::unordered_set<ObjectId, ObjectIdHash> written_;
  std::unordered_map<ObjectId, std::unique_ptr<TreeCheck>, ObjectIdHash> memo_;
};

std::string FullPath(const std::string& rel) { return "/" + rel; }

}  // namespace

Result<RepairReport> RunRepair(Repository& repo, const RepairOptions& options) {
  RepairReport report;
  report.dry_run = options.dry_run;
  const bool write = !options.dry_run;

  // 1. What the old index files say (damaged ones are named, never used).
  OB_ASSIGN_OR_RETURN(std::vector<std::string> index_keys, repo.store().List("index/"));
  std::vector<OldIndexFile> old_files;
  std::map<std::string, std::vector<pack::BlobEntry>> old_map;  // first file naming a pack wins
  bool old_conflicts = false;  // two index files disagree on a pack
  for (const std::string& key : index_keys) {
    OldIndexFile file{key, NameOf(key), {}};
    Result<Bytes> sealed = repo.store().Get(key);
    if (!sealed.ok()) {
      if (sealed.status().code() != ErrorCode::kNotFound &&
          sealed.status().code() != ErrorCode::kCorrupt) {
        return sealed.status().WithContext("reading index file " + file.name);
      }
      report.damaged_index_files.push_back(file.name + ": " + sealed.status().ToString());
    } else if (ToHex(crypto::Sha256(*sealed)) != file.name) {
      report.damaged_index_files.push_back(file.name + ": content does not match its name");
    } else {
      auto packs = index::OpenIndexFile(repo.keys().data_key, *sealed);
      if (!packs.ok()) {
        report.damaged_index_files.push_back(file.name + ": " + packs.status().ToString());
      } else {
        file.packs = std::move(packs).value();
        for (const auto& p : file.packs) {
          auto [it, inserted] = old_map.try_emplace(p.pack_name, p.blobs);
          if (!inserted && !SameEntries(it->second, p.blobs)) old_conflicts = true;
        }
      }
    }
    old_files.push_back(std::move(file));
  }
  report.index_files = old_files.size();

  // 2. What the packs present hold.
  OB_ASSIGN_OR_RETURN(std::vector<std::string> present, repo.ListPacks());
  report.packs = present.size();
  std::vector<PackScan> scans(present.size());
  {
    size_t n =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    BoundedExecutor executor(n, 2 * n);
    for (size_t i = 0; i < present.size(); ++i) {
      scans[i].name = present[i];
      executor.Submit([&repo, &options, &old_map, &scan = scans[i]] {
        auto it = old_map.find(scan.name);
        const std::vector<pack::BlobEntry>* fallback = it == old_map.end() ? nullptr : &it->second;
        if (options.read_data) {
          ScanWhole(repo, scan, fallback);
        } else {
          ScanHeader(repo, scan);
          // A damaged header: what an old index said about the pack is all
          // there is; keep it (verify checks the blobs themselves).
          if (!scan.header_ok && fallback != nullptr) scan.intact = *fallback;
        }
      });
    }
    executor.Drain();
  }
  std::map<std::string, std::vector<pack::BlobEntry>> new_map;
  for (PackScan& scan : scans) {
    if (!scan.problem.empty()) {
      std::string kept;
      if (!scan.header_ok && !scan.intact.empty()) {
        kept =
            " (" + std::to_string(scan.intact.size()) + " blobs kept as the old index gave them)";
      }
      report.damaged_packs.push_back(scan.name + ": " + scan.problem + kept);
    }
    if (!scan.intact.empty()) new_map.emplace(scan.name, std::move(scan.intact));
  }
  std::set<std::string> present_set(present.begin(), present.end());
  for (const auto& [name, blobs] : old_map) {
    if (!present_set.contains(name)) report.missing_packs.push_back(name);
  }

  // 3. A new index when the old one is not exactly what the packs hold.
  bool matches =
      report.damaged_index_files.empty() && !old_conflicts && old_map.size() == new_map.size();
  if (matches) {
    for (const auto& [name, blobs] : new_map) {
      auto it = old_map.find(name);
      if (it == old_map.end() || !SameEntries(it->second, blobs)) {
        matches = false;
        break;
      }
    }
  }
  index::Index rebuilt;
  std::vector<std::vector<index::PackEntries>> files(1);
  size_t in_file = 0;
  for (auto& [name, blobs] : new_map) {
    report.blobs_indexed += blobs.size();
    if (in_file > 0 && in_file + blobs.size() > kBlobsPerIndexFile) {
      files.emplace_back();
      in_file = 0;
    }
    in_file += blobs.size();
    files.back().push_back({name, std::move(blobs)});
    rebuilt.Add(files.back().back());
  }
  if (!matches) {
    report.index_rewritten = true;
    if (write) {
      // New index files first: from here on they cover every present pack.
      for (const auto& packs : files) {
        if (packs.empty()) continue;
        Bytes sealed = index::SealIndexFile(repo.keys().data_key, packs);
        std::string name = ToHex(crypto::Sha256(sealed));
        OB_RETURN_IF_ERROR(repo.store()
                               .Put(RepoLayout::IndexFile(name), sealed)
                               .WithContext("writing the rebuilt index"));
        report.index_files_written.push_back(name);
      }
      // Only now the old ones: everything true in them is in the new files.
      for (const OldIndexFile& file : old_files) {
        OB_RETURN_IF_ERROR(
            repo.store().Delete(file.key).WithContext("removing old index file " + file.name));
        report.index_files_removed.push_back(file.name);
      }
    }
  }
  repo.SetIndex(std::move(rebuilt));

  // 4. Every recovery point, one by one.
  OB_ASSIGN_OR_RETURN(std::vector<std::string> point_keys, repo.store().List("snapshots/"));
  std::vector<NamedRecoveryPoint> points;
  std::map<std::string, std::string> repaired_by;  // damaged id -> repaired id
  for (const std::string& key : point_keys) {
    std::string id = NameOf(key);
    Result<Bytes> sealed = repo.store().Get(key);
    if (!sealed.ok()) {
      if (sealed.status().code() != ErrorCode::kNotFound &&
          sealed.status().code() != ErrorCode::kCorrupt) {
        return sealed.status().WithContext("reading recovery point " + id);
      }
      report.unreadable_points.push_back(id + ": " + sealed.status().ToString());
      continue;
    }
    if (ToHex(crypto::Sha256(*sealed)) != id) {
      report.unreadable_points.push_back(id + ": content does not match its name");
      continue;
    }
    auto point = recovery_point::Open(repo.keys().data_key, *sealed);
    if (!point.ok()) {
      report.unreadable_points.push_back(id + ": " + point.status().ToString());
      continue;
    }
    if (!point->repaired_from.empty()) repaired_by.emplace(point->repaired_from, id);
    points.push_back({id, std::move(point).value()});
  }
  report.points = point_keys.size();
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) {
    return std::tie(a.point.time_ns, a.id) < std::tie(b.point.time_ns, b.id);
  });

  PointChecker checker(repo, write && options.rewrite_lost, options.pack_size);
  struct Rewrite {
    size_t damaged;  // in report.damaged_points
    recovery_point::RecoveryPoint point;
  };
  std::vector<Rewrite> rewrites;
  for (const NamedRecoveryPoint& p : points) {
    const TreeCheck& root = checker.Check(p.point.tree);
    if (root.readable && root.lost.empty()) continue;
    DamagedPoint damaged;
    damaged.id = p.id;
    damaged.time_ns = p.point.time_ns;
    if (!root.readable) {
      damaged.lost.push_back("/");
      damaged.note = "its root folder listing is lost (" + root.error + "); nothing to keep";
    } else {
      for (const std::string& rel : root.lost) damaged.lost.push_back(FullPath(rel));
    }
    if (auto it = repaired_by.find(p.id); it != repaired_by.end()) {
      damaged.rewritten_as = it->second;
    } else if (options.rewrite_lost && root.readable && root.repaired) {
      recovery_point::RecoveryPoint fixed = p.point;
      fixed.tree = *root.repaired;
      fixed.repaired_from = p.id;
      fixed.stats.files =
          fixed.stats.files > root.lost_files ? fixed.stats.files - root.lost_files : 0;
      rewrites.push_back({report.damaged_points.size(), std::move(fixed)});
    }
    report.damaged_points.push_back(std::move(damaged));
  }

  // 5. Repaired points: their trees are in the vault and indexed first.
  if (write && options.rewrite_lost) {
    OB_RETURN_IF_ERROR(checker.write_status());
    OB_RETURN_IF_ERROR(checker.Flush().WithContext("writing the repaired folder listings"));
    for (Rewrite& r : rewrites) {
      OB_ASSIGN_OR_RETURN(std::string id, repo.SaveRecoveryPoint(r.point));
      report.damaged_points[r.damaged].rewritten_as = id;
      report.points_written.push_back(id);
    }
  }
  // 6. Asked for only: the damaged points that a repaired copy replaces or
  //    that hold nothing readable.
  if (write && options.forget_damaged) {
    for (DamagedPoint& d : report.damaged_points) {
      bool nothing_left = d.lost.size() == 1 && d.lost.front() == "/";
      if (d.rewritten_as.empty() && !nothing_left) continue;
      OB_RETURN_IF_ERROR(repo.store()
                             .Delete(RepoLayout::RecoveryPoint(d.id))
                             .WithContext("removing damaged recovery point " + d.id));
      d.removed = true;
      report.points_removed.push_back(d.id);
    }
    for (const std::string& line : report.unreadable_points) {
      std::string id = line.substr(0, line.find(':'));
      OB_RETURN_IF_ERROR(repo.store()
                             .Delete(RepoLayout::RecoveryPoint(id))
                             .WithContext("removing unreadable recovery point " + id));
      report.points_removed.push_back(id);
    }
  }
  std::sort(report.damaged_packs.begin(), report.damaged_packs.end());
  return report;
}

}  // namespace obagent::engine
