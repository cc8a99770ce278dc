// A fixed pool of worker threads fed through a bounded queue: Submit blocks
// while the queue is full, so the producer (the file reader) can never run
// ahead of compression and encryption by more than `capacity` tasks, and
// memory stays bounded whatever the size of the data.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace obagent::engine {

class BoundedExecutor {
 public:
  BoundedExecutor(size_t threads, size_t capacity);
  ~BoundedExecutor();
  BoundedExecutor(const BoundedExecutor&) = delete;
  BoundedExecutor& operator=(const BoundedExecutor&) = delete;

  void Submit(std::function<void()> task);
  // Blocks until every submitted task has finished.
  void Drain();

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  size_t capacity_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace obagent::engine
