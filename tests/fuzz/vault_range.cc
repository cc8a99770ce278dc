// Fuzz target: the HTTP Range header of vaultd's object GET (ParseRange in
// src/vault/service.cc, reached through VaultService::Handle on the
// fixture's 4096-byte object, vault_fixture.h). Input: the Range header's
// value. The answer must be 200 with the whole object, 206 with exactly
// the bytes its Content-Range names, or 416; nothing else.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_util.h"
#include "vault_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static fuzz::VaultFixture* fixture = new fuzz::VaultFixture();
  constexpr uint64_t kSize = fuzz::VaultFixture::kSeedObjectSize;
  vault::ServiceRequest req;
  req.method = "GET";
  req.path = "/v1/objects/data/seed";
  req.headers["authorization"] = "Bearer " + fixture->var("machine");
  req.headers["range"] = std::string(fuzz::AsText(data, size));
  vault::ServiceResponse resp = fixture->Handle(req);
  if (resp.status == 416) return 0;
  if ((resp.status != 200 && resp.status != 206) || !resp.stream_body || !resp.content_length) {
    std::fprintf(stderr, "unexpected answer %d\n", resp.status);
    std::abort();
  }
  storage::MemorySink sink;
  if (!resp.stream_body(sink).ok() || sink.bytes().size() != *resp.content_length) std::abort();
  uint64_t first = 0, last = kSize - 1;
  if (resp.status == 206) {
    std::string range;
    for (const auto& [name, value] : resp.headers) {
      if (name == "Content-Range") range = value;
    }
    unsigned long long a = 0, b = 0, total = 0;
    if (std::sscanf(range.c_str(), "bytes %llu-%llu/%llu", &a, &b, &total) != 3 || total != kSize ||
        a > b || b >= kSize) {
      std::fprintf(stderr, "bad Content-Range '%s'\n", range.c_str());
      std::abort();
    }
    first = a;
    last = b;
  }
  if (sink.bytes().size() != last - first + 1) std::abort();
  for (uint64_t i = 0; i < sink.bytes().size(); ++i) {
    if (sink.bytes()[i] != static_cast<uint8_t>((first + i) * 7)) std::abort();
  }
  return 0;
}
