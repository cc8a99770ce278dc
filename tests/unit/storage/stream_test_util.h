// Sources and sinks for the streaming BlobStore tests: a source that hands
// out its bytes in uneven pieces (and can fail part-way), a sink that
// records the pieces it got.
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "obagent/storage/blob_store.h"

namespace obagent::storage::testing {

class PieceSource final : public ByteSource {
 public:
  // Gives at most `piece` bytes per Read; fails with kIo once fail_after
  // bytes were given.
  PieceSource(ByteView data, size_t piece, uint64_t fail_after = UINT64_MAX)
      : data_(data), piece_(piece), fail_after_(fail_after) {}
  Result<size_t> Read(uint8_t* buffer, size_t n) override {
    if (offset_ >= fail_after_) return IoError("the source broke off");
    size_t take = std::min({n, piece_, data_.size() - offset_});
    // An empty source has no data pointer, and memcpy must not be given null.
    if (take > 0) std::memcpy(buffer, data_.data() + offset_, take);
    offset_ += take;
    ++reads_;
    return take;
  }
  int reads() const { return reads_; }

 private:
  ByteView data_;
  size_t piece_;
  uint64_t fail_after_;
  size_t offset_ = 0;
  int reads_ = 0;
};

class PieceSink final : public ByteSink {
 public:
  Status Write(ByteView data) override {
    largest_ = std::max(largest_, data.size());
    ++pieces_;
    bytes_.insert(bytes_.end(), data.begin(), data.end());
    return Status::Ok();
  }
  const Bytes& bytes() const { return bytes_; }
  size_t largest() const { return largest_; }
  int pieces() const { return pieces_; }

 private:
  Bytes bytes_;
  size_t largest_ = 0;
  int pieces_ = 0;
};

inline Bytes Slice(const Bytes& b, uint64_t offset, uint64_t length) {
  return Bytes(b.begin() + static_cast<ptrdiff_t>(offset),
               b.begin() + static_cast<ptrdiff_t>(offset + length));
}

}  // namespace obagent::storage::testing
