// The URL reading both HTTP servers share: percent-decoding (strict or as
// browsers do, '+' as a space or as itself) and query strings split into
// decoded names and values, with a cap on how many there are.
#include "obagent/net/query.h"

#include <gtest/gtest.h>

#include <string>

namespace obagent::net {
namespace {

constexpr DecodeRules kLenientQuery{.plus_is_space = true, .strict = false};

TEST(PercentDecodeTest, Decodes) {
  EXPECT_EQ(*PercentDecode("a%2Fb%2e%2E"), "a/b..");
  EXPECT_FALSE(PercentDecode("%").ok());
  EXPECT_FALSE(PercentDecode("%4").ok());
  EXPECT_FALSE(PercentDecode("%zz").ok());
}

TEST(PercentDecodeTest, StrictOrLenientPlusOrSpace) {
  EXPECT_EQ(*PercentDecode(""), "");
  EXPECT_EQ(*PercentDecode("plain-text_1.0~"), "plain-text_1.0~");
  EXPECT_EQ(*PercentDecode("%41%62c"), "Abc");
  EXPECT_EQ(*PercentDecode("%e2%82%ac"), "\xe2\x82\xac");      // UTF-8 bytes
  EXPECT_EQ(*PercentDecode("a%00b"), std::string("a\0b", 3));  // callers validate
  EXPECT_EQ(*PercentDecode("%2525"), "%25");                   // decoded once
  // '+' is a space only when asked.
  EXPECT_EQ(*PercentDecode("a+b%2B"), "a+b+");
  EXPECT_EQ(*PercentDecode("a+b%2B", kLenientQuery), "a b+");
  // A broken escape: an error when strict, itself when lenient.
  const auto code = PercentDecode("100%").status().code();
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(PercentDecode("x%g1").status().ToString().find("x%g1"), std::string::npos);
  EXPECT_EQ(*PercentDecode("100%", kLenientQuery), "100%");
  EXPECT_EQ(*PercentDecode("%4", kLenientQuery), "%4");
  EXPECT_EQ(*PercentDecode("%zz%41", kLenientQuery), "%zzA");
  EXPECT_EQ(*PercentDecode("%%41", kLenientQuery), "%A");
}

TEST(ParseQueryTest, SplitsAndDecodesPairs) {
  auto q = ParseQuery("prefix=index%2F&marker=index%2F3&flag&empty=&eq=a=b");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(*q, (QueryParams{{"prefix", "index/"},
                             {"marker", "index/3"},
                             {"flag", ""},
                             {"empty", ""},
                             {"eq", "a=b"}}));
  EXPECT_TRUE(ParseQuery("")->empty());
  EXPECT_TRUE(ParseQuery("&&&")->empty());
  // Empty pieces are no pairs; a repeated name keeps its last value.
  EXPECT_EQ(*ParseQuery("&a=1&&a=2&"), (QueryParams{{"a", "2"}}));
  // Names are decoded too.
  EXPECT_EQ(*ParseQuery("a%20b=c"), (QueryParams{{"a b", "c"}}));
}

TEST(ParseQueryTest, TheConsolesAndVaultdsRules) {
  // The console: '+' is a space, broken escapes stay.
  const QueryRules console{.decode = kLenientQuery};
  EXPECT_EQ(*ParseQuery("path=%2Fhome%2Fme+too&pattern=50%", console),
            (QueryParams{{"path", "/home/me too"}, {"pattern", "50%"}}));
  // vaultd: '+' is itself, a pair that does not decode is left out.
  const QueryRules vaultd{.skip_undecodable = true};
  EXPECT_EQ(*ParseQuery("prefix=a+b&marker=%zz&x%=1", vaultd), (QueryParams{{"prefix", "a+b"}}));
  // Without skipping, the broken pair fails the query, naming it.
  auto strict = ParseQuery("prefix=a&marker=%zz");
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(strict.status().ToString().find("%zz"), std::string::npos);
}

TEST(ParseQueryTest, TooManyParametersAreRefused) {
  std::string query;
  for (int i = 0; i < 64; ++i) query += "p" + std::to_string(i) + "=" + std::to_string(i) + "&";
  auto at_cap = ParseQuery(query);
  ASSERT_TRUE(at_cap.ok()) << at_cap.status().ToString();
  EXPECT_EQ(at_cap->size(), 64u);
  auto over = ParseQuery(query + "one=more");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(over.status().ToString().find("64"), std::string::npos);
  // Repeats count as pairs: the cap bounds the work, not the map.
  std::string repeats;
  for (int i = 0; i < 65; ++i) repeats += "a=1&";
  EXPECT_FALSE(ParseQuery(repeats).ok());
  EXPECT_EQ(ParseQuery(repeats, {.max_params = 65})->size(), 1u);
}

}  // namespace
}  // namespace obagent::net
