// platform::Env for Windows: Win32 wide-character calls, UTF-8 '/' paths
// converted at the call (win_util.h), "\\?\" long paths throughout.
#include <windows.h>
// After windows.h:
#include <io.h>
#include <objbase.h>

#include <algorithm>
#include <cstdlib>
#include <cwctype>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "obagent/platform_process.h"
#include "platform/lexical_path.h"
#include "platform/privileges.h"
#include "platform/random_suffix.h"
#include "platform/reparse_read.h"
#include "security_win.h"
#include "streams_win.h"
#include "win_util.h"

namespace obagent::platform {
namespace {

using win::kSymlinkFlagRelative;
using win::LastErrorStatus;
using win::LongPath;
using win::Narrow;
using win::ReparseHeader;
using win::UniqueHandle;
using win::Widen;
using win::WinErrorStatus;

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
// Opens the entry itself, never what a reparse point (symlink, junction,
// mount point) redirects to; folders need BACKUP_SEMANTICS to be opened.
constexpr DWORD kNoFollow = FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS;

// Splits "C:/a/b" into ("C:/a", "b"); "b" into (".", "b").
void SplitParent(std::string path, std::string* dir, std::string* base) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else {
    *dir = path.substr(0, slash + (slash == 0 || path[slash - 1] == ':' ? 1 : 0));
    *base = path.substr(slash + 1);
  }
}

std::string GetEnv(const wchar_t* name) {
  DWORD n = GetEnvironmentVariableW(name, nullptr, 0);
  if (n == 0) return {};
  std::wstring value(n, L'\0');
  n = GetEnvironmentVariableW(name, value.data(), n);
  value.resize(n);
  return Narrow(value);
}

std::string Slashes(std::string path) {
  for (char& c : path) c = c == '\\' ? '/' : c;
  return path;
}

// A name-surrogate reparse point (symlink, junction, mount point) is what
// POSIX calls a symlink; its tag is in dwReserved0 of a find result.
bool IsLinkAttributes(DWORD attributes, DWORD reparse_tag) {
  return (attributes & FILE_ATTRIBUTE_REPARSE_POINT) && IsReparseTagNameSurrogate(reparse_tag);
}

Result<UniqueHandle> OpenNoFollow(const std::string& path, DWORD access, const char* op) {
  HANDLE h = CreateFileW(LongPath(path).c_str(), access, kShareAll, nullptr, OPEN_EXISTING,
                         kNoFollow, nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus(op, path);
  return UniqueHandle(h);
}

class WinReadableFile final : public ReadableFile {
 public:
  WinReadableFile(UniqueHandle h, std::string path) : h_(std::move(h)), path_(std::move(path)) {}

  Result<size_t> Read(uint8_t* buffer, size_t n) override {
    OB_ASSIGN_OR_RETURN(size_t got, ReadAt(position_, buffer, n));
    position_ += got;
    return got;
  }

  // Positional reads (OVERLAPPED offsets) so Read's own position is the
  // only state and concurrent ReadAt calls do not disturb each other.
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) override {
    size_t done = 0;
    while (done < n) {
      OVERLAPPED ov{};
      uint64_t at = offset + done;
      ov.Offset = static_cast<DWORD>(at & 0xFFFFFFFFu);
      ov.OffsetHigh = static_cast<DWORD>(at >> 32);
      DWORD want = static_cast<DWORD>(std::min<size_t>(n - done, 1u << 30));
      DWORD got = 0;
      if (!::ReadFile(h_.get(), buffer + done, want, &got, &ov)) {
        DWORD err = GetLastError();
        if (err == ERROR_HANDLE_EOF) break;
        return WinErrorStatus("read", path_, err);
      }
      if (got == 0) break;
      done += got;
    }
    return done;
  }

  Result<FileInfo> Stat() override { return win::InfoFromHandle(h_.get(), path_); }

 private:
  UniqueHandle h_;
  std::string path_;
  uint64_t position_ = 0;
};

}  // namespace

std::unique_ptr<ReadableFile> win::NewWinReadableFile(UniqueHandle h, std::string path) {
  return std::make_unique<WinReadableFile>(std::move(h), std::move(path));
}

namespace {

// LockFileEx locks belong to the handle: closing it (or the process dying)
// releases the lock.
class WinFileLock final : public FileLock {
 public:
  explicit WinFileLock(UniqueHandle h) : h_(std::move(h)) {}

 private:
  UniqueHandle h_;
};

}  // namespace

namespace win {
// MSVCRT's command-line parsing rules (what CommandLineToArgvW and the C
// runtime of the started program undo): quotes around arguments with
// spaces, tabs or quotes; backslashes doubled only before a quote.
void AppendQuoted(std::wstring* line, const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    *line += arg;
    return;
  }
  *line += L'"';
  for (size_t i = 0;; ++i) {
    size_t backslashes = 0;
    while (i < arg.size() && arg[i] == L'\\') {
      ++i;
      ++backslashes;
    }
    if (i == arg.size()) {
      line->append(backslashes * 2, L'\\');
      break;
    }
    if (arg[i] == L'"') {
      line->append(backslashes * 2 + 1, L'\\');
    } else {
      line->append(backslashes, L'\\');
    }
    *line += arg[i];
  }
  *line += L'"';
}
}  // namespace win

namespace {

// CreateFileW for reparse::OpenDataForRead: BACKUP_SEMANTICS always (with
// SeBackupPrivilege enabled it reads past the DACL), OPEN_REPARSE_POINT
// when asked (the entry itself: no link followed, no filter, no recall).
class ReparseOpenerWin final : public reparse::ReparseOpener {
 public:
  Result<Opened> Open(const std::string& path, bool open_reparse_point) override {
    DWORD flags = FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_SEQUENTIAL_SCAN |
                  (open_reparse_point ? FILE_FLAG_OPEN_REPARSE_POINT : 0);
    HANDLE h = CreateFileW(LongPath(path).c_str(), GENERIC_READ, kShareAll, nullptr, OPEN_EXISTING,
                           flags, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", path);
    UniqueHandle handle(h);
    Opened out;
    FILE_ATTRIBUTE_TAG_INFO tag{};
    if (!GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof tag)) {
      return LastErrorStatus("read the attributes of", path);
    }
    BY_HANDLE_FILE_INFORMATION bhfi;
    if (!GetFileInformationByHandle(h, &bhfi)) return LastErrorStatus("stat", path);
    out.attributes = tag.FileAttributes;
    out.reparse_tag = (tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ? tag.ReparseTag : 0;
    out.volume = bhfi.dwVolumeSerialNumber;
    out.file_id = (static_cast<uint64_t>(bhfi.nFileIndexHigh) << 32) | bhfi.nFileIndexLow;
    out.file = std::make_unique<WinReadableFile>(std::move(handle), path);
    return out;
  }
};

// The process token for privileges::EnableForBackup.
class ProcessToken final : public privileges::Token {
 public:
  ProcessToken() {
    HANDLE token = nullptr;
    if (OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) {
      token_ = UniqueHandle(token);
      DWORD size = 0;
      GetTokenInformation(token, TokenPrivileges, nullptr, 0, &size);
      held_.resize(size);
      if (size == 0 || !GetTokenInformation(token, TokenPrivileges, held_.data(), size, &size)) {
        held_.clear();
      }
    }
  }

  bool Holds(std::string_view name) override {
    LUID luid{};
    if (held_.empty() || !Lookup(name, &luid)) return false;
    const auto* list = reinterpret_cast<const TOKEN_PRIVILEGES*>(held_.data());
    for (DWORD i = 0; i < list->PrivilegeCount; ++i) {
      const LUID& l = list->Privileges[i].Luid;
      if (l.LowPart == luid.LowPart && l.HighPart == luid.HighPart) return true;
    }
    return false;
  }

  Status Enable(std::string_view name) override {
    LUID luid{};
    if (!token_.valid()) return LastErrorStatus("open the process token for", name);
    if (!Lookup(name, &luid)) return LastErrorStatus("look up privilege", name);
    TOKEN_PRIVILEGES wanted{};
    wanted.PrivilegeCount = 1;
    wanted.Privileges[0].Luid = luid;
    wanted.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
    // Succeeds without enabling a privilege the token lacks; GetLastError
    // says ERROR_NOT_ALL_ASSIGNED then.
    if (!AdjustTokenPrivileges(token_.get(), FALSE, &wanted, 0, nullptr, nullptr) ||
        GetLastError() == ERROR_NOT_ALL_ASSIGNED) {
      return LastErrorStatus("AdjustTokenPrivileges", name);
    }
    return Status::Ok();
  }

 private:
  static bool Lookup(std::string_view name, LUID* luid) {
    return LookupPrivilegeValueW(nullptr, Widen(std::string(name)).c_str(), luid) != FALSE;
  }
  UniqueHandle token_;
  std::vector<uint8_t> held_;
};

class WinEnv final : public Env {
 public:
  Result<FileInfo> Lstat(const std::string& path) override {
    HANDLE h = CreateFileW(LongPath(path).c_str(), FILE_READ_ATTRIBUTES | READ_CONTROL, kShareAll,
                           nullptr, OPEN_EXISTING, kNoFollow, nullptr);
    if (h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED) {
      // Reading the owner needs READ_CONTROL; the rest does not.
      h = CreateFileW(LongPath(path).c_str(), FILE_READ_ATTRIBUTES, kShareAll, nullptr,
                      OPEN_EXISTING, kNoFollow, nullptr);
    }
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("stat", path);
    UniqueHandle handle(h);
    return win::InfoFromHandle(h, path);
  }

  Result<std::vector<DirEntry>> ListDir(const std::string& path) override {
    std::wstring pattern = LongPath(path);
    if (!pattern.empty() && pattern.back() != L'\\') pattern += L'\\';
    pattern += L'*';
    WIN32_FIND_DATAW found;
    HANDLE find = FindFirstFileExW(pattern.c_str(), FindExInfoBasic, &found, FindExSearchNameMatch,
                                   nullptr, FIND_FIRST_EX_LARGE_FETCH);
    if (find == INVALID_HANDLE_VALUE) return LastErrorStatus("open folder", path);
    std::vector<DirEntry> entries;
    do {
      std::wstring_view name = found.cFileName;
      if (name == L"." || name == L"..") continue;
      DirEntry entry;
      entry.name = Narrow(name);
      const DWORD attrs = found.dwFileAttributes;
      if (IsLinkAttributes(attrs, found.dwReserved0)) {
        entry.kind = FileKind::kSymlink;
      } else if (attrs & FILE_ATTRIBUTE_DEVICE) {
        entry.kind = FileKind::kOther;
      } else if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
        entry.kind = FileKind::kDirectory;
      } else {
        entry.kind = FileKind::kRegular;
      }
      entries.push_back(std::move(entry));
    } while (FindNextFileW(find, &found));
    DWORD err = GetLastError();
    FindClose(find);
    if (err != ERROR_NO_MORE_FILES) return WinErrorStatus("list folder", path, err);
    // By UTF-8 bytes, like POSIX (not NTFS's case-insensitive order).
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    return entries;
  }

  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override {
    // Links are refused like O_NOFOLLOW does; deduplicated, WOF and cloud
    // files are read through their filter; placeholders are never recalled
    // (platform/reparse_read.h).
    ReparseOpenerWin opener;
    return reparse::OpenDataForRead(opener, path);
  }

  Result<std::string> ReadLink(const std::string& path) override {
    OB_ASSIGN_OR_RETURN(UniqueHandle h, OpenNoFollow(path, FILE_READ_ATTRIBUTES, "read link"));
    std::vector<uint8_t> buf(MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
    DWORD got = 0;
    if (!DeviceIoControl(h.get(), FSCTL_GET_REPARSE_POINT, nullptr, 0, buf.data(),
                         static_cast<DWORD>(buf.size()), &got, nullptr)) {
      return LastErrorStatus("read link", path);
    }
    ReparseHeader header;
    if (got < sizeof header) return WinErrorStatus("read link", path, ERROR_INVALID_DATA);
    std::memcpy(&header, buf.data(), sizeof header);
    size_t names_at = sizeof header;
    bool relative = false;
    if (header.tag == IO_REPARSE_TAG_SYMLINK) {
      DWORD flags = 0;
      std::memcpy(&flags, buf.data() + names_at, sizeof flags);
      relative = (flags & kSymlinkFlagRelative) != 0;
      names_at += sizeof flags;
    } else if (header.tag != IO_REPARSE_TAG_MOUNT_POINT) {
      return WinErrorStatus("read link", path, ERROR_NOT_A_REPARSE_POINT);
    }
    auto name_at = [&](WORD offset, WORD length) -> std::wstring {
      size_t begin = names_at + offset;
      if (begin + length > got) return {};
      return std::wstring(reinterpret_cast<const wchar_t*>(buf.data() + begin),
                          length / sizeof(wchar_t));
    };
    std::wstring target = name_at(header.print_offset, header.print_length);
    if (target.empty()) {
      target = name_at(header.substitute_offset, header.substitute_length);
      if (!relative && target.rfind(LR"(\??\)", 0) == 0) target.erase(0, 4);
    }
    return Slashes(win::FromWidePath(target));
  }

  Result<FileMetadata> ReadMetadata(const std::string& path, const FileInfo& info) override {
    FileMetadata md;
    OB_RETURN_IF_ERROR(win::ReadSecurityMetadata(path, md));      // descriptor, attributes
    OB_RETURN_IF_ERROR(win::ReadStreamMetadata(path, info, md));  // streams, sparse, reparse kind
    return md;
  }

  Result<std::unique_ptr<ReadableFile>> OpenStreamForRead(const std::string& path,
                                                          const std::string& stream) override {
    return win::OpenNamedStream(path, stream);
  }

  Result<DiskSpace> GetDiskSpace(const std::string& path) override {
    std::wstring dir = LongPath(path);
    if (!dir.empty() && dir.back() != L'\\') dir += L'\\';
    ULARGE_INTEGER available{}, total{}, free_total{};
    if (!GetDiskFreeSpaceExW(dir.c_str(), &available, &total, &free_total)) {
      return LastErrorStatus("disk space of", path);
    }
    DiskSpace space;
    space.total_bytes = total.QuadPart;
    space.free_bytes = available.QuadPart;  // honours the user's quota
    return space;
  }

  Result<ScratchAttributes> ScratchFolderProblems(const std::string& path) override {
    DWORD attrs = GetFileAttributesW(LongPath(path).c_str());
    if (attrs == INVALID_FILE_ATTRIBUTES) return LastErrorStatus("stat", path);
    ScratchAttributes problems;
    problems.compressed = (attrs & FILE_ATTRIBUTE_COMPRESSED) != 0;
    problems.sparse = (attrs & FILE_ATTRIBUTE_SPARSE_FILE) != 0;
    problems.reparse_point = (attrs & FILE_ATTRIBUTE_REPARSE_POINT) != 0;
    return problems;
  }

  Result<Bytes> ReadFile(const std::string& path) override {
    HANDLE h = CreateFileW(LongPath(path).c_str(), GENERIC_READ, kShareAll, nullptr, OPEN_EXISTING,
                           FILE_FLAG_SEQUENTIAL_SCAN, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", path);
    UniqueHandle handle(h);
    Bytes data;
    LARGE_INTEGER size{};
    if (GetFileSizeEx(h, &size) && size.QuadPart > 0) {
      data.reserve(static_cast<size_t>(size.QuadPart));
    }
    uint8_t chunk[64 * 1024];
    for (;;) {
      DWORD got = 0;
      if (!::ReadFile(h, chunk, sizeof chunk, &got, nullptr)) return LastErrorStatus("read", path);
      if (got == 0) break;
      data.insert(data.end(), chunk, chunk + got);
    }
    return data;
  }

  Status WriteFileAtomic(const std::string& path, ByteView data, bool owner_only) override {
    return WriteAtomic(path, owner_only, [&](HANDLE file, const std::string& tmp) {
      return WriteAllTo(file, data, tmp);
    });
  }

  Status WriteFileAtomicFrom(const std::string& path, const ContentReader& read,
                             bool owner_only) override {
    return WriteAtomic(path, owner_only, [&](HANDLE file, const std::string& tmp) -> Status {
      Bytes piece(size_t{1} << 20);
      for (;;) {
        OB_ASSIGN_OR_RETURN(size_t got, read(piece.data(), piece.size()));
        if (got == 0) return Status::Ok();
        OB_RETURN_IF_ERROR(
            WriteAllTo(file, ByteView(piece).first(std::min(got, piece.size())), tmp));
      }
    });
  }

  static Status WriteAllTo(HANDLE file, ByteView data, const std::string& tmp) {
    size_t done = 0;
    while (done < data.size()) {
      DWORD want = static_cast<DWORD>(std::min<size_t>(data.size() - done, 1u << 30));
      DWORD wrote = 0;
      if (!WriteFile(file, data.data() + done, want, &wrote, nullptr)) {
        return LastErrorStatus("write", tmp);
      }
      done += wrote;
    }
    return Status::Ok();
  }

  // Temp file beside `path`, `write` fills it, flush, rename (write-through);
  // the temp file is removed on any failure.
  Status WriteAtomic(const std::string& path, bool owner_only,
                     const std::function<Status(HANDLE file, const std::string& tmp)>& write) {
    std::string dir, base;
    SplitParent(path, &dir, &base);
    if (base.empty() || base == "." || base == "..") {
      return InvalidArgument("not a file path: '" + path + "'");
    }
    std::string dir_prefix = dir.back() == '/' ? dir : dir + "/";
    std::string stem = base.substr(0, 64);
    win::OwnerOnlySecurity security;
    if (owner_only) OB_RETURN_IF_ERROR(win::MakeRestrictedSecurity(true, &security));
    std::string tmp;
    UniqueHandle file;
    for (int attempt = 0; attempt < 16 && !file.valid(); ++attempt) {
      tmp = dir_prefix + std::string(win::kTempPrefix) + stem + "-" +
            RandomSuffix(static_cast<uint64_t>(GetCurrentProcessId()));
      HANDLE h = CreateFileW(LongPath(tmp).c_str(), GENERIC_WRITE | DELETE, 0,
                             owner_only ? &security.attributes : nullptr, CREATE_NEW,
                             FILE_ATTRIBUTE_NORMAL, nullptr);
      if (h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        if (err != ERROR_FILE_EXISTS && err != ERROR_ALREADY_EXISTS) {
          return WinErrorStatus("create", tmp, err);
        }
        continue;
      }
      file = UniqueHandle(h);
    }
    if (!file.valid()) return WinErrorStatus("create", tmp, ERROR_FILE_EXISTS);
    auto fail = [&](Status st) {
      file.reset();
      DeleteFileW(LongPath(tmp).c_str());
      return st;
    };
    Status written = write(file.get(), tmp);
    if (!written.ok()) return fail(written);
    if (!FlushFileBuffers(file.get())) return fail(LastErrorStatus("flush", tmp));
    file.reset();
    // WRITE_THROUGH: returns once the rename is on disk (NTFS journals it;
    // there is no folder to fsync as on POSIX). A symlink at `path` is
    // replaced itself, never its target. A destination that another
    // rename is replacing at this moment, or that a reader holds open
    // without FILE_SHARE_DELETE, refuses briefly (access denied, sharing
    // violation): retry for up to about a second, as POSIX never fails here.
    for (int attempt = 0;; ++attempt) {
      if (MoveFileExW(LongPath(tmp).c_str(), LongPath(path).c_str(),
                      MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        return Status::Ok();
      }
      DWORD err = GetLastError();
      bool transient = err == ERROR_ACCESS_DENIED || err == ERROR_SHARING_VIOLATION;
      if (!transient || attempt >= 100) return fail(WinErrorStatus("rename", path, err));
      Sleep(attempt < 10 ? 1 : 10);
    }
  }

  Status CreateDirs(const std::string& path, bool owner_only) override {
    if (path.empty()) return InvalidArgument("empty folder path");
    OB_ASSIGN_OR_RETURN(std::string full, AbsolutePath(path));
    // The root ("C:/", "//server/share") exists or nothing can be made.
    size_t start = 0;
    if (full.rfind("//", 0) == 0) {
      size_t share_end = full.find('/', full.find('/', 2) + 1);
      start = share_end == std::string::npos ? full.size() : share_end + 1;
    } else {
      start = full.find('/') + 1;
    }
    std::vector<std::string> prefixes;
    for (size_t i = start; i < full.size();) {
      size_t j = full.find('/', i);
      if (j == std::string::npos) j = full.size();
      prefixes.push_back(full.substr(0, j));
      i = j + 1;
    }
    if (prefixes.empty()) return Status::Ok();
    win::OwnerOnlySecurity security;
    if (owner_only) OB_RETURN_IF_ERROR(win::MakeRestrictedSecurity(true, &security));
    for (size_t k = 0; k < prefixes.size(); ++k) {
      const std::string& p = prefixes[k];
      bool last = k + 1 == prefixes.size();
      if (CreateDirectoryW(LongPath(p).c_str(),
                           last && owner_only ? &security.attributes : nullptr)) {
        continue;
      }
      DWORD err = GetLastError();
      DWORD attrs = GetFileAttributesW(LongPath(p).c_str());
      if (attrs != INVALID_FILE_ATTRIBUTES) {
        if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
          if (last && owner_only) return win::ApplyOwnerOnly(p);
          continue;
        }
        return {ErrorCode::kAlreadyExists, "create folder '" + p + "': exists and is not a folder"};
      }
      return WinErrorStatus("create folder", p, err);
    }
    return Status::Ok();
  }

  Status MoveFileReplacing(const std::string& from, const std::string& to) override {
    // Without MOVEFILE_COPY_ALLOWED another volume is refused, not copied;
    // WRITE_THROUGH returns once the rename is on disk.
    if (MoveFileExW(LongPath(from).c_str(), LongPath(to).c_str(),
                    MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
      return Status::Ok();
    }
    DWORD err = GetLastError();
    if (err == ERROR_NOT_SAME_DEVICE) {
      return Status(ErrorCode::kUnsupported,
                    "'" + from + "' and '" + to + "' are on different volumes");
    }
    return WinErrorStatus("rename", to, err);
  }

  // Without MOVEFILE_REPLACE_EXISTING an existing `to` fails the move.
  Status MoveFileNoReplace(const std::string& from, const std::string& to) override {
    if (MoveFileExW(LongPath(from).c_str(), LongPath(to).c_str(), MOVEFILE_WRITE_THROUGH)) {
      return Status::Ok();
    }
    DWORD err = GetLastError();
    if (err == ERROR_ALREADY_EXISTS || err == ERROR_FILE_EXISTS) {
      return Status(ErrorCode::kAlreadyExists, "'" + to + "' exists already");
    }
    if (err == ERROR_NOT_SAME_DEVICE) {
      return Status(ErrorCode::kUnsupported,
                    "'" + from + "' and '" + to + "' are on different volumes");
    }
    return WinErrorStatus("rename", to, err);
  }

  Status RemoveFile(const std::string& path) override {
    std::wstring wide = LongPath(path);
    if (DeleteFileW(wide.c_str())) return Status::Ok();
    DWORD err = GetLastError();
    DWORD attrs = GetFileAttributesW(wide.c_str());
    if (err == ERROR_ACCESS_DENIED && attrs != INVALID_FILE_ATTRIBUTES) {
      if ((attrs & FILE_ATTRIBUTE_DIRECTORY) && (attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
        // A folder symlink or junction: removed as a folder entry.
        if (RemoveDirectoryW(wide.c_str())) return Status::Ok();
        return LastErrorStatus("remove", path);
      }
      if (attrs & FILE_ATTRIBUTE_READONLY) {
        // POSIX unlink ignores the file's own mode; so does this.
        SetFileAttributesW(wide.c_str(), attrs & ~FILE_ATTRIBUTE_READONLY);
        if (DeleteFileW(wide.c_str())) return Status::Ok();
        err = GetLastError();
        SetFileAttributesW(wide.c_str(), attrs);
      }
    }
    return WinErrorStatus("remove", path, err);
  }

  Status RemoveAll(const std::string& path) override {
    std::string dir, base;
    SplitParent(path, &dir, &base);
    if (base.empty() || base == "." || base == ".." || base.back() == ':') {
      return InvalidArgument("refusing to remove '" + path + "'");
    }
    Status st = win::RemoveTree(path);
    if (st.code() == ErrorCode::kNotFound) return Status::Ok();
    return st;
  }

  bool Exists(const std::string& path) override {
    return GetFileAttributesW(LongPath(path).c_str()) != INVALID_FILE_ATTRIBUTES;
  }

  std::string Hostname() override {
    wchar_t buf[256] = {};
    DWORD n = 255;
    if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &n) || n == 0) return "localhost";
    return Narrow(std::wstring_view(buf, n));
  }

  // "C:/a/../b" -> "C:/b"; "x" -> "<cwd>/x"; "/x" -> "<drive of cwd>/x";
  // "//server/share/x" stays a UNC path. Lexical: nothing is resolved.
  Result<std::string> AbsolutePath(const std::string& input) override {
    if (input.empty()) return InvalidArgument("empty path");
    return AbsoluteWindowsPath(input, win::CurrentDirectory());
  }

  Result<std::unique_ptr<RestoreDir>> OpenRestoreRoot(const std::string& path,
                                                      bool create) override {
    if (create) OB_RETURN_IF_ERROR(CreateDirs(path, false));
    // The target itself may be reached through a link: no OPEN_REPARSE_POINT.
    HANDLE h = CreateFileW(LongPath(path).c_str(),
                           FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES |
                               READ_CONTROL | SYNCHRONIZE,
                           kShareAll, nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open restore folder", path);
    UniqueHandle handle(h);
    BY_HANDLE_FILE_INFORMATION bhfi;
    if (!GetFileInformationByHandle(h, &bhfi)) return LastErrorStatus("stat", path);
    if (!(bhfi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
      return WinErrorStatus("open restore folder", path, ERROR_DIRECTORY);
    }
    return win::NewWinRestoreDir(handle.release(), path);
  }

  std::vector<std::string> FileSystemRoots() override {
    std::vector<std::string> roots;
    DWORD drives = GetLogicalDrives();
    for (int i = 0; i < 26; ++i) {
      if (drives & (1u << i)) roots.push_back(std::string(1, static_cast<char>('A' + i)) + ":/");
    }
    return roots;
  }

  std::string DefaultStateDir() override {
    std::string configured = GetEnv(L"OBAGENT_STATE_DIR");
    if (!configured.empty()) return Slashes(configured);
    // The service (LocalSystem, or an elevated console) keeps its state
    // machine-wide; a user's own engine in their profile.
    std::string base = GetEnv(IsElevatedOrSystem() ? L"ProgramData" : L"LOCALAPPDATA");
    if (base.empty()) base = GetEnv(L"ProgramData");
    return Slashes(base) + "/obagent";
  }

  bool IsTerminal(int fd) override {
    if (fd < 0) return false;
    intptr_t os = _get_osfhandle(fd);
    if (os == -1) return false;
    DWORD mode = 0;
    return GetConsoleMode(reinterpret_cast<HANDLE>(os), &mode) != 0;
  }

  // The Windows heap hands blocks above its VirtualAlloc threshold (512 KiB
  // on 64-bit) straight back to the OS on free: nothing to tune.
  void PreferReturningLargeBuffers() override {}

  Result<std::unique_ptr<FileLock>> TryLockFile(const std::string& path) override {
    win::OwnerOnlySecurity security;
    OB_RETURN_IF_ERROR(win::MakeRestrictedSecurity(true, &security));
    HANDLE h =
        CreateFileW(LongPath(path).c_str(), GENERIC_READ | GENERIC_WRITE, kShareAll,
                    &security.attributes, OPEN_ALWAYS, FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open lock file", path);
    UniqueHandle handle(h);
    OVERLAPPED ov{};
    if (!LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, MAXDWORD, MAXDWORD,
                    &ov)) {
      DWORD err = GetLastError();
      if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING) {
        return Status(ErrorCode::kAlreadyExists, "'" + path + "' is locked by another process");
      }
      return WinErrorStatus("lock", path, err);
    }
    return std::unique_ptr<FileLock>(std::make_unique<WinFileLock>(std::move(handle)));
  }

  int64_t ProcessId() override { return GetCurrentProcessId(); }

  Result<int> RunProgram(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env) override {
    std::wstring program = Widen(path);
    for (wchar_t& c : program) c = c == L'/' ? L'\\' : c;
    std::wstring line;
    win::AppendQuoted(&line, program);
    for (const std::string& arg : args) {
      line += L' ';
      win::AppendQuoted(&line, Widen(arg));
    }
    // The inherited environment, with extra_env replacing variables of the
    // same name (names are case-insensitive on Windows).
    std::vector<std::wstring> vars;
    if (wchar_t* block = GetEnvironmentStringsW()) {
      for (const wchar_t* p = block; *p != L'\0'; p += wcslen(p) + 1) vars.emplace_back(p);
      FreeEnvironmentStringsW(block);
    }
    auto name_of = [](const std::wstring& var) {
      // "=C:=C:\x" entries (per-drive folders) start with '='.
      size_t eq = var.find(L'=', 1);
      std::wstring name = var.substr(0, eq);
      for (wchar_t& c : name) c = static_cast<wchar_t>(std::towupper(c));
      return name;
    };
    for (const std::string& extra : extra_env) {
      std::wstring var = Widen(extra);
      std::wstring name = name_of(var);
      std::erase_if(vars, [&](const std::wstring& v) { return name_of(v) == name; });
      vars.push_back(std::move(var));
    }
    std::wstring env_block;
    for (const std::wstring& v : vars) env_block += v + L'\0';
    env_block += L'\0';
    STARTUPINFOW startup{};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION process{};
    if (!CreateProcessW(program.c_str(), line.data(), nullptr, nullptr, FALSE,
                        CREATE_UNICODE_ENVIRONMENT, env_block.data(), nullptr, &startup,
                        &process)) {
      return LastErrorStatus("start", path);
    }
    UniqueHandle process_handle(process.hProcess);
    UniqueHandle thread_handle(process.hThread);
    if (WaitForSingleObject(process.hProcess, INFINITE) != WAIT_OBJECT_0) {
      return LastErrorStatus("wait for", path);
    }
    DWORD code = 1;
    if (!GetExitCodeProcess(process.hProcess, &code)) return LastErrorStatus("wait for", path);
    return static_cast<int>(code);
  }

  bool OnlyThisAccountCanChange(const std::string& path) override {
    return win::OnlyTrustedCanChangeFile(path);
  }

  bool ProcessAlive(int64_t pid) override {
    if (pid <= 0 || pid > MAXDWORD) return false;
    HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE,
                           static_cast<DWORD>(pid));
    if (h == nullptr) return GetLastError() == ERROR_ACCESS_DENIED;  // exists, not ours
    UniqueHandle handle(h);
    return WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
  }

  std::string ExecutablePath() override {
    std::wstring buf(MAX_PATH, L'\0');
    for (;;) {
      DWORD n = GetModuleFileNameW(nullptr, buf.data(), static_cast<DWORD>(buf.size()));
      if (n == 0) return {};
      if (n < buf.size()) {
        buf.resize(n);
        return win::FromWidePath(buf);
      }
      buf.resize(buf.size() * 2);
    }
  }

  std::string LocalApiAddress(const std::string& state_dir) override {
    auto absolute = AbsolutePath(state_dir);
    return win::PipeNameForStateDir(absolute.ok() ? *absolute : state_dir);
  }

  Result<std::unique_ptr<LocalListener>> ListenLocal(const std::string& address) override {
    return win::ListenPipe(address);
  }

  Result<std::unique_ptr<LocalConnection>> ConnectLocal(const std::string& address) override {
    return win::ConnectPipe(address);
  }

  Result<std::string> RegisterBackupSchedule(const OsScheduleDefinition& definition) override {
    OB_RETURN_IF_ERROR(win::RegisterTask(definition));
    return std::string("Task Scheduler");
  }

  Status UnregisterBackupSchedule(const OsScheduleDefinition& definition) override {
    return win::UnregisterTask(definition);
  }

  int RunService(const std::string& name, bool service_manager,
                 const std::function<int(ServiceContext&)>& body) override {
    return win::RunWinService(name, service_manager, body);
  }

 private:
  static bool IsElevatedOrSystem() {
    return win::IsElevated() || win::CurrentUserSid() == "S-1-5-18";
  }
};

}  // namespace

Env& Env::Default() {
  static WinEnv env;  // stateless: safe to use until exit
  return env;
}

// Process-level setup (obagent/platform_process.h).
Status InitializeProcessSecurity() {
  // The main thread joins the multithreaded apartment for the process's
  // lifetime (never uninitialised), so the settings below stay in force.
  HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
  if (FAILED(hr) && hr != RPC_E_CHANGED_MODE) {
    return {ErrorCode::kInternal, "CoInitializeEx failed", static_cast<uint32_t>(hr)};
  }
  // What Microsoft's VSS requesters use: packet privacy, identify-level
  // impersonation (writers may not act as the service), no cloaking.
  hr = CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
                            RPC_C_IMP_LEVEL_IDENTIFY, nullptr, EOAC_NONE, nullptr);
  if (FAILED(hr) && hr != RPC_E_TOO_LATE) {
    return {ErrorCode::kInternal, "CoInitializeSecurity failed", static_cast<uint32_t>(hr)};
  }
  return Status::Ok();
}

BackupPrivileges EnableBackupPrivileges() {
  ProcessToken token;
  return privileges::EnableForBackup(token);
}

}  // namespace obagent::platform
