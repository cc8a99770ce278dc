// The progress reporting rules (ProgressReporter, on a fake clock: one rate
// limit, the last change of a burst sent after the interval, a final report
// always, never two reports at once), the bar/rate/ETA arithmetic
// (EstimateProgress, ProgressRate: the recent rate of what is done) and the
// JSON form of a job's progress, with its refusals.
#include "obagent/engine/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
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
  Progress back = ProgressFromJson(nlohmann::json::parse(j.dump())).value();
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
  Progress old = ProgressFromJson({{"files_done", 1}, {"bytes_done", 2}}).value();
  EXPECT_EQ(old.files_done, 1u);
  EXPECT_EQ(old.bytes_done, 2u);
  EXPECT_EQ(old.bytes_uploaded, 0u);
  EXPECT_EQ(ProgressFromJson(nullptr)->bytes_done, 0u);
}

// --- the recent rate and the ETA (fake times: no waiting, no timing) --------

TEST(ProgressRate, ASteadyStreamGivesItsRate) {
  ProgressRate rate(20);
  for (int t = 1; t <= 60; ++t) rate.Add(t, uint64_t(t) * 1'000'000);
  EXPECT_DOUBLE_EQ(rate.PerSecond(60), 1'000'000);
}

TEST(ProgressRate, AFastStartFallsOutOfTheWindow) {
  // 90 MB in the first second (unchanged files, data the vault holds), then
  // a throttled upload of 1 MB/s.
  ProgressRate rate(20);
  rate.Add(1, 90'000'000);
  for (int t = 2; t <= 60; ++t) rate.Add(t, 90'000'000 + uint64_t(t - 1) * 1'000'000);
  EXPECT_DOUBLE_EQ(rate.PerSecond(60), 1'000'000);
  // The average since the start would have said 2.5 MB/s.
}

TEST(ProgressRate, AStallLowersTheRateGraduallyNeverToZeroAtOnce) {
  // Packs of 16 MB accepted every 4 s, then the next one takes long.
  ProgressRate rate(20);
  for (int i = 1; i <= 10; ++i) rate.Add(4.0 * i, uint64_t(i) * 16'000'000);
  double steady = rate.PerSecond(40);
  EXPECT_DOUBLE_EQ(steady, 4'000'000);
  double later = rate.PerSecond(60);
  double much_later = rate.PerSecond(120);
  EXPECT_GT(later, 0);
  EXPECT_LT(later, steady);
  EXPECT_GT(much_later, 0);
  EXPECT_LT(much_later, later);
}

TEST(ProgressRate, NothingDoneOrNoTimeGivesZero) {
  ProgressRate rate;
  EXPECT_EQ(rate.PerSecond(0), 0);
  EXPECT_EQ(rate.PerSecond(5), 0);
  rate.Add(5, 0);  // not an advance
  EXPECT_EQ(rate.PerSecond(10), 0);
}

TEST(EstimateProgress, TheRecentRateDrivesRateAndEta) {
  // A backup whose unchanged files were done at once: 90 of 100 MB in the
  // vault after 10 s, the rest uploading at 1 MB/s.
  Progress p;
  p.bytes_done = 90'000'000;
  p.bytes_total = 100'000'000;
  p.elapsed_seconds = 10;
  p.recent_bytes_per_second = 1'000'000;
  ProgressEstimate e = EstimateProgress(p);
  EXPECT_EQ(e.percent, 90);
  EXPECT_DOUBLE_EQ(e.bytes_per_second, 1'000'000);
  ASSERT_TRUE(e.eta_seconds.has_value());
  EXPECT_DOUBLE_EQ(*e.eta_seconds, 10);  // 10 MB left at 1 MB/s
  p.recent_bytes_per_second = 0;         // a stall: no ETA rather than a wrong one
  e = EstimateProgress(p);
  EXPECT_EQ(e.bytes_per_second, 0);
  EXPECT_FALSE(e.eta_seconds.has_value());
}

TEST(ProgressReporter, ReportsCarryTheRecentRateOfWhatIsDone) {
  // Reading runs ahead (bytes_read), what is done moves with the throttled
  // upload: the rate follows bytes_done, not bytes_read.
  Fixture f;
  f.figures.bytes_total = 100'000'000;
  for (int s = 1; s <= 40; ++s) {
    f.clock.Advance(milliseconds(1000));
    f.figures.bytes_read = std::min<uint64_t>(100'000'000, uint64_t(s) * 50'000'000);
    f.figures.bytes_done = uint64_t(s) * 2'000'000;
    f.reporter.Report();
  }
  ASSERT_FALSE(f.sent.empty());
  const Progress& last = f.sent.back();
  ASSERT_TRUE(last.recent_bytes_per_second.has_value());
  EXPECT_DOUBLE_EQ(*last.recent_bytes_per_second, 2'000'000);
  ProgressEstimate e = EstimateProgress(last);
  EXPECT_EQ(e.percent, 80);
  EXPECT_DOUBLE_EQ(*e.eta_seconds, 10);  // 20 MB still to upload at 2 MB/s
}

TEST(ProgressJson, TheRateCrossesSoTheEstimateIsTheSendersOnBothSides) {
  Progress p;
  p.bytes_done = 90;
  p.bytes_total = 100;
  p.elapsed_seconds = 10;
  p.recent_bytes_per_second = 2;
  nlohmann::json j = ProgressToJson(p);
  Result<Progress> back = ProgressFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ProgressEstimate sent = EstimateProgress(p), read = EstimateProgress(*back);
  EXPECT_EQ(read.percent, sent.percent);
  EXPECT_DOUBLE_EQ(read.bytes_per_second, 2);
  EXPECT_DOUBLE_EQ(*read.eta_seconds, *sent.eta_seconds);
}

TEST(ProgressJson, RefusesWhatIsNotAJobsProgress) {
  for (const nlohmann::json& bad :
       {nlohmann::json(42), nlohmann::json("50%"), nlohmann::json::array({1, 2}),
        nlohmann::json{{"bytes_done", "many"}}, nlohmann::json{{"bytes_done", -1}},
        nlohmann::json{{"files_done", 1.5}}, nlohmann::json{{"elapsed_seconds", "soon"}},
        nlohmann::json{{"elapsed_seconds", -3}}, nlohmann::json{{"bytes_per_second", -1}},
        nlohmann::json{{"bytes_total", true}}}) {
    Result<Progress> p = ProgressFromJson(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
}

}  // namespace
}  // namespace obagent::engine
