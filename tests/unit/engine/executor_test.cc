#include "engine/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace obagent::engine {
namespace {

TEST(Executor, RunsEveryTaskBeforeDrainReturns) {
  std::atomic<int> done{0};
  BoundedExecutor executor(3, 4);
  for (int i = 0; i < 1000; ++i) executor.Submit([&] { ++done; });
  executor.Drain();
  EXPECT_EQ(done.load(), 1000);
}

TEST(Executor, SubmitBlocksWhileQueueIsFull) {
  std::atomic<bool> release{false};
  std::atomic<int> queued{0};
  BoundedExecutor executor(1, 2);
  std::thread producer([&] {
    for (int i = 0; i < 6; ++i) {
      executor.Submit([&] {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
      ++queued;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // One task running, two queued: the fourth Submit must still be waiting.
  EXPECT_EQ(queued.load(), 3);
  release = true;
  producer.join();
  executor.Drain();
  EXPECT_EQ(queued.load(), 6);
}

}  // namespace
}  // namespace obagent::engine
