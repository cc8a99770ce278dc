// ResolveDotsLexically (src/platform/lexical_path.h), the part of
// Env::AbsolutePath that both OSes share.
#include "platform/lexical_path.h"

#include <gtest/gtest.h>

namespace obagent::platform {
namespace {

TEST(ResolveDotsLexicallyTest, DropsEmptyAndDotComponents) {
  EXPECT_EQ(ResolveDotsLexically("", "/a//./b/."), "/a/b");
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/"), "/a/b");
}

TEST(ResolveDotsLexicallyTest, DotDotRemovesTheComponentBefore) {
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/../c"), "/a/c");
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/../../c/d/.."), "/c");
}

TEST(ResolveDotsLexicallyTest, DotDotAtTheRootStaysThere) {
  EXPECT_EQ(ResolveDotsLexically("", "/../../etc"), "/etc");
  EXPECT_EQ(ResolveDotsLexically("C:", "/x/../../.."), "C:/");
}

TEST(ResolveDotsLexicallyTest, NothingLeftIsTheRootItself) {
  EXPECT_EQ(ResolveDotsLexically("", ""), "/");
  EXPECT_EQ(ResolveDotsLexically("", "/a/.."), "/");
  EXPECT_EQ(ResolveDotsLexically("//server/share", ""), "//server/share/");
}

TEST(ResolveDotsLexicallyTest, KeepsTheRootAsGivenAndNamesThatOnlyStartWithDots) {
  EXPECT_EQ(ResolveDotsLexically("C:", "/Users/./x/..y/...z"), "C:/Users/x/..y/...z");
  EXPECT_EQ(ResolveDotsLexically("//server/share", "/d/../e"), "//server/share/e");
}

}  // namespace
}  // namespace obagent::platform
