// obctl policy: the backup policy (New-OBPolicy, New-OBFileSpec,
// Add-/Remove-OBFileSpec, New-/Set-OBSchedule, New-OBRetentionPolicy,
// Set-OBPolicy, Get-OBPolicy, Remove-OBPolicy, Set-OBPolicyState) and the
// files that register its schedule with the OS scheduler.
//
// PolicyCommand("new") is the handler of "policy new" in obctl's command
// table (main.cc). Exit codes: 0 ok, 1 error, 2 usage.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "obagent/core/text.h"
#include "obagent/engine/critical_ops.h"
#include "obagent/engine/os_schedule.h"
#include "obagent/engine/policy.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::cli {

namespace {

using nlohmann::json;

constexpr int kPolicyOk = 0;
constexpr int kPolicyFailed = 1;

struct Ctx {
  std::string state_dir;
  Presenter* out = nullptr;
  platform::Env* env = nullptr;
  const Globals* g = nullptr;
};

int Fail(const Ctx& c, const Status& status) {
  c.out->Failure(status);
  return kPolicyFailed;
}

// Windows users type C:\data; a trailing separator is dropped.
std::string CleanPath(std::string path) {
  path = platform::FromNativePath(std::move(path));
  while (path.size() > 1 && path.back() == '/' && !(path.size() == 3 && path[1] == ':')) {
    path.pop_back();
  }
  return path;
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    std::string item = text.substr(i, j - i);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    out.push_back(item);
    i = j + 1;
  }
  return out;
}

Result<engine::Schedule> ParseSchedule(const std::string& days, const std::string& times) {
  engine::Schedule s;
  if (days == "all" || days == "*") {
    s.days = {0, 1, 2, 3, 4, 5, 6};
  } else {
    for (const auto& d : SplitList(days)) {
      OB_ASSIGN_OR_RETURN(int day, engine::ParseDay(d));
      s.days.push_back(day);
    }
  }
  for (const auto& t : SplitList(times)) {
    OB_ASSIGN_OR_RETURN(int minutes, engine::ParseTimeOfDay(t));
    s.minutes_of_day.push_back(minutes);
  }
  OB_RETURN_IF_ERROR(engine::ValidateSchedule(s));
  std::sort(s.days.begin(), s.days.end());
  std::sort(s.minutes_of_day.begin(), s.minutes_of_day.end());
  return s;
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2024-05-06 21:30" for Unix seconds shifted by offset minutes.
std::string FormatLocal(int64_t unix_seconds, int offset_minutes) {
  using namespace std::chrono;
  sys_seconds t{seconds(unix_seconds + int64_t{offset_minutes} * 60)};
  sys_days day = floor<days>(t);
  year_month_day ymd(day);
  hh_mm_ss hms(t - day);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02ld:%02ld", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long>(hms.hours().count()), static_cast<long>(hms.minutes().count()));
  return buf;
}

// The policy as its file holds it (days as names, times of day as local
// "HH:MM"), its times ISO 8601 UTC: "modified", and "next_run" (null while
// paused or never) of the backup and of the drill.
json PolicyJson(const engine::Policy& p) {
  json j = json::parse(engine::SerializePolicy(p));
  j["modified"] = text::FormatIsoUtc(p.modified);
  int64_t now = NowUnix();
  int offset = engine::LocalUtcOffsetMinutes(now);
  auto next_run = [&](const engine::Schedule& schedule) {
    std::optional<int64_t> next = engine::NextRun(schedule, now, offset);
    return next && !p.paused ? json(text::FormatIsoUtc(*next)) : json(nullptr);
  };
  j["next_run"] = next_run(p.schedule);
  if (p.recovery_test) j["recovery_test"]["next_run"] = next_run(p.recovery_test->schedule);
  return j;
}

std::string DescribeSchedule(const engine::Schedule& schedule) {
  std::string days, times;
  for (int d : schedule.days) days += (days.empty() ? "" : ", ") + std::string(engine::DayName(d));
  for (int m : schedule.minutes_of_day) {
    times += (times.empty() ? "" : ", ") + engine::FormatTimeOfDay(m);
  }
  return days + " at " + times;
}

std::string DescribeSample(const engine::RecoveryTestPolicy& drill) {
  if (drill.sample_percent > 0) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%g %% of the files", drill.sample_percent);
    return buf;
  }
  return std::to_string(drill.sample_files) + " files";
}

std::string Tier(int n, const char* unit) {
  return n == 0 ? std::string("off") : std::to_string(n) + " " + unit;
}

void PrintPolicy(std::ostream& out, const engine::Policy& p) {
  int64_t now = NowUnix();
  int offset = engine::LocalUtcOffsetMinutes(now);
  out << "Backup policy (" << (p.paused ? "PAUSED" : "active") << "), changed "
      << FormatLocal(p.modified, engine::LocalUtcOffsetMinutes(p.modified)) << "\n";
  for (const auto& s : p.specs) {
    out << "  " << (s.exclude ? "Exclude  " : "Include  ") << s.path
        << (s.recursive ? "" : "  (non-recursive)") << "\n";
  }
  out << "  Schedule " << DescribeSchedule(p.schedule) << " (local time)\n";
  std::optional<int64_t> next = engine::NextRun(p.schedule, now, offset);
  if (p.paused) {
    out << "  Next run none while paused ('obctl policy resume')\n";
  } else if (next) {
    out << "  Next run " << FormatLocal(*next, offset) << "\n";
  }
  out << "  Retention daily " << p.daily_days << " days, weekly " << Tier(p.weekly_weeks, "weeks")
      << ", monthly " << Tier(p.monthly_months, "months") << ", yearly "
      << Tier(p.yearly_years, "years") << "\n";
  if (!p.recovery_test) {
    out << "  Recovery test off ('obctl policy set-recovery-test')\n";
    return;
  }
  out << "  Recovery test " << DescribeSchedule(p.recovery_test->schedule) << ", "
      << DescribeSample(*p.recovery_test) << " of the latest recovery point\n";
  std::optional<int64_t> drill = engine::NextRun(p.recovery_test->schedule, now, offset);
  if (drill && !p.paused) out << "  Next recovery test " << FormatLocal(*drill, offset) << "\n";
}

// The drill's options, in 'policy new' (prefixed) and 'policy
// set-recovery-test'.
struct DrillOptions {
  std::string days;
  std::string times;
  std::optional<int> sample;
  std::optional<double> percent;
  bool given() const { return !days.empty() || !times.empty() || sample || percent; }
};

Result<engine::RecoveryTestPolicy> ParseDrill(const DrillOptions& o, const std::string& prefix) {
  if (o.days.empty() || o.times.empty()) {
    return InvalidArgument("a recovery test needs --" + prefix + "days and --" + prefix +
                           (prefix.empty() ? "times" : "time"));
  }
  if (o.sample && o.percent) {
    return InvalidArgument("give --" + prefix + "sample or --" + prefix + "percent, not both");
  }
  engine::RecoveryTestPolicy drill;
  auto schedule = ParseSchedule(o.days, o.times);
  if (!schedule.ok()) return schedule.status().WithContext("recovery test");
  drill.schedule = *schedule;
  if (o.sample) {
    if (*o.sample < 1) return InvalidArgument("the recovery test sample must be at least 1 file");
    drill.sample_files = static_cast<uint64_t>(*o.sample);
  }
  if (o.percent) {
    if (!(*o.percent > 0 && *o.percent <= 100)) {
      return InvalidArgument("the recovery test percentage must be above 0 and at most 100");
    }
    drill.sample_percent = *o.percent;
  }
  OB_RETURN_IF_ERROR(engine::ValidateRecoveryTest(drill));
  return drill;
}

// Saves with a new modification time and reports the result.
int SaveAndReport(Ctx& c, engine::Policy p, const std::string& what) {
  p.modified = NowUnix();
  Status st = engine::SavePolicy(*c.env, c.state_dir, p);
  if (!st.ok()) return Fail(c, st);
  c.out->Result({{"ok", true}, {"policy", PolicyJson(p)}}, [&](std::ostream& o, std::ostream&) {
    o << what << "\n";
    PrintPolicy(o, p);
  });
  return kPolicyOk;
}

struct ScheduleOptions {
  std::string days;
  std::string times;
};

void AddScheduleOptions(OptionSet& options, ScheduleOptions& schedule) {
  options.Add("days", &schedule.days, "days of the week: Mon,Wed (Sun..Sat, or all)").Required();
  options.Add("times", &schedule.times, "one to three times of day, HH:MM local: 21:30,03:00")
      .Required();
}

int New(Ctx& c, const std::vector<std::string>& args) {
  engine::Policy p;
  ScheduleOptions schedule_text;
  std::vector<std::string> includes, excludes, non_recursive;
  bool replace = false;
  OptionSet options("policy new");
  AddScheduleOptions(options, schedule_text);
  options.Add("include", &includes,
              "absolute paths to back up; wildcards ('*', '?') only in the last component "
              "(/data/*.log)");
  options.Add("exclude", &excludes, "absolute paths not to back up (wildcards as --include)");
  options.Add("non-recursive", &non_recursive,
              "marks a path given with --include/--exclude as without its subfolders, or "
              "includes it so");
  options.Add("daily", &p.daily_days, "days of daily recovery points (7..9999)").Required();
  options.Add("weekly", &p.weekly_weeks, "weeks of weekly points (0 = off)");
  options.Add("monthly", &p.monthly_months, "months of monthly points (0 = off)");
  options.Add("yearly", &p.yearly_years, "years of yearly points (0 = off)");
  options.Add("replace", &replace, "replace an existing policy");
  std::string pin;
  options.Add("pin", &pin, "the vault's Security PIN, when --replace reduces the retention");
  DrillOptions drill;
  options.Add("recovery-test-days", &drill.days, "days of the restore drill: Sun (or all)");
  options.Add("recovery-test-time", &drill.times, "its times of day: 03:00");
  options.Add("recovery-test-sample", &drill.sample, "files it restores (default 100)");
  options.Add("recovery-test-percent", &drill.percent, "or this share of the files, in percent");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  if (drill.given()) {
    auto parsed = ParseDrill(drill, "recovery-test-");
    if (!parsed.ok()) return Fail(c, parsed.status());
    p.recovery_test = *parsed;
  }
  for (const auto& path : includes) p.specs.push_back({CleanPath(path), false, true});
  for (const auto& path : excludes) p.specs.push_back({CleanPath(path), true, true});
  for (const auto& raw : non_recursive) {
    std::string path = CleanPath(raw);
    bool marked = false;
    for (auto& s : p.specs) {
      if (s.path == path) s.recursive = false, marked = true;
    }
    if (!marked) p.specs.push_back({path, false, false});
  }
  auto schedule = ParseSchedule(schedule_text.days, schedule_text.times);
  if (!schedule.ok()) return Fail(c, schedule.status());
  p.schedule = *schedule;
  Status valid = engine::ValidatePolicy(p);
  if (!valid.ok()) return Fail(c, valid);
  if (!replace && c.env->Exists(engine::PolicyPath(c.state_dir))) {
    return Fail(c, Status(ErrorCode::kAlreadyExists,
                          "a backup policy already exists: change it with the other 'obctl "
                          "policy' commands, or give --replace"));
  }
  // vaultd learns the retention before the policy is saved, and may refuse it.
  Status registered = engine::RegisterRetention(*c.env, c.state_dir, p.Retention(), pin);
  if (!registered.ok()) return Fail(c, registered);
  return SaveAndReport(c, p, "Backup policy saved.");
}

int Show(Ctx& c, const std::vector<std::string>& args) {
  OptionSet options("policy show");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  c.out->Result({{"ok", true}, {"policy", PolicyJson(*p)}},
                [&](std::ostream& o, std::ostream&) { PrintPolicy(o, *p); });
  return kPolicyOk;
}

int AddFileSpec(Ctx& c, const std::vector<std::string>& args) {
  std::vector<std::string> includes, excludes;
  bool non_recursive = false;
  OptionSet options("policy add-filespec");
  options.Add("include", &includes, "paths to back up");
  options.Add("exclude", &excludes, "paths not to back up");
  options.Add("non-recursive", &non_recursive, "without subfolders");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  if (includes.empty() && excludes.empty()) {
    return UsageError(options, "give --include or --exclude PATH");
  }
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  for (const auto& path : includes) p->specs.push_back({CleanPath(path), false, !non_recursive});
  for (const auto& path : excludes) p->specs.push_back({CleanPath(path), true, !non_recursive});
  return SaveAndReport(c, *p, "File specs added.");
}

int RemoveFileSpec(Ctx& c, const std::vector<std::string>& args) {
  std::vector<std::string> paths;
  OptionSet options("policy remove-filespec");
  options.Add("path", &paths, "spec paths").Required().Positional();
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  for (const auto& raw : paths) {
    std::string path = CleanPath(raw);
    auto it = std::find_if(p->specs.begin(), p->specs.end(),
                           [&](const engine::FileSpec& s) { return s.path == path; });
    if (it == p->specs.end()) {
      return Fail(c, NotFound("file spec '" + path + "' is not in the policy"));
    }
    p->specs.erase(it);
  }
  return SaveAndReport(c, *p, "File specs removed.");
}

int SetSchedule(Ctx& c, const std::vector<std::string>& args) {
  ScheduleOptions schedule_text;
  OptionSet options("policy set-schedule");
  AddScheduleOptions(options, schedule_text);
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  auto schedule = ParseSchedule(schedule_text.days, schedule_text.times);
  if (!schedule.ok()) return Fail(c, schedule.status());
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  p->schedule = *schedule;
  return SaveAndReport(c, *p, "Schedule changed.");
}

int SetRetention(Ctx& c, const std::vector<std::string>& args) {
  std::optional<int> daily, weekly, monthly, yearly;
  OptionSet options("policy set-retention");
  options.Add("daily", &daily, "days of daily recovery points (7..9999)");
  options.Add("weekly", &weekly, "weeks of weekly points (0 = off)");
  options.Add("monthly", &monthly, "months of monthly points (0 = off)");
  options.Add("yearly", &yearly, "years of yearly points (0 = off)");
  std::string pin;
  options.Add("pin", &pin, "the vault's Security PIN (vaultd: needed to reduce the retention)");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  if (!daily && !weekly && !monthly && !yearly) {
    return UsageError(options, "give at least one of --daily, --weekly, --monthly, --yearly");
  }
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  p->daily_days = daily.value_or(p->daily_days);
  p->weekly_weeks = weekly.value_or(p->weekly_weeks);
  p->monthly_months = monthly.value_or(p->monthly_months);
  p->yearly_years = yearly.value_or(p->yearly_years);
  Status valid = p->Retention().Validate();
  if (!valid.ok()) return Fail(c, valid);
  // vaultd first: a reduction without the PIN is refused and nothing changes.
  Status registered = engine::RegisterRetention(*c.env, c.state_dir, p->Retention(), pin);
  if (!registered.ok()) return Fail(c, registered);
  return SaveAndReport(c, *p, "Retention changed.");
}

int SetRecoveryTest(Ctx& c, const std::vector<std::string>& args) {
  DrillOptions drill;
  bool off = false;
  OptionSet options("policy set-recovery-test");
  options.Add("days", &drill.days, "days of the week: Sun (or all)");
  options.Add("times", &drill.times, "one to three times of day: 03:00");
  options.Add("sample", &drill.sample, "files the drill restores (default 100)");
  options.Add("percent", &drill.percent, "or this share of the files, in percent");
  options.Add("off", &off, "no scheduled drill");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  if (off && drill.given()) return UsageError(options, "--off takes no other option");
  std::optional<engine::RecoveryTestPolicy> next;
  if (!off) {
    auto parsed = ParseDrill(drill, "");
    if (!parsed.ok()) return Fail(c, parsed.status());
    next = *parsed;
  }
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  p->recovery_test = next;
  return SaveAndReport(c, *p, off ? "Recovery test unscheduled." : "Recovery test scheduled.");
}

int SetPaused(Ctx& c, const std::vector<std::string>& args, bool paused) {
  OptionSet options(paused ? "policy pause" : "policy resume");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  p->paused = paused;
  return SaveAndReport(c, *p, paused ? "Scheduled backups paused." : "Scheduled backups resumed.");
}

int Remove(Ctx& c, const std::vector<std::string>& args) {
  bool delete_data = false;
  std::string pin;
  OptionSet options("policy remove");
  options.Add("delete-data", &delete_data,
              "stop protection and delete data: vaultd soft-deletes every recovery point of "
              "this machine (needs --pin)");
  options.Add("pin", &pin, "the vault's Security PIN (obctl vault security-pin)");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  Status st = engine::StopProtection(*c.env, c.state_dir, delete_data, pin);
  if (!st.ok()) return Fail(c, st);
  c.out->Result({{"ok", true}}, [&](std::ostream& o, std::ostream&) {
    o << "Backup policy removed; no backup is scheduled any more.\n";
    if (delete_data) {
      o << "The vault soft-deleted this machine's data: its administrator can undelete it "
           "until soft delete purges it.\n";
    }
  });
  return kPolicyOk;
}

// The obctl the OS scheduler starts: this one.
std::string DefaultCommand() {
  std::string self = platform::Env::Default().ExecutablePath();
  return self.empty() ? std::string("/usr/bin/obctl") : self;
}

int ScheduleFiles(Ctx& c, const std::vector<std::string>& args) {
  std::string out, command = DefaultCommand();
  OptionSet options("policy schedule-files");
  options
      .Add("out", &out,
           "folder to write the Task Scheduler task (obagent-OnlineBackup.xml, UTF-16) and "
           "the systemd units to")
      .Required();
  options.Add("command", &command, "the obctl the scheduler starts");
  if (auto exit = ParseOptions(*c.g, options, args)) return *exit;
  auto p = engine::LoadPolicy(*c.env, c.state_dir);
  if (!p.ok()) return Fail(c, p.status());
  auto date = engine::TaskStartDate(p->modified, engine::LocalUtcOffsetMinutes(p->modified));
  platform::OsScheduleDefinition d =
      engine::ScheduleDefinition(p->schedule, command, c.state_dir,
                                 engine::ScheduledRunWritablePaths(*c.env, c.state_dir), date);
  auto utf16 = engine::Utf16LeWithBom(d.task_xml);
  if (!utf16.ok()) return Fail(c, utf16.status().WithContext("the task definition"));

  Status st = c.env->CreateDirs(out, false);
  if (!st.ok()) return Fail(c, st);
  std::vector<std::string> written;
  auto write = [&](const std::string& name, ByteView data) {
    std::string path = out + "/" + name;
    Status w = c.env->WriteFileAtomic(path, data, false);
    if (w.ok()) written.push_back(path);
    return w;
  };
  st = write(engine::kTaskFileName, *utf16);
  if (st.ok()) st = write(d.systemd_timer_name, AsBytes(d.systemd_timer));
  if (st.ok()) st = write(d.systemd_service_name, AsBytes(d.systemd_service));
  if (!st.ok()) return Fail(c, st);
  c.out->Result({{"ok", true}, {"written", written}, {"task_name", engine::kTaskName}},
                [&](std::ostream& o, std::ostream&) {
                  for (const auto& f : written) o << "Wrote " << f << "\n";
                  o << "Windows: schtasks /Create /TN \"" << engine::kTaskName << "\" /XML \""
                    << engine::kTaskFileName << "\" /F\n"
                    << "Linux:   install both units in /etc/systemd/system, then systemctl "
                       "daemon-reload && systemctl enable --now "
                    << engine::kSystemdTimerName << "\n";
                });
  return kPolicyOk;
}

}  // namespace

Handler PolicyCommand(std::string_view sub) {
  using Body = int (*)(Ctx&, const std::vector<std::string>&);
  static const std::map<std::string, Body, std::less<>> kSubcommands = {
      {"new", New},
      {"show", Show},
      {"add-filespec", AddFileSpec},
      {"remove-filespec", RemoveFileSpec},
      {"set-schedule", SetSchedule},
      {"set-retention", SetRetention},
      {"set-recovery-test", SetRecoveryTest},
      {"pause", [](Ctx& x, const std::vector<std::string>& a) { return SetPaused(x, a, true); }},
      {"resume", [](Ctx& x, const std::vector<std::string>& a) { return SetPaused(x, a, false); }},
      {"remove", Remove},
      {"schedule-files", ScheduleFiles},
  };
  auto it = kSubcommands.find(sub);
  if (it == kSubcommands.end()) return nullptr;
  return [body = it->second](Globals& g, const std::vector<std::string>& args) {
    Ctx c;
    c.state_dir = g.state_dir;
    c.out = g.out.get();
    c.env = g.env;
    c.g = &g;
    return body(c, args);
  };
}

}  // namespace obagent::cli
