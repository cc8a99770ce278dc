// posix::OpenToRead, the one way the POSIX code opens an entry to read its
// content or metadata (and a restore to set its metadata): no symlink
// followed, no blocking on a FIFO, O_NOATIME kept where allowed and dropped
// (with the open still made) where not.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "platform/posix/posix_util.h"

namespace obagent::platform {
namespace {

namespace fs = std::filesystem;

class OpenToReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ob-open-to-read-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Readable by anyone: the test below opens from another user.
    ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
    file_ = dir_ + "/f";
    std::ofstream(file_) << "content";
    ASSERT_EQ(::chmod(file_.c_str(), 0644), 0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
  std::string file_;
};

TEST_F(OpenToReadTest, TheOwnerGetsNoatimeAndTheFlagsItWasOpenedWith) {
  int status_flags = -1;
  int fd = posix::OpenToRead(AT_FDCWD, file_.c_str(), &status_flags);
  ASSERT_GE(fd, 0) << errno;
  int actual = ::fcntl(fd, F_GETFL);
  posix::CloseFd(fd);
  EXPECT_EQ(status_flags, O_NONBLOCK | O_NOATIME);
  EXPECT_EQ(actual & (O_NONBLOCK | O_NOATIME), O_NONBLOCK | O_NOATIME);
}

TEST_F(OpenToReadTest, RelativeToAFolderAndNeverThroughASymlink) {
  int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir_fd, 0);
  ASSERT_EQ(::symlink("f", (dir_ + "/link").c_str()), 0);
  int fd = posix::OpenToRead(dir_fd, "f");
  EXPECT_GE(fd, 0);
  posix::CloseFd(fd);
  errno = 0;
  EXPECT_EQ(posix::OpenToRead(dir_fd, "link"), -1);
  EXPECT_EQ(errno, ELOOP);
  errno = 0;
  EXPECT_EQ(posix::OpenToRead(dir_fd, "missing"), -1);
  EXPECT_EQ(errno, ENOENT);
  posix::CloseFd(dir_fd);
}

TEST_F(OpenToReadTest, AFifoDoesNotBlockTheOpen) {
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int fd = posix::OpenToRead(AT_FDCWD, fifo.c_str());  // no writer: would block without O_NONBLOCK
  EXPECT_GE(fd, 0) << errno;
  posix::CloseFd(fd);
}

// A file someone else owns: O_NOATIME is refused (EPERM) to a process
// without CAP_FOWNER, and the open is made again without it.
TEST_F(OpenToReadTest, AnotherUsersFileOpensWithoutNoatime) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to open as another user";
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(10);
    // Without the retry this open would fail with EPERM.
    int status_flags = -1;
    int fd = posix::OpenToRead(AT_FDCWD, file_.c_str(), &status_flags);
    if (fd < 0) _exit(errno == EPERM ? 11 : 12);
    if (status_flags != O_NONBLOCK) _exit(13);
    if ((::fcntl(fd, F_GETFL) & O_NOATIME) != 0) _exit(14);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace obagent::platform
