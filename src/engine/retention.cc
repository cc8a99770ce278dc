#include "obagent/engine/retention.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>

namespace obagent::engine {

namespace {

using namespace std::chrono;

Status OutOfRange(const std::string& tier, int min, int max, const std::string& unit, int got,
                  bool may_be_off) {
  std::string text = tier + " retention must be ";
  if (may_be_off) text += "0 (off) or ";
  text += "between " + std::to_string(min) + " and " + std::to_string(max) + " " + unit + ", got " +
          std::to_string(got);
  return InvalidArgument(text);
}

struct Calendar {
  int64_t day;    // days since the epoch
  int64_t week;   // Monday of the ISO week, in days since the epoch
  int64_t month;  // year * 12 + month - 1
  int64_t year;
};

Calendar CalendarOf(int64_t ns) {
  sys_days day = floor<days>(sys_time<nanoseconds>(nanoseconds(ns)));
  year_month_day ymd(day);
  sys_days monday = day - days(weekday(day).iso_encoding() - 1);
  int64_t year = static_cast<int>(ymd.year());
  return {day.time_since_epoch().count(), monday.time_since_epoch().count(),
          year * 12 + static_cast<unsigned>(ymd.month()) - 1, year};
}

}  // namespace

Status RetentionPolicy::Validate() const {
  if (daily_days < 7 || daily_days > 9999) {
    return OutOfRange("daily", 7, 9999, "days", daily_days, false);
  }
  if (weekly_weeks < 0 || weekly_weeks > 5163) {
    return OutOfRange("weekly", 1, 5163, "weeks", weekly_weeks, true);
  }
  if (monthly_months < 0 || monthly_months > 1188) {
    return OutOfRange("monthly", 1, 1188, "months", monthly_months, true);
  }
  if (yearly_years < 0 || yearly_years > 99) {
    return OutOfRange("yearly", 1, 99, "years", yearly_years, true);
  }
  int total = daily_days + weekly_weeks + monthly_months + yearly_years;
  if (total > kMaxRetainedPoints) {
    return InvalidArgument(
        "the retention policy keeps up to " + std::to_string(total) + " recovery points (" +
        std::to_string(daily_days) + " daily + " + std::to_string(weekly_weeks) + " weekly + " +
        std::to_string(monthly_months) + " monthly + " + std::to_string(yearly_years) +
        " yearly); at most " + std::to_string(kMaxRetainedPoints) + " are allowed");
  }
  return Status::Ok();
}

std::vector<std::string> PointsToKeep(const std::vector<NamedRecoveryPoint>& points,
                                      const RetentionPolicy& policy, int64_t now_ns) {
  const size_t n = points.size();
  if (n == 0) return {};
  // Positions ordered by time, then id: "latest" is well defined.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(points[a].point.time_ns, points[a].id) <
           std::tie(points[b].point.time_ns, points[b].id);
  });

  const Calendar now = CalendarOf(now_ns);
  std::vector<bool> keep(n, false);
  keep[order.back()] = true;  // the newest point, always

  // Latest point of each period, per tier: period key -> position.
  std::map<int64_t, size_t> latest_week, latest_month, latest_year;
  for (size_t i : order) {  // oldest first: later assignments win
    Calendar c = CalendarOf(points[i].point.time_ns);
    // How many periods back from now (negative: in the future, counts as now).
    if (now.day - c.day < policy.daily_days) keep[i] = true;
    latest_week[c.week] = i;
    latest_month[c.month] = i;
    latest_year[c.year] = i;
  }
  for (const auto& [week, i] : latest_week) {
    if ((now.week - week) / 7 < policy.weekly_weeks) keep[i] = true;
  }
  for (const auto& [month, i] : latest_month) {
    if (now.month - month < policy.monthly_months) keep[i] = true;
  }
  for (const auto& [year, i] : latest_year) {
    if (now.year - year < policy.yearly_years) keep[i] = true;
  }

  // The hard cap: the newest kMaxRetainedPoints of those selected.
  size_t kept = 0;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (!keep[*it]) continue;
    if (++kept > static_cast<size_t>(kMaxRetainedPoints)) keep[*it] = false;
  }

  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) {
    if (keep[i]) ids.push_back(points[i].id);
  }
  return ids;
}

}  // namespace obagent::engine
