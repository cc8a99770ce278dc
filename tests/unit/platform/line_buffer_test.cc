// The local API's line framing (src/platform/line_buffer.h), fed by a
// scripted reader instead of a socket or pipe.
#include "platform/line_buffer.h"

#include <algorithm>
#include <deque>
#include <string>

#include <gtest/gtest.h>

namespace obagent::platform {
namespace {

// Hands out the scripted chunks one read at a time (a chunk larger than the
// read's buffer is split), then the given error.
class ScriptedReader {
 public:
  explicit ScriptedReader(std::deque<std::string> chunks, Status end = NotFound("closed"))
      : chunks_(std::move(chunks)), end_(std::move(end)) {}

  LineBuffer::ReadFn Fn() {
    return [this](std::span<char> into) -> Result<size_t> {
      ++reads_;
      if (chunks_.empty()) return end_;
      std::string& front = chunks_.front();
      size_t n = std::min(front.size(), into.size());
      std::copy_n(front.data(), n, into.data());
      front.erase(0, n);
      if (front.empty()) chunks_.pop_front();
      return n;
    };
  }
  int reads() const { return reads_; }

 private:
  std::deque<std::string> chunks_;
  Status end_;
  int reads_ = 0;
};

TEST(LineBufferTest, JoinsALineSplitAcrossReads) {
  ScriptedReader reader({"{\"op\":", "\"sta", "tus\"}\n"});
  LineBuffer lines;
  auto line = lines.ReadLine(reader.Fn());
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, "{\"op\":\"status\"}");
  EXPECT_EQ(reader.reads(), 3);
}

TEST(LineBufferTest, KeepsWhatFollowsALineForTheNextCallWithoutReading) {
  ScriptedReader reader({"one\ntwo\n\nthr", "ee\n"});
  LineBuffer lines;
  auto fn = reader.Fn();
  EXPECT_EQ(*lines.ReadLine(fn), "one");
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(*lines.ReadLine(fn), "two");
  EXPECT_EQ(*lines.ReadLine(fn), "");  // an empty line is a line
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(*lines.ReadLine(fn), "three");
  EXPECT_EQ(reader.reads(), 2);
}

TEST(LineBufferTest, ZeroByteReadsAreRetried) {
  ScriptedReader reader({"", "", "ok\n"});
  LineBuffer lines;
  EXPECT_EQ(*lines.ReadLine(reader.Fn()), "ok");
  EXPECT_EQ(reader.reads(), 3);
}

TEST(LineBufferTest, TheReadersErrorEndsTheLineAndTheRestIsDropped) {
  ScriptedReader reader({"half a line"}, NotFound("closed"));
  LineBuffer lines;
  auto line = lines.ReadLine(reader.Fn());
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), ErrorCode::kNotFound);
}

TEST(LineBufferTest, ALineOverTheLimitIsRefused) {
  ScriptedReader reader({std::string(10000, 'x'), "\n"});
  LineBuffer lines(/*max_line=*/8192);
  auto line = lines.ReadLine(reader.Fn());
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), ErrorCode::kInvalidArgument);
  // It stops reading once past the limit: 4096-byte reads, 3 to pass 8192.
  EXPECT_EQ(reader.reads(), 3);
}

TEST(LineBufferTest, ALineAtTheLimitIsAccepted) {
  ScriptedReader reader({std::string(8192, 'x') + "\n"});
  LineBuffer lines(/*max_line=*/8192);
  auto line = lines.ReadLine(reader.Fn());
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(line->size(), 8192u);
}

}  // namespace
}  // namespace obagent::platform
