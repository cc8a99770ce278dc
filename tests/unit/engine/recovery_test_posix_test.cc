// The restore drill on points made by real backups: the sample is restored
// and compared with the tree, the sample folder is gone afterwards (also
// when the drill fails or is stopped), N and percent pick the right counts,
// a damaged pack fails the drill naming the pack, and the comparison
// catches a restored file whose bytes or metadata differ.
#include "obagent/engine/recovery_test.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/forwarding_env.h"
#include "engine/test_vault.h"
#include "obagent/core/keys.h"
#include "obagent/engine/agent.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/backup_job.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

using testing::FlipByte;
using testing::RandomData;
using testing::WriteFile;

// The biggest pack of a vault folder: the data pack of the big file.
fs::path BiggestPack(const fs::path& vault) {
  fs::path best;
  uintmax_t size = 0;
  for (auto& e : fs::recursive_directory_iterator(vault)) {
    if (!e.is_regular_file() || e.path().parent_path().parent_path().filename() != "data") {
      continue;
    }
    if (e.file_size() > size) {
      size = e.file_size();
      best = e.path();
    }
  }
  return best;
}

bool HasSampleFolder(const fs::path& dir) {
  if (!fs::exists(dir)) return false;
  for (auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("recovery-test-")) return true;
  }
  return false;
}

class RecoveryTestTest : public ::testing::Test {
 protected:
  // Ten files of assorted sizes, modes and times, a symlink and a big file.
  fs::path MakeSource() {
    fs::path src = dir_ / "src";
    for (int i = 0; i < 10; ++i) {
      fs::path p = src / ("d" + std::to_string(i % 3)) / ("f" + std::to_string(i));
      WriteFile(p, RandomData(static_cast<size_t>(i) * 5000 + 1, static_cast<uint32_t>(i)));
      ::chmod(p.c_str(), i % 2 ? 0600 : 0644);
    }
    WriteFile(src / "big", RandomData(400000, 99));
    fs::create_symlink("d0/f0", src / "link");
    return src;
  }

  std::string Backup(const std::vector<std::string>& includes) {
    return testing::BackupOrFail(*repo_, testing::SmallBackupOptions(includes));
  }

  RecoveryTestOptions Options(RecoveryTestSample sample) {
    RecoveryTestOptions options;
    options.sample = sample;
    options.work_dir = (dir_ / "scratch").string();
    options.tag = "t1";
    return options;
  }

  testing::TestVault vault_{"obagent-drill-test", testing::VaultBacking::kLocalFolder};
  const fs::path dir_ = vault_.dir();
  std::unique_ptr<Repository> repo_ = vault_.NewRepository(vault_.store());
};

TEST(RecoveryTestSampleTest, CountsAndPercentages) {
  RecoveryTestSample n;
  n.count = 5;
  EXPECT_EQ(n.CountOf(100), 5u);
  EXPECT_EQ(n.CountOf(3), 3u);
  EXPECT_EQ(n.CountOf(0), 0u);
  RecoveryTestSample p;
  p.percent = 10;
  EXPECT_EQ(p.CountOf(100), 10u);
  EXPECT_EQ(p.CountOf(101), 11u);  // rounded up
  EXPECT_EQ(p.CountOf(3), 1u);     // at least one
  EXPECT_EQ(p.CountOf(0), 0u);
  p.percent = 100;
  EXPECT_EQ(p.CountOf(7), 7u);
  EXPECT_TRUE(n.Validate().ok());
  EXPECT_TRUE(p.Validate().ok());
  RecoveryTestSample bad;
  bad.count = 0;
  EXPECT_FALSE(bad.Validate().ok());
  bad.percent = 101;
  EXPECT_FALSE(bad.Validate().ok());
  bad.percent = -1;
  EXPECT_FALSE(bad.Validate().ok());
}

// Every file of the point, sampled at 100 %, comes back identical; the
// figures add up and the sample folder is gone.
TEST_F(RecoveryTestTest, RestoresAndComparesTheWholeSampleThenRemovesIt) {
  fs::path src = MakeSource();
  std::string point = Backup({src.string()});
  RecoveryTestSample all;
  all.percent = 100;
  auto report = RunRecoveryTest(*repo_, Options(all));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(report->point_id, point);
  EXPECT_EQ(report->files_in_point, 12u);  // ten files, big, link
  EXPECT_EQ(report->sampled, 12u);
  EXPECT_EQ(report->identical, 12u);
  uint64_t bytes = 400000;
  for (int i = 0; i < 10; ++i) bytes += static_cast<uint64_t>(i) * 5000 + 1;
  EXPECT_EQ(report->bytes, bytes);
  EXPECT_GT(report->files_per_second, 0);
  EXPECT_GT(report->bytes_per_second, 0);
  EXPECT_TRUE(report->failed_files.empty());
  EXPECT_FALSE(report->sample_dir.empty());
  EXPECT_FALSE(fs::exists(report->sample_dir));
  EXPECT_FALSE(HasSampleFolder(dir_ / "scratch"));
  EXPECT_FALSE(DescribeRecoveryTest(*report).empty());
}

TEST_F(RecoveryTestTest, CountAndPercentPickThatManyFiles) {
  fs::path src = MakeSource();
  Backup({src.string()});
  RecoveryTestSample three;
  three.count = 3;
  auto a = RunRecoveryTest(*repo_, Options(three));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->sampled, 3u);
  EXPECT_EQ(a->identical, 3u);
  RecoveryTestSample quarter;
  quarter.percent = 25;  // 12 * 25 % = 3
  auto b = RunRecoveryTest(*repo_, Options(quarter));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->sampled, 3u);
  RecoveryTestSample many;
  many.count = 1000;
  auto c = RunRecoveryTest(*repo_, Options(many));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->sampled, 12u);
  EXPECT_EQ(c->state, JobState::kCompleted);
  // Different seeds draw different samples (over a few tries).
  std::set<uint64_t> sizes;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    RecoveryTestOptions options = Options(three);
    options.seed = seed;
    auto r = RunRecoveryTest(*repo_, options);
    ASSERT_TRUE(r.ok());
    sizes.insert(r->bytes);
  }
  EXPECT_GT(sizes.size(), 1u);
  EXPECT_FALSE(HasSampleFolder(dir_ / "scratch"));
}

TEST_F(RecoveryTestTest, DamagedPackFailsTheDrillAndNamesThePack) {
  fs::path src = MakeSource();
  std::string point = Backup({src.string()});
  // A byte of big's first chunk (where chunks sit in the pack depends on
  // the backup's threads).
  const index::Location* loc = testing::FirstChunkOf(*repo_, point, (src / "big").string());
  ASSERT_NE(loc, nullptr);
  fs::path pack = dir_ / "vault" / RepoLayout::Pack(repo_->index().pack_names()[loc->pack]);
  FlipByte(pack, loc->offset + 8);
  RecoveryTestSample all;
  all.percent = 100;
  auto report = RunRecoveryTest(*repo_, Options(all));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kFailed);
  EXPECT_GE(report->data_failures, 1u);
  ASSERT_FALSE(report->damage.empty());
  EXPECT_NE(report->damage[0].find(pack.filename().string()), std::string::npos)
      << report->damage[0];
  ASSERT_FALSE(report->failed_files.empty());
  bool big_listed = false;
  for (const auto& f : report->failed_files) {
    if (f.path == (src / "big").string()) {
      big_listed = true;
      EXPECT_NE(f.error.find(pack.filename().string()), std::string::npos) << f.error;
    }
  }
  EXPECT_TRUE(big_listed);
  EXPECT_LT(report->identical, report->sampled);
  EXPECT_FALSE(HasSampleFolder(dir_ / "scratch"));
}

TEST_F(RecoveryTestTest, StoppedDrillIsCancelledAndLeavesNoSample) {
  fs::path src = MakeSource();
  Backup({src.string()});
  std::atomic<bool> stop{false};
  RecoveryTestSample all;
  all.percent = 100;
  RecoveryTestOptions options = Options(all);
  options.cancel = &stop;
  // Stopped as soon as the restore reports progress.
  options.progress = [&](const Progress&) { stop = true; };
  auto report = RunRecoveryTest(*repo_, options);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kCancelled);
  EXPECT_FALSE(HasSampleFolder(dir_ / "scratch"));
}

// What the drill reads back from its sample folder, disturbed: one file's
// mode looks different (metadata), another's bytes read back altered (a
// restore that wrote wrong data, which the restore's own checks would not
// let through: only the comparison can show it).
class TamperingEnv final : public testing::ForwardingEnv {
 public:
  using ForwardingEnv::ForwardingEnv;
  std::string other_mode;   // path suffix in the sample folder
  std::string other_bytes;  // path suffix in the sample folder

  Result<platform::FileInfo> Lstat(const std::string& p) override {
    auto info = ForwardingEnv::Lstat(p);
    if (info.ok() && Matches(p, other_mode)) info->mode ^= 0100;
    return info;
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenForRead(const std::string& p) override {
    auto file = ForwardingEnv::OpenForRead(p);
    if (!file.ok() || !Matches(p, other_bytes)) return file;
    return std::unique_ptr<platform::ReadableFile>(new Flipped(std::move(file).value()));
  }

 private:
  static bool Matches(const std::string& p, const std::string& suffix) {
    return !suffix.empty() && p.find("/recovery-test-") != std::string::npos && p.ends_with(suffix);
  }
  // Every byte read comes back with its lowest bit flipped.
  class Flipped final : public platform::ReadableFile {
   public:
    explicit Flipped(std::unique_ptr<platform::ReadableFile> base) : base_(std::move(base)) {}
    Result<size_t> Read(uint8_t* buffer, size_t n) override {
      return Flip(base_->Read(buffer, n), buffer);
    }
    Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) override {
      return Flip(base_->ReadAt(offset, buffer, n), buffer);
    }
    Result<platform::FileInfo> Stat() override { return base_->Stat(); }

   private:
    static Result<size_t> Flip(Result<size_t> n, uint8_t* buffer) {
      if (n.ok()) {
        for (size_t i = 0; i < *n; ++i) buffer[i] ^= 1;
      }
      return n;
    }
    std::unique_ptr<platform::ReadableFile> base_;
  };
};

TEST_F(RecoveryTestTest, DifferentMetadataWarnsAndDifferentBytesFail) {
  fs::path src = MakeSource();
  Backup({src.string()});
  TamperingEnv env(platform::Env::Default());
  Repository repo(vault_.store(), repo_->keys(), (dir_ / "cache").string(), env);
  ASSERT_TRUE(repo.LoadIndex().ok());
  RecoveryTestSample all;
  all.percent = 100;

  env.other_mode = "/d0/f3";
  auto warned = RunRecoveryTest(repo, Options(all));
  ASSERT_TRUE(warned.ok()) << warned.status().ToString();
  EXPECT_EQ(warned->state, JobState::kCompletedWithWarnings);
  EXPECT_EQ(warned->data_failures, 0u);
  EXPECT_TRUE(warned->damage.empty());
  ASSERT_EQ(warned->failed_files.size(), 1u);
  EXPECT_EQ(warned->failed_files[0].path, (src / "d0" / "f3").string());
  EXPECT_NE(warned->failed_files[0].error.find("mode"), std::string::npos)
      << warned->failed_files[0].error;
  EXPECT_EQ(warned->identical, warned->sampled - 1);

  env.other_mode.clear();
  env.other_bytes = "/big";
  auto failed = RunRecoveryTest(repo, Options(all));
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  EXPECT_EQ(failed->state, JobState::kFailed);
  EXPECT_EQ(failed->data_failures, 1u);
  EXPECT_TRUE(failed->damage.empty()) << "the vault is fine; the bytes read back differ";
  ASSERT_EQ(failed->failed_files.size(), 1u);
  EXPECT_EQ(failed->failed_files[0].path, (src / "big").string());
  EXPECT_NE(failed->failed_files[0].error.find("differ from the recovery point"), std::string::npos)
      << failed->failed_files[0].error;
  EXPECT_FALSE(HasSampleFolder(dir_ / "scratch"));
}

// The comparison itself, on files restored and then altered.
TEST_F(RecoveryTestTest, ComparisonCatchesAlteredBytesSizeModeTimeAndLinks) {
  fs::path src = MakeSource();
  std::string point = Backup({src.string()});
  fs::path out = dir_ / "out";
  RestoreOptions restore;
  restore.point = point;
  restore.target = out.string();
  auto restored = RunRestore(*repo_, restore);
  ASSERT_TRUE(restored.ok());
  ASSERT_EQ(restored->state, JobState::kCompleted);
  auto found = repo_->FindRecoveryPoint(point);
  ASSERT_TRUE(found.ok());
  auto node_of = [&](const fs::path& p) {
    auto node = FindNode(*repo_, found->point.tree, p.string());
    EXPECT_TRUE(node.ok());
    return *node;
  };
  auto path_of = [&](const fs::path& p) { return RestoredPath(out.string(), p.string()); };
  platform::Env& env = platform::Env::Default();
  const crypto::Key& id_key = repo_->keys().id_key;

  tree::Node big = node_of(src / "big");
  EXPECT_EQ(CompareRestoredFile(env, id_key, big, path_of(src / "big")).problem, "");

  // One byte changed, same size and time: the chunk's hash says so.
  struct stat before;
  ASSERT_EQ(::stat(path_of(src / "big").c_str(), &before), 0);
  FlipByte(path_of(src / "big"));
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path_of(src / "big").c_str(), times, 0), 0);
  FileComparison altered = CompareRestoredFile(env, id_key, big, path_of(src / "big"));
  EXPECT_TRUE(altered.content);
  EXPECT_NE(altered.problem.find("differ from the recovery point"), std::string::npos)
      << altered.problem;

  // Shorter.
  tree::Node f9 = node_of(src / "d0" / "f9");
  fs::resize_file(path_of(src / "d0" / "f9"), 10);
  FileComparison shorter = CompareRestoredFile(env, id_key, f9, path_of(src / "d0" / "f9"));
  EXPECT_TRUE(shorter.content);
  EXPECT_NE(shorter.problem.find("size 10"), std::string::npos) << shorter.problem;

  // Mode and time: metadata, the bytes are fine.
  tree::Node f3 = node_of(src / "d0" / "f3");
  ASSERT_EQ(::chmod(path_of(src / "d0" / "f3").c_str(), 0640), 0);
  FileComparison mode = CompareRestoredFile(env, id_key, f3, path_of(src / "d0" / "f3"));
  EXPECT_FALSE(mode.content);
  EXPECT_NE(mode.problem.find("mode 0640"), std::string::npos) << mode.problem;
  tree::Node f4 = node_of(src / "d1" / "f4");
  fs::last_write_time(path_of(src / "d1" / "f4"), fs::file_time_type::clock::now());
  FileComparison time = CompareRestoredFile(env, id_key, f4, path_of(src / "d1" / "f4"));
  EXPECT_FALSE(time.content);
  EXPECT_NE(time.problem.find("modified"), std::string::npos) << time.problem;

  // A symlink pointing elsewhere; a missing file.
  tree::Node link = node_of(src / "link");
  EXPECT_EQ(CompareRestoredFile(env, id_key, link, path_of(src / "link")).problem, "");
  fs::remove(path_of(src / "link"));
  fs::create_symlink("elsewhere", path_of(src / "link"));
  EXPECT_TRUE(CompareRestoredFile(env, id_key, link, path_of(src / "link")).content);
  tree::Node f1 = node_of(src / "d1" / "f1");
  fs::remove(path_of(src / "d1" / "f1"));
  FileComparison missing = CompareRestoredFile(env, id_key, f1, path_of(src / "d1" / "f1"));
  EXPECT_TRUE(missing.content);
  EXPECT_NE(missing.problem.find("not restored"), std::string::npos);
}

// The job as obctl and the engine run it: a "RecoveryTest" record that ends
// Completed with its figures, then Failed naming the damaged pack, with the
// files listed in the failed-files log.
TEST(RecoveryTestJobTest, RecordsTheDrillInTheJobHistory) {
  char tmpl[] = "/tmp/obagent-drill-job.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  fs::path dir = tmpl;
  platform::Env& env = platform::Env::Default();
  std::string state = (dir / "state").string();
  ASSERT_TRUE(InitLocalVault(env, (dir / "vault").string()).ok());
  RegisterOptions reg;
  reg.vault = (dir / "vault").string();
  reg.passphrase = "a passphrase of enough length";
  auto registered = Register(env, state, reg);
  ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  WriteFile(dir / "src" / "a", RandomData(300000, 1));
  WriteFile(dir / "src" / "b", "bee");
  BackupJobRequest backup;
  backup.includes = {(dir / "src").string()};
  auto backed_up = RunBackupJob(env, state, backup);
  ASSERT_TRUE(backed_up.status.ok()) << backed_up.status.ToString();

  RecoveryTestJobRequest request;
  std::string started_id;
  request.on_start = [&](const JobRecord& r) { started_id = r.id; };
  auto ok = RunRecoveryTestJob(env, state, request);
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.record.id, started_id);
  EXPECT_EQ(ok.record.type, "RecoveryTest");
  EXPECT_EQ(ok.record.state, JobState::kCompleted);
  EXPECT_EQ(ok.record.files, 2u);
  EXPECT_EQ(ok.record.bytes_transferred, 300003u);
  EXPECT_EQ(ok.record.recovery_point, backed_up.record.recovery_point);
  EXPECT_FALSE(ok.record.summary.empty());
  ASSERT_TRUE(ok.report.has_value());
  EXPECT_FALSE(HasSampleFolder(registered->scratch_dir));

  FlipByte(BiggestPack(dir / "vault"));
  auto failed = RunRecoveryTestJob(env, state, request);
  EXPECT_EQ(failed.record.state, JobState::kFailed);
  EXPECT_NE(failed.record.error.find(" in pack "), std::string::npos) << failed.record.error;
  ASSERT_FALSE(failed.record.failed_files_log.empty());
  auto lines = ReadFailedFilesLog(env, failed.record.failed_files_log);
  ASSERT_TRUE(lines.ok());
  ASSERT_EQ(lines->size(), 1u);
  EXPECT_EQ((*lines)[0].path, (dir / "src" / "a").string());
  EXPECT_FALSE(HasSampleFolder(registered->scratch_dir));

  auto jobs = JobHistory(env, state).List();
  ASSERT_TRUE(jobs.ok());
  int drills = 0;
  for (const auto& j : *jobs) drills += j.type == "RecoveryTest";
  EXPECT_EQ(drills, 2);
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace obagent::engine
