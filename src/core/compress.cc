#include "obagent/core/compress.h"

#include <zstd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "obagent/core/idle_pool.h"

namespace obagent::compress {
namespace {

// Inputs above this size are sampled before being compressed whole.
constexpr size_t kSampleThreshold = 64 * 1024;
constexpr size_t kSliceSize = 16 * 1024;
// A sample above this many bits per byte is taken for incompressible: an
// entropy coder could save at most 1/16 of it, and zstd level 1 on such data
// does not reach min_ratio either.
constexpr double kMaxSampleBits = 7.5;

// zstd contexts are reused: allocating one costs more than compressing a
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

// Idle contexts shared by all threads (more than workers are never needed
// at once). Process-lifetime, never destroyed: threads may still return
// contexts while static destructors run at exit.
template <typename T>
IdlePool<T>& Idle() {
  static auto* pool = new IdlePool<T>(64);
  return *pool;
}

bool WorthKeeping(size_t compressed, size_t original, double min_ratio) {
  return static_cast<double>(compressed) < min_ratio * static_cast<double>(original);
}

// Order-0 entropy of `data` in bits per byte: the size an ideal byte-wise
// entropy coder would reach.
double EntropyBits(ByteView data) {
  // Four interleaved tables: runs of one byte value do not serialise on one
  // counter.
  uint32_t counts[4][256] = {};
  const uint8_t* p = data.data();
  size_t i = 0;
  for (; i + 4 <= data.size(); i += 4) {
    ++counts[0][p[i]];
    ++counts[1][p[i + 1]];
    ++counts[2][p[i + 2]];
    ++counts[3][p[i + 3]];
  }
  for (; i < data.size(); ++i) ++counts[0][p[i]];
  const double total = static_cast<double>(data.size());
  double bits = 0;
  for (int b = 0; b < 256; ++b) {
    const uint32_t c = counts[0][b] + counts[1][b] + counts[2][b] + counts[3][b];
    if (c != 0) bits -= c * std::log2(c / total);
  }
  return bits / total;
}

// Whether a sample of 3 slices (start, middle, end) may compress well enough
// to try the whole input. Each slice's order-0 entropy estimates what an
// entropy coder alone makes of it (zstd codes each block on its own, so a
// text slice beside random ones still counts); random or already compressed
// data is at 8 bits a byte and is stored without running zstd at all. Above
// kMaxSampleBits on average zstd's output decides. Counting bytes costs a
// tenth of compressing the sample.
bool SampleMayCompress(ByteView plain) {
  const size_t starts[] = {0, plain.size() / 2 - kSliceSize / 2, plain.size() - kSliceSize};
  double bits = 0;
  for (size_t start : starts) bits += EntropyBits(plain.subspan(start, kSliceSize));
  return bits / 3 <= kMaxSampleBits;
}

// codec byte || plain, written to `out` from offset 0.
ByteView StoredInto(ByteView plain, Bytes& out) {
  if (out.size() < 1 + plain.size()) out.resize(1 + plain.size());
  out[0] = static_cast<uint8_t>(Codec::kNone);
  if (!plain.empty()) std::memcpy(out.data() + 1, plain.data(), plain.size());
  return ByteView(out.data(), 1 + plain.size());
}

}  // namespace

ByteView EncodePayloadInto(ByteView plain, Bytes& out, const Options& options) {
  if (plain.empty()) return StoredInto(plain, out);
  if (plain.size() > kSampleThreshold && !SampleMayCompress(plain)) return StoredInto(plain, out);

  // Compress straight behind the codec byte; `out` only ever grows, so a
  // buffer reused across chunks is allocated (and its pages touched) once.
  const size_t bound = ZSTD_compressBound(plain.size());
  if (out.size() < 1 + bound) out.resize(1 + bound);
  auto c = Idle<CCtx>().Acquire();
  size_t n = ZSTD_compressCCtx(c->ctx, out.data() + 1, bound, plain.data(), plain.size(),
                               options.zstd_level);
  if (ZSTD_isError(n) || !WorthKeeping(n, plain.size(), options.min_ratio)) {
    return StoredInto(plain, out);
  }
  out[0] = static_cast<uint8_t>(Codec::kZstd);
  return ByteView(out.data(), 1 + n);
}

Bytes EncodePayload(ByteView plain, const Options& options) {
  Bytes out;
  size_t n = EncodePayloadInto(plain, out, options).size();
  out.resize(n);
  return out;
}

Result<ByteView> DecodePayloadInto(ByteView payload, size_t expected_size, Bytes& buffer) {
  if (payload.empty()) return Corrupt("empty blob payload (no codec byte)");
  ByteView data = payload.subspan(1);
  switch (static_cast<Codec>(payload[0])) {
    case Codec::kNone:
      if (data.size() != expected_size) {
        return Corrupt("stored payload has " + std::to_string(data.size()) + " bytes, expected " +
                       std::to_string(expected_size));
      }
      return data;
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
      if (buffer.size() < expected_size) buffer.resize(expected_size);
      auto d = Idle<DCtx>().Acquire();
      size_t n =
          ZSTD_decompressDCtx(d->ctx, buffer.data(), expected_size, data.data(), data.size());
      if (ZSTD_isError(n)) {
        return Corrupt(std::string("zstd decompression failed: ") + ZSTD_getErrorName(n));
      }
      if (n != expected_size) {
        return Corrupt("zstd payload decompressed to " + std::to_string(n) + " bytes, expected " +
                       std::to_string(expected_size));
      }
      return ByteView(buffer).first(expected_size);
    }
  }
  return Corrupt("unknown payload codec " + std::to_string(payload[0]));
}

Result<Bytes> DecodePayload(ByteView payload, size_t expected_size) {
  Bytes buffer;
  OB_ASSIGN_OR_RETURN(ByteView plain, DecodePayloadInto(payload, expected_size, buffer));
  // A compressed payload was decompressed into `buffer` (exactly its size):
  // no copy. A stored one is a view into `payload`.
  if (!plain.empty() && plain.data() == buffer.data()) return buffer;
  return Bytes(plain.begin(), plain.end());
}

}  // namespace obagent::compress
