// Small text helpers (text.h): XML escaping and the one ISO 8601 UTC time format.
#include "obagent/core/text.h"

#include <chrono>
#include <cstdio>

namespace obagent::text {

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatIsoUtc(int64_t unix_seconds, uint32_t nanoseconds) {
  using namespace std::chrono;
  unix_seconds += nanoseconds / 1000000000;
  nanoseconds %= 1000000000;
  sys_seconds tp{seconds(unix_seconds)};
  sys_days day = floor<days>(tp);
  year_month_day ymd{day};
  hh_mm_ss<seconds> hms{tp - day};
  std::string fraction;
  if (nanoseconds != 0) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%09u", nanoseconds);
    fraction = "." + std::string(digits);
    while (fraction.back() == '0') fraction.pop_back();
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%sZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), fraction.c_str());
  return buf;
}

std::string FormatIsoUtcNs(int64_t unix_ns) {
  // Floor division: a time before 1970 keeps a fraction in [0, 1) s.
  int64_t seconds = unix_ns / 1000000000;
  int64_t rest = unix_ns % 1000000000;
  if (rest < 0) rest += 1000000000, --seconds;
  return FormatIsoUtc(seconds, static_cast<uint32_t>(rest));
}

}  // namespace obagent::text
