// The engine log (<state dir>/logs/cbengine.log, rotating) with the message
// IDs of the milestones users and monitoring look for, as MARS's CBEngine
// log has them.
#pragma once

#include <string>

namespace obagent::engine {

enum class Milestone : int {
  kBackupStarted = 5030,
  kBackupCompleted = 5035,
  kBackupCompletedWithWarnings = 5036,
  kBackupFailed = 5037,
  kAfterBackupScriptStarted = 5040,
  kAfterBackupScriptFinished = 5041,
  kRecoveryStarted = 5050,
  kRecoveryCompleted = 5055,
  kRecoveryFailed = 5057,
  // The restore drill (recovery_test.h).
  kRecoveryTestStarted = 5060,
  kRecoveryTestCompleted = 5065,
  kRecoveryTestCompletedWithWarnings = 5066,
  kRecoveryTestFailed = 5067,
};

// Opens the log once per process; later calls do nothing. Logging before
// (or without) it goes nowhere.
// With also_stderr (cbengine in the foreground, under systemd's journal)
// every line goes to stderr as well.
void OpenEngineLog(const std::string& state_dir, bool also_stderr = false);
// "[5035] Backup completed: …"
void LogMilestone(Milestone id, const std::string& text);
// Engine events without a message ID (service start/stop, scheduling,
// settings in force such as the throttle rate).
void LogEngineEvent(const std::string& text, bool error = false);

}  // namespace obagent::engine
