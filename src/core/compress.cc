#include "obagent/core/compress.h"

#include <zstd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace obagent::compress {
namespace {

// Inputs above this size are sampled before being compressed whole.
constexpr size_t kSampleThreshold = 64 * 1024;
constexpr size_t kSliceSize = 16 * 1024;
// Larger inputs (rare: big tree objects) use a one-off buffer so that no
// thread keeps a huge scratch buffer alive.
constexpr size_t kMaxScratch = 8 * 1024 * 1024;

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

// What one compression needs: a context and an output buffer, reused so that
// a compressed chunk is copied once into an exactly sized result.
struct Compressor {
  CCtx cctx;
  Bytes scratch;
  Bytes& Scratch(size_t size) {
    if (scratch.size() < size) scratch.resize(size);
    return scratch;
  }
};

// A few idle objects shared by all threads. Not thread_local: mingw-w64 runs
// thread_local destructors after the thread's TLS block is freed, which
// faulted the Windows engine when a job's worker threads ended.
template <typename T>
class Pool {
 public:
  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
    ~Lease() { pool_.Return(std::move(item_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    T& operator*() { return *item_; }
    T* operator->() { return item_.get(); }

   private:
    Pool& pool_;
    std::unique_ptr<T> item_;
  };

  // Process-lifetime (never destroyed: threads may still return items while
  // static destructors run at exit).
  static Pool& Instance() {
    static Pool* pool = new Pool;
    return *pool;
  }

  Lease Acquire() {
    std::unique_ptr<T> item;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        item = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!item) item = std::make_unique<T>();
    return Lease(*this, std::move(item));
  }

 private:
  // More idle objects than workers are never needed at once.
  static constexpr size_t kMaxIdle = 64;
  void Return(std::unique_ptr<T> item) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(item));
  }
  std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;
};

// Compressed size of `in`, or 0 if zstd failed.
size_t CompressInto(ZSTD_CCtx* ctx, ByteView in, int level, Bytes& out) {
  size_t bound = ZSTD_compressBound(in.size());
  if (out.size() < bound) out.resize(bound);
  size_t n = ZSTD_compressCCtx(ctx, out.data(), out.size(), in.data(), in.size(), level);
  return ZSTD_isError(n) ? 0 : n;
}

bool WorthKeeping(size_t compressed, size_t original, double min_ratio) {
  return compressed != 0 &&
         static_cast<double>(compressed) < min_ratio * static_cast<double>(original);
}

// Whether a sample of 3 slices (start, middle, end) compresses well enough
// to try the whole input.
bool SampleCompresses(Compressor& c, ByteView plain, const Options& options) {
  const size_t starts[] = {0, plain.size() / 2 - kSliceSize / 2, plain.size() - kSliceSize};
  Bytes& scratch = c.Scratch(ZSTD_compressBound(kSliceSize));
  size_t compressed = 0;
  for (size_t start : starts) {
    size_t n =
        CompressInto(c.cctx.ctx, plain.subspan(start, kSliceSize), options.zstd_level, scratch);
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
  auto c = Pool<Compressor>::Instance().Acquire();
  if (plain.size() > kSampleThreshold && !SampleCompresses(*c, plain, options)) {
    return Stored(plain);
  }

  size_t bound = ZSTD_compressBound(plain.size());
  Bytes one_off;
  Bytes& scratch = bound <= kMaxScratch ? c->Scratch(bound) : one_off;
  size_t n = CompressInto(c->cctx.ctx, plain, options.zstd_level, scratch);
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
      auto d = Pool<DCtx>::Instance().Acquire();
      size_t n = ZSTD_decompressDCtx(d->ctx, out.data(), out.size(), data.data(), data.size());
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
