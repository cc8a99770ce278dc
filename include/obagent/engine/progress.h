// A running job's progress: how it is reported (ProgressReporter: one rate
// limit, a final report always), what it means for a bar, a rate and an ETA
// (EstimateProgress, the one home of that arithmetic for obctl and the
// console), and its JSON form (the local API, the console, obctl).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "obagent/engine/job.h"

namespace obagent::engine {

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
// from the reporter's clock (started at construction).
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
  std::condition_variable owed_cv_;
  std::thread thread_;  // last: started after the members it uses
};

// What a bar, a rate and an ETA show for `p`: the fraction of bytes_done in
// bytes_total (none when the total is unknown), the average rate of
// bytes_done since the job started, and the time left at that rate (none
// without a total or a rate, or once bytes_done reached the total).
struct ProgressEstimate {
  std::optional<double> fraction;  // in [0, 1]
  int percent = 0;                 // floor(100 * fraction); 0 when unknown
  double bytes_per_second = 0;
  std::optional<double> eta_seconds;
};
ProgressEstimate EstimateProgress(const Progress& p);

// {files_done, files_total, bytes_done, bytes_total, bytes_read,
// bytes_uploaded, elapsed_seconds} plus the estimate: percent (null when the
// total is unknown), bytes_per_second, eta_seconds (null when unknown).
nlohmann::json ProgressToJson(const Progress& p);
// The figures of ProgressToJson's output (the estimate is recomputed from
// them); missing fields are 0.
Progress ProgressFromJson(const nlohmann::json& j);

}  // namespace obagent::engine
