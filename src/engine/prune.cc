#include "obagent/engine/prune.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "obagent/core/crypto.h"
#include "obagent/core/index.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

using IdSet = std::unordered_set<ObjectId, ObjectIdHash>;

// Size of a pack as PackWriter writes it: magic, blobs, sealed header, tail.
uint64_t PackSize(const std::vector<pack::BlobEntry>& blobs) {
  uint64_t end = 8;
  for (const auto& b : blobs) end = std::max<uint64_t>(end, uint64_t{b.offset} + b.length);
  return end + crypto::kSealOverhead + 4 + blobs.size() * (1 + 32 + 4 + 4 + 4) + 4 + 8;
}

std::string Short(const std::string& id) { return id.substr(0, 12); }

// Every index file: the keys read, and each pack's entries (the first index
// file naming a pack wins; they all describe the same immutable pack).
struct IndexFiles {
  std::vector<std::string> keys;
  std::map<std::string, std::vector<pack::BlobEntry>> packs;
};

Result<IndexFiles> ReadIndexFiles(Repository& repo) {
  IndexFiles out;
  OB_ASSIGN_OR_RETURN(out.keys, repo.store().List("index/"));
  for (const std::string& key : out.keys) {
    std::string name = key.substr(key.rfind('/') + 1);
    Result<Bytes> sealed = repo.store().Get(key);
    if (!sealed.ok()) return sealed.status().WithContext("reading index file " + name);
    if (ToHex(crypto::Sha256(*sealed)) != name) {
      return Corrupt("index file " + name + " does not match its name");
    }
    auto packs = index::OpenIndexFile(repo.keys().data_key, *sealed);
    if (!packs.ok()) return packs.status().WithContext("index file " + name);
    for (auto& p : *packs) out.packs.try_emplace(p.pack_name, std::move(p.blobs));
  }
  return out;
}

// Blobs (trees and chunks) that the given points reference. Any tree that
// cannot be read fails the whole walk.
Status CollectReferenced(Repository& repo, const std::vector<const NamedRecoveryPoint*>& points,
                         IdSet& referenced) {
  for (const NamedRecoveryPoint* p : points) {
    std::vector<ObjectId> stack{p->point.tree};
    while (!stack.empty()) {
      ObjectId id = stack.back();
      stack.pop_back();
      if (!referenced.insert(id).second) continue;
      Result<tree::Tree> tree = repo.ReadTree(id);
      if (!tree.ok()) {
        return tree.status().WithContext("recovery point " + Short(p->id) +
                                         " cannot be read; prune changed nothing");
      }
      for (const tree::Node& node : tree->nodes) {
        if (node.subtree) stack.push_back(*node.subtree);
        tree::ForEachChunk(node, [&](const tree::ChunkRef& c) { referenced.insert(c.id); });
      }
    }
  }
  return Status::Ok();
}

enum class Action { kKeep, kDelete, kRepack };

struct PackPlan {
  std::string name;
  const std::vector<pack::BlobEntry>* blobs = nullptr;
  Action action = Action::kKeep;
  std::vector<pack::BlobEntry> needed;  // kRepack: the blobs to copy
  uint64_t size = 0;
};

// Copies the still needed sealed blobs of repacked packs into new packs.
class Repacker {
 public:
  Repacker(Repository& repo, size_t pack_size)
      : repo_(repo),
        pack_size_(pack_size),
        data_(repo.keys().data_key),
        trees_(repo.keys().data_key) {}

  Status Copy(const PackPlan& plan) {
    Result<Bytes> bytes = repo_.store().Get(RepoLayout::Pack(plan.name));
    if (!bytes.ok()) return bytes.status().WithContext("reading pack " + plan.name + " to repack");
    // Each copied blob is authenticated below: a pack damaged elsewhere
    // (verify recorded the damaged copies) still gives up its good blobs.
    for (const pack::BlobEntry& e : plan.needed) {
      if (uint64_t{e.offset} + e.length > bytes->size()) {
        return Corrupt("pack " + plan.name + " is shorter than its index says");
      }
      ByteView sealed(bytes->data() + e.offset, e.length);
      // Authenticate before copying: a damaged blob must not move on as good.
      Result<Bytes> opened = pack::OpenBlob(repo_.keys().data_key, e.type, e.id, sealed);
      if (!opened.ok()) {
        return opened.status().WithContext("pack " + plan.name +
                                           " (run obctl verify, then back up again)");
      }
      pack::PackWriter& writer = e.type == pack::BlobType::kTree ? trees_ : data_;
      writer.Add(e.type, e.id, sealed, e.raw_length);
      if (writer.size() >= pack_size_) OB_RETURN_IF_ERROR(Upload(writer));
    }
    return Status::Ok();
  }

  Status Flush() {
    for (pack::PackWriter* w : {&data_, &trees_}) {
      if (!w->empty()) OB_RETURN_IF_ERROR(Upload(*w));
    }
    return Status::Ok();
  }

  const std::vector<index::PackEntries>& written() const { return written_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  Status Upload(pack::PackWriter& writer) {
    pack::PackWriter::Finished finished = writer.Finish();
    OB_RETURN_IF_ERROR(repo_.UploadPack(finished, ""));
    bytes_written_ += finished.bytes.size();
    written_.push_back({finished.name, std::move(finished.entries)});
    return Status::Ok();
  }

  Repository& repo_;
  size_t pack_size_;
  pack::PackWriter data_;
  pack::PackWriter trees_;
  std::vector<index::PackEntries> written_;
  uint64_t bytes_written_ = 0;
};

}  // namespace

Result<PruneReport> RunPrune(Repository& repo, const std::vector<std::string>& keep_ids,
                             const PruneOptions& options) {
  PruneReport report;
  report.dry_run = options.dry_run;

  // 1. What the kept points reference.
  OB_RETURN_IF_ERROR(repo.LoadIndex());
  // What a damaged index file or point names cannot be known: deleting
  // packs could take data it still needs. Refuse rather than guess.
  std::vector<DamagedObject> damaged = repo.damaged_index_files();
  OB_ASSIGN_OR_RETURN(std::vector<NamedRecoveryPoint> points, repo.ListRecoveryPoints(&damaged));
  if (!damaged.empty()) {
    std::string names;
    for (const DamagedObject& d : damaged) names += (names.empty() ? "" : "; ") + d.ToString();
    return Corrupt(names + ". Prune cannot tell what the damaged object" +
                   (damaged.size() == 1 ? "" : "s") + " still need" +
                   (damaged.size() == 1 ? "s" : "") +
                   " and changed nothing; see docs/operations.md, \"Damage in the vault\"");
  }
  OB_ASSIGN_OR_RETURN(IndexFiles indexes, ReadIndexFiles(repo));
  std::set<std::string> keep(keep_ids.begin(), keep_ids.end());
  for (const std::string& id : keep) {
    bool known = std::any_of(points.begin(), points.end(),
                             [&](const NamedRecoveryPoint& p) { return p.id == id; });
    if (!known) return InvalidArgument("no recovery point '" + id + "' to keep");
  }
  if (keep.empty() && !points.empty()) {
    return InvalidArgument("refusing to remove every recovery point of this machine");
  }
  std::vector<const NamedRecoveryPoint*> kept;
  std::vector<const NamedRecoveryPoint*> dropped;
  for (const auto& p : points) {
    (keep.contains(p.id) ? kept : dropped).push_back(&p);
    (keep.contains(p.id) ? report.kept_points : report.removed_points).push_back(p.id);
  }
  IdSet referenced;
  OB_RETURN_IF_ERROR(CollectReferenced(repo, kept, referenced));

  // Plan every pack. Packs the index names but the store lacks provide nothing.
  OB_ASSIGN_OR_RETURN(std::vector<std::string> stored, repo.ListPacks());
  std::set<std::string> present(stored.begin(), stored.end());
  std::vector<PackPlan> plans;
  IdSet provided;
  std::unordered_map<std::string, uint32_t> numbers;
  for (uint32_t i = 0; i < repo.index().pack_names().size(); ++i) {
    numbers.emplace(repo.index().pack_names()[i], i);
  }
  for (const auto& [name, blobs] : indexes.packs) {
    PackPlan plan;
    plan.name = name;
    plan.blobs = &blobs;
    plan.size = PackSize(blobs);
    if (!present.contains(name)) {
      plan.action = Action::kDelete;  // only drops it from the index
      plan.size = 0;
      plans.push_back(std::move(plan));
      continue;
    }
    uint64_t needed_bytes = 0;
    // A copy known to be damaged (a damage record) provides nothing.
    auto usable = [&](const ObjectId& id) {
      auto number = numbers.find(plan.name);  // (clang 14 cannot capture a structured binding)
      if (number == numbers.end()) return false;
      for (const index::Location& loc : repo.index().FindAll(id)) {
        if (loc.pack == number->second) return true;
      }
      return false;
    };
    for (const pack::BlobEntry& e : blobs) {
      if (referenced.contains(e.id) && !provided.contains(e.id) && usable(e.id)) {
        plan.needed.push_back(e);
        needed_bytes += e.length;
      }
    }
    if (plan.needed.empty()) {
      plan.action = Action::kDelete;
    } else if (plan.needed.size() < blobs.size() &&
               static_cast<double>(plan.size - needed_bytes) >
                   options.repack_threshold * static_cast<double>(plan.size)) {
      plan.action = Action::kRepack;
    } else {
      plan.action = Action::kKeep;
    }
    for (const pack::BlobEntry& e : plan.action == Action::kKeep ? blobs : plan.needed) {
      if (referenced.contains(e.id) && usable(e.id)) provided.insert(e.id);
    }
    plans.push_back(std::move(plan));
  }
  // Every blob of a kept point must be in a pack that stays or is rewritten;
  // otherwise the vault is damaged already and prune must not guess.
  for (const ObjectId& id : referenced) {
    if (!provided.contains(id)) {
      return Corrupt("blob " + id.Hex() +
                     " of a kept recovery point is in no pack of the vault; run verify. "
                     "Prune changed nothing");
    }
  }
  std::vector<std::string> unindexed;
  for (const std::string& name : stored) {
    if (!indexes.packs.contains(name)) unindexed.push_back(name);
  }

  bool index_changes = false;
  uint64_t repack_estimate = 0;
  for (const PackPlan& plan : plans) {
    switch (plan.action) {
      case Action::kKeep:
        ++report.packs_kept;
        break;
      case Action::kDelete:
        index_changes = true;
        if (plan.size > 0) {
          ++report.packs_deleted;
          report.bytes_deleted += plan.size;
        }
        break;
      case Action::kRepack:
        index_changes = true;
        ++report.packs_repacked;
        report.bytes_deleted += plan.size;
        for (const auto& e : plan.needed) repack_estimate += e.length;
        break;
    }
  }
  for (const std::string& name : unindexed) {
    ++report.packs_deleted;
    Result<Bytes> bytes = repo.store().Get(RepoLayout::Pack(name));
    if (bytes.ok()) report.bytes_deleted += bytes->size();
  }
  if (options.dry_run) {
    report.bytes_written = repack_estimate;
    report.index_files_deleted = index_changes ? indexes.keys.size() : 0;
    return report;
  }

  // 2. Forget the dropped points. vaultd refuses to delete a point younger
  // than its retention floor: such a point is held, kept like the others,
  // and the plan is made again with it (nothing else was changed yet).
  std::vector<std::string> held;
  for (const NamedRecoveryPoint* p : dropped) {
    Status st = repo.store().Delete(RepoLayout::RecoveryPoint(p->id));
    if (st.code() == ErrorCode::kProtectedByRetentionFloor) {
      held.push_back(p->id);
      continue;
    }
    OB_RETURN_IF_ERROR(st.WithContext("deleting recovery point " + Short(p->id)));
  }
  if (!held.empty()) {
    std::vector<std::string> keep_now(keep.begin(), keep.end());
    keep_now.insert(keep_now.end(), held.begin(), held.end());
    OB_ASSIGN_OR_RETURN(PruneReport again, RunPrune(repo, keep_now, options));
    std::erase_if(report.removed_points, [&](const std::string& id) {
      return std::find(held.begin(), held.end(), id) != held.end();
    });
    again.removed_points = std::move(report.removed_points);
    again.held_points = std::move(held);
    return again;
  }

  std::vector<std::string> doomed = unindexed;
  if (index_changes) {
    // 3. Rewrite partly used packs; the new packs are in no index yet.
    Repacker repacker(repo, options.pack_size);
    for (const PackPlan& plan : plans) {
      if (plan.action == Action::kRepack) OB_RETURN_IF_ERROR(repacker.Copy(plan));
    }
    OB_RETURN_IF_ERROR(repacker.Flush());
    report.packs_written = repacker.written().size();
    report.bytes_written = repacker.bytes_written();

    // 4. One index file for everything that stays.
    std::vector<index::PackEntries> entries = repacker.written();
    for (const PackPlan& plan : plans) {
      if (plan.action == Action::kKeep) {
        entries.push_back({plan.name, *plan.blobs});
      } else {
        doomed.push_back(plan.name);
      }
    }
    OB_RETURN_IF_ERROR(repo.SaveIndexFile(entries).WithContext("writing the new index"));

    // 5. The old index files: only now, with the new one in place.
    for (const std::string& key : indexes.keys) {
      OB_RETURN_IF_ERROR(repo.store().Delete(key).WithContext("deleting old index file"));
      ++report.index_files_deleted;
    }
  }

  // 6. Packs that no index file names any more.
  for (const std::string& name : doomed) {
    OB_RETURN_IF_ERROR(
        repo.store().Delete(RepoLayout::Pack(name)).WithContext("deleting pack " + name));
  }
  OB_RETURN_IF_ERROR(repo.LoadIndex());
  return report;
}

Result<PruneReport> PruneWithPolicy(Repository& repo, const RetentionPolicy& policy, int64_t now_ns,
                                    const PruneOptions& options) {
  OB_RETURN_IF_ERROR(policy.Validate());
  OB_ASSIGN_OR_RETURN(std::vector<NamedRecoveryPoint> points, repo.ListRecoveryPoints());
  return RunPrune(repo, PointsToKeep(points, policy, now_ns), options);
}

}  // namespace obagent::engine
