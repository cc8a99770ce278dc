// Fuzz target: the plaintext of an index file (what OpenIndexFile parses
// once AES-GCM has authenticated it; format_internal::ParseIndexPlaintext).
// A fuzzer in front of the AEAD would only test the MAC; index_sealed.cc
// covers that framing. What parses must seal and open back to the same.
#include <cstdint>
#include <cstdlib>

#include "core/format_internal.h"
#include "fuzz_util.h"
#include "obagent/core/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = format_internal::ParseIndexPlaintext(ByteView(data, size));
  if (!parsed.ok()) return 0;
  index::Index index;
  for (const index::PackEntries& pack : *parsed) index.Add(pack);
  const crypto::Key key = fuzz::TestKey();
  auto again = index::OpenIndexFile(key, index::SealIndexFile(key, *parsed));
  if (!again.ok() || again->size() != parsed->size()) std::abort();
  for (size_t i = 0; i < parsed->size(); ++i) {
    if ((*again)[i].pack_name != (*parsed)[i].pack_name ||
        (*again)[i].blobs.size() != (*parsed)[i].blobs.size()) {
      std::abort();
    }
  }
  return 0;
}
