// A BlobStore that forwards the primitive calls (Put, Get, GetRange, List,
// Delete, Exists) to another one; tests derive from it and override the
// calls they want to watch or disturb (count reads, hold uploads, fail
// writes). The staged and streamed calls (PutStaged, Stat, PutFrom, GetTo)
// keep BlobStore's defaults, which are built on the primitives, so an
// override of Put or Get sees every write or read. Thread safety is the
// base store's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "obagent/storage/blob_store.h"

namespace obagent::testing {

class ForwardingStore : public storage::BlobStore {
 public:
  explicit ForwardingStore(storage::BlobStore& base) : base_(base) {}

  Status Put(std::string_view key, ByteView data) override { return base_.Put(key, data); }
  Result<Bytes> Get(std::string_view key) override { return base_.Get(key); }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    return base_.GetRange(key, offset, length);
  }
  Result<std::vector<std::string>> List(std::string_view prefix) override {
    return base_.List(prefix);
  }
  Status Delete(std::string_view key) override { return base_.Delete(key); }
  Result<bool> Exists(std::string_view key) override { return base_.Exists(key); }
  std::string Describe() const override { return "forwarding to " + base_.Describe(); }

 protected:
  storage::BlobStore& base() { return base_; }

 private:
  storage::BlobStore& base_;
};

// Passes everything through until `budget` writes (Put or Delete) were
// done; then every write fails, as if the process had died there.
class CrashingStore : public ForwardingStore {
 public:
  CrashingStore(storage::BlobStore& base, int budget) : ForwardingStore(base), budget_(budget) {}
  Status Put(std::string_view key, ByteView data) override {
    if (budget_-- <= 0) return IoError("crashed");
    return ForwardingStore::Put(key, data);
  }
  Status Delete(std::string_view key) override {
    if (budget_-- <= 0) return IoError("crashed");
    return ForwardingStore::Delete(key);
  }
  bool crashed() const { return budget_ < 0; }

 private:
  int budget_;
};

}  // namespace obagent::testing
