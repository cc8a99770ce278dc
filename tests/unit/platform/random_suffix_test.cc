#include "platform/random_suffix.h"

#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace obagent::platform {
namespace {

TEST(RandomSuffixTest, SixteenHexCharactersNeverRepeatedAcrossThreads) {
  std::mutex mu;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        std::string s = RandomSuffix(1234);
        ASSERT_EQ(s.size(), 16u);
        ASSERT_EQ(s.find_first_not_of("0123456789abcdef"), std::string::npos) << s;
        std::lock_guard lock(mu);
        ASSERT_TRUE(seen.insert(s).second) << "repeated: " << s;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 4000u);
}

}  // namespace
}  // namespace obagent::platform
