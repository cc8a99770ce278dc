#include "posix_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

extern char** environ;

#ifndef O_NOATIME
#define O_NOATIME 0
#endif

namespace obagent::platform::posix {
namespace {

// strerror_r comes in a GNU flavour (returns char*) and an XSI one (returns
// int); accept either.
[[maybe_unused]] const char* PickMessage(const char* gnu_result, const char* /*buf*/) {
  return gnu_result;
}
[[maybe_unused]] const char* PickMessage(int xsi_result, const char* buf) {
  return xsi_result == 0 ? buf : "unknown error";
}

std::string ErrnoText(int err) {
  char buf[256] = {};
  return PickMessage(strerror_r(err, buf, sizeof buf), buf);
}

}  // namespace

uint32_t OsErrorFromErrno(int err) {
  // HRESULT_FROM_WIN32(x) = 0x80070000 | x for the Win32 error x.
  constexpr auto win32 = [](uint32_t code) { return 0x80070000u | code; };
  switch (err) {
    case 0:
      return os_error::kNone;
    case ENOENT:
      return os_error::kFileNotFound;
    case ENOTDIR:  // a component of the path is not a folder
      return os_error::kPathNotFound;
    case EACCES:
    case EPERM:
      return os_error::kAccessDenied;
    // Linux has no mandatory share modes; these are its "in use" answers.
    case EBUSY:
    case ETXTBSY:
      return os_error::kSharingViolation;
    // Sockets, FIFOs without a writer, device nodes without a driver.
    case ENXIO:
    case ENODEV:
    case EOPNOTSUPP:
#if EOPNOTSUPP != ENOTSUP
    case ENOTSUP:
#endif
      return os_error::kNotSupported;
    // What Linux file systems return for damaged metadata (EFSCORRUPTED is
    // EUCLEAN) or a failed checksum.
    case EUCLEAN:
    case EBADMSG:
      return os_error::kFileCorrupt;
    case EIO:
      return os_error::kIoDevice;
    case ENOSPC:
    case EDQUOT:
      return os_error::kDiskFull;
    case EEXIST:
      return win32(183);  // ERROR_ALREADY_EXISTS
    case ENAMETOOLONG:
      return win32(206);  // ERROR_FILENAME_EXCED_RANGE
    case ELOOP:
      return win32(1921);  // ERROR_CANT_RESOLVE_FILENAME
    case EROFS:
      return win32(19);  // ERROR_WRITE_PROTECT
    case EMFILE:
    case ENFILE:
      return win32(4);  // ERROR_TOO_MANY_OPEN_FILES
    case ENOMEM:
      return win32(14);  // ERROR_OUTOFMEMORY
    case EINVAL:
      return win32(87);  // ERROR_INVALID_PARAMETER
    default:
      return os_error::kUnspecified;
  }
}

Status ErrnoStatus(std::string_view op, std::string_view path, int err) {
  std::string detail = std::string(op) + " '" + std::string(path) + "': ";
  std::string text = ErrnoText(err);
  const uint32_t os = OsErrorFromErrno(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return {ErrorCode::kNotFound, detail + text + " (errno " + std::to_string(err) + ")", os};
    case EEXIST:
      return {ErrorCode::kAlreadyExists, detail + text + " (errno " + std::to_string(err) + ")",
              os};
    case ENOSPC:
    case EDQUOT:
      return {ErrorCode::kNoSpace, detail + text + " (errno " + std::to_string(err) + ")", os};
    case EACCES:
    case EPERM:
      return {ErrorCode::kIo,
              detail + "access denied (" + text + ", errno " + std::to_string(err) + ")", os};
    default:
      return {ErrorCode::kIo, detail + text + " (errno " + std::to_string(err) + ")", os};
  }
}

FileKind KindFromMode(mode_t mode) {
  if (S_ISREG(mode)) return FileKind::kRegular;
  if (S_ISDIR(mode)) return FileKind::kDirectory;
  if (S_ISLNK(mode)) return FileKind::kSymlink;
  return FileKind::kOther;
}

FileInfo InfoFromStat(const struct stat& st) {
  FileInfo info;
  info.kind = KindFromMode(st.st_mode);
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  info.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  info.mode = static_cast<uint32_t>(st.st_mode & 07777);
  info.uid = static_cast<uint32_t>(st.st_uid);
  info.gid = static_cast<uint32_t>(st.st_gid);
  info.device = static_cast<uint64_t>(st.st_dev);
  info.inode = static_cast<uint64_t>(st.st_ino);
  info.link_count = static_cast<uint64_t>(st.st_nlink);
  return info;
}

FileInfo InfoFromStatx(const struct statx& stx) {
  FileInfo info;
  info.kind = KindFromMode(stx.stx_mode);
  info.size = stx.stx_size;
  auto ns = [](const struct statx_timestamp& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
  };
  info.mtime_ns = ns(stx.stx_mtime);
  info.ctime_ns = ns(stx.stx_ctime);
  if (stx.stx_mask & STATX_BTIME) info.birth_ns = ns(stx.stx_btime);
  info.mode = static_cast<uint32_t>(stx.stx_mode & 07777);
  info.uid = stx.stx_uid;
  info.gid = stx.stx_gid;
  info.device = static_cast<uint64_t>(makedev(stx.stx_dev_major, stx.stx_dev_minor));
  info.inode = stx.stx_ino;
  info.link_count = stx.stx_nlink;
  return info;
}

void CloseFd(int fd) {
  if (fd >= 0) ::close(fd);
}

Result<pid_t> SpawnProgram(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& env,
                           const posix_spawn_file_actions_t* actions) {
  std::vector<std::string> argv_store{path};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  auto name_of = [](std::string_view var) { return var.substr(0, var.find('=')); };
  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view inherited(*e);
    bool replaced = false;
    for (const std::string& var : env) replaced = replaced || name_of(var) == name_of(inherited);
    if (!replaced) env_store.emplace_back(inherited);
  }
  env_store.insert(env_store.end(), env.begin(), env.end());
  auto pointers = [](std::vector<std::string>& store) {
    std::vector<char*> out;
    for (std::string& s : store) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  };
  std::vector<char*> argv = pointers(argv_store);
  std::vector<char*> envp = pointers(env_store);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), actions, nullptr, argv.data(), envp.data());
  if (rc != 0) return ErrnoStatus("start", path, rc);
  return pid;
}

Result<int> WaitForExit(pid_t pid, const std::string& path) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return ErrnoStatus("wait for", path, errno);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int OpenToRead(int dir_fd, const char* name, int* status_flags) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  int noatime = O_NOATIME;
  int fd = ::openat(dir_fd, name, flags | noatime);
  if (fd < 0 && errno == EPERM && noatime != 0) {
    noatime = 0;  // not the owner
    fd = ::openat(dir_fd, name, flags);
  }
  if (fd >= 0 && status_flags != nullptr) *status_flags = O_NONBLOCK | noatime;
  return fd;
}

namespace {

Status RemoveContents(int dir_fd, const std::string& display) {
  int list_fd = ::dup(dir_fd);
  if (list_fd < 0) return ErrnoStatus("dup", display, errno);
  DIR* dir = ::fdopendir(list_fd);
  if (dir == nullptr) {
    int err = errno;
    CloseFd(list_fd);
    return ErrnoStatus("opendir", display, err);
  }
  ::rewinddir(dir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* ent = ::readdir(dir);
    if (ent == nullptr) {
      int err = errno;
      ::closedir(dir);
      if (err != 0) return ErrnoStatus("readdir", display, err);
      break;
    }
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    names.emplace_back(ent->d_name);
  }
  for (const std::string& name : names) {
    Status st = RemoveTreeAt(dir_fd, name, display + "/" + name);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) return st;
  }
  return Status::Ok();
}

}  // namespace

Status RemoveTreeAt(int dirfd, const std::string& name, const std::string& display) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("stat", display, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(dirfd, name.c_str(), 0) != 0) return ErrnoStatus("remove", display, errno);
    return Status::Ok();
  }
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    // A restored folder may lack owner permissions; grant them to empty it.
    // fchmodat with AT_SYMLINK_NOFOLLOW never follows a swapped-in symlink.
    if (::fchmodat(dirfd, name.c_str(), (st.st_mode & 07777) | 0700, AT_SYMLINK_NOFOLLOW) == 0) {
      fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } else {
      errno = EACCES;
    }
  }
  if (fd < 0) return ErrnoStatus("open folder", display, errno);
  if ((st.st_mode & 0700) != 0700) {
    (void)::fchmod(fd, (st.st_mode & 07777) | 0700);
  }
  Status contents = RemoveContents(fd, display);
  CloseFd(fd);
  if (!contents.ok()) return contents;
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus("remove folder", display, errno);
  }
  return Status::Ok();
}

}  // namespace obagent::platform::posix
