// vaultd's guard (obagent/vault/guard.h): the Security PIN, MARS's
// minimum retention, the retention floor and the one decision on a
// machine's deletes.
#include "obagent/vault/guard.h"

#include <algorithm>

#include "obagent/core/crypto.h"
#include "obagent/vault/credentials.h"

namespace obagent::vault {
namespace {

constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;
constexpr std::string_view kSnapshotsPrefix = "snapshots/";
constexpr std::string_view kKeysPrefix = "keys/";

std::string PinHash(std::string_view pin) { return ToHex(crypto::Sha256(AsBytes(pin))); }

// 8 digits from the CSPRNG, without modulo bias: bytes >= 250 are drawn again.
std::string NewPin() {
  std::string pin;
  while (pin.size() < static_cast<size_t>(kPinDigits)) {
    for (uint8_t b : crypto::RandomBytes(16)) {
      if (b >= 250) continue;
      pin.push_back(static_cast<char>('0' + b % 10));
      if (pin.size() == static_cast<size_t>(kPinDigits)) break;
    }
  }
  return pin;
}

GuardRefusal PinRefusal(const std::string& why, const std::string& operation) {
  return {403, ErrorCode::kSecurityPinInvalid,
          operation + " needs the vault's Security PIN: " + why +
              "; the vault's administrator generates one (obctl vault security-pin), valid 5 "
              "minutes and for one operation"};
}

}  // namespace

std::string RetentionUnderMinimum(const RetentionSetting& r) {
  auto tier = [](const char* name, int value, int min, const char* unit, bool may_be_off) {
    if (value >= min || (may_be_off && value == 0)) return std::string();
    return std::string(name) + " retention " + std::to_string(value) + " is under the minimum of " +
           std::to_string(min) + " " + unit + (may_be_off ? " (or 0, off)" : "");
  };
  for (std::string why : {tier("daily", r.daily_days, kMinDailyDays, "days", false),
                          tier("weekly", r.weekly_weeks, kMinWeeklyWeeks, "weeks", true),
                          tier("monthly", r.monthly_months, kMinMonthlyMonths, "months", true),
                          tier("yearly", r.yearly_years, kMinYearlyYears, "year", true)}) {
    if (!why.empty()) return why;
  }
  return "";
}

bool ReducesRetention(const RetentionSetting& current, const RetentionSetting& next) {
  return next.daily_days < current.daily_days || next.weekly_weeks < current.weekly_weeks ||
         next.monthly_months < current.monthly_months || next.yearly_years < current.yearly_years;
}

int FloorDays(const std::optional<RetentionSetting>& registered) {
  return std::max(kMinDailyDays, registered ? registered->daily_days : 0);
}

std::optional<GuardRefusal> DeleteRefusal(const MachineRecord& machine, std::string_view key,
                                          const std::optional<RecoveryPointRecord>& point,
                                          int64_t now_ms) {
  if (key.starts_with(kKeysPrefix) && key.substr(kKeysPrefix.size()) == machine.key_id) {
    return GuardRefusal{403, ErrorCode::kProtectedByRetentionFloor,
                        "object '" + std::string(key) +
                            "' is the machine's wrapped key in use: it is not deleted (a "
                            "passphrase change with the Security PIN replaces it)"};
  }
  if (key.starts_with(kSnapshotsPrefix) && point) {
    const int days = FloorDays(machine.retention);
    const int64_t until_ms = point->uploaded_at * 1000 + days * kDayMs;
    if (now_ms < until_ms) {
      return GuardRefusal{
          403, ErrorCode::kProtectedByRetentionFloor,
          "recovery point " + point->id + " was uploaded at " + FormatUtcTime(point->uploaded_at) +
              " and the vault keeps it until " + FormatUtcTime(until_ms / 1000) +
              " (its retention floor: " + std::to_string(days) + " days); it was not deleted"};
    }
  }
  // The anomaly hold adds its condition here.
  return std::nullopt;
}

int64_t SoftDeleteKeepMs(int soft_delete_days, const std::optional<RetentionSetting>& registered) {
  return std::max<int64_t>(soft_delete_days, FloorDays(registered)) * kDayMs;
}

GuardRefusal ImmutableRefusal(const std::string& vault_name, const std::string& what) {
  return {403, ErrorCode::kVaultImmutable,
          "vault '" + vault_name + "' is immutable: " + what +
              " is refused, with or without the Security PIN"};
}

SecurityPins::Issued SecurityPins::Issue(const std::string& vault_id, int64_t now_ms) {
  Issued out{NewPin(), now_ms + kPinValiditySeconds * 1000};
  std::lock_guard lock(mu_);
  pins_[vault_id] = Pin{PinHash(out.pin), out.expires_ms, false, 0};
  return out;
}

SecurityPins::Check SecurityPins::Consume(const std::string& vault_id, const std::string& given,
                                          const std::string& operation, int64_t now_ms) {
  Check c;
  if (given.empty()) {
    c.outcome = Outcome::kMissing;
    c.refusal = PinRefusal("none was given (header X-Obagent-Security-Pin)", operation);
    return c;
  }
  std::lock_guard lock(mu_);
  auto it = pins_.find(vault_id);
  if (it == pins_.end()) {
    c.outcome = Outcome::kNone;
    c.refusal =
        PinRefusal("no PIN was generated for this vault (or vaultd restarted since)", operation);
    return c;
  }
  Pin& pin = it->second;
  if (pin.wrong >= kMaxWrongPins) {
    c.outcome = Outcome::kLockedOut;
    c.refusal = PinRefusal(
        "the vault's PIN was voided after " + std::to_string(kMaxWrongPins) + " wrong ones",
        operation);
    return c;
  }
  if (!crypto::EqualConstantTime(AsBytes(PinHash(given)), AsBytes(pin.sha256))) {
    ++pin.wrong;
    c.outcome = Outcome::kWrong;
    c.refusal = PinRefusal(pin.wrong >= kMaxWrongPins
                               ? "the PIN is wrong, the " + std::to_string(kMaxWrongPins) +
                                     "th wrong one: the vault's PIN is now void"
                               : "the PIN is wrong",
                           operation);
    return c;
  }
  if (pin.used) {
    c.outcome = Outcome::kUsed;
    c.refusal =
        PinRefusal("the PIN was used already (each PIN is good for one operation)", operation);
    return c;
  }
  if (now_ms >= pin.expires_ms) {
    c.outcome = Outcome::kExpired;
    c.refusal = PinRefusal("the PIN expired at " + FormatUtcTime(pin.expires_ms / 1000), operation);
    return c;
  }
  pin.used = true;
  c.outcome = Outcome::kAccepted;
  return c;
}

}  // namespace obagent::vault
