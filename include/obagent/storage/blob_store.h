// Where a vault keeps its bytes. Keys are '/'-separated relative names
// ("data/ab/ab12…", "snapshots/…"); a key with an empty, "." or ".." component
// or a leading '/' is refused with kInvalidArgument. Every Put is atomic: a
// reader sees the whole object or none of it, never a partial one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::storage {

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Creates or replaces the object.
  virtual Status Put(std::string_view key, ByteView data) = 0;
  virtual Result<Bytes> Get(std::string_view key) = 0;
  // kNotFound if missing; kCorrupt if the object is shorter than offset+length.
  virtual Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) = 0;
  // All keys that start with prefix, sorted.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;
  // Deleting a missing object is not an error.
  virtual Status Delete(std::string_view key) = 0;
  virtual Result<bool> Exists(std::string_view key) = 0;
  // A human-readable location for messages ("/srv/vault", "https://…").
  virtual std::string Describe() const = 0;
};

bool IsValidKey(std::string_view key);

// A folder on a local or mounted file system: writes go to a temporary file
// in the same folder, are fsynced, renamed into place, and the folder is
// fsynced. The root folder must exist; folders below it are created on demand.
Result<std::unique_ptr<BlobStore>> OpenLocalDirStore(const std::string& root);

}  // namespace obagent::storage
