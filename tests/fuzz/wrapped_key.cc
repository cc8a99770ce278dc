// Fuzz target: the wrapped master key (keys::ParseWrappedKey), JSON a
// machine reads from the vault at registration and recovery, and vaultd
// reads from a registering machine. What parses must serialize and parse
// back to the same.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "obagent/core/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = keys::ParseWrappedKey(fuzz::AsText(data, size));
  if (!parsed.ok()) return 0;
  auto again = keys::ParseWrappedKey(keys::SerializeWrappedKey(*parsed));
  if (!again.ok() || keys::SerializeWrappedKey(*again) != keys::SerializeWrappedKey(*parsed)) {
    std::abort();
  }
  return 0;
}
