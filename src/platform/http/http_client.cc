// The portable half of the HTTP client layer: URL parsing, encoding and
// dates, shared by the cpprestsdk and WinHTTP implementations and callers.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "obagent/http_client.h"

namespace obagent::platform {
namespace {

char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

void ReserveResponse(Bytes& body, size_t expected) {
  if (expected <= body.capacity()) return;
  body.reserve(body.capacity() == 0 ? expected : std::max(expected, 2 * body.capacity()));
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return "";
}

std::string UrlEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string HttpDate(int64_t unix_seconds) {
  using namespace std::chrono;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  sys_seconds t{seconds{unix_seconds}};
  sys_days day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<seconds> time{t - day};
  auto two = [](long v) { return std::string(v < 10 ? "0" : "") + std::to_string(v); };
  return std::string(kDays[weekday{day}.c_encoding()]) + ", " +
         two(static_cast<unsigned>(ymd.day())) + " " +
         kMonths[static_cast<unsigned>(ymd.month()) - 1] + " " +
         std::to_string(static_cast<int>(ymd.year())) + " " + two(time.hours().count()) + ":" +
         two(time.minutes().count()) + ":" + two(static_cast<long>(time.seconds().count())) +
         " GMT";
}

std::string HttpDateNow() {
  using namespace std::chrono;
  return HttpDate(duration_cast<seconds>(system_clock::now().time_since_epoch()).count());
}

Result<ParsedUrl> ParseHttpUrl(std::string_view url) {
  auto invalid = [&](std::string_view why) {
    return InvalidArgument("invalid URL '" + std::string(url) + "': " + std::string(why));
  };
  ParsedUrl parsed;
  std::string_view rest;
  if (size_t colon = url.find("://"); colon != std::string_view::npos) {
    std::string_view scheme = url.substr(0, colon);
    if (EqualsIgnoreCase(scheme, "https")) {
      parsed.https = true;
    } else if (!EqualsIgnoreCase(scheme, "http")) {
      return invalid("not an http or https URL");
    }
    rest = url.substr(colon + 3);
  } else {
    return invalid("not an http or https URL");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid("a query or fragment is not allowed here");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return invalid("user info is not allowed; give proxy credentials separately");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 address");
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("junk after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (parsed.host.empty()) return invalid("no host");
  parsed.port = parsed.https ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos) {
      return invalid("bad port");
    }
    parsed.port = std::stoi(std::string(port_text));
    if (parsed.port < 1 || parsed.port > 65535) return invalid("port out of range");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  parsed.path = std::string(path);
  return parsed;
}

}  // namespace obagent::platform
