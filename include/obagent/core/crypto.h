// Cryptographic primitives. The OS's library does the work (OpenSSL on
// Linux, BCrypt on Windows, behind core's obagent/core/crypto_backend.h); the formats they
// produce are the same on both, so a vault written on one OS opens on the other.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::crypto_backend {
class Sha256Stream;
}

namespace obagent::crypto {

constexpr size_t kKeySize = 32;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSealOverhead = kNonceSize + kTagSize;

using Key = std::array<uint8_t, kKeySize>;
using Digest = std::array<uint8_t, 32>;

// Cryptographically secure random bytes (RAND_bytes / BCryptGenRandom). Aborts if the CSPRNG
// fails: there is no safe way to continue without randomness.
void FillRandom(uint8_t* out, size_t n);
Bytes RandomBytes(size_t n);
Key RandomKey();

Digest Sha256(ByteView data);

// Incremental SHA-256 for data produced in pieces (pack files).
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  void Update(ByteView data);
  Digest Finish();

 private:
  std::unique_ptr<crypto_backend::Sha256Stream> stream_;
};

Digest HmacSha256(const Key& key, ByteView data);
// HMAC-SHA256 with a key of any length, for keys that come from elsewhere:
// Azure signs requests with the 64-byte account key.
Digest HmacSha256AnyKey(ByteView key, ByteView data);

// AES-256-GCM with a fresh random 96-bit nonce. Output: nonce || ciphertext || tag.
Bytes Seal(const Key& key, ByteView aad, ByteView plaintext);
// Appends nonce || ciphertext || tag to `out` (avoids a copy when packing).
void SealAppend(const Key& key, ByteView aad, ByteView plaintext, Bytes& out);
// Verifies and decrypts. kCorrupt if the tag, the aad or the length is wrong.
Result<Bytes> Open(const Key& key, ByteView aad, ByteView sealed);
// Open into `buffer`, which is grown when too small and never shrunk (one
// buffer reused for many objects costs no allocation or page fault per
// object): the plaintext is the returned view of its first bytes. On
// failure `buffer`'s content is unspecified.
Result<ByteView> OpenInto(const Key& key, ByteView aad, ByteView sealed, Bytes& buffer);

// scrypt (RFC 7914). kInvalidArgument for bad parameters or more than 1 GiB
// of memory.
Result<Key> Scrypt(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r, uint32_t p);

// HKDF-SHA256 (RFC 5869) with empty salt, expanding to one 32-byte key.
Key HkdfSha256(const Key& ikm, std::string_view info);

// Constant-time comparison.
bool EqualConstantTime(ByteView a, ByteView b);

// Overwrites key material with zeros (a plain memset may be optimised away).
void SecureZero(void* data, size_t n);

}  // namespace obagent::crypto
