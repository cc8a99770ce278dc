// Fuzz target: the plaintext of a pack header (what ReadPackHeader parses
// once AES-GCM has authenticated it; format_internal::ParsePackHeaderPlaintext).
// Input: u32 little-endian header_start (the end of the blob area), then the
// header plaintext. Every entry that parses must lie inside the blob area
// and no two may overlap.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/format_internal.h"
#include "obagent/core/pack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  if (size < 4) return 0;
  const size_t header_start = static_cast<size_t>(data[0]) | static_cast<size_t>(data[1]) << 8 |
                              static_cast<size_t>(data[2]) << 16 |
                              static_cast<size_t>(data[3]) << 24;
  auto parsed =
      format_internal::ParsePackHeaderPlaintext(ByteView(data + 4, size - 4), header_start);
  if (!parsed.ok()) return 0;
  std::vector<pack::BlobEntry> entries = *parsed;
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.offset < b.offset; });
  uint64_t end = 0;
  for (const pack::BlobEntry& e : entries) {
    if (e.offset < end || uint64_t{e.offset} + e.length > header_start) std::abort();
    end = uint64_t{e.offset} + e.length;
  }
  return 0;
}
