// FastCDC content-defined chunking (Xia et al., USENIX ATC'16) with
// normalized chunking: a gear rolling hash, a stricter mask below the average
// size and a looser one above it. The gear table is derived from a seed
// (from the master key) so chunk boundaries reveal nothing about content to
// someone without the key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::chunker {

struct Params {
  size_t min_size = 256 * 1024;
  size_t avg_size = 1024 * 1024;  // must be a power of two
  size_t max_size = 4 * 1024 * 1024;
  // kInvalidArgument unless 64 <= min < avg < max, avg a power of two and max <= 64 MiB.
  Status Validate() const;
};

class Chunker {
 public:
  Chunker(const Params& params, uint64_t seed);

  // Length of the chunk that starts at data[0]. The caller passes at least
  // max_size bytes unless `data` holds the rest of the stream; the result is
  // then in [min_size, max_size], or data.size() when that is smaller.
  size_t NextChunkLength(ByteView data) const;
  const Params& params() const { return params_; }

 private:
  Params params_;
  uint64_t mask_small_;  // more bits: fewer cuts before avg_size
  uint64_t mask_large_;  // fewer bits: more cuts after avg_size
  std::array<uint64_t, 256> gear_;
};

}  // namespace obagent::chunker
