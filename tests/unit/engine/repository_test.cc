// The Repository's flows on an in-memory vault (storage::MemoryStore, no
// cache folder: nothing touches disk): recovery points are listed oldest
// first and found by "latest", id or prefix; blobs read back through the
// index from a fresh repository; a missing pack, a damaged pack, index
// file or recovery point is reported by name and never read as good data.
#include "obagent/engine/repository.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/memory_vault.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

Bytes B(std::string_view s) { return Bytes(s.begin(), s.end()); }

class RepositoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<Repository> NewRepository() { return vault_.NewRepository(); }
  std::string SavePoint(const std::vector<std::string>& chunks, int64_t time_ns) {
    return vault_.SavePoint(chunks, time_ns);
  }
  void Damage(const std::string& key, std::optional<uint64_t> offset = std::nullopt) {
    vault_.Damage(key, offset);
  }

  testing::MemoryVault vault_;
  storage::MemoryStore& store_ = vault_.store();
  Repository* repo_ = &vault_.repo();
};

TEST_F(RepositoryTest, PointsAreListedOldestFirstAndFoundByIdPrefixOrLatest) {
  EXPECT_EQ(repo_->FindRecoveryPoint("latest").status().code(), ErrorCode::kNotFound);
  // Saved out of time order: the listing sorts by time, not by name.
  std::string middle = SavePoint({"b"}, 2000);
  std::string oldest = SavePoint({"a"}, 1000);
  std::string newest = SavePoint({"c"}, 3000);
  auto points = repo_->ListRecoveryPoints();
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 3u);
  EXPECT_EQ((*points)[0].id, oldest);
  EXPECT_EQ((*points)[1].id, middle);
  EXPECT_EQ((*points)[2].id, newest);
  EXPECT_EQ((*points)[1].point.time_ns, 2000);
  EXPECT_EQ((*points)[1].point.hostname, "test");

  EXPECT_EQ(repo_->FindRecoveryPoint("latest")->id, newest);
  EXPECT_EQ(repo_->FindRecoveryPoint(middle)->id, middle);
  EXPECT_EQ(repo_->FindRecoveryPoint(middle.substr(0, 12))->id, middle);
  EXPECT_EQ(repo_->FindRecoveryPoint(middle.substr(0, 3)).status().code(),
            ErrorCode::kInvalidArgument);
  // A prefix no point has (one of the three ids starts with each of at
  // most three hex digits; some digit is left).
  std::string unused = "0";
  for (const char* digit : {"0", "1", "2", "3"}) {
    if (!oldest.starts_with(digit) && !middle.starts_with(digit) && !newest.starts_with(digit)) {
      unused = std::string(digit);
    }
  }
  EXPECT_EQ(repo_->FindRecoveryPoint(unused + "abc").status().code(), ErrorCode::kNotFound);
}

TEST_F(RepositoryTest, AFreshRepositoryReadsEveryBlobThroughTheIndex) {
  std::string id = SavePoint({"first chunk", "second chunk"}, 1);
  SavePoint({"third chunk"}, 2);
  // Another repository on the same store and keys: it knows only what the
  // vault holds.
  auto fresh = NewRepository();
  ASSERT_TRUE(fresh->LoadIndex().ok());
  EXPECT_TRUE(fresh->missing_packs().empty());
  EXPECT_TRUE(fresh->damaged_index_files().empty());
  EXPECT_TRUE(fresh->lost_blobs().empty());
  EXPECT_EQ(fresh->index().pack_names().size(), 2u);
  std::vector<std::string> indexed = fresh->index().pack_names();
  std::sort(indexed.begin(), indexed.end());
  EXPECT_EQ(*fresh->ListPacks(), indexed);
  auto point = fresh->FindRecoveryPoint(id);
  ASSERT_TRUE(point.ok());
  auto root = fresh->ReadTree(point->point.tree);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  ASSERT_EQ(root->nodes.size(), 1u);
  const tree::Node& file = root->nodes[0];
  EXPECT_EQ(file.size, std::string("first chunksecond chunk").size());
  ASSERT_EQ(file.content.size(), 2u);
  EXPECT_EQ(*fresh->ReadBlob(file.content[0].id), B("first chunk"));
  EXPECT_EQ(*fresh->ReadBlob(file.content[1].id), B("second chunk"));
  // An id no pack holds.
  ObjectId unknown;
  unknown.bytes.fill(0xab);
  auto missing = fresh->ReadBlob(unknown);
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().ToString().find("is not in the index"), std::string::npos);
}

TEST_F(RepositoryTest, AMissingPackIsReportedAndItsBlobsAreLost) {
  std::string id = SavePoint({"kept chunk"}, 1);
  ASSERT_TRUE(repo_->LoadIndex().ok());
  const ObjectId kept =
      repo_->ReadTree(repo_->FindRecoveryPoint(id)->point.tree)->nodes[0].content[0].id;
  std::string lost_point = SavePoint({"lost chunk"}, 2);
  ASSERT_TRUE(repo_->LoadIndex().ok());
  auto tree = repo_->ReadTree(repo_->FindRecoveryPoint(lost_point)->point.tree);
  ASSERT_TRUE(tree.ok());
  const ObjectId lost = tree->nodes[0].content[0].id;
  const index::Location* loc = repo_->index().Find(lost);
  ASSERT_NE(loc, nullptr);
  const std::string pack = repo_->index().pack_names()[loc->pack];
  ASSERT_TRUE(store_.Delete(RepoLayout::Pack(pack)).ok());

  auto fresh = NewRepository();
  ASSERT_TRUE(fresh->LoadIndex().ok());  // a missing pack is no reason to fail
  EXPECT_EQ(fresh->missing_packs(), std::vector<std::string>{pack});
  EXPECT_TRUE(fresh->lost_blobs().contains(lost));
  EXPECT_FALSE(fresh->lost_blobs().contains(kept));
  EXPECT_FALSE(fresh->index().Contains(lost));
  EXPECT_FALSE(fresh->HasUsableCopy(lost));
  EXPECT_TRUE(fresh->HasUsableCopy(kept));
  EXPECT_NE(fresh->WhyMissing(lost).find("is in no pack present"), std::string::npos)
      << fresh->WhyMissing(lost);
  auto read = fresh->ReadBlob(lost);
  EXPECT_EQ(read.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(read.status().ToString().find("its pack is missing"), std::string::npos)
      << read.status().ToString();
  EXPECT_EQ(*fresh->ReadBlob(kept), B("kept chunk"));
  // The point itself is still listed: its tree's pack is the same lost one,
  // so reading it fails with the reason, not with wrong data.
  EXPECT_TRUE(fresh->FindRecoveryPoint(lost_point).ok());
  EXPECT_FALSE(fresh->ReadTree(fresh->FindRecoveryPoint(lost_point)->point.tree).ok());
}

TEST_F(RepositoryTest, ADamagedPackIsNotedRecordedAndLeavesTheIndex) {
  std::string id = SavePoint({"chunk one", "chunk two"}, 1);
  ASSERT_TRUE(repo_->LoadIndex().ok());
  const ObjectId blob =
      repo_->ReadTree(repo_->FindRecoveryPoint(id)->point.tree)->nodes[0].content[0].id;
  const index::Location loc = *repo_->index().Find(blob);
  const std::string pack = repo_->index().pack_names()[loc.pack];
  Damage(RepoLayout::Pack(pack), loc.offset + loc.length / 2);

  auto fresh = NewRepository();
  ASSERT_TRUE(fresh->LoadIndex().ok());
  EXPECT_TRUE(fresh->index().Contains(blob));  // not known damaged yet
  auto read = fresh->ReadBlob(blob);
  ASSERT_FALSE(read.ok()) << "damaged bytes were read as good data";
  EXPECT_EQ(read.status().code(), ErrorCode::kCorrupt) << read.status().ToString();
  EXPECT_TRUE(fresh->FoundDamaged(blob));
  EXPECT_TRUE(fresh->HasNotedDamage());
  EXPECT_FALSE(fresh->HasUsableCopy(blob));
  ASSERT_TRUE(fresh->HasDamageChanges());
  auto recorded = fresh->SaveDamageRecord();
  ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  EXPECT_EQ(*recorded, 1u);
  EXPECT_EQ(store_.List("damage/")->size(), 1u);

  // The next repository reads the record: the copy is out of the index
  // (so a backup would upload the blob again), and the reason names it.
  auto next = NewRepository();
  ASSERT_TRUE(next->LoadIndex().ok());
  EXPECT_FALSE(next->index().Contains(blob));
  EXPECT_NE(next->WhyMissing(blob).find("in pack " + pack + " is damaged"), std::string::npos)
      << next->WhyMissing(blob);
}

TEST_F(RepositoryTest, DamagedIndexFilesAndPointsAreSkippedByName) {
  std::string good = SavePoint({"good"}, 1);
  std::string bad = SavePoint({"bad"}, 2);
  auto index_files = store_.List("index/");
  ASSERT_TRUE(index_files.ok());
  ASSERT_EQ(index_files->size(), 2u);
  Damage((*index_files)[0]);
  Damage(RepoLayout::RecoveryPoint(bad));

  auto fresh = NewRepository();
  ASSERT_TRUE(fresh->LoadIndex().ok());
  ASSERT_EQ(fresh->damaged_index_files().size(), 1u);
  EXPECT_EQ(fresh->damaged_index_files()[0].kind, "index file");
  EXPECT_EQ(fresh->damaged_index_files()[0].name,
            (*index_files)[0].substr(std::string("index/").size()));
  EXPECT_EQ(fresh->index().pack_names().size(), 1u);  // the other index file's pack

  std::vector<DamagedObject> damaged;
  auto points = fresh->ListRecoveryPoints(&damaged);
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ((*points)[0].id, good);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged[0].kind, "recovery point");
  EXPECT_EQ(damaged[0].name, bad);
  // Asked for by name, the damaged point is an error that says so.
  auto found = fresh->FindRecoveryPoint(bad);
  EXPECT_EQ(found.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(found.status().ToString().find(bad), std::string::npos);
  EXPECT_EQ(fresh->FindRecoveryPoint("latest")->id, good);
}

}  // namespace
}  // namespace obagent::engine
