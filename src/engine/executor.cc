// The bounded worker pool of backups (see executor.h).
#include "engine/executor.h"

namespace obagent::engine {

BoundedExecutor::BoundedExecutor(size_t threads, size_t capacity, std::function<void()> on_wait,
                                 std::chrono::milliseconds wait_tick)
    : capacity_(capacity == 0 ? 1 : capacity),
      on_wait_(std::move(on_wait)),
      wait_tick_(wait_tick.count() > 0 ? wait_tick : kDefaultWaitTick) {
  if (threads == 0) threads = 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

BoundedExecutor::~BoundedExecutor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  not_empty_.notify_all();
  for (auto& t : workers_) t.join();
}

void BoundedExecutor::Submit(std::function<void()> task) {
  std::unique_lock lock(mu_);
  WaitWithHook(lock, not_full_, [&] { return queue_.size() < capacity_; });
  queue_.push_back(std::move(task));
  not_empty_.notify_one();
}

void BoundedExecutor::Drain() {
  std::unique_lock lock(mu_);
  WaitWithHook(lock, idle_, [&] { return queue_.empty() && running_ == 0; });
}

void BoundedExecutor::WaitWithHook(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                                   const std::function<bool()>& ready) {
  if (!on_wait_) {
    cv.wait(lock, ready);
    return;
  }
  while (!cv.wait_for(lock, wait_tick_, ready)) {
    lock.unlock();
    on_wait_();
    lock.lock();
  }
}

void BoundedExecutor::WorkerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    not_empty_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and nothing left
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    not_full_.notify_one();
    lock.unlock();
    task();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace obagent::engine
