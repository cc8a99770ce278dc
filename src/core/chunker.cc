// FastCDC with normalized chunking (level 2).
//
// The gear hash is fp = (fp << 1) + gear[byte]: bit k of fp depends on the
// last k + 1 bytes only, so the mask bits are spread over the upper part of
// the word (bits 16..62) to give every cut decision a window of ~48 bytes,
// as the FastCDC paper does with its hand-picked masks. Bit 63 is never used,
// which lets the loop consume two bytes per step with a pre-shifted table
// (FastCDC 2020 "rolling two bytes") while taking exactly the same decisions
// as the one-byte-per-step definition.
#include "obagent/core/chunker.h"

#include <bit>
#include <string>

namespace obagent::chunker {
namespace {

constexpr size_t kMaxAllowedSize = 64u * 1024 * 1024;
constexpr int kLowestMaskBit = 16;
constexpr int kMaskBitSpan = 47;  // bits 16..62

uint64_t SplitMix64(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A mask of `bits` one-bits spread evenly over bits 16..62.
uint64_t SpreadMask(int bits) {
  if (bits < 1) bits = 1;
  if (bits > kMaskBitSpan) bits = kMaskBitSpan;
  uint64_t mask = 0;
  for (int i = 0; i < bits; ++i) {
    mask |= uint64_t{1} << (kLowestMaskBit + i * kMaskBitSpan / bits);
  }
  return mask;
}

}  // namespace

Status Params::Validate() const {
  if (min_size < 64) return InvalidArgument("chunker: min_size must be at least 64");
  if (!(min_size < avg_size && avg_size < max_size)) {
    return InvalidArgument("chunker: sizes must satisfy min_size < avg_size < max_size");
  }
  if (!std::has_single_bit(avg_size)) {
    return InvalidArgument("chunker: avg_size must be a power of two");
  }
  if (max_size > kMaxAllowedSize) {
    return InvalidArgument("chunker: max_size must not exceed 64 MiB");
  }
  return Status::Ok();
}

Chunker::Chunker(const Params& params, uint64_t seed) : params_(params) {
  const int avg_bits = std::bit_width(params_.avg_size) - 1;  // log2 for a power of two
  mask_small_ = SpreadMask(avg_bits + 2);
  mask_large_ = SpreadMask(avg_bits - 2);
  uint64_t state = seed;
  for (auto& g : gear_) g = SplitMix64(state);
}

size_t Chunker::NextChunkLength(ByteView data) const {
  const size_t n = data.size();
  if (n <= params_.min_size) return n;
  const size_t limit = n < params_.max_size ? n : params_.max_size;
  const size_t normal = limit < params_.avg_size ? limit : params_.avg_size;
  const uint8_t* p = data.data();
  const uint64_t* gear = gear_.data();

  // Rolling two bytes per step: after the first byte of a pair, the hash is
  // kept shifted left by one (its top bit is lost, but no mask uses bit 63),
  // so it is tested against the mask shifted left by one.
  uint64_t fp = 0;
  size_t i = params_.min_size;

  const uint64_t ms = mask_small_, ms_ls = mask_small_ << 1;
  for (; i + 2 <= normal; i += 2) {
    fp = (fp << 2) + (gear[p[i]] << 1);
    if (!(fp & ms_ls)) return i + 1;
    fp += gear[p[i + 1]];
    if (!(fp & ms)) return i + 2;
  }
  if (i < normal) {
    fp = (fp << 1) + gear[p[i]];
    if (!(fp & ms)) return i + 1;
    ++i;
  }

  const uint64_t ml = mask_large_, ml_ls = mask_large_ << 1;
  for (; i + 2 <= limit; i += 2) {
    fp = (fp << 2) + (gear[p[i]] << 1);
    if (!(fp & ml_ls)) return i + 1;
    fp += gear[p[i + 1]];
    if (!(fp & ml)) return i + 2;
  }
  if (i < limit) {
    fp = (fp << 1) + gear[p[i]];
    if (!(fp & ml)) return i + 1;
  }
  return limit;
}

}  // namespace obagent::chunker
