// The artifacts that register a backup schedule with the operating system's
// scheduler. Pure generators: nothing here talks to the OS; the installers
// and the platform layer register what these produce.
//
// Windows: a Task Scheduler 2.0 task registered as "\obagent\OnlineBackup"
// (the name is given at registration — ITaskFolder::RegisterTask or
// `schtasks /Create /TN "\obagent\OnlineBackup" /XML FILE` — never in the
// XML). One CalendarTrigger (ScheduleByWeek) per time of day;
// StartWhenAvailable runs a start missed while the machine was off as soon
// as it can; RunOnlyIfNetworkAvailable; LocalSystem (S-1-5-18) with
// HighestAvailable; at most one instance (IgnoreNew); a 72-hour limit.
//
// Encoding: TaskSchedulerXml returns UTF-8 text whose declaration names no
// encoding (`<?xml version="1.0"?>`). Without a declared encoding an XML
// parser takes UTF-8, or UTF-16 when the bytes start with a UTF-16 BOM, so
// the same text is correct both as a UTF-8 string (handed to
// RegisterTask as a BSTR, or parsed in tests) and converted by
// Utf16LeWithBom into the UTF-16 file `schtasks /XML` expects. A declared
// encoding="UTF-8" would be wrong in the UTF-16 file (MSXML refuses the
// mismatch), and "UTF-16" wrong in the UTF-8 string.
//
// Linux: obagent-backup.timer (one OnCalendar= per time of day, local time,
// Persistent=true so a run missed while the machine was off fires at boot)
// activating obagent-backup.service (Type=oneshot, hardened).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/engine/policy.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

constexpr char kTaskFolder[] = "\\obagent";
constexpr char kTaskName[] = "\\obagent\\OnlineBackup";
constexpr char kTaskFileName[] = "obagent-OnlineBackup.xml";
constexpr char kSystemdTimerName[] = "obagent-backup.timer";
constexpr char kSystemdServiceName[] = "obagent-backup.service";

// The task definition for a valid schedule. `command` is the program,
// `arguments` its command line (see WindowsQuoteArgument); `start_date`
// (YYYY-MM-DD, local) is the first day the triggers may fire.
std::string TaskSchedulerXml(const Schedule& schedule, const std::string& command,
                             const std::string& arguments,
                             const std::string& start_date = "2024-01-01");

// The task's start date (YYYY-MM-DD) for a policy changed at
// `modified_unix`: the local date there, `offset_minutes` east of UTC
// (LocalUtcOffsetMinutes(modified_unix)). The Task Scheduler reads a
// StartBoundary without a zone as local time, so the UTC date would make
// a change made in the evening west of UTC (or in the morning east of it)
// start a day off.
std::string TaskStartDate(int64_t modified_unix, int offset_minutes);

// One argument quoted for a Windows command line (CommandLineToArgvW rules).
std::string WindowsQuoteArgument(std::string_view arg);

// UTF-8 -> UTF-16LE with a byte-order mark; kInvalidArgument on malformed
// UTF-8.
Result<Bytes> Utf16LeWithBom(std::string_view utf8);

// "Mon,Wed *-*-* 21:30:00" for each time of day of a valid schedule.
std::vector<std::string> SystemdOnCalendar(const Schedule& schedule);
std::string SystemdTimerUnit(const Schedule& schedule);
// `argv` is the command and its arguments (argv[0] an absolute path);
// `read_write_paths` the folders the run writes (state, scratch), every other
// place is read-only to it.
std::string SystemdServiceUnit(const std::vector<std::string>& argv,
                               const std::vector<std::string>& read_write_paths);

// Everything the OS schedulers need for the policy's schedule: the scheduled
// run is "<obctl> --state-dir <state> backup scheduled", which hands the job
// to the engine (or runs it itself when the engine is not running).
// `read_write_paths` as for SystemdServiceUnit; `start_date` as for
// TaskSchedulerXml.
platform::OsScheduleDefinition ScheduleDefinition(const Schedule& schedule,
                                                  const std::string& obctl,
                                                  const std::string& state_dir,
                                                  const std::vector<std::string>& read_write_paths,
                                                  const std::string& start_date);

// The folders a scheduled run writes: the state folder and, from the
// registration in agent.json, the scratch folder and an embedded vault.
std::vector<std::string> ScheduledRunWritablePaths(platform::Env& env,
                                                   const std::string& state_dir);

}  // namespace obagent::engine
