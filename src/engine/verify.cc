#include "obagent/engine/verify.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engine/executor.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

// Checks one whole pack; appends problems.
void VerifyPack(Repository& repo, const std::string& name, VerifyReport& report, std::mutex& mu) {
  auto problem = [&](std::string text) {
    std::lock_guard lock(mu);
    report.problems.push_back(std::move(text));
  };
  Result<Bytes> bytes = repo.store().Get(RepoLayout::Pack(name));
  if (!bytes.ok()) return problem("pack " + name + ": " + bytes.status().ToString());
  if (ToHex(crypto::Sha256(*bytes)) != name) {
    problem("pack " + name + ": content does not match its name (damaged)");
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
    auto mac = crypto::HmacSha256(repo.keys().id_key, *plain);
    if (std::memcmp(mac.data(), e.id.bytes.data(), mac.size()) != 0) {
      problem(where + ": content does not match its id");
    }
    ++blobs;
  }
  std::lock_guard lock(mu);
  ++report.packs;
  report.blobs += blobs;
  report.bytes += bytes->size();
}

// Walks a recovery point's trees, checking every referenced blob is indexed.
void CheckReachable(Repository& repo, const ObjectId& root, const std::string& point,
                    std::unordered_set<ObjectId, ObjectIdHash>& seen_trees,
                    std::vector<std::string>& problems) {
  std::vector<ObjectId> stack{root};
  while (!stack.empty()) {
    ObjectId id = stack.back();
    stack.pop_back();
    if (!seen_trees.insert(id).second) continue;
    Result<tree::Tree> tree = repo.ReadTree(id);
    if (!tree.ok()) {
      problems.push_back("recovery point " + point + ": " + tree.status().ToString());
      continue;
    }
    for (const tree::Node& node : tree->nodes) {
      if (node.subtree) stack.push_back(*node.subtree);
      for (const tree::ChunkRef& c : node.content) {
        if (!repo.index().Contains(c.id)) {
          problems.push_back("recovery point " + point + ": chunk " + c.id.Hex() + " of '" +
                             node.name + "' is missing from the vault");
        }
      }
    }
  }
}

}  // namespace

Result<VerifyReport> RunVerify(Repository& repo, size_t threads) {
  VerifyReport report;
  OB_ASSIGN_OR_RETURN(std::vector<std::string> packs, repo.ListPacks());
  std::mutex mu;
  {
    size_t n = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
    BoundedExecutor executor(n, 2 * n);
    for (const std::string& name : packs) {
      executor.Submit([&repo, name, &report, &mu] { VerifyPack(repo, name, report, mu); });
    }
    executor.Drain();
  }
  // Packs the index names must exist.
  std::unordered_set<std::string> present(packs.begin(), packs.end());
  for (const std::string& name : repo.index().pack_names()) {
    if (!present.contains(name)) report.problems.push_back("pack " + name + " is missing");
  }
  OB_ASSIGN_OR_RETURN(auto points, repo.ListRecoveryPoints());
  std::unordered_set<ObjectId, ObjectIdHash> seen;
  for (const auto& p : points) {
    CheckReachable(repo, p.point.tree, p.id, seen, report.problems);
    ++report.recovery_points;
  }
  std::sort(report.problems.begin(), report.problems.end());
  return report;
}

}  // namespace obagent::engine
