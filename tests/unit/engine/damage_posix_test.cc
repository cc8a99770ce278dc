// Damage in a local vault, made for real by changing the bytes on disk: a
// pack lost, flipped, truncated or swapped; an old index file back after a
// prune; a damaged recovery point and index file. Each is found, named and
// contained, and a backup of the unchanged source heals what it can.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "engine/test_vault.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/verify.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using testing::WriteRandom;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const fs::path& path, const std::string& data) {
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Relative path -> content, for every regular file below root.
std::map<std::string, std::string> Files(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = ReadAll(e.path());
  }
  return out;
}

size_t CountFiles(const fs::path& root) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) n += e.is_regular_file();
  return n;
}

bool AnyContains(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

class DamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-damage-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    vault_ = dir_ / "vault";
    src_ = dir_ / "src";
    fs::create_directories(vault_);
    fs::create_directories(src_ / "sub");
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    auto store = storage::OpenLocalDirStore(vault_.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    WriteRandom(src_ / "keep.bin", 300000, 1);
    WriteRandom(src_ / "sub" / "deep.bin", 200000, 2);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A repository as a new process would open it: fresh cache, index loaded.
  std::unique_ptr<Repository> Open() {
    auto repo = std::make_unique<Repository>(
        *store_, keys_, (dir_ / ("cache-" + std::to_string(opened_++))).string(),
        platform::Env::Default());
    Status st = repo->LoadIndex();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return repo;
  }

  BackupReport Backup() {
    auto repo = Open();
    BackupOptions options;
    options.includes = {src_.string()};
    options.chunker = {4096, 16384, 65536};
    options.threads = 2;
    options.pack_size = 128 * 1024;
    options.hostname = "test";
    auto report = RunBackup(*repo, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : BackupReport{};
  }

  VerifyReport Verify(size_t* recorded = nullptr) {
    auto repo = Open();
    auto report = RunVerify(*repo, 2);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    auto saved = repo->SaveDamageRecord();
    EXPECT_TRUE(saved.ok()) << saved.status().ToString();
    if (recorded != nullptr) *recorded = saved.ok() ? *saved : 0;
    return report.ok() ? *report : VerifyReport{};
  }

  // Restores the point and compares it with the source as it is now.
  void ExpectRestoresIdentical(const std::string& point) {
    auto repo = Open();
    fs::path target = dir_ / ("restore-" + std::to_string(restores_++));
    RestoreOptions options;
    options.point = point;
    options.target = target.string();
    options.threads = 2;
    auto report = RunRestore(*repo, options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->failed_files.empty())
        << report->failed_files.front().path << ": " << report->failed_files.front().error;
    EXPECT_EQ(Files(RestoredPath(target.string(), src_.string())), Files(src_)) << point;
  }

  // The pack holding the first chunk of a source file (relative to src_);
  // `offset`, if given, receives where that chunk starts in the pack.
  std::string PackOf(const std::string& rel, const std::string& point, uint32_t* offset = nullptr) {
    auto repo = Open();
    const index::Location* loc = testing::FirstChunkOf(*repo, point, (src_ / rel).string());
    if (loc == nullptr) return "";
    if (offset != nullptr) *offset = loc->offset;
    return repo->index().pack_names()[loc->pack];
  }

  fs::path PackPath(const std::string& name) const {
    return vault_ / "data" / name.substr(0, 2) / name;
  }
  fs::path OnlyFile(const std::string& folder) const {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(vault_ / folder)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    EXPECT_EQ(files.size(), 1u) << folder;
    return files.empty() ? fs::path() : files.front();
  }

  // Damages the pack holding keep.bin's data, checks verify names the loss
  // with its full path and records it, then that a backup of the unchanged
  // source heals it and both points restore identical.
  void DamageVerifyHeal(const std::function<void(const fs::path& pack)>& damage, bool pack_gone) {
    BackupReport first = Backup();
    ASSERT_EQ(first.state, JobState::kCompleted);
    std::string pack = PackOf("keep.bin", first.point_id, &keep_offset_);
    damage(PackPath(pack));

    size_t recorded = 0;
    VerifyReport verify = Verify(&recorded);
    EXPECT_FALSE(verify.ok());
    EXPECT_TRUE(AnyContains(verify.problems, "pack " + pack))
        << ::testing::PrintToString(verify.problems);
    // The lost file is named with its point and full path.
    EXPECT_TRUE(AnyContains(verify.problems, "recovery point " + first.point_id + ": " +
                                                 (src_ / "keep.bin").string() + ": "))
        << ::testing::PrintToString(verify.problems);
    EXPECT_GE(verify.lost_items, 1u);
    if (pack_gone) {
      EXPECT_EQ(recorded, 0u);  // the index leaves a missing pack out by itself
    } else {
      EXPECT_GT(recorded, 0u);
    }

    // The unchanged source is backed up again: the lost blobs come back.
    BackupReport second = Backup();
    EXPECT_EQ(second.state, JobState::kCompleted);
    EXPECT_GT(second.healed_blobs, 0u);
    EXPECT_NE(HealedSummary(second).find("missing or damaged in the vault"), std::string::npos);
    ExpectRestoresIdentical(second.point_id);
    // The first point's data is in the vault again too.
    ExpectRestoresIdentical(first.point_id);
    // Nothing of any point is lost any more; only the damaged pack itself
    // is still reported until it is repaired or pruned.
    VerifyReport after = Verify();
    EXPECT_EQ(after.lost_items, 0u) << ::testing::PrintToString(after.problems);
    EXPECT_FALSE(AnyContains(after.problems, "recovery point "));
    // A third backup has nothing left to heal.
    EXPECT_EQ(Backup().healed_blobs, 0u);
  }

  fs::path dir_, vault_, src_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
  int opened_ = 0;
  int restores_ = 0;
  uint32_t keep_offset_ = 0;  // of keep.bin's first chunk in its pack (DamageVerifyHeal)
};

TEST_F(DamageTest, LostPackIsReportedAndHealedByTheNextBackup) {
  DamageVerifyHeal([](const fs::path& pack) { fs::remove(pack); }, true);
}

TEST_F(DamageTest, FlippedByteIsReportedAndHealedByTheNextBackup) {
  DamageVerifyHeal(
      [this](const fs::path& pack) {
        // Inside keep.bin's first chunk: which chunks share the pack, and in
        // what order, depends on the backup's threads, so a fixed place in
        // the pack may hit another file's chunk.
        std::string bytes = ReadAll(pack);
        ASSERT_LT(keep_offset_ + 8, bytes.size());
        bytes[keep_offset_ + 8] ^= 0x01;
        WriteAll(pack, bytes);
      },
      false);
}

TEST_F(DamageTest, TruncatedPackIsReportedAndHealedByTheNextBackup) {
  DamageVerifyHeal(
      [this](const fs::path& pack) {
        // Cut where keep.bin's first chunk starts: that chunk and the ones
        // after it are lost, those before it stay whole (which chunks share
        // the pack, and in what order, depends on the backup's threads).
        std::string bytes = ReadAll(pack);
        ASSERT_LT(keep_offset_, bytes.size());
        WriteAll(pack, bytes.substr(0, keep_offset_));
      },
      false);
}

TEST_F(DamageTest, SwappedPackIsReportedAndHealedByTheNextBackup) {
  DamageVerifyHeal(
      [this](const fs::path& pack) {
        // Another pack's bytes under this pack's name.
        for (const auto& e : fs::recursive_directory_iterator(vault_ / "data")) {
          if (e.is_regular_file() && e.path() != pack) {
            WriteAll(pack, ReadAll(e.path()));
            return;
          }
        }
        FAIL() << "no other pack";
      },
      false);
}

TEST_F(DamageTest, RestoreFallsBackToAnotherCopyAndRecordsTheDamage) {
  BackupReport first = Backup();
  // Bytes are flipped inside the intended blob, found through the index:
  // which chunks share a pack, and in what order, depends on the backup's
  // threads, so a fixed place in the pack may hit another file's chunk.
  uint32_t keep_offset = 0;
  std::string pack = PackOf("keep.bin", first.point_id, &keep_offset);
  std::string good = ReadAll(PackPath(pack));
  std::string bad = good;
  ASSERT_LT(keep_offset + 8, bad.size());
  bad[keep_offset + 8] ^= 0x01;
  WriteAll(PackPath(pack), bad);
  ASSERT_GT(Verify().problems.size(), 0u);
  ASSERT_GT(Backup().healed_blobs, 0u);  // a second copy exists now
  // Both copies good again, no damage record: then the copy the index
  // prefers is damaged, so the restore must fall back to the other itself.
  WriteAll(PackPath(pack), good);
  fs::remove_all(vault_ / "damage");
  // The blob that now has two copies, and the pack of its preferred one.
  ObjectId twice;
  std::string preferred;
  uint32_t preferred_offset = 0;
  {
    auto repo = Open();
    auto node = FindNode(*repo, repo->FindRecoveryPoint(first.point_id)->point.tree,
                         (src_ / "keep.bin").string());
    ASSERT_TRUE(node.ok());
    for (const auto& chunk : node->content) {
      auto copies = repo->index().FindAll(chunk.id);
      if (copies.size() == 2) {
        twice = chunk.id;
        preferred = repo->index().pack_names()[copies.front().pack];
        preferred_offset = copies.front().offset;
      }
    }
    ASSERT_FALSE(preferred.empty()) << "no blob with two copies";
  }
  std::string damaged = ReadAll(PackPath(preferred));
  ASSERT_LT(preferred_offset + 8, damaged.size());
  damaged[preferred_offset + 8] ^= 0x01;
  WriteAll(PackPath(preferred), damaged);
  ExpectRestoresIdentical(first.point_id);
  // ReadBlob falls back the same way (browsing, change detection).
  auto repo = Open();
  auto node = FindNode(*repo, repo->FindRecoveryPoint(first.point_id)->point.tree,
                       (src_ / "keep.bin").string());
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  for (const auto& chunk : node->content) {
    auto blob = repo->ReadBlob(chunk.id);
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  }
  EXPECT_TRUE(repo->HasNotedDamage());
  auto saved = repo->SaveDamageRecord();
  ASSERT_TRUE(saved.ok());
  EXPECT_GT(*saved, 0u);
  // Recorded: a new process no longer prefers the damaged copy.
  auto reopened = Open();
  const index::Location* loc = reopened->index().Find(twice);
  ASSERT_NE(loc, nullptr);
  EXPECT_NE(reopened->index().pack_names()[loc->pack], preferred);
}

TEST_F(DamageTest, APackPutBackClearsItsDamageRecord) {
  BackupReport first = Backup();
  std::string pack = PackOf("keep.bin", first.point_id);
  std::string good = ReadAll(PackPath(pack));
  std::string bad = good;
  bad[bad.size() / 3] ^= 0x01;
  WriteAll(PackPath(pack), bad);
  size_t recorded = 0;
  EXPECT_GT(Verify(&recorded).lost_items, 0u);
  ASSERT_GT(recorded, 0u);
  ASSERT_EQ(Open()->lost_blobs().size(), recorded);
  // The pack comes back whole (from a copy): verify finds it so, the
  // record goes, nothing is lost, and the next backup uploads nothing again.
  WriteAll(PackPath(pack), good);
  VerifyReport verify = Verify();
  EXPECT_TRUE(verify.ok()) << ::testing::PrintToString(verify.problems);
  EXPECT_EQ(verify.damage_cleared, recorded);
  EXPECT_FALSE(fs::exists(vault_ / "damage") && !fs::is_empty(vault_ / "damage"));
  EXPECT_TRUE(Open()->lost_blobs().empty());
  EXPECT_EQ(Backup().healed_blobs, 0u);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(DamageTest, OldIndexFileAfterPruneDoesNotHideLiveCopies) {
  // keep.bin and gone.bin share packs; after gone.bin is removed and its
  // point pruned, keep.bin's blobs move to new packs.
  WriteRandom(src_ / "gone.bin", 600000, 3);
  BackupReport first = Backup();
  fs::remove(src_ / "gone.bin");
  BackupReport second = Backup();
  std::map<std::string, std::string> old_index;
  for (const auto& e : fs::directory_iterator(vault_ / "index")) {
    old_index[e.path().filename().string()] = ReadAll(e.path());
  }
  {
    auto repo = Open();
    auto pruned = RunPrune(*repo, {second.point_id});
    ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
    ASSERT_GT(pruned->packs_repacked + pruned->packs_deleted, 0u);
  }
  // A storage-level restore brings the old index files back.
  for (const auto& [name, bytes] : old_index) {
    std::ofstream(vault_ / "index" / name, std::ios::binary) << bytes;
  }
  auto repo = Open();
  EXPECT_GT(repo->missing_packs().size(), 0u);
  // Every indexed copy is in a pack that exists.
  for (const auto& [id, loc] : repo->index().blobs()) {
    EXPECT_TRUE(fs::exists(PackPath(repo->index().pack_names()[loc.pack])));
  }
  ExpectRestoresIdentical(second.point_id);
  // A backup after it dedups against live copies only and writes a point
  // that restores.
  BackupReport third = Backup();
  EXPECT_EQ(third.state, JobState::kCompleted);
  ExpectRestoresIdentical(third.point_id);
}

TEST_F(DamageTest, DamagedRecoveryPointIsSkippedWithANamedWarning) {
  BackupReport first = Backup();
  WriteRandom(src_ / "new.bin", 50000, 4);
  BackupReport second = Backup();
  fs::path point = vault_ / "snapshots" / first.point_id;
  std::string bytes = ReadAll(point);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteAll(point, bytes);

  auto repo = Open();
  std::vector<DamagedObject> damaged;
  auto points = repo->ListRecoveryPoints(&damaged);
  ASSERT_TRUE(points.ok()) << points.status().ToString();
  ASSERT_EQ(points->size(), 1u);
  EXPECT_EQ(points->front().id, second.point_id);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_EQ(damaged[0].kind, "recovery point");
  EXPECT_EQ(damaged[0].name, first.point_id);
  // Asking for the damaged point says so; the intact one restores.
  auto found = repo->FindRecoveryPoint(first.point_id);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(found.status().detail().find(first.point_id), std::string::npos);
  ExpectRestoresIdentical(second.point_id);
  ExpectRestoresIdentical("latest");

  VerifyReport verify = Verify();
  EXPECT_TRUE(AnyContains(verify.problems, "recovery point " + first.point_id))
      << ::testing::PrintToString(verify.problems);
  EXPECT_EQ(verify.recovery_points, 1u);

  BackupReport third = Backup();
  EXPECT_EQ(third.state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(third.failed_files.size(), 1u);
  EXPECT_EQ(third.failed_files[0].path, "vault");
  EXPECT_NE(third.failed_files[0].error.find(first.point_id), std::string::npos);
  ExpectRestoresIdentical(third.point_id);

  // Prune cannot know what the damaged point needs: it refuses, changes
  // nothing.
  size_t before = CountFiles(vault_);
  auto pruned = RunPrune(*Open(), {third.point_id});
  ASSERT_FALSE(pruned.ok());
  EXPECT_EQ(pruned.status().code(), ErrorCode::kCorrupt);
  EXPECT_NE(pruned.status().detail().find(first.point_id), std::string::npos);
  EXPECT_EQ(CountFiles(vault_), before);
}

TEST_F(DamageTest, DamagedIndexFileIsSkippedWithANamedWarning) {
  BackupReport first = Backup();
  std::string first_index = OnlyFile("index").filename().string();
  WriteRandom(src_ / "new.bin", 50000, 4);
  BackupReport second = Backup();
  fs::path index = vault_ / "index" / first_index;
  std::string bytes = ReadAll(index);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteAll(index, bytes);

  auto repo = Open();
  ASSERT_EQ(repo->damaged_index_files().size(), 1u);
  EXPECT_EQ(repo->damaged_index_files()[0].name, first_index);

  VerifyReport verify = Verify();
  EXPECT_TRUE(AnyContains(verify.problems, "index file " + first_index))
      << ::testing::PrintToString(verify.problems);

  // The backup goes on with a warning, uploads what only the damaged index
  // file described, and its point restores.
  BackupReport third = Backup();
  EXPECT_EQ(third.state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(third.failed_files.size(), 1u);
  EXPECT_NE(third.failed_files[0].error.find("index file " + first_index), std::string::npos);
  ExpectRestoresIdentical(third.point_id);

  size_t before = CountFiles(vault_);
  auto pruned = RunPrune(*Open(), {third.point_id});
  ASSERT_FALSE(pruned.ok());
  EXPECT_NE(pruned.status().detail().find(first_index), std::string::npos);
  EXPECT_EQ(CountFiles(vault_), before);
}

}  // namespace
}  // namespace obagent::engine
