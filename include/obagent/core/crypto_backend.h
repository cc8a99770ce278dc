// The crypto-backend interface: the primitives core's crypto
// (obagent/core/crypto.h) is built on. Core defines it and calls nothing but
// it; the platform layer implements it with the OS's library — OpenSSL on
// Linux (src/platform/posix/crypto), CNG/BCrypt on Windows
// (src/platform/win/crypto) — in the library obagent_crypto_backend, which
// obagent_core links. Core therefore never includes a platform header. What
// the OS libraries do not share (scrypt's ROMix, HKDF) is written once in
// src/core on top of these, so both builds derive the same keys from the
// same code. Only core's crypto calls these; everything else uses
// obagent/core/crypto.h.
//
// Thread safety: every function may be called from any number of threads at
// once; a Sha256Stream is used by one thread at a time.
//
// Every function aborts the process on an internal failure of the OS
// library (out of memory, no random source): there is no safe way to go on
// without the primitive, and callers must not handle it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "obagent/bytes.h"

namespace obagent::crypto_backend {

constexpr size_t kAesKeySize = 32;
constexpr size_t kGcmNonceSize = 12;
constexpr size_t kGcmTagSize = 16;
constexpr size_t kSha256Size = 32;

// Cryptographically secure random bytes (RAND_bytes / BCryptGenRandom).
void FillRandom(uint8_t* out, size_t n);

void Sha256(ByteView data, uint8_t out[kSha256Size]);

// Incremental SHA-256; Finish() leaves it ready for a new message.
class Sha256Stream {
 public:
  virtual ~Sha256Stream() = default;
  virtual void Update(ByteView data) = 0;
  virtual void Finish(uint8_t out[kSha256Size]) = 0;
};
std::unique_ptr<Sha256Stream> NewSha256Stream();

// HMAC-SHA256 with a key of any length (also empty).
void HmacSha256(ByteView key, ByteView data, uint8_t out[kSha256Size]);

// PBKDF2-HMAC-SHA256 (RFC 8018) with any password and salt (also empty).
void Pbkdf2HmacSha256(ByteView password, ByteView salt, uint64_t iterations, uint8_t* out,
                      size_t out_len);

// AES-256-GCM with a 96-bit nonce. Seal writes plaintext.size() bytes of
// ciphertext to `ciphertext` and the tag to `tag`; Open writes the plaintext
// to `plaintext` and returns false (with `plaintext` wiped) when the tag does
// not verify. Outputs must not overlap the inputs.
void AesGcmSeal(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize], ByteView aad,
                ByteView plaintext, uint8_t* ciphertext, uint8_t tag[kGcmTagSize]);
[[nodiscard]] bool AesGcmOpen(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize],
                              ByteView aad, ByteView ciphertext, const uint8_t tag[kGcmTagSize],
                              uint8_t* plaintext);

// Overwrites memory with zeros in a way the compiler may not optimise away.
void SecureZero(void* data, size_t n);

// Compares in time that depends only on n.
bool EqualConstantTime(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace obagent::crypto_backend
