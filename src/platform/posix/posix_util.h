// Helpers shared by the POSIX implementation of platform.h. Internal to
// src/platform/posix.
#pragma once

#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform::posix {

// Temporary files of WriteFileAtomic are named "<kTempPrefix><name>-<random>"
// in the folder of the destination (storage::LocalDirStore skips them).
inline constexpr std::string_view kTempPrefix = ".tmp-";

// "<op> '<path>': <text> (errno N)". ENOENT/ENOTDIR -> kNotFound,
// EEXIST -> kAlreadyExists, EACCES/EPERM -> kIo with "access denied",
// everything else -> kIo. The status carries OsErrorFromErrno(err).
Status ErrnoStatus(std::string_view op, std::string_view path, int err);

// The Windows form (HRESULT_FROM_WIN32) of an errno value, as the Windows
// implementation reports GetLastError(): what a failed-files list shows.
// Errors with no close Windows counterpart become os_error::kUnspecified.
uint32_t OsErrorFromErrno(int err);

FileKind KindFromMode(mode_t mode);
FileInfo InfoFromStat(const struct stat& st);
// The same from statx, with the birth time when the file system keeps it.
FileInfo InfoFromStatx(const struct statx& stx);

// Closes fd, retrying nothing (close must not be retried on Linux).
void CloseFd(int fd);

// Opens the entry `name` of the folder dir_fd (AT_FDCWD: a path) read-only:
// for a backup to read its content and metadata, and for a restore to set
// its metadata (xattrs, ACLs, flags) through the descriptor. The final
// symlink is not followed, a FIFO swapped in after a stat does not block
// the open, a tty does not become the controlling one, and atime is not
// updated where this process may ask that (O_NOATIME: the file's owner or
// CAP_FOWNER; tried again without it on EPERM). Returns the descriptor, or
// -1 with errno set.
// `status_flags`, when given, receives the file status flags it was opened
// with (O_NONBLOCK, and O_NOATIME if kept), for a later F_SETFL.
int OpenToRead(int dir_fd, const char* name, int* status_flags = nullptr);

// Starts the program at `path` (no shell) with `args`, in this process's
// environment where each "NAME=value" of `env` replaces the inherited NAME
// (or is added), as Env::RunProgram promises on every platform. `actions`:
// posix_spawn's file actions; nullptr inherits this process's descriptors.
Result<pid_t> SpawnProgram(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& env,
                           const posix_spawn_file_actions_t* actions);
// Waits for the child `pid` (started from `path`, which errors name): its
// exit code, or 128 + the number of the signal that ended it.
Result<int> WaitForExit(pid_t pid, const std::string& path);

// Removes the entry `name` of the open directory dirfd and, if it is a
// directory, everything below it. Never follows a symlink. `display` names
// the entry in error messages. kNotFound if the entry does not exist.
Status RemoveTreeAt(int dirfd, const std::string& name, const std::string& display);

// Linux metadata (metadata_posix.cc). ReadMetadataAt: Env::ReadMetadata.
// ApplyMetadataAt: RestoreDir::ApplyMetadata for the entry `name` of the
// open folder dir_fd, or for what dir_fd is open on when `name` is empty (the
// folder itself, or a file a restore is finishing: WritableFile::
// FinishRestored).
// `inherited`: the POSIX ACLs (InheritedAcl bits) the entry can have got
// from its folder's default ACL, removed where the record lacks them: a
// folder gets both, a file only the access ACL, and nothing where the
// folder has no default ACL.
// ClearProtectionFlagsAt: RestoreDir::ClearProtectionFlags (same `name`).
enum InheritedAcl : unsigned {
  kInheritsNoAcl = 0,
  kInheritsAccessAcl = 1,
  kInheritsDefaultAcl = 2,
  kInheritsAnyAcl = kInheritsAccessAcl | kInheritsDefaultAcl,
};
Result<FileMetadata> ReadMetadataAt(const std::string& path, const FileInfo& info);
// The same through `fd`, a descriptor of the entry opened for reading (not
// a symlink), whose offset it may move (SEEK_HOLE); the caller keeps it
// open and closes it.
Result<FileMetadata> ReadMetadataOfFd(int fd, const std::string& path, const FileInfo& info);
std::vector<MetadataIssue> ApplyMetadataAt(int dir_fd, const std::string& name,
                                           const std::string& display, const FileMetadata& metadata,
                                           bool is_symlink, bool permissions,
                                           unsigned inherited = kInheritsAnyAcl);
Status ClearProtectionFlagsAt(int dir_fd, const std::string& name, const std::string& display);

// Takes ownership of an open directory fd.
std::unique_ptr<RestoreDir> NewPosixRestoreDir(int dir_fd, std::string display);

// Wraps an open file descriptor as a WritableFile (takes ownership).
std::unique_ptr<WritableFile> NewPosixWritableFile(int fd, std::string display);
// A ReadableFile over an open descriptor of a regular file (owned from then
// on). Read starts at offset 0 whatever the descriptor's offset is.
std::unique_ptr<ReadableFile> NewPosixReadableFile(int fd, std::string path);

// The local API over a Unix socket (service_posix.cc).
Result<std::unique_ptr<LocalListener>> ListenUnixSocket(const std::string& path);
Result<std::unique_ptr<LocalConnection>> ConnectUnixSocket(const std::string& path);
// The service host: SIGTERM/SIGINT as stop requests, READY=1 to systemd.
int RunPosixService(const std::function<int(ServiceContext&)>& body);
// The backup schedule as systemd units (kNotFound without systemd).
Status RegisterSystemdSchedule(Env& env, const OsScheduleDefinition& definition);
Status UnregisterSystemdSchedule(Env& env, const OsScheduleDefinition& definition);

}  // namespace obagent::platform::posix
