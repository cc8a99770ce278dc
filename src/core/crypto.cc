#include "obagent/core/crypto.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "core/crypto_internal.h"
#include "obagent/core/crypto_backend.h"

namespace obagent::crypto {
namespace {

namespace backend = ::obagent::crypto_backend;

static_assert(kKeySize == backend::kAesKeySize && kNonceSize == backend::kGcmNonceSize &&
              kTagSize == backend::kGcmTagSize);

// Upper bound on the memory scrypt parameters may ask for: parameters come
// from files in the vault, and a hostile file must not exhaust memory.
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;

[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "obagent: fatal crypto failure: %s\n", what);
  std::abort();
}

// Writes nonce || ciphertext || tag to `out`, which has room for
// plaintext.size() + kSealOverhead bytes and does not overlap `plaintext`.
void SealInto(const Key& key, const uint8_t* nonce, ByteView aad, ByteView plaintext,
              uint8_t* out) {
  std::memmove(out, nonce, kNonceSize);
  uint8_t* ct = out + kNonceSize;
  backend::AesGcmSeal(key.data(), out, aad, plaintext, ct, ct + plaintext.size());
}

bool Overlaps(ByteView a, const Bytes& b) {
  if (a.empty() || b.empty()) return false;
  auto less = std::less<const uint8_t*>();
  return less(a.data(), b.data() + b.size()) && less(b.data(), a.data() + a.size());
}

// --- scrypt's memory-hard core (RFC 7914 §3-5) ------------------------------
// Neither BCrypt nor the Windows API has scrypt; this one implementation
// serves both builds, so a KEK derived on one OS is the KEK on the other.

uint32_t Rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

// Salsa20/8 core (RFC 7914 §3) on 16 little-endian words, in place.
void Salsa20_8(uint32_t b[16]) {
  uint32_t x[16];
  std::memcpy(x, b, sizeof x);
  for (int i = 0; i < 8; i += 2) {
    x[4] ^= Rotl(x[0] + x[12], 7), x[8] ^= Rotl(x[4] + x[0], 9);
    x[12] ^= Rotl(x[8] + x[4], 13), x[0] ^= Rotl(x[12] + x[8], 18);
    x[9] ^= Rotl(x[5] + x[1], 7), x[13] ^= Rotl(x[9] + x[5], 9);
    x[1] ^= Rotl(x[13] + x[9], 13), x[5] ^= Rotl(x[1] + x[13], 18);
    x[14] ^= Rotl(x[10] + x[6], 7), x[2] ^= Rotl(x[14] + x[10], 9);
    x[6] ^= Rotl(x[2] + x[14], 13), x[10] ^= Rotl(x[6] + x[2], 18);
    x[3] ^= Rotl(x[15] + x[11], 7), x[7] ^= Rotl(x[3] + x[15], 9);
    x[11] ^= Rotl(x[7] + x[3], 13), x[15] ^= Rotl(x[11] + x[7], 18);
    x[1] ^= Rotl(x[0] + x[3], 7), x[2] ^= Rotl(x[1] + x[0], 9);
    x[3] ^= Rotl(x[2] + x[1], 13), x[0] ^= Rotl(x[3] + x[2], 18);
    x[6] ^= Rotl(x[5] + x[4], 7), x[7] ^= Rotl(x[6] + x[5], 9);
    x[4] ^= Rotl(x[7] + x[6], 13), x[5] ^= Rotl(x[4] + x[7], 18);
    x[11] ^= Rotl(x[10] + x[9], 7), x[8] ^= Rotl(x[11] + x[10], 9);
    x[9] ^= Rotl(x[8] + x[11], 13), x[10] ^= Rotl(x[9] + x[8], 18);
    x[12] ^= Rotl(x[15] + x[14], 7), x[13] ^= Rotl(x[12] + x[15], 9);
    x[14] ^= Rotl(x[13] + x[12], 13), x[15] ^= Rotl(x[14] + x[13], 18);
  }
  for (int i = 0; i < 16; ++i) b[i] += x[i];
}

// scryptBlockMix (RFC 7914 §4): `in` and `out` are 2r 64-byte blocks of words.
void BlockMix(const uint32_t* in, uint32_t* out, uint32_t r) {
  uint32_t x[16];
  std::memcpy(x, in + (2 * r - 1) * 16, sizeof x);
  for (uint32_t i = 0; i < 2 * r; ++i) {
    for (int k = 0; k < 16; ++k) x[k] ^= in[i * 16 + k];
    Salsa20_8(x);
    // Even blocks go to the first half of the output, odd ones to the second.
    std::memcpy(out + ((i & 1) * r + i / 2) * 16, x, sizeof x);
  }
}

// scryptROMix (RFC 7914 §5) on one 128r-byte block, in place. `v` has room
// for n blocks, `x` and `y` for one each.
void RoMix(uint8_t* block, uint32_t r, uint64_t n, uint32_t* v, uint32_t* x, uint32_t* y) {
  const size_t words = 32 * size_t{r};
  for (size_t k = 0; k < words; ++k) {
    const uint8_t* p = block + 4 * k;
    x[k] = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  }
  for (uint64_t i = 0; i < n; ++i) {
    std::memcpy(v + i * words, x, words * sizeof(uint32_t));
    BlockMix(x, y, r);
    std::swap(x, y);
  }
  for (uint64_t i = 0; i < n; ++i) {
    // Integerify: the first 64 bits of the last 64-byte block, mod n (a
    // power of two).
    const uint32_t* last = x + (2 * size_t{r} - 1) * 16;
    uint64_t j = (uint64_t{last[1]} << 32 | last[0]) & (n - 1);
    const uint32_t* vj = v + j * words;
    for (size_t k = 0; k < words; ++k) x[k] ^= vj[k];
    BlockMix(x, y, r);
    std::swap(x, y);
  }
  for (size_t k = 0; k < words; ++k) {
    uint8_t* p = block + 4 * k;
    p[0] = static_cast<uint8_t>(x[k]);
    p[1] = static_cast<uint8_t>(x[k] >> 8);
    p[2] = static_cast<uint8_t>(x[k] >> 16);
    p[3] = static_cast<uint8_t>(x[k] >> 24);
  }
}

}  // namespace

void FillRandom(uint8_t* out, size_t n) { backend::FillRandom(out, n); }

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  FillRandom(out.data(), n);
  return out;
}

Key RandomKey() {
  Key key;
  FillRandom(key.data(), key.size());
  return key;
}

Digest Sha256(ByteView data) {
  Digest out;
  backend::Sha256(data, out.data());
  return out;
}

Sha256Hasher::Sha256Hasher() : stream_(backend::NewSha256Stream()) {}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(ByteView data) { stream_->Update(data); }

Digest Sha256Hasher::Finish() {
  Digest out;
  stream_->Finish(out.data());
  return out;
}

Digest HmacSha256(const Key& key, ByteView data) { return internal::HmacSha256Bytes(key, data); }
Digest HmacSha256AnyKey(ByteView key, ByteView data) {
  return internal::HmacSha256Bytes(key, data);
}

Bytes Seal(const Key& key, ByteView aad, ByteView plaintext) {
  Bytes out(plaintext.size() + kSealOverhead);
  uint8_t nonce[kNonceSize];
  FillRandom(nonce, sizeof nonce);
  SealInto(key, nonce, aad, plaintext, out.data());
  return out;
}

void SealAppend(const Key& key, ByteView aad, ByteView plaintext, Bytes& out) {
  if (Overlaps(plaintext, out) || Overlaps(aad, out)) {
    // Growing `out` could move the inputs; seal from a copy instead.
    Bytes sealed = Seal(key, aad, plaintext);
    out.insert(out.end(), sealed.begin(), sealed.end());
    return;
  }
  size_t at = out.size();
  out.resize(at + plaintext.size() + kSealOverhead);
  uint8_t nonce[kNonceSize];
  FillRandom(nonce, sizeof nonce);
  SealInto(key, nonce, aad, plaintext, out.data() + at);
}

Result<ByteView> OpenInto(const Key& key, ByteView aad, ByteView sealed, Bytes& buffer) {
  if (sealed.size() < kSealOverhead) return Corrupt("sealed object is too short");
  const uint8_t* nonce = sealed.data();
  ByteView ct = sealed.subspan(kNonceSize, sealed.size() - kSealOverhead);
  const uint8_t* tag = sealed.data() + sealed.size() - kTagSize;
  if (buffer.size() < ct.size()) buffer.resize(ct.size());
  if (!backend::AesGcmOpen(key.data(), nonce, aad, ct, tag, buffer.data())) {
    return Corrupt("authentication failed (wrong key, wrong associated data or altered bytes)");
  }
  return ByteView(buffer).first(ct.size());
}

Result<Bytes> Open(const Key& key, ByteView aad, ByteView sealed) {
  Bytes plain;
  OB_RETURN_IF_ERROR(OpenInto(key, aad, sealed, plain).status());
  return plain;
}

Result<Key> Scrypt(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r, uint32_t p) {
  OB_ASSIGN_OR_RETURN(Bytes derived, internal::ScryptBytes(passphrase, salt, n, r, p, kKeySize));
  Key key;
  std::memcpy(key.data(), derived.data(), key.size());
  SecureZero(derived.data(), derived.size());
  return key;
}

Key HkdfSha256(const Key& ikm, std::string_view info) {
  Bytes derived = internal::HkdfSha256Bytes(ikm, {}, AsBytes(info), kKeySize);
  Key key;
  std::memcpy(key.data(), derived.data(), key.size());
  SecureZero(derived.data(), derived.size());
  return key;
}

bool EqualConstantTime(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  return backend::EqualConstantTime(a.data(), b.data(), a.size());
}

void SecureZero(void* data, size_t n) {
  if (n != 0) backend::SecureZero(data, n);
}

namespace internal {

Bytes SealWithNonce(const Key& key, ByteView nonce, ByteView aad, ByteView plaintext) {
  if (nonce.size() != kNonceSize) Fatal("SealWithNonce: nonce must be 96 bits");
  Bytes out(plaintext.size() + kSealOverhead);
  SealInto(key, nonce.data(), aad, plaintext, out.data());
  return out;
}

Digest HmacSha256Bytes(ByteView key, ByteView data) {
  Digest out;
  backend::HmacSha256(key, data, out.data());
  return out;
}

Result<Bytes> ScryptBytes(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r,
                          uint32_t p, size_t out_len) {
  if (n < 2 || (n & (n - 1)) != 0) {
    return InvalidArgument("scrypt N must be a power of two greater than 1");
  }
  if (r == 0 || p == 0) return InvalidArgument("scrypt r and p must be positive");
  if (out_len == 0) return InvalidArgument("scrypt output length must be positive");
  // RFC 7914 §2: p * r < 2^30 (and N < 2^(128 r / 8), implied below by the
  // memory bound for every r that fits it).
  if (uint64_t{p} * r >= (uint64_t{1} << 30)) {
    return InvalidArgument("scrypt parameters out of range (p * r >= 2^30)");
  }
  // Memory: 128 * r * (N + 2) for V, X and Y plus 128 * r * p for B (RFC 7914 §5).
  if (n > kMaxScryptMemory / 128 / r || uint64_t{p} > kMaxScryptMemory / 128 / r ||
      128 * uint64_t{r} * (n + 2 + p) > kMaxScryptMemory) {
    return InvalidArgument("scrypt parameters need more memory than allowed (1 GiB)");
  }
  const size_t block_size = 128 * size_t{r};
  const size_t words = 32 * size_t{r};
  ByteView password = AsBytes(passphrase);
  Bytes b(block_size * p);
  backend::Pbkdf2HmacSha256(password, salt, 1, b.data(), b.size());
  std::vector<uint32_t> work((n + 2) * words);
  uint32_t* v = work.data();
  for (uint32_t i = 0; i < p; ++i) {
    RoMix(b.data() + i * block_size, r, n, v, v + n * words, v + (n + 1) * words);
  }
  Bytes out(out_len);
  backend::Pbkdf2HmacSha256(password, b, 1, out.data(), out.size());
  SecureZero(work.data(), work.size() * sizeof(uint32_t));
  SecureZero(b.data(), b.size());
  return out;
}

// RFC 5869 on HMAC-SHA256: PRK = HMAC(salt, IKM); T(i) = HMAC(PRK, T(i-1) || info || i).
Bytes HkdfSha256Bytes(ByteView ikm, ByteView salt, ByteView info, size_t out_len) {
  if (out_len == 0 || out_len > 255 * 32) Fatal("HKDF: bad output length");
  // An absent salt is HashLen zero bytes (RFC 5869 §2.2).
  static const uint8_t kZeroSalt[32] = {};
  Digest prk = HmacSha256Bytes(salt.empty() ? ByteView(kZeroSalt) : salt, ikm);
  Bytes out(out_len);
  Bytes message;
  message.reserve(32 + info.size() + 1);
  Digest t{};
  size_t done = 0;
  for (uint8_t i = 1; done < out_len; ++i) {
    message.clear();
    if (i > 1) message.insert(message.end(), t.begin(), t.end());
    message.insert(message.end(), info.begin(), info.end());
    message.push_back(i);
    t = HmacSha256Bytes(prk, message);
    size_t piece = std::min(t.size(), out_len - done);
    std::memcpy(out.data() + done, t.data(), piece);
    done += piece;
  }
  SecureZero(prk.data(), prk.size());
  SecureZero(t.data(), t.size());
  SecureZero(message.data(), message.size());
  return out;
}

}  // namespace internal
}  // namespace obagent::crypto
