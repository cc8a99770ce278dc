// The backup engine and Windows descriptors and attributes (tree kinds 16
// and 17), through an Env that reports them as the Windows Env does: they
// are recorded; a descriptor the tree's check refuses is left out with a
// warning (a tree the restore could not parse is never written); and an
// unchanged entry (same ctime and inode: on Windows an ACL or attribute
// change moves NTFS's ChangeTime) takes them over from the previous point
// without reading them again, so a no-change backup stays metadata-only.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/security_descriptor_test_util.h"
#include "engine/forwarding_env.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/tree.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
namespace sd = win_security::test_util;

// Reports a descriptor and attributes for every entry named "*.txt"; the
// one named "bad.txt" gets a descriptor whose DACL runs past its end.
class WindowsMetadataEnv final : public testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  std::atomic<int> reads{0};

  Result<platform::FileMetadata> ReadMetadata(const std::string& path,
                                              const platform::FileInfo& info) override {
    OB_ASSIGN_OR_RETURN(platform::FileMetadata md, ForwardingEnv::ReadMetadata(path, info));
    if (path.size() < 4 || path.substr(path.size() - 4) != ".txt") return md;
    ++reads;
    md.win_security = sd::SampleDescriptor();
    md.win_attributes = tree::kWinAttributeHidden | tree::kWinAttributeArchive;
    if (fs::path(path).filename() == "bad.txt") md.win_security[48 + 2] = 0xFF;
    return md;
  }
};

class BackupWindowsMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-winmd-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "src");
    for (const char* name : {"a.txt", "b.txt", "bad.txt"}) {
      std::ofstream(dir_ / "src" / name) << name;
    }
    store_ = std::make_unique<storage::MemoryStore>();
    repo_ = std::make_unique<Repository>(*store_, keys::DeriveKeySet(crypto::RandomKey()),
                                         (dir_ / "cache").string(), env_);
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }
  void TearDown() override {
    repo_.reset();
    fs::remove_all(dir_);
  }

  Result<BackupReport> Backup() {
    BackupOptions options;
    options.includes = {(dir_ / "src").string()};
    options.threads = 1;
    options.hostname = "test";
    return RunBackup(*repo_, options);
  }

  Result<tree::Node> Find(const ObjectId& root, const fs::path& path) {
    return FindNode(*repo_, root, path.string());
  }

  fs::path dir_;
  WindowsMetadataEnv env_{platform::Env::Default()};
  std::unique_ptr<storage::MemoryStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(BackupWindowsMetadataTest, RecordedCheckedAndTakenOverWhenUnchanged) {
  auto first = Backup();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(env_.reads.load(), 3);
  auto a = Find(first->point.tree, dir_ / "src" / "a.txt");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->win_security, sd::SampleDescriptor());
  EXPECT_EQ(a->win_attributes, tree::kWinAttributeHidden | tree::kWinAttributeArchive);
  // The malformed descriptor is left out, with a warning; its attributes
  // and content are kept.
  auto bad = Find(first->point.tree, dir_ / "src" / "bad.txt");
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_TRUE(bad->win_security.empty());
  EXPECT_TRUE(bad->win_attributes.has_value());
  EXPECT_EQ(bad->size, 7u);
  size_t warnings = 0;
  for (const FailedFile& f : first->failed_files) {
    if (f.error.find("security descriptor is not recorded") != std::string::npos) {
      ++warnings;
      EXPECT_NE(f.path.find("bad.txt"), std::string::npos) << f.path;
    }
  }
  EXPECT_EQ(warnings, 1u);

  // Nothing changed: no entry is read again, the metadata is the same.
  auto second = Backup();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(env_.reads.load(), 3);
  auto again = Find(second->point.tree, dir_ / "src" / "a.txt");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->win_security, a->win_security);
  EXPECT_EQ(again->win_attributes, a->win_attributes);

  // A change of ctime (chmod here; an ACL change on Windows) reads it again.
  fs::permissions(dir_ / "src" / "b.txt", fs::perms::owner_read, fs::perm_options::replace);
  auto third = Backup();
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(env_.reads.load(), 4);
}

}  // namespace
}  // namespace obagent::engine
