#include "obagent/engine/verify.h"

#include <algorithm>
#include <cstring>
#include <mutex>
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
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

using Copies = std::vector<std::pair<ObjectId, index::Location>>;

// Checks one whole pack; appends problems. A pack that does not hash to its
// name has each copy the index places in it checked where the index says,
// and the damaged ones noted (Repository::NoteDamage).
void VerifyPack(Repository& repo, const std::string& name, const Copies& indexed,
                VerifyReport& report, std::vector<std::string>& whole, std::mutex& mu) {
  auto problem = [&](std::string text) {
    std::lock_guard lock(mu);
    report.problems.push_back(std::move(text));
  };
  Result<Bytes> bytes = repo.store().Get(RepoLayout::Pack(name));
  if (!bytes.ok()) {
    problem("pack " + name + ": " + bytes.status().ToString());
    for (const auto& [id, loc] : indexed) repo.NoteDamage(id, name);
    return;
  }
  if (ToHex(crypto::Sha256(*bytes)) == name) {
    std::lock_guard lock(mu);
    whole.push_back(name);
  } else {
    problem("pack " + name + ": content does not match its name (damaged, truncated or replaced)");
    uint64_t damaged = 0;
    for (const auto& [id, loc] : indexed) {
      Status st;
      if (uint64_t{loc.offset} + loc.length > bytes->size()) {
        st = Corrupt("pack " + name + " is shorter than its index says");
      } else {
        st = repo.DecodeBlob(id, loc, ByteView(*bytes).subspan(loc.offset, loc.length)).status();
      }
      if (!st.ok()) {
        repo.NoteDamage(id, name);
        ++damaged;
      }
    }
    if (damaged > 0) {
      problem("pack " + name + ": " + std::to_string(damaged) + " of its " +
              std::to_string(indexed.size()) +
              " indexed objects are damaged; recorded, so the next backup uploads them again "
              "from the source");
    }
  }
  Result<std::vector<pack::BlobEntry>> entries = pack::ReadPackHeader(repo.keys().data_key, *bytes);
  if (!entries.ok()) return problem("pack " + name + ": " + entries.status().ToString());
  uint64_t blobs = 0;
  for (const pack::BlobEntry& e : *entries) {
    ByteView sealed(bytes->data() + e.offset, e.length);
    std::string where = "pack " + name + " blob " + e.id.Hex();
    Result<Bytes> payload = pack::OpenBlob(repo.keys().data_key, e.type, e.id, sealed);
    if (!payload.ok()) {
      problem(where + ": " + payload.status().ToString());
      continue;
    }
    Result<Bytes> plain = compress::DecodePayload(*payload, e.raw_length);
    if (!plain.ok()) {
      problem(where + ": " + plain.status().ToString());
      continue;
    }
    if (!BlobId::Matches(repo.keys().id_key, *plain, e.id)) {
      problem(where + ": content does not match its id");
    }
    ++blobs;
  }
  std::lock_guard lock(mu);
  ++report.packs;
  report.blobs += blobs;
  report.bytes += bytes->size();
}

// What is lost below one tree, as "<path below the tree>: <what>" lines,
// computed once per tree (points share most of theirs).
class LossWalker {
 public:
  explicit LossWalker(Repository& repo) : repo_(repo) {}

  const std::vector<std::string>& Lost(const ObjectId& tree_id) {
    if (auto it = memo_.find(tree_id); it != memo_.end()) return it->second;
    std::vector<std::string> lines;
    Result<tree::Tree> tree = repo_.ReadTree(tree_id);
    if (!tree.ok()) {
      lines.push_back(": the folder cannot be read (" + tree.status().ToString() +
                      "); nothing below it can be restored");
    } else {
      for (const tree::Node& node : tree->nodes) {
        if (node.subtree) {
          for (const std::string& line : Lost(*node.subtree))
            lines.push_back("/" + node.name + line);
        }
        // Named streams' chunks count as the file's: a lost one is lost data.
        size_t lost = 0, chunks = 0;
        tree::ForEachChunk(node, [&](const tree::ChunkRef& c) {
          ++chunks;
          if (!repo_.HasUsableCopy(c.id)) ++lost;
        });
        if (lost > 0) {
          lines.push_back("/" + node.name + ": " + std::to_string(lost) + " of " +
                          std::to_string(chunks) + " chunks are missing or damaged in the vault");
        }
      }
    }
    return memo_.emplace(tree_id, std::move(lines)).first->second;
  }

 private:
  Repository& repo_;
  std::unordered_map<ObjectId, std::vector<std::string>, ObjectIdHash> memo_;
};

}  // namespace

Result<VerifyReport> RunVerify(Repository& repo, size_t threads) {
  VerifyReport report;
  for (const DamagedObject& d : repo.damaged_index_files()) {
    report.problems.push_back(d.ToString());
  }
  // Index files as the vault holds them: LoadIndex may have used a good
  // copy from this machine's cache, which another machine would not have.
  {
    std::set<std::string> skipped;
    for (const DamagedObject& d : repo.damaged_index_files()) skipped.insert(d.name);
    OB_ASSIGN_OR_RETURN(std::vector<std::string> keys, repo.store().List("index/"));
    for (const std::string& key : keys) {
      const std::string name = key.substr(key.rfind('/') + 1);
      if (skipped.contains(name)) continue;
      Result<Bytes> sealed = repo.store().Get(key);
      if (!sealed.ok()) {
        if (sealed.status().code() != ErrorCode::kNotFound) return sealed.status();
        continue;
      }
      if (ToHex(crypto::Sha256(*sealed)) != name) {
        report.problems.push_back("index file " + name +
                                  ": the vault's copy does not match its name (damaged or "
                                  "replaced); this machine still reads a good copy from its cache");
        continue;
      }
      auto packs = index::OpenIndexFile(repo.keys().data_key, *sealed);
      if (!packs.ok())
        report.problems.push_back("index file " + name + ": " + packs.status().ToString());
    }
  }
  for (const std::string& name : repo.missing_packs()) {
    report.problems.push_back("pack " + name + " is missing (an index file names it)");
  }
  OB_ASSIGN_OR_RETURN(std::vector<std::string> packs, repo.ListPacks());
  // Every copy the index places in each pack.
  std::unordered_map<uint32_t, Copies> by_pack;
  for (const auto& [id, loc] : repo.index().blobs()) by_pack[loc.pack].emplace_back(id, loc);
  for (const auto& [id, loc] : repo.index().alternates()) by_pack[loc.pack].emplace_back(id, loc);
  std::unordered_map<std::string, uint32_t> numbers;
  for (uint32_t i = 0; i < repo.index().pack_names().size(); ++i) {
    numbers.emplace(repo.index().pack_names()[i], i);
  }
  std::mutex mu;
  std::vector<std::string> whole;  // packs that hash to their name
  {
    size_t n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    BoundedExecutor executor(n, 2 * n);
    static const Copies kNone;
    for (const std::string& name : packs) {
      auto number = numbers.find(name);
      const Copies* indexed = number == numbers.end() ? &kNone : &by_pack[number->second];
      executor.Submit([&repo, name, indexed, &report, &whole, &mu] {
        VerifyPack(repo, name, *indexed, report, whole, mu);
      });
    }
    executor.Drain();
  }
  // Copies recorded as damaged in packs that are whole (put back from a
  // copy) are good again.
  for (const std::string& name : whole) report.damage_cleared += repo.ClearRecordedDamage(name);
  std::vector<DamagedObject> damaged_points;
  OB_ASSIGN_OR_RETURN(auto points, repo.ListRecoveryPoints(&damaged_points));
  for (const DamagedObject& d : damaged_points) report.problems.push_back(d.ToString());
  LossWalker walker(repo);
  for (const auto& p : points) {
    for (const std::string& line : walker.Lost(p.point.tree)) {
      std::string path = line.starts_with(":") ? "/" + line : line;
      report.problems.push_back("recovery point " + p.id + ": " + path);
      ++report.lost_items;
    }
    ++report.recovery_points;
  }
  std::sort(report.problems.begin(), report.problems.end());
  return report;
}

}  // namespace obagent::engine
