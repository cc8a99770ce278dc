// A running job's progress: how it is reported (ProgressReporter: one rate
// limit, a final report always), what it means for a bar, a rate and an ETA
// (EstimateProgress, the one home of that arithmetic for obctl and the
// console), and its JSON form (the local API, the console, obctl).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "obagent/engine/job.h"
#include "obagent/status.h"

namespace obagent::engine {

// The recent rate of a figure that only grows (bytes_done): from the
// oldest of the points it keeps to now. It keeps the points of the last
// `window` plus the one before them, and always the last two advances, so
// the rate covers at least `window` once the job is that old (a fast start
// falls out of it), and in a stall (a throttled pack still uploading) it
// falls as the wait grows instead of dropping to 0 at once. Times are
// seconds since the job started. Not thread-safe (the reporter holds its
// lock).
class ProgressRate {
 public:
  static constexpr double kDefaultWindowSeconds = 20;
  explicit ProgressRate(double window_seconds = kDefaultWindowSeconds);
  // The figure's value at time t (t never goes back).
  void Add(double t, uint64_t value);
  // Per second from the oldest point kept to `now`; 0 before time passed.
  double PerSecond(double now) const;

 private:
  struct Point {
    double t;
    uint64_t value;
  };
  double window_;
  std::deque<Point> points_;  // value strictly increasing; starts at (0, 0)
};

// Serialises and rate-limits a job's progress reports. The job calls
// Report() whenever a figure moved and from its waits (a thread blocked on
// the executor, a pack upload or a large file calls it on every wake-up), so
// the figures keep moving while the job waits. Each Report() sends the
// current figures (sample()) unless a report went out less than `interval`
// ago; then the change is owed, and it goes out with the figures as they
// are then once the interval has passed: from the next Report() after it,
// or (Delivery::kBackground) from the reporter's own thread, even when every
// thread of the job is blocked (a long upload on the job thread), so the
// last change of a burst is never lost or left standing. Finish() always
// sends the final figures, once; nothing is sent after it.
//
// Thread-safe: any thread may call Report(); sink() and sample() run under
// the reporter's lock, never concurrently. elapsed_seconds is filled in
// from the reporter's clock (started at construction), and
// recent_bytes_per_second from a ProgressRate of the bytes_done it sends.
class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  static constexpr std::chrono::milliseconds kDefaultInterval{200};
  // Who sends an owed report: also the reporter's thread (waiting on the
  // real clock), or only the callers of Report() (tests on a fake clock).
  enum class Delivery { kBackground, kCallersOnly };

  ProgressReporter(ProgressFn sink, std::function<Progress()> sample,
                   std::chrono::milliseconds interval = kDefaultInterval, Now now = Clock::now,
                   Delivery delivery = Delivery::kBackground);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void Report();
  void Finish();
  // True when a change was noticed but not sent yet (the rate limit held it).
  bool owed() const;

 private:
  void SendLocked(Clock::time_point now);
  void DeliverOwed();

  const ProgressFn sink_;
  const std::function<Progress()> sample_;
  const std::chrono::milliseconds interval_;
  const Now now_;
  const Clock::time_point start_;
  mutable std::mutex mu_;
  bool sent_any_ = false;
  bool owed_ = false;
  bool finished_ = false;
  bool stopping_ = false;
  Clock::time_point last_sent_{};
  ProgressRate rate_;
  std::condition_variable owed_cv_;
  std::thread thread_;  // last: started after the members it uses
};

// What a bar, a rate and an ETA show for `p`: the fraction of bytes_done in
// bytes_total (none when the total is unknown), the rate (the recent one
// when the reporter measured it, else the average of bytes_done since the
// job started), and the time what remains (bytes_total - bytes_done: for a
// backup what is still to upload) takes at that rate (none without a total
// or a rate, or once bytes_done reached the total).
struct ProgressEstimate {
  std::optional<double> fraction;  // in [0, 1]
  int percent = 0;                 // floor(100 * fraction); 0 when unknown
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
};
ProgressEstimate EstimateProgress(const Progress& p);

// The job's progress on the wire (one codec, engine/wire.h lists them):
// {files_done, files_total, bytes_done, bytes_total, bytes_read,
// bytes_uploaded, elapsed_seconds} plus the estimate: percent (null when the
// total is unknown), bytes_per_second, eta_seconds (null when unknown).
nlohmann::json ProgressToJson(const Progress& p);
// The figures of ProgressToJson's output; bytes_per_second comes back as
// the recent rate, so the estimate recomputed from them is the sender's.
// null reads as nothing done yet; missing fields are 0 (older engines sent
// fewer); anything else that is not an object, or a figure that is not a
// number of at least 0, is refused (kInvalidArgument).
Result<Progress> ProgressFromJson(const nlohmann::json& j);

}  // namespace obagent::engine
