// ServeReadOnlyMount through the real kernel FUSE: what the glue maps
// (kinds, modes, nanosecond mtimes, inode numbers, errors) and how a mount
// ends. The file system is a FakeReadOnlyFileSystem in memory; the engine's
// RecoveryPointReader is tested on its own and end to end (test_mount.sh).
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform_mount.h"

namespace obagent::platform {
namespace {

class FakeReadOnlyFileSystem final : public ReadOnlyFileSystem {
 public:
  FakeReadOnlyFileSystem() {
    Add("/", FileKind::kDirectory, 0755, "");
    Add("/good.txt", FileKind::kRegular, 0640, "hello from the fake");
    Add("/damaged.bin", FileKind::kRegular, 0644, "0123456789");
    Add("/link", FileKind::kSymlink, 0777, "good.txt");
    Add("/sub", FileKind::kDirectory, 0700, "");
    Add("/sub/deep", FileKind::kRegular, 0600, "deep");
  }
  Result<FileInfo> Stat(const std::string& path) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return NotFound(path);
    return it->second.info;
  }
  Result<std::vector<MountEntry>> ListDir(const std::string& path) override {
    std::vector<MountEntry> out;
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& [p, e] : entries_) {
      if (p != "/" && p.starts_with(prefix) && p.find('/', prefix.size()) == std::string::npos) {
        out.push_back({p.substr(prefix.size()), e.info});
      }
    }
    return out;
  }
  Result<std::string> ReadLink(const std::string& path) override {
    auto it = entries_.find(path);
    if (it == entries_.end()) return NotFound(path);
    return it->second.data;
  }
  Result<size_t> Read(const std::string& path, uint64_t offset, uint8_t* buffer,
                      size_t size) override {
    if (path == "/damaged.bin") return Corrupt("the chunk failed authentication");
    auto it = entries_.find(path);
    if (it == entries_.end()) return NotFound(path);
    const std::string& data = it->second.data;
    if (offset >= data.size()) return size_t{0};
    size_t n = std::min<size_t>(size, data.size() - offset);
    std::memcpy(buffer, data.data() + offset, n);
    return n;
  }

 private:
  struct Entry {
    FileInfo info;
    std::string data;
  };
  void Add(const std::string& path, FileKind kind, uint32_t mode, std::string data) {
    Entry e;
    e.info.kind = kind;
    e.info.mode = mode;
    e.info.size = data.size();
    e.info.mtime_ns = 1234567890123456789 + static_cast<int64_t>(entries_.size());
    e.info.uid = 0;
    e.info.gid = 0;
    e.info.inode = path == "/" ? 1 : 1000 + entries_.size();
    e.data = std::move(data);
    entries_[path] = std::move(e);
  }
  std::map<std::string, Entry> entries_;
};

bool FuseUsable() {
  int fd = ::open("/dev/fuse", O_RDWR);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool IsMounted(const std::string& dir) {
  std::ifstream mounts("/proc/mounts");
  std::string source, target, rest;
  while (mounts >> source >> target && std::getline(mounts, rest)) {
    if (target == dir) return true;
  }
  return false;
}

class FuseMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FuseUsable()) GTEST_SKIP() << "/dev/fuse cannot be opened here";
    std::string tmpl = (std::filesystem::temp_directory_path() / "obagent-mount-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
    server_ = std::thread([this] {
      MountOptions options;
      options.source_name = "obagent-test";
      options.on_mounted = [this] { mounted_flag_ = true; };
      options.on_read_error = [this](const std::string& path, const Status& error) {
        std::lock_guard lock(errors_mu_);
        read_errors_.push_back(path + ": " + error.detail());
      };
      options.on_open_folders = [this](int n) { open_folders_ = n; };
      served_ = ServeReadOnlyMount(fs_, dir_, options);
    });
    // The kernel lists the mount a moment before ServeReadOnlyMount calls
    // on_mounted: wait for both.
    for (int i = 0; i < 200 && !(IsMounted(dir_) && mounted_flag_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ASSERT_TRUE(IsMounted(dir_)) << "not mounted after 5 s";
  }
  void TearDown() override {
    if (server_.joinable()) {
      // The kernel closes a listed folder after closedir returns; an unmount
      // before that leaves libfuse's handle of it allocated (a leak to
      // LeakSanitizer, 1 CI run in several).
      for (int i = 0; i < 200 && open_folders_ != 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      }
      EXPECT_EQ(open_folders_, 0) << "folders still open after 5 s";
      if (IsMounted(dir_)) {
        EXPECT_TRUE(UnmountReadOnly(dir_).ok());
      }
      server_.join();
    }
    if (!dir_.empty()) std::filesystem::remove(dir_);
  }

  FakeReadOnlyFileSystem fs_;
  std::string dir_;
  std::thread server_;
  std::atomic<bool> mounted_flag_{false};
  std::atomic<int> open_folders_{0};
  std::optional<Status> served_;
  std::mutex errors_mu_;
  std::vector<std::string> read_errors_;
};

TEST_F(FuseMountTest, ShowsKindsModesTimesAndInodes) {
  EXPECT_TRUE(mounted_flag_);
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ + "/good.txt").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 19);
  EXPECT_EQ(st.st_ino, 1001u);  // use_ino: the file system's own numbers
  auto info = fs_.Stat("/good.txt");
  EXPECT_EQ(int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, info->mtime_ns);

  ASSERT_EQ(::lstat((dir_ + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  char target[64] = {};
  ASSERT_EQ(::readlink((dir_ + "/link").c_str(), target, sizeof target - 1), 8);
  EXPECT_STREQ(target, "good.txt");

  ASSERT_EQ(::lstat((dir_ + "/sub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"damaged.bin", "good.txt", "link", "sub"}));
}

TEST_F(FuseMountTest, ReadsContentAndMapsErrors) {
  std::ifstream in(dir_ + "/sub/deep", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "deep");

  struct stat st {};
  EXPECT_NE(::lstat((dir_ + "/missing").c_str(), &st), 0);
  EXPECT_EQ(errno, ENOENT);

  // Damaged data is an I/O error, never bytes.
  int fd = ::open((dir_ + "/damaged.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  char buffer[16];
  EXPECT_EQ(::read(fd, buffer, sizeof buffer), -1);
  EXPECT_EQ(errno, EIO);
  ::close(fd);
  std::lock_guard lock(errors_mu_);
  ASSERT_FALSE(read_errors_.empty());
  EXPECT_EQ(read_errors_[0], "/damaged.bin: the chunk failed authentication");
}

TEST_F(FuseMountTest, RefusesEveryChange) {
  EXPECT_EQ(::open((dir_ + "/good.txt").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open((dir_ + "/new").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(::mkdir((dir_ + "/newdir").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(::unlink((dir_ + "/good.txt").c_str()), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(::chmod((dir_ + "/good.txt").c_str(), 0600), 0);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(FuseMountTest, UnmountEndsServingWithOk) {
  ASSERT_TRUE(UnmountReadOnly(dir_).ok());
  server_.join();
  ASSERT_TRUE(served_.has_value());
  EXPECT_TRUE(served_->ok()) << served_->ToString();
  EXPECT_FALSE(IsMounted(dir_));
}

TEST(FuseMountErrors, AMissingFolderIsNotFound) {
  FakeReadOnlyFileSystem fs;
  Status st = ServeReadOnlyMount(fs, "/nonexistent/obagent-mount-point", {});
  EXPECT_EQ(st.code(), ErrorCode::kNotFound) << st.ToString();
}

}  // namespace
}  // namespace obagent::platform
