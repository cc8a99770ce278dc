// The backup and restore flows end to end on an in-memory vault
// (storage::MemoryStore): a backup restored to another folder gives the
// same tree back — content, kinds, link targets, modes and modification
// times to the nanosecond —, a second backup of unchanged data (or of a
// copy of it under another name) uploads no data, and a restore of one
// item brings back only that item.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "engine/forwarding_store.h"
#include "engine/test_vault.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

using testing::RandomData;
using testing::WriteFile;

// Counts the objects written per top-level folder ("data", "index",
// "snapshots").
class PutCountingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status Put(std::string_view key, ByteView data) override {
    {
      std::lock_guard lock(mu_);
      ++puts_[std::string(key.substr(0, key.find('/')))];
    }
    return ForwardingStore::Put(key, data);
  }
  int Puts(const std::string& folder) {
    std::lock_guard lock(mu_);
    return puts_[folder];
  }
  void Reset() {
    std::lock_guard lock(mu_);
    puts_.clear();
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> puts_;
};

// What a restore must give back of each entry below a root: kind, content
// (its size and hash, so a failure prints readably) or link target,
// permission bits, and (for files and folders) the modification time in
// nanoseconds.
std::map<std::string, std::string> Metadata(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto& [rel, entry] : testing::TreeSnapshot(root)) {
    std::string& line = out[rel];
    if (entry.starts_with("f:")) {
      std::string_view content = std::string_view(entry).substr(2);
      line = "file " + std::to_string(content.size()) + " bytes, hash " +
             std::to_string(std::hash<std::string_view>{}(content));
    } else {
      line = entry;
    }
    struct stat st {};
    EXPECT_EQ(::lstat((root / rel).c_str(), &st), 0) << rel;
    if (S_ISLNK(st.st_mode)) continue;  // a link's own mode and time are the system's
    line += " mode=" + std::to_string(st.st_mode & 07777) +
            " mtime=" + std::to_string(st.st_mtim.tv_sec) + "." +
            std::to_string(st.st_mtim.tv_nsec);
  }
  return out;
}

void SetTimeNs(const fs::path& path, int64_t sec, long nsec) {
  timespec times[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

class BackupRestoreFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_ / "src";
    WriteFile(src_ / "big.bin", RandomData(600000, 1));
    WriteFile(src_ / "small.txt", "hello\n");
    WriteFile(src_ / "empty", "");
    WriteFile(src_ / "sub" / "deeper" / "mid.bin", RandomData(70000, 2));
    WriteFile(src_ / "sub" / "script.sh", "#!/bin/sh\necho hi\n");
    fs::create_directories(src_ / "empty-dir");
    fs::create_symlink("../big.bin", src_ / "sub" / "link");
    fs::permissions(src_ / "small.txt", fs::perms(0600));
    fs::permissions(src_ / "sub" / "script.sh", fs::perms(0755));
    fs::permissions(src_ / "empty", fs::perms(0444));
    fs::permissions(src_ / "sub" / "deeper", fs::perms(0750));
    fs::permissions(src_ / "empty-dir", fs::perms(0700));
    // Times with nanoseconds, set last (innermost first: creating an entry
    // changes its folder's time).
    int64_t t = 1'600'000'000;
    for (const char* rel : {"big.bin", "small.txt", "empty", "sub/deeper/mid.bin", "sub/script.sh",
                            "sub/deeper", "empty-dir", "sub"}) {
      SetTimeNs(src_ / rel, t, 123456789 + t % 1000);
      t += 86400 + 17;
    }
  }

  std::string Backup() { return testing::BackupOrFail(*repo_, Options()); }
  BackupOptions Options() { return testing::SmallBackupOptions({src_.string()}); }

  Result<RestoreReport> Restore(const std::string& point, const fs::path& target,
                                std::vector<std::string> items = {}) {
    RestoreOptions options;
    options.point = point;
    options.target = target.string();
    options.items = std::move(items);
    options.threads = 2;
    return RunRestore(*repo_, options);
  }

  // The ids of the data blobs the loaded index holds.
  std::set<ObjectId> DataBlobs() const {
    std::set<ObjectId> out;
    for (const auto& [id, loc] : repo_->index().blobs()) {
      if (loc.type == pack::BlobType::kData) out.insert(id);
    }
    return out;
  }

  testing::TestVault vault_{"obagent-flow-test"};
  const fs::path dir_ = vault_.dir();
  PutCountingStore counting_{vault_.store()};
  std::unique_ptr<Repository> repo_ = vault_.NewRepository(counting_);
  fs::path src_;
};

TEST_F(BackupRestoreFlowTest, RestoreGivesTheSameTreeWithModesAndTimes) {
  const auto before = Metadata(src_);
  std::string id = Backup();
  ASSERT_FALSE(id.empty());
  // Nothing of the vault is on disk: the store is the memory one.
  EXPECT_FALSE(fs::exists(dir_ / "vault"));
  EXPECT_GT(counting_.Puts("data"), 0);
  EXPECT_EQ(counting_.Puts("snapshots"), 1);

  fs::path target = dir_ / "target";
  auto report = Restore(id, target);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->point_id, id);
  EXPECT_TRUE(report->failed_files.empty());
  EXPECT_EQ(report->files, 6u);  // five files and the link
  EXPECT_EQ(report->bytes, 600000u + 6u + 70000u + 18u);
  EXPECT_EQ(Metadata(RestoredPath(target.string(), src_.string())), before);
  // The sources were only read.
  EXPECT_EQ(Metadata(src_), before);
}

TEST_F(BackupRestoreFlowTest, UnchangedOrCopiedDataUploadsNoNewData) {
  std::string first = Backup();
  ASSERT_FALSE(first.empty());
  const std::set<ObjectId> data = DataBlobs();
  ASSERT_GT(data.size(), 10u);

  // Unchanged: nothing is read, no data blob is new. (Trees above the
  // sources may be: /tmp and the test's folder change meanwhile.)
  counting_.Reset();
  auto again = RunBackup(*repo_, Options());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->point.stats.bytes_read, 0u);
  EXPECT_LT(again->point.stats.bytes_new, 4096u);
  EXPECT_LE(counting_.Puts("data"), 1);  // one pack of trees at most
  EXPECT_EQ(counting_.Puts("snapshots"), 1);
  ASSERT_TRUE(repo_->LoadIndex().ok());
  EXPECT_EQ(DataBlobs(), data) << "unchanged data was uploaded again";

  // A copy under a new name is read again (change detection does not know
  // it), but every chunk is in the vault already.
  fs::copy_file(src_ / "big.bin", src_ / "big-copy.bin");
  counting_.Reset();
  auto copy = RunBackup(*repo_, Options());
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ(copy->point.stats.bytes_read, 600000u);
  EXPECT_LT(copy->point.stats.bytes_new, 4096u);
  EXPECT_LE(counting_.Puts("data"), 1);
  ASSERT_TRUE(repo_->LoadIndex().ok());
  EXPECT_EQ(DataBlobs(), data) << "the copy's data was uploaded again";

  fs::path target = dir_ / "target";
  auto report = Restore(copy->point_id, target);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(testing::ReadFile(RestoredPath(target.string(), (src_ / "big-copy.bin").string())),
            RandomData(600000, 1));
}

TEST_F(BackupRestoreFlowTest, RestoringOneItemBringsBackOnlyThatItem) {
  std::string id = Backup();
  ASSERT_FALSE(id.empty());
  fs::path target = dir_ / "target";
  std::string item = (src_ / "sub" / "deeper").string();
  auto report = Restore("latest", target, {item});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->files, 1u);
  EXPECT_EQ(Metadata(RestoredPath(target.string(), item)), Metadata(src_ / "sub" / "deeper"));
  EXPECT_FALSE(fs::exists(RestoredPath(target.string(), (src_ / "big.bin").string())));
  // An item the point does not hold is an error, and nothing is written.
  fs::path other = dir_ / "other";
  auto missing = Restore("latest", other, {(src_ / "no-such-file").string()});
  EXPECT_TRUE(!missing.ok() || missing->state == JobState::kFailed);
  EXPECT_FALSE(fs::exists(RestoredPath(other.string(), (src_ / "no-such-file").string())));
}

}  // namespace
}  // namespace obagent::engine
