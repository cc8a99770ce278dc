// bounded_json: depth and size are refused before nlohmann recurses.
#include "obagent/core/bounded_json.h"

#include <gtest/gtest.h>

#include <string>

namespace obagent::bounded_json {
namespace {

std::string Nested(size_t levels, char open = '[', char close = ']') {
  return std::string(levels, open) + std::string(levels, close);
}

TEST(BoundedJson, HundredThousandLevelsAreRefusedWithoutParsing) {
  // nlohmann alone crashes (stack overflow) at this depth.
  std::string text = Nested(100000);
  Limits limits;
  limits.max_bytes = 1 << 20;
  EXPECT_EQ(Check(text, limits), Violation::kTooDeep);
  auto j = Parse(text, limits, "the job report");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(j.status().detail(), "the job report is nested deeper than 64 levels");
}

TEST(BoundedJson, DepthAtTheLimitParses) {
  Limits limits;
  limits.max_depth = 5;
  EXPECT_TRUE(Parse(Nested(5), limits).ok());
  EXPECT_EQ(Check(Nested(6), limits), Violation::kTooDeep);
  EXPECT_EQ(Check(R"({"a":{"b":{"c":{"d":{"e":{}}}}}})", limits), Violation::kTooDeep);
  EXPECT_EQ(Check(R"({"a":{"b":{"c":{"d":{"e":1}}}}})", limits), Violation::kNone);
}

TEST(BoundedJson, BracketsInsideStringsDoNotCount) {
  Limits limits;
  limits.max_depth = 3;
  std::string text = R"({"a":"[[[[[{{{{\"[[[[","b":["\\",{"c":"]]]]"}]})";
  EXPECT_EQ(Check(text, limits), Violation::kNone);
  auto j = Parse(text, limits);
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["a"], "[[[[[{{{{\"[[[[");
  // Closers in a string do not lower the depth either.
  EXPECT_EQ(Check(R"([["]]]]]]",[1]]])", limits), Violation::kNone);
  EXPECT_EQ(Check(R"([["]]]]]]",[[1]]]])", limits), Violation::kTooDeep);
}

TEST(BoundedJson, SizeIsCheckedFirst) {
  Limits limits;
  limits.max_bytes = 10;
  EXPECT_EQ(Check("[1,2,3,4,5]", limits), Violation::kTooLarge);
  auto j = Parse("[1,2,3,4,5]", limits, "the request body");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().detail(), "the request body is larger than 10 bytes");
  EXPECT_TRUE(Parse("[1,2,3,4]", limits).ok());
}

TEST(BoundedJson, SyntaxErrorsAreErrors) {
  auto j = Parse("{\"a\":", Limits{}, "the line");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().detail(), "the line is not valid JSON");
  EXPECT_FALSE(Parse("]]]]", Limits{}).ok());
}

}  // namespace
}  // namespace obagent::bounded_json
