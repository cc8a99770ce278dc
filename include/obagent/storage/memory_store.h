// A BlobStore that keeps its objects in memory (LevelDB's memenv, restic's
// mem backend): the store the engine's unit tests run their flows on, with
// the same contract as the local folder and Azure stores (key validation,
// atomic Puts, sorted Lists, kNotFound and kCorrupt where they give them)
// and nothing on disk. Everything is lost when it is destroyed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::storage {

// Thread safety: as every BlobStore, any number of threads may call it at
// once. One mutex guards the key -> object map only; bodies are immutable
// once stored and shared with their readers, so a Get or GetTo copies or
// streams outside the lock while a Put of the same key replaces it (the
// reader keeps the whole old body). The sink of GetTo may call back into
// the store.
class MemoryStore final : public BlobStore {
 public:
  MemoryStore() = default;
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  Status Put(std::string_view key, ByteView data) override;
  Result<Bytes> Get(std::string_view key) override;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  // Reads the whole source first, then stores it: a failed source leaves
  // the object as it was.
  Status PutFrom(std::string_view key, ByteSource& source) override;
  // Reads the whole source, then inserts it only if the key is free, under
  // the store's lock: atomic, as the contract asks.
  Status PutNewFrom(std::string_view key, ByteSource& source) override;
  Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;
  Result<bool> Exists(std::string_view key) override;
  std::string Describe() const override { return "memory"; }

  // How many objects and how many bytes of bodies the store holds (tests
  // measure what a backup added or a prune freed).
  size_t ObjectCount() const;
  uint64_t TotalBytes() const;

 private:
  using Body = std::shared_ptr<const Bytes>;
  // The object's body, or kNotFound; kInvalidArgument for an invalid key.
  Result<Body> Find(std::string_view key) const;

  mutable std::mutex mu_;
  std::map<std::string, Body, std::less<>> objects_;
};

}  // namespace obagent::storage
