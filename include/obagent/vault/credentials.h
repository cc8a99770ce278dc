// The vault-credential file (docs/vault-api.md): what an administrator
// downloads from vaultd and hands to a machine so it can register. vaultd
// signs it with the vault's signing key; the agent only reads it (Parse) to
// learn the service URL, the vault and the expiry before talking to vaultd.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/status.h"

namespace obagent::vault {

constexpr int kCredentialsVersion = 1;

struct VaultCredentials {
  int version = kCredentialsVersion;
  std::string vault_id;  // 32 hex characters
  std::string vault_name;
  std::string service_url;    // where vaultd listens ("http://127.0.0.1:8470")
  std::string credential_id;  // 32 hex characters; the newest download is the valid one
  int64_t issued_at = 0;      // unix seconds, UTC
  int64_t expires_at = 0;     // unix seconds, UTC
  Bytes secret;               // 32 random bytes
  Bytes signature;            // HMAC-SHA256(signing key, CanonicalString())

  // The XML text of the contract, signature included.
  std::string Serialize() const;
  // kInvalidVaultCredentials (34513) for anything that is not a well-formed
  // file of a known version; the detail says what is wrong. Does not check
  // the signature or the expiry.
  static Result<VaultCredentials> Parse(std::string_view xml);

  // Every field but the signature, in file order, joined by '\n' (times as
  // in the file, secret in base64).
  std::string CanonicalString() const;
  void Sign(const crypto::Key& signing_key);
  // Constant-time comparison of the stored and the expected signature.
  bool VerifySignature(const crypto::Key& signing_key) const;
  bool ExpiredAt(int64_t now_unix_seconds) const { return now_unix_seconds >= expires_at; }
};

// "2026-11-23T17:00:00Z" <-> unix seconds (UTC, whole seconds).
std::string FormatUtcTime(int64_t unix_seconds);
Result<int64_t> ParseUtcTime(std::string_view text);

}  // namespace obagent::vault
