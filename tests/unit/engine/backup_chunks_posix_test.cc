// The backup's reading path: files are read into shared blocks, cut where
// the data in hand decides and carried to a fresh block when one fills up.
// Whatever the layout of files in blocks, every file must get exactly the
// chunks FastCDC gives its whole content (so dedup and change detection do
// not depend on what was read before it), and come back byte for byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "obagent/core/blob_id.h"
#include "obagent/core/chunker.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

void WriteAll(const fs::path& p, const Bytes& data) {
  std::ofstream(p, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Text-like bytes (compressible) with a seed of their own.
Bytes Words(size_t n, uint64_t seed) {
  static const char* kWords[] = {"alpha ", "bravo ", "charlie ", "delta\n", "echo ", "foxtrot "};
  Bytes out;
  out.reserve(n + 16);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  while (out.size() < n) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const char* w = kWords[x % 6];
    out.insert(out.end(), w, w + std::strlen(w));
    if (x % 5 == 0) out.push_back(static_cast<uint8_t>(x >> 24));
  }
  out.resize(n);
  return out;
}

class BackupChunksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-chunks-test.XXXXXX";
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

  // Small chunks: blocks are 2 x max_size = 128 KiB, so a few hundred KiB
  // of files fill several blocks and cross their ends at every offset.
  const chunker::Params params_{4096, 16384, 65536};

  Result<BackupReport> Backup() {
    BackupOptions options;
    options.includes = {src_.string()};
    options.chunker = params_;
    options.threads = 2;
    options.hostname = "test";
    options.pack_size = 256 * 1024;  // several packs, so buffers are reused
    return RunBackup(*repo_, options);
  }

  // The node at absolute `path` in the point's tree.
  Result<tree::Node> Find(const ObjectId& root, const fs::path& path) {
    return FindNode(*repo_, root, path.string());
  }

  // The chunk sizes and ids FastCDC gives `data` read whole.
  std::vector<tree::ChunkRef> Expected(const Bytes& data) {
    chunker::Chunker chunker(params_, keys_.chunker_seed);
    std::vector<tree::ChunkRef> out;
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = chunker.NextChunkLength(ByteView(data).subspan(pos));
      tree::ChunkRef ref;
      ref.id = BlobId::Of(keys_.id_key, ByteView(data).subspan(pos, n));
      ref.size = static_cast<uint32_t>(n);
      out.push_back(ref);
      pos += n;
    }
    return out;
  }

  fs::path dir_, src_;
  keys::KeySet keys_;
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(BackupChunksTest, EveryFileGetsTheChunksOfItsWholeContent) {
  // Files of many sizes in name order (the order they are read): empty,
  // below min_size, exactly one block, just over max_size, and large ones
  // that span blocks; text and random, so some chunks are stored raw.
  std::map<std::string, Bytes> files;
  const size_t sizes[] = {0,     1,      4095,   4096,   4097,   16384,  65535,  65536,
                          65537, 131071, 131072, 131073, 200000, 393216, 500000, 1 << 20};
  int i = 0;
  for (size_t n : sizes) {
    char name[32];
    std::snprintf(name, sizeof name, "f%02d", i);
    files[name] = (i % 3 == 2) ? crypto::RandomBytes(n) : Words(n, static_cast<uint64_t>(i));
    ++i;
  }
  // A file that repeats an earlier one after a shifted prefix: dedup finds
  // its chunks only if cuts do not depend on the block layout.
  Bytes shifted = Words(777, 99);
  const Bytes& big = files["f15"];
  shifted.insert(shifted.end(), big.begin(), big.end());
  files["f99"] = shifted;
  for (const auto& [name, data] : files) WriteAll(src_ / name, data);

  auto report = Backup();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);

  for (const auto& [name, data] : files) {
    SCOPED_TRACE(name);
    auto node = Find(report->point.tree, src_ / name);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    auto expected = Expected(data);
    ASSERT_EQ(node->content.size(), expected.size());
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_EQ(node->content[k].size, expected[k].size) << "chunk " << k;
      EXPECT_EQ(node->content[k].id, expected[k].id) << "chunk " << k;
    }
  }

  // And the vault holds the content: every chunk reads back (authenticated,
  // decompressed, id checked) into the file's bytes.
  for (const auto& [name, data] : files) {
    SCOPED_TRACE(name);
    auto node = Find(report->point.tree, src_ / name);
    ASSERT_TRUE(node.ok());
    Bytes back;
    for (const tree::ChunkRef& c : node->content) {
      auto blob = repo_->ReadBlob(c.id);
      ASSERT_TRUE(blob.ok()) << blob.status().ToString();
      back.insert(back.end(), blob->begin(), blob->end());
    }
    EXPECT_EQ(back, data);
  }
}

// A job stopped at any moment leaves chunks and packs queued in its
// pools; they must finish while the job's state still exists (a queued
// upload once outlived the progress reporter and aborted the engine). Stops
// at many moments; the sanitizer build sees any use after the end.
TEST_F(BackupChunksTest, StoppedAtAnyMomentEndsCleanly) {
  for (int i = 0; i < 40; ++i) WriteAll(src_ / ("f" + std::to_string(i)), Words(150000, i));
  for (int round = 0; round < 12; ++round) {
    // New content each round, so every round has chunks and packs to do.
    WriteAll(src_ / "changing", Words(2000000, 1000 + round));
    std::atomic<bool> cancel{false};
    std::atomic<int> reports{0};
    BackupOptions options;
    options.includes = {src_.string()};
    options.chunker = params_;
    options.threads = 2;
    options.hostname = "test";
    options.pack_size = 128 * 1024;
    options.cancel = &cancel;
    options.progress = [&](const Progress&) {
      // Stop after a different number of reports each round.
      if (reports.fetch_add(1) >= round) cancel = true;
    };
    ASSERT_TRUE(repo_->LoadIndex().ok());
    auto report = RunBackup(*repo_, options);
    if (!report.ok()) {
      EXPECT_EQ(report.status().code(), ErrorCode::kCancelled) << round;
    }
  }
  // What was stopped never damaged the vault: a complete backup still works.
  ASSERT_TRUE(repo_->LoadIndex().ok());
  auto last = Backup();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(last->state, JobState::kCompleted);
}

}  // namespace
}  // namespace obagent::engine
