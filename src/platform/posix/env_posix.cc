// platform::Env for Linux (and other POSIX systems where the Linux-only
// flags are missing).
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "platform/lexical_path.h"
#include "platform/random_suffix.h"
#include "posix_util.h"

namespace obagent::platform {
namespace {

using posix::CloseFd;
using posix::ErrnoStatus;

// Splits "a/b/c" into ("a/b", "c"), "c" into (".", "c"), "/c" into ("/", "c").
// Trailing slashes are ignored.
void SplitParent(std::string path, std::string* dir, std::string* base) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else if (slash == 0) {
    *dir = "/";
    *base = path.substr(1);
  } else {
    *dir = path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

// The piece size of WriteFileAtomicFrom.
constexpr size_t kAtomicWritePiece = 1u << 20;

Status WriteAll(int fd, ByteView data, const std::string& display) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", display, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Writes `data` to `fd`, opened with O_DIRECT, through an aligned bounce
// buffer: O_DIRECT needs the buffer, the file offset and the length aligned
// to the logical block size (4096 covers every Linux block device). The
// last partial block is written padded and the file is then cut to its
// size. Returns 0 or the errno; EINVAL means the file system refuses
// direct I/O of this alignment.
int WriteAllDirect(int fd, ByteView data) {
  constexpr size_t kAlign = 4096;
  constexpr size_t kBounce = size_t{1} << 20;
  void* raw = nullptr;
  if (::posix_memalign(&raw, kAlign, kBounce) != 0) return ENOMEM;
  std::unique_ptr<uint8_t, decltype(&std::free)> bounce(static_cast<uint8_t*>(raw), &std::free);
  size_t done = 0;
  while (done < data.size()) {
    size_t piece = std::min(kBounce, data.size() - done);
    std::memcpy(bounce.get(), data.data() + done, piece);
    size_t padded = (piece + kAlign - 1) / kAlign * kAlign;
    std::memset(bounce.get() + piece, 0, padded - piece);
    size_t written = 0;
    while (written < padded) {
      ssize_t n = ::pwrite(fd, bounce.get() + written, padded - written,
                           static_cast<off_t>(done + written));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return EIO;
      written += static_cast<size_t>(n);
    }
    done += piece;
  }
  return ::ftruncate(fd, static_cast<off_t>(data.size())) == 0 ? 0 : errno;
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open folder", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  CloseFd(fd);
  // Some file systems cannot fsync a folder; the rename still happened.
  if (rc != 0 && err != EINVAL && err != EROFS && err != ENOTSUP) {
    return ErrnoStatus("fsync folder", dir, err);
  }
  return Status::Ok();
}

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixReadableFile() override { CloseFd(fd_); }
  PosixReadableFile(const PosixReadableFile&) = delete;
  PosixReadableFile& operator=(const PosixReadableFile&) = delete;

  // Reads at the file's own position (pread): the descriptor's offset may
  // have been moved by the metadata read (SEEK_HOLE) through the same
  // descriptor. Once a read has met the end, later calls answer 0 without
  // asking the kernel again: a backup reads a small file in one call, and
  // the call that would confirm its end is one syscall per file.
  Result<size_t> Read(uint8_t* buffer, size_t n) override {
    size_t done = 0;
    while (done < n && !at_end_) {
      ssize_t got = ::pread(fd_, buffer + done, n - done, static_cast<off_t>(position_));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read", path_, errno);
      }
      if (got == 0) at_end_ = true;
      done += static_cast<size_t>(got);
      position_ += static_cast<uint64_t>(got);
    }
    return done;
  }

  Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) override {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, buffer + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("read", path_, errno);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    return done;
  }

  Result<FileInfo> Stat() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("stat", path_, errno);
    return posix::InfoFromStat(st);
  }

 private:
  int fd_;
  std::string path_;
  uint64_t position_ = 0;
  bool at_end_ = false;
};

}  // namespace

std::unique_ptr<ReadableFile> posix::NewPosixReadableFile(int fd, std::string path) {
  return std::make_unique<PosixReadableFile>(fd, std::move(path));
}

namespace {

// flock() locks belong to the open file description: closing it (or the
// process dying) releases the lock.
class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  // statx (one call, the birth time included); lstat where the kernel or
  // a seccomp filter refuses statx.
  Result<FileInfo> Lstat(const std::string& path) override {
    struct statx stx;
    if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
                &stx) == 0) {
      return posix::InfoFromStatx(stx);
    }
    if (errno != ENOSYS && errno != EPERM) return ErrnoStatus("stat", path, errno);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return posix::InfoFromStat(st);
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus("open folder", path, errno);
    std::vector<DirEntry> entries;
    for (;;) {
      errno = 0;
      struct dirent* ent = ::readdir(dir);
      if (ent == nullptr) {
        int err = errno;
        if (err != 0) {
          ::closedir(dir);
          return ErrnoStatus("list folder", path, err);
        }
        break;
      }
      if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
      DirEntry entry;
      entry.name = ent->d_name;
      switch (ent->d_type) {
        case DT_REG:
          entry.kind = FileKind::kRegular;
          break;
        case DT_DIR:
          entry.kind = FileKind::kDirectory;
          break;
        case DT_LNK:
          entry.kind = FileKind::kSymlink;
          break;
        case DT_UNKNOWN: {
          struct stat st;
          if (::fstatat(::dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            entry.kind = posix::KindFromMode(st.st_mode);
          } else {
            entry.kind = FileKind::kOther;  // vanished meanwhile
          }
          break;
        }
        default:
          entry.kind = FileKind::kOther;
          break;
      }
      entries.push_back(std::move(entry));
    }
    ::closedir(dir);
    // std::string compares chars as unsigned: bytewise order.
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return entries;
  }

  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override {
    OB_ASSIGN_OR_RETURN(int fd, OpenReadFd(path, /*sequential=*/true));
    return std::unique_ptr<ReadableFile>(std::make_unique<PosixReadableFile>(fd, path));
  }

  Result<FileMetadata> ReadMetadata(const std::string& path, const FileInfo& info) override {
    return posix::ReadMetadataAt(path, info);
  }

  OpenedWithMetadata OpenWithMetadata(const std::string& path, const FileInfo& info) override {
    // The kernel's first read-ahead (128 KiB) already covers a small file.
    Result<int> fd = OpenReadFd(path, /*sequential=*/info.size > 128 * 1024);
    if (!fd.ok()) {
      // Not readable (not root): what the path gives, as ReadMetadata.
      Result<FileMetadata> metadata = posix::ReadMetadataAt(path, info);
      return {std::move(metadata), fd.status()};
    }
    auto file = std::make_unique<PosixReadableFile>(*fd, path);
    Result<FileMetadata> metadata = posix::ReadMetadataOfFd(*fd, path, info);
    return {std::move(metadata), std::unique_ptr<ReadableFile>(std::move(file))};
  }

  Result<std::string> ReadLink(const std::string& path) override {
    std::string buf(256, '\0');
    for (;;) {
      ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
      if (n < 0) return ErrnoStatus("read link", path, errno);
      if (static_cast<size_t>(n) < buf.size()) {
        buf.resize(static_cast<size_t>(n));
        return buf;
      }
      buf.resize(buf.size() * 2);
    }
  }

  Result<DiskSpace> GetDiskSpace(const std::string& path) override {
    struct statvfs vfs;
    if (::statvfs(path.c_str(), &vfs) != 0) return ErrnoStatus("statvfs", path, errno);
    DiskSpace space;
    space.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    space.free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    return space;
  }

  // None of the three applies here. File system compression (btrfs, ZFS) is
  // transparent to the staging files, which are written whole and fsynced;
  // sparseness is a property of single files, never inherited from a folder;
  // and a symlink in place of the scratch folder is already refused by the
  // lstat of CheckScratch (it reads as a moved scratch folder, 0x1FC07).
  Result<ScratchAttributes> ScratchFolderProblems(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    return ScratchAttributes{};
  }

  Result<Bytes> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    Bytes data;
    struct stat st;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      data.reserve(static_cast<size_t>(st.st_size));
    }
    uint8_t chunk[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        CloseFd(fd);
        return ErrnoStatus("read", path, err);
      }
      if (n == 0) break;
      data.insert(data.end(), chunk, chunk + n);
    }
    CloseFd(fd);
    return data;
  }

  Status WriteFileAtomic(const std::string& path, ByteView data, bool owner_only) override {
    return WriteAtomic(path, owner_only,
                       [&](int fd, const std::string& tmp) { return WriteAll(fd, data, tmp); });
  }

  Status WriteFileAtomicUncached(const std::string& path, ByteView data, bool owner_only) override {
    return WriteAtomic(path, owner_only, [&](int fd, const std::string& tmp) -> Status {
      int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_DIRECT) != 0) {
        return WriteAll(fd, data, tmp);  // no direct I/O on this file system (tmpfs)
      }
      int err = WriteAllDirect(fd, data);
      if (err == 0) return Status::Ok();
      // EINVAL: the file system took the flag but refuses the alignment.
      if (err != EINVAL || ::fcntl(fd, F_SETFL, flags) != 0 || ::ftruncate(fd, 0) != 0) {
        return ErrnoStatus("write", tmp, err);
      }
      return WriteAll(fd, data, tmp);
    });
  }

  Status WriteFileAtomicFrom(const std::string& path, const ContentReader& read,
                             bool owner_only) override {
    return WriteAtomic(path, owner_only, [&](int fd, const std::string& tmp) -> Status {
      Bytes piece(kAtomicWritePiece);
      for (;;) {
        OB_ASSIGN_OR_RETURN(size_t got, read(piece.data(), piece.size()));
        if (got == 0) return Status::Ok();
        OB_RETURN_IF_ERROR(WriteAll(fd, ByteView(piece).first(std::min(got, piece.size())), tmp));
      }
    });
  }

  // Temp file beside `path`, `write` fills it, fsync, rename, fsync of the
  // folder; the temp file is removed on any failure.
  Status WriteAtomic(const std::string& path, bool owner_only,
                     const std::function<Status(int fd, const std::string& tmp)>& write) {
    std::string dir, base;
    SplitParent(path, &dir, &base);
    if (base.empty() || base == "." || base == "..") {
      return InvalidArgument("not a file path: '" + path + "'");
    }
    std::string dir_prefix = dir == "/" ? "/" : dir + "/";
    // Keep the temporary name within NAME_MAX.
    std::string stem = base.substr(0, 64);
    mode_t mode = owner_only ? 0600 : 0644;
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
      tmp = dir_prefix + std::string(posix::kTempPrefix) + stem + "-" +
            RandomSuffix(static_cast<uint64_t>(::getpid()));
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0 && errno != EEXIST) return ErrnoStatus("create", tmp, errno);
    }
    if (fd < 0) return ErrnoStatus("create", tmp, EEXIST);
    auto fail = [&](Status st) {
      CloseFd(fd);
      ::unlink(tmp.c_str());
      return st;
    };
    if (owner_only && ::fchmod(fd, 0600) != 0) return fail(ErrnoStatus("chmod", tmp, errno));
    Status st = write(fd, tmp);
    if (!st.ok()) return fail(st);
    if (::fsync(fd) != 0) return fail(ErrnoStatus("fsync", tmp, errno));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) return fail(ErrnoStatus("close", tmp, errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoStatus("rename", path, errno));
    return FsyncDir(dir);
  }

  Status CreateDirs(const std::string& path, bool owner_only) override {
    if (path.empty()) return InvalidArgument("empty folder path");
    std::string prefix;
    size_t i = 0;
    if (path[0] == '/') {
      prefix = "/";
      i = 1;
    }
    std::vector<std::string> prefixes;
    while (i < path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      if (j > i) {
        if (!prefix.empty() && prefix.back() != '/') prefix += '/';
        prefix += path.substr(i, j - i);
        prefixes.push_back(prefix);
      }
      i = j + 1;
    }
    if (prefixes.empty()) return Status::Ok();  // "/"
    for (size_t k = 0; k < prefixes.size(); ++k) {
      const std::string& p = prefixes[k];
      bool last = k + 1 == prefixes.size();
      mode_t mode = (last && owner_only) ? 0700 : 0755;
      if (::mkdir(p.c_str(), mode) == 0) continue;
      int err = errno;
      struct stat st;
      if (::stat(p.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) continue;
        return {ErrorCode::kAlreadyExists, "create folder '" + p + "': exists and is not a folder"};
      }
      return ErrnoStatus("create folder", p, err);
    }
    if (owner_only && ::chmod(prefixes.back().c_str(), 0700) != 0) {
      return ErrnoStatus("chmod", prefixes.back(), errno);
    }
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("remove", path, errno);
    return Status::Ok();
  }

  Status MoveFileReplacing(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      if (errno == EXDEV) {
        return Status(ErrorCode::kUnsupported,
                      "'" + from + "' and '" + to + "' are on different file systems");
      }
      return ErrnoStatus("rename", to, errno);
    }
    std::string dir, base;
    SplitParent(to, &dir, &base);
    return FsyncDir(dir);
  }

  // link() fails with EEXIST instead of replacing, on every POSIX file
  // system (renameat2's RENAME_NOREPLACE is Linux-only and not on all of
  // them); the temporary name is then unlinked.
  Status MoveFileNoReplace(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) != 0) {
      int err = errno;
      if (err == EEXIST) {
        return Status(ErrorCode::kAlreadyExists, "'" + to + "' exists already");
      }
      if (err == EXDEV) {
        return Status(ErrorCode::kUnsupported,
                      "'" + from + "' and '" + to + "' are on different file systems");
      }
      return ErrnoStatus("link", to, err);
    }
    (void)::unlink(from.c_str());
    std::string dir, base;
    SplitParent(to, &dir, &base);
    return FsyncDir(dir);
  }

  Status RemoveAll(const std::string& path) override {
    std::string dir, base;
    SplitParent(path, &dir, &base);
    if (base.empty() || base == "." || base == ".." || base == "/") {
      return InvalidArgument("refusing to remove '" + path + "'");
    }
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("open folder", dir, errno);
    }
    Status st = posix::RemoveTreeAt(dir_fd, base, path);
    CloseFd(dir_fd);
    if (st.code() == ErrorCode::kNotFound) return Status::Ok();
    return st;
  }

  bool Exists(const std::string& path) override {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
  }

  std::string Hostname() override {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
  }

  Result<std::string> AbsolutePath(const std::string& path) override {
    if (path.empty()) return InvalidArgument("empty path");
    std::string full;
    if (path[0] == '/') {
      full = path;
    } else {
      std::string cwd(256, '\0');
      while (::getcwd(cwd.data(), cwd.size()) == nullptr) {
        if (errno != ERANGE) return ErrnoStatus("getcwd", ".", errno);
        cwd.resize(cwd.size() * 2);
      }
      cwd.resize(std::strlen(cwd.c_str()));
      full = cwd + "/" + path;
    }
    return ResolveDotsLexically("", full);
  }

  Result<std::unique_ptr<RestoreDir>> OpenRestoreRoot(const std::string& path,
                                                      bool create) override {
    if (create) OB_RETURN_IF_ERROR(CreateDirs(path, false));
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("open restore folder", path, errno);
    return posix::NewPosixRestoreDir(fd, path);
  }

  std::vector<std::string> FileSystemRoots() override { return {"/"}; }

  std::string DefaultStateDir() override {
    const char* configured = std::getenv("OBAGENT_STATE_DIR");
    if (configured != nullptr && *configured != '\0') return configured;
    if (::geteuid() == 0) return "/var/lib/obagent";
    const char* xdg = std::getenv("XDG_DATA_HOME");
    if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/obagent";
    return HomeDir() + "/.local/share/obagent";
  }

  bool IsTerminal(int fd) override { return ::isatty(fd) == 1; }

  Result<std::unique_ptr<FileLock>> TryLockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return ErrnoStatus("open lock file", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return Status(ErrorCode::kAlreadyExists, "'" + path + "' is locked by another process");
      }
      return ErrnoStatus("lock", path, err);
    }
    return std::unique_ptr<FileLock>(std::make_unique<PosixFileLock>(fd));
  }

  int64_t ProcessId() override { return ::getpid(); }

  Result<int> RunProgram(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env) override {
    OB_ASSIGN_OR_RETURN(pid_t pid, posix::SpawnProgram(path, args, extra_env, nullptr));
    return posix::WaitForExit(pid, path);
  }

  bool OnlyThisAccountCanChange(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return false;
    return S_ISREG(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
  }

  bool ProcessAlive(int64_t pid) override {
    if (pid <= 0) return false;
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
  }

  std::string ExecutablePath() override {
    std::vector<char> buf(4096);
    ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<size_t>(n)) : std::string();
  }

  std::string LocalApiAddress(const std::string& state_dir) override {
    return state_dir + "/cbengine.sock";
  }

  Result<std::unique_ptr<LocalListener>> ListenLocal(const std::string& address) override {
    return posix::ListenUnixSocket(address);
  }

  Result<std::unique_ptr<LocalConnection>> ConnectLocal(const std::string& address) override {
    return posix::ConnectUnixSocket(address);
  }

  Result<std::string> RegisterBackupSchedule(const OsScheduleDefinition& definition) override {
    OB_RETURN_IF_ERROR(posix::RegisterSystemdSchedule(*this, definition));
    return std::string("systemd");
  }

  Status UnregisterBackupSchedule(const OsScheduleDefinition& definition) override {
    return posix::UnregisterSystemdSchedule(*this, definition);
  }

  int RunService(const std::string& /*name: systemd names the unit, not us*/,
                 bool /*service_manager: systemd runs us in the foreground*/,
                 const std::function<int(ServiceContext&)>& body) override {
    return posix::RunPosixService(body);
  }

  void PreferReturningLargeBuffers() override {
#ifdef __GLIBC__
    // A fixed threshold also stops glibc from raising it dynamically after
    // the first large free, which is what makes freed chunks pile up.
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
    // Each heap keeps 1 MiB free at its top when it shrinks (128 KiB by
    // default). Buffers of a few hundred KiB made and freed per request
    // (cpprestsdk's receive buffer) then reuse pages instead of faulting
    // in fresh ones every time: a restore through vaultd took 33,000
    // page faults instead of 44,000.
    ::mallopt(M_TOP_PAD, 1 << 20);
#endif
  }

 private:
  // A descriptor for reading `path`: no final symlink followed, no atime
  // update where the OS allows; `sequential`: the larger read-ahead of
  // POSIX_FADV_SEQUENTIAL.
  static Result<int> OpenReadFd(const std::string& path, bool sequential) {
    int status_flags = 0;
    int fd = posix::OpenToRead(AT_FDCWD, path.c_str(), &status_flags);
    if (fd < 0) return ErrnoStatus("open", path, errno);
    // The content is read blocking: F_SETFL sets all of the status flags it
    // can change, so it is given those the file was opened with, less
    // O_NONBLOCK.
    (void)::fcntl(fd, F_SETFL, status_flags & ~O_NONBLOCK);
#ifdef POSIX_FADV_SEQUENTIAL
    if (sequential) (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    return fd;
  }

  static std::string HomeDir() {
    const char* home = std::getenv("HOME");
    if (home != nullptr && *home != '\0') return home;
    std::vector<char> buf(16384);
    struct passwd pw;
    struct passwd* found = nullptr;
    if (::getpwuid_r(::geteuid(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
        found->pw_dir != nullptr) {
      return found->pw_dir;
    }
    return "";  // "/.local/share/obagent": fails visibly rather than guessing
  }
};

}  // namespace

Env& Env::Default() {
  static PosixEnv env;  // stateless: safe to use until exit
  return env;
}

}  // namespace obagent::platform
