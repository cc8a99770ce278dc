// Mounting a read-only file system (Instant Restore: a recovery point shown
// as a folder). The file system itself is portable (engine's
// RecoveryPointReader); only serving it to the OS is platform code: FUSE
// (libfuse3) on Linux in src/platform/posix/mount, nothing yet on Windows,
// which needs a file system driver (WinFsp or ProjFS) the project does not
// ship.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform {

// One entry of a listed folder with its attributes (what Stat would say),
// so a listing needs no lookup per entry.
struct MountEntry {
  std::string name;
  FileInfo info;
};

// What a mount serves. Paths are absolute and '/'-separated ("/" is the
// root). kNotFound for a missing path, kInvalidArgument for an operation
// that does not fit the entry (ListDir of a file, ReadLink of a folder).
// Called from several threads at once.
class ReadOnlyFileSystem {
 public:
  virtual ~ReadOnlyFileSystem() = default;
  // kind, size, mode, mtime, uid, gid; `inode` is a stable number that is
  // the same for the names of one hard-link group (0: let the OS choose).
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Entries except "." and "..", sorted by name.
  virtual Result<std::vector<MountEntry>> ListDir(const std::string& path) = 0;
  virtual Result<std::string> ReadLink(const std::string& path) = 0;
  // Reads up to `size` bytes of a regular file at `offset` into `buffer`;
  // fewer only at the end of the file, 0 at or past it.
  virtual Result<size_t> Read(const std::string& path, uint64_t offset, uint8_t* buffer,
                              size_t size) = 0;
};

struct MountOptions {
  // Shown as the source of the mount (/proc/mounts, `mount`).
  std::string source_name = "obagent";
  // Let users other than the one who mounted see the files (FUSE
  // allow_other; needs root or user_allow_other in /etc/fuse.conf).
  bool allow_other = false;
  // Called once the mount is live, before serving starts.
  std::function<void()> on_mounted;
  // Called (from a serving thread) when a read fails: the reading program
  // only gets EIO, so this is where the reason can be told.
  std::function<void(const std::string& path, const Status& error)> on_read_error;
  // Called (from a serving thread) with the number of folders the kernel
  // holds open after each opens or closes. Linux closes a folder in the
  // background, after closedir has returned; libfuse frees its handle only
  // then, so an unmount that overtakes the close leaves the handle
  // allocated. Who unmounts right after reading folders (a test under
  // LeakSanitizer) waits for 0 first.
  std::function<void(int open_folders)> on_open_folders;
};

// Mounts `fs` read-only at `mount_point` (an existing folder) and serves it
// in this thread until it is unmounted (UnmountReadOnly, fusermount3 -u,
// umount) or the process gets SIGINT, SIGTERM or SIGHUP (Ctrl+C); then
// unmounts and returns OK. Writes are refused by the OS with EROFS.
// kUnsupported where the platform cannot mount (Windows).
Status ServeReadOnlyMount(ReadOnlyFileSystem& fs, const std::string& mount_point,
                          const MountOptions& options);

// Ends a mount made by ServeReadOnlyMount (whose process then returns).
// kUnsupported where the platform cannot mount.
Status UnmountReadOnly(const std::string& mount_point);

}  // namespace obagent::platform
