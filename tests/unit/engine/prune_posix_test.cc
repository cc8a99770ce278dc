// Prune on repositories made by real backups: kept points restore
// byte-identical, verify stays clean, and a prune that fails after any
// number of vault writes (a crash, as far as the vault can tell) loses
// nothing a kept point needs.
#include "obagent/engine/prune.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "engine/forwarding_store.h"
#include "engine/test_vault.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/verify.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

uint64_t DirBytes(const fs::path& root) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

using testing::CrashingStore;
using testing::ListTree;
using testing::WriteRandom;
constexpr auto Snapshot = testing::TreeSnapshot;

class PruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-prune-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "vault");
    fs::create_directories(dir_ / "src");
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    store_ = OpenStore(dir_ / "vault");
    repo_ = NewRepo(*store_, "cache");
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<storage::BlobStore> OpenStore(const fs::path& root) {
    auto store = storage::OpenLocalDirStore(root.string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return std::move(store).value();
  }
  std::unique_ptr<Repository> NewRepo(storage::BlobStore& store, const std::string& cache) {
    return std::make_unique<Repository>(store, keys_, (dir_ / cache).string(),
                                        platform::Env::Default());
  }

  // Six backups: "stable.bin" stays throughout, each backup has its own
  // "only-<i>.bin" (gone in the next), "grow.txt" grows, and one file of
  // the first backup is deleted at the fourth.
  void MakeHistory() {
    fs::path src = dir_ / "src";
    WriteRandom(src / "stable.bin", 150000, 1);
    fs::create_directories(src / "sub");
    WriteRandom(src / "sub" / "early.bin", 120000, 2);
    fs::create_symlink("stable.bin", src / "link");
    for (int i = 0; i < 6; ++i) {
      if (i > 0) fs::remove(src / ("only-" + std::to_string(i - 1) + ".bin"));
      WriteRandom(src / ("only-" + std::to_string(i) + ".bin"), 400000, 100 + i);
      std::ofstream(src / "grow.txt", std::ios::app) << "line " << i << "\n";
      if (i == 3) fs::remove(src / "sub" / "early.bin");
      ASSERT_TRUE(repo_->LoadIndex().ok());
      BackupOptions options;
      options.includes = {src.string()};
      options.chunker = {4096, 16384, 65536};
      options.threads = 2;
      options.pack_size = 256 * 1024;
      options.hostname = "test";
      auto report = RunBackup(*repo_, options);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ids_.push_back(report->point_id);
      sources_.push_back(Snapshot(src));
    }
  }

  // Every point in `expect` restores identical to its source; no other
  // point exists unless allowed.
  void ExpectRestorable(storage::BlobStore& store, size_t first_kept, bool others_allowed) {
    auto repo = NewRepo(store, "cache-check-" + std::to_string(checks_));
    ASSERT_TRUE(repo->LoadIndex().ok());
    auto verify = RunVerify(*repo, 2);
    ASSERT_TRUE(verify.ok()) << verify.status().ToString();
    EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
    auto points = repo->ListRecoveryPoints();
    ASSERT_TRUE(points.ok());
    std::vector<std::string> present;
    for (const auto& p : *points) present.push_back(p.id);
    for (size_t i = 0; i < ids_.size(); ++i) {
      bool there = std::find(present.begin(), present.end(), ids_[i]) != present.end();
      if (i < first_kept) {
        if (!others_allowed) {
          EXPECT_FALSE(there) << "dropped point " << i << " still exists";
        }
        continue;
      }
      ASSERT_TRUE(there) << "kept point " << i << " is gone";
      fs::path target = dir_ / ("restore-" + std::to_string(checks_) + "-" + std::to_string(i));
      RestoreOptions options;
      options.point = ids_[i];
      options.target = target.string();
      options.threads = 2;
      auto report = RunRestore(*repo, options);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      EXPECT_EQ(report->state, JobState::kCompleted);
      EXPECT_EQ(Snapshot(RestoredPath(target.string(), (dir_ / "src").string())), sources_[i])
          << "point " << i;
      fs::remove_all(target);
    }
    ++checks_;
  }

  std::vector<std::string> Last(size_t n) const {
    return {ids_.end() - static_cast<long>(n), ids_.end()};
  }

  fs::path dir_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
  std::vector<std::string> ids_;
  std::vector<std::map<std::string, std::string>> sources_;
  int checks_ = 0;
};

TEST_F(PruneTest, KeepsThreeOfSix) {
  MakeHistory();
  uint64_t before = DirBytes(dir_ / "vault");
  auto report = RunPrune(*repo_, Last(3));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kept_points, Last(3));
  EXPECT_EQ(report->removed_points, std::vector<std::string>(ids_.begin(), ids_.begin() + 3));
  EXPECT_GT(report->packs_deleted, 0u);
  EXPECT_GT(report->packs_repacked, 0u);  // stable.bin shares packs with only-0.bin
  EXPECT_GT(report->packs_written, 0u);
  EXPECT_GT(report->bytes_freed(), 1000000u);
  uint64_t after = DirBytes(dir_ / "vault");
  EXPECT_LT(after, before);
  EXPECT_GE(before - after, report->bytes_freed() - report->bytes_freed() / 10);
  // One index file remains.
  auto indexes = store_->List("index/");
  ASSERT_TRUE(indexes.ok());
  EXPECT_EQ(indexes->size(), 1u);
  ExpectRestorable(*store_, 3, false);

  // A second prune with the same points finds nothing to do.
  auto again = RunPrune(*repo_, Last(3));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->packs_deleted + again->packs_repacked, 0u);
  EXPECT_EQ(again->index_files_deleted, 0u);
  EXPECT_EQ(DirBytes(dir_ / "vault"), after);
  // And a backup after the prune still works, deduplicating against it.
  ASSERT_TRUE(repo_->LoadIndex().ok());
  BackupOptions options;
  options.includes = {(dir_ / "src").string()};
  options.chunker = {4096, 16384, 65536};
  options.pack_size = 256 * 1024;
  auto backup = RunBackup(*repo_, options);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  // Nothing was read again (unchanged files' chunks are still indexed); only
  // trees whose folder metadata moved on are new.
  EXPECT_EQ(backup->point.stats.bytes_read, 0u);
  EXPECT_LT(backup->point.stats.bytes_new, 4096u);
  ids_.push_back(backup->point_id);
  sources_.push_back(sources_.back());
  ExpectRestorable(*store_, 3, false);
}

TEST_F(PruneTest, DryRunChangesNothing) {
  MakeHistory();
  auto before = ListTree(dir_ / "vault");
  auto report = RunPrune(*repo_, Last(2), {.dry_run = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->dry_run);
  EXPECT_EQ(report->removed_points.size(), 4u);
  EXPECT_GT(report->packs_deleted, 0u);
  EXPECT_GT(report->bytes_deleted, 0u);
  EXPECT_EQ(ListTree(dir_ / "vault"), before);
}

TEST_F(PruneTest, RefusesBadKeepLists) {
  MakeHistory();
  auto before = ListTree(dir_ / "vault");
  auto none = RunPrune(*repo_, {});
  EXPECT_EQ(none.status().code(), ErrorCode::kInvalidArgument);
  auto unknown = RunPrune(*repo_, {ids_[0], std::string(64, 'a')});
  EXPECT_EQ(unknown.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ListTree(dir_ / "vault"), before);
}

TEST_F(PruneTest, KeepingEverythingFreesOnlyOrphans) {
  MakeHistory();
  // A pack left by a killed backup: in the store, in no index file.
  pack::PackWriter writer(keys_.data_key);
  ObjectId id;
  id.bytes.fill(7);
  writer.Add(pack::BlobType::kData, id,
             pack::SealBlob(keys_.data_key, pack::BlobType::kData, id,
                            AsBytes(std::string("\0orphan", 7))),
             6);
  auto orphan = writer.Finish();
  ASSERT_TRUE(store_->Put(RepoLayout::Pack(orphan.name), orphan.bytes).ok());
  auto indexes_before = store_->List("index/");
  auto report = RunPrune(*repo_, ids_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->removed_points.empty());
  EXPECT_EQ(report->packs_deleted, 1u);
  EXPECT_EQ(report->packs_repacked, 0u);
  EXPECT_EQ(report->bytes_deleted, orphan.bytes.size());
  EXPECT_EQ(store_->List("index/").value(), indexes_before.value());  // not rewritten
  EXPECT_FALSE(store_->Exists(RepoLayout::Pack(orphan.name)).value());
  ExpectRestorable(*store_, 0, false);
}

TEST_F(PruneTest, UnreadableTreeAbortsBeforeAnyChange) {
  MakeHistory();
  // Remove the tree packs of the last backup (and the caches that hold them).
  auto repo = NewRepo(*store_, "cache-fresh");
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto points = repo->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  const index::Location* loc = repo->index().Find(points->back().point.tree);
  ASSERT_NE(loc, nullptr);
  std::string pack = repo->index().pack_names()[loc->pack];
  fs::path stash = dir_ / "stash";
  fs::rename(dir_ / "vault" / RepoLayout::Pack(pack), stash);
  auto before = ListTree(dir_ / "vault");
  auto report = RunPrune(*repo, Last(3));
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("prune changed nothing"), std::string::npos)
      << report.status().ToString();
  EXPECT_EQ(ListTree(dir_ / "vault"), before);
  fs::rename(stash, dir_ / "vault" / RepoLayout::Pack(pack));
}

TEST_F(PruneTest, PolicyKeepsRecentPoints) {
  MakeHistory();
  // Every point is from today: a 7-day policy keeps them all.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto report = PruneWithPolicy(*repo_, {7, 0, 0, 0},
                                std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kept_points.size(), 6u);
  EXPECT_TRUE(report->removed_points.empty());
  // Thirty days later only the newest is kept.
  auto later = now + std::chrono::hours(24 * 30);
  report = PruneWithPolicy(*repo_, {7, 0, 0, 0},
                           std::chrono::duration_cast<std::chrono::nanoseconds>(later).count());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->kept_points, Last(1));
  ExpectRestorable(*store_, 5, false);
  // An invalid policy is refused before anything happens.
  EXPECT_EQ(PruneWithPolicy(*repo_, {3, 0, 0, 0}, 0).status().code(), ErrorCode::kInvalidArgument);
}

// The prune dies after 0, 1, 2, … vault writes; each time the kept points
// restore and verify, and a later complete prune finishes the job.
TEST_F(PruneTest, CrashAtEveryWrite) {
  MakeHistory();
  fs::path pristine = dir_ / "pristine";
  fs::copy(dir_ / "vault", pristine, fs::copy_options::recursive);
  int crashes = 0;
  for (int budget = 0;; ++budget) {
    fs::path vault = dir_ / ("vault-" + std::to_string(budget));
    fs::copy(pristine, vault, fs::copy_options::recursive);
    auto base = OpenStore(vault);
    CrashingStore crashing(*base, budget);
    auto repo = NewRepo(crashing, "cache-crash");
    auto report = RunPrune(*repo, Last(3));
    if (report.ok()) {
      ASSERT_FALSE(crashing.crashed());
      ExpectRestorable(*base, 3, false);
      fs::remove_all(vault);
      break;
    }
    ++crashes;
    ASSERT_TRUE(crashing.crashed()) << report.status().ToString();
    ExpectRestorable(*base, 3, true);
    // The next prune, not interrupted, completes it.
    auto repo2 = NewRepo(*base, "cache-crash");
    auto second = RunPrune(*repo2, Last(3));
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    ExpectRestorable(*base, 3, false);
    fs::remove_all(vault);
    ASSERT_LT(budget, 200);
  }
  EXPECT_GT(crashes, 5);
  RecordProperty("crashes", crashes);
}

}  // namespace
}  // namespace obagent::engine
