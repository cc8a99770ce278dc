// The index maps blob ids to their place in packs. Index files are sealed,
// immutable and named by the SHA-256 of their bytes; a backup writes one new
// index file for the packs it uploaded, before it commits its recovery point.
// Plaintext format (version 1): u32 version, u32 pack count, then per pack:
// 32-byte pack name (binary SHA-256), u32 entry count, entries as in pack.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/core/pack.h"
#include "obagent/status.h"

namespace obagent::index {

struct PackEntries {
  std::string pack_name;  // 64 hex chars
  std::vector<pack::BlobEntry> blobs;
};

Bytes SealIndexFile(const crypto::Key& data_key, const std::vector<PackEntries>& packs);
Result<std::vector<PackEntries>> OpenIndexFile(const crypto::Key& data_key, ByteView sealed);

// A damage record: copies of blobs that a reader (verify, restore, backup)
// found damaged or gone. Sealed like index files and named by the SHA-256 of
// their bytes ("damage/<name>" beside "index/"); the index leaves these
// copies out, so a backup uploads the blobs again. Plaintext format
// (version 1): u32 version, u32 count, then per copy the blob id (32 bytes)
// and the pack name (32 bytes, binary SHA-256).
struct DamagedCopy {
  ObjectId id;
  std::string pack_name;  // 64 hex chars
  auto operator<=>(const DamagedCopy&) const = default;
  bool operator==(const DamagedCopy&) const = default;
};
Bytes SealDamageRecord(const crypto::Key& data_key, const std::vector<DamagedCopy>& copies);
Result<std::vector<DamagedCopy>> OpenDamageRecord(const crypto::Key& data_key, ByteView sealed);

struct Location {
  uint32_t pack;  // position in Index::pack_names()
  pack::BlobType type;
  uint32_t offset;
  uint32_t length;
  uint32_t raw_length;
};

// In-memory index: about 60 bytes per blob. A blob that several packs hold
// (a backup uploaded it again, a prune copied it) has one preferred copy,
// the first added, and alternates a reader falls back to when that copy is
// damaged.
//
// Thread safety: like a standard container. The const methods may be called
// by any number of threads at once (the restore's and the backup's workers
// look blobs up concurrently); Add and RemoveCopy need the index to itself,
// with no reader at the same time. After an Add, Find's Location pointers
// stay valid (a blob's preferred location is kept), references into
// pack_names() do not; RemoveCopy invalidates both.
class Index {
 public:
  void Add(const PackEntries& pack);
  // The preferred copy, or null.
  const Location* Find(const ObjectId& id) const;
  // Every copy, the preferred one first.
  std::vector<Location> FindAll(const ObjectId& id) const;
  // The copy of `id` in `pack`, if indexed.
  std::optional<Location> FindIn(const ObjectId& id, const std::string& pack) const;
  // Forgets the copy of `id` in `pack` (it is known to be damaged or gone);
  // an alternate, if there is one, becomes the preferred copy.
  void RemoveCopy(const ObjectId& id, const std::string& pack);
  bool Contains(const ObjectId& id) const { return Find(id) != nullptr; }
  size_t blob_count() const { return map_.size(); }
  const std::vector<std::string>& pack_names() const { return pack_names_; }
  // The preferred copies; alternates() holds the others.
  const std::unordered_map<ObjectId, Location, ObjectIdHash>& blobs() const { return map_; }
  const std::unordered_multimap<ObjectId, Location, ObjectIdHash>& alternates() const {
    return alternates_;
  }

 private:
  std::vector<std::string> pack_names_;
  std::unordered_map<std::string, uint32_t> pack_numbers_;
  std::unordered_map<ObjectId, Location, ObjectIdHash> map_;
  std::unordered_multimap<ObjectId, Location, ObjectIdHash> alternates_;
};

}  // namespace obagent::index
