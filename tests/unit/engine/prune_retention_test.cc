// Prune with a retention policy on a history of known dates, in memory: 70
// daily recovery points (2026-01-01 to 2026-03-11, noon UTC), pruned on
// 2026-03-11 with 7 daily, 4 weekly and 2 monthly: exactly the points the
// policy names survive (worked out by hand below, and the same as
// PointsToKeep), each still reads back whole, the others and the data only
// they held are gone, and the data they shared with kept points stays.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "engine/memory_vault.h"
#include "obagent/core/blob_id.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/retention.h"

namespace obagent::engine {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
constexpr int64_t kDayNs = 86400 * kSecondNs;
constexpr int64_t kJan1Noon = 1'767'268'800 * kSecondNs;  // 2026-01-01 12:00 UTC
constexpr int kDays = 70;                                 // the last is 2026-03-11

// Day 52 = Sun 2026-02-22 (the latest of ISO week 8), 58 = Sat 02-28 (of
// February), 59 = Sun 03-01 (of week 9), 63..69 = 03-05..03-11 (the last
// seven days; they hold the latest of week 10, 03-08, and of week 11 and
// March, 03-11).
const std::set<int> kKeptDays = {52, 58, 59, 63, 64, 65, 66, 67, 68, 69};

std::string OwnChunk(int day) { return "data only point " + std::to_string(day) + " holds"; }
const std::string kShared = "data every point holds";

class PruneRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int day = 0; day < kDays; ++day) {
      ids_.push_back(vault_.SavePoint({kShared, OwnChunk(day)}, kJan1Noon + day * kDayNs));
    }
  }

  // The id of the chunk `plain` (as SavePoint made it).
  ObjectId ChunkId(const std::string& plain) {
    return BlobId::Of(vault_.keys().id_key, AsBytes(plain));
  }

  testing::MemoryVault vault_;
  std::vector<std::string> ids_;  // by day
};

TEST_F(PruneRetentionTest, KeepsExactlyWhatThePolicyNames) {
  const RetentionPolicy policy{7, 4, 2, 0};
  const int64_t now = kJan1Noon + (kDays - 1) * kDayNs + 6 * 3600 * kSecondNs;  // 18:00
  std::vector<std::string> expect_kept, expect_removed;
  for (int day = 0; day < kDays; ++day) {
    (kKeptDays.contains(day) ? expect_kept : expect_removed).push_back(ids_[day]);
  }
  // The pure selection agrees with the dates worked out by hand.
  auto listed = vault_.repo().ListRecoveryPoints();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(PointsToKeep(*listed, policy, now), expect_kept);
  const uint64_t bytes_before = vault_.store().TotalBytes();

  auto report = PruneWithPolicy(vault_.repo(), policy, now);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kept_points, expect_kept);
  EXPECT_EQ(report->removed_points, expect_removed);
  // Each removed point had a pack of its own: all but the one providing
  // the shared data go whole.
  EXPECT_GE(report->packs_deleted, expect_removed.size() - 1);
  EXPECT_GT(report->bytes_freed(), 0u);
  EXPECT_LT(vault_.store().TotalBytes(), bytes_before);

  // What the vault holds now, seen by a fresh repository.
  auto fresh = vault_.NewRepository();
  ASSERT_TRUE(fresh->LoadIndex().ok());
  EXPECT_TRUE(fresh->missing_packs().empty());
  auto points = fresh->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  std::vector<std::string> present;
  for (const auto& p : *points) present.push_back(p.id);
  EXPECT_EQ(present, expect_kept);
  for (int day = 0; day < kDays; ++day) {
    SCOPED_TRACE("day " + std::to_string(day));
    const ObjectId own = ChunkId(OwnChunk(day));
    if (!kKeptDays.contains(day)) {
      EXPECT_FALSE(fresh->index().Contains(own)) << "data only a removed point held is still there";
      continue;
    }
    auto point = fresh->FindRecoveryPoint(ids_[day]);
    ASSERT_TRUE(point.ok()) << point.status().ToString();
    auto root = fresh->ReadTree(point->point.tree);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    ASSERT_EQ(root->nodes.size(), 1u);
    std::string content;
    for (const auto& chunk : root->nodes[0].content) {
      auto plain = fresh->ReadBlob(chunk.id);
      ASSERT_TRUE(plain.ok()) << plain.status().ToString();
      content += AsString(*plain);
    }
    EXPECT_EQ(content, kShared + OwnChunk(day));
  }
  EXPECT_TRUE(fresh->index().Contains(ChunkId(kShared)));

  // Pruning again on the same day changes nothing.
  auto again = PruneWithPolicy(*fresh, policy, now);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->kept_points, expect_kept);
  EXPECT_TRUE(again->removed_points.empty());
  EXPECT_EQ(again->packs_deleted + again->packs_repacked, 0u);
}

}  // namespace
}  // namespace obagent::engine
