// Restored data on its way to disk while the restore goes on, and on disk
// when the restore ends.
//
// A restore fills the page cache far faster than the kernel writes it back
// on its own (it starts at 10 % of memory dirty), so the data would reach
// the disk only after the last file, in a tail where the CPUs wait for the
// disk. A background thread here syncs the file systems restored into each
// time another `step` bytes have been written, so the disk works while the
// restore decrypts and decompresses; Finish then makes everything durable,
// so a Completed restore survives a power cut.
//
// Thread safety: AddFolder, Wrote and Finish may be called from any thread;
// Finish once, after the last write.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

class RestoreWriteback {
 public:
  explicit RestoreWriteback(uint64_t step);
  // Stops the background thread (without a last pass).
  ~RestoreWriteback();
  RestoreWriteback(const RestoreWriteback&) = delete;
  RestoreWriteback& operator=(const RestoreWriteback&) = delete;

  // A folder restored into: its file system is synced by every pass (the
  // same folder twice counts once).
  void AddFolder(std::shared_ptr<platform::RestoreDir> dir);
  // Counts bytes written into files; starts a pass in the background each
  // time another `step` bytes were written since the last one began.
  void Wrote(uint64_t bytes);
  // Stops the background passes and syncs every folder's file system once
  // more, waiting for it. The first error of any pass; Ok where the
  // platform cannot sync a file system (kUnsupported).
  Status Finish();

 private:
  void Loop();
  Status SyncAll(const std::vector<std::shared_ptr<platform::RestoreDir>>& dirs);
  void Stop();

  const uint64_t step_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<platform::RestoreDir>> dirs_;
  std::set<const platform::RestoreDir*> known_;  // those in dirs_
  uint64_t written_ = 0;
  uint64_t passed_ = 0;  // written_ when the last pass began
  bool stop_ = false;
  Status first_error_;
  std::thread thread_;
};

}  // namespace obagent::engine
