// IdlePool: objects that are costly to make (zstd contexts, I/O buffers)
// kept for reuse between the calls that need them for a moment.
//
// Thread-safe. Acquire hands out an idle object or makes a new one, so
// callers never wait and the number in use is not bounded here; at most
// `max_idle` come back to the pool, the rest are freed. The pool must
// outlive its leases.
//
// Why a pool and not thread_local: mingw-w64 runs thread_local destructors
// after the thread's TLS block is freed (which faulted the Windows engine
// when a job's workers ended), and a connection thread of vaultd would keep
// its buffer for as long as the connection stays open.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace obagent {

template <typename T>
class IdlePool {
 public:
  // Gives the object back when it ends. Movable (into a std::optional, say).
  class Lease {
   public:
    Lease(IdlePool& pool, std::unique_ptr<T> item) : pool_(&pool), item_(std::move(item)) {}
    ~Lease() {
      if (item_) pool_->Return(std::move(item_));
    }
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    T& operator*() { return *item_; }
    T* operator->() { return item_.get(); }

   private:
    IdlePool* pool_;
    std::unique_ptr<T> item_;
  };

  explicit IdlePool(size_t max_idle) : max_idle_(max_idle) {}
  IdlePool(const IdlePool&) = delete;
  IdlePool& operator=(const IdlePool&) = delete;

  // An idle object (the one returned last), else a new T().
  Lease Acquire() {
    std::unique_ptr<T> item;
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        item = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!item) item = std::make_unique<T>();
    return Lease(*this, std::move(item));
  }

  size_t idle() const {
    std::lock_guard lock(mu_);
    return idle_.size();
  }

 private:
  void Return(std::unique_ptr<T> item) {
    std::lock_guard lock(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(item));
  }

  const size_t max_idle_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<T>> idle_;
};

}  // namespace obagent
