// platform::HostableName on POSIX: Linux holds every name a recovery point
// can store, so each comes back as it is.
#include <gtest/gtest.h>

#include <string>

#include "obagent/platform.h"

namespace obagent::platform {
namespace {

TEST(HostableName, EveryNameIsKept) {
  for (int b = 1; b <= 0xFF; ++b) {
    if (b == '/') continue;
    std::string c(1, static_cast<char>(b));
    EXPECT_EQ(HostableName(c), c);
    EXPECT_EQ(HostableName("n" + c + "n"), "n" + c + "n");
  }
  for (const char* name : {"a\\b", "CON", "aux.txt", "trailing.", "trailing ", "\xFF\xFE", "a<b"}) {
    EXPECT_EQ(HostableName(name), name);
  }
}

}  // namespace
}  // namespace obagent::platform
