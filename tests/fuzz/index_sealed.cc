// Fuzz target: a whole sealed index file as stored in the vault
// (index::OpenIndexFile with the fixed test key of fuzz_util.h): the AEAD
// framing (short, truncated, altered input). Seeds are real index files
// sealed with that key, so mutations of them reach the authentication.
#include <cstdint>

#include "fuzz_util.h"
#include "obagent/core/index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static const crypto::Key key = fuzz::TestKey();
  (void)index::OpenIndexFile(key, ByteView(data, size));
  return 0;
}
