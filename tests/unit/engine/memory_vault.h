// A vault in memory (storage::MemoryStore) with a repository on fresh
// random keys and no cache folder, and a writer of hand-made packs, index
// files and recovery points: for the engine tests that need a repository
// of a known shape and nothing on disk. Header-only; each test owns its
// MemoryVault.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/storage/memory_store.h"

namespace obagent::testing {

class MemoryVault {
 public:
  storage::MemoryStore& store() { return store_; }
  const keys::KeySet& keys() const { return keys_; }
  // The repository the writer below uses.
  engine::Repository& repo() { return *repo_; }
  // Another repository on the same store and keys: it knows only what the
  // vault holds.
  std::unique_ptr<engine::Repository> NewRepository() {
    return std::make_unique<engine::Repository>(store_, keys_, "", platform::Env::Default());
  }

  // Adds a blob to the pack Flush() uploads next; returns its id.
  ObjectId AddBlob(pack::BlobType type, ByteView plain) {
    const ObjectId id = BlobId::Of(keys_.id_key, plain);
    writer_.Add(type, id, pack::SealBlob(keys_.data_key, type, id, compress::EncodePayload(plain)),
                static_cast<uint32_t>(plain.size()));
    return id;
  }
  // Uploads the pack and an index file naming it; returns the pack's name.
  std::string Flush() {
    auto finished = writer_.Finish();
    EXPECT_TRUE(repo_->UploadPack(finished, "").ok());
    EXPECT_TRUE(repo_->SaveIndexFile({{finished.name, finished.entries}}).ok());
    return finished.name;
  }
  // A recovery point at time_ns whose root holds one file "f" made of the
  // given chunks, in a pack of its own; returns the point's id.
  std::string SavePoint(const std::vector<std::string>& chunks, int64_t time_ns) {
    tree::Node file;
    file.name = "f";
    file.type = tree::NodeType::kFile;
    file.mode = 0644;
    for (const std::string& c : chunks) {
      file.content.push_back(
          {AddBlob(pack::BlobType::kData, AsBytes(c)), static_cast<uint32_t>(c.size())});
      file.size += c.size();
    }
    tree::Tree root;
    root.nodes.push_back(file);
    recovery_point::RecoveryPoint point;
    point.tree = AddBlob(pack::BlobType::kTree, tree::SerializeTree(root));
    point.time_ns = time_ns;
    point.hostname = "test";
    Flush();
    auto id = repo_->SaveRecoveryPoint(point);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }
  // Flips one byte of an object (by default its middle one).
  void Damage(const std::string& key, std::optional<uint64_t> offset = std::nullopt) {
    auto bytes = store_.Get(key);
    ASSERT_TRUE(bytes.ok()) << key;
    (*bytes)[offset.value_or(bytes->size() / 2)] ^= 0x20;
    ASSERT_TRUE(store_.Put(key, *bytes).ok());
  }

 private:
  storage::MemoryStore store_;
  keys::KeySet keys_ = keys::DeriveKeySet(crypto::RandomKey());
  std::unique_ptr<engine::Repository> repo_ = NewRepository();
  pack::PackWriter writer_{keys_.data_key};
};

}  // namespace obagent::testing
