// A fixed pool of worker threads fed through a bounded queue: Submit blocks
// while the queue is full, so the producer (the file reader) can never run
// ahead of compression and encryption by more than `capacity` tasks, and
// memory stays bounded whatever the size of the data.
//
// A thread blocked in Submit, Drain or Await calls the optional wait hook
// every `wait_tick` while it waits (outside the executor's lock), so a job
// can keep reporting progress while it waits for its workers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace obagent::engine {

class BoundedExecutor {
 public:
  static constexpr std::chrono::milliseconds kDefaultWaitTick{100};

  BoundedExecutor(size_t threads, size_t capacity, std::function<void()> on_wait = {},
                  std::chrono::milliseconds wait_tick = kDefaultWaitTick);
  ~BoundedExecutor();
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until every submitted task has finished.
  void Drain();
  // The value of a task's future, calling the wait hook while it is not ready.
  template <typename T>
  T Await(std::future<T>& future) {
    if (on_wait_) {
      while (future.wait_for(wait_tick_) != std::future_status::ready) on_wait_();
    }
    return future.get();
  }

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  // Waits on `cv` until `ready`, calling the wait hook every tick.
  void WaitWithHook(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                    const std::function<bool()>& ready);

  size_t capacity_;
  const std::function<void()> on_wait_;
  const std::chrono::milliseconds wait_tick_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace obagent::engine
