// Byte-level variants of the primitives in obagent/core/crypto.h. The public
// API fixes key sizes and nonces; these exist so known-answer tests (NIST,
// RFC 4231, RFC 5869, RFC 7914) can drive the same code paths with the
// published inputs. Not for use outside src/core and its tests.
#pragma once

#include <cstdint>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/status.h"

namespace obagent::crypto::internal {

// AES-256-GCM with a caller-chosen 96-bit nonce (nonce.size() must be
// kNonceSize). Output: nonce || ciphertext || tag. Seal() uses this with a
// random nonce; a nonce must never repeat under one key.
Bytes SealWithNonce(const Key& key, ByteView nonce, ByteView aad, ByteView plaintext);

// HMAC-SHA256 with a key of any length.
Digest HmacSha256Bytes(ByteView key, ByteView data);

// scrypt with any output length. kInvalidArgument for bad parameters.
Result<Bytes> ScryptBytes(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r,
                          uint32_t p, size_t out_len);

// HKDF-SHA256 (extract and expand) with explicit salt and output length
// (at most 255 * 32 bytes).
Bytes HkdfSha256Bytes(ByteView ikm, ByteView salt, ByteView info, size_t out_len);

}  // namespace obagent::crypto::internal
