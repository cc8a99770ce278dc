// MemoryStore keeps the BlobStore contract the disk and cloud stores keep:
// key validation, whole-object overwrites, sorted prefix listings, ranged
// and streamed reads with kNotFound/kCorrupt, atomic streamed writes, and
// whole objects for concurrent readers and writers.
#include "obagent/storage/memory_store.h"

#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/storage/blob_store.h"
#include "storage/stream_test_util.h"

namespace obagent::storage {
namespace {

using testing::ExpectGetToReadsRanges;
using testing::PieceSink;
using testing::PieceSource;
using testing::Slice;

Bytes B(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes Pattern(size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>((i * 131) ^ (i >> 11));
  return out;
}

class MemoryStoreTest : public ::testing::Test {
 protected:
  Status Put(const std::string& key, const std::string& value) {
    return store_.Put(key, AsBytes(value));
  }
  std::vector<std::string> List(const std::string& prefix) {
    auto keys = store_.List(prefix);
    EXPECT_TRUE(keys.ok()) << keys.status().ToString();
    return keys.ok() ? *keys : std::vector<std::string>{};
  }

  MemoryStore store_;
};

TEST_F(MemoryStoreTest, PutGetExistsDelete) {
  EXPECT_EQ(store_.Describe(), "memory");
  EXPECT_FALSE(*store_.Exists("data/ab/ab12"));
  EXPECT_EQ(store_.Get("data/ab/ab12").status().code(), ErrorCode::kNotFound);

  ASSERT_TRUE(Put("data/ab/ab12", "pack bytes").ok());
  EXPECT_TRUE(*store_.Exists("data/ab/ab12"));
  EXPECT_EQ(*store_.Get("data/ab/ab12"), B("pack bytes"));
  EXPECT_FALSE(*store_.Exists("data/ab"));  // a prefix is not an object

  ASSERT_TRUE(Put("empty", "").ok());
  EXPECT_EQ(*store_.Get("empty"), Bytes{});
  EXPECT_EQ(store_.ObjectCount(), 2u);
  EXPECT_EQ(store_.TotalBytes(), 10u);

  ASSERT_TRUE(store_.Delete("data/ab/ab12").ok());
  EXPECT_FALSE(*store_.Exists("data/ab/ab12"));
  EXPECT_EQ(store_.Get("data/ab/ab12").status().code(), ErrorCode::kNotFound);
  EXPECT_TRUE(store_.Delete("data/ab/ab12").ok());  // missing: not an error
  EXPECT_EQ(store_.ObjectCount(), 1u);
  EXPECT_EQ(store_.TotalBytes(), 0u);
}

TEST_F(MemoryStoreTest, OverwriteReplacesWholeObjectAndStagedPutsCopy) {
  ASSERT_TRUE(Put("snapshots/s1", "a much longer first version").ok());
  ASSERT_TRUE(Put("snapshots/s1", "short").ok());
  EXPECT_EQ(*store_.Get("snapshots/s1"), B("short"));
  EXPECT_EQ(List(""), std::vector<std::string>{"snapshots/s1"});
  // PutStaged has no volume to move a file on: it stores the bytes.
  ASSERT_TRUE(store_.PutStaged("data/ab/abcd", "/nonexistent/staged", AsBytes("pack")).ok());
  EXPECT_EQ(*store_.Get("data/ab/abcd"), B("pack"));
}

TEST_F(MemoryStoreTest, PutNewCreatesOnlyWhenTheKeyIsFree) {
  ASSERT_TRUE(store_.PutNew("data/p", AsBytes(std::string("first"))).ok());
  EXPECT_EQ(store_.PutNew("data/p", AsBytes(std::string("second"))).code(),
            ErrorCode::kAlreadyExists);
  auto got = store_.Get("data/p");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(AsString(*got), "first");
}

TEST_F(MemoryStoreTest, ListWithPrefixesIsSorted) {
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
  EXPECT_TRUE(List("nope/").empty());
  EXPECT_TRUE(List("dataX/").empty());  // an object, not a folder
  EXPECT_TRUE(List("../").empty());
  EXPECT_TRUE(List("zzz").empty());  // past every key
}

TEST_F(MemoryStoreTest, GetRange) {
  ASSERT_TRUE(Put("data/p", "0123456789").ok());
  EXPECT_EQ(*store_.GetRange("data/p", 2, 5), B("23456"));
  EXPECT_EQ(*store_.GetRange("data/p", 0, 10), B("0123456789"));
  EXPECT_EQ(*store_.GetRange("data/p", 10, 0), Bytes{});
  EXPECT_EQ(store_.GetRange("data/p", 8, 3).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_.GetRange("data/p", 11, 0).status().code(), ErrorCode::kCorrupt);
  // offset + length overflows: still refused, not wrapped around.
  EXPECT_EQ(store_.GetRange("data/p", 1, UINT64_MAX).status().code(), ErrorCode::kCorrupt);
  EXPECT_EQ(store_.GetRange("data/missing", 0, 1).status().code(), ErrorCode::kNotFound);
}

TEST_F(MemoryStoreTest, InvalidKeysAreRefused) {
  const std::vector<std::string> bad = {
      "",   "../x",   "/abs",     "a//b", "a/./b", "a/",  ".",
      "..", ".tmp-x", "a/.tmp-b", "a/..", "a\\b",  "./a", std::string("a\0b", 3)};
  for (const std::string& key : bad) {
    SCOPED_TRACE("key: " + key);
    EXPECT_EQ(Put(key, "x").code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_.Get(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_.GetRange(key, 0, 1).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_.Stat(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_.Exists(key).status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(store_.Delete(key).code(), ErrorCode::kInvalidArgument);
    PieceSource source(AsBytes("x"), 1);
    EXPECT_EQ(store_.PutFrom(key, source).code(), ErrorCode::kInvalidArgument);
    PieceSink sink;
    EXPECT_EQ(store_.GetTo(key, 0, kToEnd, sink).code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(store_.ObjectCount(), 0u);
}

TEST_F(MemoryStoreTest, PutFromStreamsInPiecesAndStatSizes) {
  Bytes data = Pattern((3u << 20) + 12345);
  PieceSource source(data, 100000);
  ASSERT_TRUE(store_.PutFrom("data/ab/pack", source).ok());
  EXPECT_GT(source.reads(), 30);
  EXPECT_TRUE(*store_.Get("data/ab/pack") == data);
  EXPECT_EQ(store_.Stat("data/ab/pack")->size, data.size());
  EXPECT_EQ(store_.Stat("data/ab/none").status().code(), ErrorCode::kNotFound);
  PieceSource empty(Bytes(), 10);
  ASSERT_TRUE(store_.PutFrom("empty", empty).ok());
  EXPECT_EQ(store_.Stat("empty")->size, 0u);
}

TEST_F(MemoryStoreTest, FailedPutFromLeavesTheOldObject) {
  ASSERT_TRUE(Put("keys/k", "old contents").ok());
  Bytes data = Pattern(5u << 20);
  PieceSource source(data, 1u << 20, 3u << 20);  // breaks off after 3 MiB
  EXPECT_EQ(store_.PutFrom("keys/k", source).code(), ErrorCode::kIo);
  EXPECT_EQ(AsString(*store_.Get("keys/k")), "old contents");
  PieceSource again(data, 1u << 20, 1u << 20);
  EXPECT_FALSE(store_.PutFrom("new/obj", again).ok());
  EXPECT_FALSE(*store_.Exists("new/obj"));
  EXPECT_EQ(store_.ObjectCount(), 1u);
}

TEST_F(MemoryStoreTest, GetToWritesRangesInBoundedPieces) {
  Bytes data = Pattern((5u << 20) + 7);
  ASSERT_TRUE(store_.Put("p", data).ok());
  ExpectGetToReadsRanges(store_, "p", data);
}

TEST_F(MemoryStoreTest, GetToStopsAtTheSinksErrorAndMayCallBack) {
  Bytes data = Pattern(4u << 20);
  ASSERT_TRUE(store_.Put("p", data).ok());
  // A sink that writes into the same store (a copy from one key to another)
  // and fails on its second piece: no deadlock, the error comes back.
  class CopyingSink final : public ByteSink {
   public:
    explicit CopyingSink(BlobStore& store) : store_(store) {}
    Status Write(ByteView piece) override {
      OB_RETURN_IF_ERROR(store_.Put("copy/" + std::to_string(writes), piece));
      return ++writes == 2 ? IoError("the client went away") : Status::Ok();
    }
    int writes = 0;

   private:
    BlobStore& store_;
  } sink(store_);
  EXPECT_EQ(store_.GetTo("p", 0, kToEnd, sink).code(), ErrorCode::kIo);
  EXPECT_EQ(sink.writes, 2);
  EXPECT_EQ(List("copy/"), (std::vector<std::string>{"copy/0", "copy/1"}));
}

TEST_F(MemoryStoreTest, ConcurrentWritersAndReadersSeeWholeObjects) {
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  const std::string small(10, 's');
  const std::string large(200000, 'L');
  ASSERT_TRUE(Put("k", small).ok());
  std::atomic<int> running{kThreads};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key =
            "data/" + std::to_string(i % 7) + "/t" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(Put(key, std::string(100 + i, static_cast<char>('a' + t))).ok());
        EXPECT_TRUE(Put("k", i % 2 ? small : large).ok());
      }
      --running;
    });
  }
  // Read while they write, until every writer is done.
  int reads = 0;
  while (running > 0 || reads == 0) {
    // (No ASSERT here: returning would leave the writers unjoined.)
    auto got = store_.Get("k");
    EXPECT_TRUE(got.ok());
    if (!got.ok()) break;
    EXPECT_TRUE(*got == B(small) || *got == B(large)) << "partial read of " << got->size();
    PieceSink sink;
    EXPECT_TRUE(store_.GetTo("k", 0, kToEnd, sink).ok());
    EXPECT_TRUE(sink.bytes() == B(small) || sink.bytes() == B(large));
    ++reads;
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(List("data/").size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string key =
          "data/" + std::to_string(i % 7) + "/t" + std::to_string(t) + "-" + std::to_string(i);
      EXPECT_EQ(*store_.Get(key), B(std::string(100 + i, static_cast<char>('a' + t)))) << key;
    }
  }
}

TEST_F(MemoryStoreTest, PrefixedViewScopesKeys) {
  auto view = NewPrefixedStore(store_, "machines/m1/");
  Bytes data = Pattern(70000);
  PieceSource source(data, 999);
  ASSERT_TRUE(view->PutFrom("data/x", source).ok());
  EXPECT_EQ(List(""), std::vector<std::string>({"machines/m1/data/x"}));
  EXPECT_EQ(*view->List("data/"), std::vector<std::string>({"data/x"}));
  PieceSink sink;
  ASSERT_TRUE(view->GetTo("data/x", 5, 10, sink).ok());
  EXPECT_TRUE(sink.bytes() == Slice(data, 5, 10));
  EXPECT_EQ(view->Stat("../m2/x").status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace obagent::storage
