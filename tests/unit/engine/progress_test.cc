// The progress reporting rules (ProgressReporter, on a fake clock: one rate
// limit, the last change of a burst sent after the interval, a final report
// always, never two reports at once), the bar/rate/ETA arithmetic
// (EstimateProgress) and the JSON form of a job's progress.
#include "obagent/engine/progress.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace obagent::engine {
namespace {

using std::chrono::milliseconds;

class FakeClock {
 public:
  ProgressReporter::Clock::time_point now() const { return now_; }
  void Advance(milliseconds d) { now_ += d; }

 private:
  ProgressReporter::Clock::time_point now_{std::chrono::hours(1)};
};

struct Fixture {
  FakeClock clock;
  Progress figures;  // what the job has done, as sample() sees it
  std::vector<Progress> sent;
  // Only the callers deliver: the fake clock moves when the test says so.
  ProgressReporter reporter{
      [this](const Progress& p) { sent.push_back(p); }, [this] { return figures; },
      milliseconds(200), [this] { return clock.now(); }, ProgressReporter::Delivery::kCallersOnly};
};

TEST(ProgressReporter, FirstReportGoesOutAtOnceWithTheElapsedTime) {
  Fixture f;
  f.clock.Advance(milliseconds(1500));
  f.figures.files_done = 3;
  f.figures.bytes_read = 100;
  f.reporter.Report();
  ASSERT_EQ(f.sent.size(), 1u);
  EXPECT_EQ(f.sent[0].files_done, 3u);
  EXPECT_EQ(f.sent[0].bytes_read, 100u);
  EXPECT_DOUBLE_EQ(f.sent[0].elapsed_seconds, 1.5);
  EXPECT_FALSE(f.reporter.owed());
}

TEST(ProgressReporter, ABurstInsideTheIntervalIsHeldAndItsLastFiguresSentAfterIt) {
  Fixture f;
  f.reporter.Report();
  for (uint64_t i = 1; i <= 5; ++i) {
    f.clock.Advance(milliseconds(10));
    f.figures.bytes_done = i * 1000;
    f.reporter.Report();
  }
  EXPECT_EQ(f.sent.size(), 1u);  // rate-limited
  EXPECT_TRUE(f.reporter.owed());
  // A waiting thread's tick after the interval sends the burst's last figures.
  f.clock.Advance(milliseconds(200));
  f.reporter.Report();
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].bytes_done, 5000u);
  EXPECT_FALSE(f.reporter.owed());
}

TEST(ProgressReporter, WaitingTicksKeepReportingWhenNothingElseMoves) {
  Fixture f;
  f.figures.bytes_uploaded = 7;
  for (int tick = 0; tick < 4; ++tick) {
    f.reporter.Report();
    f.clock.Advance(milliseconds(200));
  }
  ASSERT_EQ(f.sent.size(), 4u);
  EXPECT_LT(f.sent[0].elapsed_seconds, f.sent[3].elapsed_seconds);
  EXPECT_EQ(f.sent[3].bytes_uploaded, 7u);
}

TEST(ProgressReporter, FinishAlwaysSendsTheFinalFiguresOnce) {
  Fixture f;
  f.reporter.Report();
  f.clock.Advance(milliseconds(1));
  f.figures.bytes_done = 42;
  f.reporter.Report();  // held by the rate limit
  f.reporter.Finish();  // sent although a report went out 1 ms ago
  ASSERT_EQ(f.sent.size(), 2u);
  EXPECT_EQ(f.sent[1].bytes_done, 42u);
  // Nothing after the final report.
  f.clock.Advance(milliseconds(1000));
  f.figures.bytes_done = 43;
  f.reporter.Report();
  f.reporter.Finish();
  EXPECT_EQ(f.sent.size(), 2u);
}

TEST(ProgressReporter, FinishWithoutAnyEarlierReportStillReports) {
  Fixture f;
  f.figures.files_done = 1;
  f.reporter.Finish();
  ASSERT_EQ(f.sent.size(), 1u);
  EXPECT_EQ(f.sent[0].files_done, 1u);
}

TEST(ProgressReporter, NoSinkMeansNothingHappens) {
  bool sampled = false;
  ProgressReporter reporter({}, [&] {
    sampled = true;
    return Progress{};
  });
  reporter.Report();
  reporter.Finish();
  EXPECT_FALSE(sampled);
}

// The reports a sink received, for the tests on the real clock.
class Received {
 public:
  void Add(const Progress& p) {
    std::lock_guard lock(mu_);
    list_.push_back(p);
    cv_.notify_all();
  }
  // Until `n` reports arrived (false after a generous deadline).
  bool WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return list_.size() >= n; });
  }
  std::vector<Progress> All() {
    std::lock_guard lock(mu_);
    return list_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Progress> list_;
};

TEST(ProgressReporter, AHeldChangeIsDeliveredWithoutAnotherReport) {
  Received received;
  std::atomic<uint64_t> done{1};
  ProgressReporter reporter([&](const Progress& p) { received.Add(p); },
                            [&] {
                              Progress p;
                              p.bytes_done = done;
                              return p;
                            },
                            milliseconds(20));
  reporter.Report();
  done = 2;
  reporter.Report();  // held (unless 20 ms passed already: then sent at once)
  // Nobody reports again, as when every thread of the job is blocked in a
  // long upload: the reporter's own thread sends the held change.
  ASSERT_TRUE(received.WaitForCount(2));
  EXPECT_EQ(received.All()[1].bytes_done, 2u);
}

TEST(ProgressReporter, NothingIsDeliveredAfterTheFinalReport) {
  Received received;
  std::atomic<uint64_t> done{1};
  {
    ProgressReporter reporter([&](const Progress& p) { received.Add(p); },
                              [&] {
                                Progress p;
                                p.bytes_done = done;
                                return p;
                              },
                              std::chrono::hours(1));
    reporter.Report();
    done = 2;
    reporter.Report();  // held for an hour
    reporter.Finish();
    done = 3;
    reporter.Report();
  }  // the reporter's thread has ended
  std::vector<Progress> all = received.All();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].bytes_done, 2u);
}

TEST(ProgressReporter, ReportsFromManyThreadsNeverOverlap) {
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::atomic<int> calls{0};
  // Interval 0: every Report sends, so the threads contend for the sink.
  ProgressReporter reporter(
      [&](const Progress&) {
        if (inside.fetch_add(1) != 0) overlapped = true;
        std::this_thread::yield();
        inside.fetch_sub(1);
        ++calls;
      },
      [] { return Progress{}; }, milliseconds(0));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) reporter.Report();
    });
  }
  for (auto& t : threads) t.join();
  reporter.Finish();
  EXPECT_FALSE(overlapped.load());
  EXPECT_EQ(calls.load(), 4 * 500 + 1);
}

TEST(EstimateProgress, UnknownTotalGivesARateButNoBarOrEta) {
  Progress p;
  p.bytes_done = 10'000'000;
  p.elapsed_seconds = 4;
  ProgressEstimate e = EstimateProgress(p);
  EXPECT_FALSE(e.fraction.has_value());
  EXPECT_EQ(e.percent, 0);
  EXPECT_DOUBLE_EQ(e.bytes_per_second, 2'500'000);
  EXPECT_FALSE(e.eta_seconds.has_value());
}

TEST(EstimateProgress, KnownTotalGivesFractionPercentAndTimeLeftAtTheAverageRate) {
  Progress p;
  p.bytes_done = 25;
  p.bytes_total = 100;
  p.elapsed_seconds = 5;
  ProgressEstimate e = EstimateProgress(p);
  ASSERT_TRUE(e.fraction.has_value());
  EXPECT_DOUBLE_EQ(*e.fraction, 0.25);
  EXPECT_EQ(e.percent, 25);
  EXPECT_DOUBLE_EQ(e.bytes_per_second, 5);
  ASSERT_TRUE(e.eta_seconds.has_value());
  EXPECT_DOUBLE_EQ(*e.eta_seconds, 15);
}

TEST(EstimateProgress, PercentRoundsDownSoOnlyAFinishedJobShows100) {
  Progress p;
  p.bytes_done = 999;
  p.bytes_total = 1000;
  p.elapsed_seconds = 1;
  EXPECT_EQ(EstimateProgress(p).percent, 99);
  p.bytes_done = 1000;
  ProgressEstimate e = EstimateProgress(p);
  EXPECT_EQ(e.percent, 100);
  EXPECT_FALSE(e.eta_seconds.has_value());
}

TEST(EstimateProgress, PassingAnEstimatedTotalKeepsTheBarFullWithoutEta) {
  Progress p;
  p.bytes_done = 150;
  p.bytes_total = 100;  // a backup's estimate: the previous point's size
  p.elapsed_seconds = 1;
  ProgressEstimate e = EstimateProgress(p);
  EXPECT_DOUBLE_EQ(*e.fraction, 1.0);
  EXPECT_EQ(e.percent, 100);
  EXPECT_FALSE(e.eta_seconds.has_value());
}

TEST(EstimateProgress, NoTimeOrNoBytesYetGivesNoRateAndNoEta) {
  Progress p;
  p.bytes_total = 100;
  ProgressEstimate e = EstimateProgress(p);
  EXPECT_EQ(e.bytes_per_second, 0);
  EXPECT_FALSE(e.eta_seconds.has_value());
  EXPECT_EQ(e.percent, 0);
  p.elapsed_seconds = 3;  // time passed, nothing written yet
  e = EstimateProgress(p);
  EXPECT_EQ(e.bytes_per_second, 0);
  EXPECT_FALSE(e.eta_seconds.has_value());
}

TEST(ProgressJson, CarriesEveryFigureAndTheEstimate) {
  Progress p;
  p.files_done = 2;
  p.files_total = 8;
  p.bytes_done = 50;
  p.bytes_total = 200;
  p.bytes_read = 120;
  p.bytes_uploaded = 60;
  p.elapsed_seconds = 10;
  nlohmann::json j = ProgressToJson(p);
  EXPECT_EQ(j["percent"], 25);
  EXPECT_DOUBLE_EQ(j["bytes_per_second"].get<double>(), 5);
  EXPECT_DOUBLE_EQ(j["eta_seconds"].get<double>(), 30);
  Progress back = ProgressFromJson(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(back.files_done, 2u);
  EXPECT_EQ(back.files_total, 8u);
  EXPECT_EQ(back.bytes_done, 50u);
  EXPECT_EQ(back.bytes_total, 200u);
  EXPECT_EQ(back.bytes_read, 120u);
  EXPECT_EQ(back.bytes_uploaded, 60u);
  EXPECT_DOUBLE_EQ(back.elapsed_seconds, 10);
}

TEST(ProgressJson, UnknownTotalIsNullPercentAndEta) {
  Progress p;
  p.bytes_done = 5;
  p.elapsed_seconds = 1;
  nlohmann::json j = ProgressToJson(p);
  EXPECT_TRUE(j["percent"].is_null());
  EXPECT_TRUE(j["eta_seconds"].is_null());
  // Older engines sent fewer fields: the missing ones read as 0.
  Progress old = ProgressFromJson({{"files_done", 1}, {"bytes_done", 2}});
  EXPECT_EQ(old.files_done, 1u);
  EXPECT_EQ(old.bytes_done, 2u);
  EXPECT_EQ(old.bytes_uploaded, 0u);
  EXPECT_EQ(ProgressFromJson(nullptr).bytes_done, 0u);
}

}  // namespace
}  // namespace obagent::engine
