// errno -> the Windows HRESULT form that failed-files lists show, and the
// codes real failing calls carry (as root too: the cases here fail for
// root as well, which is what the tests and the service run as).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/posix/posix_util.h"

namespace obagent::platform {
namespace {

namespace fs = std::filesystem;

TEST(OsErrorFromErrnoTest, MapsToTheWindowsCodesUsersSearchFor) {
  EXPECT_EQ(posix::OsErrorFromErrno(EACCES), 0x80070005u);
  EXPECT_EQ(posix::OsErrorFromErrno(EPERM), 0x80070005u);
  EXPECT_EQ(posix::OsErrorFromErrno(ENOENT), 0x80070002u);
  EXPECT_EQ(posix::OsErrorFromErrno(ENOTDIR), 0x80070003u);
  EXPECT_EQ(posix::OsErrorFromErrno(EBUSY), 0x80070020u);
  EXPECT_EQ(posix::OsErrorFromErrno(ETXTBSY), 0x80070020u);
  EXPECT_EQ(posix::OsErrorFromErrno(EUCLEAN), 0x80070570u);
  EXPECT_EQ(posix::OsErrorFromErrno(EBADMSG), 0x80070570u);
  EXPECT_EQ(posix::OsErrorFromErrno(ENXIO), 0x80070032u);
  EXPECT_EQ(posix::OsErrorFromErrno(EOPNOTSUPP), 0x80070032u);
  EXPECT_EQ(posix::OsErrorFromErrno(EIO), 0x8007045Du);
  EXPECT_EQ(posix::OsErrorFromErrno(ENOSPC), 0x80070070u);
  EXPECT_EQ(posix::OsErrorFromErrno(EROFS), 0x80070013u);
  EXPECT_EQ(posix::OsErrorFromErrno(EEXIST), 0x800700B7u);
  EXPECT_EQ(posix::OsErrorFromErrno(0), os_error::kNone);
  EXPECT_EQ(posix::OsErrorFromErrno(EHOSTDOWN), os_error::kUnspecified);
  EXPECT_EQ(os_error::Format(0x80070005u), "0x80070005");
  EXPECT_EQ(os_error::Format(0x8007045Du), "0x8007045D");
  EXPECT_EQ(os_error::Format(os_error::kNone), "");
}

TEST(OsErrorFromErrnoTest, StatusKeepsTheCodeThroughContext) {
  Status st = posix::ErrnoStatus("open", "/x", EACCES);
  EXPECT_EQ(st.os_error(), os_error::kAccessDenied);
  EXPECT_EQ(st.WithContext("backing up").os_error(), os_error::kAccessDenied);
  EXPECT_EQ(InvalidArgument("x").os_error(), os_error::kNone);
}

class OsErrorEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "obagent-oserr-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  Env& env_ = Env::Default();
  std::string dir_;
};

TEST_F(OsErrorEnvTest, MissingFileAndMissingPathComponent) {
  auto missing = env_.OpenForRead(dir_ + "/gone");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().os_error(), os_error::kFileNotFound);
  EXPECT_EQ(env_.Lstat(dir_ + "/gone").status().os_error(), os_error::kFileNotFound);

  std::ofstream(dir_ + "/file") << "x";
  auto under_file = env_.Lstat(dir_ + "/file/child");  // a file used as a folder
  ASSERT_FALSE(under_file.ok());
  EXPECT_EQ(under_file.status().os_error(), os_error::kPathNotFound);
}

TEST_F(OsErrorEnvTest, OpeningASocketIsNotSupported) {
  std::string path = dir_ + "/sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  auto opened = env_.OpenForRead(path);
  ::close(fd);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().os_error(), os_error::kNotSupported) << opened.status().ToString();
}

// Permission bits do not stop root, but sysctl files without a read bit do
// (procfs checks them itself, without CAP_DAC_OVERRIDE).
TEST_F(OsErrorEnvTest, AccessDeniedEvenForRoot) {
  const std::string write_only = "/proc/sys/vm/compact_memory";
  int probe = ::open(write_only.c_str(), O_RDONLY);
  if (probe >= 0 || errno != EACCES) {
    if (probe >= 0) ::close(probe);
    GTEST_SKIP() << write_only << " is readable or missing here";
  }
  auto opened = env_.OpenForRead(write_only);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().os_error(), os_error::kAccessDenied);
  EXPECT_NE(opened.status().ToString().find("access denied"), std::string::npos);
}

TEST_F(OsErrorEnvTest, ScratchFolderProblemsNoneOnPosix) {
  auto problems = env_.ScratchFolderProblems(dir_);
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  EXPECT_FALSE(problems->any());
  auto missing = env_.ScratchFolderProblems(dir_ + "/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace obagent::platform
