// Progress reporting rules (one rate limit, a final report always), the bar,
// rate and ETA arithmetic, and the JSON form of a job's progress.
#include "obagent/engine/progress.h"

#include <algorithm>
#include <cmath>

#include "engine/json_fields.h"

namespace obagent::engine {

ProgressReporter::ProgressReporter(ProgressFn sink, std::function<Progress()> sample,
                                   std::chrono::milliseconds interval, Now now, Delivery delivery)
    : sink_(std::move(sink)),
      sample_(std::move(sample)),
      interval_(interval),
      now_(std::move(now)),
      start_(now_()) {
  if (sink_ && delivery == Delivery::kBackground) thread_ = std::thread([this] { DeliverOwed(); });
}

ProgressReporter::~ProgressReporter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  owed_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ProgressReporter::DeliverOwed() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!owed_ || finished_) {
      owed_cv_.wait(lock);
      continue;
    }
    Clock::time_point now = now_();
    Clock::time_point due = last_sent_ + interval_;
    if (now >= due) {
      SendLocked(now);
    } else {
      owed_cv_.wait_for(lock, due - now);
    }
  }
}

void ProgressReporter::SendLocked(Clock::time_point now) {
  Progress p = sample_();
  p.elapsed_seconds = std::chrono::duration<double>(now - start_).count();
  rate_.Add(p.elapsed_seconds, p.bytes_done);
  p.recent_bytes_per_second = rate_.PerSecond(p.elapsed_seconds);
  sent_any_ = true;
  owed_ = false;
  last_sent_ = now;
  sink_(p);
}

void ProgressReporter::Report() {
  if (!sink_) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  Clock::time_point now = now_();
  if (sent_any_ && now - last_sent_ < interval_) {
    if (!owed_) {
      owed_ = true;
      owed_cv_.notify_one();
    }
    return;
  }
  SendLocked(now);
}

void ProgressReporter::Finish() {
  if (!sink_) return;
  std::lock_guard lock(mu_);
  if (finished_) return;
  finished_ = true;
  SendLocked(now_());
}

bool ProgressReporter::owed() const {
  std::lock_guard lock(mu_);
  return owed_;
}

ProgressRate::ProgressRate(double window_seconds) : window_(window_seconds) {
  points_.push_back({0, 0});
}

void ProgressRate::Add(double t, uint64_t value) {
  if (value <= points_.back().value) return;  // only advances are points
  points_.push_back({t, value});
  // Drop what is older than the window, keeping the point before it (the
  // rate then spans the whole window) and the last two advances.
  while (points_.size() > 2 && points_[1].t <= t - window_) points_.pop_front();
}

double ProgressRate::PerSecond(double now) const {
  const Point& from = points_.front();
  if (now <= from.t) return 0;
  return static_cast<double>(points_.back().value - from.value) / (now - from.t);
}

ProgressEstimate EstimateProgress(const Progress& p) {
  ProgressEstimate e;
  if (p.recent_bytes_per_second) {
    e.bytes_per_second = *p.recent_bytes_per_second;
  } else if (p.elapsed_seconds > 0) {
    e.bytes_per_second = p.bytes_done / p.elapsed_seconds;
  }
  if (p.bytes_total == 0) return e;
  // A backup's total is an estimate until its scan ends, which the job may
  // pass: the bar then stays full.
  double fraction = std::min(1.0, static_cast<double>(p.bytes_done) / p.bytes_total);
  e.fraction = fraction;
  e.percent = static_cast<int>(std::floor(fraction * 100));
  if (e.bytes_per_second > 0 && p.bytes_done < p.bytes_total) {
    e.eta_seconds = (p.bytes_total - p.bytes_done) / e.bytes_per_second;
  }
  return e;
}

nlohmann::json ProgressToJson(const Progress& p) {
  ProgressEstimate e = EstimateProgress(p);
  return {
      {"files_done", p.files_done},
      {"files_total", p.files_total},
      {"bytes_done", p.bytes_done},
      {"bytes_total", p.bytes_total},
      {"bytes_read", p.bytes_read},
      {"bytes_uploaded", p.bytes_uploaded},
      {"elapsed_seconds", p.elapsed_seconds},
      {"percent", e.fraction ? nlohmann::json(e.percent) : nlohmann::json(nullptr)},
      {"bytes_per_second", e.bytes_per_second},
      {"eta_seconds", e.eta_seconds ? nlohmann::json(*e.eta_seconds) : nlohmann::json(nullptr)}};
}

Result<Progress> ProgressFromJson(const nlohmann::json& j) {
  namespace f = json_fields;
  Progress p;
  if (j.is_null()) return p;  // nothing reported yet
  if (!j.is_object()) return InvalidArgument("a job's progress must be a JSON object");
  OB_ASSIGN_OR_RETURN(p.files_done, f::Count(j, "files_done"));
  OB_ASSIGN_OR_RETURN(p.files_total, f::Count(j, "files_total"));
  OB_ASSIGN_OR_RETURN(p.bytes_done, f::Count(j, "bytes_done"));
  OB_ASSIGN_OR_RETURN(p.bytes_total, f::Count(j, "bytes_total"));
  OB_ASSIGN_OR_RETURN(p.bytes_read, f::Count(j, "bytes_read"));
  OB_ASSIGN_OR_RETURN(p.bytes_uploaded, f::Count(j, "bytes_uploaded"));
  OB_ASSIGN_OR_RETURN(p.elapsed_seconds, f::Number(j, "elapsed_seconds"));
  if (p.elapsed_seconds < 0) return InvalidArgument("\"elapsed_seconds\" must be at least 0");
  if (json_fields::Find(j, "bytes_per_second") != nullptr) {
    OB_ASSIGN_OR_RETURN(double rate, f::Number(j, "bytes_per_second"));
    if (rate < 0) return InvalidArgument("\"bytes_per_second\" must be at least 0");
    p.recent_bytes_per_second = rate;
  }
  return p;
}

}  // namespace obagent::engine
