#include "obagent/cmdline/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace obagent::cmdline {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The options of a command like "recover" and "job stop" together: one of
// every target type.
struct Fixture {
  std::string point;
  std::string target = "/original";
  int timeout = 120;
  size_t threads = 0;
  double hours = 48;
  bool dry_run = false;
  std::optional<std::string> source;
  std::optional<int> daily;
  std::optional<double> validity;
  std::vector<std::string> items;
  OptionSet options{"test"};

  Fixture() {
    options.Add("point", &point, "recovery point").Required();
    options.Add("target", &target, "where to");
    options.Add("timeout", &timeout, "seconds");
    options.Add("threads", &threads, "workers");
    options.Add("hours", &hours, "hours");
    options.Add("dry-run", &dry_run, "change nothing");
    options.Add("source", &source, "other machine");
    options.Add("daily", &daily, "days");
    options.Add("validity", &validity, "hours");
    options.Add("item", &items, "paths");
  }
  std::string Error(const std::vector<std::string>& words) {
    Status st = options.Parse(words);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
    return st.detail();
  }
};

TEST(OptionSet, SpaceAndEqualsFormsGiveTypedValues) {
  Fixture f;
  ASSERT_TRUE(f.options
                  .Parse({"--point", "abc", "--timeout=30", "--threads", "4", "--hours=1.5",
                          "--source", "host-a", "--daily=7", "--validity", "1e3"})
                  .ok());
  EXPECT_EQ(f.point, "abc");
  EXPECT_EQ(f.timeout, 30);
  EXPECT_EQ(f.threads, 4u);
  EXPECT_DOUBLE_EQ(f.hours, 1.5);
  EXPECT_EQ(f.source, "host-a");
  EXPECT_EQ(f.daily, 7);
  EXPECT_EQ(f.validity, 1000.0);
}

TEST(OptionSet, DefaultsStayAndOptionalsStayEmptyWhenNotGiven) {
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--point", "p"}).ok());
  EXPECT_EQ(f.target, "/original");
  EXPECT_EQ(f.timeout, 120);
  EXPECT_EQ(f.threads, 0u);
  EXPECT_FALSE(f.dry_run);
  EXPECT_EQ(f.source, std::nullopt);
  EXPECT_EQ(f.daily, std::nullopt);
  EXPECT_THAT(f.items, IsEmpty());
  EXPECT_TRUE(f.options.Given("point"));
  EXPECT_FALSE(f.options.Given("timeout"));
  EXPECT_FALSE(f.options.Given("no-such-option"));
}

TEST(OptionSet, GivenSeesAnOptionSetToItsDefaultValue) {
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--point", "p", "--timeout", "120"}).ok());
  EXPECT_TRUE(f.options.Given("timeout"));
}

TEST(OptionSet, ValueMayLookLikeAnOption) {
  // As with Boost: the word after a value option is its value.
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--point", "--dry-run", "--timeout", "-5"}).ok());
  EXPECT_EQ(f.point, "--dry-run");
  EXPECT_EQ(f.timeout, -5);
  EXPECT_FALSE(f.dry_run);
}

TEST(OptionSet, EqualsKeepsTheRestOfTheWord) {
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--point=a=b", "--target=C:\\data dir"}).ok());
  EXPECT_EQ(f.point, "a=b");
  EXPECT_EQ(f.target, "C:\\data dir");
}

TEST(OptionSet, ListTakesWordsUpToTheNextOptionAndCollectsRepeats) {
  Fixture f;
  ASSERT_TRUE(f.options
                  .Parse({"--item", "/a", "/b c", "-", "--dry-run", "--item=/d", "--item", "/e",
                          "--point", "p"})
                  .ok());
  EXPECT_THAT(f.items, ElementsAre("/a", "/b c", "-", "/d", "/e"));
  EXPECT_TRUE(f.dry_run);
  EXPECT_EQ(f.point, "p");
}

TEST(OptionSet, SwitchTakesNoValue) {
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--dry-run", "--point", "p"}).ok());
  EXPECT_TRUE(f.dry_run);
  Fixture g;
  EXPECT_EQ(g.Error({"--dry-run=true", "--point", "p"}),
            "option '--dry-run' does not take any arguments");
}

TEST(OptionSet, UnknownOptionsAreNamed) {
  EXPECT_EQ(Fixture().Error({"--bogus", "1"}), "unrecognised option '--bogus'");
  EXPECT_EQ(Fixture().Error({"--bogus=1"}), "unrecognised option '--bogus'");
  EXPECT_EQ(Fixture().Error({"-p", "x"}), "unrecognised option '-p'");
  EXPECT_EQ(Fixture().Error({"---point", "x"}), "unrecognised option '---point'");
}

TEST(OptionSet, NamesAreNotAbbreviated) {
  EXPECT_EQ(Fixture().Error({"--poi", "x"}), "unrecognised option '--poi'");
}

TEST(OptionSet, MissingValue) {
  EXPECT_EQ(Fixture().Error({"--point"}), "the required argument for option '--point' is missing");
  EXPECT_EQ(Fixture().Error({"--point", "p", "--item"}),
            "the required argument for option '--item' is missing");
  EXPECT_EQ(Fixture().Error({"--point="}),
            "the argument for option '--point' should follow immediately after the equal sign");
}

TEST(OptionSet, MissingRequiredOption) {
  EXPECT_EQ(Fixture().Error({"--timeout", "3"}), "the option '--point' is required but missing");
  EXPECT_EQ(Fixture().Error({}), "the option '--point' is required but missing");
}

TEST(OptionSet, ScalarGivenTwiceIsRefused) {
  EXPECT_EQ(Fixture().Error({"--point", "a", "--point", "b"}),
            "option '--point' cannot be specified more than once");
  EXPECT_EQ(Fixture().Error({"--point", "a", "--daily=7", "--daily=8"}),
            "option '--daily' cannot be specified more than once");
}

TEST(OptionSet, BadNumbersNameTheWordAndTheOption) {
  for (const std::vector<std::string>& words : {
           std::vector<std::string>{"--timeout", "abc"},
           {"--timeout", "1.5"},
           {"--timeout", " 5"},
           {"--timeout", "5 "},
           {"--timeout", "12abc"},
           {"--timeout", "3000000000"},  // beyond int
           {"--timeout", "0x10"},
           {"--timeout", ""},
       }) {
    EXPECT_EQ(Fixture().Error(words),
              "the argument ('" + words[1] + "') for option '--timeout' is invalid")
        << words[1];
  }
  EXPECT_EQ(Fixture().Error({"--threads", "-1"}),
            "the argument ('-1') for option '--threads' is invalid");
  EXPECT_EQ(Fixture().Error({"--threads", "99999999999999999999999"}),
            "the argument ('99999999999999999999999') for option '--threads' is invalid");
  EXPECT_EQ(Fixture().Error({"--hours", "fast"}),
            "the argument ('fast') for option '--hours' is invalid");
  EXPECT_EQ(Fixture().Error({"--daily=seven"}),
            "the argument ('seven') for option '--daily' is invalid");
}

TEST(OptionSet, NumberLimitsAndSigns) {
  Fixture f;
  ASSERT_TRUE(f.options
                  .Parse({"--point", "p", "--timeout", "-2147483648", "--threads",
                          "18446744073709551615", "--daily", "+7"})
                  .ok());
  EXPECT_EQ(f.timeout, std::numeric_limits<int>::min());
  EXPECT_EQ(f.threads, std::numeric_limits<size_t>::max());
  EXPECT_EQ(f.daily, 7);
}

TEST(OptionSet, PositionalWordsFillMarkedOptionsInOrder) {
  std::string name, path = "/";
  OptionSet options("recovery items");
  options.Add("name", &name, "vault name").Required().Positional();
  options.Add("path", &path, "folder").Positional();
  ASSERT_TRUE(options.Parse({"vault-1", "/docs"}).ok());
  EXPECT_EQ(name, "vault-1");
  EXPECT_EQ(path, "/docs");
}

TEST(OptionSet, PositionalOptionCanBeNamedButNotBoth) {
  std::string name;
  OptionSet options("vault create");
  options.Add("name", &name, "vault name").Required().Positional();
  ASSERT_TRUE(options.Parse({"--name", "v"}).ok());
  EXPECT_EQ(name, "v");
  std::string other;
  OptionSet again("vault create");
  again.Add("name", &other, "vault name").Required().Positional();
  Status st = again.Parse({"a", "--name", "b"});
  EXPECT_EQ(st.detail(), "option '--name' cannot be specified more than once");
}

TEST(OptionSet, PositionalListTakesEveryWord) {
  std::vector<std::string> paths;
  OptionSet options("policy remove-filespec");
  options.Add("path", &paths, "spec paths").Required().Positional();
  ASSERT_TRUE(options.Parse({"/a", "--path", "/b", "/c", "--", "--d"}).ok());
  EXPECT_THAT(paths, ElementsAre("/a", "/b", "/c", "--d"));
}

TEST(OptionSet, WordsNoOptionTakesAreRefused) {
  std::string id;
  OptionSet options("job stop");
  options.Add("id", &id, "job id").Required().Positional();
  EXPECT_EQ(options.Parse({"abc", "def"}).detail(), "unexpected argument 'def'");
  OptionSet none("backup now");
  EXPECT_EQ(none.Parse({"extra"}).detail(), "unexpected argument 'extra'");
}

TEST(OptionSet, DoubleDashEndsOptions) {
  std::string name;
  OptionSet options("vault create");
  options.Add("name", &name, "vault name").Positional();
  ASSERT_TRUE(options.Parse({"--", "--weird-name"}).ok());
  EXPECT_EQ(name, "--weird-name");
}

TEST(OptionSet, HelpSkipsTheRequiredCheck) {
  Fixture f;
  ASSERT_TRUE(f.options.Parse({"--help"}).ok());
  EXPECT_TRUE(f.options.HelpRequested());
  Fixture g;
  ASSERT_TRUE(g.options.Parse({"-h"}).ok());
  EXPECT_TRUE(g.options.HelpRequested());
  Fixture h;
  ASSERT_TRUE(h.options.Parse({"--point", "p"}).ok());
  EXPECT_FALSE(h.options.HelpRequested());
}

TEST(OptionSet, HelpListsVisibleOptionsWithDefaults) {
  std::string state_dir = "/var/lib/obagent";
  bool foreground = false;
  int keep_last = 0;
  std::vector<std::string> includes;
  OptionSet options("cbengine");
  options.Add("state-dir", &state_dir, "the agent's state folder");
  options.Add("foreground", &foreground, "run in this terminal");
  options.Add("include", &includes, "paths").Required();
  options.Add("keep-last", &keep_last, "tests only").Hidden();
  EXPECT_EQ(options.Help(),
            "  --help, -h                    this text\n"
            "  --state-dir arg (=/var/lib/obagent)\n"
            "                                the agent's state folder\n"
            "  --foreground                  run in this terminal\n"
            "  --include arg... (required)   paths\n");
}

TEST(OptionSet, HelpWrapsLongDescriptionsInTheirColumn) {
  std::vector<std::string> includes;
  OptionSet options("policy new");
  options.Add("include", &includes,
              "absolute paths to back up; wildcards ('*', '?') only in the last component "
              "(/data/*.log)");
  EXPECT_EQ(options.Help(),
            "  --help, -h                    this text\n"
            "  --include arg...              absolute paths to back up; wildcards ('*', '?')\n"
            "                                only in the last component (/data/*.log)\n");
}

TEST(OptionSet, HiddenOptionsStillParse) {
  std::optional<int> keep_last;
  OptionSet options("prune");
  options.Add("keep-last", &keep_last, "tests only").Hidden();
  ASSERT_TRUE(options.Parse({"--keep-last", "1"}).ok());
  EXPECT_EQ(keep_last, 1);
}

}  // namespace
}  // namespace obagent::cmdline
