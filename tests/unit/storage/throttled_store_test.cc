// The token bucket behind bandwidth throttling, on a fake clock: nothing
// here sleeps for real, so the assertions are exact, not timing-dependent.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "obagent/storage/memory_store.h"
#include "obagent/storage/throttled_store.h"
#include "storage/stream_test_util.h"

namespace obagent::storage {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr uint64_t kMiB = 1 << 20;

class FakeClock final : public ThrottleClock {
 public:
  explicit FakeClock(int64_t start_ns) : now_(start_ns) {}
  int64_t NowNs() override { return now_; }
  void SleepNs(int64_t ns) override {
    EXPECT_GT(ns, 0);
    EXPECT_LE(ns, TokenBucket::kMaxSleepNs);
    now_ += ns;
    slept_ += ns;
  }
  void Advance(int64_t ns) { now_ += ns; }
  int64_t slept() const { return slept_; }

 private:
  int64_t now_;
  int64_t slept_ = 0;
};

// `before` bytes/s until switch_ns, `after` from then on (0 = unlimited).
class StepSchedule final : public RateSchedule {
 public:
  StepSchedule(uint64_t before, int64_t switch_ns, uint64_t after)
      : before_(before), switch_ns_(switch_ns), after_(after) {}
  uint64_t BytesPerSecondAt(int64_t unix_ns) const override {
    return unix_ns < switch_ns_ ? before_ : after_;
  }

 private:
  uint64_t before_;
  int64_t switch_ns_;
  uint64_t after_;
};

const int64_t kStart = 1'700'000'000 * kSecond;

TEST(TokenBucketTest, LongRunRateIsTheConfiguredRate) {
  FakeClock clock(kStart);
  const uint64_t rate = 1 * kMiB;
  TokenBucket bucket(std::make_unique<StepSchedule>(rate, INT64_MAX, rate), clock);
  // 200 transfers of 256 KiB = 50 MiB; the first second's worth is the burst.
  for (int i = 0; i < 200; ++i) bucket.Acquire(256 * 1024);
  const double expected_s = (50.0 * kMiB - rate) / static_cast<double>(rate);
  EXPECT_NEAR(static_cast<double>(clock.NowNs() - kStart) / kSecond, expected_s, 0.01);
}

TEST(TokenBucketTest, BurstIsOneSecondOfTheRateAndDoesNotAccumulate) {
  FakeClock clock(kStart);
  const uint64_t rate = 512 * 1024;
  TokenBucket bucket(std::make_unique<StepSchedule>(rate, INT64_MAX, rate), clock);
  bucket.Acquire(rate);  // a full bucket: no wait
  EXPECT_EQ(clock.slept(), 0);
  bucket.Acquire(rate / 4);  // empty now: a quarter of a second
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 0.25, 1e-6);

  clock.Advance(60 * kSecond);  // an idle minute refills one second, not 60
  int64_t slept = clock.slept();
  bucket.Acquire(rate);
  EXPECT_EQ(clock.slept(), slept);
  bucket.Acquire(rate);
  EXPECT_NEAR(static_cast<double>(clock.slept() - slept) / kSecond, 1.0, 1e-6);
}

TEST(TokenBucketTest, LargeRequestGoesIntoDebtThatTheNextOnePays) {
  FakeClock clock(kStart);
  const uint64_t rate = 1 * kMiB;
  TokenBucket bucket(std::make_unique<StepSchedule>(rate, INT64_MAX, rate), clock);
  bucket.Acquire(16 * kMiB);  // one pack: 1 MiB from the bucket, 15 s of debt
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 15.0, 1e-6);
  // Debt was paid in slices, so a rate change could have been noticed.
  bucket.Acquire(1);
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 15.0, 1e-5);
}

TEST(TokenBucketTest, RateSwitchesAtTheWorkHourBoundary) {
  FakeClock clock(kStart);
  const int64_t boundary = kStart + 100 * kSecond;
  const uint64_t work = 512 * 1024, off = 4 * kMiB;
  TokenBucket bucket(std::make_unique<StepSchedule>(work, boundary, off), clock);
  // Transfer 64 KiB pieces without pause; note when each one went.
  std::vector<int64_t> sent_at;
  while (clock.NowNs() < boundary + 100 * kSecond) {
    bucket.Acquire(64 * 1024);
    sent_at.push_back(clock.NowNs());
  }
  auto bytes_between = [&](int64_t from, int64_t to) {
    uint64_t n = 0;
    for (int64_t t : sent_at) n += (t >= from && t < to) ? 64 * 1024 : 0;
    return static_cast<double>(n);
  };
  // Well inside each period the rate is that period's, within 2 %.
  EXPECT_NEAR(bytes_between(kStart + 10 * kSecond, boundary) / 90, work, work * 0.02);
  EXPECT_NEAR(bytes_between(boundary + 2 * kSecond, boundary + 92 * kSecond) / 90, off, off * 0.02);
  // And the switch is prompt: the second after the boundary already runs at
  // the new rate (give or take the burst).
  EXPECT_GE(bytes_between(boundary, boundary + kSecond), static_cast<double>(off) * 0.9);
}

TEST(TokenBucketTest, UnlimitedNeverWaitsAndForgetsDebt) {
  FakeClock clock(kStart);
  const int64_t boundary = kStart + 10 * kSecond;
  TokenBucket bucket(std::make_unique<StepSchedule>(kMiB, boundary, 0), clock);
  bucket.Acquire(5 * kMiB);  // 4 s of debt at 1 MiB/s, paid before the boundary
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 4.0, 1e-6);
  clock.Advance(10 * kSecond);  // past the boundary: unlimited
  int64_t slept = clock.slept();
  for (int i = 0; i < 100; ++i) bucket.Acquire(100 * kMiB);
  EXPECT_EQ(clock.slept(), slept);
}

TEST(ThrottledStoreTest, ChargesUploadsAndDownloadsButNotListing) {
  FakeClock clock(kStart);
  const uint64_t rate = 1 * kMiB;
  auto bucket =
      std::make_shared<TokenBucket>(std::make_unique<StepSchedule>(rate, INT64_MAX, rate), clock);
  auto store = NewThrottledStore(std::make_unique<MemoryStore>(), bucket);
  Bytes three_mib(3 * kMiB, 7);
  ASSERT_TRUE(store->Put("a", three_mib).ok());  // 1 MiB burst + 2 s
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 2.0, 1e-6);

  auto got = store->Get("a");  // charged after it arrived: 3 s of debt
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, three_mib);
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 5.0, 1e-6);

  auto range = store->GetRange("a", kMiB, kMiB);  // 1 s
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->size(), kMiB);
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 6.0, 1e-6);

  int64_t slept = clock.slept();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->List("").ok());
    ASSERT_TRUE(store->Exists("a").ok());
  }
  ASSERT_TRUE(store->Delete("a").ok());
  EXPECT_EQ(clock.slept(), slept);
  EXPECT_EQ(store->Describe(), "memory");
}

TEST(ThrottledStoreTest, ChargesStreamedBytesPieceByPiece) {
  FakeClock clock(kStart);
  const uint64_t rate = 1 * kMiB;
  auto bucket =
      std::make_shared<TokenBucket>(std::make_unique<StepSchedule>(rate, INT64_MAX, rate), clock);
  // MemoryStore streams in pieces of at most kStreamPieceBytes.
  auto store = NewThrottledStore(std::make_unique<MemoryStore>(), bucket);
  Bytes data(3 * kMiB, 9);
  testing::PieceSource source(data, kMiB / 4);
  ASSERT_TRUE(store->PutFrom("a", source).ok());  // 1 MiB burst + 2 s
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 2.0, 1e-6);
  auto info = store->Stat("a");  // metadata only: free
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, data.size());
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 2.0, 1e-6);

  testing::PieceSink sink;
  ASSERT_TRUE(store->GetTo("a", kMiB, kToEnd, sink).ok());  // 2 MiB: 2 s
  EXPECT_TRUE(sink.bytes() == testing::Slice(data, kMiB, 2 * kMiB));
  EXPECT_GE(sink.pieces(), 2);
  EXPECT_NEAR(static_cast<double>(clock.slept()) / kSecond, 4.0, 1e-6);
}

}  // namespace
}  // namespace obagent::storage
