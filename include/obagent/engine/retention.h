// Retention: which recovery points a machine keeps, grandfather-father-son
// as the MARS agent does it. All calendar arithmetic is in UTC.
//
//   daily    every point of the last `daily_days` calendar days (today counts
//            as the first), 7..9999 — required, as in MARS;
//   weekly   the latest point of each of the last `weekly_weeks` ISO weeks
//            (Monday to Sunday; the current week counts), 0 = off, 1..5163;
//   monthly  the latest point of each of the last `monthly_months` calendar
//            months, 0 = off, 1..1188;
//   yearly   the latest point of each of the last `yearly_years` calendar
//            years, 0 = off, 1..99.
//
// A point is kept when any tier keeps it; the newest point is always kept,
// however old it is. A valid policy names at most kMaxRetainedPoints points
// (counting one per day for the daily tier); should several backups a day
// still select more, only the newest kMaxRetainedPoints are kept.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/engine/repository.h"
#include "obagent/status.h"

namespace obagent::engine {

inline constexpr int kMaxRetainedPoints = 9999;

struct RetentionPolicy {
  int daily_days = 7;
  int weekly_weeks = 0;
  int monthly_months = 0;
  int yearly_years = 0;

  // kInvalidArgument naming the field, its bounds and the value given.
  Status Validate() const;
};

// The ids of the points to keep, in the order of `points`. Pure: `now_ns` is
// the current time (ns since the Unix epoch, UTC); points newer than now
// count as today. Does not validate the policy.
std::vector<std::string> PointsToKeep(const std::vector<NamedRecoveryPoint>& points,
                                      const RetentionPolicy& policy, int64_t now_ns);

}  // namespace obagent::engine
