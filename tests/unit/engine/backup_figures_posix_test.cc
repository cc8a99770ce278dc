// The figures a backup reports for vaultd's anomaly judgement (BackupFigures,
// backup.h): files new, changed and deleted against the parent point (a
// removed folder's files, a file replaced by a folder and back), new file
// data and the part of it that did not compress.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/test_vault.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::string Text(size_t n) {
  std::string s;
  while (s.size() < n) s += "the quick brown fox jumps over the lazy dog\n";
  s.resize(n);
  return s;
}

std::string Random(size_t n) {
  Bytes b = crypto::RandomBytes(n);
  return std::string(b.begin(), b.end());
}

class BackupFiguresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-figures-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ / "src";
    fs::create_directories(src_);
    store_ = std::make_unique<storage::MemoryStore>();
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    repo_ = std::make_unique<Repository>(*store_, keys_, (dir_ / "cache").string(),
                                         platform::Env::Default());
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  BackupFigures Backup() { return testing::BackupFolderOrFail(*repo_, src_).figures; }

  fs::path dir_, src_;
  std::unique_ptr<storage::MemoryStore> store_;
  keys::KeySet keys_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(BackupFiguresTest, CountsNewChangedAndDeletedFilesAgainstTheParent) {
  fs::create_directories(src_ / "docs" / "deep");
  for (int i = 0; i < 5; ++i) Write(src_ / "docs" / ("d" + std::to_string(i)), Text(1000 + i));
  for (int i = 0; i < 3; ++i) Write(src_ / "docs" / "deep" / ("e" + std::to_string(i)), Text(50));
  Write(src_ / "a", Text(10));
  Write(src_ / "b", Text(10));
  fs::create_symlink("a", src_ / "link");
  BackupFigures f = Backup();
  EXPECT_EQ(f.files_new, 11u);  // 10 files and a link: all new on a first backup
  EXPECT_EQ(f.files_changed, 0u);
  EXPECT_EQ(f.files_deleted, 0u);

  // Nothing changed: nothing new, changed or deleted, no new data.
  f = Backup();
  EXPECT_EQ(f.files_new + f.files_changed + f.files_deleted, 0u);
  EXPECT_EQ(f.bytes_new, 0u);

  Write(src_ / "a", Text(20));             // changed
  fs::remove_all(src_ / "docs" / "deep");  // 3 deleted with their folder
  fs::remove(src_ / "b");                  // replaced by a folder: 1 deleted …
  fs::create_directories(src_ / "b");
  Write(src_ / "b" / "inside", Text(30));  // … and 1 new inside it
  fs::remove(src_ / "link");               // a link pointing elsewhere: changed
  fs::create_symlink("docs", src_ / "link");
  Write(src_ / "c", Text(40));  // new
  f = Backup();
  EXPECT_EQ(f.files_changed, 2u);
  EXPECT_EQ(f.files_deleted, 4u);
  EXPECT_EQ(f.files_new, 2u);

  fs::remove_all(src_ / "docs");  // a folder of 5 files replaced by a file
  Write(src_ / "docs", Text(60));
  f = Backup();
  EXPECT_EQ(f.files_deleted, 5u);
  EXPECT_EQ(f.files_new, 1u);
  EXPECT_EQ(f.files_changed, 0u);
}

TEST_F(BackupFiguresTest, NewDataThatDoesNotCompressIsCounted) {
  Write(src_ / "text", Text(200000));
  BackupFigures f = Backup();
  EXPECT_EQ(f.bytes_new, 200000u);
  EXPECT_EQ(f.bytes_new_incompressible, 0u);
  EXPECT_EQ(f.IncompressibleShare(), 0.0);

  Write(src_ / "text", Random(300000));  // "encrypted" in place
  f = Backup();
  EXPECT_EQ(f.files_changed, 1u);
  EXPECT_EQ(f.bytes_new, 300000u);
  EXPECT_EQ(f.bytes_new_incompressible, 300000u);
  EXPECT_EQ(f.IncompressibleShare(), 1.0);
}

}  // namespace
}  // namespace obagent::engine
