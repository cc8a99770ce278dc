// The retry policy of the HTTP client layer (obagent/http_client.h): which
// answers are retried, how long to wait, Retry-After, and the one loop that
// AzureBlobStore and VaultClient share. Portable: time and chance come from
// a RetryClock.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "obagent/http_client.h"

namespace obagent::platform {
namespace {

class RealRetryClock final : public RetryClock {
 public:
  int64_t NowUnixMs() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void SleepMs(int64_t ms) override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  double Jitter() override {
    // Seeded once per thread: a random_device per request showed in the
    // restore's profile. (mt19937_64 has no destructor to run, which
    // mingw-w64's thread_local handling needs: docs/architecture.md.)
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.5, 1.5)(rng);
  }
};

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "dd" / "hh" etc.: exactly n digits.
bool Digits(std::string_view s, size_t n, int* out) {
  if (s.size() != n || !AllDigits(s)) return false;
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  *out = v;
  return true;
}

// IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT", as Unix
// seconds. The day name is checked for form only.
std::optional<int64_t> ParseImfFixdate(std::string_view s) {
  // 0123456789012345678901234567890
  // Sun, 06 Nov 1994 08:49:37 GMT
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  auto month = std::find(kMonths.begin(), kMonths.end(), s.substr(8, 3));
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (month == kMonths.end() || !Digits(s.substr(5, 2), 2, &day) ||
      !Digits(s.substr(12, 4), 4, &year) || !Digits(s.substr(17, 2), 2, &hour) ||
      !Digits(s.substr(20, 2), 2, &minute) || !Digits(s.substr(23, 2), 2, &second) || hour > 23 ||
      minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::chrono::year_month_day date{
      std::chrono::year(year),
      std::chrono::month(static_cast<unsigned>(month - kMonths.begin() + 1)),
      std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::string Attempts(int n) { return std::to_string(n) + (n == 1 ? " attempt" : " attempts"); }

}  // namespace

RetryClock& RetryClock::Real() {
  static RealRetryClock clock;
  return clock;
}

bool IsRetryableStatus(int status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

std::optional<int64_t> RetryAfterMs(std::string_view value, int64_t now_unix_ms) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (AllDigits(value)) {
    // More than a day is "very long" for our purposes; the cap cuts it anyway.
    if (value.size() > 9) return int64_t{999'999'999} * 1000;
    return std::stoll(std::string(value)) * 1000;
  }
  std::optional<int64_t> date = ParseImfFixdate(value);
  if (!date) return std::nullopt;
  return std::max<int64_t>(0, *date * 1000 - now_unix_ms);
}

int64_t RetryDelayMs(const HttpRetryPolicy& policy, int retry, const HttpResponse* last,
                     RetryClock& clock) {
  if (last != nullptr) {
    std::optional<int64_t> after = RetryAfterMs(last->Header("Retry-After"), clock.NowUnixMs());
    if (after) return std::min<int64_t>(*after, std::max(policy.max_retry_after_ms, 0));
  }
  double backoff = std::ldexp(static_cast<double>(std::max(policy.base_delay_ms, 0)),
                              std::clamp(retry - 1, 0, 30));
  double cap = static_cast<double>(std::max(policy.max_delay_ms, 0));
  return static_cast<int64_t>(std::min(backoff * clock.Jitter(), cap));
}

Result<HttpResponse> SendWithRetry(const HttpRetryPolicy& policy, Repeat repeat,
                                   const HttpAttempt& attempt, RetryClock& clock,
                                   const DescribeResponse& describe) {
  const int attempts = repeat == Repeat::kSafe ? std::max(policy.max_attempts, 1) : 1;
  std::string last_error;
  for (int n = 1;; ++n) {
    Result<HttpResponse> answer = attempt();
    std::optional<HttpResponse> retried;
    if (answer.ok()) {
      if (!IsRetryableStatus(answer->status)) return answer;
      last_error = describe ? describe(*answer) : "HTTP " + std::to_string(answer->status);
      retried = std::move(answer).value();
    } else {
      if (answer.status().code() != ErrorCode::kServiceUnreachable) return answer.status();
      last_error = answer.status().detail();
    }
    if (n >= attempts) {
      return Status(ErrorCode::kServiceUnreachable,
                    "failed after " + Attempts(n) + ": " + last_error);
    }
    clock.SleepMs(RetryDelayMs(policy, n, retried ? &*retried : nullptr, clock));
  }
}

RetryingHttpClient::RetryingHttpClient(std::unique_ptr<HttpClient> inner, HttpRetryPolicy policy,
                                       RetryClock& clock)
    : inner_(std::move(inner)), policy_(policy), clock_(clock) {}

Result<HttpResponse> RetryingHttpClient::Send(const HttpRequest& request) {
  return SendWithRetry(
      policy_, request.repeat, [&] { return inner_->Send(request); }, clock_);
}

}  // namespace obagent::platform
