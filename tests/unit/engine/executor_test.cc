#include "engine/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
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

// A gate a task waits at until the executor's wait hook has run `n` times:
// it is only opened by a thread waiting in the executor, so each test below
// ends only if the hook is called while that thread waits.
class HookGate {
 public:
  explicit HookGate(int n) : needed_(n) {}
  void Hook() {
    std::lock_guard lock(mu_);
    ++calls_;
    cv_.notify_all();
  }
  // False if the hook was not called `n` times within a generous deadline
  // (the test then fails instead of hanging).
  bool Wait() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return calls_ >= needed_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int needed_;
  int calls_ = 0;
};

TEST(Executor, SubmitCallsTheWaitHookWhileTheQueueIsFull) {
  HookGate gate(3);
  std::atomic<bool> opened{true};
  BoundedExecutor executor(
      1, 1, [&] { gate.Hook(); }, std::chrono::milliseconds(1));
  // The worker blocks until the hook has run three times; the queue holds
  // one more task, so the third Submit waits, and only its hook opens the gate.
  for (int i = 0; i < 3; ++i) {
    executor.Submit([&] {
      if (!gate.Wait()) opened = false;
    });
  }
  executor.Drain();
  EXPECT_TRUE(opened.load());
}

TEST(Executor, DrainCallsTheWaitHookWhileTasksRun) {
  HookGate gate(2);
  std::atomic<bool> opened{true};
  BoundedExecutor executor(
      2, 4, [&] { gate.Hook(); }, std::chrono::milliseconds(1));
  executor.Submit([&] {
    if (!gate.Wait()) opened = false;
  });
  executor.Drain();
  EXPECT_TRUE(opened.load());
}

TEST(Executor, AwaitCallsTheWaitHookUntilTheValueIsReady) {
  HookGate gate(2);
  BoundedExecutor executor(
      1, 1, [&] { gate.Hook(); }, std::chrono::milliseconds(1));
  auto promise = std::make_shared<std::promise<int>>();
  std::future<int> value = promise->get_future();
  executor.Submit([&, promise] { promise->set_value(gate.Wait() ? 7 : -1); });
  EXPECT_EQ(executor.Await(value), 7);
  executor.Drain();
}

TEST(Executor, WithoutAHookAwaitReturnsTheValue) {
  BoundedExecutor executor(1, 1);
  auto promise = std::make_shared<std::promise<int>>();
  std::future<int> value = promise->get_future();
  executor.Submit([promise] { promise->set_value(3); });
  EXPECT_EQ(executor.Await(value), 3);
}

}  // namespace
}  // namespace obagent::engine
