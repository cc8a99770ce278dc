#include "obagent/bytes.h"

#include <cstdint>

namespace obagent {

std::string ToHex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(data.size() * 2, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsLowerHex(std::string_view text, size_t digits) {
  if (text.size() != digits) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgument("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexDigitValue(hex[2 * i]), lo = HexDigitValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("not a hex string");
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

// Base64 (RFC 4648 §4, with padding) is written here rather than taken from
// the crypto library: it is a format, not a primitive, and both builds
// (OpenSSL, BCrypt) must accept exactly the same text.
static constexpr char kBase64Digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(ByteView data) {
  std::string out;
  out.reserve(4 * ((data.size() + 2) / 3));
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = uint32_t{data[i]} << 16 | uint32_t{data[i + 1]} << 8 | data[i + 2];
    out += kBase64Digits[v >> 18];
    out += kBase64Digits[(v >> 12) & 63];
    out += kBase64Digits[(v >> 6) & 63];
    out += kBase64Digits[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{data[i]} << 16 | (rest == 2 ? uint32_t{data[i + 1]} << 8 : 0);
    out += kBase64Digits[v >> 18];
    out += kBase64Digits[(v >> 12) & 63];
    out += rest == 2 ? kBase64Digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

static int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

Result<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("base64 length is not a multiple of 4");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  if (padding == 1 && text.size() > 1 && text[text.size() - 2] == '=') {
    return InvalidArgument("not valid base64");
  }
  Bytes out;
  out.reserve(3 * text.size() / 4);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    size_t pad_here = last ? padding : 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      int d = k < 4 - pad_here ? Base64Value(text[i + k]) : 0;
      if (d < 0) return InvalidArgument("not valid base64");
      v = v << 6 | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<uint8_t>(v >> 16));
    if (pad_here < 2) out.push_back(static_cast<uint8_t>(v >> 8));
    if (pad_here < 1) out.push_back(static_cast<uint8_t>(v));
  }
  return out;
}

Result<ObjectId> ObjectId::FromHex(std::string_view hex) {
  if (hex.size() != 64) return InvalidArgument("an object id has 64 hex characters");
  OB_ASSIGN_OR_RETURN(Bytes raw, ::obagent::FromHex(hex));
  ObjectId id;
  std::copy(raw.begin(), raw.end(), id.bytes.begin());
  return id;
}

}  // namespace obagent
