// MARS's "critical inconsistency": an included folder deleted and recreated
// under the same name between two backups (BackupReport::recreated_roots).
// The backup says so and backs the new folder up in full, taking nothing
// over from the parent point, even when the file system reuses the inode
// number (ext4 does) and the new files look like the old ones to stat; an
// ordinary second backup, or a recreated folder below an included one,
// says nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "engine/forwarding_env.h"
#include "engine/test_vault.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/restore.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Lstat as a file system that reuses inode numbers would answer: once
// frozen, each path gets the inode and ctime it had when frozen (the birth
// time is the real one, or none with `no_birth`); `inode_shift` is added to
// the inode of `shifted` (a file system that gave it another one).
class ReusingEnv : public testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  Result<platform::FileInfo> Lstat(const std::string& p) override {
    Result<platform::FileInfo> info = ForwardingEnv::Lstat(p);
    if (!info.ok()) return info;
    if (!frozen_) {
      seen_[p] = *info;
    } else if (auto it = seen_.find(p); it != seen_.end()) {
      info->inode = it->second.inode;
      info->ctime_ns = it->second.ctime_ns;
    }
    if (no_birth_) info->birth_ns = 0;
    if (p == shifted_) info->inode += inode_shift_;
    return info;
  }
  bool frozen_ = false;
  bool no_birth_ = false;
  std::string shifted_;
  uint64_t inode_shift_ = 0;

 private:
  std::map<std::string, platform::FileInfo> seen_;
};

class BackupRecreatedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  BackupReport Backup() { return testing::BackupFolderOrFail(*repo_, src_); }
  // The latest point restored into a fresh folder; its copy of src_.
  fs::path Restore() {
    fs::path target = dir_ / ("restored" + std::to_string(++restores_));
    RestoreOptions options;
    options.point = "latest";
    options.target = target.string();
    Result<RestoreReport> r = RunRestore(*repo_, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return target / src_.relative_path();
  }
  // The folder deleted and made again with other content of the same sizes.
  void Recreate() {
    fs::remove_all(src_);
    fs::create_directories(src_ / "sub");
    Write(src_ / "a.txt", "NEW-a");
    Write(src_ / "sub" / "b.txt", "NEW-b");
  }

  ReusingEnv env_{platform::Env::Default()};
  testing::TestVault vault_{"obagent-recreated-test"};
  const fs::path& dir_ = vault_.dir();
  fs::path src_ = dir_ / "src";
  std::unique_ptr<Repository> repo_ = vault_.NewRepository(vault_.store(), env_);
  int restores_ = 0;
};

TEST_F(BackupRecreatedTest, RecreatedWithTheSameInodeIsBackedUpInFullAndSaidSo) {
  fs::create_directories(src_ / "sub");
  Write(src_ / "a.txt", "old-a");
  Write(src_ / "sub" / "b.txt", "old-b");
  Write(src_ / "gone.txt", "old only");
  BackupReport first = Backup();
  EXPECT_TRUE(first.recreated_roots.empty());
  if (env_.Lstat(src_.string())->birth_ns == 0) {
    GTEST_SKIP() << "the file system at " << dir_ << " keeps no birth time";
  }

  const auto mtime_a = fs::last_write_time(src_ / "a.txt");
  const auto mtime_b = fs::last_write_time(src_ / "sub" / "b.txt");
  Recreate();
  // Every entry of the new folder looks to stat like the old one of its
  // name (inode, size, mtime, ctime); only its birth time tells.
  fs::last_write_time(src_ / "a.txt", mtime_a);
  fs::last_write_time(src_ / "sub" / "b.txt", mtime_b);
  env_.frozen_ = true;
  BackupReport second = Backup();
  ASSERT_EQ(second.recreated_roots, std::vector<std::string>{src_.string()});
  EXPECT_EQ(
      RecreatedSummary(second),
      src_.string() + " was deleted and recreated since the last backup; it was backed up in full");
  EXPECT_EQ(BackupSummary(second), RecreatedSummary(second));
  EXPECT_EQ(second.state, JobState::kCompleted);  // informational, not a warning
  EXPECT_EQ(second.point.stats.bytes_read, 10u);  // both files read again
  EXPECT_EQ(second.figures.files_new, 2u);
  EXPECT_EQ(second.figures.files_deleted, 3u);
  EXPECT_EQ(second.figures.files_changed, 0u);

  fs::path restored = Restore();
  EXPECT_EQ(Read(restored / "a.txt"), "NEW-a");
  EXPECT_EQ(Read(restored / "sub" / "b.txt"), "NEW-b");
  EXPECT_FALSE(fs::exists(restored / "gone.txt"));
}

TEST_F(BackupRecreatedTest, AnotherInodeSaysSoWithoutBirthTimes) {
  Write(src_ / "a.txt", "old-a");
  env_.no_birth_ = true;
  Backup();
  Recreate();
  env_.shifted_ = src_.string();
  env_.inode_shift_ = 1000003;
  BackupReport second = Backup();
  EXPECT_EQ(second.recreated_roots, std::vector<std::string>{src_.string()});
  fs::path restored = Restore();
  EXPECT_EQ(Read(restored / "a.txt"), "NEW-a");
}

TEST_F(BackupRecreatedTest, OrdinaryChangesAndRecreatedSubfoldersSayNothing) {
  fs::create_directories(src_ / "sub");
  Write(src_ / "a.txt", "a");
  Write(src_ / "sub" / "b.txt", "b");
  BackupReport first = Backup();
  EXPECT_TRUE(first.recreated_roots.empty());
  EXPECT_TRUE(Backup().recreated_roots.empty());  // nothing changed

  // The folder's own change time moves (entries added and removed, its
  // mode changed); a folder below it is deleted and recreated.
  Write(src_ / "c.txt", "c");
  fs::remove(src_ / "a.txt");
  fs::permissions(src_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  fs::remove_all(src_ / "sub");
  fs::create_directories(src_ / "sub");
  Write(src_ / "sub" / "b.txt", "B");
  BackupReport second = Backup();
  EXPECT_TRUE(second.recreated_roots.empty());
  EXPECT_EQ(BackupSummary(second), "");
  fs::path restored = Restore();
  EXPECT_EQ(Read(restored / "sub" / "b.txt"), "B");
  EXPECT_EQ(Read(restored / "c.txt"), "c");
}

TEST_F(BackupRecreatedTest, RealFileSystemDeleteAndRecreate) {
  Write(src_ / "a.txt", "old-a");
  platform::FileInfo before = *env_.Lstat(src_.string());
  Backup();
  Recreate();
  platform::FileInfo after = *env_.Lstat(src_.string());
  if (after.inode == before.inode && after.birth_ns == 0) {
    GTEST_SKIP() << "the file system at " << dir_
                 << " reused the inode and keeps no birth time: nothing can tell";
  }
  BackupReport second = Backup();
  EXPECT_EQ(second.recreated_roots, std::vector<std::string>{src_.string()});
  EXPECT_EQ(Read(Restore() / "a.txt"), "NEW-a");

  // The next backup of the new folder is an ordinary one again.
  BackupReport third = Backup();
  EXPECT_TRUE(third.recreated_roots.empty());
  EXPECT_EQ(BackupSummary(third), "");
  EXPECT_EQ(third.point.stats.bytes_read, 0u);
}

}  // namespace
}  // namespace obagent::engine
