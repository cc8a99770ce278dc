// RecoveryPointReader against a recovery point built in memory: random reads
// must return the original bytes, and a read must fetch only the chunks that
// cover it.
#include "obagent/engine/recovery_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "engine/forwarding_store.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/chunker.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

// Flips one byte of every pack (to test that damage is refused).
void DamagePacks(storage::BlobStore& store) {
  auto keys = store.List("data/");
  ASSERT_TRUE(keys.ok());
  for (const std::string& key : *keys) {
    auto pack = store.Get(key);
    ASSERT_TRUE(pack.ok());
    (*pack)[pack->size() / 3] ^= 0x5a;
    ASSERT_TRUE(store.Put(key, *pack).ok());
  }
}

// Counts what the reader fetches from the store.
class CountingStore final : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<Bytes> Get(std::string_view key) override {
    auto r = ForwardingStore::Get(key);
    if (r.ok()) {
      ++gets;
      bytes += r->size();
    }
    return r;
  }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    auto r = ForwardingStore::GetRange(key, offset, length);
    if (r.ok()) {
      ++gets;
      bytes += r->size();
    }
    return r;
  }
  void Reset() { gets = bytes = 0; }

  uint64_t gets = 0;
  uint64_t bytes = 0;
};

Bytes RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

class RecoveryReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = keys::DeriveKeySet(crypto::RandomKey());
    repo_ = std::make_unique<Repository>(counting_, keys_, "", platform::Env::Default());
    writer_ = std::make_unique<pack::PackWriter>(keys_.data_key);
    big_ = RandomBytes(5u << 20, 1);  // 5 MiB of incompressible data
    small_ = Bytes(AsBytes("hello, instant restore\n").begin(),
                   AsBytes("hello, instant restore\n").end());

    tree::Tree data_dir;
    data_dir.nodes.push_back(FileNode("big.bin", big_, 0640));
    tree::Node link;
    link.name = "link";
    link.type = tree::NodeType::kSymlink;
    link.mode = 0777;
    link.symlink_target = "../somewhere else";
    data_dir.nodes.push_back(link);
    // Two names of one hard-link group: the same source (device, inode).
    tree::Node small = FileNode("small.txt", small_, 0600);
    small.device = 3;
    small.inode = 77;
    small.link_count = 2;
    tree::Node second_name = small;
    second_name.name = "small-link";
    second_name.hardlink_to = "data/small.txt";
    data_dir.nodes.push_back(second_name);
    data_dir.nodes.push_back(small);
    data_dir.nodes.push_back(FileNode("zero", {}, 0444));
    tree::Tree root;
    tree::Node dir;
    dir.name = "data";
    dir.type = tree::NodeType::kDirectory;
    dir.mode = 0750;
    dir.mtime_ns = 1234567890123456789;
    dir.subtree = AddBlob(pack::BlobType::kTree, tree::SerializeTree(data_dir));
    root.nodes.push_back(dir);
    point_.tree = AddBlob(pack::BlobType::kTree, tree::SerializeTree(root));
    point_.time_ns = 42;
    auto finished = writer_->Finish();
    ASSERT_TRUE(repo_->UploadPack(finished, "").ok());
    ASSERT_TRUE(repo_->SaveIndexFile({{finished.name, finished.entries}}).ok());
    ASSERT_TRUE(repo_->LoadIndex().ok());
  }

  ObjectId AddBlob(pack::BlobType type, ByteView data) {
    const ObjectId id = BlobId::Of(keys_.id_key, data);
    writer_->Add(type, id, pack::SealBlob(keys_.data_key, type, id, compress::EncodePayload(data)),
                 static_cast<uint32_t>(data.size()));
    return id;
  }

  // A file node chunked as a backup chunks (FastCDC), with small chunks so
  // a few MiB make many of them.
  tree::Node FileNode(const std::string& name, const Bytes& content, uint32_t mode) {
    chunker::Params params;
    params.min_size = 16 * 1024;
    params.avg_size = 64 * 1024;
    params.max_size = 256 * 1024;
    chunker::Chunker chunker(params, keys_.chunker_seed);
    tree::Node node;
    node.name = name;
    node.type = tree::NodeType::kFile;
    node.mode = mode;
    node.mtime_ns = 1700000000123456789;
    node.size = content.size();
    size_t pos = 0;
    while (pos < content.size()) {
      size_t n = chunker.NextChunkLength(ByteView(content).subspan(pos));
      ByteView piece = ByteView(content).subspan(pos, n);
      node.content.push_back({AddBlob(pack::BlobType::kData, piece), static_cast<uint32_t>(n)});
      pos += n;
    }
    return node;
  }

  Bytes ReadRange(RecoveryPointReader& reader, const std::string& path, uint64_t offset,
                  size_t size) {
    Bytes out(size);
    auto n = reader.Read(path, offset, out.data(), size);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    out.resize(n.ok() ? *n : 0);
    return out;
  }

  static Bytes Slice(const Bytes& b, uint64_t offset, size_t size) {
    if (offset >= b.size()) return {};
    size_t n = std::min<size_t>(size, b.size() - offset);
    return Bytes(b.begin() + static_cast<long>(offset), b.begin() + static_cast<long>(offset + n));
  }

  std::vector<uint64_t> ChunkStarts(RecoveryPointReader& reader) {
    auto node = reader.Lookup("/data/big.bin");
    EXPECT_TRUE(node.ok());
    std::vector<uint64_t> starts;
    uint64_t pos = 0;
    for (const auto& c : node->content) {
      starts.push_back(pos);
      pos += c.size;
    }
    return starts;
  }

  storage::MemoryStore memory_;
  CountingStore counting_{memory_};
  keys::KeySet keys_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<pack::PackWriter> writer_;
  recovery_point::RecoveryPoint point_;
  Bytes big_, small_;
};

TEST_F(RecoveryReaderTest, StatListAndReadLinkShowTheTree) {
  RecoveryPointReader reader(*repo_, point_);
  auto root = reader.ListDir("/");
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  ASSERT_EQ(root->size(), 1u);
  EXPECT_EQ((*root)[0].name, "data");
  EXPECT_EQ((*root)[0].info.kind, platform::FileKind::kDirectory);
  EXPECT_EQ((*root)[0].info.mode, 0750u);

  auto entries = reader.ListDir("/data");
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"big.bin", "link", "small-link", "small.txt", "zero"}));
  // A listing says what Stat says.
  for (const auto& e : *entries) {
    auto info = reader.Stat("/data/" + e.name);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(e.info.kind, info->kind) << e.name;
    EXPECT_EQ(e.info.size, info->size) << e.name;
    EXPECT_EQ(e.info.mode, info->mode) << e.name;
    EXPECT_EQ(e.info.inode, info->inode) << e.name;
    EXPECT_NE(e.info.inode, 0u) << e.name;
  }

  auto dir = reader.Stat("/data/");
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->kind, platform::FileKind::kDirectory);
  EXPECT_EQ(dir->mode, 0750u);
  EXPECT_EQ(dir->mtime_ns, 1234567890123456789);

  auto big = reader.Stat("/data/big.bin");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->kind, platform::FileKind::kRegular);
  EXPECT_EQ(big->size, big_.size());
  EXPECT_EQ(big->mode, 0640u);
  EXPECT_EQ(big->mtime_ns, 1700000000123456789);

  auto link = reader.Stat("/data/link");
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, platform::FileKind::kSymlink);
  auto target = reader.ReadLink("/data/link");
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "../somewhere else");

  auto root_info = reader.Stat("/");
  ASSERT_TRUE(root_info.ok());
  EXPECT_EQ(root_info->kind, platform::FileKind::kDirectory);
  EXPECT_EQ(root_info->mtime_ns, 42);
}

TEST_F(RecoveryReaderTest, HardLinksShareAnInodeNumberOthersDoNot) {
  RecoveryPointReader reader(*repo_, point_);
  auto a = reader.Stat("/data/small.txt");
  auto b = reader.Stat("/data/small-link");
  auto c = reader.Stat("/data/big.bin");
  auto d = reader.Stat("/data/zero");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ(a->inode, b->inode);
  EXPECT_EQ(a->link_count, 2u);
  EXPECT_NE(a->inode, c->inode);
  EXPECT_NE(c->inode, d->inode);  // no source inode: numbered by path
  EXPECT_EQ(reader.Stat("/")->inode, 1u);
  EXPECT_EQ(ReadRange(reader, "/data/small-link", 0, 100), small_);
}

TEST_F(RecoveryReaderTest, MissingPathsAndWrongKindsAreErrors) {
  RecoveryPointReader reader(*repo_, point_);
  EXPECT_EQ(reader.Stat("/data/nope").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(reader.Stat("/data/small.txt/below").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(reader.Stat("/nope/small.txt").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(reader.ListDir("/data/small.txt").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reader.ReadLink("/data/small.txt").status().code(), ErrorCode::kInvalidArgument);
  uint8_t b[4];
  EXPECT_EQ(reader.Read("/data", 0, b, 4).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reader.Read("/data/link", 0, b, 4).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(reader.Read("/data/gone", 0, b, 4).status().code(), ErrorCode::kNotFound);
}

TEST_F(RecoveryReaderTest, WholeFilesReadBackExactly) {
  RecoveryPointReader reader(*repo_, point_);
  EXPECT_EQ(ReadRange(reader, "/data/small.txt", 0, 4096), small_);
  EXPECT_EQ(ReadRange(reader, "/data/zero", 0, 4096), Bytes{});
  // In the kernel's 128 KiB requests.
  Bytes whole;
  for (uint64_t off = 0;; off += 128 * 1024) {
    Bytes part = ReadRange(reader, "/data/big.bin", off, 128 * 1024);
    if (part.empty()) break;
    whole.insert(whole.end(), part.begin(), part.end());
  }
  EXPECT_EQ(whole, big_);
}

TEST_F(RecoveryReaderTest, ReadsAtChunkBoundariesAndAcrossChunks) {
  RecoveryPointReader reader(*repo_, point_);
  std::vector<uint64_t> starts = ChunkStarts(reader);
  ASSERT_GT(starts.size(), 20u) << "the test needs a file of many chunks";
  for (size_t i = 1; i < starts.size(); ++i) {
    const uint64_t b = starts[i];
    // The last byte of a chunk, the first of the next, and both together.
    EXPECT_EQ(ReadRange(reader, "/data/big.bin", b - 1, 1), Slice(big_, b - 1, 1)) << b;
    EXPECT_EQ(ReadRange(reader, "/data/big.bin", b, 1), Slice(big_, b, 1)) << b;
    EXPECT_EQ(ReadRange(reader, "/data/big.bin", b - 3, 7), Slice(big_, b - 3, 7)) << b;
  }
  // One read spanning several whole chunks.
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", starts[2] + 5, starts[7] - starts[2]),
            Slice(big_, starts[2] + 5, starts[7] - starts[2]));
}

TEST_F(RecoveryReaderTest, RandomReadsMatchTheOriginal) {
  RecoveryReaderOptions small_cache;
  small_cache.chunk_cache_bytes = 300 * 1024;  // forces evictions
  RecoveryPointReader reader(*repo_, point_, small_cache);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) {
    uint64_t offset = rng() % (big_.size() + 1000);
    size_t size = static_cast<size_t>(rng() % (600 * 1024)) + 1;
    ASSERT_EQ(ReadRange(reader, "/data/big.bin", offset, size), Slice(big_, offset, size))
        << "offset " << offset << " size " << size;
  }
}

TEST_F(RecoveryReaderTest, ReadsAtAndPastTheEndReturnWhatIsThere) {
  RecoveryPointReader reader(*repo_, point_);
  const uint64_t size = big_.size();
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", size, 10), Bytes{});
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", size + 12345, 10), Bytes{});
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", size - 4, 100), Slice(big_, size - 4, 4));
  EXPECT_EQ(ReadRange(reader, "/data/small.txt", 6, 1000), Slice(small_, 6, 1000));
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", 100, 0), Bytes{});
}

TEST_F(RecoveryReaderTest, OneByteAtTheEndFetchesOnlyTheLastChunk) {
  RecoveryPointReader reader(*repo_, point_);
  auto node = reader.Lookup("/data/big.bin");  // loads the trees
  ASSERT_TRUE(node.ok());
  const tree::ChunkRef last = node->content.back();
  const index::Location* loc = repo_->index().Find(last.id);
  ASSERT_NE(loc, nullptr);
  counting_.Reset();

  EXPECT_EQ(ReadRange(reader, "/data/big.bin", big_.size() - 1, 1),
            Slice(big_, big_.size() - 1, 1));
  EXPECT_EQ(counting_.gets, 1u);
  EXPECT_EQ(counting_.bytes, loc->length);  // the sealed chunk, nothing more
  EXPECT_LT(counting_.bytes, big_.size() / 10);

  // The chunk is cached: reading near it again fetches nothing.
  counting_.Reset();
  EXPECT_EQ(ReadRange(reader, "/data/big.bin", big_.size() - 10, 5),
            Slice(big_, big_.size() - 10, 5));
  EXPECT_EQ(counting_.gets, 0u);
}

TEST_F(RecoveryReaderTest, CacheStaysWithinItsBudget) {
  RecoveryReaderOptions tiny;
  tiny.chunk_cache_bytes = 1;  // nothing fits: every read fetches
  RecoveryPointReader reader(*repo_, point_, tiny);
  ASSERT_TRUE(reader.Lookup("/data/big.bin").ok());
  counting_.Reset();
  ReadRange(reader, "/data/big.bin", 0, 10);
  ReadRange(reader, "/data/big.bin", 0, 10);
  EXPECT_EQ(counting_.gets, 2u);
}

TEST_F(RecoveryReaderTest, DamagedDataIsAnErrorNotWrongBytes) {
  DamagePacks(memory_);
  RecoveryPointReader reader(*repo_, point_);
  // One byte of the pack is flipped, a third into it: in big.bin's chunks,
  // which fill the pack's first 5 MiB. Whichever chunk holds it must fail
  // authentication. Reads every 16 KiB (the chunks' minimum size) reach
  // every chunk, wherever the keyed chunker cut.
  bool saw_corrupt = false;
  uint8_t buffer[4096];
  for (uint64_t off = 0; off < big_.size(); off += 16 * 1024) {
    auto n = reader.Read("/data/big.bin", off, buffer, sizeof buffer);
    if (!n.ok()) {
      EXPECT_EQ(n.status().code(), ErrorCode::kCorrupt) << n.status().ToString();
      saw_corrupt = true;
    }
  }
  EXPECT_TRUE(saw_corrupt);
}

}  // namespace
}  // namespace obagent::engine
