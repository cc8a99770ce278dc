#include "obagent/core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "core/crypto_internal.h"

namespace obagent::crypto {
namespace {

// Largest piece handed to one EVP_*Update call (their lengths are int).
constexpr size_t kMaxUpdate = size_t{1} << 30;
// Upper bound on the memory scrypt parameters may ask for: parameters come
// from files in the vault, and a hostile file must not exhaust memory.
constexpr uint64_t kMaxScryptMemory = uint64_t{1} << 30;

[[noreturn]] void Fatal(const char* what) {
  char buf[256] = "no OpenSSL error";
  unsigned long err = ERR_peek_last_error();
  if (err != 0) ERR_error_string_n(err, buf, sizeof buf);
  std::fprintf(stderr, "obagent: fatal crypto failure in %s: %s\n", what, buf);
  std::abort();
}

// Algorithm objects are fetched once per process (thread-safe static init)
// and deliberately never freed: worker threads may outlive static destructors.
const EVP_CIPHER* Aes256Gcm() {
  static EVP_CIPHER* cipher = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (c == nullptr) Fatal("fetching AES-256-GCM");
    return c;
  }();
  return cipher;
}

const EVP_MD* Sha256Md() {
  static EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (m == nullptr) Fatal("fetching SHA256");
    return m;
  }();
  return md;
}

EVP_MAC* HmacMac() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) Fatal("fetching HMAC");
    return m;
  }();
  return mac;
}

EVP_KDF* HkdfKdf() {
  static EVP_KDF* kdf = [] {
    EVP_KDF* k = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (k == nullptr) Fatal("fetching HKDF");
    return k;
  }();
  return kdf;
}

// Per-thread contexts: creating and initialising a context with its cipher
// costs far more than re-keying it, and chunks are sealed at GB/s.
struct CipherCtx {
  EVP_CIPHER_CTX* ctx = nullptr;
  explicit CipherCtx(bool encrypt) {
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == nullptr) Fatal("EVP_CIPHER_CTX_new");
    int ok = encrypt ? EVP_EncryptInit_ex2(ctx, Aes256Gcm(), nullptr, nullptr, nullptr)
                     : EVP_DecryptInit_ex2(ctx, Aes256Gcm(), nullptr, nullptr, nullptr);
    if (ok != 1) Fatal("initialising AES-256-GCM");
  }
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
};

EVP_CIPHER_CTX* EncryptCtx() {
  thread_local CipherCtx c(true);
  return c.ctx;
}

EVP_CIPHER_CTX* DecryptCtx() {
  thread_local CipherCtx c(false);
  return c.ctx;
}

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  MdCtx() {
    if (ctx == nullptr) Fatal("EVP_MD_CTX_new");
  }
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
  MdCtx(const MdCtx&) = delete;
  MdCtx& operator=(const MdCtx&) = delete;
};

struct MacCtx {
  EVP_MAC_CTX* ctx = nullptr;
  MacCtx() {
    ctx = EVP_MAC_CTX_new(HmacMac());
    if (ctx == nullptr) Fatal("EVP_MAC_CTX_new");
    // The digest is set once: setting it fetches the algorithm again.
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) Fatal("configuring HMAC-SHA256");
  }
  ~MacCtx() { EVP_MAC_CTX_free(ctx); }
  MacCtx(const MacCtx&) = delete;
  MacCtx& operator=(const MacCtx&) = delete;
};

// Feeds `data` to an EVP update function in int-sized pieces. `out` may be
// null (AAD); otherwise each piece's output follows the previous one.
template <typename UpdateFn>
void UpdateInPieces(EVP_CIPHER_CTX* ctx, UpdateFn update, uint8_t* out, ByteView data,
                    const char* what) {
  size_t done = 0;
  while (done < data.size()) {
    size_t piece = std::min(kMaxUpdate, data.size() - done);
    int outl = 0;
    if (update(ctx, out == nullptr ? nullptr : out + done, &outl, data.data() + done,
               static_cast<int>(piece)) != 1) {
      Fatal(what);
    }
    done += piece;
  }
}

// Writes nonce || ciphertext || tag to `out`, which has room for
// plaintext.size() + kSealOverhead bytes and does not overlap `plaintext`.
void SealInto(const Key& key, const uint8_t* nonce, ByteView aad, ByteView plaintext,
              uint8_t* out) {
  EVP_CIPHER_CTX* ctx = EncryptCtx();
  std::memmove(out, nonce, kNonceSize);
  if (EVP_EncryptInit_ex2(ctx, nullptr, key.data(), out, nullptr) != 1) Fatal("GCM key setup");
  UpdateInPieces(ctx, EVP_EncryptUpdate, nullptr, aad, "GCM aad");
  uint8_t* ct = out + kNonceSize;
  UpdateInPieces(ctx, EVP_EncryptUpdate, ct, plaintext, "GCM encrypt");
  int outl = 0;
  uint8_t* tag = ct + plaintext.size();
  if (EVP_EncryptFinal_ex(ctx, tag, &outl) != 1) Fatal("GCM final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag) != 1) {
    Fatal("GCM tag");
  }
}

bool Overlaps(ByteView a, const Bytes& b) {
  if (a.empty() || b.empty()) return false;
  auto less = std::less<const uint8_t*>();
  return less(a.data(), b.data() + b.size()) && less(b.data(), a.data() + a.size());
}

}  // namespace

void FillRandom(uint8_t* out, size_t n) {
  while (n > 0) {
    size_t piece = std::min(n, kMaxUpdate);
    if (RAND_bytes(out, static_cast<int>(piece)) != 1) Fatal("RAND_bytes");
    out += piece;
    n -= piece;
  }
}

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
  thread_local MdCtx md;
  Digest out;
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(md.ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(md.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(md.ctx, out.data(), &len) != 1 || len != out.size()) {
    Fatal("SHA-256");
  }
  return out;
}

Sha256Hasher::Sha256Hasher() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr || EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) Fatal("SHA-256 init");
  ctx_ = ctx;
}

Sha256Hasher::~Sha256Hasher() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Hasher::Update(ByteView data) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) != 1) {
    Fatal("SHA-256 update");
  }
}

Digest Sha256Hasher::Finish() {
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  Digest out;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &len) != 1 || len != out.size()) Fatal("SHA-256 final");
  // Leave the hasher usable for a fresh message.
  if (EVP_DigestInit_ex2(ctx, Sha256Md(), nullptr) != 1) Fatal("SHA-256 init");
  return out;
}

Digest HmacSha256(const Key& key, ByteView data) { return internal::HmacSha256Bytes(key, data); }

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

Result<Bytes> Open(const Key& key, ByteView aad, ByteView sealed) {
  if (sealed.size() < kSealOverhead) return Corrupt("sealed object is too short");
  EVP_CIPHER_CTX* ctx = DecryptCtx();
  const uint8_t* nonce = sealed.data();
  ByteView ct = sealed.subspan(kNonceSize, sealed.size() - kSealOverhead);
  uint8_t tag[kTagSize];
  std::memcpy(tag, sealed.data() + sealed.size() - kTagSize, kTagSize);

  if (EVP_DecryptInit_ex2(ctx, nullptr, key.data(), nonce, nullptr) != 1) Fatal("GCM key setup");
  UpdateInPieces(ctx, EVP_DecryptUpdate, nullptr, aad, "GCM aad");
  Bytes plain(ct.size());
  UpdateInPieces(ctx, EVP_DecryptUpdate, plain.data(), ct, "GCM decrypt");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), tag) != 1) {
    Fatal("GCM set tag");
  }
  int outl = 0;
  if (EVP_DecryptFinal_ex(ctx, plain.data() + plain.size(), &outl) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(plain.data(), plain.size());
    return Corrupt("authentication failed (wrong key, wrong associated data or altered bytes)");
  }
  return plain;
}

Result<Key> Scrypt(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r, uint32_t p) {
  OB_ASSIGN_OR_RETURN(Bytes derived, internal::ScryptBytes(passphrase, salt, n, r, p, kKeySize));
  Key key;
  std::memcpy(key.data(), derived.data(), key.size());
  OPENSSL_cleanse(derived.data(), derived.size());
  return key;
}

Key HkdfSha256(const Key& ikm, std::string_view info) {
  Bytes derived = internal::HkdfSha256Bytes(ikm, {}, AsBytes(info), kKeySize);
  Key key;
  std::memcpy(key.data(), derived.data(), key.size());
  OPENSSL_cleanse(derived.data(), derived.size());
  return key;
}

bool EqualConstantTime(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace internal {

Bytes SealWithNonce(const Key& key, ByteView nonce, ByteView aad, ByteView plaintext) {
  if (nonce.size() != kNonceSize) Fatal("SealWithNonce: nonce must be 96 bits");
  Bytes out(plaintext.size() + kSealOverhead);
  SealInto(key, nonce.data(), aad, plaintext, out.data());
  return out;
}

Digest HmacSha256Bytes(ByteView key, ByteView data) {
  thread_local MacCtx mac;
  // A null key means "keep the previous key" to EVP_MAC_init; an empty key
  // must still be a key.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  Digest out;
  size_t len = 0;
  if (EVP_MAC_init(mac.ctx, key_ptr, key.size(), nullptr) != 1 ||
      EVP_MAC_update(mac.ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(mac.ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    Fatal("HMAC-SHA256");
  }
  return out;
}

Result<Bytes> ScryptBytes(std::string_view passphrase, ByteView salt, uint64_t n, uint32_t r,
                          uint32_t p, size_t out_len) {
  if (n < 2 || (n & (n - 1)) != 0) {
    return InvalidArgument("scrypt N must be a power of two greater than 1");
  }
  if (r == 0 || p == 0) return InvalidArgument("scrypt r and p must be positive");
  if (out_len == 0) return InvalidArgument("scrypt output length must be positive");
  // Memory: 128 * r * (N + 2) for V plus 128 * r * p for B (RFC 7914 §5).
  if (n > kMaxScryptMemory / 128 / r || uint64_t{p} > kMaxScryptMemory / 128 / r ||
      128 * uint64_t{r} * (n + 2 + p) > kMaxScryptMemory) {
    return InvalidArgument("scrypt parameters need more memory than allowed (1 GiB)");
  }
  // A null password makes EVP_PBE_scrypt only check the parameters.
  static const char kEmptyPass[] = "";
  static const uint8_t kEmptySalt = 0;
  const char* pass = passphrase.empty() ? kEmptyPass : passphrase.data();
  const uint8_t* salt_ptr = salt.empty() ? &kEmptySalt : salt.data();
  Bytes out(out_len);
  if (EVP_PBE_scrypt(pass, passphrase.size(), salt_ptr, salt.size(), n, r, p, kMaxScryptMemory,
                     out.data(), out.size()) != 1) {
    ERR_clear_error();
    return InvalidArgument("scrypt rejected its parameters");
  }
  return out;
}

Bytes HkdfSha256Bytes(ByteView ikm, ByteView salt, ByteView info, size_t out_len) {
  if (out_len == 0 || out_len > 255 * 32) Fatal("HKDF: bad output length");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(HkdfKdf());
  if (ctx == nullptr) Fatal("EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  static uint8_t kEmpty = 0;
  // OSSL_PARAM holds non-const pointers but the KDF only reads them.
  auto octets = [](const char* name, ByteView v) {
    return OSSL_PARAM_construct_octet_string(
        name, v.empty() ? &kEmpty : const_cast<uint8_t*>(v.data()), v.size());
  };
  OSSL_PARAM params[5];
  size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = octets(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[i++] = octets(OSSL_KDF_PARAM_SALT, salt);
  params[i++] = octets(OSSL_KDF_PARAM_INFO, info);
  params[i] = OSSL_PARAM_construct_end();
  Bytes out(out_len);
  if (EVP_KDF_derive(ctx, out.data(), out.size(), params) != 1) {
    EVP_KDF_CTX_free(ctx);
    Fatal("HKDF-SHA256");
  }
  EVP_KDF_CTX_free(ctx);
  return out;
}

}  // namespace internal
}  // namespace obagent::crypto
