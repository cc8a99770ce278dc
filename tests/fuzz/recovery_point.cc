// Fuzz target: the plaintext of a recovery point (the JSON that
// recovery_point::Open parses once AES-GCM has authenticated it;
// format_internal::ParseRecoveryPointPlaintext). What parses must seal and
// open back to the same point.
#include <cstdint>
#include <cstdlib>

#include "core/format_internal.h"
#include "fuzz_util.h"
#include "obagent/core/recovery_point.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = format_internal::ParseRecoveryPointPlaintext(ByteView(data, size));
  if (!parsed.ok()) return 0;
  const crypto::Key key = fuzz::TestKey();
  auto again = recovery_point::Open(key, recovery_point::Seal(key, *parsed));
  if (!again.ok() || again->paths != parsed->paths || again->hostname != parsed->hostname ||
      again->machine_id != parsed->machine_id || again->parent != parsed->parent ||
      again->tree != parsed->tree || again->time_ns != parsed->time_ns) {
    std::abort();
  }
  return 0;
}
