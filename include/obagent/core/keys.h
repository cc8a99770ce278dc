// The key hierarchy of design.md §2:
//   passphrase (>= 16 chars) --scrypt(salt, params)--> KEK
//   KEK --AES-256-GCM wrap--> random 256-bit master key
//   master key --HKDF--> data key (AEAD of objects), id key (HMAC chunk ids),
//                        chunker seed (gear table, so chunk sizes leak nothing)
// The wrapped master key (WrappedKey) lives in the vault; the scratch folder
// holds OnlineBackup.KEK (LocalKekFile): the derived KEK and a copy of the
// WrappedKey, readable only by the service account, so unattended jobs never
// need the passphrase. The passphrase itself is never stored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/status.h"

namespace obagent::keys {

constexpr size_t kMinPassphraseChars = 16;
constexpr int kWrappedKeyVersion = 1;
constexpr int kLocalKekVersion = 1;

// kInvalidArgument unless the passphrase has at least 16 characters (UTF-8
// code points, not bytes).
Status ValidatePassphrase(std::string_view passphrase);

struct KdfParams {
  uint64_t n = 1u << 15;  // 32 MiB of memory with r = 8
  uint32_t r = 8;
  uint32_t p = 1;
  Bytes salt;  // 32 random bytes
};

struct WrappedKey {
  std::string key_id;  // 32 hex chars, random; names the master key
  KdfParams kdf;
  Bytes wrapped;  // Seal(KEK, aad = "obagent-master-key-v1:" + key_id, master key)
};

struct KeySet {
  crypto::Key data_key;
  crypto::Key id_key;
  uint64_t chunker_seed = 0;
};

// Fresh salt with the default parameters.
KdfParams NewKdfParams();
Result<crypto::Key> DeriveKek(std::string_view passphrase, const KdfParams& params);
WrappedKey WrapMasterKey(const crypto::Key& master, const crypto::Key& kek, std::string key_id,
                         KdfParams params);
// kPassphraseNotConfigured (34506) when the KEK does not open the wrapped key.
Result<crypto::Key> UnwrapMasterKey(const WrappedKey& wrapped, const crypto::Key& kek);
KeySet DeriveKeySet(const crypto::Key& master);

// JSON with a "version" field; a reader refuses unknown versions with
// kUnsupportedVersion and malformed input with kCorrupt.
std::string SerializeWrappedKey(const WrappedKey& key);
Result<WrappedKey> ParseWrappedKey(std::string_view text);

struct LocalKekFile {
  crypto::Key kek;
  WrappedKey wrapped;
};
std::string SerializeLocalKekFile(const LocalKekFile& file);
Result<LocalKekFile> ParseLocalKekFile(std::string_view text);

}  // namespace obagent::keys
