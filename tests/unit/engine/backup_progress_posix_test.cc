// A backup's progress against a vault whose pack uploads are held by the
// test: while it waits the job keeps reporting, what it read runs ahead but
// nothing counts as in the vault until the vault accepts it; the final
// report matches the recovery point's statistics, and no figure goes back.
// Every wait is on a condition (with a generous deadline as the failure).
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <optional>

#include "engine/forwarding_store.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
constexpr auto kDeadline = std::chrono::seconds(60);

// Passes everything to a local folder store, except that pack uploads
// wait: the n-th pack goes up once Allow(n) (or more) was called.
class HeldStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  Status Put(std::string_view key, ByteView data) override {
    if (key.rfind("data/", 0) == 0) {
      std::unique_lock lock(mu_);
      size_t n = ++packs_seen_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return allowed_ >= n; });
    }
    return ForwardingStore::Put(key, data);
  }

  // Until the n-th pack upload has started (and waits, unless allowed).
  bool WaitForPack(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return packs_seen_ >= n; });
  }
  void Allow(size_t n) {
    std::lock_guard lock(mu_);
    allowed_ = n;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t packs_seen_ = 0;
  size_t allowed_ = 0;
};

// The reports a job sent, in order.
class Reports {
 public:
  void Add(const Progress& p) {
    std::lock_guard lock(mu_);
    list_.push_back(p);
    cv_.notify_all();
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return list_.size();
  }
  bool WaitForCount(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return list_.size() >= n; });
  }
  // Until a report satisfies `what`; that report.
  std::optional<Progress> WaitFor(const std::function<bool(const Progress&)>& what) {
    std::unique_lock lock(mu_);
    std::optional<Progress> found;
    cv_.wait_for(lock, kDeadline, [&] {
      for (const Progress& p : list_) {
        if (what(p)) found = p;
      }
      return found.has_value();
    });
    return found;
  }
  std::vector<Progress> All() {
    std::lock_guard lock(mu_);
    return list_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Progress> list_;
};

void ExpectNothingGoesBack(const std::vector<Progress>& reports) {
  for (size_t i = 1; i < reports.size(); ++i) {
    const Progress &a = reports[i - 1], &b = reports[i];
    EXPECT_LE(a.files_done, b.files_done) << "report " << i;
    EXPECT_LE(a.bytes_done, b.bytes_done) << "report " << i;
    EXPECT_LE(a.bytes_read, b.bytes_read) << "report " << i;
    EXPECT_LE(a.bytes_uploaded, b.bytes_uploaded) << "report " << i;
    EXPECT_LE(a.elapsed_seconds, b.elapsed_seconds) << "report " << i;
    EXPECT_EQ(a.bytes_total, b.bytes_total) << "report " << i;
  }
}

class BackupProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-progress-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ / "data";
    fs::create_directories(src_);
    Bytes random(3u << 20);
    for (size_t i = 0; i < random.size(); i += 32) {
      auto block = crypto::RandomKey();
      std::copy(block.begin(), block.end(), random.begin() + i);
    }
    std::ofstream(src_ / "big.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(random.data()), random.size());
    std::ofstream(src_ / "small.txt") << "small";
    store_ = std::make_unique<storage::MemoryStore>();
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
  }
  void TearDown() override { fs::remove_all(dir_); }

  BackupOptions Options(Reports& reports) {
    BackupOptions options;
    options.includes = {src_.string()};
    options.chunker = {64 << 10, 128 << 10, 256 << 10};
    options.pack_size = 512 << 10;
    options.threads = 1;  // one worker: held in the first upload, nobody else uploads
    options.hostname = "test";
    options.progress = [&reports](const Progress& p) { reports.Add(p); };
    return options;
  }

  fs::path dir_, src_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
};

TEST_F(BackupProgressTest, ReportsWhileTheUploadWaitsAndCountsOnlyAcceptedDataAsInTheVault) {
  HeldStore held(*store_);
  Repository repo(held, keys_, (dir_ / "cache").string(), platform::Env::Default());
  ASSERT_TRUE(repo.LoadIndex().ok());
  Reports reports;
  BackupOptions options = Options(reports);
  auto job = std::async(std::launch::async, [&] { return RunBackup(repo, options); });
  // A failed assertion returns from here: the held uploads are released
  // first, so the job ends and the test fails instead of waiting for ever.
  struct ReleaseOnExit {
    HeldStore& held;
    ~ReleaseOnExit() { held.Allow(SIZE_MAX); }
  } release{held};

  ASSERT_TRUE(held.WaitForPack(1)) << "no pack was uploaded";
  // The upload is held: the job waits for its worker, and still reports.
  size_t before = reports.size();
  ASSERT_TRUE(reports.WaitForCount(before + 3)) << "no reports while the upload waits";
  for (const Progress& p : reports.All()) {
    EXPECT_EQ(p.bytes_uploaded, 0u);
    EXPECT_EQ(p.bytes_done, 0u) << "data counted as in the vault before the vault accepted it";
  }
  EXPECT_GT(reports.All().back().bytes_read, 0u) << "reading does not wait for the upload";
  EXPECT_EQ(reports.All().back().bytes_total, 0u);  // a first backup: size unknown

  // The vault accepts the first pack and holds the second: the job, waiting
  // again, reports the first pack's data as in the vault.
  held.Allow(1);
  ASSERT_TRUE(held.WaitForPack(2)) << "the data fills more than one pack";
  std::optional<Progress> part_way =
      reports.WaitFor([](const Progress& p) { return p.bytes_uploaded > 0; });
  ASSERT_TRUE(part_way.has_value()) << "the accepted pack was never reported";
  EXPECT_GT(part_way->bytes_done, 0u);
  EXPECT_LT(part_way->bytes_done, 3u << 20);
  EXPECT_LE(part_way->bytes_done, part_way->bytes_read);
  held.Allow(SIZE_MAX);

  Result<BackupReport> report = job.get();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::vector<Progress> all = reports.All();
  ExpectNothingGoesBack(all);
  const Progress& last = all.back();
  const auto& stats = report->point.stats;
  EXPECT_EQ(last.files_done, stats.files);
  EXPECT_EQ(last.bytes_done, stats.bytes_scanned);  // all new: every byte is now in the vault
  EXPECT_EQ(last.bytes_read, stats.bytes_read);
  EXPECT_EQ(last.bytes_uploaded, stats.bytes_uploaded);
  EXPECT_GT(last.bytes_uploaded, part_way->bytes_uploaded);
}

TEST_F(BackupProgressTest, UnchangedDataIsInTheVaultWithoutBeingRead) {
  Repository repo(*store_, keys_, (dir_ / "cache").string(), platform::Env::Default());
  ASSERT_TRUE(repo.LoadIndex().ok());
  Reports first;
  BackupOptions options = Options(first);
  Result<BackupReport> one = RunBackup(repo, options);
  ASSERT_TRUE(one.ok()) << one.status().ToString();

  Reports second;
  options = Options(second);
  Result<BackupReport> two = RunBackup(repo, options);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  std::vector<Progress> all = second.All();
  ASSERT_FALSE(all.empty()) << "no final report";
  ExpectNothingGoesBack(all);
  const Progress& last = all.back();
  EXPECT_EQ(last.bytes_total, one->point.stats.bytes_scanned);  // the estimate
  EXPECT_EQ(last.bytes_done, two->point.stats.bytes_scanned);
  EXPECT_EQ(last.bytes_read, 0u);
  // Only changed folder metadata above the source (trees) may go up.
  EXPECT_EQ(last.bytes_uploaded, two->point.stats.bytes_uploaded);
  EXPECT_EQ(last.files_done, two->point.stats.files);
}

}  // namespace
}  // namespace obagent::engine
