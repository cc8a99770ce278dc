// crypto_backend on Windows CNG (BCrypt): the system's FIPS-validated
// primitives, with no third-party library to ship or patch. Wine implements
// the same calls, which is how the unit tests run them on Linux.
// clang-format off
#include <windows.h>
#include <bcrypt.h>
// clang-format on

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "obagent/core/crypto_backend.h"

namespace obagent::crypto_backend {
namespace {

// STATUS_AUTH_TAG_MISMATCH (ntstatus.h cannot be included beside windows.h).
constexpr NTSTATUS kAuthTagMismatch = static_cast<NTSTATUS>(0xC000A002L);
// BCrypt lengths are ULONG: data is hashed and generated in pieces of this size.
constexpr size_t kMaxPiece = ULONG{1} << 30;

[[noreturn]] void Fatal(const char* what, NTSTATUS status) {
  std::fprintf(stderr, "obagent: fatal crypto failure in %s: NTSTATUS 0x%08lx\n", what,
               static_cast<unsigned long>(status));
  std::abort();
}

void Check(NTSTATUS status, const char* what) {
  if (!BCRYPT_SUCCESS(status)) Fatal(what, status);
}

ULONG Ulong(size_t n, const char* what) {
  // A single sealed object of 4 GiB or more is far beyond the format's
  // objects (packs are at most 64 MiB); refuse rather than truncate.
  if (n > ULONG_MAX) Fatal(what, 0);
  return static_cast<ULONG>(n);
}

// Algorithm providers are opened once per process (thread-safe static init;
// CNG handles may be used from several threads) and never closed: worker
// threads may outlive static destructors.
BCRYPT_ALG_HANDLE OpenProvider(const wchar_t* algorithm, ULONG flags, const char* what) {
  BCRYPT_ALG_HANDLE handle = nullptr;
  Check(BCryptOpenAlgorithmProvider(&handle, algorithm, nullptr, flags), what);
  return handle;
}

BCRYPT_ALG_HANDLE Sha256Provider() {
  static BCRYPT_ALG_HANDLE h = OpenProvider(BCRYPT_SHA256_ALGORITHM, 0, "opening SHA-256");
  return h;
}

BCRYPT_ALG_HANDLE HmacProvider() {
  static BCRYPT_ALG_HANDLE h =
      OpenProvider(BCRYPT_SHA256_ALGORITHM, BCRYPT_ALG_HANDLE_HMAC_FLAG, "opening HMAC-SHA256");
  return h;
}

BCRYPT_ALG_HANDLE AesGcmProvider() {
  static BCRYPT_ALG_HANDLE h = [] {
    BCRYPT_ALG_HANDLE aes = OpenProvider(BCRYPT_AES_ALGORITHM, 0, "opening AES");
    Check(BCryptSetProperty(aes, BCRYPT_CHAINING_MODE,
                            reinterpret_cast<PUCHAR>(const_cast<wchar_t*>(BCRYPT_CHAIN_MODE_GCM)),
                            sizeof(BCRYPT_CHAIN_MODE_GCM), 0),
          "selecting GCM");
    return aes;
  }();
  return h;
}

// A SHA-256 hash object, or an HMAC-SHA256 one when made with a key.
class HashObject {
 public:
  HashObject() {
    Check(BCryptCreateHash(Sha256Provider(), &handle_, nullptr, 0, nullptr, 0, 0),
          "BCryptCreateHash (SHA-256)");
  }
  explicit HashObject(ByteView key) {
    // An empty HMAC key is still a key: give CNG a valid pointer.
    static UCHAR empty = 0;
    PUCHAR secret = key.empty() ? &empty : const_cast<PUCHAR>(key.data());
    Check(BCryptCreateHash(HmacProvider(), &handle_, nullptr, 0, secret,
                           Ulong(key.size(), "HMAC key length"), 0),
          "BCryptCreateHash (HMAC-SHA256)");
  }
  ~HashObject() { BCryptDestroyHash(handle_); }
  HashObject(const HashObject&) = delete;
  HashObject& operator=(const HashObject&) = delete;

  void Update(ByteView data) {
    size_t done = 0;
    while (done < data.size()) {
      size_t piece = std::min(kMaxPiece, data.size() - done);
      Check(BCryptHashData(handle_, const_cast<PUCHAR>(data.data() + done),
                           static_cast<ULONG>(piece), 0),
            "BCryptHashData");
      done += piece;
    }
  }
  void Finish(uint8_t out[kSha256Size]) {
    Check(BCryptFinishHash(handle_, out, kSha256Size, 0), "BCryptFinishHash");
  }

 private:
  BCRYPT_HASH_HANDLE handle_ = nullptr;
};

class BcryptSha256Stream final : public Sha256Stream {
 public:
  void Update(ByteView data) override { hash_->Update(data); }
  void Finish(uint8_t out[kSha256Size]) override {
    hash_->Finish(out);
    // A finished CNG hash cannot be reused without the reusable flag
    // (Windows 8+); a fresh object keeps this working everywhere.
    hash_ = std::make_unique<HashObject>();
  }

 private:
  std::unique_ptr<HashObject> hash_ = std::make_unique<HashObject>();
};

// A key object per call. (A thread_local cache of the last key crashed:
// mingw-w64's winpthreads runs thread_local destructors after the thread's
// TLS block is gone, so the engine's worker threads faulted when a job
// ended. A key schedule costs microseconds; chunks are about a megabyte.)
class AesKey {
 public:
  explicit AesKey(const uint8_t key[kAesKeySize]) {
    Check(BCryptGenerateSymmetricKey(AesGcmProvider(), &handle_, nullptr, 0,
                                     const_cast<PUCHAR>(key), kAesKeySize, 0),
          "BCryptGenerateSymmetricKey");
  }
  ~AesKey() {
    if (handle_ != nullptr) BCryptDestroyKey(handle_);
  }
  AesKey(const AesKey&) = delete;
  AesKey& operator=(const AesKey&) = delete;
  BCRYPT_KEY_HANDLE get() const { return handle_; }

 private:
  BCRYPT_KEY_HANDLE handle_ = nullptr;
};

BCRYPT_AUTHENTICATED_CIPHER_MODE_INFO GcmInfo(const uint8_t* nonce, ByteView aad, uint8_t* tag) {
  BCRYPT_AUTHENTICATED_CIPHER_MODE_INFO info;
  BCRYPT_INIT_AUTH_MODE_INFO(info);
  info.pbNonce = const_cast<PUCHAR>(nonce);
  info.cbNonce = kGcmNonceSize;
  // CNG wants a non-null pointer even for empty associated data.
  static UCHAR empty = 0;
  info.pbAuthData = aad.empty() ? &empty : const_cast<PUCHAR>(aad.data());
  info.cbAuthData = Ulong(aad.size(), "GCM associated data length");
  info.pbTag = tag;
  info.cbTag = kGcmTagSize;
  return info;
}

}  // namespace

void FillRandom(uint8_t* out, size_t n) {
  while (n > 0) {
    size_t piece = std::min(n, kMaxPiece);
    Check(BCryptGenRandom(nullptr, out, static_cast<ULONG>(piece), BCRYPT_USE_SYSTEM_PREFERRED_RNG),
          "BCryptGenRandom");
    out += piece;
    n -= piece;
  }
}

void Sha256(ByteView data, uint8_t out[kSha256Size]) {
  HashObject hash;
  hash.Update(data);
  hash.Finish(out);
}

std::unique_ptr<Sha256Stream> NewSha256Stream() { return std::make_unique<BcryptSha256Stream>(); }

void HmacSha256(ByteView key, ByteView data, uint8_t out[kSha256Size]) {
  HashObject hmac(key);
  hmac.Update(data);
  hmac.Finish(out);
}

void Pbkdf2HmacSha256(ByteView password, ByteView salt, uint64_t iterations, uint8_t* out,
                      size_t out_len) {
  static UCHAR empty = 0;
  Check(BCryptDeriveKeyPBKDF2(HmacProvider(),
                              password.empty() ? &empty : const_cast<PUCHAR>(password.data()),
                              Ulong(password.size(), "PBKDF2 password length"),
                              salt.empty() ? &empty : const_cast<PUCHAR>(salt.data()),
                              Ulong(salt.size(), "PBKDF2 salt length"), iterations, out,
                              Ulong(out_len, "PBKDF2 output length"), 0),
        "BCryptDeriveKeyPBKDF2");
}

void AesGcmSeal(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize], ByteView aad,
                ByteView plaintext, uint8_t* ciphertext, uint8_t tag[kGcmTagSize]) {
  BCRYPT_AUTHENTICATED_CIPHER_MODE_INFO info = GcmInfo(nonce, aad, tag);
  ULONG written = 0;
  // A null pbOutput makes BCryptEncrypt only report the size it needs and
  // leave the tag unwritten (documented), so an empty message gets a real,
  // zero-length buffer to "write" to.
  UCHAR none_in = 0, none_out = 0;
  PUCHAR in = plaintext.empty() ? &none_in : const_cast<PUCHAR>(plaintext.data());
  PUCHAR out = ciphertext != nullptr ? ciphertext : &none_out;
  Check(BCryptEncrypt(AesKey(key).get(), in, Ulong(plaintext.size(), "GCM plaintext length"), &info,
                      nullptr, 0, out, static_cast<ULONG>(plaintext.size()), &written, 0),
        "BCryptEncrypt (AES-256-GCM)");
}

bool AesGcmOpen(const uint8_t key[kAesKeySize], const uint8_t nonce[kGcmNonceSize], ByteView aad,
                ByteView ciphertext, const uint8_t tag[kGcmTagSize], uint8_t* plaintext) {
  if (ciphertext.empty()) {
    // Wine's BCryptDecrypt accepts any tag when there is no ciphertext; the
    // tag of an empty message is what sealing it gives, so compare that.
    // AesGcmSeal writes the tag through a non-null output buffer (see
    // there); it starts as the complement of the given tag, so a tag left
    // unwritten can never compare equal.
    uint8_t computed[kGcmTagSize];
    for (size_t i = 0; i < kGcmTagSize; ++i) computed[i] = static_cast<uint8_t>(~tag[i]);
    uint8_t no_output = 0;
    AesGcmSeal(key, nonce, aad, {}, &no_output, computed);
    return EqualConstantTime(computed, tag, kGcmTagSize);
  }
  uint8_t expected[kGcmTagSize];
  std::memcpy(expected, tag, kGcmTagSize);
  BCRYPT_AUTHENTICATED_CIPHER_MODE_INFO info = GcmInfo(nonce, aad, expected);
  ULONG written = 0;
  NTSTATUS status = BCryptDecrypt(AesKey(key).get(), const_cast<PUCHAR>(ciphertext.data()),
                                  Ulong(ciphertext.size(), "GCM ciphertext length"), &info, nullptr,
                                  0, plaintext, static_cast<ULONG>(ciphertext.size()), &written, 0);
  if (status == kAuthTagMismatch) {
    if (!ciphertext.empty()) SecureZeroMemory(plaintext, ciphertext.size());
    return false;
  }
  Check(status, "BCryptDecrypt (AES-256-GCM)");
  return true;
}

void SecureZero(void* data, size_t n) { SecureZeroMemory(data, n); }

bool EqualConstantTime(const uint8_t* a, const uint8_t* b, size_t n) {
  // Every byte is read whatever the earlier ones were; volatile keeps the
  // compiler from turning the loop into an early-exit memcmp.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace obagent::crypto_backend
