// The blob-id rule in one place (docs/design: "Chunk id = HMAC-SHA256(idKey,
// plaintext)"): how a blob's id is computed from its plaintext, how bytes
// read back are checked against the id they were asked for, and the text
// form ids and content-named objects (packs, index files, recovery points)
// take: 64 lowercase hex digits, as ObjectId::Hex writes them. Keyed with
// the machine's id key, so the vault cannot learn content from ids.
#pragma once

#include <cstddef>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"

namespace obagent {

class BlobId {
 public:
  // Digits of the canonical text form.
  static constexpr size_t kHexDigits = 2 * sizeof(ObjectId::bytes);

  // The id of the blob whose plaintext is `plain`.
  static ObjectId Of(const crypto::Key& id_key, ByteView plain);
  // Whether `plain` is the plaintext of blob `id` (what every reader checks
  // after decrypting and decompressing, and before trusting the bytes).
  static bool Matches(const crypto::Key& id_key, ByteView plain, const ObjectId& id);
  // Whether `text` is an id in its canonical form: exactly kHexDigits
  // lowercase hex digits. (ObjectId::FromHex also reads upper case; names
  // in the vault are always written in this form.)
  static bool IsCanonicalHex(std::string_view text);
};

}  // namespace obagent
