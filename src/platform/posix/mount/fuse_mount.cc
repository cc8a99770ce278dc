// ServeReadOnlyMount with libfuse3's high-level (path-based) API. The kernel
// refuses writes itself (the mount is "ro": EROFS); the file system only
// answers lookups, listings, link targets and reads.
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include "obagent/platform_mount.h"
#include "platform/posix/posix_util.h"

namespace obagent::platform {
namespace {

// What the callbacks reach through fuse_get_context()->private_data.
struct Served {
  ReadOnlyFileSystem& fs;
  const MountOptions& options;
  std::atomic<int> open_folders{0};
};

Served& Context() { return *static_cast<Served*>(fuse_get_context()->private_data); }
ReadOnlyFileSystem& FileSystem() { return Context().fs; }

// The errno a FUSE answer carries for a Status.
int ErrnoOf(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kNotFound:
      return ENOENT;
    case ErrorCode::kInvalidArgument:
      return EINVAL;
    case ErrorCode::kUnsupported:
      return ENOTSUP;
    case ErrorCode::kServiceUnreachable:
      return EHOSTUNREACH;
    default:
      return EIO;  // corrupt data, a failed fetch: the read fails, it never returns wrong bytes
  }
}

mode_t TypeBits(FileKind kind) {
  switch (kind) {
    case FileKind::kRegular:
      return S_IFREG;
    case FileKind::kDirectory:
      return S_IFDIR;
    case FileKind::kSymlink:
      return S_IFLNK;
    case FileKind::kOther:
      break;
  }
  return S_IFREG;
}

timespec ToTimespec(int64_t ns) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  if (ts.tv_nsec < 0) {  // before 1970
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

void FillStat(const FileInfo& info, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_mode = TypeBits(info.kind) | (info.mode & 07777);
  st->st_nlink = static_cast<nlink_t>(info.link_count);
  st->st_size = static_cast<off_t>(info.size);
  st->st_blksize = 128 * 1024;
  st->st_blocks = static_cast<blkcnt_t>((info.size + 511) / 512);
  st->st_uid = info.uid;
  st->st_gid = info.gid;
  st->st_ino = info.inode;
  st->st_mtim = ToTimespec(info.mtime_ns);
  st->st_ctim = ToTimespec(info.ctime_ns);
  st->st_atim = st->st_mtim;
}

int GetAttr(const char* path, struct stat* st, fuse_file_info*) {
  Result<FileInfo> info = FileSystem().Stat(path);
  if (!info.ok()) return -ErrnoOf(info.status());
  FillStat(*info, st);
  return 0;
}

int ReadLinkOp(const char* path, char* buffer, size_t size) {
  Result<std::string> target = FileSystem().ReadLink(path);
  if (!target.ok()) return -ErrnoOf(target.status());
  if (size == 0) return -EINVAL;
  // FUSE wants it NUL-terminated, truncated to the buffer.
  size_t n = std::min(target->size(), size - 1);
  std::memcpy(buffer, target->data(), n);
  buffer[n] = '\0';
  return 0;
}

int Open(const char* path, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  Result<FileInfo> info = FileSystem().Stat(path);
  if (!info.ok()) return -ErrnoOf(info.status());
  if (info->kind == FileKind::kDirectory) return -EISDIR;
  // The content never changes while mounted: let the kernel cache it.
  fi->keep_cache = 1;
  return 0;
}

int ReadOp(const char* path, char* buffer, size_t size, off_t offset, fuse_file_info*) {
  if (offset < 0) return -EINVAL;
  Result<size_t> n = FileSystem().Read(path, static_cast<uint64_t>(offset),
                                       reinterpret_cast<uint8_t*>(buffer), size);
  if (!n.ok()) {
    // The file was opened, so whatever failed (a damaged or missing chunk,
    // the vault out of reach) is an I/O error to the reader.
    if (Context().options.on_read_error) Context().options.on_read_error(path, n.status());
    return -EIO;
  }
  return static_cast<int>(*n);
}

// Counted for MountOptions::on_open_folders; libfuse keeps the handle.
void FoldersChanged(int delta) {
  Served& served = Context();
  int now = served.open_folders.fetch_add(delta) + delta;
  if (served.options.on_open_folders) served.options.on_open_folders(now);
}

int OpenDir(const char*, fuse_file_info*) {
  FoldersChanged(1);
  return 0;
}

int ReleaseDir(const char*, fuse_file_info*) {
  FoldersChanged(-1);
  return 0;
}

int ReadDir(const char* path, void* buffer, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags flags) {
  Result<std::vector<MountEntry>> entries = FileSystem().ListDir(path);
  if (!entries.ok()) return -ErrnoOf(entries.status());
  // With READDIRPLUS the kernel takes the attributes from the listing, so
  // `ls -l` needs no lookup per entry.
  auto fill_flags =
      static_cast<fuse_fill_dir_flags>((flags & FUSE_READDIR_PLUS) != 0 ? FUSE_FILL_DIR_PLUS : 0);
  // "." and ".." without attributes: the kernel knows them.
  fill(buffer, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buffer, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const MountEntry& entry : *entries) {
    // Full attributes: with use_ino the listing's inode numbers are the
    // ones readdir reports, and an entry with inode 0 would be hidden.
    struct stat st;
    FillStat(entry.info, &st);
    if (fill(buffer, entry.name.c_str(), &st, 0, fill_flags) != 0) break;
  }
  return 0;
}

void* Init(fuse_conn_info*, fuse_config* config) {
  // Report the file system's own inode numbers (hard links show as one
  // file) and cache attributes: nothing changes while mounted.
  config->use_ino = 1;
  config->entry_timeout = 3600;
  config->attr_timeout = 3600;
  config->negative_timeout = 3600;
  config->kernel_cache = 1;
  return fuse_get_context()->private_data;
}

struct FuseDeleter {
  void operator()(fuse* f) const { fuse_destroy(f); }
};

}  // namespace

Status ServeReadOnlyMount(ReadOnlyFileSystem& fs, const std::string& mount_point,
                          const MountOptions& options) {
  struct stat st {};
  if (::stat(mount_point.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFound("the mount point '" + mount_point + "' is not an existing folder");
  }
  fuse_operations ops{};
  ops.getattr = GetAttr;
  ops.readlink = ReadLinkOp;
  ops.open = Open;
  ops.read = ReadOp;
  ops.readdir = ReadDir;
  ops.opendir = OpenDir;
  ops.releasedir = ReleaseDir;
  ops.init = Init;

  // FUSE parses its options from an argv. Source names with ',' would split
  // the option list: keep them out.
  std::string source = options.source_name;
  for (char& c : source) {
    if (c == ',' || c == '\\') c = '_';
  }
  std::string mount_options = "ro,default_permissions,fsname=" + source + ",subtype=obagent";
  if (options.allow_other) mount_options += ",allow_other";
  std::string program = "obagent";
  std::string dash_o = "-o";
  char* argv[] = {program.data(), dash_o.data(), mount_options.data(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, argv);

  Served served{fs, options};
  std::unique_ptr<fuse, FuseDeleter> handle(fuse_new(&args, &ops, sizeof ops, &served));
  fuse_opt_free_args(&args);
  if (!handle) return IoError("could not set up FUSE (libfuse3 rejected the options)");
  fuse_session* session = fuse_get_session(handle.get());
  // SIGINT, SIGTERM, SIGHUP end the loop below; then we unmount. Installed
  // before mounting: a signal sent as soon as the mount appears must not
  // kill the process and leave the mount point dead ("transport endpoint is
  // not connected").
  if (fuse_set_signal_handlers(session) != 0) {
    return IoError("could not install the signal handlers for the mount");
  }
  if (fuse_mount(handle.get(), mount_point.c_str()) != 0) {
    fuse_remove_signal_handlers(session);
    return IoError("could not mount at '" + mount_point +
                   "' (is /dev/fuse there, is fusermount3 installed, is the folder already a "
                   "mount point?)");
  }
  if (options.on_mounted) options.on_mounted();

  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, 8);
  int loop = fuse_loop_mt(handle.get(), config);
  fuse_loop_cfg_destroy(config);
  fuse_remove_signal_handlers(session);
  // Unmounted from outside (fusermount3 -u) or stopped by a signal: either
  // way nothing stays mounted once this returns.
  fuse_unmount(handle.get());
  // The loop returns the signal's number when one stopped it; that is the
  // normal way to end a mount.
  if (loop < 0) return IoError("serving the mount failed: " + std::string(std::strerror(-loop)));
  return Status::Ok();
}

Status UnmountReadOnly(const std::string& mount_point) {
  if (::umount2(mount_point.c_str(), 0) == 0) return Status::Ok();
  int err = errno;
  if (err != EPERM) return posix::ErrnoStatus("unmounting", mount_point, err);
  // Not root: fusermount3 is setuid and lets a user unmount their own mount.
  Result<int> rc = Env::Default().RunProgram("/usr/bin/fusermount3", {"-u", mount_point}, {});
  if (!rc.ok()) return rc.status().WithContext("running fusermount3 -u");
  if (*rc != 0) {
    return IoError("fusermount3 -u '" + mount_point + "' failed with exit code " +
                   std::to_string(*rc));
  }
  return Status::Ok();
}

}  // namespace obagent::platform
