// One machine's backup data in a vault: packs, index files, recovery points
// and the wrapped master key. The store it is given is already scoped to the
// machine (a PrefixedStore over a local vault's "machines/<id>/", or vaultd's
// object API, which scopes by the machine's token). The repository seals
// everything it writes; the store only sees ciphertext.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/index.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {

// Object names inside a machine's folder of the vault.
struct RepoLayout {
  static std::string MachinePrefix(const std::string& machine_id) {
    return "machines/" + machine_id + "/";
  }
  static std::string Pack(const std::string& name) {
    return "data/" + name.substr(0, 2) + "/" + name;
  }
  static std::string IndexFile(const std::string& name) { return "index/" + name; }
  static std::string RecoveryPoint(const std::string& id) { return "snapshots/" + id; }
  static std::string Key(const std::string& key_id) { return "keys/" + key_id; }
};

struct NamedRecoveryPoint {
  std::string id;
  recovery_point::RecoveryPoint point;
};

// Thread safety: the reads (ReadBlob, ReadPackBytes, DecodeBlob, ReadTree,
// index(), keys()) and the store's calls (UploadPack, SaveRecoveryPoint,
// ListRecoveryPoints, FindRecoveryPoint, ListPacks) may be called by any
// number of threads at once: the restore's workers read through one
// Repository while a backup's upload thread uploads packs. LoadIndex and
// SaveIndexFile change the in-memory index and need the repository to
// themselves: no other call may run at the same time. The store and the Env
// must be thread-safe (every BlobStore and Env is).
class Repository {
 public:
  // cache_dir (in scratch) keeps index files and tree packs so change
  // detection and browsing do not download them again.
  Repository(storage::BlobStore& store, keys::KeySet keys, std::string cache_dir,
             platform::Env& env);

  const keys::KeySet& keys() const { return keys_; }
  storage::BlobStore& store() { return store_; }
  platform::Env& env() { return env_; }

  // Reads every index file of the machine into memory.
  Status LoadIndex();
  const index::Index& index() const { return index_; }
  // Replaces the in-memory index (repair: the index rebuilt from the packs
  // present, before or without writing it). Not thread-safe with readers.
  void SetIndex(index::Index index) { index_ = std::move(index); }

  // Reads, authenticates, decompresses and checks the id of one blob.
  Result<Bytes> ReadBlob(const ObjectId& id);
  // The two halves of ReadBlob, for readers that fetch many blobs of a pack
  // with one request (restore): the raw bytes [offset, offset+length) of a
  // pack (tree packs come from the cache), and one blob's sealed bytes
  // opened, decompressed and checked against its id.
  Result<Bytes> ReadPackBytes(const std::string& pack, pack::BlobType type, uint64_t offset,
                              uint64_t length);
  Result<Bytes> DecodeBlob(const ObjectId& id, const index::Location& loc, ByteView sealed) const;
  Result<tree::Tree> ReadTree(const ObjectId& id);

  // Uploads a finished pack (staged in scratch first when staging_dir is set).
  Status UploadPack(const pack::PackWriter::Finished& pack, const std::string& staging_dir);
  Status SaveIndexFile(const std::vector<index::PackEntries>& packs);
  // Written last by a backup: the recovery point exists once this returns.
  Result<std::string> SaveRecoveryPoint(const recovery_point::RecoveryPoint& point);

  // Sorted oldest first.
  Result<std::vector<NamedRecoveryPoint>> ListRecoveryPoints();
  // "latest", a full id or an unambiguous prefix of at least 4 characters.
  Result<NamedRecoveryPoint> FindRecoveryPoint(std::string_view id_or_prefix);

  // Full names (with prefix stripped) of every pack in the store.
  Result<std::vector<std::string>> ListPacks();

 private:
  storage::BlobStore& store_;
  keys::KeySet keys_;
  std::string cache_dir_;
  platform::Env& env_;
  index::Index index_;
  std::mutex tree_cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Bytes>> tree_packs_;  // by pack name
};

}  // namespace obagent::engine
