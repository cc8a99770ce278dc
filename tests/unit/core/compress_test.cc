#include "obagent/core/compress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "obagent/core/crypto.h"

namespace obagent::compress {
namespace {

Bytes Text(size_t n) {
  static const std::string kWords[] = {"backup ", "vault ", "recovery ",   "point ",   "chunk ",
                                       "the ",    "of ",    "passphrase ", "scratch ", "\n"};
  Bytes out;
  out.reserve(n);
  uint32_t x = 12345;
  while (out.size() < n) {
    x = x * 1664525u + 1013904223u;
    const std::string& w = kWords[(x >> 16) % 10];
    for (char c : w) {
      if (out.size() == n) break;
      out.push_back(static_cast<uint8_t>(c));
    }
  }
  return out;
}

Codec CodecOf(const Bytes& payload) { return static_cast<Codec>(payload.at(0)); }

// The Linux build uses Debian's libzstd, the Windows build zstd compiled from
// the kernel's copy (cmake/zstd): packs written by one must restore on the
// other. This frame was written by the zstd CLI (libzstd 1.5.4, `zstd -1`,
// with its XXH64 content checksum) from CrossBuildText(); the Windows build's
// encoder produced the same bytes when it was recorded.
std::string CrossBuildText() {
  std::string text;
  for (int i = 0; i < 8; ++i) {
    char number[12];  // any int: -Og cannot tell that i < 8 (-Wformat-truncation)
    std::snprintf(number, sizeof number, "%03d", i);
    text += number;
    text += " obagent cross-build zstd vector: the quick brown fox jumps over the lazy dog\n";
  }
  return text;
}

constexpr char kCrossBuildFrame[] =
    "28b52ffd64880155030052c5131a602d70034f9b44c310d15d592cf90fc3c0f595a05e3043ec601e8883a140"
    "1808100149d127afac4da7e787a3312e51c55944d7bc7154833c17fdc46a9f7447cdef68a96602ccbae7cd3215"
    "a347c408000b5069805e03943540a5017a0d286b2a203a084145011e012ff6";

Bytes CrossBuildPayload() {
  Result<Bytes> frame = FromHex(kCrossBuildFrame);
  EXPECT_TRUE(frame.ok());
  Bytes payload(1 + frame->size());
  payload[0] = static_cast<uint8_t>(Codec::kZstd);
  std::copy(frame->begin(), frame->end(), payload.begin() + 1);
  return payload;
}

TEST(CompressPayload, DecodesFrameWrittenByZstdCli) {
  std::string text = CrossBuildText();
  ASSERT_EQ(text.size(), 648u);
  Result<Bytes> decoded = DecodePayload(CrossBuildPayload(), text.size());
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(AsString(*decoded), text);
  // And what this build writes for the same text, the other build reads: it
  // is a single zstd frame of the same content, whichever library wrote it.
  Bytes ours = EncodePayload(AsBytes(text));
  ASSERT_EQ(CodecOf(ours), Codec::kZstd);
  EXPECT_EQ(AsString(*DecodePayload(ours, text.size())), text);
}

TEST(CompressPayload, FrameChecksumIsVerified) {
  Bytes payload = CrossBuildPayload();
  payload[payload.size() - 2] ^= 1;  // inside the trailing XXH64 checksum
  Result<Bytes> decoded = DecodePayload(payload, 648);
  EXPECT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), ErrorCode::kCorrupt);
}

TEST(CompressPayload, TextCompressesAndRoundTrips) {
  for (size_t n : {size_t{100}, size_t{4096}, size_t{64 * 1024}, size_t{1} << 20}) {
    SCOPED_TRACE(n);
    Bytes plain = Text(n);
    Bytes payload = EncodePayload(plain);
    EXPECT_EQ(CodecOf(payload), Codec::kZstd);
    EXPECT_LT(payload.size(), n >= 4096 ? n / 2 : n);
    Result<Bytes> decoded = DecodePayload(payload, plain.size());
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(CompressPayload, RandomDataIsStored) {
  for (size_t n : {size_t{1}, size_t{1000}, size_t{64 * 1024}, size_t{1} << 20}) {
    SCOPED_TRACE(n);
    Bytes plain = crypto::RandomBytes(n);
    Bytes payload = EncodePayload(plain);
    EXPECT_EQ(CodecOf(payload), Codec::kNone);
    EXPECT_EQ(payload.size(), plain.size() + 1);
    Result<Bytes> decoded = DecodePayload(payload, plain.size());
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(CompressPayload, EmptyInput) {
  Bytes payload = EncodePayload({});
  ASSERT_EQ(payload.size(), 1u);
  EXPECT_EQ(CodecOf(payload), Codec::kNone);
  Result<Bytes> decoded = DecodePayload(payload, 0);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(CompressPayload, DecodeIntoReusesOneBufferAndViewsStoredPayloads) {
  // A restore decodes every chunk into one buffer per worker: a smaller
  // chunk after a larger one must come back whole and alone (no bytes of
  // the earlier chunk), and the buffer is not shrunk.
  Bytes big = Text(1 << 20);
  Bytes small = Text(5000);
  std::reverse(small.begin(), small.end());
  Bytes buffer;
  Result<ByteView> a = DecodePayloadInto(EncodePayload(big), big.size(), buffer);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Bytes(a->begin(), a->end()), big);
  const size_t grown = buffer.size();
  Bytes small_payload = EncodePayload(small);
  Result<ByteView> b = DecodePayloadInto(small_payload, small.size(), buffer);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(Bytes(b->begin(), b->end()), small);
  EXPECT_EQ(b->data(), buffer.data());
  EXPECT_EQ(buffer.size(), grown);
  // A stored (incompressible) payload is a view into the payload itself.
  Bytes random = crypto::RandomBytes(70000);
  Bytes stored = EncodePayload(random);
  ASSERT_EQ(CodecOf(stored), Codec::kNone);
  Result<ByteView> c = DecodePayloadInto(stored, random.size(), buffer);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data(), stored.data() + 1);
  EXPECT_EQ(Bytes(c->begin(), c->end()), random);
  // The checks of DecodePayload hold: a wrong expected size is corrupt.
  EXPECT_EQ(DecodePayloadInto(small_payload, small.size() + 1, buffer).status().code(),
            ErrorCode::kCorrupt);
  EXPECT_EQ(DecodePayloadInto(stored, random.size() - 1, buffer).status().code(),
            ErrorCode::kCorrupt);
}

TEST(CompressPayload, SampleDecidesForLargeInputs) {
  // Random except for a compressible stretch the sample slices miss: the
  // sample says "incompressible" so the chunk is stored whole.
  size_t n = 1 << 20;
  Bytes plain = crypto::RandomBytes(n);
  Bytes text = Text(200 * 1024);
  std::copy(text.begin(), text.end(), plain.begin() + 100 * 1024);
  EXPECT_EQ(CodecOf(EncodePayload(plain)), Codec::kNone);

  // And the opposite: compressible everywhere the sample looks.
  Bytes mostly_text = Text(n);
  Bytes noise = crypto::RandomBytes(100 * 1024);
  std::copy(noise.begin(), noise.end(), mostly_text.begin() + 200 * 1024);
  Bytes payload = EncodePayload(mostly_text);
  EXPECT_EQ(CodecOf(payload), Codec::kZstd);
  Result<Bytes> decoded = DecodePayload(payload, n);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, mostly_text);
}

TEST(CompressPayload, MinRatioIsHonoured) {
  // Half random, half zeros in each region: compresses to about 50%.
  Bytes plain(200 * 1024);
  for (size_t off = 0; off < plain.size(); off += 8192) {
    Bytes r = crypto::RandomBytes(4096);
    std::copy(r.begin(), r.end(), plain.begin() + off);
  }
  EXPECT_EQ(CodecOf(EncodePayload(plain, {.zstd_level = 1, .min_ratio = 0.97})), Codec::kZstd);
  EXPECT_EQ(CodecOf(EncodePayload(plain, {.zstd_level = 1, .min_ratio = 0.3})), Codec::kNone);
  // Small inputs skip the sample but still respect the ratio.
  Bytes small(plain.begin(), plain.begin() + 16384);
  EXPECT_EQ(CodecOf(EncodePayload(small, {.zstd_level = 3, .min_ratio = 0.97})), Codec::kZstd);
  EXPECT_EQ(CodecOf(EncodePayload(small, {.zstd_level = 3, .min_ratio = 0.3})), Codec::kNone);
}

TEST(CompressPayload, DecodeRejectsWrongExpectedSize) {
  Bytes plain = Text(10000);
  Bytes zstd = EncodePayload(plain);
  ASSERT_EQ(CodecOf(zstd), Codec::kZstd);
  EXPECT_EQ(DecodePayload(zstd, plain.size() - 1).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(DecodePayload(zstd, plain.size() + 1).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(DecodePayload(zstd, 0).status().code(), ErrorCode::kCorrupt);

  Bytes stored = EncodePayload(crypto::RandomBytes(500));
  ASSERT_EQ(CodecOf(stored), Codec::kNone);
  EXPECT_EQ(DecodePayload(stored, 499).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(DecodePayload(stored, 501).status().code(), ErrorCode::kCorrupt);
}

TEST(CompressPayload, DecodeRejectsGarbage) {
  EXPECT_EQ(DecodePayload({}, 0).status().code(), ErrorCode::kCorrupt);
  Bytes unknown_codec = {7, 1, 2, 3};
  EXPECT_EQ(DecodePayload(unknown_codec, 3).status().code(), ErrorCode::kCorrupt);
  Bytes garbage = crypto::RandomBytes(1000);
  garbage[0] = static_cast<uint8_t>(Codec::kZstd);
  EXPECT_EQ(DecodePayload(garbage, 999).status().code(), ErrorCode::kCorrupt);

  Bytes plain = Text(50000);
  Bytes payload = EncodePayload(plain);
  ASSERT_EQ(CodecOf(payload), Codec::kZstd);
  // Truncated frame.
  Bytes truncated(payload.begin(), payload.end() - 10);
  EXPECT_EQ(DecodePayload(truncated, plain.size()).status().code(), ErrorCode::kCorrupt);
  // Trailing bytes after the frame.
  Bytes trailing = payload;
  trailing.push_back(0);
  EXPECT_EQ(DecodePayload(trailing, plain.size()).status().code(), ErrorCode::kCorrupt);
  // A corrupted body must never decode to the wrong bytes silently.
  for (size_t i = payload.size() / 2; i < payload.size(); i += 97) {
    Bytes bad = payload;
    bad[i] ^= 0xff;
    Result<Bytes> r = DecodePayload(bad, plain.size());
    if (r.ok()) {
      // zstd without checksum may accept some flips; the AEAD layer above
      // catches those. Only the size contract is checked here.
      EXPECT_EQ(r->size(), plain.size());
    } else {
      EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
    }
  }
}

TEST(CompressPayload, ConcurrentEncodeDecode) {
  std::vector<std::thread> threads;
  std::vector<int> failures(3, 0);
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        Bytes plain = (i % 2 == 0) ? Text(100000 + static_cast<size_t>(t * 1000 + i))
                                   : crypto::RandomBytes(100000);
        Bytes payload = EncodePayload(plain);
        Result<Bytes> decoded = DecodePayload(payload, plain.size());
        if (!decoded.ok() || *decoded != plain) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(3, 0));
}

}  // namespace
}  // namespace obagent::compress
