// Fuzz target: a whole pack file as stored in the vault
// (pack::ReadPackHeader with the fixed test key of fuzz_util.h): magic,
// trailer, header length bounds and the AEAD framing before the header
// plaintext (pack_header.cc fuzzes that). Seeds are real packs sealed with
// that key. Each blob an accepted header names is opened too.
#include <cstdint>

#include "fuzz_util.h"
#include "obagent/core/pack.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static const crypto::Key key = fuzz::TestKey();
  const ByteView pack(data, size);
  auto entries = pack::ReadPackHeader(key, pack);
  if (!entries.ok()) return 0;
  for (const pack::BlobEntry& e : *entries) {
    (void)pack::OpenBlob(key, e.type, e.id, pack.subspan(e.offset, e.length));
  }
  return 0;
}
