#include "obagent/core/keys.h"

#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace obagent::keys {
namespace {

using nlohmann::json;

constexpr char kMasterKeyAadPrefix[] = "obagent-master-key-v1:";
constexpr char kKdfAlgorithm[] = "scrypt";
constexpr size_t kSaltSize = 32;

Bytes MasterKeyAad(std::string_view key_id) {
  std::string aad = kMasterKeyAadPrefix;
  aad += key_id;
  return Bytes(aad.begin(), aad.end());
}

// Number of code points in `text`, or -1 if it is not valid UTF-8 (overlong
// forms, surrogates and values above U+10FFFF are invalid).
long CountCodePoints(std::string_view text) {
  long count = 0;
  size_t i = 0;
  while (i < text.size()) {
    auto b = static_cast<uint8_t>(text[i]);
    size_t len;
    uint32_t cp;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return -1;
    }
    if (i + len > text.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      auto c = static_cast<uint8_t>(text[i + k]);
      if ((c & 0xC0) != 0x80) return -1;
      cp = cp << 6 | (c & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    i += len;
    ++count;
  }
  return count;
}

// --- JSON helpers: every failure is a Status, never an exception. ----------

Status Malformed(std::string_view what, std::string_view field) {
  return Corrupt(std::string(what) + ": field \"" + std::string(field) +
                 "\" is missing or invalid");
}

Status CheckVersion(const json& j, int supported, std::string_view what) {
  auto it = j.find("version");
  if (it == j.end() || !it->is_number_integer()) return Malformed(what, "version");
  auto version = it->get<int64_t>();
  if (version != supported) {
    return Status(ErrorCode::kUnsupportedVersion,
                  std::string(what) + " has version " + std::to_string(version) +
                      "; this build reads version " + std::to_string(supported) +
                      " (upgrade the agent)");
  }
  return Status::Ok();
}

Result<std::string> GetString(const json& j, const char* field, std::string_view what) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return Malformed(what, field);
  return it->get<std::string>();
}

Result<uint64_t> GetUnsigned(const json& j, const char* field, uint64_t max,
                             std::string_view what) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_number_unsigned()) return Malformed(what, field);
  auto v = it->get<uint64_t>();
  if (v > max) return Malformed(what, field);
  return v;
}

Result<Bytes> GetBase64(const json& j, const char* field, std::string_view what) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return Malformed(what, field);
  Result<Bytes> bytes = Base64Decode(it->get_ref<const std::string&>());
  if (!bytes.ok()) return Malformed(what, field);
  return bytes;
}

json WrappedKeyToJson(const WrappedKey& key) {
  return json{
      {"version", kWrappedKeyVersion},
      {"key_id", key.key_id},
      {"kdf",
       {
           {"algorithm", kKdfAlgorithm},
           {"n", key.kdf.n},
           {"r", key.kdf.r},
           {"p", key.kdf.p},
           {"salt", Base64Encode(key.kdf.salt)},
       }},
      {"wrapped", Base64Encode(key.wrapped)},
  };
}

Result<WrappedKey> WrappedKeyFromJson(const json& j) {
  constexpr std::string_view kWhat = "wrapped master key";
  if (!j.is_object()) return Corrupt("wrapped master key is not a JSON object");
  OB_RETURN_IF_ERROR(CheckVersion(j, kWrappedKeyVersion, kWhat));
  WrappedKey key;
  OB_ASSIGN_OR_RETURN(key.key_id, GetString(j, "key_id", kWhat));
  if (key.key_id.empty()) return Malformed(kWhat, "key_id");

  auto kdf = j.find("kdf");
  if (kdf == j.end() || !kdf->is_object()) return Malformed(kWhat, "kdf");
  OB_ASSIGN_OR_RETURN(std::string algorithm, GetString(*kdf, "algorithm", kWhat));
  if (algorithm != kKdfAlgorithm) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "wrapped master key uses key derivation \"" + algorithm +
                      "\", which this build does not know (upgrade the agent)");
  }
  OB_ASSIGN_OR_RETURN(key.kdf.n,
                      GetUnsigned(*kdf, "n", std::numeric_limits<uint64_t>::max(), kWhat));
  if (key.kdf.n < 2 || (key.kdf.n & (key.kdf.n - 1)) != 0) return Malformed(kWhat, "kdf.n");
  OB_ASSIGN_OR_RETURN(uint64_t r,
                      GetUnsigned(*kdf, "r", std::numeric_limits<uint32_t>::max(), kWhat));
  OB_ASSIGN_OR_RETURN(uint64_t p,
                      GetUnsigned(*kdf, "p", std::numeric_limits<uint32_t>::max(), kWhat));
  if (r == 0) return Malformed(kWhat, "kdf.r");
  if (p == 0) return Malformed(kWhat, "kdf.p");
  key.kdf.r = static_cast<uint32_t>(r);
  key.kdf.p = static_cast<uint32_t>(p);
  OB_ASSIGN_OR_RETURN(key.kdf.salt, GetBase64(*kdf, "salt", kWhat));
  if (key.kdf.salt.empty()) return Malformed(kWhat, "kdf.salt");

  OB_ASSIGN_OR_RETURN(key.wrapped, GetBase64(j, "wrapped", kWhat));
  if (key.wrapped.size() != crypto::kKeySize + crypto::kSealOverhead) {
    return Malformed(kWhat, "wrapped");
  }
  return key;
}

Result<json> ParseJson(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Corrupt(std::string(what) + " is not a JSON object");
  return j;
}

}  // namespace

Status ValidatePassphrase(std::string_view passphrase) {
  long chars = CountCodePoints(passphrase);
  if (chars < 0) return InvalidArgument("the passphrase is not valid UTF-8 text");
  if (static_cast<size_t>(chars) < kMinPassphraseChars) {
    return InvalidArgument("the passphrase must have at least " +
                           std::to_string(kMinPassphraseChars) + " characters (it has " +
                           std::to_string(chars) + ")");
  }
  return Status::Ok();
}

KdfParams NewKdfParams() {
  KdfParams params;
  params.salt = crypto::RandomBytes(kSaltSize);
  return params;
}

Result<crypto::Key> DeriveKek(std::string_view passphrase, const KdfParams& params) {
  return crypto::Scrypt(passphrase, params.salt, params.n, params.r, params.p);
}

WrappedKey WrapMasterKey(const crypto::Key& master, const crypto::Key& kek, std::string key_id,
                         KdfParams params) {
  WrappedKey out;
  out.wrapped = crypto::Seal(kek, MasterKeyAad(key_id), master);
  out.key_id = std::move(key_id);
  out.kdf = std::move(params);
  return out;
}

Result<crypto::Key> UnwrapMasterKey(const WrappedKey& wrapped, const crypto::Key& kek) {
  Result<Bytes> opened = crypto::Open(kek, MasterKeyAad(wrapped.key_id), wrapped.wrapped);
  if (!opened.ok()) {
    return Status(ErrorCode::kPassphraseNotConfigured,
                  "the passphrase (or the KEK stored on this machine) does not open the vault's "
                  "key");
  }
  if (opened->size() != crypto::kKeySize) {
    crypto::SecureZero(opened->data(), opened->size());
    return Corrupt("the unwrapped master key has the wrong size");
  }
  crypto::Key master;
  std::memcpy(master.data(), opened->data(), master.size());
  crypto::SecureZero(opened->data(), opened->size());
  return master;
}

KeySet DeriveKeySet(const crypto::Key& master) {
  KeySet set;
  set.data_key = crypto::HkdfSha256(master, "obagent data key v1");
  set.id_key = crypto::HkdfSha256(master, "obagent id key v1");
  crypto::Key seed = crypto::HkdfSha256(master, "obagent chunker seed v1");
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = value << 8 | seed[static_cast<size_t>(i)];
  set.chunker_seed = value;
  crypto::SecureZero(seed.data(), seed.size());
  return set;
}

std::string SerializeWrappedKey(const WrappedKey& key) { return WrappedKeyToJson(key).dump(2); }

Result<WrappedKey> ParseWrappedKey(std::string_view text) {
  try {
    OB_ASSIGN_OR_RETURN(json j, ParseJson(text, "wrapped master key"));
    return WrappedKeyFromJson(j);
  } catch (const std::exception& e) {
    return Corrupt(std::string("wrapped master key is malformed: ") + e.what());
  }
}

std::string SerializeLocalKekFile(const LocalKekFile& file) {
  json j{
      {"version", kLocalKekVersion},
      {"kek", Base64Encode(file.kek)},
      {"wrapped_key", WrappedKeyToJson(file.wrapped)},
  };
  return j.dump(2);
}

Result<LocalKekFile> ParseLocalKekFile(std::string_view text) {
  constexpr std::string_view kWhat = "local key file (OnlineBackup.KEK)";
  try {
    OB_ASSIGN_OR_RETURN(json j, ParseJson(text, kWhat));
    OB_RETURN_IF_ERROR(CheckVersion(j, kLocalKekVersion, kWhat));
    LocalKekFile file;
    OB_ASSIGN_OR_RETURN(Bytes kek, GetBase64(j, "kek", kWhat));
    if (kek.size() != crypto::kKeySize) {
      crypto::SecureZero(kek.data(), kek.size());
      return Malformed(kWhat, "kek");
    }
    std::memcpy(file.kek.data(), kek.data(), kek.size());
    crypto::SecureZero(kek.data(), kek.size());
    auto wrapped = j.find("wrapped_key");
    if (wrapped == j.end()) return Malformed(kWhat, "wrapped_key");
    OB_ASSIGN_OR_RETURN(file.wrapped, WrappedKeyFromJson(*wrapped));
    return file;
  } catch (const std::exception& e) {
    return Corrupt(std::string(kWhat) + " is malformed: " + e.what());
  }
}

}  // namespace obagent::keys
