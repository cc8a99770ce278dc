// RestoreWriteback: a pass in the background each time another step of
// bytes was written, one last pass that Finish waits for, each folder synced
// once per pass, and the first error of any pass returned by Finish
// (kUnsupported is not an error: the platform cannot sync).
#include "engine/restore_writeback.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "engine/forwarding_restore_dir.h"

namespace obagent::engine {
namespace {

// Only SyncFileSystem is called; it counts and answers `result`.
class SyncCountingDir final : public testing::ForwardingRestoreDir {
 public:
  explicit SyncCountingDir(Status result = Status::Ok())
      : ForwardingRestoreDir(nullptr), result_(std::move(result)) {}
  Status SyncFileSystem() override {
    std::lock_guard lock(mu_);
    ++syncs_;
    cv_.notify_all();
    Status r = result_;
    result_ = Status::Ok();  // only the first pass fails
    return r;
  }
  int syncs() {
    std::lock_guard lock(mu_);
    return syncs_;
  }
  // Waits (at most a minute) until `n` syncs have been made.
  bool WaitFor(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::minutes(1), [&] { return syncs_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int syncs_ = 0;
  Status result_;
};

TEST(RestoreWritebackTest, PassesEveryStepInTheBackgroundAndOnceMoreAtFinish) {
  auto a = std::make_shared<SyncCountingDir>();
  auto b = std::make_shared<SyncCountingDir>();
  RestoreWriteback writeback(100);
  writeback.AddFolder(a);
  writeback.AddFolder(b);
  writeback.AddFolder(a);  // the same folder again: still one sync per pass
  writeback.Wrote(60);
  writeback.Wrote(40);  // the step is reached: a pass in the background
  ASSERT_TRUE(a->WaitFor(1));
  ASSERT_TRUE(b->WaitFor(1));
  writeback.Wrote(250);  // more than a step: one pass
  ASSERT_TRUE(a->WaitFor(2));
  ASSERT_TRUE(writeback.Finish().ok());
  // The last pass is made by Finish itself, so it is counted on return.
  EXPECT_EQ(a->syncs(), 3);
  EXPECT_EQ(b->syncs(), 3);
}

TEST(RestoreWritebackTest, FinishSyncsWhatLessThanAStepWrote) {
  auto a = std::make_shared<SyncCountingDir>();
  RestoreWriteback writeback(1 << 20);
  writeback.AddFolder(a);
  writeback.Wrote(10);
  ASSERT_TRUE(writeback.Finish().ok());
  EXPECT_EQ(a->syncs(), 1);
}

TEST(RestoreWritebackTest, TheFirstFailedPassIsFinishsAnswer) {
  auto failing = std::make_shared<SyncCountingDir>(Status(ErrorCode::kIo, "EIO on the disk"));
  RestoreWriteback writeback(100);
  writeback.AddFolder(failing);
  writeback.Wrote(100);
  ASSERT_TRUE(failing->WaitFor(1));
  // The last pass succeeds, but data of the first may be lost: still an error.
  Status st = writeback.Finish();
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  EXPECT_NE(st.ToString().find("EIO on the disk"), std::string::npos) << st.ToString();
  EXPECT_EQ(failing->syncs(), 2);
}

TEST(RestoreWritebackTest, APlatformThatCannotSyncIsNotAnError) {
  auto cannot = std::make_shared<SyncCountingDir>(Status(ErrorCode::kUnsupported, "no"));
  RestoreWriteback writeback(100);
  writeback.AddFolder(cannot);
  EXPECT_TRUE(writeback.Finish().ok());
  EXPECT_EQ(cannot->syncs(), 1);
}

}  // namespace
}  // namespace obagent::engine
