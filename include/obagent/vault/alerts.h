// vaultd's alerts (docs/vault-api.md, "Alerts"): what vaultd raises when a
// job fails or warns, a machine misses its backups, a machine deletes much of
// its data at once, a critical operation or a Security PIN is used, or a
// backup looks anomalous. AlertCenter stores every alert as one JSON record
// (written atomically, like the metadata records) under its folder:
//   <dir>/<alert id>.json
// collapses a repeated active alert of the same kind and machine into one
// record with a count, and hands each new alert to the delivery channels
// (e-mail over SMTP, a signed webhook: alert_delivery.h) on a worker thread
// with a bounded queue, retrying with backoff. Raising never waits for a
// delivery and never fails because of one; the record says per channel
// whether it was delivered.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::vault {

// The kinds vaultd raises (AlertInput::kind); others are refused.
namespace alert_kind {
inline constexpr char kJobFailed[] = "job_failed";
inline constexpr char kJobWarning[] = "job_warning";
inline constexpr char kBackupMissed[] = "backup_missed";
inline constexpr char kCriticalOperation[] = "critical_operation";
inline constexpr char kPinUsed[] = "pin_used";
inline constexpr char kMassDeletion[] = "mass_deletion";
inline constexpr char kAnomaly[] = "anomaly";
}  // namespace alert_kind
bool IsAlertKind(std::string_view kind);

// "critical", "warning" or "info".
bool IsAlertSeverity(std::string_view severity);

struct AlertInput {
  std::string kind;      // alert_kind::…
  std::string severity;  // critical, warning, info
  std::string vault_id;
  std::string machine_id;   // "" for a vault-wide alert
  std::string summary;      // one line, for the mail's subject and lists
  std::string detail_json;  // a JSON object (or ""): kept and sent as is
};

// One delivery channel's outcome for an alert.
struct AlertDelivery {
  std::string state = "pending";  // pending, delivered, failed
  int attempts = 0;
  int64_t delivered_ms = 0;
  std::string last_error;
};

struct AlertRecord {
  std::string id;  // sorts by time: "<13-digit unix ms>-<8 hex>"
  int64_t raised_ms = 0;
  int64_t last_ms = 0;  // the newest repetition
  int count = 1;        // repetitions collapsed into this record
  std::string kind, severity, vault_id, machine_id, summary;
  std::string detail_json;       // "{}" when none was given
  std::string state = "active";  // active, acknowledged
  std::string acknowledged_by;
  int64_t acknowledged_ms = 0;
  std::map<std::string, AlertDelivery> delivery;  // by channel name ("email", "webhook")
};

// The alert as the API and the channels present it (times as UTC text).
std::string AlertToJson(const AlertRecord& alert);

// A delivery channel. Deliver is called on the AlertCenter's worker thread
// only, one alert at a time; a failure is retried by the center.
class AlertChannel {
 public:
  virtual ~AlertChannel() = default;
  virtual std::string name() const = 0;
  virtual Status Deliver(const AlertRecord& alert) = 0;
};

struct AlertCenterOptions {
  size_t max_queue = 1000;         // deliveries waiting; beyond, a new one fails at once
  int max_attempts = 6;            // per channel and alert
  int64_t first_retry_ms = 2000;   // doubled after every failed attempt …
  int64_t max_retry_ms = 300000;   // … up to this
  std::function<int64_t()> clock;  // unix ms; empty: the system clock
};

// Thread-safe: Raise, List, Find and Acknowledge may be called from any
// thread (one mutex guards the records); deliveries run on one worker
// thread of the center's own, which Start begins and Stop (or the
// destructor) ends. Channels are added before Start.
class AlertCenter {
 public:
  // Creates the folder (owner only) if needed and loads every record; a
  // record that does not parse stops Open with kCorrupt naming the file.
  static Result<std::unique_ptr<AlertCenter>> Open(platform::Env& env, const std::string& dir,
                                                   AlertCenterOptions options = {});
  ~AlertCenter();
  AlertCenter(const AlertCenter&) = delete;
  AlertCenter& operator=(const AlertCenter&) = delete;

  void AddChannel(std::unique_ptr<AlertChannel> channel);
  // Starts the worker; deliveries still pending in stored records (vaultd
  // stopped before they were done) are queued again.
  void Start();
  void Stop();

  // Stores the alert, or, when an active alert of the same kind, vault and
  // machine exists, counts it there (count, last_ms, summary and detail of
  // the newest; no new delivery). A new record is queued for every channel.
  // kInvalidArgument for an unknown kind or severity or a detail that is
  // not a JSON object; a failed write is returned and changes nothing.
  Result<AlertRecord> Raise(const AlertInput& input);

  // A vault's alerts, newest first; only the active ones when active_only.
  std::vector<AlertRecord> List(std::string_view vault_id, bool active_only) const;
  std::optional<AlertRecord> Find(std::string_view id) const;
  // Marks the alert acknowledged by `by`. kNotFound for an unknown id;
  // acknowledging an acknowledged alert changes nothing and returns it.
  Result<AlertRecord> Acknowledge(std::string_view id, const std::string& by);

  // Blocks until no delivery is queued, waiting for a retry or running
  // (tests, and vaultd's shutdown with a bound: false when it timed out).
  bool WaitIdle(int64_t timeout_ms);

 private:
  struct Job {
    std::string alert_id;
    size_t channel = 0;
    int64_t due_ms = 0;  // steady clock
  };
  AlertCenter(platform::Env& env, std::string dir, AlertCenterOptions options);
  Status Load();
  Status Write(const AlertRecord& alert);  // call with mu_ held
  int64_t Now() const;
  void Enqueue(const AlertRecord& alert);  // call with mu_ held
  void Worker();

  platform::Env& env_;
  const std::string dir_;
  const AlertCenterOptions options_;
  std::vector<std::unique_ptr<AlertChannel>> channels_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, AlertRecord, std::less<>> alerts_;  // by id
  std::deque<Job> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

// ----- The rules that decide when vaultd raises (pure functions, tested
// without a server).

// A job report (POST /v1/jobs) that calls for an alert: a "Failed" job is
// job_failed (critical), "CompletedWithWarnings" job_warning (warning);
// nullopt for anything else. `report_json` is the stored report.
std::optional<AlertInput> AlertForJobReport(const std::string& vault_id,
                                            const std::string& machine_id,
                                            const std::string& machine_name,
                                            const std::string& report_json);

// Whether a job report is a backup that ended well (type "Backup", in any
// case; state Completed or CompletedWithWarnings).
bool IsSuccessfulBackup(const std::string& report_json);

// The time a machine is expected to back up within: `configured_ms` when it
// is above 0, else learnt from its successful backups (oldest first, unix
// ms): 1.5 times the median gap between them, once there are at least 3;
// nullopt when there is nothing to judge by.
std::optional<int64_t> ExpectedBackupIntervalMs(const std::vector<int64_t>& successes_ms,
                                                int64_t configured_ms);

// Counts each machine's soft deletes in a sliding window and says when they
// become a mass deletion: at least `min_count` deletes within `window_ms`
// that are also at least `share` of the machine's objects (live ones plus
// those deleted in the window), or `max_count` deletes however many objects
// it has. It fires once per machine until the window has passed without a
// delete. Thread-safe.
struct MassDeletionRules {
  int64_t window_ms = int64_t{3600} * 1000;
  size_t min_count = 50;
  double share = 0.5;
  size_t max_count = 10000;
};
class MassDeletionWatch {
 public:
  explicit MassDeletionWatch(MassDeletionRules rules) : rules_(rules) {}
  // Notes one delete at now_ms; `live_objects` is called for the machine's
  // objects that are not deleted when the window's count reaches
  // min_count, and again each time it doubled since (so a machine with
  // many objects is not listed on every delete). Returns the deletes in the
  // window when this one makes it a mass deletion, else 0.
  size_t Note(const std::string& machine_id, int64_t now_ms,
              const std::function<size_t()>& live_objects);
  const MassDeletionRules& rules() const { return rules_; }

 private:
  struct Window {
    std::deque<int64_t> times;
    size_t next_check = 0;
    bool fired = false;
  };
  const MassDeletionRules rules_;
  std::mutex mu_;
  std::map<std::string, Window> machines_;
};

// Decides when a machine has missed its backups: no successful backup for
// longer than its expected interval (ExpectedBackupIntervalMs), counted
// from its newest successful backup or, without one, from its
// registration. It answers once per miss: again only after a newer
// successful backup. Thread-safe.
class MissedBackupWatch {
 public:
  struct Machine {
    std::string vault_id, machine_id, name;
    int64_t registered_ms = 0;
    std::vector<int64_t> successes_ms;  // oldest first
  };
  // The alert to raise for this machine now, if any.
  std::optional<AlertInput> Check(const Machine& machine, int64_t now_ms, int64_t configured_ms);

 private:
  std::mutex mu_;
  std::map<std::string, int64_t> alerted_;  // machine id -> the newest success it was alerted for
};

}  // namespace obagent::vault
