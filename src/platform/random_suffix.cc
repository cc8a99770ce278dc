#include "platform/random_suffix.h"

#include <atomic>
#include <random>

namespace obagent::platform {

std::string RandomSuffix(uint64_t process_id) {
  static std::atomic<uint64_t> counter{0};
  // Trivially destructible, so thread_local is safe on mingw-w64 too (see
  // docs/architecture.md on thread_local destructors under Wine).
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (process_id << 32)};
  uint64_t value = rng() ^ counter.fetch_add(1, std::memory_order_relaxed);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[value & 0xF];
    value >>= 4;
  }
  return out;
}

}  // namespace obagent::platform
