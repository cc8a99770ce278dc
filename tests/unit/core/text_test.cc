// The one time format (text::FormatIsoUtc): ISO 8601, UTC, "Z", a fraction
// of a second only when the time has one.
#include "obagent/core/text.h"

#include <gtest/gtest.h>

namespace obagent::text {
namespace {

TEST(FormatIsoUtc, WholeSecondsHaveNoFraction) {
  EXPECT_EQ(FormatIsoUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIsoUtc(1796575200), "2026-12-06T16:40:00Z");
  EXPECT_EQ(FormatIsoUtcNs(int64_t{1796575200} * 1000000000), "2026-12-06T16:40:00Z");
}

TEST(FormatIsoUtc, FractionKeepsItsDigitsWithoutTrailingZeros) {
  EXPECT_EQ(FormatIsoUtc(1796575200, 500000000), "2026-12-06T16:40:00.5Z");
  EXPECT_EQ(FormatIsoUtc(1796575200, 123456789), "2026-12-06T16:40:00.123456789Z");
  EXPECT_EQ(FormatIsoUtc(1796575200, 1000), "2026-12-06T16:40:00.000001Z");
  EXPECT_EQ(FormatIsoUtcNs(int64_t{1796575200} * 1000000000 + 120000000),
            "2026-12-06T16:40:00.12Z");
}

TEST(FormatIsoUtc, TimesBefore1970AndLeapDays) {
  // 1969-12-31T23:59:59.75: the fraction stays positive, the second floors.
  EXPECT_EQ(FormatIsoUtcNs(-250000000), "1969-12-31T23:59:59.75Z");
  EXPECT_EQ(FormatIsoUtc(951782400), "2000-02-29T00:00:00Z");
}

}  // namespace
}  // namespace obagent::text
