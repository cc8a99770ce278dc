// Blob payload encoding: one codec byte followed by the (maybe) compressed
// data. zstd is skipped for chunks that do not compress (random, already
// compressed media), decided from the byte entropy of a sample so
// incompressible data costs almost nothing (design.md §4: compression is the
// pipeline's ceiling).
#pragma once

#include <cstdint>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::compress {

enum class Codec : uint8_t { kNone = 0, kZstd = 1 };

struct Options {
  int zstd_level = 1;
  // Compressed output must be below this fraction of the input to be kept.
  double min_ratio = 0.97;
};

// Returns codec byte || payload.
Bytes EncodePayload(ByteView plain, const Options& options = {});
// The same encoding written to `out` from its start: the result is a view of
// `out`'s first bytes. `out` is grown when too small and never shrunk, so one
// buffer reused for many chunks costs no allocation per chunk.
// Thread-safe (zstd contexts come from a shared pool).
ByteView EncodePayloadInto(ByteView plain, Bytes& out, const Options& options = {});
// Reverses EncodePayload; kCorrupt if the codec is unknown, the data does not
// decompress or its size differs from expected_size.
Result<Bytes> DecodePayload(ByteView payload, size_t expected_size);
// DecodePayload without a copy or an allocation per chunk: a stored
// (uncompressed) payload is returned as a view into `payload`, a compressed
// one is decompressed into `buffer` (grown when too small, never shrunk)
// and returned as a view of its first bytes.
Result<ByteView> DecodePayloadInto(ByteView payload, size_t expected_size, Bytes& buffer);

}  // namespace obagent::compress
