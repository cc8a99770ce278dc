// Progress reporting rules (one rate limit, a final report always), the bar,
// rate and ETA arithmetic, and the JSON form of a job's progress.
#include "obagent/engine/progress.h"

#include <algorithm>
#include <cmath>

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

ProgressEstimate EstimateProgress(const Progress& p) {
  ProgressEstimate e;
  if (p.elapsed_seconds > 0) e.bytes_per_second = p.bytes_done / p.elapsed_seconds;
  if (p.bytes_total == 0) return e;
  // A backup's total is the previous point's size, an estimate the job may
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

Progress ProgressFromJson(const nlohmann::json& j) {
  Progress p;
  if (!j.is_object()) return p;
  auto u64 = [&](const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return uint64_t{0};
    return it->is_number_unsigned() || it->get<int64_t>() >= 0 ? it->get<uint64_t>() : uint64_t{0};
  };
  p.files_done = u64("files_done");
  p.files_total = u64("files_total");
  p.bytes_done = u64("bytes_done");
  p.bytes_total = u64("bytes_total");
  p.bytes_read = u64("bytes_read");
  p.bytes_uploaded = u64("bytes_uploaded");
  auto it = j.find("elapsed_seconds");
  if (it != j.end() && it->is_number()) p.elapsed_seconds = it->get<double>();
  return p;
}

}  // namespace obagent::engine
