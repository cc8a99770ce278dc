// Restore on points made by real backups: every item lands at its own path
// below a target (never two at one), overlapping selections restore once,
// a link swapped in above an item is never followed, an interrupted restore
// finishes on the next run without writing again what is already in place,
// chunks are fetched with one ranged read per run of neighbouring blobs,
// the totals are known before the first byte, and a restore ends only once
// what it wrote is on disk.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "engine/forwarding_env.h"
#include "engine/forwarding_restore_dir.h"
#include "engine/forwarding_store.h"
#include "engine/test_vault.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

using testing::RandomData;
using testing::ReadFile;
using testing::WriteFile;

// Counts the ranged reads of pack data that go to the store.
class CountingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    if (key.starts_with("data/")) ++data_reads;
    return ForwardingStore::GetRange(key, offset, length);
  }
  std::atomic<int> data_reads{0};
};

class RestoreTest : public ::testing::Test {
 protected:
  std::string Backup(const std::vector<std::string>& includes) {
    return testing::BackupOrFail(*repo_, testing::SmallBackupOptions(includes));
  }

  Result<RestoreReport> Restore(std::vector<std::string> items, std::optional<std::string> target,
                                ConflictPolicy conflict = ConflictPolicy::kOverwrite) {
    RestoreOptions options;
    options.point = "latest";
    options.items = std::move(items);
    options.target = std::move(target);
    options.conflict = conflict;
    return RunRestore(*repo_, options);
  }

  testing::TestVault vault_{"obagent-restore-test"};
  const fs::path dir_ = vault_.dir();
  CountingStore counting_{vault_.store()};
  std::unique_ptr<Repository> repo_ = vault_.NewRepository(counting_);
};

TEST_F(RestoreTest, RestoredPathKeepsTheWholePathBelowTheTarget) {
  EXPECT_EQ(RestoredPath("/tmp/out", "/x/Finance/2025/a.txt"), "/tmp/out/x/Finance/2025/a.txt");
  EXPECT_EQ(RestoredPath("/tmp/out/", "/a"), "/tmp/out/a");
  EXPECT_EQ(RestoredPath("D:/restore", "C:/Users/me/a.txt"), "D:/restore/C/Users/me/a.txt");
}

// Two files of one name in different folders, selected together, both come
// back, each at its own path; the report counts exactly what was written.
TEST_F(RestoreTest, SameNamedItemsLandAtTheirOwnPaths) {
  fs::path src = dir_ / "x" / "Finance";
  WriteFile(src / "2025" / "invoice-1.txt", "twenty-five");
  WriteFile(src / "2026" / "invoice-1.txt", "twenty-six");
  Backup({src.string()});
  for (auto policy : {ConflictPolicy::kOverwrite, ConflictPolicy::kCreateCopy}) {
    fs::path out = dir_ / ("out-" + std::to_string(static_cast<int>(policy)));
    auto report = Restore(
        {(src / "2025" / "invoice-1.txt").string(), (src / "2026" / "invoice-1.txt").string()},
        out.string(), policy);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_EQ(report->state, JobState::kCompleted);
    EXPECT_EQ(report->files, 2u);
    EXPECT_EQ(ReadFile(RestoredPath(out.string(), (src / "2025" / "invoice-1.txt").string())),
              "twenty-five");
    EXPECT_EQ(ReadFile(RestoredPath(out.string(), (src / "2026" / "invoice-1.txt").string())),
              "twenty-six");
  }
}

// Include roots that share a name stay apart in a whole-point restore.
TEST_F(RestoreTest, IncludeRootsOfOneNameStayApart) {
  WriteFile(dir_ / "a" / "data" / "x.txt", "from a");
  WriteFile(dir_ / "b" / "data" / "x.txt", "from b");
  Backup({(dir_ / "a" / "data").string(), (dir_ / "b" / "data").string()});
  fs::path out = dir_ / "out";
  auto report = Restore({}, out.string());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->files, 2u);
  EXPECT_EQ(ReadFile(RestoredPath(out.string(), (dir_ / "a/data/x.txt").string())), "from a");
  EXPECT_EQ(ReadFile(RestoredPath(out.string(), (dir_ / "b/data/x.txt").string())), "from b");
  // An item alone lands where the whole-point restore put it.
  fs::path one = dir_ / "one";
  ASSERT_TRUE(Restore({(dir_ / "b/data/x.txt").string()}, one.string()).ok());
  EXPECT_EQ(ReadFile(RestoredPath(one.string(), (dir_ / "b/data/x.txt").string())), "from b");
}

// A folder selected with a file inside it restores that file once.
TEST_F(RestoreTest, OverlappingSelectionsRestoreOnce) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "a.txt", "a");
  WriteFile(src / "sub" / "b.txt", "b");
  Backup({src.string()});
  auto report = Restore({(src / "sub" / "b.txt").string(), src.string(), src.string()},
                        (dir_ / "out").string());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->files, 2u);
  EXPECT_EQ(ReadFile(RestoredPath((dir_ / "out").string(), (src / "sub/b.txt").string())), "b");
}

// The original place: a folder above the item was replaced by a symlink to
// somewhere else since the backup. The restore refuses that item (naming
// the link) and writes nothing through it; the other item comes back.
TEST_F(RestoreTest, LinkAboveAnItemIsNeverFollowed) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "sub" / "x", "secret restore");
  WriteFile(src / "y", "fine");
  Backup({src.string()});
  fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  fs::remove_all(src / "sub");
  fs::create_directory_symlink(elsewhere, src / "sub");
  fs::remove(src / "y");
  auto report = Restore({(src / "sub" / "x").string(), (src / "y").string()}, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kFailed);
  ASSERT_EQ(report->failed_files.size(), 1u);
  EXPECT_NE(report->failed_files[0].error.find("never follows links"), std::string::npos)
      << report->failed_files[0].error;
  EXPECT_TRUE(fs::is_empty(elsewhere)) << "restore wrote through the link";
  EXPECT_EQ(ReadFile(src / "y"), "fine");
  // Under a target, the same item is restored normally.
  auto moved = Restore({(src / "sub" / "x").string()}, (dir_ / "out").string());
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->state, JobState::kCompleted);
  EXPECT_TRUE(fs::is_empty(elsewhere));
}

// Inside a restored folder, a symlink where the point has a folder is
// replaced by the folder (overwrite), never followed.
TEST_F(RestoreTest, LinkInsideARestoredFolderIsReplaced) {
  fs::path src = dir_ / "docs";
  WriteFile(src / "sub" / "x", "restored");
  Backup({src.string()});
  fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  fs::remove_all(src / "sub");
  fs::create_directory_symlink(elsewhere, src / "sub");
  auto report = Restore({src.string()}, std::nullopt);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_FALSE(fs::is_symlink(src / "sub"));
  EXPECT_EQ(ReadFile(src / "sub" / "x"), "restored");
  EXPECT_TRUE(fs::is_empty(elsewhere));
}

// A second run over a finished or half-finished restore: files already in
// place are checked and kept, temporary files of the killed run are
// removed, and the result is what one uninterrupted run gives.
TEST_F(RestoreTest, RestoreAgainFinishesWhatWasInterrupted) {
  fs::path src = dir_ / "data";
  for (int i = 0; i < 5; ++i) {
    WriteFile(src / ("f" + std::to_string(i)), RandomData(50000 + i, i));
  }
  Backup({src.string()});
  fs::path out = dir_ / "out";
  auto first = Restore({}, out.string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->files, 5u);
  fs::path restored = RestoredPath(out.string(), src.string());
  // What a kill leaves: one file missing, a temporary file, one file whose
  // content changed but kept size and mtime.
  fs::remove(restored / "f1");
  WriteFile(restored / ".obrestore-0123456789abcdef", "partial");
  auto mtime = fs::last_write_time(restored / "f2");
  {
    std::fstream f(restored / "f2", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f << "X";
  }
  fs::last_write_time(restored / "f2", mtime);
  auto second = Restore({}, out.string());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->state, JobState::kCompleted);
  EXPECT_EQ(second->files, 2u);
  EXPECT_EQ(second->unchanged, 3u);
  EXPECT_FALSE(fs::exists(restored / ".obrestore-0123456789abcdef"));
  for (int i = 0; i < 5; ++i) {
    std::string name = "f" + std::to_string(i);
    EXPECT_EQ(ReadFile(restored / name), ReadFile(src / name)) << name;
  }
}

// Many small files backed up together sit side by side in one pack: the
// restore reads them with a handful of ranged reads, not one per chunk.
TEST_F(RestoreTest, NeighbouringChunksAreFetchedTogether) {
  fs::path src = dir_ / "many";
  for (int i = 0; i < 200; ++i) {
    WriteFile(src / ("f" + std::to_string(i)), RandomData(3000, 1000 + i));
  }
  Backup({src.string()});
  counting_.data_reads = 0;
  std::vector<Progress> seen;
  RestoreOptions options;
  options.point = "latest";
  options.target = (dir_ / "out").string();
  options.progress = [&](const Progress& p) { seen.push_back(p); };
  auto report = RunRestore(*repo_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->files, 200u);
  EXPECT_LE(counting_.data_reads.load(), 4) << "one read per run of blobs";
  // The totals are there in the first report, before anything is written.
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().files_total, 200u);
  EXPECT_EQ(seen.front().bytes_total, 200u * 3000);
  EXPECT_EQ(seen.front().bytes_done, 0u);
  EXPECT_EQ(seen.back().bytes_done, 200u * 3000);
  EXPECT_EQ(seen.back().files_done, 200u);
}

// More folders than one batch holds: the workers fetch one batch while the
// next is planned, and every folder still gets its recorded mtime after its
// last entry landed, including a folder where a hard link whose first name
// is not restored becomes a copy (written with the following batch).
TEST_F(RestoreTest, FoldersOfOverlappingBatchesGetTheirTimesLast) {
  fs::path src = dir_ / "tree";
  WriteFile(src / "a" / "first", "the first name");
  constexpr int kFolders = 600;  // over two batches of open folders
  for (int i = 0; i < kFolders; ++i) {
    WriteFile(src / "z" / ("d" + std::to_string(i)) / "f", RandomData(2000, 7000 + i));
  }
  fs::path last = src / "z" / ("d" + std::to_string(kFolders - 1));
  ASSERT_EQ(::link((src / "a" / "first").c_str(), (last / "second").c_str()), 0);
  const auto when = fs::file_time_type::clock::now() - std::chrono::hours(24 * 400);
  for (int i = 0; i < kFolders; ++i) {
    fs::last_write_time(src / "z" / ("d" + std::to_string(i)), when + std::chrono::seconds(i));
  }
  Backup({src.string()});
  fs::path out = dir_ / "out";
  // Only z: the link's first name stays behind, so it comes back as a copy.
  auto report = Restore({(src / "z").string()}, out.string());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->files, kFolders + 1u);
  fs::path restored = RestoredPath(out.string(), (src / "z").string());
  EXPECT_EQ(ReadFile(restored / last.filename() / "second"), "the first name");
  for (int i = 0; i < kFolders; ++i) {
    std::string name = "d" + std::to_string(i);
    ASSERT_EQ(ReadFile(restored / name / "f"), ReadFile(src / "z" / name / "f")) << name;
    EXPECT_EQ(fs::last_write_time(restored / name), when + std::chrono::seconds(i)) << name;
  }
}

// Every name Linux allows is backed up and restored as it is: backslashes
// (systemd's unit names), newlines, leading dashes, bytes that are not UTF-8.
TEST_F(RestoreTest, EveryLinuxNameComesBack) {
  fs::path src = dir_ / "src";
  std::vector<std::string> names = {"system-systemd\\x2dcryptsetup.slice",
                                    "\\",
                                    "a\\b\\c",
                                    "new\nline",
                                    "-rf",
                                    "\xFF\xFE",
                                    "CON",
                                    "a<b>:c|d?e*\"f",
                                    "trailing.",
                                    "trailing "};
  for (int b = 1; b <= 0xFF; ++b) {
    if (b != '/') names.push_back("n" + std::string(1, static_cast<char>(b)) + "n");
  }
  for (const std::string& name : names) WriteFile(src / "d\\ir" / name, "content of " + name);
  Backup({src.string()});
  auto report = Restore({}, (dir_ / "out").string());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_TRUE(report->warnings.empty());
  for (const std::string& name : names) {
    EXPECT_EQ(ReadFile(dir_ / ("out" + src.string()) / "d\\ir" / name), "content of " + name);
  }
}

// A directory listing with a name no tree can hold (a broken or hostile
// file system): the backup skips that entry with a clear reason and still
// writes a recovery point its restore reads.
TEST_F(RestoreTest, BackupSkipsANameNoTreeCanHold) {
  class BadNameEnv : public obagent::testing::ForwardingEnv {
   public:
    using ForwardingEnv::ForwardingEnv;
    Result<std::vector<platform::DirEntry>> ListDir(const std::string& p) override {
      auto entries = ForwardingEnv::ListDir(p);
      if (entries.ok() && p.ends_with("/src")) {
        entries->push_back({"../escaped", platform::FileKind::kRegular});
        entries->push_back({"..", platform::FileKind::kDirectory});
        entries->push_back({std::string("nul\0byte", 8), platform::FileKind::kRegular});
      }
      return entries;
    }
  } env(platform::Env::Default());
  Repository repo(counting_, repo_->keys(), (dir_ / "cache2").string(), env);
  fs::path src = dir_ / "src";
  WriteFile(src / "good\\name", "kept");
  ASSERT_TRUE(repo.LoadIndex().ok());
  BackupOptions options;
  options.includes = {src.string()};
  options.threads = 2;
  options.hostname = "test";
  auto backup = RunBackup(repo, options);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_EQ(backup->state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(backup->failed_files.size(), 3u);
  for (const FailedFile& f : backup->failed_files) {
    EXPECT_NE(f.error.find("cannot be stored in a recovery point"), std::string::npos) << f.error;
  }
  ASSERT_TRUE(repo_->LoadIndex().ok());
  auto report = Restore({}, (dir_ / "out").string());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(ReadFile(dir_ / ("out" + src.string()) / "good\\name"), "kept");
  EXPECT_FALSE(fs::exists(dir_ / ("out" + src.string()) / "escaped"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "escaped"));
}

// What a restore's folders saw: files renamed into place, and syncs of the
// file system, with how many files were in place at the last one.
struct SyncWatch {
  std::atomic<int> renames{0};
  std::atomic<int> syncs{0};
  std::atomic<int> renames_at_last_sync{-1};
  Status first_sync;  // what the first sync answers instead of syncing
};

class SyncWatchDir final : public testing::ForwardingRestoreDir {
 public:
  SyncWatchDir(std::unique_ptr<platform::RestoreDir> inner, SyncWatch& watch)
      : ForwardingRestoreDir(std::move(inner)), watch_(watch) {}
  Status Rename(std::string_view from, std::string_view to) override {
    Status st = inner_->Rename(from, to);
    if (st.ok()) ++watch_.renames;
    return st;
  }
  Status SyncFileSystem() override {
    watch_.renames_at_last_sync = watch_.renames.load();
    if (watch_.syncs++ == 0 && !watch_.first_sync.ok()) return watch_.first_sync;
    return inner_->SyncFileSystem();
  }

 protected:
  std::unique_ptr<platform::RestoreDir> WrapSubdir(std::unique_ptr<platform::RestoreDir> sub,
                                                   std::string_view) override {
    return std::make_unique<SyncWatchDir>(std::move(sub), watch_);
  }

 private:
  SyncWatch& watch_;
};

class SyncWatchEnv final : public obagent::testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  Result<std::unique_ptr<platform::RestoreDir>> OpenRestoreRoot(const std::string& p,
                                                                bool create) override {
    OB_ASSIGN_OR_RETURN(auto root, base_.OpenRestoreRoot(p, create));
    return std::unique_ptr<platform::RestoreDir>(
        std::make_unique<SyncWatchDir>(std::move(root), watch));
  }
  SyncWatch watch;
};

class DurableRestoreTest : public RestoreTest {
 protected:
  void SetUp() override {
    WriteFile(src_ / "a.txt", "alpha");
    WriteFile(src_ / "sub" / "b.bin", RandomData(300000, 7));
    Backup({src_.string()});
  }
  Result<RestoreReport> RestoreThrough(SyncWatchEnv& env, const fs::path& out, bool durable) {
    Repository repo(counting_, repo_->keys(), (dir_ / "cache-durable").string(), env);
    Status loaded = repo.LoadIndex();
    if (!loaded.ok()) return loaded;
    RestoreOptions options;
    options.point = "latest";
    options.target = out.string();
    options.durable = durable;
    return RunRestore(repo, options);
  }
  void ExpectRestored(const fs::path& out) {
    EXPECT_EQ(ReadFile(out / src_.relative_path() / "a.txt"), "alpha");
    EXPECT_EQ(ReadFile(out / src_.relative_path() / "sub" / "b.bin"), RandomData(300000, 7));
  }
  const fs::path src_ = dir_ / "src";
};

// The file system is synced after the last file is in place: Completed
// means on disk.
TEST_F(DurableRestoreTest, EndsOnlyOnceEveryFileIsOnDisk) {
  SyncWatchEnv env(platform::Env::Default());
  auto report = RestoreThrough(env, dir_ / "out", true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  ExpectRestored(dir_ / "out");
  EXPECT_EQ(env.watch.renames.load(), 2);
  EXPECT_GE(env.watch.syncs.load(), 1);
  EXPECT_EQ(env.watch.renames_at_last_sync.load(), 2);
}

// A drill (durable false) deletes what it restored: nothing is synced.
TEST_F(DurableRestoreTest, ARestoreThatIsNotDurableNeverSyncs) {
  SyncWatchEnv env(platform::Env::Default());
  auto report = RestoreThrough(env, dir_ / "out", false);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  ExpectRestored(dir_ / "out");
  EXPECT_EQ(env.watch.syncs.load(), 0);
}

// A sync that fails (the disk lost written data) fails the job, naming the
// target and the error; the files stay where they were written.
TEST_F(DurableRestoreTest, AFailedSyncFailsTheJob) {
  SyncWatchEnv env(platform::Env::Default());
  env.watch.first_sync = Status(ErrorCode::kIo, "write to disk: Input/output error");
  fs::path out = dir_ / "out";
  auto report = RestoreThrough(env, out, true);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kFailed);
  ASSERT_EQ(report->failed_files.size(), 1u);
  EXPECT_EQ(report->failed_files[0].path, out.string());
  EXPECT_NE(report->failed_files[0].error.find("may not be on disk"), std::string::npos)
      << report->failed_files[0].error;
  EXPECT_NE(report->failed_files[0].error.find("Input/output error"), std::string::npos)
      << report->failed_files[0].error;
  ExpectRestored(out);
}

}  // namespace
}  // namespace obagent::engine
