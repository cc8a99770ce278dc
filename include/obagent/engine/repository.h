// One machine's backup data in a vault: packs, index files, recovery points
// and the wrapped master key. The store it is given is already scoped to the
// machine (a PrefixedStore over a local vault's "machines/<id>/", or vaultd's
// object API, which scopes by the machine's token). The repository seals
// everything it writes; the store only sees ciphertext.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/index.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"
#include "obagent/core/vault_layout.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {

// Object names inside a machine's folder of the vault.
struct RepoLayout {
  static std::string MachinePrefix(const std::string& machine_id) {
    return vault_layout::MachinePrefix(machine_id);
  }
  static std::string Pack(const std::string& name) {
    return "data/" + name.substr(0, 2) + "/" + name;
  }
  static std::string IndexFile(const std::string& name) { return "index/" + name; }
  static std::string RecoveryPoint(const std::string& id) { return "snapshots/" + id; }
  static std::string Key(const std::string& key_id) { return "keys/" + key_id; }
  static std::string DamageRecord(const std::string& name) { return "damage/" + name; }
};

struct NamedRecoveryPoint {
  std::string id;
  recovery_point::RecoveryPoint point;
};

// An object of the vault that could not be used and was skipped: a recovery
// point or index file that does not hash to its name or does not open.
struct DamagedObject {
  std::string kind;  // "recovery point", "index file", "damage record"
  std::string name;  // its id (the object's name)
  std::string problem;
  std::string ToString() const { return kind + " " + name + ": " + problem; }
};

// Thread safety: the reads (ReadBlob, ReadPackBytes, DecodeBlob, ReadTree,
// index(), keys()), NoteDamage, FoundDamaged, HasUsableCopy, WhyMissing and
// the store's calls (UploadPack, SaveRecoveryPoint, ListRecoveryPoints,
// FindRecoveryPoint, ListPacks) may be called by any number of threads at
// once: the restore's workers read through one Repository while a backup's
// upload thread uploads packs. LoadIndex, SaveIndexFile, SaveDamageRecord
// and ClearRecordedDamage change the in-memory index and need the
// repository to themselves: no other call may run at the same time. The
// store and the Env must be thread-safe (every BlobStore and Env is).
class Repository {
 public:
  // cache_dir (in scratch) keeps index files and tree packs so change
  // detection and browsing do not download them again.
  Repository(storage::BlobStore& store, keys::KeySet keys, std::string cache_dir,
             platform::Env& env);

  const keys::KeySet& keys() const { return keys_; }
  storage::BlobStore& store() { return store_; }
  platform::Env& env() { return env_; }

  // Reads every index file of the machine into memory, one by one: a
  // damaged index file is skipped and named in damaged_index_files(). Only
  // copies in packs the store lists (one List of "data/") and not named by
  // a damage record are indexed, so index().Contains(id) means "a copy is
  // present and not known damaged". Fails only when the store cannot be
  // read (list errors, unreachable vault).
  Status LoadIndex();
  const index::Index& index() const { return index_; }
  // Replaces the in-memory index (repair: the index rebuilt from the packs
  // present, before or without writing it). Not thread-safe with readers.
  void SetIndex(index::Index index) { index_ = std::move(index); }
  // What the last LoadIndex skipped or found absent.
  const std::vector<DamagedObject>& damaged_index_files() const { return damaged_index_files_; }
  const std::vector<std::string>& missing_packs() const { return missing_packs_; }
  // Blobs an index file names that no present, undamaged copy holds.
  const std::unordered_set<ObjectId, ObjectIdHash>& lost_blobs() const { return lost_blobs_; }

  // Reads, authenticates, decompresses and checks the id of one blob. A
  // copy found damaged or gone is noted (NoteDamage) and the next copy is
  // tried.
  Result<Bytes> ReadBlob(const ObjectId& id);
  // The two halves of ReadBlob, for readers that fetch many blobs of a pack
  // with one request (restore): the raw bytes [offset, offset+length) of a
  // pack (tree packs come from the cache), and one blob's sealed bytes
  // opened, decompressed and checked against its id.
  Result<Bytes> ReadPackBytes(const std::string& pack, pack::BlobType type, uint64_t offset,
                              uint64_t length);
  Result<Bytes> DecodeBlob(const ObjectId& id, const index::Location& loc, ByteView sealed) const;
  // The same two halves into buffers a reader reuses from blob to blob (a
  // restore decodes gigabytes: fresh buffers would cost an allocation and
  // page faults per chunk). The results are views into `buffer` /
  // `buffers` (or, for a blob stored uncompressed, into `sealed`'s opened
  // payload in buffers.payload), valid until the buffers are used again.
  // One BlobBuffers per thread.
  struct BlobBuffers {
    Bytes payload;
    Bytes plain;
  };
  Result<ByteView> ReadPackBytesInto(const std::string& pack, pack::BlobType type, uint64_t offset,
                                     uint64_t length, Bytes& buffer);
  Result<ByteView> DecodeBlobInto(const ObjectId& id, const index::Location& loc, ByteView sealed,
                                  BlobBuffers& buffers) const;
  Result<tree::Tree> ReadTree(const ObjectId& id);

  // Uploads a finished pack (staged in scratch first when staging_dir is set).
  Status UploadPack(const pack::PackWriter::Finished& pack, const std::string& staging_dir);
  Status SaveIndexFile(const std::vector<index::PackEntries>& packs);
  // Written last by a backup: the recovery point exists once this returns.
  Result<std::string> SaveRecoveryPoint(const recovery_point::RecoveryPoint& point);

  // Sorted oldest first. Points are read one by one: a point that does not
  // hash to its name or does not open is left out and, when `damaged` is
  // given, named there. Fails only when the store cannot be read.
  Result<std::vector<NamedRecoveryPoint>> ListRecoveryPoints(
      std::vector<DamagedObject>* damaged = nullptr);
  // "latest", a full id or an unambiguous prefix of at least 4 characters
  // (of an intact point; a damaged one named gets an error saying so).
  Result<NamedRecoveryPoint> FindRecoveryPoint(std::string_view id_or_prefix);

  // Damage found while reading: the copy of `id` in `pack` is damaged or
  // gone. Thread-safe. The copy stays in index() until
  // SaveDamageRecord; FoundDamaged and ReadBlob skip it at once.
  void NoteDamage(const ObjectId& id, const std::string& pack);
  // True when a copy of `id` was noted damaged since the index was loaded.
  // Thread-safe.
  bool FoundDamaged(const ObjectId& id) const;
  bool HasNotedDamage() const { return any_noted_.load(std::memory_order_acquire); }
  // True when index() has a copy of `id` not noted damaged. Thread-safe.
  bool HasUsableCopy(const ObjectId& id) const;
  // Why index() has no copy of `id`, naming the pack: "blob … in pack …
  // is damaged (recorded …)", "… is in no pack present …", "… is not in the
  // index".
  std::string WhyMissing(const ObjectId& id) const;
  // A pack verify found whole (it hashes to its name, e.g. put back from a
  // copy): the copies a damage record names in it are good after all. They
  // return to index() at once; SaveDamageRecord rewrites the records
  // without them. Returns how many copies were cleared. Not thread-safe.
  size_t ClearRecordedDamage(const std::string& pack);
  // True when SaveDamageRecord has something to write.
  bool HasDamageChanges() const;
  // Records the copies noted since the last call (and forgets cleared
  // ones): one sealed damage record ("damage/<name>") holding every copy
  // still known damaged replaces the records read by LoadIndex. The noted
  // copies leave index(), so the next backup uploads those blobs again.
  // Returns how many copies were newly recorded. Needs the writer lock;
  // not to be called while other threads read.
  Result<size_t> SaveDamageRecord();

  // Full names (with prefix stripped) of every pack in the store.
  Result<std::vector<std::string>> ListPacks();

 private:
  // An object named by the SHA-256 of its sealed bytes, from the scratch
  // cache (cache_sub, "" for none) or the store; kCorrupt when its bytes do
  // not hash to its name.
  Result<Bytes> ReadNamedObject(const std::string& key, const std::string& cache_sub);
  bool IsNoted(const ObjectId& id, const std::string& pack) const;

  storage::BlobStore& store_;
  keys::KeySet keys_;
  std::string cache_dir_;
  platform::Env& env_;
  index::Index index_;
  std::vector<DamagedObject> damaged_index_files_;
  std::vector<std::string> missing_packs_;
  std::unordered_set<ObjectId, ObjectIdHash> lost_blobs_;
  mutable std::mutex damage_mu_;
  std::atomic<bool> any_noted_{false};
  std::set<index::DamagedCopy> noted_;                    // not yet recorded
  std::unordered_set<ObjectId, ObjectIdHash> noted_ids_;  // of noted_
  // Copies the damage records name (in present, indexed packs), and where.
  std::map<index::DamagedCopy, pack::BlobEntry> recorded_;
  std::vector<std::string> record_keys_;  // the damage records read
  bool records_dirty_ = false;            // recorded_ lost copies since
  std::mutex tree_cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Bytes>> tree_packs_;  // by pack name
};

}  // namespace obagent::engine
