// BlobId: HMAC-SHA256 under the id key, and the canonical hex form.
#include "obagent/core/blob_id.h"

#include <algorithm>

namespace obagent {

ObjectId BlobId::Of(const crypto::Key& id_key, ByteView plain) {
  const crypto::Digest mac = crypto::HmacSha256(id_key, plain);
  ObjectId id;
  static_assert(sizeof(id.bytes) == sizeof(mac));
  std::copy(mac.begin(), mac.end(), id.bytes.begin());
  return id;
}

bool BlobId::Matches(const crypto::Key& id_key, ByteView plain, const ObjectId& id) {
  const crypto::Digest mac = crypto::HmacSha256(id_key, plain);
  return crypto::EqualConstantTime(mac, id.bytes);
}

bool BlobId::IsCanonicalHex(std::string_view text) { return IsLowerHex(text, kHexDigits); }

}  // namespace obagent
