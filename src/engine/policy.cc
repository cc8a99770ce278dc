#include "obagent/engine/policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/glob.h"
#include "engine/paths.h"

namespace obagent::engine {

namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 7> kDayNames = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 7> kLongDayNames = {
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// "/" or "C:/": the root a path starts with, or "" if it is not absolute.
std::string_view RootOf(std::string_view path) {
  if (!path.empty() && path[0] == '/') return path.substr(0, 1);
  if (path.size() >= 3 && std::isalpha(static_cast<unsigned char>(path[0])) && path[1] == ':' &&
      path[2] == '/') {
    return path.substr(0, 3);
  }
  return {};
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

// The folder a path lies in ("/data/x" -> "/data", "/x" -> "/").
std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string_view root = RootOf(path);
  if (slash == std::string::npos || slash + 1 <= root.size()) return std::string(root);
  return path.substr(0, slash);
}

std::string LastComponent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Whether `path` lies strictly below `folder`.
bool IsUnder(const std::string& path, const std::string& folder) {
  std::string prefix = folder.ends_with('/') ? folder : folder + "/";
  return path.size() > prefix.size() && path.starts_with(prefix);
}

bool IsAtOrUnder(const std::string& path, const std::string& folder) {
  return path == folder || IsUnder(path, folder);
}

// For a wildcard spec its folder, else the path itself.
std::string BaseOf(const FileSpec& spec) {
  return HasWildcard(spec.path) ? ParentOf(spec.path) : spec.path;
}

// Spec paths take '[' literally; the glob language does not.
std::string EscapeGlob(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '[') {
      out += "[[]";
    } else {
      out += c;
    }
  }
  return out;
}

Status CheckPath(const std::string& path) {
  if (path.empty()) return InvalidArgument("a file spec path is empty");
  if (path.size() >= 3 && path[1] == ':' && path[2] == '\\') {
    return InvalidArgument("file spec " + Quote(path) + " must use '/' separators ('C:/data')");
  }
  std::string_view root = RootOf(path);
  if (root.empty()) {
    return InvalidArgument("file spec " + Quote(path) +
                           " is not an absolute path (it must start with '/' or a drive "
                           "letter such as 'C:/')");
  }
  if (root.size() == 3 && path.find('\\') != std::string::npos) {
    return InvalidArgument("file spec " + Quote(path) + " must use '/' separators ('C:/data')");
  }
  if (path.size() == root.size()) return Status::Ok();
  std::string_view rest = std::string_view(path).substr(root.size());
  size_t i = 0;
  while (i <= rest.size()) {
    size_t j = rest.find('/', i);
    if (j == std::string_view::npos) j = rest.size();
    std::string_view part = rest.substr(i, j - i);
    bool last = j == rest.size();
    if (part.empty()) {
      return InvalidArgument("file spec " + Quote(path) +
                             (last ? " ends with '/'" : " has an empty component ('//')"));
    }
    if (part == "." || part == "..") {
      return InvalidArgument("file spec " + Quote(path) + " has a " + Quote(part) +
                             " component: give the path without '.' and '..'");
    }
    if (!last && HasWildcard(part)) {
      return InvalidArgument("file spec " + Quote(path) + ": wildcards ('*', '?') are allowed " +
                             "only in the last component, not in " + Quote(part));
    }
    i = j + 1;
  }
  return Status::Ok();
}

std::string SpecKind(const FileSpec& spec) {
  std::string kind = spec.exclude ? "exclude" : "include";
  if (!spec.recursive) kind = "non-recursive " + kind;
  return kind;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string_view DayName(int day) {
  if (day < 0 || day > 6) return "?";
  return kDayNames[static_cast<size_t>(day)];
}

std::string FormatTimeOfDay(int minutes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d", minutes / 60, minutes % 60);
  return buf;
}

Result<int> ParseDay(std::string_view text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t i = 0; i < kDayNames.size(); ++i) {
    if (lower == kLongDayNames[i] || lower == kLongDayNames[i].substr(0, 3)) {
      return static_cast<int>(i);
    }
  }
  return InvalidArgument(Quote(text) +
                         " is not a day of the week (Sun, Mon, Tue, Wed, Thu, Fri, Sat)");
}

Result<int> ParseTimeOfDay(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument(Quote(text) + " is not a time of day (HH:MM, 00:00 to 23:59)");
  };
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() - colon != 3) {
    return bad();
  }
  int value[2] = {0, 0};
  std::string_view parts[2] = {text.substr(0, colon), text.substr(colon + 1)};
  for (int k = 0; k < 2; ++k) {
    for (char c : parts[k]) {
      if (c < '0' || c > '9') return bad();
      value[k] = value[k] * 10 + (c - '0');
    }
  }
  if (value[0] > 23 || value[1] > 59) return bad();
  return value[0] * 60 + value[1];
}

Status ValidateSpecs(const std::vector<FileSpec>& specs) {
  bool any_include = false;
  std::set<std::string> seen;
  for (const FileSpec& spec : specs) {
    OB_RETURN_IF_ERROR(CheckPath(spec.path));
    if (!seen.insert(spec.path).second) {
      return InvalidArgument("file spec " + Quote(spec.path) + " is given twice");
    }
    if (!spec.exclude) any_include = true;
  }
  if (!any_include) {
    return InvalidArgument("the policy includes nothing: give at least one path to include");
  }
  for (const FileSpec& spec : specs) {
    if (spec.exclude) continue;
    std::string base = BaseOf(spec);
    bool wildcard = HasWildcard(spec.path);
    for (const FileSpec& other : specs) {
      if (other.exclude || &other == &spec || HasWildcard(other.path)) continue;
      // `other` is a plain include: nothing else may be inside it.
      if (wildcard ? IsAtOrUnder(base, other.path) : IsUnder(spec.path, other.path)) {
        return InvalidArgument("include " + Quote(spec.path) + " lies inside the " +
                               SpecKind(other) + " " + Quote(other.path) +
                               ": remove one of them, or use an exclude");
      }
    }
  }
  for (const FileSpec& spec : specs) {
    if (!spec.exclude) continue;
    bool wildcard = HasWildcard(spec.path);
    std::string base = BaseOf(spec);
    bool covered = false;
    for (const FileSpec& inc : specs) {
      if (inc.exclude) continue;
      std::string inc_base = BaseOf(inc);
      if (wildcard ? IsAtOrUnder(base, inc_base) : IsUnder(spec.path, inc_base)) covered = true;
    }
    if (!covered) {
      return InvalidArgument("exclude " + Quote(spec.path) +
                             " lies under no included folder: an exclude can only narrow an "
                             "include");
    }
  }
  return Status::Ok();
}

Status ValidateSchedule(const Schedule& schedule) {
  if (schedule.days.empty()) {
    return InvalidArgument("the schedule has no day: give at least one day of the week");
  }
  std::set<int> days;
  for (int d : schedule.days) {
    if (d < 0 || d > 6) {
      return InvalidArgument("day " + std::to_string(d) +
                             " is not a day of the week (0 = Sunday .. 6 = Saturday)");
    }
    if (!days.insert(d).second) {
      return InvalidArgument("day " + std::string(DayName(d)) + " is given twice");
    }
  }
  if (schedule.minutes_of_day.empty()) {
    return InvalidArgument("the schedule has no time of day: give one to three times (HH:MM)");
  }
  if (schedule.minutes_of_day.size() > kMaxTimesPerDay) {
    std::string list;
    for (int m : schedule.minutes_of_day) {
      list += (list.empty() ? "" : ", ") +
              (m >= 0 && m < 1440 ? FormatTimeOfDay(m) : std::to_string(m));
    }
    return InvalidArgument("the schedule has " + std::to_string(schedule.minutes_of_day.size()) +
                           " times of day (" + list + "); at most " +
                           std::to_string(kMaxTimesPerDay) + " are allowed");
  }
  std::set<int> times;
  for (int m : schedule.minutes_of_day) {
    if (m < 0 || m >= 1440) {
      return InvalidArgument("time of day " + std::to_string(m) +
                             " (minutes after midnight) is out of range 0..1439 (00:00..23:59)");
    }
    if (!times.insert(m).second) {
      return InvalidArgument("time " + FormatTimeOfDay(m) + " is given twice");
    }
  }
  return Status::Ok();
}

Status ValidateRecoveryTest(const RecoveryTestPolicy& drill) {
  Status st = ValidateSchedule(drill.schedule);
  if (!st.ok()) return InvalidArgument("recovery test: " + st.detail());
  if (drill.sample_percent != 0) {
    if (!(drill.sample_percent > 0 && drill.sample_percent <= 100)) {
      return InvalidArgument(
          "recovery test: the sample percentage must be above 0 and at most 100");
    }
  } else if (drill.sample_files == 0) {
    return InvalidArgument("recovery test: the sample must hold at least one file");
  }
  return Status::Ok();
}

Status ValidatePolicy(const Policy& policy) {
  if (policy.version != kPolicyVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "policy version " + std::to_string(policy.version) +
                      " is not supported by this build (it knows version " +
                      std::to_string(kPolicyVersion) + ")");
  }
  OB_RETURN_IF_ERROR(ValidateSpecs(policy.specs));
  OB_RETURN_IF_ERROR(ValidateSchedule(policy.schedule));
  if (policy.recovery_test) OB_RETURN_IF_ERROR(ValidateRecoveryTest(*policy.recovery_test));
  return policy.Retention().Validate();
}

namespace {

json ScheduleJson(const Schedule& schedule) {
  json days = json::array();
  for (int d : schedule.days) days.push_back(std::string(DayName(d)));
  json times = json::array();
  for (int m : schedule.minutes_of_day) times.push_back(FormatTimeOfDay(m));
  return {{"days", days}, {"times", times}};
}

Result<Schedule> ScheduleFromJson(const json& j) {
  Schedule s;
  for (const json& d : j.at("days")) {
    OB_ASSIGN_OR_RETURN(int day, ParseDay(d.get<std::string>()));
    s.days.push_back(day);
  }
  for (const json& t : j.at("times")) {
    OB_ASSIGN_OR_RETURN(int minutes, ParseTimeOfDay(t.get<std::string>()));
    s.minutes_of_day.push_back(minutes);
  }
  return s;
}

}  // namespace

std::string SerializePolicy(const Policy& policy) {
  json specs = json::array();
  for (const FileSpec& s : policy.specs) {
    specs.push_back({{"path", s.path}, {"exclude", s.exclude}, {"recursive", s.recursive}});
  }
  json j = {{"version", policy.version},
            {"modified", policy.modified},
            {"paused", policy.paused},
            {"specs", specs},
            {"schedule", ScheduleJson(policy.schedule)},
            {"retention",
             {{"daily_days", policy.daily_days},
              {"weekly_weeks", policy.weekly_weeks},
              {"monthly_months", policy.monthly_months},
              {"yearly_years", policy.yearly_years}}}};
  // Absent when there is no drill, so older builds read the policy as before.
  if (policy.recovery_test) {
    json drill = ScheduleJson(policy.recovery_test->schedule);
    drill["sample_files"] = policy.recovery_test->sample_files;
    drill["sample_percent"] = policy.recovery_test->sample_percent;
    j["recovery_test"] = drill;
  }
  return j.dump(2) + "\n";
}

Result<Policy> ParsePolicy(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt("the policy is not a JSON object");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer()) {
    return Corrupt("the policy has no version number");
  }
  Policy p;
  p.version = version->get<int>();
  if (p.version != kPolicyVersion) return ValidatePolicy(p);  // kUnsupportedVersion
  try {
    p.modified = j.at("modified").get<int64_t>();
    p.paused = j.at("paused").get<bool>();
    for (const json& s : j.at("specs")) {
      p.specs.push_back({s.at("path").get<std::string>(), s.at("exclude").get<bool>(),
                         s.at("recursive").get<bool>()});
    }
    OB_ASSIGN_OR_RETURN(p.schedule, ScheduleFromJson(j.at("schedule")));
    if (auto drill = j.find("recovery_test"); drill != j.end()) {
      RecoveryTestPolicy r;
      OB_ASSIGN_OR_RETURN(r.schedule, ScheduleFromJson(*drill));
      r.sample_files = drill->at("sample_files").get<uint64_t>();
      r.sample_percent = drill->at("sample_percent").get<double>();
      p.recovery_test = r;
    }
    const json& r = j.at("retention");
    p.daily_days = r.at("daily_days").get<int>();
    p.weekly_weeks = r.at("weekly_weeks").get<int>();
    p.monthly_months = r.at("monthly_months").get<int>();
    p.yearly_years = r.at("yearly_years").get<int>();
  } catch (const json::exception& e) {
    return Corrupt(std::string("malformed policy: ") + e.what());
  }
  Status st = ValidatePolicy(p);
  if (!st.ok()) return Corrupt("the stored policy is invalid: " + st.detail());
  return p;
}

std::string PolicyPath(const std::string& state_dir) {
  return JoinPath(state_dir, kPolicyFileName);
}

Result<Policy> LoadPolicy(platform::Env& env, const std::string& state_dir) {
  std::string path = PolicyPath(state_dir);
  if (!env.Exists(path)) {
    return NotFound("no backup policy is configured (create one with 'obctl policy new')");
  }
  OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(path));
  Result<Policy> policy = ParsePolicy(AsString(data));
  if (!policy.ok()) return policy.status().WithContext(path);
  return policy;
}

Status SavePolicy(platform::Env& env, const std::string& state_dir, const Policy& policy) {
  OB_RETURN_IF_ERROR(ValidatePolicy(policy));
  OB_RETURN_IF_ERROR(env.CreateDirs(state_dir, /*owner_only=*/true));
  return env.WriteFileAtomic(PolicyPath(state_dir), AsBytes(SerializePolicy(policy)),
                             /*owner_only=*/true);
}

Status RemovePolicy(platform::Env& env, const std::string& state_dir) {
  std::string path = PolicyPath(state_dir);
  if (!env.Exists(path)) return NotFound("no backup policy is configured");
  return env.RemoveFile(path);
}

int LocalUtcOffsetMinutes(int64_t t) {
  // std::localtime shares one buffer per process: serialize (the engine's
  // scheduler and jobs run on several threads).
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm local = *std::localtime(&tt);
  std::tm utc = *std::gmtime(&tt);
  auto minutes = [](const std::tm& tm) {
    using namespace std::chrono;
    sys_days day =
        year_month_day(year(tm.tm_year + 1900), month(static_cast<unsigned>(tm.tm_mon + 1)),
                       std::chrono::day(static_cast<unsigned>(tm.tm_mday)));
    return static_cast<int64_t>(day.time_since_epoch().count()) * 1440 + tm.tm_hour * 60 +
           tm.tm_min;
  };
  return static_cast<int>(minutes(local) - minutes(utc));
}

std::optional<int64_t> NextRun(const Schedule& schedule, int64_t now_unix, int utc_offset_minutes) {
  if (schedule.days.empty() || schedule.minutes_of_day.empty()) return std::nullopt;
  const int64_t offset = int64_t{utc_offset_minutes} * 60;
  const int64_t local = now_unix + offset;
  const int64_t today = FloorDiv(local, 86400);
  std::optional<int64_t> best;
  // Within 8 days every weekday occurs after today's remaining times.
  for (int64_t day = today; day <= today + 7 && !best; ++day) {
    int weekday = static_cast<int>(((day % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
    if (std::find(schedule.days.begin(), schedule.days.end(), weekday) == schedule.days.end()) {
      continue;
    }
    for (int m : schedule.minutes_of_day) {
      if (m < 0 || m >= 1440) continue;
      int64_t t = day * 86400 + int64_t{m} * 60;
      if (t > local && (!best || t < *best)) best = t;
    }
  }
  if (!best) return std::nullopt;
  return *best - offset;
}

bool MissedRun(const Schedule& schedule, int64_t last_run_unix, int64_t now_unix,
               int utc_offset_minutes) {
  std::optional<int64_t> next = NextRun(schedule, last_run_unix, utc_offset_minutes);
  return next && *next <= now_unix;
}

Result<BackupSelection> ResolveSelection(platform::Env& env, const std::vector<FileSpec>& specs) {
  OB_RETURN_IF_ERROR(ValidateSpecs(specs));
  BackupSelection sel;
  std::set<std::string> plain_includes;
  for (const FileSpec& s : specs) {
    if (s.exclude || HasWildcard(s.path)) continue;
    sel.includes.push_back(s.path);
    plain_includes.insert(s.path);
    // "<folder>/*/**" keeps the subfolders' entries (empty) but nothing in
    // them; a file included non-recursively is not affected.
    if (!s.recursive) sel.excludes.push_back(EscapeGlob(JoinPath(s.path, "*/**")));
  }
  for (const FileSpec& s : specs) {
    if (!s.exclude) continue;
    if (HasWildcard(s.path)) {
      std::string folder = EscapeGlob(ParentOf(s.path));
      std::string name = EscapeGlob(LastComponent(s.path));
      sel.excludes.push_back(JoinPath(folder, s.recursive ? "**/" + name : name));
      continue;
    }
    if (s.recursive) {
      sel.excludes.push_back(EscapeGlob(s.path));
      continue;
    }
    Result<platform::FileInfo> info = env.Lstat(s.path);
    if (!info.ok()) {
      if (info.status().code() == ErrorCode::kNotFound) continue;
      return info.status().WithContext("excluded path " + s.path);
    }
    if (info->kind != platform::FileKind::kDirectory) {
      sel.excludes.push_back(EscapeGlob(s.path));
      continue;
    }
    OB_ASSIGN_OR_RETURN(auto entries, env.ListDir(s.path));
    for (const auto& e : entries) {
      if (e.kind != platform::FileKind::kDirectory) {
        sel.excludes.push_back(EscapeGlob(JoinPath(s.path, e.name)));
      }
    }
  }
  std::set<std::string> added;
  auto excluded = [&](const std::string& path, const std::string& name) {
    for (const auto& pattern : sel.excludes) {
      if (ExcludedBy(pattern, path, name)) return true;
    }
    return false;
  };
  for (const FileSpec& s : specs) {
    if (s.exclude || !HasWildcard(s.path)) continue;
    const std::string pattern = EscapeGlob(LastComponent(s.path));
    std::vector<std::string> folders = {ParentOf(s.path)};
    while (!folders.empty()) {
      std::string folder = std::move(folders.back());
      folders.pop_back();
      Result<std::vector<platform::DirEntry>> entries = env.ListDir(folder);
      if (!entries.ok()) {
        if (entries.status().code() == ErrorCode::kNotFound) continue;
        return entries.status().WithContext("expanding " + s.path);
      }
      std::vector<std::string> subfolders;
      for (const auto& e : *entries) {
        std::string path = JoinPath(folder, e.name);
        if (excluded(path, e.name)) continue;
        if (e.kind == platform::FileKind::kDirectory) {
          // A plain include there is walked by its own rules.
          if (s.recursive && !plain_includes.contains(path)) subfolders.push_back(path);
        } else if (GlobMatch(pattern, e.name) && added.insert(path).second &&
                   !plain_includes.contains(path)) {
          sel.includes.push_back(path);
        }
      }
      // Depth first, in name order.
      folders.insert(folders.end(), subfolders.rbegin(), subfolders.rend());
    }
  }
  return sel;
}

}  // namespace obagent::engine
