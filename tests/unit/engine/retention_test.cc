#include "obagent/engine/retention.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

namespace obagent::engine {
namespace {

using namespace std::chrono;

int64_t Ns(sys_days day, hours h) {
  return duration_cast<nanoseconds>((day + h).time_since_epoch()).count();
}

std::string DayName(sys_days d) {
  year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

// One point a day at noon UTC, id = its date, from `first` to `last`.
std::vector<NamedRecoveryPoint> DailyHistory(sys_days first, sys_days last) {
  std::vector<NamedRecoveryPoint> points;
  for (sys_days d = first; d <= last; d += days(1)) {
    NamedRecoveryPoint p;
    p.id = DayName(d);
    p.point.time_ns = Ns(d, hours(12));
    points.push_back(p);
  }
  return points;
}

std::set<std::string> Keep(const std::vector<NamedRecoveryPoint>& points, RetentionPolicy policy,
                           int64_t now) {
  auto ids = PointsToKeep(points, policy, now);
  return {ids.begin(), ids.end()};
}

TEST(RetentionValidate, Bounds) {
  RetentionPolicy p;
  EXPECT_TRUE(p.Validate().ok());
  p.daily_days = 3;
  Status st = p.Validate();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.detail(), "daily retention must be between 7 and 9999 days, got 3");
  p.daily_days = 10000;
  EXPECT_FALSE(p.Validate().ok());
  p.daily_days = 9999;
  EXPECT_TRUE(p.Validate().ok());

  p = RetentionPolicy{};
  p.weekly_weeks = 5163;
  EXPECT_TRUE(p.Validate().ok());
  p.weekly_weeks = 5164;
  EXPECT_EQ(p.Validate().detail(),
            "weekly retention must be 0 (off) or between 1 and 5163 weeks, got 5164");
  p.weekly_weeks = -1;
  EXPECT_FALSE(p.Validate().ok());

  p = RetentionPolicy{};
  p.monthly_months = 1188;
  EXPECT_TRUE(p.Validate().ok());
  p.monthly_months = 1189;
  EXPECT_EQ(p.Validate().detail(),
            "monthly retention must be 0 (off) or between 1 and 1188 months, got 1189");

  p = RetentionPolicy{};
  p.yearly_years = 99;
  EXPECT_TRUE(p.Validate().ok());
  p.yearly_years = 100;
  EXPECT_EQ(p.Validate().detail(),
            "yearly retention must be 0 (off) or between 1 and 99 years, got 100");
}

TEST(RetentionValidate, TotalCap) {
  RetentionPolicy p{9999, 0, 0, 0};
  EXPECT_TRUE(p.Validate().ok());
  p.yearly_years = 1;
  Status st = p.Validate();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.detail().find("at most 9999"), std::string::npos) << st.detail();
  p = RetentionPolicy{8000, 1000, 900, 99};  // exactly 9999
  EXPECT_TRUE(p.Validate().ok());
  p.monthly_months = 901;
  st = p.Validate();
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.detail(),
            "the retention policy keeps up to 10000 recovery points (8000 daily + 1000 weekly + "
            "901 monthly + 99 yearly); at most 9999 are allowed");
}

TEST(RetentionSelect, EmptyInput) { EXPECT_TRUE(PointsToKeep({}, RetentionPolicy{}, 0).empty()); }

// Three years of daily points up to Sunday 2024-06-16; now is that evening.
class RetentionGfs : public ::testing::Test {
 protected:
  const sys_days last_ = sys_days(2024y / June / 16);
  const std::vector<NamedRecoveryPoint> history_ =
      DailyHistory(sys_days(2021y / June / 17), sys_days(2024y / June / 16));
  const int64_t now_ = Ns(sys_days(2024y / June / 16), hours(23));
};

TEST_F(RetentionGfs, HistoryIsThreeYears) { ASSERT_EQ(history_.size(), 1096u); }

TEST_F(RetentionGfs, DailyOnly) {
  auto kept = Keep(history_, {7, 0, 0, 0}, now_);
  EXPECT_EQ(kept, (std::set<std::string>{"2024-06-10", "2024-06-11", "2024-06-12", "2024-06-13",
                                         "2024-06-14", "2024-06-15", "2024-06-16"}));
  EXPECT_EQ(Keep(history_, {30, 0, 0, 0}, now_).size(), 30u);
  EXPECT_EQ(Keep(history_, {9999, 0, 0, 0}, now_).size(), 1096u);
}

TEST_F(RetentionGfs, WeeklyKeepsSundays) {
  // Daily covers Mon 06-10 .. Sun 06-16 (the current ISO week); weekly adds
  // the Sundays that end the three weeks before it.
  auto kept = Keep(history_, {7, 4, 0, 0}, now_);
  EXPECT_EQ(kept.size(), 10u);
  for (const char* sunday : {"2024-06-09", "2024-06-02", "2024-05-26"}) {
    EXPECT_TRUE(kept.contains(sunday)) << sunday;
  }
  EXPECT_FALSE(kept.contains("2024-05-19"));
  // 52 weeks: the current week is in daily, 51 more Sundays.
  EXPECT_EQ(Keep(history_, {7, 52, 0, 0}, now_).size(), 7u + 51u);
}

TEST_F(RetentionGfs, MonthlyKeepsMonthEnds) {
  auto kept = Keep(history_, {7, 0, 12, 0}, now_);
  // 11 earlier month ends (2023-07 .. 2024-05); June's latest is today.
  EXPECT_EQ(kept.size(), 7u + 11u);
  for (const char* end : {"2024-05-31", "2024-02-29", "2023-12-31", "2023-07-31"}) {
    EXPECT_TRUE(kept.contains(end)) << end;
  }
  EXPECT_FALSE(kept.contains("2023-06-30"));
  // More months than the history has: every month with a point (37: 2021-06 .. 2024-06).
  EXPECT_EQ(Keep(history_, {7, 0, 1188, 0}, now_).size(), 7u + 36u);
}

TEST_F(RetentionGfs, YearlyKeepsYearEnds) {
  auto kept = Keep(history_, {7, 0, 0, 3}, now_);
  EXPECT_EQ(kept.size(), 7u + 2u);  // 2022-12-31, 2023-12-31
  EXPECT_TRUE(kept.contains("2022-12-31"));
  EXPECT_TRUE(kept.contains("2023-12-31"));
  EXPECT_FALSE(kept.contains("2021-12-31"));
  // 99 years: 2021 .. 2024 have points.
  EXPECT_EQ(Keep(history_, {7, 0, 0, 99}, now_).size(), 7u + 3u);
}

TEST_F(RetentionGfs, AllTiersTogether) {
  // 7 daily + 3 more Sundays + 11 month ends + 2022-12-31 (2023-12-31 is
  // already a month end).
  auto kept = Keep(history_, {7, 4, 12, 3}, now_);
  EXPECT_EQ(kept.size(), 22u);
  // Kept ids come back in the input's order.
  auto ids = PointsToKeep(history_, {7, 4, 12, 3}, now_);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(ids.front(), "2022-12-31");
  EXPECT_EQ(ids.back(), "2024-06-16");
}

TEST_F(RetentionGfs, LatestOfAPeriodWins) {
  // A second point on the last day of May, later in the day: it is the
  // month's point, the noon one is not.
  auto points = history_;
  NamedRecoveryPoint late;
  late.id = "2024-05-31-late";
  late.point.time_ns = Ns(sys_days(2024y / May / 31), hours(20));
  points.push_back(late);
  auto kept = Keep(points, {7, 0, 2, 0}, now_);
  EXPECT_TRUE(kept.contains("2024-05-31-late"));
  EXPECT_FALSE(kept.contains("2024-05-31"));
  EXPECT_EQ(kept.size(), 8u);
}

TEST_F(RetentionGfs, DailyKeepsEveryPointOfADay) {
  auto points = history_;
  NamedRecoveryPoint morning;
  morning.id = "2024-06-15-morning";
  morning.point.time_ns = Ns(sys_days(2024y / June / 15), hours(6));
  points.push_back(morning);
  auto kept = Keep(points, {7, 0, 0, 0}, now_);
  EXPECT_EQ(kept.size(), 8u);
  EXPECT_TRUE(kept.contains("2024-06-15-morning"));
}

TEST(RetentionSelect, NewestAlwaysKept) {
  // The last backup was two years ago: no tier covers it, it stays anyway.
  auto points = DailyHistory(sys_days(2022y / January / 1), sys_days(2022y / March / 1));
  int64_t now = Ns(sys_days(2024y / June / 16), hours(12));
  auto ids = PointsToKeep(points, {7, 0, 0, 0}, now);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(ids[0], "2022-03-01");
  // A single point is kept whatever the policy.
  ids = PointsToKeep({points[0]}, {7, 0, 0, 0}, now);
  EXPECT_EQ(ids, std::vector<std::string>{"2022-01-01"});
}

TEST(RetentionSelect, PointsInTheFutureAreKept) {
  auto points = DailyHistory(sys_days(2024y / June / 1), sys_days(2024y / June / 20));
  int64_t now = Ns(sys_days(2024y / June / 16), hours(12));
  auto kept = Keep(points, {7, 0, 0, 0}, now);
  EXPECT_EQ(kept.size(), 7u + 4u);  // 06-10 .. 06-16 and the clock-skewed 06-17 .. 06-20
}

TEST(RetentionSelect, HardCap) {
  // Three points a day for 9999 days: daily selects ~30000, only 9999 stay.
  std::vector<NamedRecoveryPoint> points;
  sys_days first = sys_days(2000y / January / 1);
  for (int d = 0; d < 9999; ++d) {
    for (int h : {2, 10, 18}) {
      NamedRecoveryPoint p;
      p.id = std::to_string(d * 3 + h / 8);
      p.point.time_ns = Ns(first + days(d), hours(h));
      points.push_back(p);
    }
  }
  int64_t now = Ns(first + days(9998), hours(23));
  auto ids = PointsToKeep(points, {9999, 0, 0, 0}, now);
  ASSERT_EQ(ids.size(), 9999u);
  EXPECT_EQ(ids.back(), points.back().id);
  EXPECT_EQ(ids.front(), points[points.size() - 9999].id);
}

}  // namespace
}  // namespace obagent::engine
