// The backup policy of this machine, as the MARS agent has it (New-OBPolicy,
// New-OBFileSpec, New-OBSchedule, New-OBRetentionPolicy, Set-OBPolicyState):
// what to back up, when, how long to keep it, and whether it is paused.
// Stored in <state dir>/policy.json (owner only, versioned).
//
// File specs. A spec path is absolute ("/data", "C:/data" on Windows; '/'
// separators, no "." or ".." components, no trailing '/'). Its last
// component may hold the wildcards '*' and '?' (as Windows file specs do;
// '[' is literal): "/data/*.log".
//   include /data            the folder and everything below it;
//   include /data, non-rec.  the files directly in /data; its subfolders are
//                            kept as empty folders;
//   include /data/*.log      the files matching *.log in /data and, when
//                            recursive, in every folder below (a wildcard
//                            selects files, not folders);
//   exclude /data/tmp        that file or folder and everything below it;
//   exclude /data/tmp, non-rec.  the files directly in /data/tmp (a file
//                            path: the file);
//   exclude /data/*.tmp      entries matching *.tmp in /data and, when
//                            recursive, in every folder below (an exclusion
//                            wildcard also matches folders).
// Every exclude lies under an include. A plain include never lies under (or
// at the folder of) another plain include: nesting would be redundant or
// contradictory. A plain include inside a recursive wildcard include's
// folder is walked by its own rules there.
//
// Schedule: the days of the week and one to three times of day, local time.
//
// Restore drill (optional): its own schedule and sample size; the engine
// runs a RecoveryTest job (recovery_test.h) on the latest recovery point at
// those times, unless the policy is paused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/engine/retention.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

constexpr int kPolicyVersion = 1;
constexpr size_t kMaxTimesPerDay = 3;
constexpr char kPolicyFileName[] = "policy.json";

struct FileSpec {
  std::string path;
  bool exclude = false;
  bool recursive = true;

  bool operator==(const FileSpec&) const = default;
};

struct Schedule {
  std::vector<int> days;            // 0 = Sunday .. 6 = Saturday
  std::vector<int> minutes_of_day;  // 0 .. 1439, one to three of them

  bool operator==(const Schedule&) const = default;
};

// The policy's restore drill: when, and how many files it restores.
struct RecoveryTestPolicy {
  Schedule schedule;
  uint64_t sample_files = 100;  // used when sample_percent is 0
  double sample_percent = 0;    // (0, 100]: this share of the point's files

  bool operator==(const RecoveryTestPolicy&) const = default;
};

struct Policy {
  int version = kPolicyVersion;
  std::vector<FileSpec> specs;
  Schedule schedule;
  // The retention, as RetentionPolicy (retention.h) validates it.
  int daily_days = 7;
  int weekly_weeks = 0;
  int monthly_months = 0;
  int yearly_years = 0;
  bool paused = false;
  int64_t modified = 0;                             // Unix seconds of the last change
  std::optional<RecoveryTestPolicy> recovery_test;  // no scheduled drill when empty

  RetentionPolicy Retention() const {
    return {daily_days, weekly_weeks, monthly_months, yearly_years};
  }
  void SetRetention(const RetentionPolicy& r) {
    daily_days = r.daily_days;
    weekly_weeks = r.weekly_weeks;
    monthly_months = r.monthly_months;
    yearly_years = r.yearly_years;
  }
  bool operator==(const Policy&) const = default;
};

// kInvalidArgument naming the offending value.
Status ValidateSpecs(const std::vector<FileSpec>& specs);
Status ValidateSchedule(const Schedule& schedule);
Status ValidateRecoveryTest(const RecoveryTestPolicy& drill);
Status ValidatePolicy(const Policy& policy);

// "Sun".."Sat"; "HH:MM".
std::string_view DayName(int day);
std::string FormatTimeOfDay(int minutes);
// "Mon", "monday", "MON" -> 1; kInvalidArgument otherwise.
Result<int> ParseDay(std::string_view text);
// "21:30", "3:00" -> minutes; kInvalidArgument otherwise.
Result<int> ParseTimeOfDay(std::string_view text);

// JSON text of the policy; parsing refuses other versions
// (kUnsupportedVersion) and malformed or invalid policies (kCorrupt).
std::string SerializePolicy(const Policy& policy);
Result<Policy> ParsePolicy(std::string_view text);

std::string PolicyPath(const std::string& state_dir);
// kNotFound when no policy is configured.
Result<Policy> LoadPolicy(platform::Env& env, const std::string& state_dir);
// Validates, then writes atomically, readable by the owner only.
Status SavePolicy(platform::Env& env, const std::string& state_dir, const Policy& policy);
// kNotFound when no policy is configured.
Status RemovePolicy(platform::Env& env, const std::string& state_dir);

// The local offset from UTC in force at `t` (Unix seconds), in minutes east
// (thread-safe).
int LocalUtcOffsetMinutes(int64_t t);

// The first scheduled time strictly after now_unix (Unix seconds). Schedule
// times are wall-clock times at utc_offset_minutes east of UTC (a fixed
// offset: pass the one in force). nullopt for a schedule without a day or a
// time.
std::optional<int64_t> NextRun(const Schedule& schedule, int64_t now_unix,
                               int utc_offset_minutes = 0);
// Whether a scheduled time lies in (last_run_unix, now_unix]: a run was missed
// (machine off, engine stopped) and should run now. With no run yet, pass
// the policy's `modified` time as last_run_unix.
bool MissedRun(const Schedule& schedule, int64_t last_run_unix, int64_t now_unix,
               int utc_offset_minutes = 0);

// What a backup job is given (BackupOptions::includes / excludes).
struct BackupSelection {
  std::vector<std::string> includes;  // paths
  std::vector<std::string> excludes;  // globs, see src/engine/glob.h
};

// Turns valid specs into the selection of a job at the time of the job:
// wildcard includes are expanded (the files matching now, excluded folders
// not entered, symlinks not followed) and non-recursive folder excludes
// listed. A missing plain include is passed on (the job reports it); a
// missing folder of a wildcard or exclude selects nothing.
Result<BackupSelection> ResolveSelection(platform::Env& env, const std::vector<FileSpec>& specs);

}  // namespace obagent::engine
