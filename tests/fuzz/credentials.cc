// Fuzz target: the vault-credential file (VaultCredentials::Parse, an XML
// file an administrator hands to a machine and vaultd reads back at
// registration). Whatever parses must serialize and parse again to the same
// contract.
#include <cstdint>
#include <cstdlib>

#include "fuzz_util.h"
#include "obagent/vault/credentials.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using obagent::vault::VaultCredentials;
  auto parsed = VaultCredentials::Parse(obagent::fuzz::AsText(data, size));
  if (!parsed.ok()) return 0;
  auto again = VaultCredentials::Parse(parsed->Serialize());
  if (!again.ok() || again->CanonicalString() != parsed->CanonicalString() ||
      again->signature != parsed->signature) {
    std::abort();  // a parsed file must round-trip
  }
  return 0;
}
