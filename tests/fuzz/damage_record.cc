// Fuzz target: the plaintext of a damage record (what OpenDamageRecord
// parses once AES-GCM has authenticated it;
// format_internal::ParseDamageRecordPlaintext). What parses must seal and
// open back to the same copies.
#include <cstdint>
#include <cstdlib>

#include "core/format_internal.h"
#include "fuzz_util.h"
#include "obagent/core/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = format_internal::ParseDamageRecordPlaintext(ByteView(data, size));
  if (!parsed.ok()) return 0;
  const crypto::Key key = fuzz::TestKey();
  auto again = index::OpenDamageRecord(key, index::SealDamageRecord(key, *parsed));
  if (!again.ok() || *again != *parsed) std::abort();
  return 0;
}
