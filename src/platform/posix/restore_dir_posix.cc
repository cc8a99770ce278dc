// platform::RestoreDir for POSIX: every operation is an *at() call relative
// to an open folder descriptor and never follows a symlink.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <string>

#include "obagent/core/tree.h"
#include "obagent/platform.h"
#include "posix_util.h"

namespace obagent::platform::posix {
namespace {

// fchmodat2's number: the same on every architecture (added in Linux 6.6,
// after the headers of Debian 12).
#ifdef SYS_fchmodat2
constexpr long kSysFchmodat2 = SYS_fchmodat2;
#else
constexpr long kSysFchmodat2 = 452;
#endif

// A single path component that cannot leave the folder: the tree format's
// own rule (tree::IsSafeName), which is exactly what Linux allows in one
// component, so every name a recovery point holds is created as it is
// (backslashes, newlines, bytes that are not UTF-8 included).
Status CheckName(std::string_view name) {
  if (!tree::IsSafeName(name)) {
    std::string shown;
    for (char c : name) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    return {ErrorCode::kPathEscape, "unsafe name '" + shown + "' in a restore folder"};
  }
  return Status::Ok();
}

// The process's umask, read without changing it (umask(2) can only set it,
// which would race with other threads creating files): Linux reports it in
// /proc/self/status since 4.7; 022 where it does not.
mode_t ProcessUmask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("Umask:"))
      return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
  }
  return 022;
}

// Whether this process may give entries to their recorded owners. Asked
// once: the effective user of a process does not change while it restores
// (nothing in obagent calls seteuid), and a restore asks for every file.
bool MayChown() {
  static const bool root = ::geteuid() == 0;
  return root;
}

// What a new entry of this kind gets from open(2) or mkdir(2).
mode_t DefaultMode(bool directory) { return (directory ? 0777 : 0666) & ~ProcessUmask() & 07777; }

struct timespec ToTimespec(int64_t ns) {
  struct timespec ts;
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  ts.tv_sec = static_cast<time_t>(sec);
  ts.tv_nsec = static_cast<long>(rem);
  return ts;
}

// The owner (when privileged) and permissions of an open entry: what
// SetAttributes and SetOwnAttributes do before the times. The owner first:
// chown clears the set-user-ID and set-group-ID bits. kDefaultPermissions:
// the permissions a new entry gets here, the owner as created.
Status SetOwnerAndModeOfFd(int fd, const std::string& display, uint32_t mode, uint32_t uid,
                           uint32_t gid, bool directory) {
  const bool keep_owner = mode == kDefaultPermissions;
  if (keep_owner) mode = DefaultMode(directory);
  if (!keep_owner && MayChown() &&
      ::fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0 && errno != EPERM &&
      errno != EINVAL) {
    return ErrnoStatus("chown", display, errno);
  }
  if (::fchmod(fd, static_cast<mode_t>(mode & 07777)) != 0) {
    return ErrnoStatus("chmod", display, errno);
  }
  return Status::Ok();
}

Status SetTimesOfFd(int fd, const std::string& display, int64_t mtime_ns) {
  struct timespec times[2];
  times[0] = ToTimespec(mtime_ns);
  times[1] = times[0];
  if (::futimens(fd, times) != 0) return ErrnoStatus("set times of", display, errno);
  return Status::Ok();
}

class PosixWritableFile final : public WritableFile {
 public:
  // `inherited`: the ACLs the file can have got from its folder
  // (InheritedAcl), which FinishRestored removes unless recorded.
  PosixWritableFile(int fd, std::string display, unsigned inherited = kInheritsAccessAcl)
      : fd_(fd), display_(std::move(display)), inherited_(inherited) {}
  ~PosixWritableFile() override { CloseFd(fd_); }
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  Status WriteAt(uint64_t offset, ByteView data) override {
    if (fd_ < 0) return InternalError("write to closed file '" + display_ + "'");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", display_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    if (fd_ < 0) return InternalError("truncate of closed file '" + display_ + "'");
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return ErrnoStatus("truncate", display_, errno);
    }
    return Status::Ok();
  }

  Result<std::vector<MetadataIssue>> FinishRestored(uint32_t mode, int64_t mtime_ns, uint32_t uid,
                                                    uint32_t gid, const FileMetadata* metadata,
                                                    bool permissions) override {
    if (fd_ < 0) return InternalError("finishing closed file '" + display_ + "'");
    if (metadata != nullptr && metadata->linux_flags &&
        (*metadata->linux_flags & tree::kLinuxFlagsProtecting)) {
      return Status(ErrorCode::kUnsupported, "immutable or append-only: set after the rename");
    }
    OB_RETURN_IF_ERROR(SetOwnerAndModeOfFd(fd_, display_, mode, uid, gid, false));
    std::vector<MetadataIssue> issues;
    if (metadata != nullptr) {
      issues = ApplyMetadataAt(fd_, "", display_, *metadata, false, permissions, inherited_);
    }
    OB_RETURN_IF_ERROR(SetTimesOfFd(fd_, display_, mtime_ns));
    return issues;
  }

  Status Sync() override {
    if (fd_ < 0) return InternalError("sync of closed file '" + display_ + "'");
    if (::fsync(fd_) != 0) return ErrnoStatus("fsync", display_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0 && errno != EINTR) return ErrnoStatus("close", display_, errno);
    return Status::Ok();
  }

 private:
  int fd_;
  std::string display_;
  unsigned inherited_;
};

class PosixRestoreDir final : public RestoreDir {
 public:
  PosixRestoreDir(int fd, std::string display) : fd_(fd), display_(std::move(display)) {}
  ~PosixRestoreDir() override { CloseFd(fd_); }
  PosixRestoreDir(const PosixRestoreDir&) = delete;
  PosixRestoreDir& operator=(const PosixRestoreDir&) = delete;

  int fd() const { return fd_; }

  Result<FileKind> Probe(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    struct stat st;
    if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("stat", Show(n), errno);
    }
    return KindFromMode(st.st_mode);
  }

  Result<std::unique_ptr<RestoreDir>> OpenOrCreateSubdir(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    // mkdirat never follows a symlink in the last component (EEXIST instead).
    if (::mkdirat(fd_, n.c_str(), 0700) != 0 && errno != EEXIST) {
      return ErrnoStatus("create folder", Show(n), errno);
    }
    int fd = ::openat(fd_, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == ELOOP || err == ENOTDIR) {
        return Status(ErrorCode::kAlreadyExists,
                      "'" + Show(n) + "' exists and is not a folder (a file or symlink)");
      }
      return ErrnoStatus("open folder", Show(n), err);
    }
    return std::unique_ptr<RestoreDir>(std::make_unique<PosixRestoreDir>(fd, Show(n)));
  }

  Result<std::unique_ptr<WritableFile>> CreateFile(std::string_view name, bool replace) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    for (int attempt = 0; attempt < 4; ++attempt) {
      int fd = ::openat(fd_, n.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) {
        return std::unique_ptr<WritableFile>(
            std::make_unique<PosixWritableFile>(fd, Show(n), FileInherits()));
      }
      if (errno != EEXIST || !replace) return ErrnoStatus("create", Show(n), errno);
      OB_RETURN_IF_ERROR(RemoveNonDirectory(n));
    }
    return ErrnoStatus("create", Show(n), EEXIST);
  }

  Result<std::unique_ptr<WritableFile>> OpenForWrite(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    OB_ASSIGN_OR_RETURN(int fd, OpenRegular(n, O_WRONLY));
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(fd, Show(n), FileInherits()));
  }

  Result<std::unique_ptr<ReadableFile>> OpenForRead(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    OB_ASSIGN_OR_RETURN(int fd, OpenRegular(n, O_RDONLY));
    return NewPosixReadableFile(fd, Show(n));
  }

  Result<std::vector<DirEntry>> List() override {
    int fd = ::openat(fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("list folder", display_, errno);
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      int err = errno;
      CloseFd(fd);
      return ErrnoStatus("list folder", display_, err);
    }
    std::vector<DirEntry> out;
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      FileKind kind = e->d_type == DT_DIR   ? FileKind::kDirectory
                      : e->d_type == DT_REG ? FileKind::kRegular
                      : e->d_type == DT_LNK ? FileKind::kSymlink
                                            : FileKind::kOther;
      out.push_back({std::string(n), kind});
    }
    int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus("list folder", display_, err);
    return out;
  }

  Status CreateSymlink(std::string_view name, std::string_view target, bool replace) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    if (target.empty() || target.find('\0') != std::string_view::npos) {
      return InvalidArgument("invalid symlink target for '" + Show(std::string(name)) + "'");
    }
    std::string n(name);
    std::string t(target);
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (::symlinkat(t.c_str(), fd_, n.c_str()) == 0) return Status::Ok();
      if (errno != EEXIST || !replace) return ErrnoStatus("create symlink", Show(n), errno);
      OB_RETURN_IF_ERROR(RemoveNonDirectory(n));
    }
    return ErrnoStatus("create symlink", Show(n), EEXIST);
  }

  Status CreateHardLink(std::string_view name, RestoreDir& existing_dir,
                        std::string_view existing_name, bool replace) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_RETURN_IF_ERROR(CheckName(existing_name));
    auto* other = dynamic_cast<PosixRestoreDir*>(&existing_dir);
    if (other == nullptr) return InvalidArgument("hard link across restore folder types");
    std::string n(name);
    std::string e(existing_name);
    if (n == e && SameFolder(*other)) {
      return InvalidArgument("hard link of '" + Show(n) + "' onto itself");
    }
    for (int attempt = 0; attempt < 4; ++attempt) {
      // Flags 0: a symlink named existing_name is linked itself, not followed.
      if (::linkat(other->fd_, e.c_str(), fd_, n.c_str(), 0) == 0) return Status::Ok();
      if (errno != EEXIST || !replace) {
        return ErrnoStatus("hard link " + other->Show(e) + " as", Show(n), errno);
      }
      OB_RETURN_IF_ERROR(RemoveNonDirectory(n));
    }
    return ErrnoStatus("hard link", Show(n), EEXIST);
  }

  // Renames an entry of this folder, atomically replacing a file or symlink
  // at `to` (the entry itself, never what a symlink points to); a folder at
  // `to` yields kAlreadyExists.
  Status Rename(std::string_view from, std::string_view to) override {
    OB_RETURN_IF_ERROR(CheckName(from));
    OB_RETURN_IF_ERROR(CheckName(to));
    std::string f(from);
    std::string t(to);
    if (::renameat(fd_, f.c_str(), fd_, t.c_str()) != 0) {
      int err = errno;
      Status st = ErrnoStatus("rename '" + Show(f) + "' to", Show(t), err);
      if (err == EISDIR || err == ENOTDIR || err == ENOTEMPTY || err == EEXIST) {
        return {ErrorCode::kAlreadyExists, st.detail()};
      }
      return st;
    }
    return Status::Ok();
  }

  Status Remove(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    return RemoveTreeAt(fd_, n, Show(n));
  }

  Status SetAttributes(std::string_view name, uint32_t mode, int64_t mtime_ns, uint32_t uid,
                       uint32_t gid, bool is_symlink) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    if (mode == kDefaultPermissions) {
      if (!is_symlink) {
        struct stat st;
        if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return ErrnoStatus("stat", Show(n), errno);
        }
        if (!S_ISLNK(st.st_mode)) {
          OB_RETURN_IF_ERROR(ChmodNoFollow(n, DefaultMode(S_ISDIR(st.st_mode))));
        }
      }
      return SetTimes(n, mtime_ns, is_symlink);
    }
    // Owner first: chown clears the set-user-ID and set-group-ID bits.
    if (MayChown() &&
        ::fchownat(fd_, n.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                   AT_SYMLINK_NOFOLLOW) != 0 &&
        errno != EPERM && errno != EINVAL) {
      return ErrnoStatus("chown", Show(n), errno);
    }
    if (!is_symlink) OB_RETURN_IF_ERROR(ChmodNoFollow(n, static_cast<mode_t>(mode & 07777)));
    return SetTimes(n, mtime_ns, is_symlink);
  }

  Status SetOwnAttributes(uint32_t mode, int64_t mtime_ns, uint32_t uid, uint32_t gid) override {
    OB_RETURN_IF_ERROR(SetOwnerAndModeOfFd(fd_, display_, mode, uid, gid, true));
    return SetTimesOfFd(fd_, display_, mtime_ns);
  }

  Status SyncFileSystem() override {
    if (::syncfs(fd_) != 0) return ErrnoStatus("write to disk the file system of", display_, errno);
    return Status::Ok();
  }

  std::vector<MetadataIssue> ApplyMetadata(std::string_view name, const FileMetadata& metadata,
                                           bool is_symlink, bool permissions) override {
    if (!CheckName(name).ok()) return {{"metadata", "unsafe name"}};
    std::string n(name);
    return ApplyMetadataAt(fd_, n, Show(n), metadata, is_symlink, permissions);
  }

  std::vector<MetadataIssue> ApplyOwnMetadata(const FileMetadata& metadata,
                                              bool permissions) override {
    return ApplyMetadataAt(fd_, "", display_, metadata, false, permissions);
  }

  Status ClearProtectionFlags(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    std::string n(name);
    return ClearProtectionFlagsAt(fd_, n, Show(n));
  }

 private:
  std::string Show(const std::string& name) const {
    if (display_.empty()) return name;
    if (display_.back() == '/') return display_ + name;
    return display_ + "/" + name;
  }

  // Opens an existing regular file of this folder without following a
  // symlink and without blocking on a FIFO swapped in.
  Result<int> OpenRegular(const std::string& n, int access) {
    int fd = ::openat(fd_, n.c_str(), access | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open", Show(n), errno);
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      CloseFd(fd);
      return Status(ErrorCode::kAlreadyExists, "'" + Show(n) + "' is not a regular file");
    }
    // Back to blocking: F_SETFL sets the status flags it changes (O_APPEND,
    // O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK), and none of them but
    // O_NONBLOCK was asked for above.
    (void)::fcntl(fd, F_SETFL, 0);
    return fd;
  }

  bool SameFolder(const PosixRestoreDir& other) const {
    struct stat a, b;
    if (::fstat(fd_, &a) != 0 || ::fstat(other.fd_, &b) != 0) return &other == this;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }

  // Unlinks a file or symlink so it can be replaced; a folder stays and
  // yields kAlreadyExists.
  Status RemoveNonDirectory(const std::string& n) {
    struct stat st;
    if (::fstatat(fd_, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("stat", Show(n), errno);
    }
    if (S_ISDIR(st.st_mode)) {
      return {ErrorCode::kAlreadyExists, "'" + Show(n) + "' exists and is a folder"};
    }
    if (::unlinkat(fd_, n.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("remove", Show(n), errno);
    }
    return Status::Ok();
  }

  Status SetTimes(const std::string& n, int64_t mtime_ns, bool is_symlink) {
    struct timespec times[2];
    times[0] = ToTimespec(mtime_ns);
    times[1] = times[0];
    if (::utimensat(fd_, n.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      int err = errno;
      if (is_symlink && (err == EOPNOTSUPP || err == ENOTSUP)) return Status::Ok();
      return ErrnoStatus("set times of", Show(n), err);
    }
    return Status::Ok();
  }

  // chmod that leaves a symlink (and whatever it points to) untouched.
  Status ChmodNoFollow(const std::string& n, mode_t mode) {
    // fchmodat2 (Linux 6.6) takes AT_SYMLINK_NOFOLLOW itself: one system
    // call, where the C library's fchmodat emulates the flag with an O_PATH
    // open, a stat, a chmod through /proc/self/fd and a close: four calls
    // and a procfs lookup for every restored file. Any failure is left to
    // the path below, which reports it.
    static std::atomic<bool> have_fchmodat2{true};
    if (have_fchmodat2.load(std::memory_order_relaxed)) {
      if (::syscall(kSysFchmodat2, fd_, n.c_str(), mode, AT_SYMLINK_NOFOLLOW) == 0) {
        return Status::Ok();
      }
      if (errno == ENOSYS) have_fchmodat2.store(false, std::memory_order_relaxed);
    }
    if (::fchmodat(fd_, n.c_str(), mode, AT_SYMLINK_NOFOLLOW) == 0) return Status::Ok();
    int err = errno;
    if (err != EOPNOTSUPP && err != ENOTSUP) return ErrnoStatus("chmod", Show(n), err);
    // The C library refuses for a symlink, or cannot emulate the flag
    // (no /proc): open the entry without following it and fchmod that.
    int fd = ::openat(fd_, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ELOOP) return Status::Ok();  // a symlink: permissions do not apply
      return ErrnoStatus("chmod", Show(n), errno);
    }
    int rc = ::fchmod(fd, mode);
    err = errno;
    CloseFd(fd);
    if (rc != 0) return ErrnoStatus("chmod", Show(n), err);
    return Status::Ok();
  }

  // What a file created here can inherit (InheritedAcl): its access ACL
  // from this folder's default ACL, if it has one. Asked once per folder
  // (any thread); the restore applies a folder's own ACLs only after its
  // files. Where it cannot be told, assume one.
  unsigned FileInherits() {
    int known = has_default_acl_.load(std::memory_order_relaxed);
    if (known < 0) {
      ssize_t n = ::fgetxattr(fd_, "system.posix_acl_default", nullptr, 0);
      known = n < 0 && (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP) ? 0 : 1;
      has_default_acl_.store(known, std::memory_order_relaxed);
    }
    return known != 0 ? kInheritsAccessAcl : kInheritsNoAcl;
  }

  int fd_;
  std::string display_;
  std::atomic<int> has_default_acl_{-1};  // -1 not asked yet, 0 no, 1 yes
};

}  // namespace

std::unique_ptr<RestoreDir> NewPosixRestoreDir(int dir_fd, std::string display) {
  return std::make_unique<PosixRestoreDir>(dir_fd, std::move(display));
}

std::unique_ptr<WritableFile> NewPosixWritableFile(int fd, std::string display) {
  return std::make_unique<PosixWritableFile>(fd, std::move(display));
}

}  // namespace obagent::platform::posix

namespace obagent::platform {

// Linux holds every name a recovery point can store (tree::IsSafeName).
std::string HostableName(std::string_view name) { return std::string(name); }

// Linux folders tell every byte apart.
std::string NameKey(std::string_view name) { return std::string(name); }

}  // namespace obagent::platform
