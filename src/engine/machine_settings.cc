#include "obagent/engine/machine_settings.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "obagent/engine/agent.h"
#include "obagent/engine/policy.h"

namespace obagent::engine {

namespace {

std::string Lower(std::string_view text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
  return std::string(text.substr(b, e - b));
}

Status ValidateRate(const char* which, uint64_t rate) {
  if (rate < kMinThrottleBytesPerSecond || rate > kMaxThrottleBytesPerSecond) {
    return InvalidArgument(std::string("the ") + which + " bandwidth " + FormatBandwidth(rate) +
                           " is outside 512 Kbps (" + FormatBandwidth(kMinThrottleBytesPerSecond) +
                           ") to 1023 Mbps (" + FormatBandwidth(kMaxThrottleBytesPerSecond) +
                           "), the range MARS accepts");
  }
  return Status::Ok();
}

// The local time of a moment. std::localtime shares one buffer per process,
// hence the lock; it is portable (the MSVC and mingw runtimes have it too),
// which localtime_r is not.
std::tm LocalTime(int64_t unix_ns) {
  static std::mutex mu;
  std::time_t seconds = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  std::lock_guard lock(mu);
  return *std::localtime(&seconds);
}

class LocalTimeSchedule final : public storage::RateSchedule {
 public:
  explicit LocalTimeSchedule(const BandwidthThrottle& throttle) : throttle_(throttle) {}
  uint64_t BytesPerSecondAt(int64_t unix_ns) const override {
    std::tm local = LocalTime(unix_ns);
    return throttle_.BytesPerSecondAt(local.tm_wday, local.tm_hour * 60 + local.tm_min);
  }

 private:
  const BandwidthThrottle throttle_;
};

Status ValidateProxyUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("proxy " + url + ": " + why + " (expected http://HOST:PORT)");
  };
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad("no scheme");
  std::string scheme = Lower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return bad("the scheme must be http or https");
  std::string rest = url.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no host and port");
  for (char c : rest.substr(0, colon)) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '/' || c == '@') {
      return bad("invalid host");
    }
  }
  std::string port = rest.substr(colon + 1);
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
    return bad("the port must be 1 to 65535");
  }
  return Status::Ok();
}

}  // namespace

Status BandwidthThrottle::Validate() const {
  if (!enabled) return Status::Ok();
  if ((work_days & 0x7F) == 0) return InvalidArgument("give at least one work day");
  if (work_start_minute < 0 || work_end_minute > 24 * 60 || work_start_minute >= work_end_minute) {
    return InvalidArgument("the work hours " + FormatHourMinute(work_start_minute) + "-" +
                           FormatHourMinute(work_end_minute) +
                           " are empty: the start must come before the end");
  }
  OB_RETURN_IF_ERROR(ValidateRate("work-hour", work_bytes_per_second));
  return ValidateRate("non-work-hour", non_work_bytes_per_second);
}

uint64_t BandwidthThrottle::BytesPerSecondAt(int weekday, int minute_of_day) const {
  if (!enabled) return 0;
  bool work_day = weekday >= 0 && weekday < 7 && (work_days >> weekday & 1) != 0;
  bool work_hour = minute_of_day >= work_start_minute && minute_of_day < work_end_minute;
  return work_day && work_hour ? work_bytes_per_second : non_work_bytes_per_second;
}

std::string BandwidthThrottle::Describe() const {
  if (!enabled) return "off";
  return FormatWorkDays(work_days) + " " + FormatHourMinute(work_start_minute) + "-" +
         FormatHourMinute(work_end_minute) + " at " + FormatBandwidth(work_bytes_per_second) +
         ", otherwise " + FormatBandwidth(non_work_bytes_per_second);
}

Result<uint64_t> ParseBandwidth(std::string_view input) {
  std::string text = Lower(Trim(input));
  auto bad = [&] {
    return InvalidArgument("'" + std::string(input) +
                           "' is not a bandwidth (e.g. 512KB/s, 10MB/s, 4Mbps, or bytes per "
                           "second)");
  };
  size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return bad();
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits || !(number > 0)) return bad();
  std::string unit = Trim(text.substr(digits));
  struct Unit {
    const char* name;
    double bytes;
  };
  static const Unit kUnits[] = {
      {"", 1},
      {"b/s", 1},
      {"b", 1},
      {"kb/s", 1024},
      {"kb", 1024},
      {"kib/s", 1024},
      {"kib", 1024},
      {"mb/s", 1 << 20},
      {"mb", 1 << 20},
      {"mib/s", 1 << 20},
      {"mib", 1 << 20},
      {"gb/s", 1 << 30},
      {"gb", 1 << 30},
      {"gib/s", 1 << 30},
      {"gib", 1 << 30},
      {"kbps", 1024.0 / 8},
      {"mbps", 1048576.0 / 8},
      {"gbps", 1073741824.0 / 8},
  };
  for (const Unit& u : kUnits) {
    if (unit == u.name) {
      double bytes = std::round(number * u.bytes);
      if (bytes < 1 || bytes > 1e15) return bad();
      return static_cast<uint64_t>(bytes);
    }
  }
  return bad();
}

std::string FormatBandwidth(uint64_t bps) {
  const char* names[] = {"B/s", "KiB/s", "MiB/s", "GiB/s"};
  double value = static_cast<double>(bps);
  int unit = 0;
  while (unit < 3 && value >= 1024) {
    value /= 1024;
    ++unit;
  }
  char buf[48];
  if (value == std::floor(value)) {
    std::snprintf(buf, sizeof buf, "%.0f %s", value, names[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", value, names[unit]);
  }
  return buf;
}

Result<uint8_t> ParseWorkDays(std::string_view text) {
  if (Lower(Trim(text)) == "all") return static_cast<uint8_t>(0x7F);
  uint8_t mask = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string word = Trim(text.substr(start, comma - start));
    if (word.empty()) return InvalidArgument("'" + std::string(text) + "': empty work day");
    OB_ASSIGN_OR_RETURN(int day, ParseDay(word));
    mask = static_cast<uint8_t>(mask | (1u << day));
    start = comma + 1;
  }
  return mask;
}

std::string FormatWorkDays(uint8_t mask) {
  std::string out;
  for (int d = 0; d < 7; ++d) {
    if ((mask >> d & 1) == 0) continue;
    if (!out.empty()) out += ",";
    out += DayName(d);
  }
  return out;
}

Result<int> ParseHourMinute(std::string_view text) {
  if (text == "24:00") return 24 * 60;  // the end of the day, for an end hour
  return ParseTimeOfDay(text);
}

std::string FormatHourMinute(int minutes) { return FormatTimeOfDay(minutes); }

std::unique_ptr<storage::RateSchedule> NewLocalTimeSchedule(const BandwidthThrottle& throttle) {
  return std::make_unique<LocalTimeSchedule>(throttle);
}

Result<std::string> ProxyUrl(std::string_view server_in, int port) {
  std::string server = Trim(server_in);
  while (!server.empty() && server.back() == '/') server.pop_back();
  if (server.empty()) return InvalidArgument("give the proxy server (--proxy-server URL)");
  if (port < 1 || port > 65535) {
    return InvalidArgument("the proxy port " + std::to_string(port) + " is not 1 to 65535");
  }
  if (server.find("://") == std::string::npos) server = "http://" + server;
  std::string host = server.substr(server.find("://") + 3);
  if (host.empty() || host.find(':') != std::string::npos || host.find('/') != std::string::npos) {
    return InvalidArgument("the proxy server '" + std::string(server_in) +
                           "' must be a host name or address, with the port given as "
                           "--proxy-port");
  }
  std::string url = server + ":" + std::to_string(port);
  OB_RETURN_IF_ERROR(ValidateProxyUrl(url));
  return url;
}

Result<MachineSettings> GetMachineSettings(platform::Env& env, const std::string& state_dir) {
  OB_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(env, state_dir));
  MachineSettings s;
  s.throttle = config.throttle;
  s.proxy = {config.proxy, config.proxy_user, config.proxy_password};
  s.scratch_dir = config.scratch_dir;
  return s;
}

namespace {

Status ValidateSettings(const MachineSettings& settings) {
  OB_RETURN_IF_ERROR(settings.throttle.Validate());
  const ProxySetting& p = settings.proxy;
  if (!p.url.empty()) OB_RETURN_IF_ERROR(ValidateProxyUrl(p.url));
  if (p.url.empty() && !p.user.empty()) {
    return InvalidArgument("a proxy user name needs a proxy server");
  }
  if (p.user.empty() && !p.password.empty()) {
    return InvalidArgument("a proxy password needs a proxy user name");
  }
  return Status::Ok();
}

}  // namespace

Status SetMachineSettings(platform::Env& env, const std::string& state_dir,
                          const MachineSettings& settings) {
  OB_RETURN_IF_ERROR(ValidateSettings(settings));
  const ProxySetting& p = settings.proxy;
  OB_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(env, state_dir));
  config.throttle = settings.throttle;
  config.proxy = p.url;
  config.proxy_user = p.user;
  config.proxy_password = p.password;
  return SaveAgentConfig(env, state_dir, config);
}

Status ApplyMachineSettings(platform::Env& env, const std::string& state_dir,
                            const MachineSettings& settings) {
  OB_RETURN_IF_ERROR(ValidateSettings(settings));
  OB_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(env, state_dir));
  if (!settings.scratch_dir.empty() && settings.scratch_dir != config.scratch_dir) {
    OB_RETURN_IF_ERROR(
        MoveScratch(env, state_dir, settings.scratch_dir).WithContext("moving the scratch folder"));
  }
  return SetMachineSettings(env, state_dir, settings);
}

}  // namespace obagent::engine
