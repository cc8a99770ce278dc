// Named (alternate) data streams through the engine, on Linux with a fake
// Windows file system: FakeStreamsEnv gives chosen source files named
// streams (listed by ReadMetadata, read by OpenStreamForRead, as the Windows
// Env does) and its restore folders hold the streams created in them
// (CreateStream / OpenStreamForWrite, which follow the file through the
// restore's rename). Shown: a backup restores with its streams; two files
// with the same stream add no blob; a no-change backup keeps them without
// reading them; prune keeps their blobs, verify sees a lost one; a
// restore to a folder without streams (POSIX) warns once. And a cloud
// placeholder (the Windows Env's 0x8007018B) is a warning, not retried.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/forwarding_env.h"
#include "engine/forwarding_restore_dir.h"
#include "engine/test_vault.h"
#include "obagent/core/tree.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/prune.h"
#include "obagent/engine/repair.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/engine/verify.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;
using testing::RandomData;
using testing::WriteFile;

// ERROR_CLOUD_FILE_ACCESS_DENIED, as src/platform/reparse_read.h gives it.
constexpr uint32_t kCloudFileAccessDenied = 0x8007018B;

// Streams by file path, then by stream name.
using StreamMap = std::map<std::string, std::map<std::string, std::string>>;

class MemoryReadable final : public platform::ReadableFile {
 public:
  explicit MemoryReadable(std::string data) : data_(std::move(data)) {}
  Result<size_t> Read(uint8_t* buffer, size_t n) override {
    Result<size_t> got = ReadAt(pos_, buffer, n);
    if (got.ok()) pos_ += *got;
    return got;
  }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) override {
    if (offset >= data_.size()) return size_t{0};
    const size_t len = std::min<size_t>(n, data_.size() - offset);
    std::memcpy(buffer, data_.data() + offset, len);
    return len;
  }
  Result<platform::FileInfo> Stat() override {
    platform::FileInfo info;
    info.kind = platform::FileKind::kRegular;
    info.size = data_.size();
    return info;
  }

 private:
  std::string data_;
  uint64_t pos_ = 0;
};

// A stream of a restored file: positional writes into the shared map.
class MemoryWritable final : public platform::WritableFile {
 public:
  MemoryWritable(std::mutex& mu, std::string& data) : mu_(mu), data_(data) {}
  Status WriteAt(uint64_t offset, ByteView d) override {
    std::lock_guard lock(mu_);
    if (data_.size() < offset + d.size()) data_.resize(offset + d.size());
    std::memcpy(data_.data() + offset, d.data(), d.size());
    return Status::Ok();
  }
  Status Truncate(uint64_t size) override {
    std::lock_guard lock(mu_);
    data_.resize(size);
    return Status::Ok();
  }
  Status Sync() override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }

 private:
  std::mutex& mu_;
  std::string& data_;
};

struct RestoredStreams {
  std::mutex mu;
  StreamMap by_path;  // restored file path -> streams
};

// A restore folder as NTFS has it: the real folder, plus named streams of
// its files kept in memory (renames and removals carry them).
class FakeStreamsRestoreDir final : public testing::ForwardingRestoreDir {
 public:
  FakeStreamsRestoreDir(std::unique_ptr<platform::RestoreDir> inner, std::string path,
                        RestoredStreams& streams)
      : ForwardingRestoreDir(std::move(inner)), path_(std::move(path)), streams_(streams) {}

  Result<std::unique_ptr<platform::WritableFile>> CreateFile(std::string_view n,
                                                             bool replace) override {
    Drop(n);
    return inner_->CreateFile(n, replace);
  }
  Status Remove(std::string_view n) override {
    Drop(n);
    return inner_->Remove(n);
  }
  Status Rename(std::string_view from, std::string_view to) override {
    OB_RETURN_IF_ERROR(inner_->Rename(from, to));
    std::lock_guard lock(streams_.mu);
    auto node = streams_.by_path.extract(Path(from));
    streams_.by_path.erase(Path(to));
    if (!node.empty()) {
      node.key() = Path(to);
      streams_.by_path.insert(std::move(node));
    }
    return Status::Ok();
  }
  std::vector<platform::MetadataIssue> ApplyMetadata(std::string_view n,
                                                     const platform::FileMetadata& md,
                                                     bool is_symlink, bool permissions) override {
    EXPECT_TRUE(md.streams.empty()) << "streams go through CreateStream, not ApplyMetadata";
    return inner_->ApplyMetadata(n, md, is_symlink, permissions);
  }
  Result<std::unique_ptr<platform::WritableFile>> CreateStream(std::string_view n,
                                                               std::string_view s) override {
    if (!tree::IsSafeStreamName(s)) return InvalidArgument("bad stream name");
    OB_ASSIGN_OR_RETURN(platform::FileKind kind, inner_->Probe(n));
    if (kind != platform::FileKind::kRegular) return InvalidArgument("not a file");
    std::lock_guard lock(streams_.mu);
    std::string& data = streams_.by_path[Path(n)][std::string(s)];
    data.clear();
    return std::unique_ptr<platform::WritableFile>(
        std::make_unique<MemoryWritable>(streams_.mu, data));
  }
  Result<std::unique_ptr<platform::WritableFile>> OpenStreamForWrite(std::string_view n,
                                                                     std::string_view s) override {
    std::lock_guard lock(streams_.mu);
    auto file = streams_.by_path.find(Path(n));
    if (file == streams_.by_path.end() || !file->second.count(std::string(s))) {
      return Status(ErrorCode::kNotFound, "no such stream");
    }
    return std::unique_ptr<platform::WritableFile>(
        std::make_unique<MemoryWritable>(streams_.mu, file->second[std::string(s)]));
  }

 protected:
  std::unique_ptr<platform::RestoreDir> WrapSubdir(std::unique_ptr<platform::RestoreDir> sub,
                                                   std::string_view n) override {
    return std::make_unique<FakeStreamsRestoreDir>(std::move(sub), Path(n), streams_);
  }

 private:
  std::string Path(std::string_view n) const { return path_ + "/" + std::string(n); }
  void Drop(std::string_view n) {
    std::lock_guard lock(streams_.mu);
    streams_.by_path.erase(Path(n));
  }

  std::string path_;
  RestoredStreams& streams_;
};

// The real Env, with named streams on the files `source` names (listed and
// read as the Windows Env does), and restore folders that hold streams when
// `restore_streams` (else the POSIX default: none).
class FakeStreamsEnv final : public testing::ForwardingEnv {
 public:
  explicit FakeStreamsEnv(platform::Env& base) : ForwardingEnv(base) {}

  Result<platform::FileMetadata> ReadMetadata(const std::string& p,
                                              const platform::FileInfo& info) override {
    OB_ASSIGN_OR_RETURN(platform::FileMetadata md, base_.ReadMetadata(p, info));
    auto it = source.find(p);
    if (it != source.end() && info.kind == platform::FileKind::kRegular) {
      for (const auto& [name, data] : it->second) md.streams.push_back({name, data.size()});
    }
    return md;
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenStreamForRead(
      const std::string& p, const std::string& stream) override {
    ++stream_opens;
    auto it = source.find(p);
    if (it == source.end() || !it->second.count(stream)) {
      return Status(ErrorCode::kNotFound, "no stream '" + stream + "' on " + p);
    }
    return std::unique_ptr<platform::ReadableFile>(
        std::make_unique<MemoryReadable>(it->second.at(stream)));
  }
  Result<std::unique_ptr<platform::ReadableFile>> OpenForRead(const std::string& p) override {
    if (placeholders.count(p)) {
      ++placeholder_opens;
      // As src/platform/reparse_read.cc words it for a cloud placeholder.
      return Status(ErrorCode::kIo, "open '" + p + "': a cloud file whose data is not on this disk",
                    kCloudFileAccessDenied);
    }
    return base_.OpenForRead(p);
  }
  Result<std::unique_ptr<platform::RestoreDir>> OpenRestoreRoot(const std::string& p,
                                                                bool create) override {
    OB_ASSIGN_OR_RETURN(auto root, base_.OpenRestoreRoot(p, create));
    if (!restore_streams) return root;
    return std::unique_ptr<platform::RestoreDir>(
        std::make_unique<FakeStreamsRestoreDir>(std::move(root), p, restored));
  }

  StreamMap source;
  std::set<std::string> placeholders;
  bool restore_streams = true;
  RestoredStreams restored;
  std::atomic<int> stream_opens{0};
  std::atomic<int> placeholder_opens{0};
};

class StreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = (vault_.dir() / "src").string();
    WriteFile(src_ + "/a.txt", "content of a\n");
    WriteFile(src_ + "/b.txt", "content of b, another\n");
    WriteFile(src_ + "/plain.bin", RandomData(50000, 3));
    WriteFile(src_ + "/sub/empty", "");
    zone_ = "[ZoneTransfer]\r\nZoneId=3\r\n";
    big_ = RandomData(300000, 7);  // many chunks at the test's 4-64 KiB sizes
    env_.source[src_ + "/a.txt"] = {{"Zone.Identifier", zone_}, {"big", big_}};
    env_.source[src_ + "/b.txt"] = {{"Zone.Identifier", zone_}};
    env_.source[src_ + "/sub/empty"] = {{"empty stream", ""}, {"\xc3\xa9t\xc3\xa9", "summer"}};
    repo_ = std::make_unique<Repository>(vault_.store(), keys::DeriveKeySet(crypto::RandomKey()),
                                         (vault_.dir() / "cache").string(), env_);
  }

  BackupReport Backup() {
    EXPECT_TRUE(repo_->LoadIndex().ok());
    auto report = RunBackup(*repo_, testing::SmallBackupOptions({src_}));
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(repo_->LoadIndex().ok());
    return report.ok() ? *report : BackupReport{};
  }
  RestoreReport Restore(const std::string& target, const std::string& point = "latest") {
    RestoreOptions options;
    options.point = point;
    options.target = target;
    options.threads = 2;
    auto report = RunRestore(*repo_, options);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : RestoreReport{};
  }
  // The restored streams of a source file restored below `target`.
  std::map<std::string, std::string> RestoredStreams(const std::string& target,
                                                     const std::string& rel) {
    std::lock_guard lock(env_.restored.mu);
    auto it = env_.restored.by_path.find(RestoredPath(target, src_) + "/" + rel);
    return it == env_.restored.by_path.end() ? std::map<std::string, std::string>{} : it->second;
  }
  // The blobs the vault holds.
  size_t BlobCount() { return repo_->index().blob_count(); }

  testing::TestVault vault_{"obagent-streams", testing::VaultBacking::kLocalFolder};
  FakeStreamsEnv env_{platform::Env::Default()};
  std::string src_;
  std::string zone_;
  std::string big_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(StreamsTest, BackupRestoresStreamsIntoTheFiles) {
  BackupReport backup = Backup();
  EXPECT_TRUE(backup.failed_files.empty());
  // The tree records them as kind 18, with their sizes.
  auto point = repo_->FindRecoveryPoint("latest");
  ASSERT_TRUE(point.ok());
  // Backed-up bytes count the streams (bytes_scanned is the job's total).
  EXPECT_EQ(backup.point.stats.bytes_scanned,
            13u + 22u + 50000u + 0u + zone_.size() + big_.size() + zone_.size() + 6u);

  const std::string target = (vault_.dir() / "target").string();
  RestoreReport restore = Restore(target);
  EXPECT_EQ(restore.state, JobState::kCompleted);
  EXPECT_TRUE(restore.failed_files.empty());
  EXPECT_TRUE(restore.warnings.empty());
  EXPECT_EQ(restore.bytes, 13u + 22u + 50000u + zone_.size() * 2 + big_.size() + 6u);
  EXPECT_EQ(testing::ReadFile(RestoredPath(target, src_) + "/a.txt"), "content of a\n");
  EXPECT_EQ(RestoredStreams(target, "a.txt"),
            (std::map<std::string, std::string>{{"Zone.Identifier", zone_}, {"big", big_}}));
  EXPECT_EQ(RestoredStreams(target, "b.txt"),
            (std::map<std::string, std::string>{{"Zone.Identifier", zone_}}));
  EXPECT_EQ(
      RestoredStreams(target, "sub/empty"),
      (std::map<std::string, std::string>{{"empty stream", ""}, {"\xc3\xa9t\xc3\xa9", "summer"}}));
  EXPECT_TRUE(RestoredStreams(target, "plain.bin").empty());
}

TEST_F(StreamsTest, IdenticalStreamsShareBlobs) {
  Backup();
  const size_t before = BlobCount();
  // A new file whose stream is a's "big" stream, and whose content is b's:
  // nothing new but the trees.
  WriteFile(src_ + "/c.txt", "content of b, another\n");
  env_.source[src_ + "/c.txt"] = {{"copy of big", big_}, {"Zone.Identifier", zone_}};
  BackupReport second = Backup();
  EXPECT_EQ(second.figures.bytes_new, 0u) << "no new data: only the folders' trees are new";
  EXPECT_GT(BlobCount(), before);
  // And the content and one stream read the same chunks (the stream was read).
  const std::string target = (vault_.dir() / "target").string();
  Restore(target);
  EXPECT_EQ(RestoredStreams(target, "c.txt")["copy of big"], big_);
}

TEST_F(StreamsTest, NoChangeBackupKeepsStreamsWithoutReadingThem) {
  Backup();
  const int opens = env_.stream_opens;
  EXPECT_EQ(opens, 5);  // a: 2, b: 1, sub/empty: 2
  BackupReport second = Backup();
  EXPECT_EQ(env_.stream_opens, opens) << "an unchanged file's streams are not read again";
  EXPECT_EQ(second.figures.bytes_new, 0u);
  EXPECT_EQ(second.point.stats.bytes_read, 0u) << "nothing of the sources is read";
  EXPECT_EQ(second.point.stats.bytes_scanned,
            13u + 22u + 50000u + zone_.size() * 2 + big_.size() + 6u);
  // The second point restores them all.
  const std::string target = (vault_.dir() / "target").string();
  Restore(target);
  EXPECT_EQ(RestoredStreams(target, "a.txt")["big"], big_);
  EXPECT_EQ(RestoredStreams(target, "sub/empty")["\xc3\xa9t\xc3\xa9"], "summer");
}

TEST_F(StreamsTest, PruneKeepsStreamBlobsAndVerifyFindsThemWhole) {
  // The first point also holds a file only it has, in the same packs as
  // the streams: prune repacks them and must carry the streams' blobs over.
  WriteFile(src_ + "/gone.bin", RandomData(400000, 9));
  Backup();
  fs::remove(src_ + "/gone.bin");
  Backup();
  auto points = repo_->ListRecoveryPoints();
  ASSERT_TRUE(points.ok());
  ASSERT_EQ(points->size(), 2u);
  PruneOptions options;
  options.repack_threshold = 0.01;
  auto pruned = RunPrune(*repo_, {points->back().id}, options);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_GT(pruned->packs_repacked + pruned->packs_deleted, 0u);
  auto verify = RunVerify(*repo_, 2);
  ASSERT_TRUE(verify.ok()) << verify.status().ToString();
  EXPECT_TRUE(verify->ok()) << (verify->problems.empty() ? "" : verify->problems[0]);
  const std::string target = (vault_.dir() / "target").string();
  RestoreReport restore = Restore(target);
  EXPECT_TRUE(restore.failed_files.empty())
      << (restore.failed_files.empty() ? "" : restore.failed_files[0].error);
  EXPECT_EQ(RestoredStreams(target, "a.txt")["big"], big_);
}

TEST_F(StreamsTest, VerifyReportsALostStreamChunk) {
  // A stream whose data no file content shares: losing its blob loses the
  // stream, and verify must say which file.
  env_.source[src_ + "/plain.bin"] = {{"only here", RandomData(5000, 11)}};
  Backup();
  auto point = repo_->FindRecoveryPoint("latest");
  ASSERT_TRUE(point.ok());
  // Find plain.bin's node and its stream's chunk.
  ObjectId tree_id = point->point.tree;
  std::vector<std::string> parts;
  for (const auto& p : fs::path(src_)) {
    if (p != "/") parts.push_back(p.string());
  }
  for (const std::string& part : parts) {
    auto t = repo_->ReadTree(tree_id);
    ASSERT_TRUE(t.ok());
    auto it = std::find_if(t->nodes.begin(), t->nodes.end(),
                           [&](const tree::Node& n) { return n.name == part; });
    ASSERT_NE(it, t->nodes.end()) << part;
    tree_id = *it->subtree;
  }
  auto t = repo_->ReadTree(tree_id);
  ASSERT_TRUE(t.ok());
  auto plain = std::find_if(t->nodes.begin(), t->nodes.end(),
                            [](const tree::Node& n) { return n.name == "plain.bin"; });
  ASSERT_NE(plain, t->nodes.end());
  ASSERT_EQ(plain->streams.size(), 1u);
  ASSERT_FALSE(plain->streams[0].content.empty());
  EXPECT_EQ(plain->streams[0].size, 5000u);
  // Flip a byte of the stream's blob in its pack: verify finds the copy
  // damaged, and the walk names the file whose stream it was.
  const ObjectId lost = plain->streams[0].content[0].id;
  const index::Location* loc = repo_->index().Find(lost);
  ASSERT_NE(loc, nullptr);
  const std::string pack = repo_->index().pack_names()[loc->pack];
  bool flipped = false;
  for (const auto& e : fs::recursive_directory_iterator(vault_.dir() / "vault" / "data")) {
    if (!e.is_regular_file() || e.path().filename() != pack) continue;
    std::string bytes = testing::ReadFile(e.path());
    ASSERT_LT(loc->offset + loc->length / 2, bytes.size());
    bytes[loc->offset + loc->length / 2] ^= 0x01;
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
    WriteFile(e.path(), bytes);
    flipped = true;
  }
  ASSERT_TRUE(flipped);
  auto verify = RunVerify(*repo_, 2);
  ASSERT_TRUE(verify.ok()) << verify.status().ToString();
  bool named = false;
  for (const std::string& p : verify->problems) {
    if (p.find("plain.bin") != std::string::npos) named = true;
  }
  EXPECT_TRUE(named) << "verify did not name the file whose stream lost a chunk";
}

TEST_F(StreamsTest, RestoreWithoutStreamsWarnsOnce) {
  Backup();
  env_.restore_streams = false;  // the POSIX RestoreDir: no named streams
  const std::string target = (vault_.dir() / "target").string();
  RestoreReport restore = Restore(target);
  EXPECT_TRUE(restore.failed_files.empty());
  EXPECT_EQ(restore.state, JobState::kCompletedWithWarnings);
  size_t streams = 0;
  for (const FailedFile& w : restore.warnings) {
    if (w.error.find("alternate data streams") == std::string::npos) continue;
    ++streams;
    EXPECT_NE(w.error.find("3 items"), std::string::npos) << w.error;
  }
  EXPECT_EQ(streams, 1u);
  // The files themselves are whole.
  EXPECT_EQ(testing::ReadFile(RestoredPath(target, src_) + "/a.txt"), "content of a\n");
  EXPECT_EQ(testing::ReadFile(RestoredPath(target, src_) + "/plain.bin"), RandomData(50000, 3));
}

TEST_F(StreamsTest, CloudPlaceholderIsAWarningWithItsCodeAndNoRetry) {
  WriteFile(src_ + "/onedrive.docx", "not here");
  env_.placeholders.insert(src_ + "/onedrive.docx");
  BackupReport backup = Backup();
  EXPECT_EQ(backup.state, JobState::kCompletedWithWarnings);
  ASSERT_EQ(backup.failed_files.size(), 1u);
  EXPECT_EQ(backup.failed_files[0].path, src_ + "/onedrive.docx");
  EXPECT_EQ(backup.failed_files[0].os_error, kCloudFileAccessDenied);
  EXPECT_EQ(os_error::Format(backup.failed_files[0].os_error), "0x8007018B");
  EXPECT_EQ(env_.placeholder_opens, 1) << "a placeholder is opened once, never retried";
  EXPECT_FALSE(backup.point_id.empty()) << "the rest is backed up";
}

}  // namespace
}  // namespace obagent::engine
