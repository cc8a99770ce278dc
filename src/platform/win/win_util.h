// Helpers shared by the Windows implementation of platform.h. Internal to
// src/platform/win. Paths inside the program are UTF-8 with '/' separators
// (platform.h); they become UTF-16 with '\' and the "\\?\" prefix only at
// the Win32 call.
#pragma once

#include <windows.h>
// After windows.h:
#include <accctrl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"
#include "platform/win/text/utf16.h"  // Widen, Narrow

namespace obagent::platform::win {

// Temporary files of WriteFileAtomic: "<kTempPrefix><name>-<random>" beside
// the destination (storage::LocalDirStore skips them), as on POSIX.
inline constexpr std::string_view kTempPrefix = ".tmp-";

// "C:/a/b" -> L"\\?\C:\a\b" (no MAX_PATH limit, no name rewriting by Win32);
// "//server/share/x" -> L"\\?\UNC\server\share\x"; relative paths are made
// absolute first (the prefix requires it), lexically (AbsoluteWindowsPath in
// platform/lexical_path.h): names like "foo ", "foo.", "CON" stay as they
// are. Already prefixed paths and "//./pipe/..." device paths are only
// converted to backslashes.
std::wstring LongPath(const std::string& path);
// The process's current folder, absolute, '/' separators ("C:/work").
std::string CurrentDirectory();
// The reverse for paths the OS gives back (GetFinalPathNameByHandleW,
// GetModuleFileNameW): prefix removed, '/' separators.
std::string FromWidePath(std::wstring_view wide);

// "<op> '<path>': <system text> (error N)". ERROR_FILE_NOT_FOUND/
// ERROR_PATH_NOT_FOUND -> kNotFound, ERROR_ALREADY_EXISTS/ERROR_FILE_EXISTS
// -> kAlreadyExists, ERROR_DISK_FULL -> kNoSpace, everything else -> kIo.
// The status carries HRESULT_FROM_WIN32(err) as its os_error.
Status WinErrorStatus(std::string_view op, std::string_view path, DWORD err);
inline Status LastErrorStatus(std::string_view op, std::string_view path) {
  return WinErrorStatus(op, path, GetLastError());
}

// What a failed FlushFileBuffers on a volume handle means for a restore: a
// volume whose file system has no flush (ERROR_INVALID_FUNCTION,
// ERROR_NOT_SUPPORTED: some virtual and network file systems) answers
// kUnsupported, which the restore does not count as an error; any other
// error is WinErrorStatus's.
Status VolumeFlushStatus(std::string_view path, DWORD err);

// Closes a handle on destruction.
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(HANDLE h) : h_(h == INVALID_HANDLE_VALUE ? nullptr : h) {}
  ~UniqueHandle() { reset(); }
  UniqueHandle(UniqueHandle&& o) noexcept : h_(o.release()) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = o.release();
    }
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  HANDLE get() const { return h_; }
  bool valid() const { return h_ != nullptr; }
  HANDLE release() {
    HANDLE h = h_;
    h_ = nullptr;
    return h;
  }
  void reset() {
    if (h_ != nullptr) CloseHandle(h_);
    h_ = nullptr;
  }

 private:
  HANDLE h_ = nullptr;
};

// FILETIME (100 ns ticks since 1601) <-> nanoseconds since 1970.
int64_t NsFromFileTime(const FILETIME& ft);
FILETIME FileTimeFromNs(int64_t ns);

// Kind and FileInfo of an open handle (opened without following a reparse
// point). Mode bits are emulated: see DescribeHandle in env_win.cc.
Result<FileInfo> InfoFromHandle(HANDLE h, const std::string& display);

// A security descriptor whose protected DACL grants full control to the
// current user, SYSTEM and Administrators only (owner-only files and
// folders, the counterpart of 0600/0700). Freed with LocalFree.
struct OwnerOnlySecurity {
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  SECURITY_ATTRIBUTES attributes{};
  OwnerOnlySecurity() = default;
  ~OwnerOnlySecurity() {
    if (descriptor != nullptr) LocalFree(descriptor);
  }
  OwnerOnlySecurity(const OwnerOnlySecurity&) = delete;
  OwnerOnlySecurity& operator=(const OwnerOnlySecurity&) = delete;
};
// `sddl_extra_for_user` false leaves the current user out (the local API
// pipe: SYSTEM and Administrators only).
Status MakeRestrictedSecurity(bool include_current_user, OwnerOnlySecurity* out);
// Applies the owner-only DACL to an existing file or folder.
Status ApplyOwnerOnly(const std::string& path);

// The current process token's user SID as a string ("S-1-5-21-...").
std::string CurrentUserSid();
// The owner SID string of an object opened with READ_CONTROL ("" if it
// cannot be read).
std::string HandleOwnerSid(HANDLE h, SE_OBJECT_TYPE type = SE_KERNEL_OBJECT);
// The current process token's default owner for new objects
// (TokenOwner): the user, or Administrators for an elevated admin.
std::string CurrentTokenOwnerSid();
// Whether a local API pipe owned by `owner_sid` is the engine's for a
// client running as `client_sid` whose own objects get `client_owner_sid`
// as owner: SYSTEM, Administrators, or the client's own account (an engine
// in the foreground, which owns its pipe as the client's would be owned).
// Never "".
bool PipeServerTrusted(const std::string& owner_sid, const std::string& client_sid,
                       const std::string& client_owner_sid = {});
// The owner ApplyOwnerOnly gives an existing state or scratch folder:
// Administrators for an elevated process (SYSTEM, an elevated admin), else
// the process's user.
std::string OwnerOnlyOwnerSid();
// Whether a file's security descriptor lets only `trusted` SIDs change it:
// its owner is one of them, it has a DACL (NULL: everyone may do
// anything), and no allow entry that applies to the file itself (inherit-
// only entries do not) grants FILE_WRITE_DATA, FILE_APPEND_DATA, DELETE,
// WRITE_DAC, WRITE_OWNER, GENERIC_WRITE, GENERIC_ALL or MAXIMUM_ALLOWED to
// another SID. An allow entry of a kind it does not know counts as a grant.
bool OnlyTrustedCanChange(PSECURITY_DESCRIPTOR descriptor, const std::vector<std::string>& trusted);
// OnlyTrustedCanChange for the regular file at `path` (opened without
// following a reparse point), trusting this process's user, SYSTEM and
// Administrators.
bool OnlyTrustedCanChangeFile(const std::string& path);
// FNV-1a of a SID string: what FileInfo::uid holds on Windows.
uint32_t SidHash(const std::string& sid);
bool IsElevated();

// Takes ownership of a directory handle (opened with
// FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT and checked not
// to be a reparse point).
std::unique_ptr<RestoreDir> NewWinRestoreDir(HANDLE dir, std::string display);
// A ReadableFile over an open file handle (positional reads).
std::unique_ptr<ReadableFile> NewWinReadableFile(UniqueHandle h, std::string path);
// Removes `path` and, if it is a folder, everything below it, never
// following a reparse point (a junction or symlink is removed itself).
// kNotFound if it does not exist.
Status RemoveTree(const std::string& path);

// Appends `arg` to a command line so that CommandLineToArgvW (and the C
// runtime of the started program) give it back unchanged. cmd.exe does not
// follow these rules; RunProgram never goes through it.
void AppendQuoted(std::wstring* line, const std::wstring& arg);

// The local API over a named pipe (service_win.cc).
std::string PipeNameForStateDir(const std::string& state_dir);
Result<std::unique_ptr<LocalListener>> ListenPipe(const std::string& address);
Result<std::unique_ptr<LocalConnection>> ConnectPipe(const std::string& address);
int RunWinService(const std::string& name, bool service_manager,
                  const std::function<int(ServiceContext&)>& body);
// The service's answers to the SCM: the controls it accepts in `state`
// (SERVICE_RUNNING: stop, shutdown and pre-shutdown), and what a control
// does (stop, pre-shutdown and shutdown all stop the engine, which stops a
// running job cleanly first).
enum class ServiceControlAction { kStop, kNothing, kNotImplemented };
DWORD AcceptedControls(DWORD state);
ServiceControlAction ServiceControlActionFor(DWORD control);
inline constexpr DWORD kPreshutdownTimeoutMs = 90000;
Status RegisterTask(const OsScheduleDefinition& definition);
Status UnregisterTask(const OsScheduleDefinition& definition);

// Layout of FSCTL_GET_REPARSE_POINT's answer for symlinks and junctions
// (REPARSE_DATA_BUFFER of the DDK, which mingw's SDK headers lack): this
// header, for a symlink a DWORD of flags (kSymlinkFlagRelative), then the
// substitute and print names at their offsets.
struct ReparseHeader {
  DWORD tag;
  WORD data_length;
  WORD reserved;
  WORD substitute_offset;
  WORD substitute_length;
  WORD print_offset;
  WORD print_length;
};
inline constexpr DWORD kSymlinkFlagRelative = 1;

}  // namespace obagent::platform::win
