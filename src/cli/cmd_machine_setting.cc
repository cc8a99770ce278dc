// obctl machine-setting show|set: Get-/Set-OBMachineSetting. Bandwidth
// throttling by work hours, the proxy to vaultd, and the scratch folder.
// Everything given is checked before anything changes; changes take effect
// at the next job.
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/machine_settings.h"
#include "obagent/engine/wire.h"

namespace obagent::cli {

namespace {

int Show(Globals& g, const std::vector<std::string>& args) {
  OptionSet options("machine-setting show");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto s = engine::GetMachineSettings(*g.env, g.state_dir);
  if (!s.ok()) return Fail(g, s.status());
  json j = engine::MachineSettingsToJson(*s);
  j["ok"] = true;
  g.out->Result(j, [&](std::ostream& o, std::ostream&) {
    o << "Bandwidth throttling: " << s->throttle.Describe() << "\n";
    o << "Proxy: " << (s->proxy.url.empty() ? "none" : s->proxy.url);
    if (!s->proxy.user.empty()) o << " (user " << s->proxy.user << ")";
    o << "\nScratch location: " << s->scratch_dir << "\n";
  });
  return kExitOk;
}

Result<std::string> ReadPasswordFile(platform::Env& env, const std::string& file) {
  Result<Bytes> data = env.ReadFile(file);
  if (!data.ok()) return data.status().WithContext("reading the proxy password file");
  std::string text(data->begin(), data->end());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return InvalidArgument("the proxy password file " + file + " is empty");
  return text;
}

int Set(Globals& g, const std::vector<std::string>& args) {
  // Each setting's text is checked below, where the error can name it.
  std::map<std::string, std::string, std::less<>> text;
  int proxy_port = 0;
  bool no_throttle = false, no_proxy = false;
  OptionSet options("machine-setting set");
  const std::pair<const char*, const char*> kTextOptions[] = {
      {"work-day", "days with work hours: mon,tue,... (or all)"},
      {"start-work-hour", "start of work hours, HH:MM (local time)"},
      {"end-work-hour", "end of work hours, HH:MM (exclusive; 24:00 allowed)"},
      {"work-hour-bandwidth",
       "rate during work hours: 512KB/s, 10MB/s, 4Mbps or bytes per second; 512 Kbps "
       "(64 KiB/s) to 1023 Mbps, as MARS (backup uploads and restore downloads)"},
      {"non-work-hour-bandwidth", "rate at all other times"},
      {"proxy-server", "proxy URL for vaultd (with --proxy-port)"},
      {"proxy-username", "proxy user"},
      {"proxy-password-file", "file with the proxy password"},
      {"scratch-location", "move the scratch folder (key file and caches) here"},
  };
  for (const auto& [name, help] : kTextOptions) options.Add(name, &text[name], help);
  options.Add("proxy-port", &proxy_port, "proxy port");
  options.Add("no-throttle", &no_throttle, "transfer at full speed");
  options.Add("no-proxy", &no_proxy, "connect to vaultd directly");
  if (auto exit = ParseOptions(g, options, args)) return *exit;
  auto given = [&](std::string_view name) { return options.Given(name); };
  const bool throttle_given = given("work-day") || given("start-work-hour") ||
                              given("end-work-hour") || given("work-hour-bandwidth") ||
                              given("non-work-hour-bandwidth");
  const bool proxy_given = given("proxy-server") || given("proxy-port") ||
                           given("proxy-username") || given("proxy-password-file");
  if (!throttle_given && !proxy_given && !no_throttle && !no_proxy && !given("scratch-location")) {
    return UsageError(options, "give a setting to change (see 'obctl machine-setting set --help')");
  }
  if (no_throttle && throttle_given) {
    return Fail(g, InvalidArgument("--no-throttle cannot be combined with throttle settings"));
  }
  if (no_proxy && proxy_given) {
    return Fail(g, InvalidArgument("--no-proxy cannot be combined with proxy settings"));
  }

  auto current = engine::GetMachineSettings(*g.env, g.state_dir);
  if (!current.ok()) return Fail(g, current.status());
  engine::MachineSettings next = *current;

  // Throttle: the given fields change, the others keep their stored values.
  engine::BandwidthThrottle& t = next.throttle;
  if (no_throttle) t.enabled = false;
  if (throttle_given) {
    t.enabled = true;
    if (given("work-day")) {
      auto days = engine::ParseWorkDays(text["work-day"]);
      if (!days.ok()) return Fail(g, days.status().WithContext("--work-day"));
      t.work_days = *days;
    }
    for (auto [name, field] : {std::pair{"start-work-hour", &t.work_start_minute},
                               std::pair{"end-work-hour", &t.work_end_minute}}) {
      if (!given(name)) continue;
      auto minutes = engine::ParseHourMinute(text[name]);
      if (!minutes.ok()) return Fail(g, minutes.status().WithContext(std::string("--") + name));
      *field = *minutes;
    }
    for (auto [name, field] :
         {std::pair{"work-hour-bandwidth", &t.work_bytes_per_second},
          std::pair{"non-work-hour-bandwidth", &t.non_work_bytes_per_second}}) {
      if (!given(name)) continue;
      auto rate = engine::ParseBandwidth(text[name]);
      if (!rate.ok()) return Fail(g, rate.status().WithContext(std::string("--") + name));
      *field = *rate;
    }
    if (t.work_bytes_per_second == 0 || t.non_work_bytes_per_second == 0) {
      return Fail(g, InvalidArgument("turning throttling on needs both --work-hour-bandwidth "
                                     "and --non-work-hour-bandwidth"));
    }
  }
  Status valid = t.Validate();
  if (!valid.ok()) return Fail(g, valid);

  // Proxy: a new server replaces the credentials too.
  if (no_proxy) next.proxy = {};
  if (proxy_given) {
    if (given("proxy-server") != given("proxy-port")) {
      return Fail(g, InvalidArgument("give --proxy-server and --proxy-port together"));
    }
    if (given("proxy-server")) {
      auto url = engine::ProxyUrl(text["proxy-server"], proxy_port);
      if (!url.ok()) return Fail(g, url.status());
      next.proxy = {*url, "", ""};
    } else if (next.proxy.url.empty()) {
      return Fail(g, InvalidArgument("no proxy is set; give --proxy-server and --proxy-port"));
    }
    if (given("proxy-password-file") && !given("proxy-username")) {
      return Fail(g, InvalidArgument("--proxy-password-file needs --proxy-username"));
    }
    if (given("proxy-username")) {
      next.proxy.user = text["proxy-username"];
      next.proxy.password.clear();
      if (given("proxy-password-file")) {
        auto password = ReadPasswordFile(*g.env, text["proxy-password-file"]);
        if (!password.ok()) return Fail(g, password.status());
        next.proxy.password = *password;
      }
    }
  }

  // The engine applies them in its one safe order (a refused scratch move
  // changes no setting either).
  if (given("scratch-location")) next.scratch_dir = text["scratch-location"];
  Status applied = engine::ApplyMachineSettings(*g.env, g.state_dir, next);
  if (!applied.ok()) return Fail(g, applied);
  return Show(g, {});
}

}  // namespace

Handler MachineSettingCommand(std::string_view sub) {
  if (sub == "show") return Show;
  if (sub == "set") return Set;
  return nullptr;
}

}  // namespace obagent::cli
