#include "obagent/storage/throttled_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <utility>

namespace obagent::storage {

namespace {

class RealThrottleClock final : public ThrottleClock {
 public:
  int64_t NowNs() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  void SleepNs(int64_t ns) override { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); }
};

class ThrottledStore final : public BlobStore {
 public:
  ThrottledStore(std::unique_ptr<BlobStore> base, std::shared_ptr<TokenBucket> bucket)
      : base_(std::move(base)), bucket_(std::move(bucket)) {}

  Status Put(std::string_view key, ByteView data) override {
    bucket_->Acquire(data.size());
    return base_->Put(key, data);
  }

  Status PutStaged(std::string_view key, const std::string& staged_path, ByteView data) override {
    bucket_->Acquire(data.size());
    return base_->PutStaged(key, staged_path, data);
  }

  Result<Bytes> Get(std::string_view key) override {
    // The size is known only afterwards: the next transfer pays for it.
    Result<Bytes> data = base_->Get(key);
    if (data.ok()) bucket_->Acquire(data->size());
    return data;
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    bucket_->Acquire(length);
    return base_->GetRange(key, offset, length);
  }

  Result<ByteView> GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override {
    bucket_->Acquire(length);
    return base_->GetRangeInto(key, offset, length, buffer);
  }

  Result<ObjectInfo> Stat(std::string_view key) override { return base_->Stat(key); }

  // Streamed bytes are charged piece by piece as they pass.
  Status PutFrom(std::string_view key, ByteSource& source) override {
    struct Charged final : ByteSource {
      ByteSource& inner;
      TokenBucket& bucket;
      Charged(ByteSource& i, TokenBucket& b) : inner(i), bucket(b) {}
      Result<size_t> Read(uint8_t* buffer, size_t n) override {
        OB_ASSIGN_OR_RETURN(size_t got, inner.Read(buffer, n));
        if (got > 0) bucket.Acquire(got);
        return got;
      }
    } charged(source, *bucket_);
    return base_->PutFrom(key, charged);
  }

  Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) override {
    struct Charged final : ByteSink {
      ByteSink& inner;
      TokenBucket& bucket;
      Charged(ByteSink& i, TokenBucket& b) : inner(i), bucket(b) {}
      Status Write(ByteView data) override {
        bucket.Acquire(data.size());
        return inner.Write(data);
      }
    } charged(sink, *bucket_);
    return base_->GetTo(key, offset, length, charged);
  }

  Result<std::vector<std::string>> List(std::string_view prefix) override {
    return base_->List(prefix);
  }
  Status Delete(std::string_view key) override { return base_->Delete(key); }
  Result<bool> Exists(std::string_view key) override { return base_->Exists(key); }
  std::string Describe() const override { return base_->Describe(); }

 private:
  std::unique_ptr<BlobStore> base_;
  std::shared_ptr<TokenBucket> bucket_;
};

}  // namespace

ThrottleClock& ThrottleClock::Real() {
  static RealThrottleClock clock;
  return clock;
}

TokenBucket::TokenBucket(std::unique_ptr<RateSchedule> schedule, ThrottleClock& clock)
    : schedule_(std::move(schedule)), clock_(clock) {}

void TokenBucket::Refill(int64_t now_ns, uint64_t rate) {
  const double capacity = static_cast<double>(rate) * kBurstSeconds;
  if (!started_) {
    started_ = true;
    tokens_ = capacity;
  } else if (now_ns > last_ns_) {  // a wall clock set back refills nothing
    tokens_ += static_cast<double>(rate) * static_cast<double>(now_ns - last_ns_) / 1e9;
  }
  tokens_ = std::min(tokens_, capacity);
  last_ns_ = now_ns;
}

void TokenBucket::Acquire(uint64_t bytes) {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowNs();
  uint64_t rate = schedule_->BytesPerSecondAt(now);
  if (rate == 0) {  // unlimited now; forget any debt
    started_ = false;
    return;
  }
  Refill(now, rate);
  tokens_ -= static_cast<double>(bytes);
  // Holding the lock while sleeping is deliberate: the other transfers wait
  // behind this one instead of spending the tokens it is waiting for.
  while (tokens_ < 0) {
    double wait_ns = std::ceil(-tokens_ / static_cast<double>(rate) * 1e9);
    clock_.SleepNs(std::min<int64_t>(static_cast<int64_t>(wait_ns), kMaxSleepNs));
    now = clock_.NowNs();
    rate = schedule_->BytesPerSecondAt(now);
    if (rate == 0) {
      started_ = false;
      return;
    }
    Refill(now, rate);
  }
}

std::unique_ptr<BlobStore> NewThrottledStore(std::unique_ptr<BlobStore> base,
                                             std::shared_ptr<TokenBucket> bucket) {
  return std::make_unique<ThrottledStore>(std::move(base), std::move(bucket));
}

}  // namespace obagent::storage
