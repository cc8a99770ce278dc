// Bandwidth throttling at the BlobStore boundary: every byte a job uploads
// (Put) or downloads (Get, GetRange) passes one token bucket, for the local
// vault and vaultd alike. The rate may change with the time (work hours);
// the bucket follows it within a second.
//
// The unit is the object: a 16 MiB pack is charged whole, before it goes up
// (a download after it came down), so the rate holds on average over a few
// objects, not within one transfer. Streamed transfers (PutFrom, GetTo) are
// charged piece by piece as they pass.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "obagent/storage/blob_store.h"

namespace obagent::storage {

// Time for the bucket, injectable so tests neither sleep nor depend on the
// wall clock. A bucket calls its clock and its schedule only under its own
// lock; a clock or schedule shared by several buckets must be thread-safe.
class ThrottleClock {
 public:
  virtual ~ThrottleClock() = default;
  // Wall-clock time (the schedule is in local time), nanoseconds since 1970.
  virtual int64_t NowNs() = 0;
  virtual void SleepNs(int64_t ns) = 0;
  // The system clock and std::this_thread::sleep_for.
  static ThrottleClock& Real();
};

class RateSchedule {
 public:
  virtual ~RateSchedule() = default;
  // Bytes per second allowed at that moment; 0 means unlimited.
  virtual uint64_t BytesPerSecondAt(int64_t unix_ns) const = 0;
};

// A token bucket holding at most kBurstSeconds of the current rate. A
// request larger than what the bucket holds goes into debt, and the next
// request waits until it is paid off, so the long-run rate is exact.
class TokenBucket {
 public:
  static constexpr double kBurstSeconds = 1.0;
  // Longest single sleep: a rate change (the end of work hours) takes effect
  // within this time even while a large debt is being paid off.
  static constexpr int64_t kMaxSleepNs = 1'000'000'000;

  TokenBucket(std::unique_ptr<RateSchedule> schedule, ThrottleClock& clock);
  // Blocks until `bytes` may pass. Thread-safe; callers queue in turn.
  void Acquire(uint64_t bytes);

 private:
  void Refill(int64_t now_ns, uint64_t rate);

  const std::unique_ptr<RateSchedule> schedule_;
  ThrottleClock& clock_;
  std::mutex mu_;
  bool started_ = false;  // the bucket starts full at the first request
  double tokens_ = 0;     // negative: debt of the last large request
  int64_t last_ns_ = 0;
};

// Charges base's transfers to the bucket; List, Exists and Delete are free.
// Thread safety: as every BlobStore (blob_store.h), if `base` is; the
// transfers of all threads, and of every store given the same bucket, pass
// the one bucket in turn.
std::unique_ptr<BlobStore> NewThrottledStore(std::unique_ptr<BlobStore> base,
                                             std::shared_ptr<TokenBucket> bucket);

}  // namespace obagent::storage
