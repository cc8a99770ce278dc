// The plaintext formats behind the AEAD of the sealed objects (index files,
// damage records, pack headers, recovery points): their writers and parsers. The public
// Seal/Finish functions seal what the writers produce; the public
// Open/Read functions authenticate first and then call the parsers, so a
// forged plaintext never reaches them from outside. They exist here so the
// fuzz targets (tests/fuzz), their seed generator and the unit tests can
// drive the parsing itself, which a fuzzer in front of AES-GCM would never
// get past. Not for use outside src/core and its tests.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/index.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/status.h"

namespace obagent::format_internal {

Bytes IndexPlaintext(const std::vector<index::PackEntries>& packs);
// An index file's opened plaintext (index.h); what OpenIndexFile returns.
Result<std::vector<index::PackEntries>> ParseIndexPlaintext(ByteView plain);

// Appends u32 count, then per blob u8 type, 32-byte id, u32 offset, u32
// sealed length, u32 raw length (little-endian): a pack header's plaintext,
// and each pack's entries in an index file.
void PutBlobEntries(Bytes& out, const std::vector<pack::BlobEntry>& entries);

Bytes PackHeaderPlaintext(const std::vector<pack::BlobEntry>& entries);
// A pack header's opened plaintext (pack.h); `header_start` is the offset
// of the sealed header in the pack, the end of the blob area every entry
// must lie in. What ReadPackHeader returns.
Result<std::vector<pack::BlobEntry>> ParsePackHeaderPlaintext(ByteView plain, size_t header_start);

// A damage record's plaintext (index.h, DamagedCopy); pack names must be
// 64 hex characters. What OpenDamageRecord returns.
Bytes DamageRecordPlaintext(const std::vector<index::DamagedCopy>& copies);
Result<std::vector<index::DamagedCopy>> ParseDamageRecordPlaintext(ByteView plain);

std::string RecoveryPointPlaintext(const recovery_point::RecoveryPoint& point);
// A recovery point's opened JSON text (recovery_point.h); what
// recovery_point::Open returns.
Result<recovery_point::RecoveryPoint> ParseRecoveryPointPlaintext(ByteView plain);

}  // namespace obagent::format_internal
