// Change detection when only a file's ctime moved (size, mtime and inode
// the same as in the parent point): the file is read again, data and
// metadata, whatever moved it. A metadata change cannot prove that the data
// is the same: a writer may have changed the content, put the mtime back
// and changed the mode in one go. A backup with no change reads nothing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/test_vault.h"
#include "obagent/engine/backup.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

class BackupCtimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    std::ofstream(file_, std::ios::binary) << std::string(5000, 'a');
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  BackupReport Backup() {
    BackupOptions options;
    options.includes = {src_.string()};
    options.threads = 2;
    Result<BackupReport> r = RunBackup(*repo_, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : BackupReport{};
  }
  struct stat Stat() {
    struct stat st {};
    EXPECT_EQ(::lstat(file_.c_str(), &st), 0);
    return st;
  }

  testing::TestVault vault_{"obagent-ctime-test"};
  const fs::path& dir_ = vault_.dir();
  fs::path src_ = dir_ / "src";
  std::string file_ = (src_ / "f.txt").string();
  std::unique_ptr<Repository> repo_ = vault_.NewRepository(vault_.store());
};

TEST_F(BackupCtimeTest, AMetadataChangeReadsTheFileAgainAndNothingElse) {
  if (::setxattr(file_.c_str(), "user.note", "one", 3, 0) != 0) {
    GTEST_SKIP() << "no user xattrs at " << dir_;
  }
  std::ofstream((src_ / "other.txt").string(), std::ios::binary) << std::string(7000, 'o');
  EXPECT_EQ(Backup().point.stats.bytes_read, 12000u);
  EXPECT_EQ(Backup().point.stats.bytes_read, 0u);

  struct stat before = Stat();
  ASSERT_EQ(::setxattr(file_.c_str(), "user.note", "two", 3, 0), 0);
  struct stat after = Stat();
  ASSERT_NE(before.st_ctim.tv_nsec + before.st_ctim.tv_sec * 1000000000LL,
            after.st_ctim.tv_nsec + after.st_ctim.tv_sec * 1000000000LL);
  BackupReport r = Backup();
  EXPECT_EQ(r.point.stats.bytes_read, 5000u);  // this file only
  EXPECT_EQ(r.figures.files_changed, 1u);
  EXPECT_EQ(Backup().point.stats.bytes_read, 0u);
}

TEST_F(BackupCtimeTest, ContentRewrittenWithTheMtimeRestoredAndTheModeChangedIsReadAgain) {
  EXPECT_EQ(Backup().point.stats.bytes_read, 5000u);
  struct stat st = Stat();
  std::ofstream(file_, std::ios::binary | std::ios::trunc) << std::string(5000, 'c');
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file_.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  fs::permissions(file_, fs::perms::owner_read);
  BackupReport r = Backup();
  EXPECT_EQ(r.point.stats.bytes_read, 5000u);
  EXPECT_EQ(r.figures.files_changed, 1u);
}

TEST_F(BackupCtimeTest, ContentRewrittenWithTheMtimeRestoredIsReadAgain) {
  EXPECT_EQ(Backup().point.stats.bytes_read, 5000u);
  struct stat st = Stat();
  std::ofstream(file_, std::ios::binary | std::ios::trunc) << std::string(5000, 'b');
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, file_.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  BackupReport r = Backup();
  EXPECT_EQ(r.point.stats.bytes_read, 5000u);
  EXPECT_EQ(r.figures.files_changed, 1u);
}

}  // namespace
}  // namespace obagent::engine
