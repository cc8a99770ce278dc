// A view of another BlobStore under a key prefix.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/storage/blob_store.h"

namespace obagent::storage {
namespace {

class PrefixedStore final : public BlobStore {
 public:
  PrefixedStore(BlobStore& base, std::string prefix) : base_(base), prefix_(std::move(prefix)) {}

  Status Put(std::string_view key, ByteView data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.Put(Full(key), data);
  }

  Status PutStaged(std::string_view key, const std::string& staged_path, ByteView data) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.PutStaged(Full(key), staged_path, data);
  }

  Result<Bytes> Get(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.Get(Full(key));
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.GetRange(Full(key), offset, length);
  }

  Result<ByteView> GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.GetRangeInto(Full(key), offset, length, buffer);
  }

  Result<ObjectInfo> Stat(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.Stat(Full(key));
  }

  Status PutFrom(std::string_view key, ByteSource& source) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.PutFrom(Full(key), source);
  }

  Status PutNewFrom(std::string_view key, ByteSource& source) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.PutNewFrom(Full(key), source);
  }

  Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.GetTo(Full(key), offset, length, sink);
  }

  Result<std::vector<std::string>> List(std::string_view prefix) override {
    OB_ASSIGN_OR_RETURN(std::vector<std::string> keys, base_.List(Full(prefix)));
    std::vector<std::string> out;
    out.reserve(keys.size());
    for (std::string& key : keys) {
      // The base returns only keys under Full(prefix); check anyway.
      if (key.size() > prefix_.size() && key.starts_with(prefix_)) {
        out.push_back(key.substr(prefix_.size()));
      }
    }
    return out;  // stripping a common prefix keeps the base's order
  }

  Status Delete(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.Delete(Full(key));
  }

  Result<bool> Exists(std::string_view key) override {
    if (!IsValidKey(key)) return InvalidKey(key);
    return base_.Exists(Full(key));
  }

  std::string Describe() const override { return base_.Describe() + " (" + prefix_ + ")"; }

 private:
  static Status InvalidKey(std::string_view key) {
    return InvalidArgument("invalid object key '" + std::string(key) + "'");
  }
  std::string Full(std::string_view key) const { return prefix_ + std::string(key); }

  BlobStore& base_;
  const std::string prefix_;
};

}  // namespace

std::unique_ptr<BlobStore> NewPrefixedStore(BlobStore& base, std::string prefix) {
  return std::make_unique<PrefixedStore>(base, std::move(prefix));
}

}  // namespace obagent::storage
