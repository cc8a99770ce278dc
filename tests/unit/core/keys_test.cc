#include "obagent/core/keys.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace obagent::keys {
namespace {

constexpr char kPassphrase[] = "correct horse battery staple";

// Cheap parameters so tests stay fast; the defaults are exercised once.
KdfParams FastParams() {
  KdfParams p = NewKdfParams();
  p.n = 1024;
  return p;
}

WrappedKey MakeWrapped(const crypto::Key& master, crypto::Key* kek_out = nullptr) {
  KdfParams params = FastParams();
  Result<crypto::Key> kek = DeriveKek(kPassphrase, params);
  EXPECT_TRUE(kek.ok());
  if (kek_out != nullptr) *kek_out = *kek;
  return WrapMasterKey(master, *kek, "0123456789abcdef0123456789abcdef", params);
}

TEST(KeysPassphrase, CountsCodePoints) {
  EXPECT_EQ(ValidatePassphrase("123456789012345").code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(ValidatePassphrase("1234567890123456").ok());
  EXPECT_EQ(ValidatePassphrase("").code(), ErrorCode::kInvalidArgument);
  // 15 two-byte characters: 30 bytes but only 15 characters.
  EXPECT_EQ(ValidatePassphrase("ééééééééééééééé").code(), ErrorCode::kInvalidArgument);
  // 16 of them is enough.
  EXPECT_TRUE(ValidatePassphrase("éééééééééééééééé").ok());
  // 16 four-byte characters (emoji) and mixed widths.
  EXPECT_TRUE(ValidatePassphrase("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀").ok());
  EXPECT_EQ(ValidatePassphrase("😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀").code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(ValidatePassphrase("aé€😀aé€😀aé€😀aé€😀").ok());
}

TEST(KeysPassphrase, RejectsInvalidUtf8) {
  std::string bad(20, 'a');
  bad[5] = static_cast<char>(0xff);
  EXPECT_EQ(ValidatePassphrase(bad).code(), ErrorCode::kInvalidArgument);
  std::string truncated = std::string(20, 'a') + "\xc3";
  EXPECT_EQ(ValidatePassphrase(truncated).code(), ErrorCode::kInvalidArgument);
  std::string overlong = std::string(20, 'a') + "\xc0\xaf";
  EXPECT_EQ(ValidatePassphrase(overlong).code(), ErrorCode::kInvalidArgument);
}

TEST(KeysKdf, NewParamsHaveFreshSaltAndDefaults) {
  KdfParams a = NewKdfParams(), b = NewKdfParams();
  EXPECT_EQ(a.salt.size(), 32u);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_EQ(a.n, uint64_t{1} << 15);
  EXPECT_EQ(a.r, 8u);
  EXPECT_EQ(a.p, 1u);
}

TEST(KeysKdf, DefaultParamsWrapAndUnwrap) {
  // The only test with the production scrypt cost.
  KdfParams params = NewKdfParams();
  Result<crypto::Key> kek = DeriveKek(kPassphrase, params);
  ASSERT_TRUE(kek.ok()) << kek.status().ToString();
  crypto::Key master = crypto::RandomKey();
  WrappedKey wrapped = WrapMasterKey(master, *kek, "k1", params);
  Result<crypto::Key> again = DeriveKek(kPassphrase, wrapped.kdf);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *kek);
  Result<crypto::Key> unwrapped = UnwrapMasterKey(wrapped, *again);
  ASSERT_TRUE(unwrapped.ok());
  EXPECT_EQ(*unwrapped, master);
}

TEST(KeysWrap, RoundTrip) {
  crypto::Key master = crypto::RandomKey();
  crypto::Key kek;
  WrappedKey wrapped = MakeWrapped(master, &kek);
  EXPECT_EQ(wrapped.wrapped.size(), crypto::kKeySize + crypto::kSealOverhead);
  Result<crypto::Key> unwrapped = UnwrapMasterKey(wrapped, kek);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_EQ(*unwrapped, master);
}

TEST(KeysWrap, WrongPassphraseIs34506) {
  crypto::Key master = crypto::RandomKey();
  WrappedKey wrapped = MakeWrapped(master);
  Result<crypto::Key> wrong_kek = DeriveKek("not the right passphrase!", wrapped.kdf);
  ASSERT_TRUE(wrong_kek.ok());
  Result<crypto::Key> r = UnwrapMasterKey(wrapped, *wrong_kek);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kPassphraseNotConfigured);
  EXPECT_EQ(CatalogueId(r.status().code()), "34506");
  EXPECT_NE(r.status().detail().find("does not open the vault's key"), std::string::npos);
}

TEST(KeysWrap, KeyIdIsBoundToTheWrappedKey) {
  crypto::Key master = crypto::RandomKey();
  crypto::Key kek;
  WrappedKey wrapped = MakeWrapped(master, &kek);
  wrapped.key_id = "ffffffffffffffffffffffffffffffff";
  EXPECT_EQ(UnwrapMasterKey(wrapped, kek).status().code(), ErrorCode::kPassphraseNotConfigured);
}

TEST(KeysDerive, KeySetIsDeterministicAndDistinct) {
  crypto::Key master = crypto::RandomKey();
  KeySet a = DeriveKeySet(master), b = DeriveKeySet(master);
  EXPECT_EQ(a.data_key, b.data_key);
  EXPECT_EQ(a.id_key, b.id_key);
  EXPECT_EQ(a.chunker_seed, b.chunker_seed);
  EXPECT_NE(a.data_key, a.id_key);
  EXPECT_NE(a.data_key, master);
  KeySet c = DeriveKeySet(crypto::RandomKey());
  EXPECT_NE(a.data_key, c.data_key);
  EXPECT_NE(a.id_key, c.id_key);
  EXPECT_NE(a.chunker_seed, c.chunker_seed);
}

TEST(KeysDerive, MatchesHkdfLabels) {
  crypto::Key master = crypto::RandomKey();
  KeySet set = DeriveKeySet(master);
  EXPECT_EQ(set.data_key, crypto::HkdfSha256(master, "obagent data key v1"));
  EXPECT_EQ(set.id_key, crypto::HkdfSha256(master, "obagent id key v1"));
  crypto::Key seed = crypto::HkdfSha256(master, "obagent chunker seed v1");
  uint64_t expected = 0;
  for (int i = 0; i < 8; ++i) expected |= uint64_t{seed[static_cast<size_t>(i)]} << (8 * i);
  EXPECT_EQ(set.chunker_seed, expected);
}

TEST(KeysSerialize, WrappedKeyRoundTrip) {
  WrappedKey wrapped = MakeWrapped(crypto::RandomKey());
  std::string text = SerializeWrappedKey(wrapped);
  Result<WrappedKey> parsed = ParseWrappedKey(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->key_id, wrapped.key_id);
  EXPECT_EQ(parsed->kdf.n, wrapped.kdf.n);
  EXPECT_EQ(parsed->kdf.r, wrapped.kdf.r);
  EXPECT_EQ(parsed->kdf.p, wrapped.kdf.p);
  EXPECT_EQ(parsed->kdf.salt, wrapped.kdf.salt);
  EXPECT_EQ(parsed->wrapped, wrapped.wrapped);
  EXPECT_EQ(nlohmann::json::parse(text).at("version"), kWrappedKeyVersion);
}

TEST(KeysSerialize, LocalKekFileRoundTripAndUnwrap) {
  crypto::Key master = crypto::RandomKey();
  LocalKekFile file;
  file.wrapped = MakeWrapped(master, &file.kek);
  std::string text = SerializeLocalKekFile(file);
  Result<LocalKekFile> parsed = ParseLocalKekFile(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->kek, file.kek);
  EXPECT_EQ(parsed->wrapped.key_id, file.wrapped.key_id);
  EXPECT_EQ(parsed->wrapped.wrapped, file.wrapped.wrapped);
  Result<crypto::Key> unwrapped = UnwrapMasterKey(parsed->wrapped, parsed->kek);
  ASSERT_TRUE(unwrapped.ok());
  EXPECT_EQ(*unwrapped, master);
}

TEST(KeysSerialize, UnknownVersionRefused) {
  WrappedKey wrapped = MakeWrapped(crypto::RandomKey());
  nlohmann::json j = nlohmann::json::parse(SerializeWrappedKey(wrapped));
  j["version"] = 2;
  Result<WrappedKey> r = ParseWrappedKey(j.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnsupportedVersion);

  LocalKekFile file;
  file.wrapped = MakeWrapped(crypto::RandomKey(), &file.kek);
  nlohmann::json k = nlohmann::json::parse(SerializeLocalKekFile(file));
  k["version"] = 99;
  EXPECT_EQ(ParseLocalKekFile(k.dump()).status().code(), ErrorCode::kUnsupportedVersion);
  // A nested wrapped key with an unknown version is refused too.
  k["version"] = kLocalKekVersion;
  k["wrapped_key"]["version"] = 7;
  EXPECT_EQ(ParseLocalKekFile(k.dump()).status().code(), ErrorCode::kUnsupportedVersion);
  // An unknown key derivation is a format this build does not know.
  j["version"] = kWrappedKeyVersion;
  j["kdf"]["algorithm"] = "argon2id";
  EXPECT_EQ(ParseWrappedKey(j.dump()).status().code(), ErrorCode::kUnsupportedVersion);
}

TEST(KeysSerialize, MalformedInputIsCorrupt) {
  WrappedKey wrapped = MakeWrapped(crypto::RandomKey());
  const nlohmann::json good = nlohmann::json::parse(SerializeWrappedKey(wrapped));
  auto code = [](const nlohmann::json& j) { return ParseWrappedKey(j.dump()).status().code(); };

  EXPECT_EQ(ParseWrappedKey("").status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParseWrappedKey("{not json").status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParseWrappedKey("[1,2,3]").status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParseWrappedKey("{}").status().code(), ErrorCode::kCorrupt);

  nlohmann::json j = good;
  j["version"] = "1";
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j.erase("key_id");
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["key_id"] = 5;
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["wrapped"] = "!!not base64!!";
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["wrapped"] = "AAAA";  // decodes, but the wrong size
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"]["n"] = -1024;
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"]["n"] = 1000;  // not a power of two
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"]["r"] = uint64_t{1} << 33;
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"]["p"] = 0;
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"] = "scrypt";
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);
  j = good;
  j["kdf"].erase("salt");
  EXPECT_EQ(code(j), ErrorCode::kCorrupt);

  LocalKekFile file;
  file.wrapped = MakeWrapped(crypto::RandomKey(), &file.kek);
  const nlohmann::json good_file = nlohmann::json::parse(SerializeLocalKekFile(file));
  nlohmann::json f = good_file;
  f["kek"] = "AAAA";
  EXPECT_EQ(ParseLocalKekFile(f.dump()).status().code(), ErrorCode::kCorrupt);
  f = good_file;
  f.erase("wrapped_key");
  EXPECT_EQ(ParseLocalKekFile(f.dump()).status().code(), ErrorCode::kCorrupt);
  f = good_file;
  f["wrapped_key"] = nullptr;
  EXPECT_EQ(ParseLocalKekFile(f.dump()).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParseLocalKekFile("garbage").status().code(), ErrorCode::kCorrupt);
}

// A key and a chunk written by the Linux build (OpenSSL backend); the
// Windows build (BCrypt backend) must open them, and both must derive the
// same KEK, keys, chunk id and chunker seed. The KEK was also computed
// independently with Python's hashlib.scrypt (OpenSSL).
TEST(CrossBuild, OpensKeyAndChunkWrittenByTheLinuxBuild) {
  constexpr char kWrappedJson[] = R"({
    "kdf": {"algorithm": "scrypt", "n": 1024, "p": 1, "r": 8,
            "salt": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
    "key_id": "00112233445566778899aabbccddeeff",
    "version": 1,
    "wrapped": "ZbkniR5UTty3qRF+7YHL9M23TxFzOU8shBfvy80NN6WWRxjTc3CuPgFzS1aiNNN8tJgTkJ8ErTZ0OGoj"
  })";
  constexpr char kSealedChunk[] =
      "1a356ff0132366096b5064177094f1c78d9245a0ff3c4c6d910ac7ba63d73296e5adbb867052bacdb06a814d"
      "91fac2f2fe0ab8a8790379fa404c1751f1";
  const std::string plain = "a chunk sealed by the Linux build";

  Result<WrappedKey> wrapped = ParseWrappedKey(kWrappedJson);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  Result<crypto::Key> kek = DeriveKek("cross-build passphrase 1", wrapped->kdf);
  ASSERT_TRUE(kek.ok()) << kek.status().ToString();
  EXPECT_EQ(ToHex(*kek), "f4cbbd47edb52b08b02c5eec6eaf5151445a8189d553dec735a6e2fcc4c7b567");
  Result<crypto::Key> master = UnwrapMasterKey(*wrapped, *kek);
  ASSERT_TRUE(master.ok()) << master.status().ToString();
  EXPECT_EQ(ToHex(*master), "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf");

  KeySet keys = DeriveKeySet(*master);
  EXPECT_EQ(keys.chunker_seed, 1338960246080474889u);
  Result<Bytes> sealed = FromHex(kSealedChunk);
  ASSERT_TRUE(sealed.ok());
  Result<Bytes> opened = crypto::Open(keys.data_key, AsBytes("blob:test"), *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(AsString(*opened), plain);
  EXPECT_EQ(ToHex(crypto::HmacSha256(keys.id_key, AsBytes(plain))),
            "6870a1dfe4245ff8670b25cad04c1a2d7c472ea96a72c2065eca5b0c7e837a4b");
}

}  // namespace
}  // namespace obagent::keys
