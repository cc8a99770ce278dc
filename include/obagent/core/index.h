// The index maps blob ids to their place in packs. Index files are sealed,
// immutable and named by the SHA-256 of their bytes; a backup writes one new
// index file for the packs it uploaded, before it commits its recovery point.
// Plaintext format (version 1): u32 version, u32 pack count, then per pack:
// 32-byte pack name (binary SHA-256), u32 entry count, entries as in pack.h.
#pragma once

#include <cstdint>
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

struct Location {
  uint32_t pack;  // position in Index::pack_names()
  pack::BlobType type;
  uint32_t offset;
  uint32_t length;
  uint32_t raw_length;
};

// In-memory index: about 60 bytes per blob.
//
// Thread safety: like a standard container. The const methods may be called
// by any number of threads at once (the restore's and the backup's workers
// look blobs up concurrently); Add needs the index to itself, with no reader
// at the same time. After an Add, Find's Location pointers stay valid (a
// blob's first location is kept), references into pack_names() do not.
class Index {
 public:
  void Add(const PackEntries& pack);
  const Location* Find(const ObjectId& id) const;
  bool Contains(const ObjectId& id) const { return Find(id) != nullptr; }
  size_t blob_count() const { return map_.size(); }
  const std::vector<std::string>& pack_names() const { return pack_names_; }
  const std::unordered_map<ObjectId, Location, ObjectIdHash>& blobs() const { return map_; }

 private:
  std::vector<std::string> pack_names_;
  std::unordered_map<std::string, uint32_t> pack_numbers_;
  std::unordered_map<ObjectId, Location, ObjectIdHash> map_;
};

}  // namespace obagent::index
