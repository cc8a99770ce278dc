// The operating-system boundary (in the spirit of LevelDB's Env). Everything
// platform-specific lives behind these interfaces, implemented in
// src/platform/posix and src/platform/win. Paths are UTF-8 with '/'
// separators; the Windows implementation converts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::platform {

enum class FileKind : uint8_t { kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileKind kind = FileKind::kOther;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t link_count = 1;
  // When the entry was created (Linux: statx's btime; Windows: its
  // CreationTime), from Env::Lstat; 0 where the file system does not keep
  // it. A folder born after the change time a backup recorded for its name
  // is another folder under that name (BackupReport::recreated_roots).
  int64_t birth_ns = 0;
};

struct DirEntry {
  std::string name;
  FileKind kind = FileKind::kOther;
};

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to this (unprivileged) user
};

// Attributes that make a folder unfit to be the scratch folder. On Windows
// MARS refuses a scratch folder that is NTFS-compressed or sparse (staging
// files must be written in place at full size) or a reparse point (a
// junction, symlink or mount point could redirect the key file and staging).
struct ScratchAttributes {
  bool compressed = false;
  bool sparse = false;
  bool reparse_point = false;
  bool any() const { return compressed || sparse || reparse_point; }
};

// Metadata a file system keeps for an entry beyond FileInfo (Linux: the
// extended attributes of every namespace the process can read, POSIX ACLs
// and file capabilities among them as their xattr bytes; the FS_IOC_GETFLAGS
// flags; whether a regular file has holes). What a recovery point records
// as typed metadata (core/tree.h).
struct ExtendedAttribute {
  std::string name;  // full name: "user.x", "system.posix_acl_access", ...
  Bytes value;
  bool operator==(const ExtendedAttribute&) const = default;
};

// A named (alternate) data stream of a file, as Windows lists it: the name
// without ':' and ":$DATA" (tree::IsSafeStreamName), and its size.
struct StreamInfo {
  std::string name;
  uint64_t size = 0;
  bool operator==(const StreamInfo&) const = default;
};

// The kind of a Windows reparse point a link entry is (tree::WinReparseKind
// values).
enum class ReparseKind : uint8_t {
  kFileSymlink = 1,
  kDirSymlink = 2,
  kJunction = 3,
  kMountPoint = 4,
};

struct ReparseInfo {
  ReparseKind kind = ReparseKind::kFileSymlink;
  bool relative = false;  // a symlink whose target is relative
  bool operator==(const ReparseInfo&) const = default;
};

struct FileMetadata {
  std::vector<ExtendedAttribute> xattrs;  // sorted by name, unique
  // tree::kLinuxFlagsKept bits; none where the file system has no flags
  // (or for a symlink, which cannot hold them).
  std::optional<uint32_t> linux_flags;
  bool sparse = false;  // a regular file with at least one hole

  // Windows: the entry's self-relative security descriptor (owner, group,
  // DACL; SACL when SeSecurityPrivilege is enabled), empty when not read,
  // and its tree::kWinAttributesKept FILE_ATTRIBUTE_* bits.
  Bytes win_security;
  std::optional<uint32_t> win_attributes;

  // Windows: a regular file's named data streams (sorted by name). Their
  // data is read with Env::OpenStreamForRead and restored with
  // RestoreDir::CreateStream, as the engine chunks it; ApplyMetadata never
  // sees them.
  std::vector<StreamInfo> streams;
  // Windows: what reparse point a link entry is (symlink, junction, mount
  // point). A restore makes it with RestoreDir::CreateReparsePoint.
  std::optional<ReparseInfo> reparse;
  bool empty() const {
    return xattrs.empty() && !linux_flags && !sparse && win_security.empty() && !win_attributes &&
           streams.empty() && !reparse;
  }
};

// Something a restore target could not take, for the job's warnings (the
// engine reports each kind once): `kind` names it as a user would look for
// it ("POSIX ACLs", "file capabilities", "trusted extended attributes",
// "Linux file flags", "sparse files", "Windows security descriptors",
// "Windows attributes", "alternate data streams", "Windows reparse
// points"), `reason` says why.
struct MetadataIssue {
  std::string kind;
  std::string reason;
};

// What a restore makes of a link recorded as a Windows reparse point
// (tree kind 19): the same kind on Windows (a volume mount point only when
// its volume is on this machine); a plain symbolic link on POSIX, with a
// "Windows reparse points" issue for what a symlink does not say (a
// junction, a directory symlink, a mount point). Pure function.
enum class MakeLink : uint8_t {
  kSymlink,      // POSIX symlink
  kFileSymlink,  // CreateSymbolicLinkW
  kDirSymlink,   // CreateSymbolicLinkW, SYMBOLIC_LINK_FLAG_DIRECTORY
  kJunction,     // a folder with IO_REPARSE_TAG_MOUNT_POINT (FSCTL_SET_REPARSE_POINT)
  kMountPoint,   // the same, to a volume GUID path
  kNothing,      // not recreated (a mount point of a volume this machine lacks)
};
struct LinkPlan {
  MakeLink make = MakeLink::kSymlink;
  std::optional<MetadataIssue> issue;  // kind "Windows reparse points"
};
LinkPlan PlanReparsePoint(const ReparseInfo& recorded, bool windows_target, bool volume_present);

// The warning kind of an extended attribute by its name (the list above).
std::string XattrKind(std::string_view name);
// Whether an xattr is a POSIX ACL (system.posix_acl_access / _default).
bool IsAclXattr(std::string_view name);
// One issue per kind `metadata` holds, each with `reason`: what a platform
// without such metadata reports (Windows for a Linux point).
std::vector<MetadataIssue> MetadataIssuesFor(const FileMetadata& metadata,
                                             const std::string& reason);

class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to n bytes; 0 at end of file.
  virtual Result<size_t> Read(uint8_t* buffer, size_t n) = 0;
  virtual Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) = 0;
  virtual Result<FileInfo> Stat() = 0;
};

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Thread-safe positional write: chunks of one file are restored in parallel.
  virtual Status WriteAt(uint64_t offset, ByteView data) = 0;
  virtual Status Truncate(uint64_t size) = 0;
  // Makes the file sparse before its content is written, so the zero runs
  // a restore leaves unwritten stay holes: FSCTL_SET_SPARSE on Windows;
  // nothing on POSIX, where every file is. An error: the file is restored
  // fully allocated.
  virtual Status SetSparse() { return Status::Ok(); }
  // What a restore gives a regular file it has written, through this handle:
  // called with nothing left to write to the file, before it is closed and
  // renamed into place. The owner and permissions (as RestoreDir::
  // SetAttributes), then with `metadata` what RestoreDir::ApplyMetadata
  // applies (its issues are returned), then the mtime; no path is looked up.
  // kUnsupported: nothing was done, and the restore does it all by name after
  // the rename: where a handle cannot (the default), or for flags that would
  // stop the rename (immutable, append-only).
  virtual Result<std::vector<MetadataIssue>> FinishRestored(uint32_t mode, int64_t mtime_ns,
                                                            uint32_t uid, uint32_t gid,
                                                            const FileMetadata* metadata,
                                                            bool permissions) {
    (void)mode;
    (void)mtime_ns;
    (void)uid;
    (void)gid;
    (void)metadata;
    (void)permissions;
    return Status(ErrorCode::kUnsupported, "finished by name");
  }
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// A directory opened for restoring into it. Every operation is relative to
// the open directory and never follows a symlink, so nothing a recovery point
// contains (or an attacker plants in the target) can redirect a write outside
// the restore target. Names must be single components (tree::IsSafeName).
// The mode to pass to RestoreDir::SetAttributes and SetOwnAttributes for the
// permissions a new entry gets here instead of a backed-up mode: the
// process's umask on POSIX, the inherited ACL (and no read-only attribute) on
// Windows. The owner is then left as created, too.
inline constexpr uint32_t kDefaultPermissions = 0xFFFFFFFFu;

class RestoreDir {
 public:
  virtual ~RestoreDir() = default;
  // FileKind of an existing entry, or kNotFound.
  virtual Result<FileKind> Probe(std::string_view name) = 0;
  // Opens an existing subdirectory or creates it (mode 0700 until attributes
  // are set). kAlreadyExists if the name is a file or symlink.
  virtual Result<std::unique_ptr<RestoreDir>> OpenOrCreateSubdir(std::string_view name) = 0;
  // Creates a new file; an existing non-directory entry is replaced (unlinked
  // first) if replace is true, else kAlreadyExists. While the handle is
  // open, OpenForWrite handles to the file may write too (a restore creates
  // a file with the first of several workers that write it).
  virtual Result<std::unique_ptr<WritableFile>> CreateFile(std::string_view name, bool replace) = 0;
  // Opens an existing regular file of this folder for positional writes
  // (several handles to one file may write at once); kNotFound if missing,
  // an error for anything but a regular file (a symlink is never followed).
  virtual Result<std::unique_ptr<WritableFile>> OpenForWrite(std::string_view name) = 0;
  // Opens an existing regular file for reading, without following a symlink.
  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(std::string_view name) = 0;
  // The entries of this folder (not "." and ".."), in no particular order.
  virtual Result<std::vector<DirEntry>> List() = 0;
  virtual Status CreateSymlink(std::string_view name, std::string_view target, bool replace) = 0;
  virtual Status CreateHardLink(std::string_view name, RestoreDir& existing_dir,
                                std::string_view existing_name, bool replace) = 0;
  virtual Status Remove(std::string_view name) = 0;
  // Atomically renames an entry of this folder, replacing a non-directory at
  // `to` (the entry itself, never what a symlink there points to).
  virtual Status Rename(std::string_view from, std::string_view to) = 0;
  // Sets permission bits (ignored for symlinks), owner when running
  // privileged (best effort), and mtime, without following symlinks. A mode
  // of kDefaultPermissions sets only the mtime and the default permissions.
  virtual Status SetAttributes(std::string_view name, uint32_t mode, int64_t mtime_ns, uint32_t uid,
                               uint32_t gid, bool is_symlink) = 0;
  // The same for the directory itself.
  virtual Status SetOwnAttributes(uint32_t mode, int64_t mtime_ns, uint32_t uid, uint32_t gid) = 0;
  // Applies an entry's recorded metadata, after SetAttributes (so after the
  // owner, which clears file capabilities, and the mode, which ACLs refine)
  // and after its content: extended attributes first, file flags last
  // (immutable and append-only would stop everything else). The record is
  // authoritative: POSIX ACLs the entry got from its folder's default ACL
  // but the record lacks are removed. With `permissions` false (restore
  // without permissions) ACLs and capabilities are left as created. What the
  // target cannot hold comes back as issues, never as an error. The default
  // (a platform without such metadata) reports every kind present.
  virtual std::vector<MetadataIssue> ApplyMetadata(std::string_view name,
                                                   const FileMetadata& metadata, bool is_symlink,
                                                   bool permissions) {
    (void)name;
    (void)is_symlink;
    (void)permissions;
    return MetadataIssuesFor(metadata, "this system cannot hold it");
  }
  // The same for the directory itself.
  virtual std::vector<MetadataIssue> ApplyOwnMetadata(const FileMetadata& metadata,
                                                      bool permissions) {
    (void)permissions;
    return MetadataIssuesFor(metadata, "this system cannot hold it");
  }
  // Creates (or empties) the named data stream `stream` (tree::IsSafeStreamName)
  // of the regular file `name` of this folder, which this restore created,
  // and opens it for positional writes; several handles to one stream may
  // write at once. Windows: "name:stream", relative to this verified folder,
  // never following a link. kUnsupported where files have no named streams
  // (POSIX): the engine reports that once as "alternate data streams".
  virtual Result<std::unique_ptr<WritableFile>> CreateStream(std::string_view name,
                                                             std::string_view stream) {
    (void)name;
    (void)stream;
    return Status(ErrorCode::kUnsupported, "this system has no alternate data streams");
  }
  // Creates the link `name` to `target` as the Windows reparse point
  // `recorded` says it was, as PlanReparsePoint decides for this system,
  // never following anything; returns the plan carried out (kNothing:
  // nothing was created; its issue says why). The default (POSIX): a
  // symbolic link, with the plan's issue for a kind a symlink cannot say.
  virtual Result<LinkPlan> CreateReparsePoint(std::string_view name, std::string_view target,
                                              const ReparseInfo& recorded, bool replace) {
    LinkPlan plan = PlanReparsePoint(recorded, false, false);
    OB_RETURN_IF_ERROR(CreateSymlink(name, target, replace));
    return plan;
  }
  // Opens an existing named stream of a file of this folder for writing.
  virtual Result<std::unique_ptr<WritableFile>> OpenStreamForWrite(std::string_view name,
                                                                   std::string_view stream) {
    (void)name;
    (void)stream;
    return Status(ErrorCode::kUnsupported, "this system has no alternate data streams");
  }
  // Clears the immutable and append-only flags of an existing entry (not
  // following a symlink) so a restore can replace it or write into it; Ok
  // when it has neither or the platform has no such flags. An error says
  // clearly that the entry is protected and why it could not be cleared.
  virtual Status ClearProtectionFlags(std::string_view name) {
    (void)name;
    return Status::Ok();
  }
  // Writes everything written to the file system holding this folder (by
  // any process) to its disk and waits for it: file data and metadata
  // (Linux: syncfs; Windows: the whole volume, FlushFileBuffers on its
  // handle). Callable from any thread while others write through this
  // folder. An error means some written data may not have reached the disk.
  // kUnsupported where it cannot be done (the default; on Windows without
  // an administrator, who alone may open a volume).
  virtual Status SyncFileSystem() {
    return Status(ErrorCode::kUnsupported, "cannot flush a file system here");
  }
};

// The name under which an entry named `name` (one component, as a recovery
// point stores it: any bytes but '/' and NUL) is created on this system.
// POSIX holds every such name: identity. Windows cannot hold some of them;
// those come back escaped, deterministically and reversibly in the way
// Cygwin and WSL map them: each offending byte b becomes the private-use
// character U+F000+b (UTF-8 EF 80 xx / EF 81 xx / EF 82 xx / EF 83 xx):
//   - '<' '>' ':' '"' '\\' '|' '?' '*' and the controls 0x01-0x1F;
//   - a trailing '.' or ' ' (the last character only: Win32 strips it);
//   - the first letter of a reserved device name (CON, PRN, AUX, NUL,
//     COM0-9, LPT0-9, COM/LPT with a superscript 1-3, CONIN$, CONOUT$),
//     alone or before an extension, any case: "aux.txt" -> U+F061 "ux.txt";
//   - every byte that is not part of valid UTF-8 (it has no UTF-16 form).
// A name Windows can hold is returned unchanged (a Windows point restores
// with its own names), so two names can meet (an escaped one and one that
// already held U+F0xx characters); the restore keeps such entries apart.
// Thread-safe (pure function).
std::string HostableName(std::string_view name);

// The key under which this system's folders tell names apart: the name
// itself on POSIX; on Windows, whose folders ignore case, the name with its
// letters upper-cased as the file system compares them ("README" and
// "readme" have one key). The restore uses it so that two entries of one
// job never land on one file. Thread-safe (pure function).
std::string NameKey(std::string_view name);

// An exclusive lock on a file, released when destroyed and by the OS when
// the process dies (so a killed job never leaves a stale lock behind).
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// One connection of the engine's local API: a Unix socket (POSIX) or a
// named pipe (Windows). Messages are single lines of JSON.
class LocalConnection {
 public:
  virtual ~LocalConnection() = default;
  // The next line without its '\n'; kNotFound at end of stream.
  virtual Result<std::string> ReadLine() = 0;
  virtual Status WriteLine(std::string_view line) = 0;
  // Ends the connection; a ReadLine blocked in another thread returns.
  virtual void Shutdown() = 0;
};

// The engine's end of the local API. Only administrators/root (and the
// service account itself) get through Accept: the OS tells who the peer is
// (SO_PEERCRED / the pipe client's token), never the peer.
class LocalListener {
 public:
  virtual ~LocalListener() = default;
  // Blocks for the next authorized client; kCancelled after Close().
  // Unauthorized peers are refused (and counted in `refused`) without
  // returning.
  virtual Result<std::unique_ptr<LocalConnection>> Accept() = 0;
  // Wakes a blocked Accept; safe from another thread.
  virtual void Close() = 0;
  virtual uint64_t refused() const = 0;
};

// The backup schedule in the forms the OS schedulers take (generated by
// engine/os_schedule.h; the platform registers its own form).
struct OsScheduleDefinition {
  std::string task_name;  // "\\obagent\\OnlineBackup"
  std::string task_xml;   // Task Scheduler 2.0 definition (UTF-8)
  std::string systemd_timer_name;
  std::string systemd_timer;
  std::string systemd_service_name;
  std::string systemd_service;
};

// What the service host tells the engine.
class ServiceContext {
 public:
  virtual ~ServiceContext() = default;
  // Startup is done (systemd READY=1, SCM SERVICE_RUNNING).
  virtual void ReportRunning() = 0;
  // Blocks until a stop is requested (SCM stop/shutdown, SIGTERM, SIGINT,
  // Ctrl+C) or the timeout passes; true if a stop was requested.
  virtual bool WaitForStop(int64_t timeout_ms) = 0;
  virtual bool StopRequested() = 0;
};

// A path as the user typed it, in the '/'-separated form Env takes
// (Windows users type C:\data).
inline std::string FromNativePath(std::string path) {
#ifdef _WIN32
  for (char& ch : path) {
    if (ch == '\\') ch = '/';
  }
#endif
  return path;
}

class Env {
 public:
  virtual ~Env() = default;
  static Env& Default();

  virtual Result<FileInfo> Lstat(const std::string& path) = 0;
  // Entries except "." and "..", sorted by name (bytewise).
  virtual Result<std::vector<DirEntry>> ListDir(const std::string& path) = 0;
  // Opens for reading without following a final symlink and without
  // updating atime where the OS allows.
  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) = 0;
  virtual Result<std::string> ReadLink(const std::string& path) = 0;
  // The FileMetadata of an entry `info` (its Lstat) describes, without
  // following a symlink and without updating atime. Only what the file
  // system supports: no xattr support or no flags is no error. The default
  // (a platform without such metadata) returns none.
  virtual Result<FileMetadata> ReadMetadata(const std::string& path, const FileInfo& info) {
    (void)path;
    (void)info;
    return FileMetadata{};
  }
  // Opens the named data stream `stream` (as FileMetadata::streams names it)
  // of the regular file `path` for reading, without following a link, as
  // OpenForRead opens the file. kUnsupported where there are none (POSIX).
  virtual Result<std::unique_ptr<ReadableFile>> OpenStreamForRead(const std::string& path,
                                                                  const std::string& stream) {
    (void)path;
    (void)stream;
    return Status(ErrorCode::kUnsupported, "this system has no alternate data streams");
  }
  // A regular file's metadata (as ReadMetadata) and the file opened for
  // reading (as OpenForRead), each with its own outcome, for a backup that
  // needs both. POSIX reads both through one descriptor: the metadata is
  // then the very file the content comes from, and one open and close a
  // file are saved. The default makes the two calls, in that order.
  struct OpenedWithMetadata {
    Result<FileMetadata> metadata;
    Result<std::unique_ptr<ReadableFile>> file;
  };
  virtual OpenedWithMetadata OpenWithMetadata(const std::string& path, const FileInfo& info) {
    Result<FileMetadata> metadata = ReadMetadata(path, info);
    return {std::move(metadata), OpenForRead(path)};
  }
  virtual Result<DiskSpace> GetDiskSpace(const std::string& path) = 0;
  // The attributes of an existing folder that make it unfit for scratch
  // (kNotFound if it does not exist). Checked before every job.
  virtual Result<ScratchAttributes> ScratchFolderProblems(const std::string& path) = 0;
  virtual Result<Bytes> ReadFile(const std::string& path) = 0;
  // Temp file + fsync + rename + fsync of the folder. With owner_only the
  // file is created readable by the service account only (0600 / owner ACL).
  virtual Status WriteFileAtomic(const std::string& path, ByteView data, bool owner_only) = 0;
  // WriteFileAtomic for a large file this process will not read again (a
  // pack staged in scratch): where the platform can, the bytes go to the
  // disk without passing the page cache (Linux: O_DIRECT), which saves
  // copying them into freshly allocated cache pages. The default (and any
  // file system that refuses direct I/O) is WriteFileAtomic.
  virtual Status WriteFileAtomicUncached(const std::string& path, ByteView data, bool owner_only) {
    return WriteFileAtomic(path, data, owner_only);
  }
  // WriteFileAtomic with the content pulled piece by piece: `read` fills up
  // to n bytes of its buffer and returns how many, 0 at the end. Memory stays
  // at one piece whatever the file's size. An error from `read` removes the
  // temporary file, leaves `path` as it was and is returned.
  using ContentReader = std::function<Result<size_t>(uint8_t* buffer, size_t n)>;
  virtual Status WriteFileAtomicFrom(const std::string& path, const ContentReader& read,
                                     bool owner_only) = 0;
  // Creates the folder and its parents; with owner_only the last one is 0700.
  virtual Status CreateDirs(const std::string& path, bool owner_only) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Renames a file onto `to` (replacing it) and makes the rename durable
  // (fsync of the folder; write-through on Windows). kUnsupported when the
  // two are on different volumes: the caller copies instead.
  virtual Status MoveFileReplacing(const std::string& from, const std::string& to) = 0;
  // Renames a file onto `to` only if `to` does not exist, atomically
  // (link + unlink on POSIX, MoveFileEx without REPLACE_EXISTING on
  // Windows) and durably; kAlreadyExists (and `from` left as it is) when it
  // does. kUnsupported across volumes. The write-once vault stores use it.
  virtual Status MoveFileNoReplace(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveAll(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual std::string Hostname() = 0;
  // An absolute, normalized path ("." and ".." resolved lexically).
  virtual Result<std::string> AbsolutePath(const std::string& path) = 0;
  // Opens (creating if asked) a restore target folder. The target itself may
  // be reached through symlinks; nothing below it is.
  virtual Result<std::unique_ptr<RestoreDir>> OpenRestoreRoot(const std::string& path,
                                                              bool create) = 0;
  // Folder for the agent's state when none is configured.
  virtual std::string DefaultStateDir() = 0;
  // Where browsing this machine's files starts: "/" on POSIX, the drives
  // ("C:/", "D:/") on Windows.
  virtual std::vector<std::string> FileSystemRoots() = 0;
  virtual bool IsTerminal(int fd) = 0;
  // Jobs allocate and free multi-megabyte buffers (chunks, packs) from
  // several threads; this makes the allocator hand them back to the OS
  // instead of keeping them in per-thread heaps (halves peak RSS on glibc),
  // while each heap keeps a little room at its top for the next small
  // buffers.
  virtual void PreferReturningLargeBuffers() = 0;
  // Takes the lock without waiting (flock / LockFileEx), creating the file
  // (owner only) if needed; kAlreadyExists while another process holds it.
  virtual Result<std::unique_ptr<FileLock>> TryLockFile(const std::string& path) = 0;
  virtual int64_t ProcessId() = 0;
  // Runs a program (no shell) and waits for it; returns its exit code (128 +
  // signal number if killed). It gets this process's environment, where each
  // "NAME=value" of extra_env replaces the inherited NAME or is added.
  virtual Result<int> RunProgram(const std::string& path, const std::vector<std::string>& args,
                                 const std::vector<std::string>& extra_env) = 0;
  // Whether `path` (a link is not followed) is a regular file that no other
  // account can change: the AfterBackup script must be so before the
  // engine runs it. POSIX: owned by the effective user, not writable by
  // group or others. Windows, from its security descriptor: owned by this
  // process's user, SYSTEM or Administrators, with a DACL (a NULL DACL lets
  // everyone in) in which no entry that applies to the file allows writing,
  // appending, deleting, WRITE_DAC, WRITE_OWNER or GENERIC_WRITE/ALL to any
  // other SID. The emulated mode bits of FileInfo say nothing on Windows.
  virtual bool OnlyThisAccountCanChange(const std::string& path) = 0;
  // Whether a process with this id is running (job history: a job whose
  // process died is shown as interrupted).
  virtual bool ProcessAlive(int64_t pid) = 0;

  // The running program's own path (to find obctl beside cbengine, and for
  // the command the OS scheduler starts).
  virtual std::string ExecutablePath() = 0;

  // The engine's local API endpoint for a state folder: `<state>/cbengine.sock`
  // on POSIX, `\\.\pipe\obagent-<hash of state>` on Windows.
  virtual std::string LocalApiAddress(const std::string& state_dir) = 0;
  virtual Result<std::unique_ptr<LocalListener>> ListenLocal(const std::string& address) = 0;
  // kNotFound when no engine listens there.
  virtual Result<std::unique_ptr<LocalConnection>> ConnectLocal(const std::string& address) = 0;

  // Registers the backup schedule with the OS scheduler, replacing an
  // earlier registration (Task Scheduler task; systemd units in
  // /etc/systemd/system, enabled and started), and names the scheduler as
  // its users know it: "systemd", "Task Scheduler". kNotFound when this
  // machine has no OS scheduler the engine may use (systemd not running, not
  // root): the engine then fires the schedule itself.
  virtual Result<std::string> RegisterBackupSchedule(const OsScheduleDefinition& definition) = 0;
  virtual Status UnregisterBackupSchedule(const OsScheduleDefinition& definition) = 0;

  // Runs `body` as the service `name`: under the Windows SCM when started by
  // it (the body's return value is the exit code reported to SCM), else —
  // systemd, a terminal — in this process with signals mapped to stop
  // requests.
  // `service_manager`: the service manager started us (cbengine --service,
  // as the SCM registration and the MSI pass it); on Windows the host then
  // connects to the SCM, otherwise it also checks whether its parent is
  // services.exe.
  virtual int RunService(const std::string& name, bool service_manager,
                         const std::function<int(ServiceContext&)>& body) = 0;
};

// ---- Snapshots --------------------------------------------------------------
// A backup reads its sources from a snapshot taken when it starts, so a file
// changed while the job runs is read as it was at that moment. Windows takes
// one VSS snapshot set over the volumes of the sources; Linux snapshots a
// btrfs subvolume or an LVM logical volume a source is on; elsewhere the
// source is read live (kNone) and the backup re-checks each file after
// reading it.

enum class SnapshotKind : uint8_t { kNone, kVss, kBtrfs, kLvm };
// "none", "vss", "btrfs", "lvm" (job records and the engine log).
std::string_view SnapshotKindName(SnapshotKind kind);

// One volume (or subvolume) of a snapshot: `original_root` and everything
// below it are read from `snapshot_root`. Paths in '/' form, like the rest
// of this interface.
struct SnapshotVolume {
  SnapshotKind kind = SnapshotKind::kNone;
  std::string original_root;  // "/home", "/", "C:/"
  std::string snapshot_root;  // "<scratch>/snapshots/btrfs-0",
                              // "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/"; "" for kNone
  // What was snapshotted ("btrfs subvolume /home", "LV vg0/root") or, for
  // kNone, why not ("/srv is on xfs, not on btrfs or LVM").
  std::string detail;
};

class Snapshot {
 public:
  // Releases whatever Release() has not; an error there is lost, so callers
  // call Release() themselves.
  virtual ~Snapshot() = default;
  virtual const std::vector<SnapshotVolume>& volumes() const = 0;
  // Deletes the snapshots, unmounts and removes what Create made. Safe to
  // call again; returns the first error.
  virtual Status Release() = 0;

  // The deepest volume containing `path` (absolute, as the user named it);
  // on a tie a snapshotted volume wins over a kNone one. nullptr if none.
  const SnapshotVolume* VolumeOf(const std::string& path) const;
  // Where to read `path` from: under the snapshot root of VolumeOf(path),
  // or `path` itself when that is kNone or there is none. A kNone volume
  // below a snapshotted one (a file system mounted inside it) is read live.
  std::string ReadPath(const std::string& path) const;
  // The kinds in use, e.g. "btrfs", "vss", "none" or "btrfs+none" when some
  // sources could not be snapshotted.
  std::string KindSummary() const;
};

class SnapshotProvider {
 public:
  virtual ~SnapshotProvider() = default;
  // The platform's provider: VSS on Windows; btrfs, LVM or none on Linux.
  static SnapshotProvider& Default();
  // Snapshots, at one moment where the platform can, the volumes holding
  // `sources` (absolute paths). `work_dir` (in scratch) holds mount points
  // and snapshots that need a place. An error means the backup must not run
  // (e.g. kShadowStorageInsufficient); a volume the platform cannot snapshot
  // comes back as kNone with the reason instead, where reading it live is
  // the documented behaviour.
  virtual Result<std::unique_ptr<Snapshot>> Create(const std::vector<std::string>& sources,
                                                   const std::string& work_dir) = 0;
};

// Readies a TCP socket (its native handle: a file descriptor or a SOCKET)
// that is about to listen on a fixed port, before bind: on POSIX
// SO_REUSEADDR, so a restarted server gets its port back while closed
// connections linger in TIME_WAIT (a port someone listens on stays taken);
// on Windows SO_EXCLUSIVEADDRUSE, so no other program can bind the port
// while we listen (Windows' SO_REUSEADDR would let it).
Status PrepareListeningSocket(uint64_t native_socket);

}  // namespace obagent::platform
