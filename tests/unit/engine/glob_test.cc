#include "engine/glob.h"

#include <gtest/gtest.h>

namespace obagent::engine {
namespace {

TEST(Glob, StarStaysWithinComponent) {
  EXPECT_TRUE(GlobMatch("*.tmp", "a.tmp"));
  EXPECT_TRUE(GlobMatch("*.tmp", ".tmp"));
  EXPECT_FALSE(GlobMatch("*.tmp", "a.tmp.x"));
  EXPECT_FALSE(GlobMatch("/data/*.tmp", "/data/sub/a.tmp"));
  EXPECT_TRUE(GlobMatch("/data/*/a.tmp", "/data/sub/a.tmp"));
}

TEST(Glob, DoubleStarCrossesComponents) {
  EXPECT_TRUE(GlobMatch("/data/**/a.tmp", "/data/x/y/a.tmp"));
  EXPECT_TRUE(GlobMatch("/data/**/a.tmp", "/data/a.tmp"));
  EXPECT_TRUE(GlobMatch("/data/**", "/data/x/y"));
  EXPECT_FALSE(GlobMatch("/data/**/a.tmp", "/other/a.tmp"));
}

TEST(Glob, QuestionMarkAndClasses) {
  EXPECT_TRUE(GlobMatch("file?.txt", "file1.txt"));
  EXPECT_FALSE(GlobMatch("file?.txt", "file10.txt"));
  EXPECT_TRUE(GlobMatch("[abc]x", "bx"));
  EXPECT_FALSE(GlobMatch("[abc]x", "dx"));
  EXPECT_TRUE(GlobMatch("[a-c]x", "cx"));
  EXPECT_TRUE(GlobMatch("[!a-c]x", "dx"));
  EXPECT_FALSE(GlobMatch("[!a-c]x", "ax"));
  EXPECT_TRUE(GlobMatch("[x", "[x"));  // malformed class is literal
}

TEST(Glob, ExcludedByUsesNameOrPath) {
  EXPECT_TRUE(ExcludedBy("*.log", "/var/app/x.log", "x.log"));
  EXPECT_FALSE(ExcludedBy("/var/*.log", "/var/app/x.log", "x.log"));
  EXPECT_TRUE(ExcludedBy("/var/app", "/var/app", "app"));
  EXPECT_FALSE(ExcludedBy("/var/app", "/var/app2", "app2"));
}

}  // namespace
}  // namespace obagent::engine
