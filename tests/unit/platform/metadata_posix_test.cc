// Linux metadata through platform::Env::ReadMetadata and
// RestoreDir::ApplyMetadata / ClearProtectionFlags (metadata_posix.cc):
// user xattrs, ACL xattrs, flags, sparse detection; and the same through a
// restored file's handle (WritableFile::FinishRestored). Parts that need
// root or a file system with flags skip with the reason.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/core/tree.h"
#include "obagent/platform.h"

namespace obagent::platform {
namespace {

namespace fs = std::filesystem;

// An access ACL in the kernel's xattr form, as a folder's default ACL would
// give a new entry. user:65534:r-- needs a mask entry: ACL_USER_OBJ,
// ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER.
const uint8_t kAccessAcl[] = {2,    0, 0, 0,                           // version
                              1,    0, 6, 0, 0xff, 0xff, 0xff, 0xff,   // user::rw-
                              2,    0, 4, 0, 0xfe, 0xff, 0,    0,      // user:65534:r--
                              4,    0, 4, 0, 0xff, 0xff, 0xff, 0xff,   // group::r--
                              0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,   // mask::r--
                              0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff};  // other::r--

class MetadataPosixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "obagent-meta-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (!e.is_symlink()) SetFlags(e.path().string(), 0);
    }
    fs::remove_all(dir_);
  }
  std::string Path(const std::string& rel) const { return dir_ + "/" + rel; }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
  }
  static bool SetFlags(const std::string& path, int flags) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return false;
    bool ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    ::close(fd);
    return ok;
  }
  static int GetFlags(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    int flags = -1;
    if (fd >= 0) {
      if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) flags = -1;
      ::close(fd);
    }
    return flags;
  }
  FileMetadata Read(const std::string& rel) {
    Result<FileInfo> info = env_.Lstat(Path(rel));
    EXPECT_TRUE(info.ok());
    Result<FileMetadata> md = env_.ReadMetadata(Path(rel), *info);
    EXPECT_TRUE(md.ok()) << md.status().ToString();
    return md.ok() ? *md : FileMetadata{};
  }

  Env& env_ = Env::Default();
  std::string dir_;
};

TEST_F(MetadataPosixTest, ReadsUserXattrsSortedWithBinaryValues) {
  Write(Path("f"), "x");
  const char bin[] = {'\0', '\xff', 'a'};
  if (::setxattr(Path("f").c_str(), "user.b", bin, sizeof bin, 0) != 0) {
    GTEST_SKIP() << "no user xattrs here: " << std::strerror(errno);
  }
  ASSERT_EQ(::setxattr(Path("f").c_str(), "user.a", "", 0, 0), 0);
  FileMetadata md = Read("f");
  ASSERT_EQ(md.xattrs.size(), 2u);
  EXPECT_EQ(md.xattrs[0].name, "user.a");
  EXPECT_TRUE(md.xattrs[0].value.empty());
  EXPECT_EQ(md.xattrs[1].name, "user.b");
  EXPECT_EQ(md.xattrs[1].value, Bytes({0, 0xff, 'a'}));
  EXPECT_FALSE(md.sparse);
}

TEST_F(MetadataPosixTest, DetectsHolesButNotDenseFiles) {
  Write(Path("dense"), std::string(100000, 'd'));
  {
    int fd = ::open(Path("sparse").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 64 << 20), 0);
    ASSERT_EQ(::pwrite(fd, "data", 4, 32 << 20), 4);
    ::close(fd);
  }
  if (fs::file_size(Path("sparse")) > 0 && ::access(Path("sparse").c_str(), F_OK) == 0) {
    struct stat st;
    ASSERT_EQ(::stat(Path("sparse").c_str(), &st), 0);
    if (st.st_blocks * 512 >= st.st_size) GTEST_SKIP() << "this file system has no holes";
  }
  EXPECT_TRUE(Read("sparse").sparse);
  EXPECT_FALSE(Read("dense").sparse);
}

// A backup reads a regular file's metadata and content through one
// descriptor: the metadata is what ReadMetadata gives, and the content
// still starts at offset 0 after the hole search (SEEK_HOLE moves it).
TEST_F(MetadataPosixTest, OpenWithMetadataReadsMetadataAndTheWholeContent) {
  const std::string head = "head of the file";
  const size_t size = 8 << 20;
  {
    int fd = ::open(Path("f").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
    ASSERT_EQ(::pwrite(fd, "tail", 4, size - 4), 4);
    ::close(fd);
  }
  const bool xattrs = ::setxattr(Path("f").c_str(), "user.k", "v", 1, 0) == 0;
  Result<FileInfo> info = env_.Lstat(Path("f"));
  ASSERT_TRUE(info.ok());
  Result<FileMetadata> by_path = env_.ReadMetadata(Path("f"), *info);
  ASSERT_TRUE(by_path.ok()) << by_path.status().ToString();

  Env::OpenedWithMetadata both = env_.OpenWithMetadata(Path("f"), *info);
  ASSERT_TRUE(both.metadata.ok()) << both.metadata.status().ToString();
  ASSERT_TRUE(both.file.ok()) << both.file.status().ToString();
  EXPECT_EQ(both.metadata->xattrs.size(), xattrs ? 1u : 0u);
  EXPECT_EQ(both.metadata->xattrs.size(), by_path->xattrs.size());
  EXPECT_EQ(both.metadata->linux_flags, by_path->linux_flags);
  EXPECT_EQ(both.metadata->sparse, by_path->sparse);
  std::string content;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    Result<size_t> n = (*both.file)->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    content.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  ASSERT_EQ(content.size(), size);
  EXPECT_EQ(content.substr(0, head.size()), head);
  EXPECT_EQ(content.substr(size - 4), "tail");
  EXPECT_EQ(content.find_first_not_of('\0', head.size()), size - 4);

  Env::OpenedWithMetadata missing = env_.OpenWithMetadata(Path("missing"), *info);
  ASSERT_FALSE(missing.file.ok());
  EXPECT_EQ(missing.file.status().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(missing.metadata.ok());
}

TEST_F(MetadataPosixTest, ApplyRestoresXattrsAndRemovesInheritedAcls) {
  Write(Path("src"), "x");
  if (::setxattr(Path("src").c_str(), "user.k", "v", 1, 0) != 0) {
    GTEST_SKIP() << "no user xattrs here: " << std::strerror(errno);
  }
  FileMetadata md = Read("src");
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("dst", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Close().ok());
  // An ACL the new entry got but the record lacks (as a folder's default
  // ACL would give it): removed. Skipped where ACLs are not supported.
  bool acl_set = ::setxattr(Path("dst").c_str(), "system.posix_acl_access", kAccessAcl,
                            sizeof kAccessAcl, 0) == 0;
  std::vector<MetadataIssue> issues = (*root)->ApplyMetadata("dst", md, false, true);
  EXPECT_TRUE(issues.empty()) << issues[0].kind << ": " << issues[0].reason;
  char value[8] = {};
  ASSERT_EQ(::getxattr(Path("dst").c_str(), "user.k", value, sizeof value), 1);
  EXPECT_EQ(value[0], 'v');
  if (acl_set) {
    EXPECT_LT(::getxattr(Path("dst").c_str(), "system.posix_acl_access", nullptr, 0), 0);
    EXPECT_EQ(errno, ENODATA);
  }
}

// A restored file finished through its handle gets what SetAttributes and
// ApplyMetadata give by name: owner (as root), mode, xattrs, no ACL the
// record lacks, flags, and the mtime last. Immutable or append-only would
// stop the rename that follows: nothing is done, and the caller finishes
// by name.
TEST_F(MetadataPosixTest, FinishRestoredSetsAttributesAndMetadataThroughTheHandle) {
  // A folder with a default ACL: the file created in it inherits an access
  // ACL, which its record lacks.
  const bool acl_set =
      ::setxattr(dir_.c_str(), "system.posix_acl_default", kAccessAcl, sizeof kAccessAcl, 0) == 0;
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("t", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("content")).ok());
  if (acl_set) {
    ASSERT_GT(::getxattr(Path("t").c_str(), "system.posix_acl_access", nullptr, 0), 0);
  }
  FileMetadata md;
  const bool xattrs = ::setxattr(Path("t").c_str(), "user.probe", "", 0, 0) == 0;
  if (xattrs) md.xattrs = {{"user.probe", Bytes{'v'}}};
  const bool flags = GetFlags(Path("t")) >= 0;
  if (flags) md.linux_flags = tree::kLinuxFlagNoDump;
  const bool privileged = ::geteuid() == 0;
  const uint32_t owner = privileged ? 65534 : ::geteuid();
  const int64_t mtime_ns = 1'600'000'000'987'654'321;

  auto done = (*file)->FinishRestored(0604, mtime_ns, owner, owner, &md, true);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->empty()) << (*done)[0].kind << ": " << (*done)[0].reason;
  ASSERT_TRUE((*file)->Close().ok());

  struct stat st;
  ASSERT_EQ(::stat(Path("t").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 987'654'321);
  if (privileged) {
    EXPECT_EQ(st.st_uid, owner);
  }
  if (xattrs) {
    char value[4] = {};
    ASSERT_EQ(::getxattr(Path("t").c_str(), "user.probe", value, sizeof value), 1);
    EXPECT_EQ(value[0], 'v');
  }
  if (acl_set) {
    EXPECT_LT(::getxattr(Path("t").c_str(), "system.posix_acl_access", nullptr, 0), 0);
  }
  if (flags) {
    const int got = GetFlags(Path("t"));
    if (privileged || (got & FS_NODUMP_FL)) {
      EXPECT_TRUE(got & FS_NODUMP_FL);
    }
  }

  auto other = (*root)->CreateFile("u", false);
  ASSERT_TRUE(other.ok());
  FileMetadata fixed;
  fixed.linux_flags = tree::kLinuxFlagImmutable;
  auto refused = (*other)->FinishRestored(0600, mtime_ns, owner, owner, &fixed, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kUnsupported);
  ASSERT_TRUE((*other)->Close().ok());
  ASSERT_EQ(::stat(Path("u").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "created 0600, and left alone";
  EXPECT_NE(st.st_mtim.tv_sec, 1'600'000'000);
  EXPECT_FALSE(GetFlags(Path("u")) > 0 && (GetFlags(Path("u")) & FS_IMMUTABLE_FL));
}

TEST_F(MetadataPosixTest, FlagsAreReadAppliedAndClearedForReplacing) {
  Write(Path("f"), "x");
  if (GetFlags(Path("f")) < 0) GTEST_SKIP() << "no file flags on this file system";
  ASSERT_TRUE(SetFlags(Path("f"), GetFlags(Path("f")) | FS_NODUMP_FL));
  EXPECT_EQ(Read("f").linux_flags.value_or(0) & tree::kLinuxFlagNoDump, tree::kLinuxFlagNoDump);

  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  Write(Path("g"), "y");
  FileMetadata md;
  md.linux_flags = tree::kLinuxFlagImmutable;
  std::vector<MetadataIssue> issues = (*root)->ApplyMetadata("g", md, false, true);
  if (!issues.empty()) GTEST_SKIP() << issues[0].reason;  // not root
  EXPECT_TRUE(GetFlags(Path("g")) & FS_IMMUTABLE_FL);
  EXPECT_NE(::unlink(Path("g").c_str()), 0);  // really immutable
  ASSERT_TRUE((*root)->ClearProtectionFlags("g").ok());
  EXPECT_FALSE(GetFlags(Path("g")) & FS_IMMUTABLE_FL);
  EXPECT_TRUE((*root)->ClearProtectionFlags("missing").ok());
}

TEST(MetadataKinds, NamesAndIssuesPerKind) {
  EXPECT_EQ(XattrKind("system.posix_acl_default"), "POSIX ACLs");
  EXPECT_EQ(XattrKind("security.capability"), "file capabilities");
  EXPECT_EQ(XattrKind("trusted.x"), "trusted extended attributes");
  EXPECT_EQ(XattrKind("user.a.b"), "user extended attributes");
  FileMetadata md;
  md.xattrs = {{"user.a", {}}, {"user.b", {}}, {"system.posix_acl_access", {}}};
  md.linux_flags = 0;  // no flags set: nothing lost
  md.sparse = true;
  std::vector<MetadataIssue> issues = MetadataIssuesFor(md, "why");
  ASSERT_EQ(issues.size(), 3u);  // user xattrs once, ACLs, sparse
  EXPECT_EQ(issues[0].kind, "user extended attributes");
  EXPECT_EQ(issues[1].kind, "POSIX ACLs");
  EXPECT_EQ(issues[2].kind, "sparse files");
}

}  // namespace
}  // namespace obagent::platform
