// Linux metadata beyond stat (platform.h FileMetadata): extended attributes
// of every namespace the process can read (POSIX ACLs and file capabilities
// among them, as their xattr bytes), the FS_IOC_GETFLAGS flags, and whether
// a file has holes; read for the backup, applied by the restore. Never
// follows a symlink. A file system without xattrs or flags is no error.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "obagent/core/tree.h"
#include "posix_util.h"

namespace obagent::platform::posix {
namespace {

// What an xattr or flags call answers on a file system (or file type)
// without them.
bool Unsupported(int err) {
  return err == ENOTSUP || err == EOPNOTSUPP || err == ENOTTY || err == ENOSYS || err == EINVAL;
}

// An entry's xattrs are reached through an open descriptor, or through a
// path with the l* calls (symlinks, which cannot be opened for this).
struct XattrTarget {
  int fd = -1;
  std::string path;

  ssize_t List(char* buf, size_t n) const {
    return fd >= 0 ? ::flistxattr(fd, buf, n) : ::llistxattr(path.c_str(), buf, n);
  }
  ssize_t Get(const std::string& name, void* buf, size_t n) const {
    return fd >= 0 ? ::fgetxattr(fd, name.c_str(), buf, n)
                   : ::lgetxattr(path.c_str(), name.c_str(), buf, n);
  }
  int Set(const std::string& name, const Bytes& value) const {
    return fd >= 0 ? ::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0)
                   : ::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
  }
  int Remove(const std::string& name) const {
    return fd >= 0 ? ::fremovexattr(fd, name.c_str()) : ::lremovexattr(path.c_str(), name.c_str());
  }
};

Status ReadXattrs(const XattrTarget& t, const std::string& display,
                  std::vector<ExtendedAttribute>& out) {
  std::string names;
  for (;;) {
    ssize_t n = t.List(nullptr, 0);
    if (n < 0) {
      if (Unsupported(errno)) return Status::Ok();
      return ErrnoStatus("list the extended attributes of", display, errno);
    }
    if (n == 0) return Status::Ok();
    names.assign(static_cast<size_t>(n), '\0');
    ssize_t got = t.List(names.data(), names.size());
    if (got < 0) {
      if (errno == ERANGE) continue;  // grew in between
      return ErrnoStatus("list the extended attributes of", display, errno);
    }
    names.resize(static_cast<size_t>(got));
    break;
  }
  size_t start = 0;
  while (start < names.size()) {
    size_t end = names.find('\0', start);
    if (end == std::string::npos) end = names.size();
    std::string name = names.substr(start, end - start);
    start = end + 1;
    if (name.empty() || name.size() > tree::kMaxXattrNameSize) continue;
    Bytes value;
    bool present = true;
    for (;;) {
      ssize_t n = t.Get(name, nullptr, 0);
      if (n < 0) {
        // Removed in between, or a namespace this process may list but
        // not read: nothing to keep.
        if (errno == ENODATA || errno == EACCES || errno == EPERM || Unsupported(errno)) {
          present = false;
          break;
        }
        return ErrnoStatus("read the extended attribute " + name + " of", display, errno);
      }
      value.resize(static_cast<size_t>(n));
      ssize_t got = t.Get(name, value.data(), value.size());
      if (got < 0) {
        if (errno == ERANGE) continue;
        if (errno == ENODATA) {
          present = false;
          break;
        }
        return ErrnoStatus("read the extended attribute " + name + " of", display, errno);
      }
      value.resize(static_cast<size_t>(got));
      break;
    }
    if (present && value.size() <= tree::kMaxXattrValueSize) {
      out.push_back({std::move(name), std::move(value)});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ExtendedAttribute& a, const ExtendedAttribute& b) { return a.name < b.name; });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const ExtendedAttribute& a, const ExtendedAttribute& b) {
                          return a.name == b.name;
                        }),
            out.end());
  return Status::Ok();
}

// The FS_IOC_GETFLAGS bits; false where the file system has none. (The
// ioctl takes an int, whatever its definition says.)
bool GetFlags(int fd, uint32_t& flags) {
  int value = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &value) != 0) return false;
  flags = static_cast<uint32_t>(value);
  return true;
}

int SetFlags(int fd, uint32_t flags) {
  int value = static_cast<int>(flags);
  return ::ioctl(fd, FS_IOC_SETFLAGS, &value);
}

std::string Reason(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "not permitted for this process (trusted.* and security.* need CAP_SYS_ADMIN, "
             "file flags CAP_LINUX_IMMUTABLE)";
    case ENOTSUP:
    case ENOTTY:
    case ENOSYS:
      return "the target file system does not support them";
    default:
      return std::strerror(err);
  }
}

}  // namespace

Result<FileMetadata> ReadMetadataAt(const std::string& path, const FileInfo& info) {
  FileMetadata md;
  if (info.kind == FileKind::kSymlink) {
    OB_RETURN_IF_ERROR(ReadXattrs({-1, path}, path, md.xattrs));
    return md;
  }
  int fd = OpenToRead(AT_FDCWD, path.c_str());
  if (fd < 0) {
    // Unreadable (not root): what the path gives, no flags.
    if (errno != EACCES) return ErrnoStatus("open", path, errno);
    OB_RETURN_IF_ERROR(ReadXattrs({-1, path}, path, md.xattrs));
    return md;
  }
  struct Closer {
    int fd;
    ~Closer() { CloseFd(fd); }
  } closer{fd};
  return ReadMetadataOfFd(fd, path, info);
}

Result<FileMetadata> ReadMetadataOfFd(int fd, const std::string& path, const FileInfo& info) {
  FileMetadata md;
  OB_RETURN_IF_ERROR(ReadXattrs({fd, ""}, path, md.xattrs));
  uint32_t flags;
  if (GetFlags(fd, flags)) md.linux_flags = flags & tree::kLinuxFlagsKept;
  if (info.kind == FileKind::kRegular) {
    struct stat st;
    // Fewer blocks than the size needs hints at holes (or compression,
    // inline data): SEEK_HOLE tells which.
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size)) {
      off_t hole = ::lseek(fd, 0, SEEK_HOLE);
      md.sparse = hole >= 0 && hole < st.st_size;
    }
  }
  return md;
}

std::vector<MetadataIssue> ApplyMetadataAt(int dir_fd, const std::string& name,
                                           const std::string& display, const FileMetadata& metadata,
                                           bool is_symlink, bool permissions, unsigned inherited) {
  std::vector<MetadataIssue> issues;
  XattrTarget target;
  int own_fd = -1;
  if (name.empty()) {
    target.fd = dir_fd;
  } else {
    if (!is_symlink) own_fd = OpenToRead(dir_fd, name.c_str());
    if (own_fd >= 0) {
      target.fd = own_fd;
    } else {
      // A symlink (or an entry this process cannot open): by path, through
      // the folder's descriptor, the last component not followed.
      target.path = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
    }
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) CloseFd(fd);
    }
  } closer{own_fd};
  auto skipped = [&](const std::string& xattr) {
    return !permissions && (IsAclXattr(xattr) || xattr == "security.capability");
  };
  std::set<std::string> recorded;
  for (const ExtendedAttribute& x : metadata.xattrs) {
    recorded.insert(x.name);
    if (skipped(x.name)) continue;
    if (target.Set(x.name, x.value) != 0) issues.push_back({XattrKind(x.name), Reason(errno)});
  }
  // ACLs the entry got from its folder's default ACL but did not have.
  if (permissions && !is_symlink) {
    for (auto [acl, bit] : {std::pair{"system.posix_acl_access", kInheritsAccessAcl},
                            std::pair{"system.posix_acl_default", kInheritsDefaultAcl}}) {
      if ((inherited & bit) == 0 || recorded.count(acl) != 0) continue;
      if (target.Remove(acl) != 0 && errno != ENODATA && !Unsupported(errno)) {
        issues.push_back({XattrKind(acl), Reason(errno)});
      }
    }
  }
  // Flags last: immutable and append-only stop every change after them.
  if (metadata.linux_flags) {
    const uint32_t want = *metadata.linux_flags & tree::kLinuxFlagsKept;
    const int fd = target.fd;
    uint32_t current = 0;
    if (fd < 0 || !GetFlags(fd, current)) {
      if (want != 0) {
        issues.push_back({"Linux file flags",
                          fd < 0 ? std::string("a symlink cannot hold them") : Reason(errno)});
      }
    } else {
      uint32_t next = (current & ~tree::kLinuxFlagsKept) | want;
      if (next != current && SetFlags(fd, next) != 0) {
        issues.push_back({"Linux file flags", Reason(errno)});
      }
    }
  }
  // A Windows point's descriptors and attributes: Linux has neither (the
  // descriptor is left out too when the restore is without permissions).
  FileMetadata windows;
  if (permissions) windows.win_security = metadata.win_security;
  windows.win_attributes = metadata.win_attributes;
  for (MetadataIssue& issue : MetadataIssuesFor(windows, "this system cannot hold it")) {
    issues.push_back(std::move(issue));
  }
  (void)display;
  return issues;
}

Status ClearProtectionFlagsAt(int dir_fd, const std::string& name, const std::string& display) {
  int fd = name.empty() ? dir_fd : OpenToRead(dir_fd, name.c_str());
  if (fd < 0) return Status::Ok();  // a symlink, or gone: nothing to clear
  struct Closer {
    int fd;
    bool own;
    ~Closer() {
      if (own) CloseFd(fd);
    }
  } closer{fd, !name.empty()};
  uint32_t flags;
  if (!GetFlags(fd, flags) || (flags & tree::kLinuxFlagsProtecting) == 0) return Status::Ok();
  if (SetFlags(fd, flags & ~tree::kLinuxFlagsProtecting) != 0) {
    int err = errno;
    return Status(ErrorCode::kIo,
                  "'" + display +
                      "' is immutable or append-only (chattr +i / +a) and its flags could not be "
                      "cleared to replace it: " +
                      Reason(err),
                  OsErrorFromErrno(err));
  }
  return Status::Ok();
}

}  // namespace obagent::platform::posix
