#include "obagent/core/crypto.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto_internal.h"

namespace obagent::crypto {
namespace {

Bytes Hex(std::string_view hex) {
  Result<Bytes> b = FromHex(hex);
  EXPECT_TRUE(b.ok()) << hex;
  return b.ok() ? *b : Bytes{};
}

Key KeyFromHex(std::string_view hex) {
  Bytes b = Hex(hex);
  Key k{};
  EXPECT_EQ(b.size(), k.size());
  std::copy_n(b.begin(), std::min(b.size(), k.size()), k.begin());
  return k;
}

Bytes Pattern(size_t n, uint32_t seed = 1) {
  Bytes out(n);
  uint32_t x = seed;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return out;
}

// --- SHA-256 (FIPS 180-2 examples) ------------------------------------------

TEST(CryptoSha256, KnownAnswers) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha256(AsBytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(ToHex(Sha256(AsBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(CryptoSha256, HasherMatchesOneShotAndIsReusable) {
  Bytes data = Pattern(3 * 1024 * 1024 + 17);
  Sha256Hasher h;
  size_t pos = 0;
  for (size_t step : {1u, 63u, 64u, 65u, 4096u, 1000000u}) {
    size_t n = std::min(step, data.size() - pos);
    h.Update(ByteView(data).subspan(pos, n));
    pos += n;
  }
  h.Update(ByteView(data).subspan(pos));
  EXPECT_EQ(h.Finish(), Sha256(data));
  // After Finish the hasher starts a new message.
  h.Update(AsBytes("ab"));
  h.Update(AsBytes("c"));
  EXPECT_EQ(ToHex(h.Finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// --- HMAC-SHA256 (RFC 4231) -------------------------------------------------

TEST(CryptoHmac, Rfc4231TestCase1) {
  Bytes key(20, 0x0b);
  EXPECT_EQ(ToHex(internal::HmacSha256Bytes(key, AsBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(CryptoHmac, Rfc4231TestCase2) {
  EXPECT_EQ(
      ToHex(internal::HmacSha256Bytes(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoHmac, Rfc4231TestCase3) {
  Bytes key(20, 0xaa);
  Bytes data(50, 0xdd);
  EXPECT_EQ(ToHex(internal::HmacSha256Bytes(key, data)),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

TEST(CryptoHmac, Rfc4231TestCase6LongKey) {
  Bytes key(131, 0xaa);
  EXPECT_EQ(ToHex(internal::HmacSha256Bytes(
                key, AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(CryptoHmac, AnyKeyApiTakesLongKeys) {
  // RFC 4231 test case 7: a 131-byte key, longer than SHA-256's block.
  Bytes key(131, 0xaa);
  EXPECT_EQ(ToHex(HmacSha256AnyKey(
                key, AsBytes("This is a test using a larger than block-size key and a larger "
                             "than block-size data. The key needs to be hashed before being "
                             "used by the HMAC algorithm."))),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(CryptoHmac, PublicApiMatchesByteLevelAndRekeys) {
  Key k1 = RandomKey(), k2 = RandomKey();
  Bytes data = Pattern(100000);
  Digest a = HmacSha256(k1, data);
  Digest b = HmacSha256(k2, data);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, internal::HmacSha256Bytes(k1, data));
  EXPECT_EQ(HmacSha256(k1, data), a);  // the per-thread context is re-keyed each call
  EXPECT_NE(HmacSha256(k1, AsBytes("x")), a);
}

// --- AES-256-GCM (McGrew & Viega GCM spec / NIST test cases 14-16) ----------

struct GcmVector {
  const char* key;
  const char* iv;
  const char* aad;
  const char* plain;
  const char* cipher;
  const char* tag;
};

const GcmVector kGcmVectors[] = {
    // Test case 13: empty plaintext, zero key.
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    // Test case 14.
    {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "", "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    // Test case 15: four blocks, no AAD.
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    // Test case 16: AAD and a partial last block.
    {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(CryptoGcm, NistKnownAnswers) {
  for (const GcmVector& v : kGcmVectors) {
    SCOPED_TRACE(v.tag);
    Key key = KeyFromHex(v.key);
    Bytes iv = Hex(v.iv), aad = Hex(v.aad), plain = Hex(v.plain);
    Bytes sealed = internal::SealWithNonce(key, iv, aad, plain);
    EXPECT_EQ(ToHex(sealed), std::string(v.iv) + v.cipher + v.tag);
    Result<Bytes> opened = Open(key, aad, sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
  }
}

TEST(CryptoGcm, RoundTripSizes) {
  Key key = RandomKey();
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{4096}, size_t{1} << 20}) {
    Bytes plain = Pattern(n, static_cast<uint32_t>(n));
    Bytes sealed = Seal(key, AsBytes("aad"), plain);
    ASSERT_EQ(sealed.size(), n + kSealOverhead);
    Result<Bytes> opened = Open(key, AsBytes("aad"), sealed);
    ASSERT_TRUE(opened.ok()) << n;
    EXPECT_EQ(*opened, plain);
  }
}

TEST(CryptoGcm, OpenIntoReusesItsBufferAndStillAuthenticates) {
  Key key{};
  key[0] = 7;
  Bytes aad = {1, 2, 3};
  Bytes long_plain(100000, 0x5a);
  Bytes short_plain = {9, 8, 7, 6};
  Bytes buffer;
  Result<ByteView> a = OpenInto(key, aad, Seal(key, aad, long_plain), buffer);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(Bytes(a->begin(), a->end()), long_plain);
  Bytes sealed = Seal(key, aad, short_plain);
  Result<ByteView> b = OpenInto(key, aad, sealed, buffer);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Bytes(b->begin(), b->end()), short_plain);
  EXPECT_EQ(buffer.size(), long_plain.size());  // grown once, never shrunk
  sealed[kNonceSize] ^= 1;
  EXPECT_EQ(OpenInto(key, aad, sealed, buffer).status().code(), ErrorCode::kCorrupt);
  Result<ByteView> empty = OpenInto(key, aad, Seal(key, aad, {}), buffer);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(CryptoGcm, FreshNonceEachSeal) {
  Key key = RandomKey();
  Bytes a = Seal(key, {}, AsBytes("same"));
  Bytes b = Seal(key, {}, AsBytes("same"));
  EXPECT_NE(a, b);
  EXPECT_NE(Bytes(a.begin(), a.begin() + kNonceSize), Bytes(b.begin(), b.begin() + kNonceSize));
}

TEST(CryptoGcm, SealAppendAppendsOpenableObjects) {
  Key key = RandomKey();
  Bytes out = {1, 2, 3};
  Bytes p1 = Pattern(1000, 1), p2 = Pattern(70000, 2);
  SealAppend(key, AsBytes("one"), p1, out);
  SealAppend(key, AsBytes("two"), p2, out);
  ASSERT_EQ(out.size(), 3 + p1.size() + p2.size() + 2 * kSealOverhead);
  EXPECT_EQ(out[0], 1);
  EXPECT_EQ(out[2], 3);
  ByteView s1 = ByteView(out).subspan(3, p1.size() + kSealOverhead);
  ByteView s2 = ByteView(out).subspan(3 + s1.size());
  Result<Bytes> o1 = Open(key, AsBytes("one"), s1);
  Result<Bytes> o2 = Open(key, AsBytes("two"), s2);
  ASSERT_TRUE(o1.ok());
  ASSERT_TRUE(o2.ok());
  EXPECT_EQ(*o1, p1);
  EXPECT_EQ(*o2, p2);
}

TEST(CryptoGcm, SealAppendFromItsOwnBuffer) {
  Key key = RandomKey();
  Bytes out = Pattern(5000);
  Bytes original = out;
  SealAppend(key, AsBytes("self"), ByteView(out).subspan(100, 4000), out);
  ASSERT_EQ(out.size(), 5000 + 4000 + kSealOverhead);
  Result<Bytes> opened = Open(key, AsBytes("self"), ByteView(out).subspan(5000));
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, Bytes(original.begin() + 100, original.begin() + 4100));
}

TEST(CryptoGcm, AnyFlippedByteIsCorrupt) {
  Key key = RandomKey();
  Bytes sealed = Seal(key, AsBytes("id"), AsBytes("the quick brown fox jumps"));
  for (size_t i = 0; i < sealed.size(); ++i) {
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    Result<Bytes> r = Open(key, AsBytes("id"), bad);
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
  }
}

// An empty message is all tag: opening it must compute the tag of the
// empty message and compare (the Windows backend computes it by sealing,
// through a real output buffer: with a null one BCryptEncrypt writes no tag).
TEST(CryptoGcm, EmptyMessageTagIsChecked) {
  Key key = RandomKey();
  Bytes sealed = Seal(key, AsBytes("empty"), {});
  ASSERT_EQ(sealed.size(), kSealOverhead);
  Result<Bytes> opened = Open(key, AsBytes("empty"), sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(opened->empty());
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
      Bytes bad = sealed;
      bad[i] ^= bit;
      Result<Bytes> r = Open(key, AsBytes("empty"), bad);
      ASSERT_FALSE(r.ok()) << "byte " << i;
      EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
    }
  }
  EXPECT_EQ(Open(key, AsBytes("other"), sealed).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(Open(RandomKey(), AsBytes("empty"), sealed).status().code(), ErrorCode::kCorrupt);
  Bytes zero_tag = sealed;
  std::fill(zero_tag.begin() + kNonceSize, zero_tag.end(), uint8_t{0});
  EXPECT_EQ(Open(key, AsBytes("empty"), zero_tag).status().code(), ErrorCode::kCorrupt);
}

TEST(CryptoGcm, WrongAadWrongKeyAndTruncationAreCorrupt) {
  Key key = RandomKey();
  Bytes sealed = Seal(key, AsBytes("blob:1"), AsBytes("payload"));
  EXPECT_EQ(Open(key, AsBytes("blob:2"), sealed).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(Open(key, {}, sealed).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(Open(RandomKey(), AsBytes("blob:1"), sealed).status().code(), ErrorCode::kCorrupt);
  for (size_t n = 0; n < sealed.size(); ++n) {
    Result<Bytes> r = Open(key, AsBytes("blob:1"), ByteView(sealed).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt);
  }
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_EQ(Open(key, AsBytes("blob:1"), longer).status().code(), ErrorCode::kCorrupt);
  // The context is still usable after failures.
  EXPECT_TRUE(Open(key, AsBytes("blob:1"), sealed).ok());
}

TEST(CryptoGcm, ConcurrentSealAndOpen) {
  Key key = RandomKey();
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Key own = RandomKey();
      for (int i = 0; i < 200; ++i) {
        const Key& k = (i % 2 == 0) ? key : own;
        Bytes plain =
            Pattern(1000 + static_cast<size_t>(i) * 37, static_cast<uint32_t>(t * 1000 + i));
        Bytes sealed = Seal(k, AsBytes("aad"), plain);
        Result<Bytes> opened = Open(k, AsBytes("aad"), sealed);
        if (!opened.ok() || *opened != plain) ++failures[t];
        if (HmacSha256(k, plain) != internal::HmacSha256Bytes(k, plain)) ++failures[t];
        if (Sha256(plain) != Sha256(plain)) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

// --- scrypt (RFC 7914 §12) --------------------------------------------------

TEST(CryptoScrypt, Rfc7914Vector1EmptyInputs) {
  Result<Bytes> out = internal::ScryptBytes("", {}, 16, 1, 1, 64);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(ToHex(*out),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
}

TEST(CryptoScrypt, Rfc7914Vector2) {
  Result<Bytes> out = internal::ScryptBytes("password", AsBytes("NaCl"), 1024, 8, 16, 64);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(ToHex(*out),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  // The public 32-byte variant is the prefix of the same derivation.
  Result<Key> key = Scrypt("password", AsBytes("NaCl"), 1024, 8, 16);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(ToHex(*key), ToHex(ByteView(*out).first(32)));
}

TEST(CryptoScrypt, Rfc7914Vector3) {
  Result<Bytes> out =
      internal::ScryptBytes("pleaseletmein", AsBytes("SodiumChloride"), 16384, 8, 1, 64);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(ToHex(*out),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
}

TEST(CryptoScrypt, ParametersBeyondRfcLimitsAreInvalidArgument) {
  // RFC 7914 §2: p * r must stay below 2^30.
  EXPECT_EQ(internal::ScryptBytes("pw", AsBytes("salt"), 2, 1u << 15, 1u << 15, 32).status().code(),
            ErrorCode::kInvalidArgument);
}

TEST(CryptoScrypt, BadParametersAreInvalidArgument) {
  Bytes salt(32, 7);
  EXPECT_EQ(Scrypt("pw", salt, 1000, 8, 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", salt, 1, 8, 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", salt, 0, 8, 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", salt, 1024, 0, 1).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", salt, 1024, 8, 0).status().code(), ErrorCode::kInvalidArgument);
  // Too much memory (a hostile vault file must not exhaust the machine).
  EXPECT_EQ(Scrypt("pw", salt, uint64_t{1} << 40, 8, 1).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", salt, uint64_t{1} << 62, 0xffffffffu, 0xffffffffu).status().code(),
            ErrorCode::kInvalidArgument);
}

TEST(CryptoScrypt, DifferentInputsDifferentKeys) {
  Bytes salt(32, 1);
  Result<Key> a = Scrypt("correct horse battery", salt, 1024, 8, 1);
  Result<Key> b = Scrypt("correct horse battery!", salt, 1024, 8, 1);
  Result<Key> c = Scrypt("correct horse battery", Bytes(32, 2), 1024, 8, 1);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(*a, *c);
  EXPECT_EQ(*a, *Scrypt("correct horse battery", salt, 1024, 8, 1));
}

// --- HKDF-SHA256 (RFC 5869) -------------------------------------------------

TEST(CryptoHkdf, Rfc5869TestCase1) {
  Bytes ikm(22, 0x0b);
  Bytes out = internal::HkdfSha256Bytes(ikm, Hex("000102030405060708090a0b0c"),
                                        Hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  EXPECT_EQ(ToHex(out),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

TEST(CryptoHkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  Bytes ikm(22, 0x0b);
  Bytes out = internal::HkdfSha256Bytes(ikm, {}, {}, 42);
  EXPECT_EQ(ToHex(out),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(CryptoHkdf, PublicApiIsEmptySaltFirst32Bytes) {
  Key ikm = RandomKey();
  Key a = HkdfSha256(ikm, "obagent data key v1");
  Key b = HkdfSha256(ikm, "obagent id key v1");
  EXPECT_NE(a, b);
  Bytes ref = internal::HkdfSha256Bytes(ikm, {}, AsBytes("obagent data key v1"), 32);
  EXPECT_EQ(ToHex(a), ToHex(ref));
}

// --- Misc -------------------------------------------------------------------

TEST(CryptoRandom, BytesDifferAndSizesHold) {
  EXPECT_EQ(RandomBytes(0).size(), 0u);
  EXPECT_EQ(RandomBytes(100).size(), 100u);
  EXPECT_NE(RandomBytes(32), RandomBytes(32));
  EXPECT_NE(RandomKey(), RandomKey());
}

TEST(CryptoEqual, ConstantTimeComparison) {
  EXPECT_TRUE(EqualConstantTime({}, {}));
  EXPECT_TRUE(EqualConstantTime(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(EqualConstantTime(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(EqualConstantTime(AsBytes("abc"), AsBytes("abcd")));
  EXPECT_FALSE(EqualConstantTime(AsBytes(""), AsBytes("a")));
}

}  // namespace
}  // namespace obagent::crypto
