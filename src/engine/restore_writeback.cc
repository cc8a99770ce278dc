// RestoreWriteback: a thread that syncs the restored file systems every
// `step` bytes, and the last, waited-for sync of a restore.
#include "engine/restore_writeback.h"

#include <algorithm>
#include <utility>

namespace obagent::engine {

RestoreWriteback::RestoreWriteback(uint64_t step) : step_(std::max<uint64_t>(step, 1)) {
  thread_ = std::thread([this] { Loop(); });
}

RestoreWriteback::~RestoreWriteback() { Stop(); }

void RestoreWriteback::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RestoreWriteback::AddFolder(std::shared_ptr<platform::RestoreDir> dir) {
  std::lock_guard lock(mu_);
  if (known_.insert(dir.get()).second) dirs_.push_back(std::move(dir));
}

void RestoreWriteback::Wrote(uint64_t bytes) {
  bool due;
  {
    std::lock_guard lock(mu_);
    written_ += bytes;
    due = written_ - passed_ >= step_;
  }
  if (due) cv_.notify_one();
}

void RestoreWriteback::Loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || written_ - passed_ >= step_; });
    if (stop_) return;
    passed_ = written_;
    std::vector<std::shared_ptr<platform::RestoreDir>> dirs = dirs_;
    lock.unlock();
    Status st = SyncAll(dirs);
    lock.lock();
    if (!st.ok() && first_error_.ok()) first_error_ = st;
  }
}

Status RestoreWriteback::SyncAll(const std::vector<std::shared_ptr<platform::RestoreDir>>& dirs) {
  Status first;
  for (const auto& dir : dirs) {
    Status st = dir->SyncFileSystem();
    if (!st.ok() && st.code() != ErrorCode::kUnsupported && first.ok()) first = st;
  }
  return first;
}

Status RestoreWriteback::Finish() {
  Stop();
  std::vector<std::shared_ptr<platform::RestoreDir>> dirs;
  {
    std::lock_guard lock(mu_);
    dirs = dirs_;
  }
  Status last = SyncAll(dirs);
  std::lock_guard lock(mu_);
  return first_error_.ok() ? last : first_error_;
}

}  // namespace obagent::engine
