// Tests of the Azure blob store against Azurite (started by the fixtures
// through scripts/azurite.sh), of its retry policy against a fake HTTP
// server, and of the prefixed store view.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// cpprestsdk's U() macro would clash with gtest's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <gtest/gtest.h>

#include "net/free_port.h"
#include "obagent/core/crypto.h"
#include "obagent/storage/blob_store.h"
#include "storage/stream_test_util.h"

namespace obagent::storage {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr char kAccount[] = "devstoreaccount1";
constexpr char kAccountKey[] =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string SourceDir() {
  if (const char* env = std::getenv("OBAGENT_SOURCE_DIR"); env && *env) return env;
#ifdef OBAGENT_SOURCE_DIR
  return OBAGENT_SOURCE_DIR;
#else
  return ".";
#endif
}

std::string AzuriteBinary() {
  const char* prefix = std::getenv("AZURITE_PREFIX");
  std::string dir = prefix && *prefix ? prefix : SourceDir() + "/build/azurite";
  return dir + "/node_modules/.bin/azurite-blob";
}

std::string MakeTempDir(const std::string& name) {
  std::string tmpl = (fs::temp_directory_path() / (name + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

using obagent::testing::FreePort;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One Azurite blob service in a temporary folder.
class Azurite {
 public:
  ~Azurite() {
    Stop();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }

  // Starts on a free port; "" on success, else what went wrong.
  std::string Start() {
    if (!fs::exists(AzuriteBinary())) {
      return "Azurite is not installed (" + AzuriteBinary() +
             " is missing): run 'bash scripts/azurite.sh install' in " + SourceDir();
    }
    dir_ = MakeTempDir("obagent-azurite");
    if (dir_.empty()) return std::string("mkdtemp: ") + std::strerror(errno);
    std::string error;
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = FreePort();
      error = StartOnPort();
      if (error.empty()) return "";
    }
    return error;
  }

  // Starts again on the same port with the same data.
  std::string Restart() { return StartOnPort(); }

  void Stop() {
    if (!running_) return;
    std::string cmd = "bash '" + SourceDir() + "/scripts/azurite.sh' stop '" + dir_ + "/data'";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "azurite.sh stop failed";
    running_ = false;
  }

  int port() const { return port_; }
  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + kAccount;
  }

 private:
  std::string StartOnPort() {
    std::string log = dir_ + "/start.log";
    std::string cmd = "bash '" + SourceDir() + "/scripts/azurite.sh' start '" + dir_ + "/data' " +
                      std::to_string(port_) + " >'" + log + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      return "azurite.sh start failed on port " + std::to_string(port_) + ": " + ReadText(log);
    }
    running_ = true;
    return "";
  }

  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

AzureBlobConfig MakeConfig(const std::string& endpoint, const std::string& container) {
  AzureBlobConfig config;
  config.endpoint = endpoint;
  config.account = kAccount;
  config.account_key = kAccountKey;
  config.container = container;
  config.max_attempts = 3;
  config.base_delay_ms = 10;
  config.timeout_seconds = 30;
  return config;
}

std::string UniqueContainer() {
  static std::atomic<int> counter{0};
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

Bytes PatternBytes(size_t n, uint32_t seed) {
  Bytes out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<uint8_t>(x);
  }
  return out;
}

// A response body for the fake server. (Bodies given as std::string go
// through a char stream buffer that cpprestsdk casts to an uint8_t one,
// which UBSan reports.)
std::vector<unsigned char> Body(std::string_view text) {
  return std::vector<unsigned char>(text.begin(), text.end());
}

std::string Text(const Result<Bytes>& r) {
  return r.ok() ? std::string(AsString(*r)) : "<" + r.status().ToString() + ">";
}

// ---------------------------------------------------------------------------
// Against Azurite.

class AzureBlobStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    azurite_ = new Azurite();
    setup_error_ = azurite_->Start();
  }
  static void TearDownTestSuite() {
    delete azurite_;
    azurite_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    container_ = UniqueContainer();
    auto store = OpenAzureBlobStore(Config());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  AzureBlobConfig Config() const { return MakeConfig(azurite_->endpoint(), container_); }

  std::unique_ptr<BlobStore> Open(const AzureBlobConfig& config) {
    auto store = OpenAzureBlobStore(config);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::vector<std::string> List(BlobStore& store, const std::string& prefix) {
    auto keys = store.List(prefix);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  static Azurite* azurite_;
  static std::string setup_error_;
  std::string container_;
  std::unique_ptr<BlobStore> store_;
};

Azurite* AzureBlobStoreTest::azurite_ = nullptr;
std::string AzureBlobStoreTest::setup_error_;

TEST_F(AzureBlobStoreTest, PutGetExistsDeleteRoundTrip) {
  ASSERT_TRUE(store_->Put("data/ab/ab12", AsBytes("hello")).ok());
  EXPECT_EQ(Text(store_->Get("data/ab/ab12")), "hello");
  auto exists = store_->Exists("data/ab/ab12");
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_TRUE(*exists);

  // Replacing an object.
  ASSERT_TRUE(store_->Put("data/ab/ab12", AsBytes("world!")).ok());
  EXPECT_EQ(Text(store_->Get("data/ab/ab12")), "world!");

  // An empty object.
  ASSERT_TRUE(store_->Put("empty", ByteView()).ok());
  auto empty = store_->Get("empty");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());

  ASSERT_TRUE(store_->Delete("data/ab/ab12").ok());
  exists = store_->Exists("data/ab/ab12");
  ASSERT_TRUE(exists.ok());
  EXPECT_FALSE(*exists);
  EXPECT_EQ(store_->Get("data/ab/ab12").status().code(), ErrorCode::kNotFound);
  // Deleting a missing object is fine.
  EXPECT_TRUE(store_->Delete("data/ab/ab12").ok());
}

TEST_F(AzureBlobStoreTest, MissingObjects) {
  EXPECT_EQ(store_->Get("nope").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetRange("nope", 0, 1).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetRange("nope", 0, 0).status().code(), ErrorCode::kNotFound);
  auto exists = store_->Exists("nope");
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_FALSE(*exists);
  EXPECT_TRUE(store_->Delete("nope").ok());
  EXPECT_TRUE(List(*store_, "").empty());
}

TEST_F(AzureBlobStoreTest, ListIsSortedAndFilteredByPrefix) {
  for (const char* key : {"snapshots/b", "data/01/x", "data/00/y", "index/1", "data/00/a"}) {
    ASSERT_TRUE(store_->Put(key, AsBytes(key)).ok()) << key;
  }
  EXPECT_EQ(List(*store_, ""), (std::vector<std::string>{"data/00/a", "data/00/y", "data/01/x",
                                                         "index/1", "snapshots/b"}));
  EXPECT_EQ(List(*store_, "data/"),
            (std::vector<std::string>{"data/00/a", "data/00/y", "data/01/x"}));
  EXPECT_EQ(List(*store_, "data/00"), (std::vector<std::string>{"data/00/a", "data/00/y"}));
  EXPECT_TRUE(List(*store_, "zzz").empty());
}

TEST_F(AzureBlobStoreTest, ConfigPrefixIsAddedAndStripped) {
  AzureBlobConfig config = Config();
  config.prefix = "machines/m1/";
  auto prefixed = Open(config);
  ASSERT_NE(prefixed, nullptr);
  ASSERT_TRUE(prefixed->Put("data/k", AsBytes("v")).ok());
  ASSERT_TRUE(store_->Put("other/k", AsBytes("o")).ok());
  EXPECT_EQ(List(*prefixed, ""), std::vector<std::string>{"data/k"});
  EXPECT_EQ(List(*prefixed, "da"), std::vector<std::string>{"data/k"});
  EXPECT_EQ(List(*store_, ""), (std::vector<std::string>{"machines/m1/data/k", "other/k"}));
  EXPECT_EQ(Text(store_->Get("machines/m1/data/k")), "v");
  EXPECT_EQ(Text(prefixed->Get("data/k")), "v");
  EXPECT_EQ(prefixed->Describe(),
            "azure:" + azurite_->endpoint() + "/" + container_ + "/machines/m1/");
  EXPECT_EQ(store_->Describe(), "azure:" + azurite_->endpoint() + "/" + container_ + "/");

  config.prefix = "no-slash";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
  config.prefix = "../";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
}

TEST_F(AzureBlobStoreTest, KeysThatNeedEncoding) {
  // Characters that must be percent-encoded in the URL and signed as sent.
  const std::vector<std::string> keys = {"dir/a b",       "dir/plus+sign", "dir/pct%41",
                                         "dir/q?x=1&y",   "dir/h#ash",     "dir/\xc3\xa9t\xc3\xa9",
                                         "dir/semi;colon"};
  for (const std::string& key : keys) {
    ASSERT_TRUE(store_->Put(key, AsBytes(key)).ok()) << key;
  }
  for (const std::string& key : keys) EXPECT_EQ(Text(store_->Get(key)), key);
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(List(*store_, "dir/"), sorted);
  EXPECT_EQ(List(*store_, "dir/a "), std::vector<std::string>{"dir/a b"});
  EXPECT_EQ(List(*store_, "dir/plus+"), std::vector<std::string>{"dir/plus+sign"});
}

TEST_F(AzureBlobStoreTest, InvalidKeysAreRefused) {
  for (const char* key : {"", "/abs", "a//b", "a/./b", "../x", "a/..", "trailing/"}) {
    EXPECT_EQ(store_->Put(key, AsBytes("x")).code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).status().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->GetRange(key, 0, 1).status().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Delete(key).code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Exists(key).status().code(), ErrorCode::kInvalidArgument) << key;
  }
}

TEST_F(AzureBlobStoreTest, ListFollowsContinuationMarkers) {
  // The store asks for 1000 names per page: 1100 objects need two pages.
  constexpr int kCount = 1100;
  auto start = Clock::now();
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kCount; i = next++) {
        char key[32];
        std::snprintf(key, sizeof key, "many/%05d", i);
        if (!store_->Put(key, AsBytes("x")).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  double put_seconds = SecondsSince(start);
  ASSERT_TRUE(store_->Put("other", AsBytes("y")).ok());
  start = Clock::now();
  std::vector<std::string> keys = List(*store_, "many/");
  double list_seconds = SecondsSince(start);
  ASSERT_EQ(keys.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "many/%05d", i);
    ASSERT_EQ(keys[i], key);
  }
  EXPECT_EQ(List(*store_, "").size(), static_cast<size_t>(kCount + 1));
  std::printf("  [%d puts from 3 threads: %.2f s; list: %.2f s]\n", kCount, put_seconds,
              list_seconds);
}

TEST_F(AzureBlobStoreTest, LargeObjectGoesUpInBlocks) {
  // 20 MiB > single_put_limit (8 MiB): five 4 MiB blocks.
  const size_t kSize = 20u << 20;
  const size_t kBlock = 4u << 20;
  Bytes data = PatternBytes(kSize, 7);
  auto start = Clock::now();
  Status put = store_->Put("big/object", data);
  ASSERT_TRUE(put.ok()) << put.ToString();
  double put_seconds = SecondsSince(start);
  start = Clock::now();
  auto got = store_->Get("big/object");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  double get_seconds = SecondsSince(start);
  ASSERT_EQ(got->size(), kSize);
  EXPECT_TRUE(*got == data);
  std::printf("  [20 MiB put %.2f s, get %.2f s]\n", put_seconds, get_seconds);

  auto range = [&](uint64_t offset, uint64_t length) {
    auto r = store_->GetRange("big/object", offset, length);
    EXPECT_TRUE(r.ok()) << offset << "+" << length << ": " << r.status().ToString();
    if (!r.ok()) return false;
    return *r == Bytes(data.begin() + static_cast<ptrdiff_t>(offset),
                       data.begin() + static_cast<ptrdiff_t>(offset + length));
  };
  EXPECT_TRUE(range(100, 1000));                   // inside the first block
  EXPECT_TRUE(range(kBlock + 5, 4096));            // inside the second block
  EXPECT_TRUE(range(kBlock - 10, 20));             // across a block boundary
  EXPECT_TRUE(range(kBlock - 1, 2 * kBlock + 2));  // spanning three blocks
  EXPECT_TRUE(range(kSize - 7, 7));                // the last bytes
  EXPECT_TRUE(range(0, kSize));                    // everything
  EXPECT_TRUE(range(kSize, 0));                    // empty, at the end

  // Ranges past the end.
  EXPECT_EQ(store_->GetRange("big/object", kSize - 7, 8).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("big/object", kSize, 1).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("big/object", kSize + 100, 1).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("big/object", kSize + 1, 0).status().code(), ErrorCode::kCorrupt);
}

TEST_F(AzureBlobStoreTest, ManySmallBlocksKeepTheirOrder) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 100;
  config.block_size = 7;  // 1000 bytes → 143 blocks, the last one short
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  Bytes data = PatternBytes(1000, 3);
  ASSERT_TRUE(store->Put("blocks", data).ok());
  auto got = store->Get("blocks");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data);
  // Replaced by a single Put Blob.
  ASSERT_TRUE(store->Put("blocks", AsBytes("small")).ok());
  EXPECT_EQ(Text(store->Get("blocks")), "small");
}

// Write-once: If-None-Match: * on Put Blob (small) and Put Block List
// (large) makes a create-only put of an existing blob fail with
// kAlreadyExists and change nothing; of writers racing for one name exactly
// one creates it.
TEST_F(AzureBlobStoreTest, PutNewCreatesOnlyWhenTheBlobIsFree) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 100;
  config.block_size = 64;
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutNew("small", AsBytes("first")).ok());
  EXPECT_EQ(store->PutNew("small", AsBytes("second")).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Text(store->Get("small")), "first");
  Bytes big = PatternBytes(1000, 5);
  ASSERT_TRUE(store->PutNew("big", big).ok());
  EXPECT_EQ(store->PutNew("big", PatternBytes(1000, 6)).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(store->PutNew("big", AsBytes("short")).code(), ErrorCode::kAlreadyExists);
  auto got = store->Get("big");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == big);

  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      Status st = store->PutNew("raced", PatternBytes(i % 2 == 0 ? 50 : 500, i));
      if (st.ok()) ++created;
      if (st.code() == ErrorCode::kAlreadyExists) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(refused.load(), 5);
}

TEST_F(AzureBlobStoreTest, GetRangeOnSmallObject) {
  ASSERT_TRUE(store_->Put("s", AsBytes("0123456789")).ok());
  EXPECT_EQ(Text(store_->GetRange("s", 0, 10)), "0123456789");
  EXPECT_EQ(Text(store_->GetRange("s", 3, 4)), "3456");
  EXPECT_EQ(Text(store_->GetRange("s", 9, 1)), "9");
  EXPECT_EQ(Text(store_->GetRange("s", 5, 0)), "");
  EXPECT_EQ(store_->GetRange("s", 5, 6).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("s", 10, 1).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("s", 11, 0).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("s", UINT64_MAX - 1, 5).status().code(), ErrorCode::kCorrupt);
}

TEST_F(AzureBlobStoreTest, PutFromUploadsBlocksInParallelAndGetToReadsRanges) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 64 * 1024;
  config.block_size = 50 * 1000;  // 1.2 MB: 25 blocks, 4 in flight, the last one short
  config.parallel_blocks = 4;
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  Bytes data = PatternBytes(1'234'567, 11);
  testing::PieceSource source(data, 7777);
  Status st = store->PutFrom("big/streamed", source);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto info = store->Stat("big/streamed");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, data.size());
  EXPECT_TRUE(*store->Get("big/streamed") == data);

  // Ranged reads in block_size pieces, handed on in pieces of at most
  // kStreamPieceBytes.
  auto get = [&](uint64_t offset, uint64_t length) {
    testing::PieceSink sink;
    Status st = store->GetTo("big/streamed", offset, length, sink);
    EXPECT_TRUE(st.ok()) << offset << "+" << length << ": " << st.ToString();
    EXPECT_LE(sink.largest(), config.block_size);
    return sink.bytes();
  };
  EXPECT_TRUE(get(0, kToEnd) == data);
  EXPECT_TRUE(get(49'990, 20) == testing::Slice(data, 49'990, 20));
  EXPECT_TRUE(get(1000, 300'001) == testing::Slice(data, 1000, 300'001));
  EXPECT_TRUE(get(data.size() - 5, kToEnd) == testing::Slice(data, data.size() - 5, 5));
  EXPECT_TRUE(get(data.size(), kToEnd).empty());
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint64_t>>{
           {data.size() - 5, 6}, {data.size() + 1, kToEnd}, {0, data.size() + 1}}) {
    testing::PieceSink sink;
    EXPECT_EQ(store->GetTo("big/streamed", offset, length, sink).code(), ErrorCode::kCorrupt)
        << offset << "+" << length;
    EXPECT_EQ(sink.pieces(), 0) << "nothing before the range is known to exist";
  }
  testing::PieceSink sink;
  EXPECT_EQ(store->GetTo("none", 0, kToEnd, sink).code(), ErrorCode::kNotFound);
  EXPECT_EQ(store->Stat("none").status().code(), ErrorCode::kNotFound);

  // Small: one Put Blob.
  testing::PieceSource small(AsBytes("tiny object"), 3);
  ASSERT_TRUE(store->PutFrom("small", small).ok());
  EXPECT_EQ(Text(store->Get("small")), "tiny object");
  EXPECT_EQ(store->Stat("small")->size, 11u);
}

// Streams every `data[i]` to `prefix` + i, all from threads of their own at
// once (sources handing out `piece` bytes a read), then reads each back.
void PutAtOnceAndReadBack(BlobStore& store, const std::string& prefix,
                          const std::vector<Bytes>& data, size_t piece) {
  std::vector<Status> results(data.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < data.size(); ++i) {
    threads.emplace_back([&, i] {
      testing::PieceSource source(data[i], piece);
      results[i] = store.PutFrom(prefix + std::to_string(i), source);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < data.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << prefix << i << ": " << results[i].ToString();
    EXPECT_TRUE(*store.Get(prefix + std::to_string(i)) == data[i]) << prefix << i;
  }
}

TEST_F(AzureBlobStoreTest, ConcurrentPutFromShareTheBufferBudget) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 10'000;
  config.block_size = 10'000;
  config.upload_buffer_bytes = 20'000;  // two blocks read ahead for the whole store
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  std::vector<Bytes> data;
  for (uint32_t i = 0; i < 4; ++i) data.push_back(PatternBytes(95'000 + i, 20 + i));
  PutAtOnceAndReadBack(*store, "budget/", data, 3000);
}

// Block buffers (and the HTTP client's copies of block bodies) are reused
// from one upload to the next: every object holds its own bytes only, the
// short last blocks and the one-block uploads included, one after another
// and at once.
TEST_F(AzureBlobStoreTest, ReusedBlockBuffersCarryNoBytesOver) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 8'000;
  config.block_size = 10'000;
  config.parallel_blocks = 3;
  config.upload_buffer_bytes = 40'000;
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  // Large, small, one-block, large again, each from other bytes.
  const size_t sizes[] = {95'001, 12'345, 7'999, 10'000, 3, 61'234, 20'000};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    Bytes data = PatternBytes(sizes[i], static_cast<uint32_t>(40 + i));
    testing::PieceSource source(data, 4096);
    std::string key = "reuse/" + std::to_string(i);
    ASSERT_TRUE(store->PutNewFrom(key, source).ok()) << key;
    EXPECT_TRUE(*store->Get(key) == data) << key;
  }
  std::vector<Bytes> data;
  for (uint32_t i = 0; i < 3; ++i) data.push_back(PatternBytes(33'333 - 5'000 * i, 60 + i));
  PutAtOnceAndReadBack(*store, "reuse/at-once-", data, 1000);
}

TEST_F(AzureBlobStoreTest, FailedPutFromCommitsNothing) {
  AzureBlobConfig config = Config();
  config.create_container = false;
  config.single_put_limit = 10'000;
  config.block_size = 10'000;
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("obj", AsBytes("the old object")).ok());
  Bytes data = PatternBytes(200'000, 5);
  testing::PieceSource source(data, 4096, 150'000);  // breaks off after 150 kB
  Status st = store->PutFrom("obj", source);
  EXPECT_EQ(st.code(), ErrorCode::kIo) << st.ToString();
  EXPECT_EQ(Text(store->Get("obj")), "the old object");
  testing::PieceSource fresh(data, 4096, 50'000);
  EXPECT_FALSE(store->PutFrom("fresh", fresh).ok());
  EXPECT_EQ(store->Stat("fresh").status().code(), ErrorCode::kNotFound);
}

TEST_F(AzureBlobStoreTest, ConcurrentUseFromThreads) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        std::string key = "t" + std::to_string(t) + "/" + std::to_string(i);
        Bytes value = PatternBytes(1000 + i, t * 100 + i);
        if (!store_->Put(key, value).ok()) ++failures;
        auto got = store_->Get(key);
        if (!got.ok() || *got != value) ++failures;
        auto exists = store_->Exists(key);
        if (!exists.ok() || !*exists) ++failures;
        if (i % 3 == 0 && !store_->Delete(key).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(List(*store_, "").size(), 60u);
}

TEST_F(AzureBlobStoreTest, OpenCreatesContainerOnlyOnce) {
  // The container exists already (SetUp created it): 409 is fine.
  auto again = Open(Config());
  ASSERT_NE(again, nullptr);
  // Without create_container, a missing container is an error on use.
  AzureBlobConfig config = Config();
  config.container = UniqueContainer();
  config.create_container = false;
  auto missing = Open(config);
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->Put("k", AsBytes("v")).code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing->List("").status().code(), ErrorCode::kNotFound);
}

TEST_F(AzureBlobStoreTest, WrongAccountKeyFailsFastWithoutRetries) {
  AzureBlobConfig config = Config();
  // A valid base64 key of the right length, but not the account's.
  config.account_key = Base64Encode(crypto::RandomBytes(64));
  config.max_attempts = 6;
  config.base_delay_ms = 1000;  // a retry would take seconds
  auto start = Clock::now();
  auto opened = OpenAzureBlobStore(config);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kIo) << opened.status().ToString();
  EXPECT_NE(opened.status().detail().find("authentication failed"), std::string::npos)
      << opened.status().ToString();
  EXPECT_LT(SecondsSince(start), 3.0);

  config.create_container = false;
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  start = Clock::now();
  Status put = store->Put("k", AsBytes("v"));
  EXPECT_EQ(put.code(), ErrorCode::kIo) << put.ToString();
  EXPECT_NE(put.detail().find("authentication failed"), std::string::npos) << put.ToString();
  EXPECT_EQ(store->Get("k").status().code(), ErrorCode::kIo);
  EXPECT_EQ(store->List("").status().code(), ErrorCode::kIo);
  EXPECT_LT(SecondsSince(start), 3.0);

  config.account_key = "not base64!";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
}

// An account SAS per "Create an account SAS" (signed version 2021-08-06).
std::string AccountSas(const std::string& account_key, const std::string& permissions) {
  const std::string version = "2021-08-06";
  const std::string expiry = "2099-01-01T00:00:00Z";
  std::string to_sign = std::string(kAccount) + "\n" + permissions + "\nb\nsco\n\n" + expiry +
                        "\n\n\n" + version + "\n\n";
  auto key = Base64Decode(account_key);
  EXPECT_TRUE(key.ok());
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()),
       reinterpret_cast<const uint8_t*>(to_sign.data()), to_sign.size(), mac, &mac_len);
  std::string sig;
  for (char c : Base64Encode(ByteView(mac, mac_len))) {
    if (c == '+') {
      sig += "%2B";
    } else if (c == '/') {
      sig += "%2F";
    } else if (c == '=') {
      sig += "%3D";
    } else {
      sig += c;
    }
  }
  return "sv=" + version + "&ss=b&srt=sco&sp=" + permissions + "&se=" + expiry + "&sig=" + sig;
}

TEST_F(AzureBlobStoreTest, AccountSasToken) {
  AzureBlobConfig config = Config();
  config.account_key.clear();
  config.container = UniqueContainer();
  config.sas_token = "?" + AccountSas(kAccountKey, "rwdlac");  // a leading '?' is tolerated
  auto store = Open(config);  // creates the container through the SAS
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put("a/b", AsBytes("sas")).ok());
  EXPECT_EQ(Text(store->Get("a/b")), "sas");
  EXPECT_EQ(Text(store->GetRange("a/b", 1, 2)), "as");
  EXPECT_EQ(List(*store, "a/"), std::vector<std::string>{"a/b"});
  auto exists = store->Exists("a/b");
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_TRUE(*exists);
  EXPECT_TRUE(store->Delete("a/b").ok());
  // Large objects through blocks with the SAS too.
  Bytes big = PatternBytes(10u << 20, 9);
  ASSERT_TRUE(store->Put("big", big).ok());
  auto got = store->Get("big");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == big);

  // A SAS signed with another key: authentication fails, not retried.
  config.sas_token = AccountSas(Base64Encode(crypto::RandomBytes(64)), "rwdlac");
  config.create_container = false;
  auto bad = Open(config);
  ASSERT_NE(bad, nullptr);
  Status put = bad->Put("x", AsBytes("y"));
  EXPECT_EQ(put.code(), ErrorCode::kIo) << put.ToString();
  EXPECT_NE(put.detail().find("authentication failed"), std::string::npos) << put.ToString();

  // A read-only SAS cannot write.
  config.sas_token = AccountSas(kAccountKey, "rl");
  auto read_only = Open(config);
  ASSERT_NE(read_only, nullptr);
  EXPECT_EQ(Text(read_only->Get("big")).size(), big.size());
  EXPECT_EQ(read_only->Put("x", AsBytes("y")).code(), ErrorCode::kIo);
}

TEST_F(AzureBlobStoreTest, ConfigValidation) {
  AzureBlobConfig config = Config();
  config.endpoint = "";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
  config = Config();
  config.endpoint = "ftp://127.0.0.1/x";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
  config = Config();
  config.container = "";
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
  config = Config();
  config.account_key.clear();
  config.sas_token.clear();
  EXPECT_EQ(OpenAzureBlobStore(config).status().code(), ErrorCode::kInvalidArgument);
  config = Config();
  config.endpoint += "/";  // a trailing slash is tolerated
  auto store = Open(config);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Put("k", AsBytes("v")).ok());
  EXPECT_EQ(Text(store_->Get("k")), "v");
}

// ---------------------------------------------------------------------------
// Outages: an Azurite of its own, stopped and restarted.

TEST(AzureOutageTest, PutDuringOutageFailsThenRecovers) {
  Azurite azurite;
  std::string error = azurite.Start();
  ASSERT_TRUE(error.empty()) << error;
  AzureBlobConfig config = MakeConfig(azurite.endpoint(), UniqueContainer());
  config.max_attempts = 3;
  config.base_delay_ms = 20;
  auto opened = OpenAzureBlobStore(config);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<BlobStore> store = std::move(opened).value();
  ASSERT_TRUE(store->Put("before", AsBytes("1")).ok());

  azurite.Stop();
  auto start = Clock::now();
  Status put = store->Put("during", AsBytes("2"));
  double seconds = SecondsSince(start);
  EXPECT_EQ(put.code(), ErrorCode::kServiceUnreachable) << put.ToString();
  EXPECT_NE(put.detail().find("after 3 attempts"), std::string::npos) << put.ToString();
  EXPECT_NE(put.ToString().find("100050"), std::string::npos) << put.ToString();
  EXPECT_LT(seconds, 5.0);
  EXPECT_EQ(store->Get("before").status().code(), ErrorCode::kServiceUnreachable);

  error = azurite.Restart();
  ASSERT_TRUE(error.empty()) << error;
  Status again = store->Put("during", AsBytes("2"));
  EXPECT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(Text(store->Get("before")), "1");
  EXPECT_EQ(Text(store->Get("during")), "2");
}

TEST(AzureOutageTest, NothingListening) {
  AzureBlobConfig config =
      MakeConfig("http://127.0.0.1:" + std::to_string(FreePort()) + "/devstoreaccount1", "c1");
  config.max_attempts = 3;
  config.base_delay_ms = 1;
  auto start = Clock::now();
  auto opened = OpenAzureBlobStore(config);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kServiceUnreachable) << opened.status().ToString();
  EXPECT_NE(opened.status().detail().find("after 3 attempts"), std::string::npos);
  EXPECT_LT(SecondsSince(start), 5.0);

  config.create_container = false;
  auto store = OpenAzureBlobStore(config);
  ASSERT_TRUE(store.ok());
  start = Clock::now();
  EXPECT_EQ((*store)->Put("k", AsBytes("v")).code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ((*store)->List("").status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_EQ((*store)->Exists("k").status().code(), ErrorCode::kServiceUnreachable);
  EXPECT_LT(SecondsSince(start), 5.0);
}

// ---------------------------------------------------------------------------
// The retry policy against a scripted HTTP server.

class AzureFakeServerTest : public ::testing::Test {
 protected:
  using Handler = std::function<web::http::http_response(int request_number,
                                                         const web::http::http_request& request)>;

  void TearDown() override {
    if (listener_) listener_->close().wait();
  }

  // Serves requests with `handler`; returns the endpoint.
  std::string Serve(Handler handler) {
    handler_ = std::move(handler);
    for (int attempt = 0; attempt < 5; ++attempt) {
      int port = FreePort();
      std::string base = "http://127.0.0.1:" + std::to_string(port);
      listener_ = std::make_unique<web::http::experimental::listener::http_listener>(base);
      listener_->support([this](web::http::http_request request) {
        request.extract_vector().wait();  // drain the body
        int n;
        {
          std::lock_guard<std::mutex> lock(mu_);
          n = requests_++;
          times_.push_back(Clock::now());
        }
        try {
          request.reply(handler_(n, request)).wait();
        } catch (const std::exception&) {
          // The client gave up (timeout tests).
        }
      });
      try {
        listener_->open().wait();
        return base + "/devstoreaccount1";
      } catch (const std::exception&) {
        listener_.reset();
      }
    }
    ADD_FAILURE() << "could not open a listener";
    return "";
  }

  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  std::unique_ptr<BlobStore> Open(const std::string& endpoint) {
    AzureBlobConfig config = MakeConfig(endpoint, "c1");
    config.create_container = false;
    config.max_attempts = 3;
    config.base_delay_ms = 1;
    auto store = OpenAzureBlobStore(config);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  Handler handler_;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener_;
  std::mutex mu_;
  int requests_ = 0;
  std::vector<Clock::time_point> times_;
};

TEST_F(AzureFakeServerTest, RetryAfterIsHonoured) {
  std::string endpoint = Serve([](int n, const web::http::http_request&) {
    web::http::http_response response(n < 2 ? 503 : 201);
    if (n < 2) response.headers().add("Retry-After", "1");
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  auto start = Clock::now();
  Status put = store->Put("k", AsBytes("v"));
  double seconds = SecondsSince(start);
  EXPECT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(requests(), 3);
  // base_delay_ms=1 alone would retry within milliseconds.
  EXPECT_GE(seconds, 1.9);
  EXPECT_LT(seconds, 5.0);
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(times_.size(), 3u);
  EXPECT_GE(times_[1] - times_[0], std::chrono::milliseconds(950));
  EXPECT_GE(times_[2] - times_[1], std::chrono::milliseconds(950));
}

TEST_F(AzureFakeServerTest, TooManyRequestsIsRetried) {
  std::string endpoint = Serve([](int n, const web::http::http_request&) {
    web::http::http_response response(n == 0 ? 429 : 200);
    if (n == 0) response.headers().add("Retry-After", "0");
    if (n > 0) response.set_body(Body("payload"));
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Text(store->Get("k")), "payload");
  EXPECT_EQ(requests(), 2);
}

TEST_F(AzureFakeServerTest, ServerErrorsExhaustTheAttempts) {
  std::string endpoint = Serve([](int, const web::http::http_request&) {
    web::http::http_response response(500);
    response.headers().add("x-ms-error-code", "InternalError");
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  auto start = Clock::now();
  Status put = store->Put("k", AsBytes("v"));
  EXPECT_EQ(put.code(), ErrorCode::kServiceUnreachable) << put.ToString();
  EXPECT_NE(put.detail().find("after 3 attempts"), std::string::npos) << put.ToString();
  EXPECT_NE(put.detail().find("HTTP 500 InternalError"), std::string::npos) << put.ToString();
  EXPECT_EQ(requests(), 3);
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST_F(AzureFakeServerTest, TransientErrorThenSuccess) {
  std::string endpoint = Serve([](int n, const web::http::http_request&) {
    return web::http::http_response(n == 0 ? 408 : 201);
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->Put("k", AsBytes("v")).ok());
  EXPECT_EQ(requests(), 2);
}

TEST_F(AzureFakeServerTest, ClientErrorsAreNotRetried) {
  std::string endpoint = Serve([](int n, const web::http::http_request&) {
    web::http::http_response response(n == 0 ? 403 : 400);
    response.headers().add("x-ms-error-code", n == 0 ? "AuthenticationFailed" : "InvalidInput");
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  Status put = store->Put("k", AsBytes("v"));
  EXPECT_EQ(put.code(), ErrorCode::kIo) << put.ToString();
  EXPECT_NE(put.detail().find("authentication failed"), std::string::npos) << put.ToString();
  EXPECT_EQ(requests(), 1);
  Status second = store->Put("k", AsBytes("v"));
  EXPECT_EQ(second.code(), ErrorCode::kIo) << second.ToString();
  EXPECT_EQ(requests(), 2);
}

TEST_F(AzureFakeServerTest, ShortRangeIsCorrupt) {
  // A range answer with fewer bytes than asked for means the object is short.
  std::string endpoint = Serve([](int, const web::http::http_request&) {
    web::http::http_response response(206);
    response.headers().add("Content-Range", "bytes 5-9/10");
    response.set_body(Body("56789"));
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  auto r = store->GetRange("k", 5, 10);
  EXPECT_EQ(r.status().code(), ErrorCode::kCorrupt) << r.status().ToString();
  EXPECT_NE(r.status().detail().find("10 bytes"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(requests(), 1);
}

TEST_F(AzureFakeServerTest, TimeoutIsRetried) {
  std::string endpoint = Serve([](int n, const web::http::http_request&) {
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1600));
    return web::http::http_response(201);
  });
  AzureBlobConfig config = MakeConfig(endpoint, "c1");
  config.create_container = false;
  config.max_attempts = 2;
  config.base_delay_ms = 1;
  config.timeout_seconds = 1;
  auto store = OpenAzureBlobStore(config);
  ASSERT_TRUE(store.ok());
  auto start = Clock::now();
  Status put = (*store)->Put("k", AsBytes("v"));
  EXPECT_TRUE(put.ok()) << put.ToString();
  EXPECT_EQ(requests(), 2);
  EXPECT_LT(SecondsSince(start), 2.4);
}

TEST_F(AzureFakeServerTest, ListPagesWithBomEntitiesAndMarkers) {
  // Azure starts its XML with a byte order mark and escapes names.
  std::string endpoint = Serve([](int, const web::http::http_request& request) {
    auto query = web::uri::split_query(request.request_uri().query());
    std::string marker = query.count("marker") ? web::uri::decode(query["marker"]) : "";
    std::string body =
        "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"utf-8\"?>"
        "<EnumerationResults ServiceEndpoint=\"http://x/\" ContainerName=\"c1\">"
        "<Prefix>p/</Prefix><MaxResults>1000</MaxResults><Blobs>";
    if (marker.empty()) {
      body +=
          "<Blob><Name>p/b&amp;c</Name><Properties><Content-Length>1</Content-Length>"
          "</Properties></Blob><Blob><Name>p/a</Name><Properties/></Blob></Blobs>"
          "<NextMarker>2!next&lt;</NextMarker>";
    } else if (marker == "2!next<") {
      body += "<Blob><Name>p/z</Name></Blob></Blobs><NextMarker />";
    } else {
      body += "</Blobs><NextMarker/>";  // an unexpected marker: nothing
    }
    body += "</EnumerationResults>";
    web::http::http_response response(200);
    response.set_body(Body(body));
    return response;
  });
  AzureBlobConfig config = MakeConfig(endpoint, "c1");
  config.create_container = false;
  config.prefix = "p/";
  auto store = OpenAzureBlobStore(config);
  ASSERT_TRUE(store.ok());
  auto keys = (*store)->List("");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{"a", "b&c", "z"}));
  EXPECT_EQ(requests(), 2);
}

TEST_F(AzureFakeServerTest, GarbledListAnswerIsAnError) {
  std::string endpoint = Serve([](int, const web::http::http_request&) {
    web::http::http_response response(200);
    response.set_body(Body("<EnumerationResults><Blobs><Blob>"));
    return response;
  });
  auto store = Open(endpoint);
  ASSERT_NE(store, nullptr);
  auto keys = store->List("");
  EXPECT_EQ(keys.status().code(), ErrorCode::kIo) << keys.status().ToString();
}

// ---------------------------------------------------------------------------
// The prefixed view, over a local folder.

class PrefixedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("obagent-prefixed");
    ASSERT_FALSE(dir_.empty());
    fs::create_directories(dir_ + "/vault");
    auto base = OpenLocalDirStore(dir_ + "/vault");
    ASSERT_TRUE(base.ok()) << base.status().ToString();
    base_ = std::move(base).value();
    view_ = NewPrefixedStore(*base_, "machines/m1/");
  }
  void TearDown() override {
    view_.reset();
    base_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string dir_;
  std::unique_ptr<BlobStore> base_;
  std::unique_ptr<BlobStore> view_;
};

TEST_F(PrefixedStoreTest, KeysArePrefixed) {
  ASSERT_TRUE(view_->Put("data/ab/1", AsBytes("one")).ok());
  EXPECT_EQ(Text(base_->Get("machines/m1/data/ab/1")), "one");
  EXPECT_EQ(Text(view_->Get("data/ab/1")), "one");
  EXPECT_EQ(Text(view_->GetRange("data/ab/1", 1, 2)), "ne");
  EXPECT_EQ(view_->GetRange("data/ab/1", 1, 5).status().code(), ErrorCode::kCorrupt);
  auto exists = view_->Exists("data/ab/1");
  ASSERT_TRUE(exists.ok());
  EXPECT_TRUE(*exists);
  ASSERT_TRUE(base_->Put("data/ab/1", AsBytes("outside")).ok());
  EXPECT_EQ(Text(view_->Get("data/ab/1")), "one");
  ASSERT_TRUE(view_->Delete("data/ab/1").ok());
  EXPECT_EQ(view_->Get("data/ab/1").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Text(base_->Get("data/ab/1")), "outside");
  EXPECT_TRUE(view_->Delete("data/ab/1").ok());
}

TEST_F(PrefixedStoreTest, ListStripsThePrefix) {
  ASSERT_TRUE(view_->Put("data/b", AsBytes("b")).ok());
  ASSERT_TRUE(view_->Put("data/a", AsBytes("a")).ok());
  ASSERT_TRUE(view_->Put("index/1", AsBytes("i")).ok());
  ASSERT_TRUE(base_->Put("machines/m2/data/c", AsBytes("c")).ok());
  ASSERT_TRUE(base_->Put("top", AsBytes("t")).ok());
  auto all = view_->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(*all, (std::vector<std::string>{"data/a", "data/b", "index/1"}));
  auto data = view_->List("data/");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, (std::vector<std::string>{"data/a", "data/b"}));
  auto none = view_->List("zzz");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(PrefixedStoreTest, InvalidKeysAreRefusedBeforePrefixing) {
  // "../m2/x" would be a valid key once prefixed... if ".." were resolved;
  // "" would name the prefix folder itself.
  for (const char* key : {"", "/abs", "../m2/x", "a//b", "./a", "a/"}) {
    EXPECT_EQ(view_->Put(key, AsBytes("x")).code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(view_->Get(key).status().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(view_->GetRange(key, 0, 1).status().code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(view_->Delete(key).code(), ErrorCode::kInvalidArgument) << key;
    EXPECT_EQ(view_->Exists(key).status().code(), ErrorCode::kInvalidArgument) << key;
  }
  auto keys = base_->List("");
  ASSERT_TRUE(keys.ok());
  EXPECT_TRUE(keys->empty());
}

TEST_F(PrefixedStoreTest, DescribeNamesBaseAndPrefix) {
  EXPECT_EQ(view_->Describe(), base_->Describe() + " (machines/m1/)");
}

}  // namespace
}  // namespace obagent::storage
