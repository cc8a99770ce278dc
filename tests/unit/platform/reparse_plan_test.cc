// platform::PlanReparsePoint, on both systems: what a restore makes of a
// link recorded as a Windows reparse point (tree kind 19), and what it
// reports as "Windows reparse points".
#include <gtest/gtest.h>

#include "obagent/platform.h"

namespace obagent::platform {
namespace {

TEST(PlanReparsePoint, WindowsKeepsEachKind) {
  struct Case {
    ReparseKind kind;
    MakeLink make;
  } cases[] = {{ReparseKind::kFileSymlink, MakeLink::kFileSymlink},
               {ReparseKind::kDirSymlink, MakeLink::kDirSymlink},
               {ReparseKind::kJunction, MakeLink::kJunction},
               {ReparseKind::kMountPoint, MakeLink::kMountPoint}};
  for (const Case& c : cases) {
    for (bool relative : {false, true}) {
      LinkPlan plan = PlanReparsePoint({c.kind, relative}, true, true);
      EXPECT_EQ(plan.make, c.make) << static_cast<int>(c.kind);
      EXPECT_FALSE(plan.issue.has_value()) << static_cast<int>(c.kind);
    }
  }
}

TEST(PlanReparsePoint, MountPointOfAMissingVolumeIsNotRecreated) {
  LinkPlan plan = PlanReparsePoint({ReparseKind::kMountPoint, false}, true, false);
  EXPECT_EQ(plan.make, MakeLink::kNothing);
  ASSERT_TRUE(plan.issue.has_value());
  EXPECT_EQ(plan.issue->kind, "Windows reparse points");
  EXPECT_NE(plan.issue->reason.find("not on this machine"), std::string::npos);
  // The volume only matters for mount points.
  EXPECT_EQ(PlanReparsePoint({ReparseKind::kJunction, false}, true, false).make,
            MakeLink::kJunction);
}

TEST(PlanReparsePoint, PosixMakesSymlinksAndSaysWhatIsLost) {
  LinkPlan file = PlanReparsePoint({ReparseKind::kFileSymlink, true}, false, false);
  EXPECT_EQ(file.make, MakeLink::kSymlink);
  EXPECT_FALSE(file.issue.has_value()) << "a file symlink is a symlink";
  for (ReparseKind kind :
       {ReparseKind::kDirSymlink, ReparseKind::kJunction, ReparseKind::kMountPoint}) {
    LinkPlan plan = PlanReparsePoint({kind, false}, false, true);
    EXPECT_EQ(plan.make, MakeLink::kSymlink) << static_cast<int>(kind);
    ASSERT_TRUE(plan.issue.has_value()) << static_cast<int>(kind);
    EXPECT_EQ(plan.issue->kind, "Windows reparse points");
  }
}

TEST(MetadataIssuesFor, NamesStreamsAndReparsePoints) {
  FileMetadata md;
  md.streams = {{"Zone.Identifier", 26}, {"b", 1}};
  md.reparse = ReparseInfo{ReparseKind::kJunction, false};
  std::vector<MetadataIssue> issues = MetadataIssuesFor(md, "why");
  ASSERT_EQ(issues.size(), 2u);
  EXPECT_EQ(issues[0].kind, "alternate data streams");
  EXPECT_EQ(issues[1].kind, "Windows reparse points");
  EXPECT_EQ(issues[0].reason, "why");
  EXPECT_FALSE(md.empty());
}

}  // namespace
}  // namespace obagent::platform
