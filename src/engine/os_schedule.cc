#include "obagent/engine/os_schedule.h"

#include "obagent/core/text.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>

namespace obagent::engine {

namespace {

constexpr std::array<const char*, 7> kTaskDayElements = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

// Days in week order Monday..Sunday (as systemd and people write them).
std::vector<int> MondayFirst(const std::vector<int>& days) {
  std::set<int> set(days.begin(), days.end());
  std::vector<int> out;
  for (int i = 1; i <= 7; ++i) {
    if (set.contains(i % 7)) out.push_back(i % 7);
  }
  return out;
}

std::vector<int> SortedTimes(const Schedule& schedule) {
  std::vector<int> times = schedule.minutes_of_day;
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  return times;
}

// One word of an ExecStart= command line: systemd expands '%' specifiers
// and '$' variables, and splits at white space outside quotes.
std::string SystemdQuote(std::string_view arg, bool exec = true) {
  bool quote = arg.empty() || arg.find_first_of(" \t\n\"'\\;") != std::string_view::npos;
  std::string out = quote ? "\"" : "";
  for (char c : arg) {
    if (c == '%') {
      out += "%%";
    } else if (c == '$' && exec) {
      out += "$$";
    } else if (quote && (c == '"' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  if (quote) out += '"';
  return out;
}

}  // namespace

std::string TaskStartDate(int64_t modified_unix, int offset_minutes) {
  return text::FormatIsoUtc(modified_unix + int64_t{offset_minutes} * 60).substr(0, 10);
}

std::string TaskSchedulerXml(const Schedule& schedule, const std::string& command,
                             const std::string& arguments, const std::string& start_date) {
  std::string days;
  for (int d : MondayFirst(schedule.days)) {
    if (d < 0 || d > 6) continue;
    days += "          <" + std::string(kTaskDayElements[static_cast<size_t>(d)]) + " />\n";
  }
  std::string triggers;
  for (int m : SortedTimes(schedule)) {
    triggers +=
        "    <CalendarTrigger>\n"
        "      <StartBoundary>" +
        text::XmlEscape(start_date) + "T" + FormatTimeOfDay(m) +
        ":00</StartBoundary>\n"
        "      <Enabled>true</Enabled>\n"
        "      <ScheduleByWeek>\n"
        "        <DaysOfWeek>\n" +
        days +
        "        </DaysOfWeek>\n"
        "        <WeeksInterval>1</WeeksInterval>\n"
        "      </ScheduleByWeek>\n"
        "    </CalendarTrigger>\n";
  }
  std::string args_element;
  if (!arguments.empty()) {
    args_element = "      <Arguments>" + text::XmlEscape(arguments) + "</Arguments>\n";
  }
  return "<?xml version=\"1.0\"?>\n"
         "<Task version=\"1.2\" "
         "xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n"
         "  <RegistrationInfo>\n"
         "    <Author>obagent</Author>\n"
         "    <Description>obagent scheduled backup (the backup policy's schedule)"
         "</Description>\n"
         "  </RegistrationInfo>\n"
         "  <Triggers>\n" +
         triggers +
         "  </Triggers>\n"
         "  <Principals>\n"
         "    <Principal id=\"LocalSystem\">\n"
         "      <UserId>S-1-5-18</UserId>\n"
         "      <RunLevel>HighestAvailable</RunLevel>\n"
         "    </Principal>\n"
         "  </Principals>\n"
         "  <Settings>\n"
         "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>\n"
         "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>\n"
         "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>\n"
         "    <AllowHardTerminate>true</AllowHardTerminate>\n"
         "    <StartWhenAvailable>true</StartWhenAvailable>\n"
         "    <RunOnlyIfNetworkAvailable>true</RunOnlyIfNetworkAvailable>\n"
         "    <IdleSettings>\n"
         "      <StopOnIdleEnd>false</StopOnIdleEnd>\n"
         "      <RestartOnIdle>false</RestartOnIdle>\n"
         "    </IdleSettings>\n"
         "    <AllowStartOnDemand>true</AllowStartOnDemand>\n"
         "    <Enabled>true</Enabled>\n"
         "    <Hidden>false</Hidden>\n"
         "    <RunOnlyIfIdle>false</RunOnlyIfIdle>\n"
         "    <WakeToRun>false</WakeToRun>\n"
         "    <ExecutionTimeLimit>PT72H</ExecutionTimeLimit>\n"
         "    <Priority>7</Priority>\n"
         "  </Settings>\n"
         "  <Actions Context=\"LocalSystem\">\n"
         "    <Exec>\n"
         "      <Command>" +
         text::XmlEscape(command) + "</Command>\n" + args_element +
         "    </Exec>\n"
         "  </Actions>\n"
         "</Task>\n";
}

std::string WindowsQuoteArgument(std::string_view arg) {
  if (!arg.empty() && arg.find_first_of(" \t\n\v\"") == std::string_view::npos) {
    return std::string(arg);
  }
  std::string out = "\"";
  size_t backslashes = 0;
  for (char c : arg) {
    if (c == '\\') {
      ++backslashes;
      continue;
    }
    // Backslashes are literal unless they precede a quote.
    out.append(c == '"' ? backslashes * 2 + 1 : backslashes, '\\');
    backslashes = 0;
    out += c;
  }
  out.append(backslashes * 2, '\\');  // before the closing quote
  out += '"';
  return out;
}

Result<Bytes> Utf16LeWithBom(std::string_view utf8) {
  Bytes out = {0xFF, 0xFE};
  auto put = [&out](uint32_t unit) {
    out.push_back(static_cast<uint8_t>(unit & 0xFF));
    out.push_back(static_cast<uint8_t>(unit >> 8));
  };
  size_t i = 0;
  while (i < utf8.size()) {
    auto byte = [&](size_t k) { return static_cast<uint8_t>(utf8[k]); };
    uint8_t b0 = byte(i);
    uint32_t cp = 0;
    size_t len = 0;
    if (b0 < 0x80) {
      cp = b0, len = 1;
    } else if ((b0 & 0xE0) == 0xC0) {
      cp = b0 & 0x1Fu, len = 2;
    } else if ((b0 & 0xF0) == 0xE0) {
      cp = b0 & 0x0Fu, len = 3;
    } else if ((b0 & 0xF8) == 0xF0) {
      cp = b0 & 0x07u, len = 4;
    } else {
      return InvalidArgument("malformed UTF-8 at byte " + std::to_string(i));
    }
    if (i + len > utf8.size())
      return InvalidArgument("truncated UTF-8 at byte " + std::to_string(i));
    for (size_t k = 1; k < len; ++k) {
      if ((byte(i + k) & 0xC0) != 0x80) {
        return InvalidArgument("malformed UTF-8 at byte " + std::to_string(i + k));
      }
      cp = (cp << 6) | (byte(i + k) & 0x3Fu);
    }
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return InvalidArgument("malformed UTF-8 at byte " + std::to_string(i));
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      put(0xD800 + (cp >> 10));
      put(0xDC00 + (cp & 0x3FF));
    } else {
      put(cp);
    }
    i += len;
  }
  return out;
}

std::vector<std::string> SystemdOnCalendar(const Schedule& schedule) {
  std::string days;
  std::vector<int> ordered = MondayFirst(schedule.days);
  if (ordered.size() < 7) {
    for (int d : ordered) days += (days.empty() ? "" : ",") + std::string(DayName(d));
    days += " ";
  }
  std::vector<std::string> lines;
  for (int m : SortedTimes(schedule)) lines.push_back(days + "*-*-* " + FormatTimeOfDay(m) + ":00");
  return lines;
}

std::string SystemdTimerUnit(const Schedule& schedule) {
  std::string calendars;
  for (const auto& line : SystemdOnCalendar(schedule)) calendars += "OnCalendar=" + line + "\n";
  return std::string("# Generated by obagent from the backup policy's schedule.\n") +
         "[Unit]\n"
         "Description=obagent scheduled backup\n"
         "\n"
         "[Timer]\n" +
         calendars +
         "Persistent=true\n"
         "AccuracySec=1min\n"
         "Unit=" +
         kSystemdServiceName +
         "\n"
         "\n"
         "[Install]\n"
         "WantedBy=timers.target\n";
}

std::string SystemdServiceUnit(const std::vector<std::string>& argv,
                               const std::vector<std::string>& read_write_paths) {
  std::string exec;
  for (const auto& arg : argv) exec += (exec.empty() ? "" : " ") + SystemdQuote(arg);
  std::string rw;
  for (const auto& path : read_write_paths)
    rw += "ReadWritePaths=" + SystemdQuote(path, false) + "\n";
  return std::string("# Generated by obagent; started by ") + kSystemdTimerName +
         ".\n"
         "[Unit]\n"
         "Description=obagent scheduled backup\n"
         "Wants=network-online.target\n"
         "After=network-online.target\n"
         "\n"
         "[Service]\n"
         "Type=oneshot\n"
         "ExecStart=" +
         exec +
         "\n"
         "TimeoutStartSec=72h\n"
         "Nice=10\n"
         "IOSchedulingClass=best-effort\n"
         "IOSchedulingPriority=7\n"
         "ProtectSystem=strict\n" +
         rw +
         "PrivateTmp=yes\n"
         "NoNewPrivileges=yes\n"
         "ProtectKernelTunables=yes\n"
         "ProtectControlGroups=yes\n"
         "RestrictSUIDSGID=yes\n";
}

namespace {

std::string ToWindowsPath(std::string path) {
  std::replace(path.begin(), path.end(), '/', '\\');
  return path;
}

}  // namespace

platform::OsScheduleDefinition ScheduleDefinition(const Schedule& schedule,
                                                  const std::string& obctl,
                                                  const std::string& state_dir,
                                                  const std::vector<std::string>& read_write_paths,
                                                  const std::string& start_date) {
  std::vector<std::string> run_args = {"--state-dir", state_dir, "backup", "scheduled"};
  std::string windows_args;
  for (const auto& a : run_args) {
    windows_args += (windows_args.empty() ? "" : " ") +
                    WindowsQuoteArgument(a == state_dir ? ToWindowsPath(a) : a);
  }
  std::vector<std::string> argv = {obctl};
  argv.insert(argv.end(), run_args.begin(), run_args.end());
  platform::OsScheduleDefinition d;
  d.task_name = kTaskName;
  d.task_xml = TaskSchedulerXml(schedule, ToWindowsPath(obctl), windows_args, start_date);
  d.systemd_timer_name = kSystemdTimerName;
  d.systemd_timer = SystemdTimerUnit(schedule);
  d.systemd_service_name = kSystemdServiceName;
  d.systemd_service = SystemdServiceUnit(argv, read_write_paths);
  return d;
}

std::vector<std::string> ScheduledRunWritablePaths(platform::Env& env,
                                                   const std::string& state_dir) {
  std::vector<std::string> paths = {state_dir};
  Result<Bytes> data = env.ReadFile(state_dir + "/agent.json");
  if (!data.ok()) return paths;
  auto j = nlohmann::json::parse(AsString(*data), nullptr, false);
  if (!j.is_object()) return paths;
  for (const char* key : {"scratch_dir", "vault"}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) continue;
    std::string path = it->get<std::string>();
    if (path.empty() || path == state_dir || path.starts_with(state_dir + "/")) continue;
    paths.push_back(path);
  }
  return paths;
}

}  // namespace obagent::engine
