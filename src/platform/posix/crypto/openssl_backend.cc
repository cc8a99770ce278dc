// crypto_backend on OpenSSL 3's EVP interfaces (AES-NI and SHA-NI code
// paths: design.md §4 has the measured throughput).
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "obagent/core/crypto_backend.h"

namespace obagent::crypto_backend {
namespace {

// Largest piece handed to one EVP_*Update call (their lengths are int).
constexpr size_t kMaxUpdate = size_t{1} << 30;

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

class OpenSslSha256Stream final : public Sha256Stream {
 public:
  OpenSslSha256Stream() {
    if (EVP_DigestInit_ex2(md_.ctx, Sha256Md(), nullptr) != 1) Fatal("SHA-256 init");
  }
  void Update(ByteView data) override {
    if (EVP_DigestUpdate(md_.ctx, data.data(), data.size()) != 1) Fatal("SHA-256 update");
  }
  void Finish(uint8_t out[kSha256Size]) override {
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(md_.ctx, out, &len) != 1 || len != kSha256Size) {
      Fatal("SHA-256 final");
    }
    if (EVP_DigestInit_ex2(md_.ctx, Sha256Md(), nullptr) != 1) Fatal("SHA-256 init");
  }

 private:
  MdCtx md_;
};

}  // namespace

void FillRandom(uint8_t* out, size_t n) {
  while (n > 0) {
    size_t piece = std::min(n, kMaxUpdate);
    if (RAND_bytes(out, static_cast<int>(piece)) != 1) Fatal("RAND_bytes");
    out += piece;
    n -= piece;
  }
}

void Sha256(ByteView data, uint8_t out[kSha256Size]) {
  thread_local MdCtx md;
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(md.ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(md.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(md.ctx, out, &len) != 1 || len != kSha256Size) {
    Fatal("SHA-256");
  }
}

std::unique_ptr<Sha256Stream> NewSha256Stream() { return std::make_unique<OpenSslSha256Stream>(); }

void HmacSha256(ByteView key, ByteView data, uint8_t out[kSha256Size]) {
  thread_local MacCtx mac;
  // A null key means "keep the previous key" to EVP_MAC_init; an empty key
  // must still be a key.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  size_t len = 0;
  if (EVP_MAC_init(mac.ctx, key_ptr, key.size(), nullptr) != 1 ||
      EVP_MAC_update(mac.ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(mac.ctx, out, &len, kSha256Size) != 1 || len != kSha256Size) {
    Fatal("HMAC-SHA256");
  }
}

void Pbkdf2HmacSha256(ByteView password, ByteView salt, uint64_t iterations, uint8_t* out,
                      size_t out_len) {
  static const uint8_t kEmpty = 0;
  if (iterations == 0 || iterations > INT_MAX || out_len > INT_MAX || password.size() > INT_MAX ||
      salt.size() > INT_MAX) {
    Fatal("PBKDF2: parameter out of range");
  }
  if (PKCS5_PBKDF2_HMAC(password.empty() ? "" : reinterpret_cast<const char*>(password.data()),
                        static_cast<int>(password.size()), salt.empty() ? &kEmpty : salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), Sha256Md(),
                        static_cast<int>(out_len), out) != 1) {
    Fatal("PBKDF2-HMAC-SHA256");
  }
}

void AesGcmSeal(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize], ByteView aad,
                ByteView plaintext, uint8_t* ciphertext, uint8_t tag[kGcmTagSize]) {
  EVP_CIPHER_CTX* ctx = EncryptCtx();
  if (EVP_EncryptInit_ex2(ctx, nullptr, key, nonce, nullptr) != 1) Fatal("GCM key setup");
  UpdateInPieces(ctx, EVP_EncryptUpdate, nullptr, aad, "GCM aad");
  UpdateInPieces(ctx, EVP_EncryptUpdate, ciphertext, plaintext, "GCM encrypt");
  int outl = 0;
  if (EVP_EncryptFinal_ex(ctx, tag, &outl) != 1) Fatal("GCM final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kGcmTagSize), tag) != 1) {
    Fatal("GCM tag");
  }
}

bool AesGcmOpen(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize], ByteView aad,
                ByteView ciphertext, const uint8_t tag[kGcmTagSize], uint8_t* plaintext) {
  EVP_CIPHER_CTX* ctx = DecryptCtx();
  if (EVP_DecryptInit_ex2(ctx, nullptr, key, nonce, nullptr) != 1) Fatal("GCM key setup");
  UpdateInPieces(ctx, EVP_DecryptUpdate, nullptr, aad, "GCM aad");
  UpdateInPieces(ctx, EVP_DecryptUpdate, plaintext, ciphertext, "GCM decrypt");
  // EVP_CTRL_AEAD_SET_TAG takes a non-const pointer but only reads the tag.
  uint8_t expected[kGcmTagSize];
  std::copy(tag, tag + kGcmTagSize, expected);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kGcmTagSize), expected) !=
      1) {
    Fatal("GCM set tag");
  }
  int outl = 0;
  if (EVP_DecryptFinal_ex(ctx, plaintext + ciphertext.size(), &outl) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(plaintext, ciphertext.size());
    return false;
  }
  return true;
}

void SecureZero(void* data, size_t n) { OPENSSL_cleanse(data, n); }

bool EqualConstantTime(const uint8_t* a, const uint8_t* b, size_t n) {
  return n == 0 || CRYPTO_memcmp(a, b, n) == 0;
}

}  // namespace obagent::crypto_backend
