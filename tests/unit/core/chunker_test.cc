#include "obagent/core/chunker.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace obagent::chunker {
namespace {

// Deterministic pseudo-random test data (xorshift64*), fast even in Debug.
Bytes RandomData(size_t n, uint64_t seed) {
  Bytes out(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const uint64_t v = x * 0x2545F4914F6CDD1Dull;
    std::memcpy(out.data() + i, &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(i * 131 + 7);
  return out;
}

std::vector<size_t> ChunkAll(const Chunker& chunker, ByteView data) {
  std::vector<size_t> lengths;
  size_t pos = 0;
  while (pos < data.size()) {
    const size_t len = chunker.NextChunkLength(data.subspan(pos));
    EXPECT_GT(len, 0u);
    if (len == 0) break;
    lengths.push_back(len);
    pos += len;
  }
  return lengths;
}

Params SmallParams() {
  Params p;
  p.min_size = 2 * 1024;
  p.avg_size = 8 * 1024;
  p.max_size = 32 * 1024;
  return p;
}

TEST(ChunkerParams, DefaultsAreValid) { EXPECT_TRUE(Params{}.Validate().ok()); }

TEST(ChunkerParams, RejectsBadParameters) {
  auto invalid = [](size_t min, size_t avg, size_t max) {
    Params p;
    p.min_size = min;
    p.avg_size = avg;
    p.max_size = max;
    Status s = p.Validate();
    return !s.ok() && s.code() == ErrorCode::kInvalidArgument;
  };
  EXPECT_TRUE(invalid(32, 1024, 4096));                    // min < 64
  EXPECT_TRUE(invalid(1024, 1024, 4096));                  // min == avg
  EXPECT_TRUE(invalid(512, 4096, 4096));                   // avg == max
  EXPECT_TRUE(invalid(512, 3000, 8192));                   // avg not a power of two
  EXPECT_TRUE(invalid(1 << 20, 1 << 24, (64 << 20) + 1));  // max > 64 MiB
  EXPECT_TRUE(invalid(4096, 2048, 8192));                  // min > avg
  Params ok;
  ok.min_size = 64;
  ok.avg_size = 128;
  ok.max_size = 64 << 20;
  EXPECT_TRUE(ok.Validate().ok());
}

TEST(Chunker, SizesWithinBounds) {
  const Params p = SmallParams();
  Chunker chunker(p, 42);
  const Bytes data = RandomData(8 << 20, 1);
  const auto lengths = ChunkAll(chunker, data);
  size_t total = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    total += lengths[i];
    if (i + 1 < lengths.size()) {
      EXPECT_GE(lengths[i], p.min_size);
      EXPECT_LE(lengths[i], p.max_size);
    } else {
      EXPECT_LE(lengths[i], p.max_size);
    }
  }
  EXPECT_EQ(total, data.size());
}

TEST(Chunker, ConstantDataHitsMaxSize) {
  const Params p = SmallParams();
  Chunker chunker(p, 7);
  const Bytes zeros(p.max_size * 3, 0);
  for (size_t len : ChunkAll(chunker, zeros)) {
    EXPECT_GE(len, p.min_size);
    EXPECT_LE(len, p.max_size);
  }
}

void ExpectAverageNear(const Params& p, size_t data_size) {
  Chunker chunker(p, 0x1234);
  const Bytes data = RandomData(data_size, 99);
  const auto lengths = ChunkAll(chunker, data);
  ASSERT_GT(lengths.size(), 10u);
  const double mean = static_cast<double>(data.size()) / static_cast<double>(lengths.size());
  EXPECT_GT(mean, 0.75 * static_cast<double>(p.avg_size)) << "avg " << p.avg_size;
  EXPECT_LT(mean, 1.25 * static_cast<double>(p.avg_size)) << "avg " << p.avg_size;
}

TEST(Chunker, AverageNearTargetSmall) { ExpectAverageNear(SmallParams(), 16 << 20); }

TEST(Chunker, AverageNearTargetDefault) { ExpectAverageNear(Params{}, 96 << 20); }

TEST(Chunker, AverageNearTargetTiny) {
  Params p;
  p.min_size = 64;
  p.avg_size = 256;
  p.max_size = 1024;
  ExpectAverageNear(p, 1 << 20);
}

TEST(Chunker, DeterministicForSameSeed) {
  const Bytes data = RandomData(4 << 20, 5);
  Chunker a(SmallParams(), 77), b(SmallParams(), 77);
  EXPECT_EQ(ChunkAll(a, data), ChunkAll(b, data));
}

TEST(Chunker, DifferentSeedsGiveDifferentBoundaries) {
  const Bytes data = RandomData(4 << 20, 5);
  Chunker a(SmallParams(), 77), b(SmallParams(), 78);
  EXPECT_NE(ChunkAll(a, data), ChunkAll(b, data));
}

// A cut depends only on the bytes before it: truncating the input after a
// cut point never moves it, and truncating before it yields the whole rest.
TEST(Chunker, CutDependsOnlyOnPrecedingBytes) {
  Params p;
  p.min_size = 64;
  p.avg_size = 256;
  p.max_size = 1024;
  Chunker chunker(p, 3);
  const Bytes data = RandomData(1 << 20, 8);
  size_t pos = 0;
  for (int chunk = 0; chunk < 300; ++chunk) {
    const ByteView rest = ByteView(data).subspan(pos);
    const size_t cut = chunker.NextChunkLength(rest);
    for (size_t len = p.min_size - 1; len <= cut + 3 && len <= rest.size(); ++len) {
      const size_t got = chunker.NextChunkLength(rest.first(len));
      ASSERT_EQ(got, len < cut ? len : cut) << "chunk " << chunk << " len " << len;
    }
    pos += cut;
  }
}

TEST(Chunker, BoundariesStableUnderInsertion) {
  Chunker chunker(Params{}, 0xfeed);
  const Bytes original = RandomData(64 << 20, 21);
  Bytes modified = original;
  const Bytes inserted = RandomData(100, 22);
  modified.insert(modified.begin() + 1000, inserted.begin(), inserted.end());

  auto chunk_hashes = [&](const Bytes& data) {
    std::vector<size_t> hashes;
    size_t pos = 0;
    for (size_t len : ChunkAll(chunker, data)) {
      hashes.push_back(std::hash<std::string_view>{}(AsString(ByteView(data).subspan(pos, len))));
      pos += len;
    }
    return hashes;
  };
  const auto before = chunk_hashes(original);
  const auto after = chunk_hashes(modified);
  const std::unordered_set<size_t> known(before.begin(), before.end());
  size_t shared = 0;
  for (size_t h : after) shared += known.count(h);
  ASSERT_GT(after.size(), 20u);
  EXPECT_GE(shared + 2, after.size()) << shared << " of " << after.size() << " shared";
  EXPECT_GT(static_cast<double>(shared), 0.9 * static_cast<double>(after.size()));
}

TEST(Chunker, ShortStreamIsOneChunk) {
  const Params p = SmallParams();
  Chunker chunker(p, 1);
  const Bytes data = RandomData(p.min_size - 1, 2);
  const auto lengths = ChunkAll(chunker, data);
  ASSERT_EQ(lengths.size(), 1u);
  EXPECT_EQ(lengths[0], data.size());
  EXPECT_EQ(chunker.NextChunkLength(ByteView(data).first(p.min_size - 1)), p.min_size - 1);
  EXPECT_EQ(chunker.NextChunkLength(ByteView()), 0u);
  EXPECT_EQ(chunker.NextChunkLength(ByteView(data).first(1)), 1u);
}

}  // namespace
}  // namespace obagent::chunker
