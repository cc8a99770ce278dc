// Windows cannot mount a recovery point yet: the answer must say why and
// what to use instead.
#include <gtest/gtest.h>

#include "obagent/platform_mount.h"

namespace obagent::platform {
namespace {

class EmptyFileSystem final : public ReadOnlyFileSystem {
 public:
  Result<FileInfo> Stat(const std::string& path) override { return NotFound(path); }
  Result<std::vector<MountEntry>> ListDir(const std::string& path) override {
    return NotFound(path);
  }
  Result<std::string> ReadLink(const std::string& path) override { return NotFound(path); }
  Result<size_t> Read(const std::string& path, uint64_t, uint8_t*, size_t) override {
    return NotFound(path);
  }
};

TEST(MountWin, MountingIsUnsupportedAndSaysWhatToUse) {
  EmptyFileSystem fs;
  Status st = ServeReadOnlyMount(fs, "C:/mnt", {});
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported);
  EXPECT_NE(st.detail().find("WinFsp"), std::string::npos) << st.detail();
  EXPECT_NE(st.detail().find("obctl recover"), std::string::npos) << st.detail();
  EXPECT_EQ(UnmountReadOnly("C:/mnt").code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace obagent::platform
