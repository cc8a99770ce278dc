#include "obagent/engine/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "engine/glob.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// 2024-01-01 00:00:00 UTC, a Monday.
constexpr int64_t kMonday = 1704067200;
constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 86400;

Policy ValidPolicy() {
  Policy p;
  p.specs = {{"/data", false, true}, {"/data/tmp", true, true}};
  p.schedule = {{1, 3}, {21 * 60 + 30}};
  p.daily_days = 30;
  p.modified = kMonday;
  return p;
}

std::string SpecsError(const std::vector<FileSpec>& specs) {
  Status st = ValidateSpecs(specs);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  return st.detail();
}

std::string ScheduleError(const Schedule& schedule) {
  Status st = ValidateSchedule(schedule);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  return st.detail();
}

TEST(PolicyValidate, AcceptsAValidPolicy) {
  EXPECT_TRUE(ValidatePolicy(ValidPolicy()).ok()) << ValidatePolicy(ValidPolicy()).ToString();
  Policy p = ValidPolicy();
  p.specs = {
      {"C:/Users", false, true}, {"C:/Users/*.tmp", true, true}, {"/srv/*.db", false, false}};
  EXPECT_TRUE(ValidatePolicy(p).ok()) << ValidatePolicy(p).ToString();
}

TEST(PolicyValidate, NeedsAnInclude) {
  EXPECT_THAT(SpecsError({}), HasSubstr("includes nothing"));
  EXPECT_THAT(SpecsError({{"/data/tmp", true, true}}), HasSubstr("includes nothing"));
}

TEST(PolicyValidate, PathsAreAbsoluteAndNormalized) {
  EXPECT_THAT(SpecsError({{"data", false, true}}), HasSubstr("'data' is not an absolute path"));
  EXPECT_THAT(SpecsError({{"", false, true}}), HasSubstr("empty"));
  EXPECT_THAT(SpecsError({{"/data/", false, true}}), HasSubstr("'/data/' ends with '/'"));
  EXPECT_THAT(SpecsError({{"/a//b", false, true}}), HasSubstr("'/a//b' has an empty component"));
  EXPECT_THAT(SpecsError({{"/a/../b", false, true}}), HasSubstr("'/a/../b' has a '..' component"));
  EXPECT_THAT(SpecsError({{"/a/./b", false, true}}), HasSubstr("has a '.' component"));
  EXPECT_THAT(SpecsError({{"C:\\data", false, true}}), HasSubstr("'/' separators"));
}

TEST(PolicyValidate, WildcardsOnlyInLastComponent) {
  EXPECT_THAT(SpecsError({{"/da*a/x", false, true}}),
              HasSubstr("'/da*a/x': wildcards ('*', '?') are allowed only in the last component, "
                        "not in 'da*a'"));
  EXPECT_TRUE(ValidateSpecs({{"/data/x?.log", false, true}}).ok());
}

TEST(PolicyValidate, NoDuplicateSpec) {
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/data", false, false}}),
              HasSubstr("'/data' is given twice"));
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/data", true, true}}),
              HasSubstr("'/data' is given twice"));
}

TEST(PolicyValidate, ExcludesLieUnderAnInclude) {
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/other/tmp", true, true}}),
              HasSubstr("exclude '/other/tmp' lies under no included folder"));
  // A sibling with a common prefix is not under the include.
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/data2/x", true, true}}),
              HasSubstr("exclude '/data2/x'"));
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/*.tmp", true, true}}),
              HasSubstr("exclude '/*.tmp'"));
  EXPECT_TRUE(ValidateSpecs({{"/data", false, true}, {"/data/*.tmp", true, true}}).ok());
  EXPECT_TRUE(ValidateSpecs({{"/data/*.log", false, true}, {"/data/old", true, true}}).ok());
}

TEST(PolicyValidate, IncludesDoNotNest) {
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/data/sub", false, true}}),
              HasSubstr("include '/data/sub' lies inside the include '/data'"));
  EXPECT_THAT(SpecsError({{"/data", false, false}, {"/data/sub", false, true}}),
              HasSubstr("include '/data/sub' lies inside the non-recursive include '/data'"));
  EXPECT_THAT(SpecsError({{"/data", false, true}, {"/data/*.log", false, true}}),
              HasSubstr("include '/data/*.log' lies inside the include '/data'"));
  // Wildcard includes may share a folder, and a plain include may lie in a
  // wildcard include's folder.
  EXPECT_TRUE(ValidateSpecs({{"/data/*.log", false, true}, {"/data/*.txt", false, true}}).ok());
  EXPECT_TRUE(ValidateSpecs({{"/data/*.log", false, true}, {"/data/sub", false, false}}).ok());
}

TEST(PolicyValidate, ScheduleDays) {
  EXPECT_THAT(ScheduleError({{}, {60}}), HasSubstr("no day"));
  EXPECT_THAT(ScheduleError({{7}, {60}}), HasSubstr("day 7 is not a day of the week"));
  EXPECT_THAT(ScheduleError({{-1}, {60}}), HasSubstr("day -1 is not a day of the week"));
  EXPECT_THAT(ScheduleError({{1, 1}, {60}}), HasSubstr("day Mon is given twice"));
}

TEST(PolicyValidate, ScheduleTimes) {
  EXPECT_THAT(ScheduleError({{1}, {}}), HasSubstr("no time of day"));
  EXPECT_THAT(ScheduleError({{1}, {60, 120, 180, 240}}),
              HasSubstr("4 times of day (01:00, 02:00, 03:00, 04:00); at most 3"));
  EXPECT_THAT(ScheduleError({{1}, {1440}}), HasSubstr("time of day 1440"));
  EXPECT_THAT(ScheduleError({{1}, {-5}}), HasSubstr("time of day -5"));
  EXPECT_THAT(ScheduleError({{1}, {90, 90}}), HasSubstr("time 01:30 is given twice"));
  EXPECT_TRUE(ValidateSchedule({{0, 1, 2, 3, 4, 5, 6}, {0, 720, 1439}}).ok());
}

TEST(PolicyValidate, RetentionUsesMarsBounds) {
  Policy p = ValidPolicy();
  p.daily_days = 6;
  Status st = ValidatePolicy(p);
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(st.detail(), HasSubstr("6"));
  p.daily_days = 9999;
  p.weekly_weeks = 1;
  EXPECT_FALSE(ValidatePolicy(p).ok());  // more than 9999 points
  p.daily_days = 30;
  p.yearly_years = 100;
  EXPECT_THAT(ValidatePolicy(p).detail(), HasSubstr("100"));
}

TEST(PolicyValidate, VersionIsChecked) {
  Policy p = ValidPolicy();
  p.version = 2;
  EXPECT_EQ(ValidatePolicy(p).code(), ErrorCode::kUnsupportedVersion);
}

TEST(PolicyParse, DaysAndTimes) {
  EXPECT_EQ(*ParseDay("Mon"), 1);
  EXPECT_EQ(*ParseDay("sunday"), 0);
  EXPECT_EQ(*ParseDay("SAT"), 6);
  EXPECT_THAT(ParseDay("Mox").status().detail(), HasSubstr("'Mox' is not a day of the week"));
  EXPECT_EQ(*ParseTimeOfDay("21:30"), 21 * 60 + 30);
  EXPECT_EQ(*ParseTimeOfDay("3:05"), 185);
  EXPECT_EQ(*ParseTimeOfDay("00:00"), 0);
  EXPECT_EQ(*ParseTimeOfDay("23:59"), 1439);
  for (const char* bad : {"24:00", "12:60", "1230", "12:3", ":30", "123:00", "a1:00", ""}) {
    EXPECT_FALSE(ParseTimeOfDay(bad).ok()) << bad;
  }
  EXPECT_THAT(ParseTimeOfDay("24:00").status().detail(), HasSubstr("'24:00'"));
  EXPECT_EQ(FormatTimeOfDay(185), "03:05");
}

TEST(PolicyJson, RoundTrip) {
  Policy p = ValidPolicy();
  p.specs.push_back({"/data/*.log", true, false});
  p.schedule = {{0, 6, 3}, {1439, 0, 600}};
  p.weekly_weeks = 4;
  p.monthly_months = 12;
  p.yearly_years = 10;
  p.paused = true;
  Result<Policy> back = ParsePolicy(SerializePolicy(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

// The restore drill: stored only when scheduled, validated like the backup
// schedule plus its sample.
TEST(PolicyJson, RecoveryTestRoundTripAndValidation) {
  Policy p = ValidPolicy();
  EXPECT_EQ(SerializePolicy(p).find("recovery_test"), std::string::npos);
  p.recovery_test = RecoveryTestPolicy{{{0}, {180}}, 50, 0};
  Result<Policy> back = ParsePolicy(SerializePolicy(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  p.recovery_test->sample_percent = 12.5;
  back = ParsePolicy(SerializePolicy(p));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->recovery_test->sample_percent, 12.5);
  p.recovery_test->sample_percent = 150;
  EXPECT_NE(ValidatePolicy(p).ToString().find("recovery test"), std::string::npos);
  p.recovery_test->sample_percent = 0;
  p.recovery_test->sample_files = 0;
  EXPECT_FALSE(ValidatePolicy(p).ok());
  p.recovery_test->sample_files = 10;
  p.recovery_test->schedule.minutes_of_day.clear();
  EXPECT_NE(ValidatePolicy(p).ToString().find("recovery test: the schedule has no time"),
            std::string::npos);
}

TEST(PolicyJson, RefusesUnknownVersion) {
  std::string text = SerializePolicy(ValidPolicy());
  size_t at = text.find("\"version\": 1");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 12, "\"version\": 2");
  Result<Policy> p = ParsePolicy(text);
  EXPECT_EQ(p.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(p.status().detail(), HasSubstr("version 2"));
}

TEST(PolicyJson, RefusesMalformedAndInvalid) {
  EXPECT_EQ(ParsePolicy("not json").status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParsePolicy("{}").status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(ParsePolicy(R"({"version": 1})").status().code(), ErrorCode::kCorrupt);
  Policy p = ValidPolicy();
  std::string text = SerializePolicy(p);
  size_t at = text.find("\"Wed\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 5, "\"Mon\"");  // a day twice
  Result<Policy> bad = ParsePolicy(text);
  EXPECT_EQ(bad.status().code(), ErrorCode::kCorrupt);
  EXPECT_THAT(bad.status().detail(), HasSubstr("day Mon is given twice"));
}

class PolicyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-policy-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Touch(const std::string& rel) {
    fs::path p = fs::path(dir_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << rel;
  }

  std::string dir_;
  platform::Env& env_ = platform::Env::Default();
};

TEST_F(PolicyFilesTest, SaveLoadRemove) {
  std::string state = dir_ + "/state";
  EXPECT_EQ(LoadPolicy(env_, state).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(RemovePolicy(env_, state).code(), ErrorCode::kNotFound);
  Policy p = ValidPolicy();
  ASSERT_TRUE(SavePolicy(env_, state, p).ok());
  struct stat st;
  ASSERT_EQ(::stat(PolicyPath(state).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<Policy> back = LoadPolicy(env_, state);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  ASSERT_TRUE(RemovePolicy(env_, state).ok());
  EXPECT_EQ(LoadPolicy(env_, state).status().code(), ErrorCode::kNotFound);
}

TEST_F(PolicyFilesTest, SaveRefusesInvalidPolicy) {
  Policy p = ValidPolicy();
  p.schedule.days.clear();
  EXPECT_EQ(SavePolicy(env_, dir_ + "/state", p).code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(PolicyPath(dir_ + "/state")));
}

TEST_F(PolicyFilesTest, LoadReportsCorruptFile) {
  std::string state = dir_ + "/state";
  fs::create_directories(state);
  std::ofstream(PolicyPath(state)) << "{\"version\": 7}";
  Result<Policy> p = LoadPolicy(env_, state);
  EXPECT_EQ(p.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_THAT(p.status().detail(), HasSubstr("policy.json"));
}

TEST(PolicyNextRun, SameDayAndLaterTimes) {
  Schedule s{{1, 3}, {21 * 60 + 30, 3 * 60}};  // Mon, Wed at 03:00 and 21:30 (unsorted)
  EXPECT_EQ(NextRun(s, kMonday), kMonday + 3 * kHour);
  // Strictly after now: at 03:00 the next one is 21:30.
  EXPECT_EQ(NextRun(s, kMonday + 3 * kHour), kMonday + 21 * kHour + 1800);
  EXPECT_EQ(NextRun(s, kMonday + 22 * kHour), kMonday + 2 * kDay + 3 * kHour);
  EXPECT_EQ(NextRun(s, kMonday + 2 * kDay + 4 * kHour), kMonday + 2 * kDay + 21 * kHour + 1800);
}

TEST(PolicyNextRun, AcrossWeekBoundary) {
  Schedule s{{1, 3}, {3 * 60, 21 * 60 + 30}};
  // Wednesday 22:00 -> next Monday 03:00.
  EXPECT_EQ(NextRun(s, kMonday + 2 * kDay + 22 * kHour), kMonday + 7 * kDay + 3 * kHour);
  // Saturday only; from Sunday (the day before kMonday) that is six days on.
  Schedule sat{{6}, {12 * 60}};
  EXPECT_EQ(NextRun(sat, kMonday - kDay + kHour), kMonday + 5 * kDay + 12 * kHour);
  // A single weekly time, already passed today: a week later.
  Schedule mon{{1}, {60}};
  EXPECT_EQ(NextRun(mon, kMonday + 2 * kHour), kMonday + 7 * kDay + kHour);
  EXPECT_EQ(NextRun(mon, kMonday + kHour), kMonday + 7 * kDay + kHour);
}

TEST(PolicyNextRun, EveryDayThreeTimes) {
  Schedule s{{0, 1, 2, 3, 4, 5, 6}, {0, 8 * 60, 16 * 60}};
  int64_t t = kMonday - 1;
  std::vector<int64_t> runs;
  for (int i = 0; i < 7; ++i) {
    t = *NextRun(s, t);
    runs.push_back(t);
  }
  std::vector<int64_t> expected;
  for (int i = 0; i < 7; ++i) expected.push_back(kMonday + i * 8 * kHour);
  EXPECT_EQ(runs, expected);
}

TEST(PolicyNextRun, LocalTimeOffset) {
  Schedule s{{1}, {30}};  // Monday 00:30 local
  // UTC+1: Monday 00:30 local is Sunday 23:30 UTC.
  EXPECT_EQ(NextRun(s, kMonday - kHour, 60), kMonday - 1800);
  // UTC-5: Monday 00:30 local is Monday 05:30 UTC.
  EXPECT_EQ(NextRun(s, kMonday, -300), kMonday + 5 * kHour + 1800);
  // Before the epoch too.
  EXPECT_EQ(NextRun(s, -10 * kDay), *NextRun(s, -10 * kDay - 1));
}

TEST(PolicyNextRun, EmptyScheduleHasNone) {
  EXPECT_FALSE(NextRun(Schedule{{}, {60}}, kMonday).has_value());
  EXPECT_FALSE(NextRun(Schedule{{1}, {}}, kMonday).has_value());
}

TEST(PolicyMissedRun, DetectsAPassedTime) {
  Schedule s{{1, 3}, {3 * 60, 21 * 60 + 30}};
  int64_t last = kMonday + 3 * kHour;  // ran Monday 03:00
  EXPECT_FALSE(MissedRun(s, last, kMonday + 21 * kHour));
  EXPECT_TRUE(MissedRun(s, last, kMonday + 21 * kHour + 1800));  // exactly at 21:30
  EXPECT_TRUE(MissedRun(s, last, kMonday + 5 * kDay));           // off for days
  // Ran Monday 21:30; Tuesday is not scheduled.
  EXPECT_FALSE(MissedRun(s, kMonday + 21 * kHour + 1800, kMonday + 2 * kDay + 2 * kHour));
  // With an offset: Monday 03:00 at UTC+2 is 01:00 UTC.
  EXPECT_TRUE(MissedRun(s, kMonday, kMonday + kHour, 120));
  EXPECT_FALSE(MissedRun(s, kMonday, kMonday + kHour, 0));
}

// The set of non-folder paths a backup with `sel` stores, walked as
// BackupRun does: each included root completely (a root inside another is
// part of it), skipping entries an exclude matches with all below them.
std::set<std::string> SimulateBackup(const BackupSelection& sel) {
  std::set<std::string> out;
  auto excluded = [&](const std::string& path, const std::string& name) {
    for (const auto& pattern : sel.excludes) {
      if (ExcludedBy(pattern, path, name)) return true;
    }
    return false;
  };
  std::function<void(const fs::path&)> walk = [&](const fs::path& p) {
    if (!fs::is_directory(fs::symlink_status(p))) {
      out.insert(p.string());
      return;
    }
    out.insert(p.string() + "/");
    for (const auto& e : fs::directory_iterator(p)) {
      std::string child = e.path().string();
      if (excluded(child, e.path().filename().string())) continue;
      walk(e.path());
    }
  };
  for (const auto& root : sel.includes) {
    bool nested = false;
    for (const auto& other : sel.includes) {
      if (root.starts_with(other + "/")) nested = true;
    }
    if (!nested && fs::exists(fs::symlink_status(root))) walk(root);
  }
  return out;
}

class PolicySelectionTest : public PolicyFilesTest {
 protected:
  void SetUp() override {
    PolicyFilesTest::SetUp();
    for (const char* f :
         {"data/a.log", "data/b.txt", "data/[x].log", "data/sub/c.log", "data/sub/d.txt",
          "data/sub/deep/e.log", "data/tmp/t1", "data/tmp/tsub/t2", "docs/r.txt",
          "docs/inner/s.txt", "[br]/f.txt", "[br]/g.log"}) {
      Touch(f);
    }
  }

  std::set<std::string> Backed(const std::vector<FileSpec>& specs) {
    Result<BackupSelection> sel = ResolveSelection(env_, specs);
    EXPECT_TRUE(sel.ok()) << sel.status().ToString();
    if (!sel.ok()) return {};
    return SimulateBackup(*sel);
  }

  // Absolute paths of the files (folders end with '/').
  std::set<std::string> Abs(std::initializer_list<const char*> rels) {
    std::set<std::string> out;
    for (const char* r : rels) out.insert(dir_ + "/" + r);
    return out;
  }
  std::string P(const std::string& rel) { return dir_ + "/" + rel; }
};

TEST_F(PolicySelectionTest, RecursiveIncludeWithExcludes) {
  EXPECT_EQ(
      Backed(
          {{P("data"), false, true}, {P("data/tmp"), true, true}, {P("data/*.txt"), true, true}}),
      Abs({"data/", "data/a.log", "data/[x].log", "data/sub/", "data/sub/c.log", "data/sub/deep/",
           "data/sub/deep/e.log"}));
}

TEST_F(PolicySelectionTest, NonRecursiveIncludeKeepsFilesOnly) {
  Result<BackupSelection> sel = ResolveSelection(env_, {{P("docs"), false, false}});
  ASSERT_TRUE(sel.ok());
  EXPECT_EQ(sel->includes, std::vector<std::string>{P("docs")});
  EXPECT_EQ(sel->excludes, std::vector<std::string>{P("docs") + "/*/**"});
  // The subfolder is kept as an empty folder.
  EXPECT_EQ(SimulateBackup(*sel), Abs({"docs/", "docs/r.txt", "docs/inner/"}));
}

TEST_F(PolicySelectionTest, NonRecursiveExcludeOfAFolder) {
  EXPECT_EQ(
      Backed({{P("data"), false, true}, {P("data/tmp"), true, false}, {P("data/sub"), true, true}}),
      Abs({"data/", "data/a.log", "data/b.txt", "data/[x].log", "data/tmp/", "data/tmp/tsub/",
           "data/tmp/tsub/t2"}));
}

TEST_F(PolicySelectionTest, NonRecursiveWildcardExclude) {
  EXPECT_EQ(
      Backed(
          {{P("data"), false, true}, {P("data/*.log"), true, false}, {P("data/tmp"), true, true}}),
      Abs({"data/", "data/b.txt", "data/sub/", "data/sub/c.log", "data/sub/d.txt", "data/sub/deep/",
           "data/sub/deep/e.log"}));
}

TEST_F(PolicySelectionTest, WildcardIncludeRecursive) {
  EXPECT_EQ(Backed({{P("data/*.log"), false, true}, {P("data/sub/deep"), true, true}}),
            Abs({"data/a.log", "data/[x].log", "data/sub/c.log"}));
}

TEST_F(PolicySelectionTest, WildcardIncludeNonRecursive) {
  EXPECT_EQ(Backed({{P("data/*.log"), false, false}}), Abs({"data/a.log", "data/[x].log"}));
  EXPECT_EQ(Backed({{P("data/?.txt"), false, false}}), Abs({"data/b.txt"}));
}

TEST_F(PolicySelectionTest, PlainIncludeInsideWildcardFolderKeepsItsRules) {
  // /data/*.log recursive, and /data/sub non-recursive: in sub only its files.
  EXPECT_EQ(Backed({{P("data/*.log"), false, true}, {P("data/sub"), false, false}}),
            Abs({"data/a.log", "data/[x].log", "data/sub/", "data/sub/c.log", "data/sub/d.txt",
                 "data/sub/deep/"}));
}

TEST_F(PolicySelectionTest, BracketsAreLiteral) {
  EXPECT_EQ(Backed({{P("[br]"), false, true}, {P("[br]/*.log"), true, true}}),
            Abs({"[br]/", "[br]/f.txt"}));
  EXPECT_EQ(Backed({{P("data/[x].log"), false, true}}), Abs({"data/[x].log"}));
  EXPECT_EQ(Backed({{P("data"), false, true},
                    {P("data/[x].log"), true, true},
                    {P("data/sub"), true, true},
                    {P("data/tmp"), true, true}}),
            Abs({"data/", "data/a.log", "data/b.txt"}));
}

TEST_F(PolicySelectionTest, MissingPathsSelectNothing) {
  Result<BackupSelection> sel = ResolveSelection(
      env_,
      {{P("nothere/*.log"), false, true}, {P("docs"), false, true}, {P("docs/gone"), true, false}});
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ(sel->includes, std::vector<std::string>{P("docs")});
  EXPECT_TRUE(sel->excludes.empty());
}

TEST_F(PolicySelectionTest, RefusesInvalidSpecs) {
  EXPECT_EQ(ResolveSelection(env_, {{"relative", false, true}}).status().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace obagent::engine
