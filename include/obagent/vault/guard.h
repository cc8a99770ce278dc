// vaultd's guard against a compromised server and a careless administrator
// (docs/vault-api.md, "Security PIN, retention floors, immutable vault"):
//   - the Security PIN: 8 random digits an administrator generates for a
//     vault, kept only as a hash, valid kPinValiditySeconds, used once; five
//     wrong PINs void the vault's outstanding one;
//   - MARS's minimum retention (7 days, 4 weeks, 3 months, 1 year) and the
//     retention floor it gives each machine's recovery points;
//   - DeleteRefusal: the one place that decides whether a machine's DELETE
//     of one of its objects is refused;
//   - how long the collector keeps a soft-deleted object.
// Pure functions and one thread-safe class; VaultService (service.cc) calls
// them with its metadata's records.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "obagent/status.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {

// The request header a critical operation carries its PIN in.
inline constexpr char kSecurityPinHeader[] = "x-obagent-security-pin";
inline constexpr int kPinDigits = 8;
inline constexpr int64_t kPinValiditySeconds = 300;  // MARS: 5 minutes
// Wrong PINs for one vault after which its outstanding PIN is void.
inline constexpr int kMaxWrongPins = 5;

// MARS's minimum retention; a tier of 0 is off (daily is never off).
inline constexpr int kMinDailyDays = 7;
inline constexpr int kMinWeeklyWeeks = 4;
inline constexpr int kMinMonthlyMonths = 3;
inline constexpr int kMinYearlyYears = 1;

// Why vaultd refuses a request of the guard's: the HTTP status, the
// catalogue code (its ID goes into the answer's error_id) and the message.
struct GuardRefusal {
  int http_status = 403;
  ErrorCode code = ErrorCode::kSecurityPinInvalid;
  std::string message;
};

// "" when the retention meets MARS's minimums, else what is under them.
std::string RetentionUnderMinimum(const RetentionSetting& r);
// Whether `next` keeps fewer points than `current` on any tier (a tier
// turned off is a reduction).
bool ReducesRetention(const RetentionSetting& current, const RetentionSetting& next);
// Days a machine's recovery point is protected after its upload: the
// registered daily retention, never under kMinDailyDays.
int FloorDays(const std::optional<RetentionSetting>& registered);

// The one decision whether a machine's DELETE of `key` is refused (nullopt:
// allowed; it is then soft). Refused: a recovery point (snapshots/<id>)
// uploaded less than FloorDays ago (`point` is vaultd's record of it; a
// point without one was stored past vaultd and is not judged), and the
// wrapped key the machine's record names (keys/<key_id>), which only a
// passphrase change with the PIN replaces.
std::optional<GuardRefusal> DeleteRefusal(const MachineRecord& machine, std::string_view key,
                                          const std::optional<RecoveryPointRecord>& point,
                                          int64_t now_ms);

// How long the collector keeps an object soft-deleted: the vault's
// soft_delete_days (0 when soft delete is off) and the machine's floor,
// whichever is longer, in milliseconds.
int64_t SoftDeleteKeepMs(int soft_delete_days, const std::optional<RetentionSetting>& registered);

// A refusal for an immutable vault.
GuardRefusal ImmutableRefusal(const std::string& vault_name, const std::string& what);

// The outstanding Security PIN of each vault, in memory only (vaultd's
// restart voids them: generate a new one). Thread-safe.
class SecurityPins {
 public:
  struct Issued {
    std::string pin;  // 8 digits, shown once
    int64_t expires_ms = 0;
  };
  // A new PIN for the vault; the previous one, used or not, is void.
  Issued Issue(const std::string& vault_id, int64_t now_ms);

  // What happened to a PIN a request carried (for the audit seam).
  enum class Outcome { kAccepted, kMissing, kWrong, kUsed, kExpired, kNone, kLockedOut };
  struct Check {
    Outcome outcome = Outcome::kMissing;
    std::optional<GuardRefusal> refusal;  // set unless kAccepted
  };
  // Checks `given` (the header's value, "" when missing) against the
  // vault's PIN for `operation` ("a passphrase change"); a correct one is
  // used up. A wrong one counts; the kMaxWrongPins-th voids the PIN.
  Check Consume(const std::string& vault_id, const std::string& given, const std::string& operation,
                int64_t now_ms);

 private:
  struct Pin {
    std::string sha256;  // hex SHA-256 of the PIN
    int64_t expires_ms = 0;
    bool used = false;
    int wrong = 0;
  };
  std::mutex mu_;
  std::map<std::string, Pin, std::less<>> pins_;  // vault id -> its PIN
};

}  // namespace obagent::vault
