#include "obagent/core/compress.h"

#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace obagent::compress {
namespace {

// Inputs above this size are sampled before being compressed whole.
constexpr size_t kSampleThreshold = 64 * 1024;
constexpr size_t kSliceSize = 16 * 1024;
// Larger inputs (rare: big tree objects) use a one-off buffer so that no
// thread keeps a huge scratch buffer alive.
constexpr size_t kMaxScratch = 8 * 1024 * 1024;

// Per-thread zstd contexts: allocating one costs more than compressing a
// small chunk, and the pipeline compresses from several workers at once.
struct CCtx {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  CCtx() {
    if (ctx == nullptr) {
      std::fprintf(stderr, "obagent: out of memory creating a zstd context\n");
      std::abort();
    }
  }
  ~CCtx() { ZSTD_freeCCtx(ctx); }
  CCtx(const CCtx&) = delete;
  CCtx& operator=(const CCtx&) = delete;
};

struct DCtx {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  DCtx() {
    if (ctx == nullptr) {
      std::fprintf(stderr, "obagent: out of memory creating a zstd context\n");
      std::abort();
    }
  }
  ~DCtx() { ZSTD_freeDCtx(ctx); }
  DCtx(const DCtx&) = delete;
  DCtx& operator=(const DCtx&) = delete;
};

ZSTD_CCtx* CompressCtx() {
  thread_local CCtx c;
  return c.ctx;
}

ZSTD_DCtx* DecompressCtx() {
  thread_local DCtx d;
  return d.ctx;
}

// Scratch output buffer, reused so that a compressed chunk is copied once
// into an exactly sized result instead of shrinking a compressBound-sized one.
Bytes& Scratch(size_t size) {
  thread_local Bytes scratch;
  if (scratch.size() < size) scratch.resize(size);
  return scratch;
}

// Compressed size of `in`, or 0 if zstd failed.
size_t CompressInto(ByteView in, int level, Bytes& out) {
  size_t bound = ZSTD_compressBound(in.size());
  if (out.size() < bound) out.resize(bound);
  size_t n = ZSTD_compressCCtx(CompressCtx(), out.data(), out.size(), in.data(), in.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

bool WorthKeeping(size_t compressed, size_t original, double min_ratio) {
  return compressed != 0 &&
         static_cast<double>(compressed) < min_ratio * static_cast<double>(original);
}

// Whether a sample of 3 slices (start, middle, end) compresses well enough
// to try the whole input.
bool SampleCompresses(ByteView plain, const Options& options) {
  const size_t starts[] = {0, plain.size() / 2 - kSliceSize / 2, plain.size() - kSliceSize};
  Bytes& scratch = Scratch(ZSTD_compressBound(kSliceSize));
  size_t compressed = 0;
  for (size_t start : starts) {
    size_t n = CompressInto(plain.subspan(start, kSliceSize), options.zstd_level, scratch);
    if (n == 0) return false;
    compressed += n;
  }
  return WorthKeeping(compressed, 3 * kSliceSize, options.min_ratio);
}

Bytes Stored(ByteView plain) {
  Bytes out(1 + plain.size());
  out[0] = static_cast<uint8_t>(Codec::kNone);
  if (!plain.empty()) std::memcpy(out.data() + 1, plain.data(), plain.size());
  return out;
}

}  // namespace

Bytes EncodePayload(ByteView plain, const Options& options) {
  if (plain.empty()) return Stored(plain);
  if (plain.size() > kSampleThreshold && !SampleCompresses(plain, options)) return Stored(plain);

  size_t bound = ZSTD_compressBound(plain.size());
  Bytes one_off;
  Bytes& scratch = bound <= kMaxScratch ? Scratch(bound) : one_off;
  size_t n = CompressInto(plain, options.zstd_level, scratch);
  if (!WorthKeeping(n, plain.size(), options.min_ratio)) return Stored(plain);
  Bytes out(1 + n);
  out[0] = static_cast<uint8_t>(Codec::kZstd);
  std::memcpy(out.data() + 1, scratch.data(), n);
  return out;
}

Result<Bytes> DecodePayload(ByteView payload, size_t expected_size) {
  if (payload.empty()) return Corrupt("empty blob payload (no codec byte)");
  ByteView data = payload.subspan(1);
  switch (static_cast<Codec>(payload[0])) {
    case Codec::kNone:
      if (data.size() != expected_size) {
        return Corrupt("stored payload has " + std::to_string(data.size()) + " bytes, expected " +
                       std::to_string(expected_size));
      }
      return Bytes(data.begin(), data.end());
    case Codec::kZstd: {
      unsigned long long content = ZSTD_getFrameContentSize(data.data(), data.size());
      if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN) {
        return Corrupt("payload is not a zstd frame with a known size");
      }
      if (content != expected_size) {
        return Corrupt("zstd frame holds " + std::to_string(content) + " bytes, expected " +
                       std::to_string(expected_size));
      }
      // Exactly one frame, nothing trailing.
      size_t frame = ZSTD_findFrameCompressedSize(data.data(), data.size());
      if (ZSTD_isError(frame) || frame != data.size()) {
        return Corrupt("zstd payload is truncated or has trailing bytes");
      }
      Bytes out(expected_size);
      size_t n =
          ZSTD_decompressDCtx(DecompressCtx(), out.data(), out.size(), data.data(), data.size());
      if (ZSTD_isError(n)) {
        return Corrupt(std::string("zstd decompression failed: ") + ZSTD_getErrorName(n));
      }
      if (n != expected_size) {
        return Corrupt("zstd payload decompressed to " + std::to_string(n) + " bytes, expected " +
                       std::to_string(expected_size));
      }
      return out;
    }
  }
  return Corrupt("unknown payload codec " + std::to_string(payload[0]));
}

}  // namespace obagent::compress
