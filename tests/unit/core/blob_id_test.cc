// BlobId: a blob's id is HMAC-SHA256 of its plaintext under the id key
// (checked against values computed independently, with Python's hmac), a
// read-back check accepts exactly the plaintext of the id, and the
// canonical text form is 64 lowercase hex digits.
#include "obagent/core/blob_id.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"

namespace obagent {
namespace {

crypto::Key CountingKey() {
  crypto::Key key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  return key;
}

TEST(BlobIdTest, IsHmacSha256OfThePlaintextUnderTheIdKey) {
  // python3: hmac.new(bytes(range(32)), b'hello, blob', hashlib.sha256)
  EXPECT_EQ(BlobId::Of(CountingKey(), AsBytes("hello, blob")).Hex(),
            "33d46015ac99aecba267b8ed0e4879626fbd765d525dbc2e3b45b046eee24f6f");
  EXPECT_EQ(BlobId::Of(CountingKey(), {}).Hex(),
            "d38b42096d80f45f826b44a9d5607de72496a415d3f4a1a8c88e3bb9da8dc1cb");
  // Another key gives another id for the same content: ids reveal nothing
  // across machines.
  crypto::Key other = CountingKey();
  other[0] ^= 1;
  EXPECT_NE(BlobId::Of(other, AsBytes("hello, blob")),
            BlobId::Of(CountingKey(), AsBytes("hello, blob")));
}

TEST(BlobIdTest, MatchesOnlyTheBlobsOwnPlaintext) {
  const crypto::Key key = CountingKey();
  const ObjectId id = BlobId::Of(key, AsBytes("hello, blob"));
  EXPECT_TRUE(BlobId::Matches(key, AsBytes("hello, blob"), id));
  EXPECT_FALSE(BlobId::Matches(key, AsBytes("hello, blob!"), id));
  EXPECT_FALSE(BlobId::Matches(key, AsBytes("hello, blo"), id));
  EXPECT_FALSE(BlobId::Matches(key, AsBytes("Hello, blob"), id));
  crypto::Key other = key;
  other[31] ^= 0x80;
  EXPECT_FALSE(BlobId::Matches(other, AsBytes("hello, blob"), id));
  ObjectId flipped = id;
  flipped.bytes[17] ^= 4;
  EXPECT_FALSE(BlobId::Matches(key, AsBytes("hello, blob"), flipped));
}

TEST(BlobIdTest, CanonicalHexIsWhatHexWritesAndParsesBack) {
  const ObjectId id = BlobId::Of(CountingKey(), AsBytes("x"));
  const std::string hex = id.Hex();
  EXPECT_EQ(hex.size(), BlobId::kHexDigits);
  EXPECT_TRUE(BlobId::IsCanonicalHex(hex));
  auto parsed = ObjectId::FromHex(hex);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, id);

  EXPECT_FALSE(BlobId::IsCanonicalHex(""));
  EXPECT_FALSE(BlobId::IsCanonicalHex(hex.substr(1)));  // 63
  EXPECT_FALSE(BlobId::IsCanonicalHex(hex + "0"));      // 65
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper != hex) {
    EXPECT_FALSE(BlobId::IsCanonicalHex(upper));
  }
  for (char bad : {'g', 'G', 'x', ' ', '/', '.', '\0'}) {
    std::string s = hex;
    s[40] = bad;
    EXPECT_FALSE(BlobId::IsCanonicalHex(s)) << int(bad);
  }
}

TEST(LowerHexTest, CountsDigitsAndRefusesEverythingElse) {
  EXPECT_TRUE(IsLowerHex("", 0));
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_FALSE(IsLowerHex("0123456789abcdef", 15));
  EXPECT_FALSE(IsLowerHex("0123456789abcdef", 17));
  EXPECT_FALSE(IsLowerHex("0123456789ABCDEF", 16));
  EXPECT_FALSE(IsLowerHex("0123456789abcdeg", 16));
  EXPECT_TRUE(IsLowerHex(ToHex(crypto::RandomBytes(16)), 32));
}

}  // namespace
}  // namespace obagent
