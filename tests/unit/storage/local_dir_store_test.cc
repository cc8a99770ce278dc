#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/storage/blob_store.h"
#include "storage/stream_test_util.h"

namespace obagent::storage {
namespace {

namespace fs = std::filesystem;

class LocalDirStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A fresh folder per test (std::filesystem: the test runs on both OSes).
    std::random_device random;
    dir_ = (fs::temp_directory_path() /
            ("obagent-store-" + std::to_string(random()) + "-" + std::to_string(random())))
               .generic_string();
    ASSERT_TRUE(fs::create_directory(dir_)) << dir_;
    root_ = dir_ + "/vault";
    fs::create_directories(root_);
    auto store = OpenLocalDirStore(root_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static Bytes B(const std::string& s) { return Bytes(s.begin(), s.end()); }
  Status Put(const std::string& key, const std::string& value) {
    return store_->Put(key, AsBytes(value));
  }
  std::vector<std::string> List(const std::string& prefix) {
    auto keys = store_->List(prefix);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }
  // Files under the root, whatever their names.
  std::vector<std::string> FilesOnDisk() {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root_).generic_string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
  std::string root_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(LocalDirStoreTest, PutGetExistsDelete) {
  EXPECT_EQ(store_->Describe(), root_);
  EXPECT_FALSE(*store_->Exists("data/ab/ab12"));
  auto missing = store_->Get("data/ab/ab12");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(Put("data/ab/ab12", "pack bytes").ok());
  EXPECT_TRUE(*store_->Exists("data/ab/ab12"));
  auto got = store_->Get("data/ab/ab12");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, B("pack bytes"));
  // A folder is not an object.
  EXPECT_FALSE(*store_->Exists("data/ab"));

  ASSERT_TRUE(Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), Bytes{});

  ASSERT_TRUE(store_->Delete("data/ab/ab12").ok());
  EXPECT_FALSE(*store_->Exists("data/ab/ab12"));
  EXPECT_EQ(store_->Get("data/ab/ab12").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_->Delete("data/ab/ab12").ok());  // missing: not an error
  EXPECT_TRUE(store_->Delete("never/was").ok());
}

TEST_F(LocalDirStoreTest, GetRangeIntoReadsIntoAReusedBuffer) {
  ASSERT_TRUE(Put("data/pk", "0123456789abcdef").ok());
  Bytes buffer;
  Result<ByteView> a = store_->GetRangeInto("data/pk", 2, 10, buffer);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Bytes(a->begin(), a->end()), B("23456789ab"));
  Result<ByteView> b = store_->GetRangeInto("data/pk", 12, 3, buffer);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Bytes(b->begin(), b->end()), B("cde"));
  EXPECT_EQ(b->data(), buffer.data());
  EXPECT_GE(buffer.size(), 10u);
  EXPECT_EQ(store_->GetRangeInto("data/pk", 10, 7, buffer).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRangeInto("data/none", 0, 1, buffer).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->GetRangeInto("../escape", 0, 1, buffer).status().code(),
            store_->GetRange("../escape", 0, 1).status().code());
}

TEST_F(LocalDirStoreTest, PutStagedMovesTheStagedFileIntoPlace) {
  // A staged file on the vault's volume becomes the object (its folder is
  // created on demand) instead of being written again.
  const std::string staged = dir_ + "/staged-pack";
  std::ofstream(staged, std::ios::binary) << "pack bytes";
  ASSERT_TRUE(store_->PutStaged("data/ab/abcd", staged, AsBytes(std::string("pack bytes"))).ok());
  EXPECT_FALSE(fs::exists(staged));
  auto got = store_->Get("data/ab/abcd");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, B("pack bytes"));
  EXPECT_EQ(FilesOnDisk(), std::vector<std::string>{"data/ab/abcd"});
  // Invalid keys are refused before anything moves.
  std::ofstream(staged, std::ios::binary) << "x";
  EXPECT_EQ(store_->PutStaged("../x", staged, AsBytes(std::string("x"))).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(staged));
}

TEST_F(LocalDirStoreTest, OverwriteReplacesWholeObject) {
  ASSERT_TRUE(Put("snapshots/s1", "a much longer first version").ok());
  ASSERT_TRUE(Put("snapshots/s1", "short").ok());
  EXPECT_EQ(*store_->Get("snapshots/s1"), B("short"));
  EXPECT_EQ(FilesOnDisk(), (std::vector<std::string>{"snapshots/s1"}));
}

// Write-once: a create-only put of an existing key changes nothing and
// leaves no temporary file; of writers racing for one key exactly one wins.
TEST_F(LocalDirStoreTest, PutNewCreatesOnlyWhenTheKeyIsFree) {
  ASSERT_TRUE(store_->PutNew("data/ab/p1", AsBytes(std::string("first"))).ok());
  Status again = store_->PutNew("data/ab/p1", AsBytes(std::string("second, longer")));
  EXPECT_EQ(again.code(), ErrorCode::kAlreadyExists) << again.ToString();
  EXPECT_EQ(*store_->Get("data/ab/p1"), B("first"));
  EXPECT_EQ(FilesOnDisk(), (std::vector<std::string>{"data/ab/p1"}));

  constexpr int kWriters = 8;
  std::atomic<int> created{0}, refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      Status st = store_->PutNew("data/cd/p2", AsBytes("writer " + std::to_string(i)));
      if (st.ok()) ++created;
      if (st.code() == ErrorCode::kAlreadyExists) ++refused;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(refused.load(), kWriters - 1);
  std::string stored(AsString(*store_->Get("data/cd/p2")));
  EXPECT_TRUE(stored.starts_with("writer ")) << stored;
  EXPECT_EQ(FilesOnDisk(), (std::vector<std::string>{"data/ab/p1", "data/cd/p2"}));
}

TEST_F(LocalDirStoreTest, ListWithPrefixes) {
  for (const char* key : {"data/cd/cd1", "data/ab/ab2", "data/ab/ab1", "index/i1", "snapshots/s1",
                          "dataX", "data-y/z", "keys/k"}) {
    ASSERT_TRUE(Put(key, key).ok()) << key;
  }
  EXPECT_EQ(List(""),
            (std::vector<std::string>{"data-y/z", "data/ab/ab1", "data/ab/ab2", "data/cd/cd1",
                                      "dataX", "index/i1", "keys/k", "snapshots/s1"}));
  EXPECT_EQ(List("data/"), (std::vector<std::string>{"data/ab/ab1", "data/ab/ab2", "data/cd/cd1"}));
  EXPECT_EQ(List("data/a"), (std::vector<std::string>{"data/ab/ab1", "data/ab/ab2"}));
  EXPECT_EQ(List("data/ab/ab1"), (std::vector<std::string>{"data/ab/ab1"}));
  EXPECT_EQ(List("da"), (std::vector<std::string>{"data-y/z", "data/ab/ab1", "data/ab/ab2",
                                                  "data/cd/cd1", "dataX"}));
  EXPECT_EQ(List("data"), List("da"));
  EXPECT_TRUE(List("nope/").empty());
  EXPECT_TRUE(List("data/zz/").empty());
  EXPECT_TRUE(List("dataX/").empty());  // an object, not a folder
  EXPECT_TRUE(List("../").empty());
  EXPECT_TRUE(List("a//").empty());
}

TEST_F(LocalDirStoreTest, GetRange) {
  ASSERT_TRUE(Put("data/p", "0123456789").ok());
  auto mid = store_->GetRange("data/p", 2, 5);
  ASSERT_TRUE(mid.ok()) << mid.status().ToString();
  EXPECT_EQ(*mid, B("23456"));
  EXPECT_EQ(*store_->GetRange("data/p", 0, 10), B("0123456789"));
  EXPECT_EQ(*store_->GetRange("data/p", 10, 0), Bytes{});

  auto past = store_->GetRange("data/p", 8, 3);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("data/p", 11, 0).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("data/p", 1, UINT64_MAX).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_->GetRange("data/missing", 0, 1).status().code(), ErrorCode::kNotFound);
}

TEST_F(LocalDirStoreTest, InvalidKeysAreRefused) {
  const std::vector<std::string> bad = {
      "",    "../x", "/abs", "a//b", "a/./b",  "a/../b",   "a/",
      ".",   "..",   "a/..", "./a",  ".tmp-x", "a/.tmp-b", std::string("a\0b", 3),
      "a\\b"};
  for (const std::string& key : bad) {
    SCOPED_TRACE("key: " + key);
    EXPECT_FALSE(IsValidKey(key));
    EXPECT_EQ(Put(key, "x").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Get(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->GetRange(key, 0, 1).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Exists(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_->Delete(key).code(), ErrorCode::kInvalidArgument);
  }
  for (const char* key : {"a", "data/ab/ab12", "machines/m1/keys/k", ".hidden", "a..b/c.d"}) {
    EXPECT_TRUE(IsValidKey(key)) << key;
  }
  EXPECT_TRUE(FilesOnDisk().empty());
  EXPECT_FALSE(fs::exists(dir_ + "/x"));
  EXPECT_FALSE(fs::exists("/abs"));
}

TEST_F(LocalDirStoreTest, LeftoverTempFilesAreNotObjects) {
  ASSERT_TRUE(Put("data/ab/ab1", "whole").ok());
  // What a writer that crashed before its rename leaves behind.
  std::ofstream(root_ + "/data/ab/.tmp-ab2-0123456789abcdef") << "partial";
  std::ofstream(root_ + "/.tmp-top-0123456789abcdef") << "partial";
  EXPECT_EQ(List(""), (std::vector<std::string>{"data/ab/ab1"}));
  EXPECT_EQ(List("data/ab/"), (std::vector<std::string>{"data/ab/ab1"}));
  EXPECT_EQ(List("data/ab/.tmp"), std::vector<std::string>{});
}

TEST_F(LocalDirStoreTest, ConcurrentPutsFromSeveralThreads) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Threads share folders, so they race to create them.
        std::string key =
            "data/" + std::to_string(i % 7) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        std::string value(100 + i, static_cast<char>('a' + t));
        EXPECT_TRUE(Put(key, value).ok()) << key;
        EXPECT_TRUE(Put("shared/same", value).ok());
      }
    });
  }
  for (auto& th : threads) th.join();

  auto keys = List("data/");
  EXPECT_EQ(keys.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string key =
          "data/" + std::to_string(i % 7) + "/t" + std::to_string(t) + "-" + std::to_string(i);
      auto got = store_->Get(key);
      ASSERT_TRUE(got.ok()) << key;
      EXPECT_EQ(*got, B(std::string(100 + i, static_cast<char>('a' + t))));
    }
  }
  // The contended key holds exactly one writer's whole value.
  auto same = store_->Get("shared/same");
  ASSERT_TRUE(same.ok());
  ASSERT_GE(same->size(), 100u);
  EXPECT_EQ(*same, Bytes(same->size(), same->front()));
  // No temporary file survives.
  EXPECT_EQ(FilesOnDisk().size(), static_cast<size_t>(kThreads * kPerThread + 1));
}

TEST_F(LocalDirStoreTest, ReadersNeverSeeAPartialObject) {
  const std::string small(10, 's');
  const std::string large(200000, 'L');
  ASSERT_TRUE(Put("k", small).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 60; ++i) EXPECT_TRUE(Put("k", i % 2 ? small : large).ok());
    done = true;
  });
  int reads = 0;
  while (!done || reads == 0) {
    auto got = store_->Get("k");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == B(small) || *got == B(large)) << "partial read of " << got->size();
    auto keys = List("");
    EXPECT_EQ(keys, (std::vector<std::string>{"k"}));
    ++reads;
  }
  writer.join();
}

TEST_F(LocalDirStoreTest, OpenNeedsAnExistingFolder) {
  std::ofstream(dir_ + "/plain") << "x";
  EXPECT_FALSE(OpenLocalDirStore(dir_ + "/plain").ok());
  EXPECT_FALSE(OpenLocalDirStore("").ok());
  // A missing folder (an unmounted vault volume) is not created.
  EXPECT_FALSE(OpenLocalDirStore(dir_ + "/new/vault").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/new"));
  fs::create_directories(dir_ + "/new/vault");
  auto nested = OpenLocalDirStore(dir_ + "/new/vault/");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ((*nested)->Describe(), dir_ + "/new/vault");
  EXPECT_TRUE(fs::is_directory(dir_ + "/new/vault"));
  // Two stores on the same folder see each other's objects.
  ASSERT_TRUE((*nested)->Put("a/b", AsBytes("v")).ok());
  auto again = OpenLocalDirStore(dir_ + "/new/vault");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Get("a/b"), B("v"));
}

// ----- streaming: Stat, PutFrom, GetTo

namespace streaming {

using testing::ExpectGetToReadsRanges;
using testing::PieceSink;
using testing::PieceSource;
using testing::Slice;

Bytes Pattern(size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>((i * 131) ^ (i >> 11));
  return out;
}

TEST_F(LocalDirStoreTest, PutFromStreamsInPiecesAndStatSizes) {
  Bytes data = Pattern((3u << 20) + 12345);  // several pieces, the last one short
  PieceSource source(data, 100000);
  Status st = store_->PutFrom("data/ab/pack", source);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(source.reads(), 30);  // pulled piece by piece
  auto got = store_->Get("data/ab/pack");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(*got == data);
  auto info = store_->Stat("data/ab/pack");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->size, data.size());
  EXPECT_EQ(store_->Stat("data/ab/none").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->Stat("data").status().code(), ErrorCode::kNotFound);  // a folder
  EXPECT_EQ(store_->Stat("../x").status().code(), ErrorCode::kInvalidArgument);

  PieceSource empty(Bytes(), 10);
  ASSERT_TRUE(store_->PutFrom("empty", empty).ok());
  EXPECT_EQ(store_->Stat("empty")->size, 0u);
}

TEST_F(LocalDirStoreTest, FailedPutFromLeavesTheOldObjectAndNoTempFile) {
  ASSERT_TRUE(Put("keys/k", "old contents").ok());
  Bytes data = Pattern(5u << 20);
  PieceSource source(data, 1u << 20, 3u << 20);  // breaks off after 3 MiB
  Status st = store_->PutFrom("keys/k", source);
  EXPECT_EQ(st.code(), ErrorCode::kIo) << st.ToString();
  EXPECT_EQ(AsString(*store_->Get("keys/k")), "old contents");
  EXPECT_EQ(FilesOnDisk(), std::vector<std::string>({"keys/k"}));
  // Into a folder that does not exist yet: nothing appears either.
  PieceSource again(data, 1u << 20, 1u << 20);
  EXPECT_FALSE(store_->PutFrom("new/folder/obj", again).ok());
  EXPECT_FALSE(*store_->Exists("new/folder/obj"));
}

TEST_F(LocalDirStoreTest, GetToWritesRangesInBoundedPieces) {
  Bytes data = Pattern((5u << 20) + 7);
  ASSERT_TRUE(store_->Put("p", data).ok());
  ExpectGetToReadsRanges(*store_, "p", data);
}

TEST_F(LocalDirStoreTest, GetToStopsAtTheSinksError) {
  Bytes data = Pattern(4u << 20);
  ASSERT_TRUE(store_->Put("p", data).ok());
  class FailingSink final : public ByteSink {
   public:
    Status Write(ByteView) override {
      return ++writes == 2 ? IoError("the client went away") : Status::Ok();
    }
    int writes = 0;
  } sink;
  Status st = store_->GetTo("p", 0, kToEnd, sink);
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  EXPECT_EQ(sink.writes, 2);
}

TEST_F(LocalDirStoreTest, PrefixedStorePassesStreamsThrough) {
  auto view = NewPrefixedStore(*store_, "machines/m1/");
  Bytes data = Pattern(70000);
  PieceSource source(data, 999);
  ASSERT_TRUE(view->PutFrom("data/x", source).ok());
  EXPECT_EQ(FilesOnDisk(), std::vector<std::string>({"machines/m1/data/x"}));
  EXPECT_EQ(view->Stat("data/x")->size, data.size());
  PieceSink sink;
  ASSERT_TRUE(view->GetTo("data/x", 5, 10, sink).ok());
  EXPECT_TRUE(sink.bytes() == Slice(data, 5, 10));
  EXPECT_EQ(view->Stat("../m2/x").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace streaming

}  // namespace
}  // namespace obagent::storage
