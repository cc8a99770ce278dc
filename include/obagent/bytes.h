// Byte buffers and object ids shared by every module.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/status.h"

namespace obagent {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string ToHex(ByteView data);
// 0..15 for '0'-'9', 'a'-'f', 'A'-'F'; -1 for any other character.
int HexDigitValue(char c);
// Whether `text` is exactly `digits` characters of '0'-'9' and 'a'-'f' (the
// form ToHex writes; ids, tokens and digests are compared in it).
bool IsLowerHex(std::string_view text, size_t digits);
Result<Bytes> FromHex(std::string_view hex);
std::string Base64Encode(ByteView data);
Result<Bytes> Base64Decode(std::string_view text);

// A 256-bit object id: HMAC-SHA256(idKey, plaintext) for blobs, SHA-256 of
// the stored bytes for packs and index files.
struct ObjectId {
  std::array<uint8_t, 32> bytes{};

  std::string Hex() const { return ToHex(bytes); }
  static Result<ObjectId> FromHex(std::string_view hex);
  auto operator<=>(const ObjectId&) const = default;
  bool operator==(const ObjectId&) const = default;
};

struct ObjectIdHash {
  size_t operator()(const ObjectId& id) const noexcept {
    size_t h;  // ids are uniformly random: any 8 bytes make a good hash
    std::memcpy(&h, id.bytes.data(), sizeof h);
    return h;
  }
};

}  // namespace obagent
