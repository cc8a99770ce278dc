// IdlePool (include/obagent/core/idle_pool.h): objects come back for reuse, at
// most max_idle are kept, and leases from many threads stay distinct.
#include "obagent/core/idle_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

namespace obagent {
namespace {

struct Counted {
  static inline std::atomic<int> made{0};
  static inline std::atomic<int> alive{0};
  Counted() {
    ++made;
    ++alive;
  }
  ~Counted() { --alive; }
  int uses = 0;
};

class IdlePoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Counted::made = 0;
    Counted::alive = 0;
  }
};

TEST_F(IdlePoolTest, AReturnedObjectIsHandedOutAgain) {
  IdlePool<Counted> pool(2);
  Counted* first = nullptr;
  {
    auto lease = pool.Acquire();
    first = &*lease;
    lease->uses = 7;
  }
  EXPECT_EQ(pool.idle(), 1u);
  auto again = pool.Acquire();
  EXPECT_EQ(&*again, first);
  EXPECT_EQ(again->uses, 7);  // the same object, not a new one
  EXPECT_EQ(Counted::made, 1);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(IdlePoolTest, AMovedLeaseReturnsItsObjectOnce) {
  IdlePool<Counted> pool(4);
  {
    std::optional<IdlePool<Counted>::Lease> held;
    held.emplace(pool.Acquire());
    (*held)->uses = 3;
    IdlePool<Counted>::Lease moved(std::move(*held));
    held.reset();  // the moved-from lease gives nothing back
    EXPECT_EQ(pool.idle(), 0u);
    EXPECT_EQ(moved->uses, 3);
  }
  EXPECT_EQ(pool.idle(), 1u);
  EXPECT_EQ(Counted::alive, 1);
}

TEST_F(IdlePoolTest, LeasesHeldAtOnceAreDistinctAndOnlyMaxIdleAreKept) {
  {
    IdlePool<Counted> pool(2);
    {
      auto a = pool.Acquire();
      auto b = pool.Acquire();
      auto c = pool.Acquire();
      EXPECT_NE(&*a, &*b);
      EXPECT_NE(&*b, &*c);
      EXPECT_NE(&*a, &*c);
      EXPECT_EQ(Counted::made, 3);
    }
    EXPECT_EQ(pool.idle(), 2u);
    EXPECT_EQ(Counted::alive, 2);  // the third was freed on return
  }
  EXPECT_EQ(Counted::alive, 0);  // the pool frees what it keeps
}

TEST_F(IdlePoolTest, ThreadsNeverShareALease) {
  IdlePool<Counted> pool(4);
  std::atomic<bool> shared{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto lease = pool.Acquire();
        // A lease is its holder's alone: nobody else moves `uses` meanwhile.
        int before = ++lease->uses;
        std::this_thread::yield();
        if (lease->uses != before) shared = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(shared);
  EXPECT_LE(pool.idle(), 4u);
  EXPECT_EQ(Counted::alive, static_cast<int>(pool.idle()));  // none lost, none leaked
}

}  // namespace
}  // namespace obagent
