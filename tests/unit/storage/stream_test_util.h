// Sources and sinks for the streaming BlobStore tests: a source that hands
// out its bytes in uneven pieces (and can fail part-way), a sink that
// records the pieces it got; and GetTo's contract, checked the same way on
// every store.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

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

// GetTo on a store holding about 5 MiB of `data` under `key`: whole and
// ranged reads (across MiB boundaries, to the end, empty at the end) come
// back byte for byte in pieces of at most kStreamPieceBytes; ranges past the
// end are kCorrupt before anything reached the sink; a missing key is
// kNotFound.
inline void ExpectGetToReadsRanges(BlobStore& store, const std::string& key, const Bytes& data) {
  auto get = [&](uint64_t offset, uint64_t length) {
    PieceSink sink;
    Status st = store.GetTo(key, offset, length, sink);
    EXPECT_TRUE(st.ok()) << offset << "+" << length << ": " << st.ToString();
    EXPECT_LE(sink.largest(), kStreamPieceBytes);
    return sink.bytes();
  };
  EXPECT_TRUE(get(0, kToEnd) == data);
  EXPECT_TRUE(get(0, data.size()) == data);
  EXPECT_TRUE(get(10, 100) == Slice(data, 10, 100));
  EXPECT_TRUE(get((1u << 20) - 3, (2u << 20) + 5) == Slice(data, (1u << 20) - 3, (2u << 20) + 5));
  EXPECT_TRUE(get(data.size() - 7, kToEnd) == Slice(data, data.size() - 7, 7));
  EXPECT_TRUE(get(data.size(), kToEnd).empty());
  EXPECT_TRUE(get(data.size(), 0).empty());

  // Past the end: kCorrupt before anything reached the sink.
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint64_t>>{{data.size() - 1, 2},
                                                                          {data.size() + 1, kToEnd},
                                                                          {data.size() + 1, 0},
                                                                          {0, UINT64_MAX - 1}}) {
    PieceSink sink;
    EXPECT_EQ(store.GetTo(key, offset, length, sink).code(), ErrorCode::kCorrupt) << offset;
    EXPECT_EQ(sink.pieces(), 0);
  }
  PieceSink sink;
  EXPECT_EQ(store.GetTo("missing", 0, kToEnd, sink).code(), ErrorCode::kNotFound);
}

}  // namespace obagent::storage::testing
