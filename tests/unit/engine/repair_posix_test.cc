// Repair on repositories made by real backups: the index rebuilt from the
// packs present after index files were deleted or damaged, damaged points
// named with their lost files and rewritten without them, a repair that dies
// after any number of writes, staged packs of dead jobs reclaimed, and the
// machine record and wrapped key checked and healed.
#include "obagent/engine/repair.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "engine/forwarding_store.h"
#include "engine/test_vault.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/machine_check.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/staging.h"
#include "obagent/engine/verify.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Names(const std::map<std::string, std::string>& snapshot) {
  std::vector<std::string> out;
  for (const auto& [name, what] : snapshot) out.push_back(name + " " + what.substr(0, 1));
  return out;
}

using testing::CrashingStore;
using testing::FlipByte;
using testing::ListTree;
using testing::WriteRandom;
constexpr auto Snapshot = testing::TreeSnapshot;

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-repair-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "vault");
    fs::create_directories(dir_ / "src");
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    auto store = storage::OpenLocalDirStore((dir_ / "vault").string());
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    repo_ = NewRepo(*store_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Repository> NewRepo(storage::BlobStore& store) {
    // A fresh cache each time: what is tested is the vault, not the cache.
    return std::make_unique<Repository>(store, keys_,
                                        (dir_ / ("cache-" + std::to_string(caches_++))).string(),
                                        platform::Env::Default());
  }

  // Three backups: a.bin and sub/b.bin stay, c-<i>.bin is new in each.
  void MakeHistory() {
    fs::path src = dir_ / "src";
    WriteRandom(src / "a.bin", 300000, 1);
    fs::create_directories(src / "sub" / "deep");
    WriteRandom(src / "sub" / "b.bin", 300000, 2);
    WriteRandom(src / "sub" / "deep" / "d.bin", 200000, 3);
    fs::create_symlink("a.bin", src / "link");
    for (int i = 0; i < 3; ++i) {
      WriteRandom(src / ("c-" + std::to_string(i) + ".bin"), 250000, 10 + i);
      ASSERT_TRUE(repo_->LoadIndex().ok());
      BackupOptions options;
      options.includes = {src.string()};
      options.chunker = {4096, 16384, 65536};
      options.threads = 2;
      options.pack_size = 128 * 1024;
      options.hostname = "test";
      auto report = RunBackup(*repo_, options);
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      ids_.push_back(report->point_id);
      sources_.push_back(Snapshot(src));
    }
  }

  std::map<std::string, std::string> Restore(Repository& repo, const std::string& point,
                                             JobState expect = JobState::kCompleted) {
    fs::path target = dir_ / ("restore-" + std::to_string(restores_++));
    RestoreOptions options;
    options.point = point;
    options.target = target.string();
    options.threads = 2;
    auto report = RunRestore(repo, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    if (!report.ok()) return {};
    EXPECT_EQ(report->state, expect);
    auto out = Snapshot(RestoredPath(target.string(), (dir_ / "src").string()));
    fs::remove_all(target);
    return out;
  }

  void ExpectHealthy() {
    auto repo = NewRepo(*store_);
    ASSERT_TRUE(repo->LoadIndex().ok());
    auto verify = RunVerify(*repo, 2);
    ASSERT_TRUE(verify.ok()) << verify.status().ToString();
    EXPECT_TRUE(verify->ok()) << ::testing::PrintToString(verify->problems);
    for (size_t i = 0; i < ids_.size(); ++i) {
      EXPECT_EQ(Restore(*repo, ids_[i]), sources_[i]) << "point " << i;
    }
  }

  // A pack holding data blobs (not trees).
  std::string SomeDataPack() {
    auto keys = store_->List("data/");
    EXPECT_TRUE(keys.ok());
    for (const std::string& key : *keys) {
      auto bytes = store_->Get(key);
      auto header = pack::ReadPackHeader(keys_.data_key, *bytes);
      if (header.ok() && !header->empty() && header->front().type == pack::BlobType::kData) {
        return key.substr(key.rfind('/') + 1);
      }
    }
    ADD_FAILURE() << "no data pack";
    return "";
  }

  fs::path dir_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
  std::vector<std::string> ids_;
  std::vector<std::map<std::string, std::string>> sources_;
  int caches_ = 0;
  int restores_ = 0;
};

TEST_F(RepairTest, CleanVaultIsLeftAsItIs) {
  MakeHistory();
  auto before = ListTree(dir_ / "vault");
  auto report = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean());
  EXPECT_FALSE(report->index_rewritten);
  EXPECT_EQ(report->points, 3u);
  EXPECT_EQ(ListTree(dir_ / "vault"), before);
}

TEST_F(RepairTest, RebuildsDeletedIndexFromPacks) {
  MakeHistory();
  fs::remove_all(dir_ / "vault" / "index");
  auto broken = NewRepo(*store_);
  ASSERT_TRUE(broken->LoadIndex().ok());
  EXPECT_EQ(broken->index().blob_count(), 0u);

  auto report = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->index_rewritten);
  EXPECT_EQ(report->index_files_written.size(), 1u);
  EXPECT_TRUE(report->damaged_points.empty());
  EXPECT_TRUE(report->clean());
  ExpectHealthy();
  // Run again: the index matches the packs, nothing is written.
  auto again = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->index_rewritten);
}

TEST_F(RepairTest, ReplacesDamagedAndStaleIndexFiles) {
  MakeHistory();
  auto index_keys = store_->List("index/").value();
  ASSERT_GE(index_keys.size(), 2u);
  // One index file altered (no longer its name's hash), one garbage file, and
  // one naming only a pack that is not in the vault.
  Bytes altered = store_->Get(index_keys[0]).value();
  altered[altered.size() / 2] ^= 0x40;
  ASSERT_TRUE(store_->Put(index_keys[0], altered).ok());
  std::string garbage_text = "not an index";
  Bytes garbage(garbage_text.begin(), garbage_text.end());
  std::string garbage_name = ToHex(crypto::Sha256(garbage));
  ASSERT_TRUE(store_->Put(RepoLayout::IndexFile(garbage_name), garbage).ok());
  pack::BlobEntry ghost_entry;
  ghost_entry.id.bytes.fill(9);
  ghost_entry.offset = 8;
  ghost_entry.length = 40;
  ghost_entry.raw_length = 4;
  std::string ghost(64, 'e');
  Bytes stale = index::SealIndexFile(keys_.data_key, {{ghost, {ghost_entry}}});
  ASSERT_TRUE(store_->Put(RepoLayout::IndexFile(ToHex(crypto::Sha256(stale))), stale).ok());

  auto report = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->damaged_index_files.size(), 2u)
      << ::testing::PrintToString(report->damaged_index_files);
  EXPECT_EQ(report->missing_packs, std::vector<std::string>{ghost});
  EXPECT_TRUE(report->damaged_points.empty());
  EXPECT_EQ(report->index_files_removed.size(), index_keys.size() + 2);
  auto now = store_->List("index/").value();
  EXPECT_EQ(now.size(), 1u);
  ExpectHealthy();
}

TEST_F(RepairTest, LostPackNamesFilesAndRewritesPoints) {
  MakeHistory();
  std::string lost_pack = SomeDataPack();
  ASSERT_FALSE(lost_pack.empty());
  fs::remove(dir_ / "vault" / RepoLayout::Pack(lost_pack));

  // First without --rewrite-lost: named, nothing written but the index.
  auto report = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->missing_packs, std::vector<std::string>{lost_pack});
  ASSERT_FALSE(report->damaged_points.empty());
  EXPECT_TRUE(report->points_written.empty());
  const std::string src = (dir_ / "src").string();
  for (const DamagedPoint& d : report->damaged_points) {
    EXPECT_FALSE(d.lost.empty());
    for (const std::string& path : d.lost) {
      EXPECT_TRUE(path.starts_with(src + "/")) << path;  // full paths
    }
  }
  EXPECT_EQ(store_->List("snapshots/").value().size(), 3u);

  // Then with it: a repaired copy of each damaged point.
  auto fixed = RunRepair(*NewRepo(*store_), {.rewrite_lost = true});
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  ASSERT_EQ(fixed->points_written.size(), fixed->damaged_points.size());
  auto repo = NewRepo(*store_);
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto points = repo->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  EXPECT_EQ(points->size(), 3u + fixed->points_written.size());  // originals kept
  for (const DamagedPoint& d : fixed->damaged_points) {
    ASSERT_FALSE(d.rewritten_as.empty());
    auto found = repo->FindRecoveryPoint(d.rewritten_as);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found->point.repaired_from, d.id);
    size_t i = std::find(ids_.begin(), ids_.end(), d.id) - ids_.begin();
    ASSERT_LT(i, ids_.size());
    // Everything but the lost files restores byte-identical; the lost ones
    // are not there.
    std::map<std::string, std::string> expected = sources_[i];
    for (const std::string& path : d.lost) {
      std::string rel = path.substr(src.size() + 1);
      ASSERT_TRUE(expected.erase(rel)) << rel;
    }
    auto restored = Restore(*repo, d.rewritten_as);
    EXPECT_EQ(Names(restored), Names(expected))
        << "point " << i << ", lost " << ::testing::PrintToString(d.lost);
    EXPECT_TRUE(restored == expected) << "point " << i << ": contents differ";
  }
  // Again: nothing new is written, the damaged points are still named.
  auto again = RunRepair(*NewRepo(*store_), {.rewrite_lost = true});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->points_written.empty());
  EXPECT_EQ(again->damaged_points.size(), fixed->damaged_points.size());
  // And --forget-damaged removes the damaged originals.
  auto forget = RunRepair(*NewRepo(*store_), {.rewrite_lost = true, .forget_damaged = true});
  ASSERT_TRUE(forget.ok());
  for (const DamagedPoint& d : forget->damaged_points) EXPECT_TRUE(d.removed);
  auto last = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->clean()) << ::testing::PrintToString(last->unreadable_points);
}

TEST_F(RepairTest, ReadDataIndexesOnlyIntactBlobs) {
  MakeHistory();
  std::string pack = SomeDataPack();
  // Inside the pack's first blob (which starts at byte 8, after the magic).
  ASSERT_NO_FATAL_FAILURE(FlipByte(dir_ / "vault" / RepoLayout::Pack(pack), 20));
  fs::remove_all(dir_ / "vault" / "index");
  auto report = RunRepair(*NewRepo(*store_), {.read_data = true, .rewrite_lost = true});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->damaged_packs.size(), 1u);
  EXPECT_TRUE(report->damaged_packs[0].starts_with(pack)) << report->damaged_packs[0];
  ASSERT_FALSE(report->damaged_points.empty());
  auto repo = NewRepo(*store_);
  ASSERT_TRUE(repo->LoadIndex().ok());
  for (const DamagedPoint& d : report->damaged_points) {
    ASSERT_FALSE(d.rewritten_as.empty());
    Restore(*repo, d.rewritten_as);  // completes: nothing damaged is referenced
  }
}

TEST_F(RepairTest, DamagedPointIsNamedAndOthersChecked) {
  MakeHistory();
  auto keys = store_->List("snapshots/").value();
  Bytes junk{'j', 'u', 'n', 'k'};
  ASSERT_TRUE(store_->Put(keys[0], junk).ok());
  auto report = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->unreadable_points.size(), 1u);
  EXPECT_TRUE(report->unreadable_points[0].starts_with(keys[0].substr(10)));
  EXPECT_EQ(report->points, 3u);
  // The others are intact; --forget-damaged removes the one that cannot be
  // read (nothing else can, in service mode), and only that one.
  auto forget = RunRepair(*NewRepo(*store_), {.forget_damaged = true});
  ASSERT_TRUE(forget.ok()) << forget.status().ToString();
  EXPECT_EQ(forget->points_removed, std::vector<std::string>{keys[0].substr(10)});
  EXPECT_EQ(store_->List("snapshots/").value().size(), 2u);
  auto clean = RunRepair(*NewRepo(*store_));
  ASSERT_TRUE(clean.ok());
  EXPECT_TRUE(clean->clean());
}

// Repair dies after 0, 1, 2, … vault writes; after each, the vault's index
// covers every pack (every point restores), and a complete repair finishes.
TEST_F(RepairTest, KilledAtEveryWriteLosesNothing) {
  MakeHistory();
  std::string lost_pack = SomeDataPack();
  fs::remove(dir_ / "vault" / RepoLayout::Pack(lost_pack));
  // Old index files: one per backup, plus a damaged one.
  Bytes garbage{'d', 'a', 'm'};
  ASSERT_TRUE(store_->Put(RepoLayout::IndexFile(ToHex(crypto::Sha256(garbage))), garbage).ok());
  for (int budget = 0;; ++budget) {
    CrashingStore crashing(*store_, budget);
    auto report = RunRepair(*NewRepo(crashing), {.rewrite_lost = true});
    // Whatever happened, each intact blob of the vault is indexed: the
    // points that lost nothing restore completely.
    auto repo = NewRepo(*store_);
    std::set<std::string> damaged;
    auto check = RunRepair(*repo, {.dry_run = true});
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    for (const auto& d : check->damaged_points) damaged.insert(d.id);
    // The dry run rebuilt its index in memory only; the vault's own index
    // must show the same packs.
    auto loaded = NewRepo(*store_);
    Status st = loaded->LoadIndex();
    if (st.ok()) {
      // Until repair has removed the damaged index file, a restore warns
      // about it (and only about it).
      JobState expect = loaded->damaged_index_files().empty() ? JobState::kCompleted
                                                              : JobState::kCompletedWithWarnings;
      for (size_t i = 0; i < ids_.size(); ++i) {
        if (!damaged.contains(ids_[i])) {
          EXPECT_EQ(Restore(*loaded, ids_[i], expect), sources_[i]) << "budget " << budget;
        }
      }
    }
    if (!crashing.crashed()) {
      ASSERT_TRUE(report.ok()) << report.status().ToString();
      break;
    }
    ASSERT_LT(budget, 50);
  }
  auto final_report = RunRepair(*NewRepo(*store_), {.rewrite_lost = true});
  ASSERT_TRUE(final_report.ok());
  EXPECT_TRUE(final_report->damaged_index_files.empty());
  EXPECT_FALSE(final_report->index_rewritten);
  EXPECT_TRUE(final_report->points_written.empty());  // each damaged point repaired once
  for (const auto& d : final_report->damaged_points) EXPECT_FALSE(d.rewritten_as.empty());
}

TEST_F(RepairTest, StagedPacksAreReclaimed) {
  MakeHistory();
  ASSERT_TRUE(repo_->LoadIndex().ok());
  fs::path staging = dir_ / "staging";
  fs::create_directories(staging);
  auto make_pack = [&](uint8_t fill) {
    pack::PackWriter writer(keys_.data_key);
    std::string text = "staged blob " + std::to_string(fill);
    const ObjectId id = BlobId::Of(keys_.id_key, AsBytes(text));
    Bytes payload{0};
    payload.insert(payload.end(), text.begin(), text.end());
    writer.AddPayload(pack::BlobType::kData, id, payload, static_cast<uint32_t>(text.size()));
    return std::pair(writer.Finish(), id);
  };
  auto write = [&](const std::string& name, const Bytes& bytes) {
    std::ofstream(staging / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  };
  // 1: intact and new; 2: intact but the vault has it; 3: truncated;
  // 4: another machine's key; 5: a temp file of an interrupted write.
  auto [fresh, fresh_id] = make_pack(1);
  write(fresh.name, fresh.bytes);
  auto [known, known_id] = make_pack(2);
  ASSERT_TRUE(store_->Put(RepoLayout::Pack(known.name), known.bytes).ok());
  write(known.name, known.bytes);
  auto [cut, cut_id] = make_pack(3);
  write(cut.name, Bytes(cut.bytes.begin(), cut.bytes.end() - 5));
  keys::KeySet other = keys::DeriveKeySet(crypto::RandomKey());
  pack::PackWriter foreign(other.data_key);
  foreign.AddPayload(pack::BlobType::kData, fresh_id, Bytes{0, 'x'}, 1);
  auto foreign_pack = foreign.Finish();
  write(foreign_pack.name, foreign_pack.bytes);
  write("0123.tmp-abc", Bytes(100, 1));

  auto reclaimed = ReclaimStagedPacks(*repo_, staging.string());
  ASSERT_TRUE(reclaimed.ok()) << reclaimed.status().ToString();
  EXPECT_EQ(reclaimed->uploaded, std::vector<std::string>{fresh.name});
  EXPECT_EQ(reclaimed->removed.size(), 4u) << ::testing::PrintToString(reclaimed->removed);
  EXPECT_TRUE(fs::is_empty(staging));
  EXPECT_TRUE(store_->Exists(RepoLayout::Pack(fresh.name)).value());
  EXPECT_FALSE(store_->Exists(RepoLayout::Pack(cut.name)).value());
  EXPECT_FALSE(store_->Exists(RepoLayout::Pack(foreign_pack.name)).value());
  EXPECT_TRUE(repo_->index().Contains(fresh_id));
  auto reloaded = NewRepo(*store_);
  ASSERT_TRUE(reloaded->LoadIndex().ok());
  EXPECT_TRUE(reloaded->index().Contains(fresh_id));
  EXPECT_EQ(AsString(reloaded->ReadBlob(fresh_id).value()), "staged blob 1");
  EXPECT_NE(DescribeStagingReclaim(*reclaimed).find(fresh.name), std::string::npos);
  // Nothing left: nothing to do.
  auto again = ReclaimStagedPacks(*repo_, staging.string());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  ExpectHealthy();
}

// The machine record and the wrapped key of a registered machine (embedded
// mode, a real registration).
class MachineRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-machine-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(InitLocalVault(env_, (dir_ / "vault").string()).ok());
    RegisterOptions options;
    options.vault = (dir_ / "vault").string();
    options.passphrase = "correct horse battery staple";
    auto config = Register(env_, (dir_ / "state").string(), options);
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    machine_dir_ = dir_ / "vault" / "machines" / config->machine_id;
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<OpenedAgent> Open() { return OpenAgent(env_, (dir_ / "state").string(), std::nullopt); }

  platform::Env& env_ = platform::Env::Default();
  fs::path dir_;
  fs::path machine_dir_;
};

TEST_F(MachineRecordTest, IntactRecordHasNoProblems) {
  auto agent = Open();
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto check = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->ok()) << ::testing::PrintToString(check->problems);
}

TEST_F(MachineRecordTest, GarbageMachineJsonIsReportedAndHealed) {
  std::ofstream(machine_dir_ / "machine.json") << "{garbage";
  auto agent = Open();
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();
  auto check = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->problems.size(), 1u);
  EXPECT_NE(check->problems[0].find("machine.json"), std::string::npos);
  EXPECT_TRUE(check->record_damaged);
  auto healed = HealMachineRecord(env_, *agent, false);
  ASSERT_TRUE(healed.ok()) << healed.status().ToString();
  EXPECT_EQ(healed->size(), 1u);
  auto after = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->ok()) << ::testing::PrintToString(after->problems);
  // Registering again finds the machine and opens its key.
  RegisterOptions options;
  options.vault = (dir_ / "vault").string();
  options.passphrase = "correct horse battery staple";
  EXPECT_TRUE(Register(env_, (dir_ / "state").string(), options).ok());
}

TEST_F(MachineRecordTest, RecordOfAnotherMachineIsReported) {
  std::ofstream(machine_dir_ / "machine.json")
      << R"({"version":1,"machine_id":"0000","name":"elsewhere","key_id":"1111"})";
  auto agent = Open();
  ASSERT_TRUE(agent.ok());
  auto check = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->problems.size(), 3u) << ::testing::PrintToString(check->problems);
}

TEST_F(MachineRecordTest, DamagedWrappedKeyIsReportedJobsGoOnAndRepairHealsIt) {
  fs::path key;
  for (const auto& e : fs::directory_iterator(machine_dir_ / "keys")) key = e.path();
  ASSERT_FALSE(key.empty());
  std::string text;
  {
    std::ifstream in(key);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  // Flip one character of the wrapped bytes: still JSON, no longer opening.
  size_t at = text.find("\"wrapped\"");
  ASSERT_NE(at, std::string::npos);
  size_t value = text.find('"', at + 10) + 3;
  text[value] = text[value] == 'A' ? 'B' : 'A';
  std::ofstream(key, std::ios::trunc) << text;

  auto agent = Open();
  ASSERT_TRUE(agent.ok()) << agent.status().ToString();  // the KEK file's copy opens
  auto check = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->problems.size(), 1u) << ::testing::PrintToString(check->problems);
  EXPECT_TRUE(check->key_damaged);
  EXPECT_NE(check->problems[0].find("wrapped key keys/"), std::string::npos);

  std::ofstream(key, std::ios::trunc) << "garbage";
  check = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->key_damaged);

  auto healed = HealMachineRecord(env_, *agent, false);
  ASSERT_TRUE(healed.ok()) << healed.status().ToString();
  EXPECT_EQ(healed->size(), 1u);
  auto after = CheckMachineRecord(env_, *agent);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->ok()) << ::testing::PrintToString(after->problems);
}

}  // namespace
}  // namespace obagent::engine
