// The backup through the snapshot interface, with a FakeVssSnapshotProvider
// standing in for VSS (which cannot run here): files are read from the
// shadow copy but recorded under their original paths, a VSS error fails
// the job with what to do, and the snapshot is released on every path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/forwarding_store.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"
#include "platform/vss_util.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using platform::SnapshotKind;
using platform::SnapshotVolume;

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteText(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// Behaves as the VSS requester does towards the engine: one "volume"
// (a folder here) per source, grouped with the real vss::VolumesOfSources,
// a point-in-time copy as the shadow copy device, the real HRESULT mapping
// for failures, and a release that deletes the shadow copy.
class FakeVssSnapshotProvider : public platform::SnapshotProvider {
 public:
  FakeVssSnapshotProvider(fs::path volume, fs::path shadow)
      : volume_(std::move(volume)), shadow_(std::move(shadow)) {}

  uint32_t fail_hresult = 0;             // DoSnapshotSet fails with this
  Status release_error;                  // what Release returns
  std::function<void()> after_snapshot;  // runs once the shadow copy exists
  int creates = 0;
  int releases = 0;

  Result<std::unique_ptr<platform::Snapshot>> Create(const std::vector<std::string>& sources,
                                                     const std::string& work_dir) override {
    ++creates;
    work_dir_ = work_dir;
    auto volumes = platform::vss::VolumesOfSources(
        sources, [&](const std::string& path) -> Result<std::string> {
          if (path.rfind(volume_.string(), 0) != 0) return NotFound("not on the fake volume");
          return volume_.string() + "/";
        });
    if (!volumes.ok()) return volumes.status();
    if (fail_hresult != 0) {
      return platform::vss::StatusFromHresult(fail_hresult, "DoSnapshotSet", {"C:/"});
    }
    fs::copy(volume_, shadow_, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    auto snapshot = std::make_unique<FakeVssSnapshot>(*this);
    snapshot->volumes_.push_back({SnapshotKind::kVss, volumes->front(), shadow_.string() + "/",
                                  "shadow copy of the fake volume"});
    if (after_snapshot) after_snapshot();
    return std::unique_ptr<platform::Snapshot>(std::move(snapshot));
  }

  std::string work_dir_;

 private:
  class FakeVssSnapshot : public platform::Snapshot {
   public:
    explicit FakeVssSnapshot(FakeVssSnapshotProvider& p) : provider_(p) {}
    ~FakeVssSnapshot() override { (void)Release(); }
    const std::vector<SnapshotVolume>& volumes() const override { return volumes_; }
    Status Release() override {
      if (released_) return Status::Ok();
      released_ = true;
      ++provider_.releases;
      fs::remove_all(provider_.shadow_);
      return provider_.release_error;
    }
    std::vector<SnapshotVolume> volumes_;

   private:
    FakeVssSnapshotProvider& provider_;
    bool released_ = false;
  };

  fs::path volume_;
  fs::path shadow_;
};

// Fails every write to the vault.
class BrokenStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Status Put(std::string_view, ByteView) override { return IoError("the vault is gone"); }
};

class BackupSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-snapshot-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ / "volume" / "data";
    fs::create_directories(src_ / "sub");
    WriteText(src_ / "a.txt", "as it was when the snapshot was taken");
    WriteText(src_ / "sub" / "b.txt", "b");
    store_ = std::make_unique<storage::MemoryStore>();
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    provider_ = std::make_unique<FakeVssSnapshotProvider>(dir_ / "volume", dir_ / "shadow");
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<BackupReport> Backup(storage::BlobStore& store) {
    repo_ = std::make_unique<Repository>(store, keys_, (dir_ / "cache").string(),
                                         platform::Env::Default());
    EXPECT_TRUE(repo_->LoadIndex().ok());
    BackupOptions options;
    options.includes = {src_.string()};
    options.chunker = {4096, 16384, 65536};
    options.threads = 2;
    options.hostname = "test";
    options.snapshots = provider_.get();
    options.snapshot_dir = (dir_ / "scratch" / "snapshots").string();
    return RunBackup(*repo_, options);
  }

  fs::path dir_, src_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<FakeVssSnapshotProvider> provider_;
};

TEST_F(BackupSnapshotTest, ReadsTheShadowCopyAndRecordsTheOriginalPaths) {
  provider_->after_snapshot = [&] {
    // Changed, added and deleted after the snapshot: none of it is in the point.
    WriteText(src_ / "a.txt", "written while the backup ran");
    WriteText(src_ / "new.txt", "new");
    fs::remove(src_ / "sub" / "b.txt");
  };
  auto report = Backup(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->snapshot, "vss");
  EXPECT_EQ(provider_->work_dir_, (dir_ / "scratch" / "snapshots").string());
  EXPECT_EQ(report->point.paths, std::vector<std::string>{src_.string()});
  // Browsable under the original path, not the shadow copy's.
  auto node = FindNode(*repo_, report->point.tree, (src_ / "a.txt").string());
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_FALSE(FindNode(*repo_, report->point.tree, (dir_ / "shadow" / "data").string()).ok());

  RestoreOptions restore;
  restore.point = report->point_id;
  restore.target = (dir_ / "restored").string();
  auto restored = RunRestore(*repo_, restore);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  fs::path at = RestoredPath((dir_ / "restored").string(), src_.string());
  EXPECT_EQ(ReadText(at / "a.txt"), "as it was when the snapshot was taken");
  EXPECT_EQ(ReadText(at / "sub" / "b.txt"), "b");
  EXPECT_FALSE(fs::exists(at / "new.txt"));

  EXPECT_EQ(provider_->releases, 1);
  EXPECT_FALSE(fs::exists(dir_ / "shadow"));
}

TEST_F(BackupSnapshotTest, InsufficientShadowStorageFailsTheJobWithTheFix) {
  provider_->fail_hresult = platform::vss::kInsufficientStorage;
  auto report = Backup(*store_);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kShadowStorageInsufficient);
  std::string text = report.status().ToString();
  EXPECT_EQ(text.rfind("[0x8004231F] ", 0), 0u) << text;
  EXPECT_NE(text.find("vssadmin Resize ShadowStorage /For=C: /On=C: /MaxSize="), std::string::npos)
      << text;
  auto points = repo_->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  EXPECT_TRUE(points->empty());  // nothing read, nothing written
}

TEST_F(BackupSnapshotTest, ReleasesTheSnapshotWhenTheJobFails) {
  BrokenStore broken(*store_);
  auto report = Backup(broken);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().ToString().find("the vault is gone"), std::string::npos);
  EXPECT_EQ(provider_->releases, 1);
  EXPECT_FALSE(fs::exists(dir_ / "shadow"));
}

TEST_F(BackupSnapshotTest, AFailedReleaseOfAFailedJobIsReportedWithIt) {
  BrokenStore broken(*store_);
  provider_->release_error = IoError("DeleteSnapshots: 0x80042308");
  auto report = Backup(broken);
  ASSERT_FALSE(report.ok());
  std::string text = report.status().ToString();
  EXPECT_NE(text.find("the vault is gone"), std::string::npos) << text;
  EXPECT_NE(text.find("the snapshot could not be removed either: DeleteSnapshots"),
            std::string::npos)
      << text;
}

TEST_F(BackupSnapshotTest, AFailedReleaseIsAWarning) {
  provider_->release_error = IoError("DeleteSnapshots: 0x80042308");
  auto report = Backup(*store_);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(report->failed_files.size(), 1u);
  EXPECT_EQ(report->failed_files[0].path, (dir_ / "shadow").string() + "/");
  EXPECT_EQ(report->failed_files[0].error, "DeleteSnapshots: 0x80042308");
  auto points = repo_->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 1u);  // the data itself was backed up
}

}  // namespace
}  // namespace obagent::engine
