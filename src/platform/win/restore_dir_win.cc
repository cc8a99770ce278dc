// platform::RestoreDir for Windows. Win32 has no openat(): every child is
// named by the folder's own final path (GetFinalPathNameByHandleW of the
// open handle) plus one checked component, opened with
// FILE_FLAG_OPEN_REPARSE_POINT so a symlink, junction or mount point is
// never followed, and every opened child folder is verified not to be a
// reparse point and to still be where its name says (final path check).
//
// Weaker than the POSIX *at() version: the parent is named by its path, so
// a junction swapped into an *ancestor* between naming and opening could
// redirect one create (openat cannot be redirected at all). The open handle
// keeps the folder itself from being deleted, but not its path from
// changing. Every created or opened entry is therefore verified afterwards:
// one that did not land inside this folder is deleted again (files) or not
// used (folders) and reported as kPathEscape. Probe, Rename, Remove and
// links are named the same way, without the check.
#include <windows.h>

#include <cwchar>
#include <cwctype>
#include <optional>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "security_win.h"
#include "streams_win.h"
#include "win_util.h"

namespace obagent::platform::win {
namespace {

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr DWORD kNoFollow = FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS;

// A single component that cannot leave the folder: also no '\\', ':'
// (alternate data streams, drive letters) and nothing Win32 would rewrite.
Status CheckName(std::string_view name) {
  bool bad = name.empty() || name == "." || name == ".." ||
             name.find_first_of(std::string_view("/\\:\0", 4)) != std::string_view::npos;
  if (bad) {
    std::string shown;
    for (char c : name) shown += c == '\0' ? std::string("\\0") : std::string(1, c);
    return {ErrorCode::kPathEscape, "unsafe name '" + shown + "' in a restore folder"};
  }
  return Status::Ok();
}

std::wstring FinalPath(HANDLE h) {
  std::wstring buf(512, L'\0');
  for (;;) {
    DWORD n = GetFinalPathNameByHandleW(h, buf.data(), static_cast<DWORD>(buf.size()),
                                        FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
    if (n == 0) return {};
    if (n < buf.size()) {
      buf.resize(n);
      return buf;
    }
    buf.resize(n + 1);
  }
}

bool SamePathIgnoringCase(const std::wstring& a, const std::wstring& b) {
  return CompareStringOrdinal(a.c_str(), static_cast<int>(a.size()), b.c_str(),
                              static_cast<int>(b.size()), TRUE) == CSTR_EQUAL;
}

bool IsLink(HANDLE h) {
  FILE_ATTRIBUTE_TAG_INFO tag{};
  return GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof tag) &&
         (tag.FileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) &&
         IsReparseTagNameSurrogate(tag.ReparseTag);
}

// Deletes the entry an open handle (with DELETE access) refers to.
void DeleteByHandle(HANDLE h) {
  FILE_DISPOSITION_INFO dispose{};
  dispose.DeleteFile = TRUE;
  SetFileInformationByHandle(h, FileDispositionInfo, &dispose, sizeof dispose);
}

class WinWritableFile final : public WritableFile {
 public:
  WinWritableFile(UniqueHandle h, std::string display)
      : h_(std::move(h)), display_(std::move(display)) {}

  Status WriteAt(uint64_t offset, ByteView data) override {
    if (!h_.valid()) return InternalError("write to closed file '" + display_ + "'");
    size_t done = 0;
    while (done < data.size()) {
      OVERLAPPED ov{};
      uint64_t at = offset + done;
      ov.Offset = static_cast<DWORD>(at & 0xFFFFFFFFu);
      ov.OffsetHigh = static_cast<DWORD>(at >> 32);
      DWORD want = static_cast<DWORD>(std::min<size_t>(data.size() - done, 1u << 30));
      DWORD wrote = 0;
      if (!WriteFile(h_.get(), data.data() + done, want, &wrote, &ov)) {
        return LastErrorStatus("write", display_);
      }
      done += wrote;
    }
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    if (!h_.valid()) return InternalError("truncate of closed file '" + display_ + "'");
    FILE_END_OF_FILE_INFO eof{};
    eof.EndOfFile.QuadPart = static_cast<LONGLONG>(size);
    if (!SetFileInformationByHandle(h_.get(), FileEndOfFileInfo, &eof, sizeof eof)) {
      return LastErrorStatus("truncate", display_);
    }
    return Status::Ok();
  }

  Status SetSparse() override {
    if (!h_.valid()) return InternalError("mark sparse a closed file '" + display_ + "'");
    return MarkSparse(h_.get(), display_);
  }

  Status Sync() override {
    if (!h_.valid()) return InternalError("sync of closed file '" + display_ + "'");
    if (!FlushFileBuffers(h_.get())) return LastErrorStatus("flush", display_);
    return Status::Ok();
  }

  Status Close() override {
    h_.reset();
    return Status::Ok();
  }

 private:
  UniqueHandle h_;
  std::string display_;
};

class WinRestoreDir final : public RestoreDir {
 public:
  WinRestoreDir(HANDLE h, std::string display) : h_(h), display_(std::move(display)) {}

  Result<FileKind> Probe(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    HANDLE h = CreateFileW(child.c_str(), FILE_READ_ATTRIBUTES, kShareAll, nullptr, OPEN_EXISTING,
                           kNoFollow, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("stat", Show(name));
    UniqueHandle handle(h);
    OB_ASSIGN_OR_RETURN(FileInfo info, InfoFromHandle(h, Show(name)));
    return info.kind;
  }

  Result<std::unique_ptr<RestoreDir>> OpenOrCreateSubdir(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    // CreateDirectoryW never follows a reparse point in the last component
    // (ERROR_ALREADY_EXISTS instead).
    if (!CreateDirectoryW(child.c_str(), nullptr) && GetLastError() != ERROR_ALREADY_EXISTS) {
      return LastErrorStatus("create folder", Show(name));
    }
    HANDLE h = CreateFileW(child.c_str(),
                           FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES |
                               READ_CONTROL | SYNCHRONIZE,
                           kShareAll, nullptr, OPEN_EXISTING, kNoFollow, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open folder", Show(name));
    UniqueHandle handle(h);
    BY_HANDLE_FILE_INFORMATION bhfi;
    if (!GetFileInformationByHandle(h, &bhfi)) return LastErrorStatus("stat", Show(name));
    if (IsLink(h) || !(bhfi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
      return Status(ErrorCode::kAlreadyExists,
                    "'" + Show(name) + "' exists and is not a folder (a file or link)");
    }
    OB_RETURN_IF_ERROR(VerifyInside(h, child, name));
    return std::unique_ptr<RestoreDir>(
        std::make_unique<WinRestoreDir>(handle.release(), Show(name)));
  }

  Result<std::unique_ptr<WritableFile>> CreateFile(std::string_view name, bool replace) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    for (int attempt = 0; attempt < 4; ++attempt) {
      // CREATE_NEW fails on any existing name, a dangling link included.
      // Shared for writing: other workers open the file (OpenForWrite)
      // while this handle writes its first chunks.
      HANDLE h =
          CreateFileW(child.c_str(), GENERIC_READ | GENERIC_WRITE | DELETE, kShareAll, nullptr,
                      CREATE_NEW, FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
      if (h != INVALID_HANDLE_VALUE) {
        UniqueHandle handle(h);
        Status inside = VerifyInside(h, child, name);
        if (!inside.ok()) {
          DeleteByHandle(h);
          return inside;
        }
        return std::unique_ptr<WritableFile>(
            std::make_unique<WinWritableFile>(std::move(handle), Show(name)));
      }
      DWORD err = GetLastError();
      if ((err != ERROR_FILE_EXISTS && err != ERROR_ALREADY_EXISTS) || !replace) {
        return WinErrorStatus("create", Show(name), err);
      }
      OB_RETURN_IF_ERROR(RemoveNonDirectory(name, child));
    }
    return WinErrorStatus("create", Show(name), ERROR_FILE_EXISTS);
  }

  Result<std::unique_ptr<WritableFile>> OpenForWrite(std::string_view name) override {
    OB_ASSIGN_OR_RETURN(UniqueHandle h, OpenRegular(name, GENERIC_WRITE));
    return std::unique_ptr<WritableFile>(
        std::make_unique<WinWritableFile>(std::move(h), Show(name)));
  }

  // A stream of a regular file of this folder, opened as "name:stream"
  // beside the verified file and checked to be its stream (streams_win.cc).
  Result<std::unique_ptr<WritableFile>> CreateStream(std::string_view name,
                                                     std::string_view stream) override {
    return OpenStream(name, stream, true);
  }
  Result<std::unique_ptr<WritableFile>> OpenStreamForWrite(std::string_view name,
                                                           std::string_view stream) override {
    return OpenStream(name, stream, false);
  }

  Result<std::unique_ptr<ReadableFile>> OpenForRead(std::string_view name) override {
    OB_ASSIGN_OR_RETURN(UniqueHandle h, OpenRegular(name, GENERIC_READ));
    return NewWinReadableFile(std::move(h), Show(name));
  }

  Result<std::vector<DirEntry>> List() override {
    OB_ASSIGN_OR_RETURN(std::wstring pattern, Child("*"));
    WIN32_FIND_DATAW found;
    HANDLE find = FindFirstFileExW(pattern.c_str(), FindExInfoBasic, &found, FindExSearchNameMatch,
                                   nullptr, 0);
    if (find == INVALID_HANDLE_VALUE) return LastErrorStatus("list folder", display_);
    std::vector<DirEntry> out;
    do {
      std::wstring_view n = found.cFileName;
      if (n == L"." || n == L"..") continue;
      FileKind kind = (found.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) ? FileKind::kSymlink
                      : (found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)   ? FileKind::kDirectory
                                                                              : FileKind::kRegular;
      out.push_back({Narrow(n), kind});
    } while (FindNextFileW(find, &found));
    DWORD err = GetLastError();
    FindClose(find);
    if (err != ERROR_NO_MORE_FILES) return WinErrorStatus("list folder", display_, err);
    return out;
  }

  Status CreateSymlink(std::string_view name, std::string_view target, bool replace) override {
    return CreateSymlinkAs(name, target, replace, std::nullopt);
  }

  // A recorded reparse point as what it was (PlanReparsePoint): a file or
  // folder symlink as such, a junction or mount point as a folder carrying
  // IO_REPARSE_TAG_MOUNT_POINT (streams_win.cc).
  Result<LinkPlan> CreateReparsePoint(std::string_view name, std::string_view target,
                                      const ReparseInfo& recorded, bool replace) override {
    const bool volume = recorded.kind == ReparseKind::kMountPoint && VolumePresent(target);
    LinkPlan plan = PlanReparsePoint(recorded, true, volume);
    switch (plan.make) {
      case MakeLink::kNothing:
        break;
      case MakeLink::kFileSymlink:
      case MakeLink::kDirSymlink:
        OB_RETURN_IF_ERROR(
            CreateSymlinkAs(name, target, replace, plan.make == MakeLink::kDirSymlink));
        break;
      case MakeLink::kJunction:
      case MakeLink::kMountPoint: {
        OB_RETURN_IF_ERROR(CheckName(name));
        OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
        if (GetFileAttributesW(child.c_str()) != INVALID_FILE_ATTRIBUTES) {
          if (!replace) return WinErrorStatus("create junction", Show(name), ERROR_ALREADY_EXISTS);
          OB_RETURN_IF_ERROR(RemoveNonDirectory(name, child));
        }
        if (!CreateDirectoryW(child.c_str(), nullptr)) {
          return LastErrorStatus("create junction", Show(name));
        }
        HANDLE h = CreateFileW(child.c_str(), GENERIC_READ | GENERIC_WRITE | DELETE, 0, nullptr,
                               OPEN_EXISTING,
                               FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
        if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", Show(name));
        UniqueHandle handle(h);
        Status st = VerifyInside(h, child, name);
        if (st.ok()) st = SetMountPoint(h, target, Show(name));
        if (!st.ok()) {
          DeleteByHandle(h);
          return st;
        }
        break;
      }
      case MakeLink::kSymlink:
        OB_RETURN_IF_ERROR(CreateSymlink(name, target, replace));
        break;
    }
    return plan;
  }

  // `directory`: the link's kind as recorded; none: decided by its target.
  Status CreateSymlinkAs(std::string_view name, std::string_view target, bool replace,
                         std::optional<bool> directory) {
    OB_RETURN_IF_ERROR(CheckName(name));
    if (target.empty() || target.find('\0') != std::string_view::npos) {
      return InvalidArgument("invalid symlink target for '" + Show(name) + "'");
    }
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    std::wstring wide_target = Widen(target);
    for (wchar_t& c : wide_target) c = c == L'/' ? L'\\' : c;
    // A folder symlink must say so when created; decided by what the target
    // is now (relative targets from this folder). A missing target makes a
    // file symlink, as Windows' own tools do.
    DWORD flags = 0x2;  // SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE (developer mode)
    bool absolute = wide_target.size() >= 2 && (wide_target[1] == L':' || wide_target[0] == L'\\');
    std::wstring resolved = absolute ? wide_target : FinalPath(h_.get()) + L"\\" + wide_target;
    DWORD attrs = GetFileAttributesW(resolved.c_str());
    if (directory ? *directory
                  : attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY)) {
      flags |= SYMBOLIC_LINK_FLAG_DIRECTORY;
    }
    // CreateSymbolicLinkW fails on an existing name on Windows; Wine turns
    // an existing folder into the link. Look first, so both refuse.
    if (GetFileAttributesW(child.c_str()) != INVALID_FILE_ATTRIBUTES) {
      if (!replace) return WinErrorStatus("create symlink", Show(name), ERROR_ALREADY_EXISTS);
      OB_RETURN_IF_ERROR(RemoveNonDirectory(name, child));
    }
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (CreateSymbolicLinkW(child.c_str(), wide_target.c_str(), flags)) {
        // Wine 8 reports success without making anything: check.
        if (GetFileAttributesW(child.c_str()) == INVALID_FILE_ATTRIBUTES) {
          return Status(
              ErrorCode::kIo,
              "create symlink '" + Show(name) + "': the system reported success but made no link",
              os_error::kNotSupported);
        }
        return Status::Ok();
      }
      DWORD err = GetLastError();
      if (err == ERROR_INVALID_PARAMETER && (flags & 0x2)) {
        flags &= ~0x2u;  // older Windows does not know the flag
        continue;
      }
      if ((err != ERROR_ALREADY_EXISTS && err != ERROR_FILE_EXISTS) || !replace) {
        return WinErrorStatus("create symlink", Show(name), err);
      }
      OB_RETURN_IF_ERROR(RemoveNonDirectory(name, child));
    }
    return WinErrorStatus("create symlink", Show(name), ERROR_ALREADY_EXISTS);
  }

  Status CreateHardLink(std::string_view name, RestoreDir& existing_dir,
                        std::string_view existing_name, bool replace) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_RETURN_IF_ERROR(CheckName(existing_name));
    auto* other = dynamic_cast<WinRestoreDir*>(&existing_dir);
    if (other == nullptr) return InvalidArgument("hard link across restore folder types");
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    OB_ASSIGN_OR_RETURN(std::wstring existing, other->Child(existing_name));
    if (SamePathIgnoringCase(child, existing)) {
      return InvalidArgument("hard link of '" + Show(name) + "' onto itself");
    }
    for (int attempt = 0; attempt < 4; ++attempt) {
      if (CreateHardLinkW(child.c_str(), existing.c_str(), nullptr)) return Status::Ok();
      DWORD err = GetLastError();
      if ((err != ERROR_ALREADY_EXISTS && err != ERROR_FILE_EXISTS) || !replace) {
        return WinErrorStatus("hard link " + other->Show(existing_name) + " as", Show(name), err);
      }
      OB_RETURN_IF_ERROR(RemoveNonDirectory(name, child));
    }
    return WinErrorStatus("hard link", Show(name), ERROR_ALREADY_EXISTS);
  }

  Status Remove(std::string_view name) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    return RemoveTree(FromWidePath(child));
  }

  // MoveFileExW renames the entry itself: a link at `to` is replaced, not
  // what it points to; a folder at `to` cannot be replaced (kAlreadyExists).
  Status Rename(std::string_view from, std::string_view to) override {
    OB_RETURN_IF_ERROR(CheckName(from));
    OB_RETURN_IF_ERROR(CheckName(to));
    OB_ASSIGN_OR_RETURN(std::wstring source, Child(from));
    OB_ASSIGN_OR_RETURN(std::wstring dest, Child(to));
    if (MoveFileExW(source.c_str(), dest.c_str(), MOVEFILE_REPLACE_EXISTING)) return Status::Ok();
    DWORD err = GetLastError();
    DWORD existing = GetFileAttributesW(dest.c_str());
    if (err == ERROR_ACCESS_DENIED && existing != INVALID_FILE_ATTRIBUTES &&
        (existing & FILE_ATTRIBUTE_READONLY) && !(existing & FILE_ATTRIBUTE_DIRECTORY)) {
      // Windows refuses to replace a read-only file (the restored file over
      // an older read-only copy): clear the attribute and replace; the new
      // file brings its own attributes. If the replace still fails, the old
      // file gets its attributes back.
      if (SetFileAttributesW(dest.c_str(), existing & ~FILE_ATTRIBUTE_READONLY)) {
        if (MoveFileExW(source.c_str(), dest.c_str(), MOVEFILE_REPLACE_EXISTING)) {
          return Status::Ok();
        }
        err = GetLastError();
        SetFileAttributesW(dest.c_str(), existing);
      }
    }
    Status st = WinErrorStatus("rename '" + Show(from) + "' to", Show(to), err);
    DWORD attrs = GetFileAttributesW(dest.c_str());
    if (err == ERROR_ACCESS_DENIED || err == ERROR_ALREADY_EXISTS ||
        (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_DIRECTORY))) {
      return {ErrorCode::kAlreadyExists, st.detail(), st.os_error()};
    }
    return st;
  }

  // Windows has no mode bits: a mode without the owner's write bit becomes
  // the read-only attribute (files only: on folders it means something
  // else to Explorer). uid/gid are not SIDs and are not applied.
  // kDefaultPermissions has the write bit, so it clears read-only and the
  // entry keeps the ACL it inherited when it was created.
  Status SetAttributes(std::string_view name, uint32_t mode, int64_t mtime_ns, uint32_t /*uid*/,
                       uint32_t /*gid*/, bool is_symlink) override {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    HANDLE h = CreateFileW(child.c_str(), FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES, kShareAll,
                           nullptr, OPEN_EXISTING, kNoFollow, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("set attributes of", Show(name));
    UniqueHandle handle(h);
    return SetBasic(h, mode, mtime_ns, is_symlink || IsLink(h), Show(name));
  }

  Status SetOwnAttributes(uint32_t mode, int64_t mtime_ns, uint32_t /*uid*/,
                          uint32_t /*gid*/) override {
    return SetBasic(h_.get(), mode, mtime_ns, false, display_);
  }

  // Windows syncs no single folder or file system: the volume holding this
  // folder is flushed whole, FlushFileBuffers on a handle to the volume
  // ("\\?\Volume{GUID}", no trailing backslash), which needs an
  // administrator (cbengine runs as LocalSystem). A volume that cannot be
  // named or opened (no administrator, Wine), or whose file system has no
  // flush, answers kUnsupported; only a failed flush is an error.
  Status SyncFileSystem() override {
    std::wstring path = FinalPath(h_.get());
    if (path.empty()) return LastErrorStatus("find the volume of", display_);
    if (path.back() != L'\\') path += L'\\';
    std::wstring mount(path.size() + 1, L'\0');
    std::wstring volume(64, L'\0');
    if (!GetVolumePathNameW(path.c_str(), mount.data(), static_cast<DWORD>(mount.size())) ||
        !GetVolumeNameForVolumeMountPointW(mount.c_str(), volume.data(),
                                           static_cast<DWORD>(volume.size()))) {
      return Status(ErrorCode::kUnsupported, "cannot name the volume of '" + display_ + "'");
    }
    volume.resize(wcslen(volume.c_str()));
    if (!volume.empty() && volume.back() == L'\\') volume.pop_back();
    HANDLE v = CreateFileW(volume.c_str(), GENERIC_READ | GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr, OPEN_EXISTING, 0, nullptr);
    if (v == INVALID_HANDLE_VALUE) {
      return Status(ErrorCode::kUnsupported,
                    "cannot open the volume of '" + display_ + "' (needs an administrator)");
    }
    UniqueHandle handle(v);
    if (!FlushFileBuffers(v)) return VolumeFlushStatus(display_, GetLastError());
    return Status::Ok();
  }

  // After SetAttributes and the content: what Windows can hold is applied
  // through a handle to the entry itself; the Linux kinds are reported.
  std::vector<MetadataIssue> ApplyMetadata(std::string_view name, const FileMetadata& metadata,
                                           bool /*is_symlink*/, bool permissions) override {
    std::vector<MetadataIssue> issues =
        MetadataIssuesFor(WithoutWindowsSecurity(metadata), "this system cannot hold it");
    ApplySecurityMetadata(ChildOpener(name), metadata, permissions, issues);
    return issues;
  }

  std::vector<MetadataIssue> ApplyOwnMetadata(const FileMetadata& metadata,
                                              bool permissions) override {
    std::vector<MetadataIssue> issues =
        MetadataIssuesFor(WithoutWindowsSecurity(metadata), "this system cannot hold it");
    ApplySecurityMetadata(OwnOpener(), metadata, permissions, issues);
    return issues;
  }

 private:
  // Opens a child for its metadata: the entry itself (no link followed),
  // checked to be inside this folder.
  MetadataOpener ChildOpener(std::string_view name) const {
    return [this, name = std::string(name)](DWORD access) -> Result<UniqueHandle> {
      OB_RETURN_IF_ERROR(CheckName(name));
      OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
      HANDLE h =
          CreateFileW(child.c_str(), access, kShareAll, nullptr, OPEN_EXISTING, kNoFollow, nullptr);
      if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", Show(name));
      UniqueHandle handle(h);
      OB_RETURN_IF_ERROR(VerifyInside(h, child, name));
      return handle;
    };
  }

  // Opens this folder again with other rights: by its current path, not
  // following a link, and only if it is the same folder as the open handle.
  MetadataOpener OwnOpener() const {
    return [this](DWORD access) -> Result<UniqueHandle> {
      std::wstring path = FinalPath(h_.get());
      if (path.empty()) return LastErrorStatus("find the path of", display_);
      HANDLE h =
          CreateFileW(path.c_str(), access, kShareAll, nullptr, OPEN_EXISTING, kNoFollow, nullptr);
      if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", display_);
      UniqueHandle handle(h);
      BY_HANDLE_FILE_INFORMATION mine{}, opened{};
      if (!GetFileInformationByHandle(h_.get(), &mine) || !GetFileInformationByHandle(h, &opened)) {
        return LastErrorStatus("stat", display_);
      }
      if (mine.dwVolumeSerialNumber != opened.dwVolumeSerialNumber ||
          mine.nFileIndexHigh != opened.nFileIndexHigh ||
          mine.nFileIndexLow != opened.nFileIndexLow) {
        return Status(ErrorCode::kPathEscape,
                      "'" + display_ + "' was moved or replaced while it was restored");
      }
      return handle;
    };
  }

  std::string Show(std::string_view name) const {
    if (display_.empty()) return std::string(name);
    if (display_.back() == '/') return display_ + std::string(name);
    return display_ + "/" + std::string(name);
  }

  // The child's full path from where the open folder is now.
  Result<std::wstring> Child(std::string_view name) const {
    std::wstring base = FinalPath(h_.get());
    if (base.empty()) return LastErrorStatus("find the path of", display_);
    if (base.back() != L'\\') base += L'\\';
    return base + Widen(name);
  }

  // The opened entry is this folder's child: nothing in the path was
  // swapped for a link between naming and opening it.
  Status VerifyInside(HANDLE h, const std::wstring& expected, std::string_view name) const {
    std::wstring actual = FinalPath(h);
    if (actual.empty()) return LastErrorStatus("find the path of", Show(name));
    if (!SamePathIgnoringCase(actual, expected)) {
      return {ErrorCode::kPathEscape, "'" + Show(name) + "' was redirected to '" +
                                          FromWidePath(actual) + "' while it was opened"};
    }
    return Status::Ok();
  }

  Result<std::unique_ptr<WritableFile>> OpenStream(std::string_view name, std::string_view stream,
                                                   bool create) {
    OB_ASSIGN_OR_RETURN(UniqueHandle file, OpenRegular(name, FILE_READ_ATTRIBUTES));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    OB_ASSIGN_OR_RETURN(UniqueHandle h,
                        OpenStreamOfFile(file.get(), child, stream, create, Show(name)));
    return std::unique_ptr<WritableFile>(
        std::make_unique<WinWritableFile>(std::move(h), Show(name) + ":" + std::string(stream)));
  }

  // Opens an existing regular file of this folder (never a link, never a
  // folder), shared with other writers, and checks it is still inside.
  Result<UniqueHandle> OpenRegular(std::string_view name, DWORD access) {
    OB_RETURN_IF_ERROR(CheckName(name));
    OB_ASSIGN_OR_RETURN(std::wstring child, Child(name));
    HANDLE h =
        CreateFileW(child.c_str(), access | FILE_READ_ATTRIBUTES, kShareAll, nullptr, OPEN_EXISTING,
                    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
    if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", Show(name));
    UniqueHandle handle(h);
    BY_HANDLE_FILE_INFORMATION bhfi;
    if (!GetFileInformationByHandle(h, &bhfi)) return LastErrorStatus("stat", Show(name));
    if (IsLink(h) || (bhfi.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
      return Status(ErrorCode::kAlreadyExists, "'" + Show(name) + "' is not a regular file");
    }
    OB_RETURN_IF_ERROR(VerifyInside(h, child, name));
    return handle;
  }

  // Removes a file or link so it can be replaced; a folder stays and
  // yields kAlreadyExists.
  Status RemoveNonDirectory(std::string_view name, const std::wstring& child) {
    HANDLE h = CreateFileW(child.c_str(), DELETE | FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES,
                           kShareAll, nullptr, OPEN_EXISTING, kNoFollow, nullptr);
    if (h == INVALID_HANDLE_VALUE) {
      DWORD err = GetLastError();
      if (err == ERROR_FILE_NOT_FOUND) return Status::Ok();
      return WinErrorStatus("remove", Show(name), err);
    }
    UniqueHandle handle(h);
    FILE_BASIC_INFO basic{};
    if (!GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
      return LastErrorStatus("stat", Show(name));
    }
    if ((basic.FileAttributes & FILE_ATTRIBUTE_DIRECTORY) && !IsLink(h)) {
      return {ErrorCode::kAlreadyExists, "'" + Show(name) + "' exists and is a folder"};
    }
    if (basic.FileAttributes & FILE_ATTRIBUTE_READONLY) {
      FILE_BASIC_INFO writable{};
      writable.FileAttributes = basic.FileAttributes & ~FILE_ATTRIBUTE_READONLY;
      SetFileInformationByHandle(h, FileBasicInfo, &writable, sizeof writable);
    }
    FILE_DISPOSITION_INFO dispose{};
    dispose.DeleteFile = TRUE;
    if (!SetFileInformationByHandle(h, FileDispositionInfo, &dispose, sizeof dispose)) {
      return LastErrorStatus("remove", Show(name));
    }
    return Status::Ok();
  }

  static Status SetBasic(HANDLE h, uint32_t mode, int64_t mtime_ns, bool is_link,
                         const std::string& display) {
    FILE_BASIC_INFO basic{};
    if (!GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
      return LastErrorStatus("stat", display);
    }
    FILE_BASIC_INFO update{};  // zero times: left unchanged
    FILETIME ft = FileTimeFromNs(mtime_ns);
    update.LastWriteTime.QuadPart =
        static_cast<LONGLONG>((static_cast<uint64_t>(ft.dwHighDateTime) << 32) | ft.dwLowDateTime);
    update.FileAttributes = basic.FileAttributes;
    if (!is_link && !(basic.FileAttributes & FILE_ATTRIBUTE_DIRECTORY)) {
      if (mode & 0200) {
        update.FileAttributes &= ~FILE_ATTRIBUTE_READONLY;
      } else {
        update.FileAttributes |= FILE_ATTRIBUTE_READONLY;
      }
    }
    if (update.FileAttributes == 0) update.FileAttributes = FILE_ATTRIBUTE_NORMAL;
    if (!SetFileInformationByHandle(h, FileBasicInfo, &update, sizeof update)) {
      return LastErrorStatus("set attributes of", display);
    }
    return Status::Ok();
  }

  UniqueHandle h_;
  std::string display_;
};

Status RemoveTreeW(const std::wstring& path, const std::string& display) {
  DWORD attrs = GetFileAttributesW(path.c_str());
  if (attrs == INVALID_FILE_ATTRIBUTES) return LastErrorStatus("remove", display);
  if (attrs & FILE_ATTRIBUTE_READONLY) {
    SetFileAttributesW(path.c_str(), attrs & ~FILE_ATTRIBUTE_READONLY);
  }
  if (!(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
    if (!DeleteFileW(path.c_str())) return LastErrorStatus("remove", display);
    return Status::Ok();
  }
  // A folder link or junction is removed itself; its target is untouched.
  if (!(attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
    WIN32_FIND_DATAW found;
    HANDLE find = FindFirstFileExW((path + L"\\*").c_str(), FindExInfoBasic, &found,
                                   FindExSearchNameMatch, nullptr, 0);
    if (find == INVALID_HANDLE_VALUE) return LastErrorStatus("list folder", display);
    Status first;
    do {
      std::wstring_view name = found.cFileName;
      if (name == L"." || name == L"..") continue;
      Status st = RemoveTreeW(path + L"\\" + found.cFileName, display + "/" + Narrow(name));
      if (!st.ok() && st.code() != ErrorCode::kNotFound && first.ok()) first = st;
    } while (FindNextFileW(find, &found));
    FindClose(find);
    if (!first.ok()) return first;
  }
  if (!RemoveDirectoryW(path.c_str())) return LastErrorStatus("remove folder", display);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<RestoreDir> NewWinRestoreDir(HANDLE dir, std::string display) {
  return std::make_unique<WinRestoreDir>(dir, std::move(display));
}

Status RemoveTree(const std::string& path) { return RemoveTreeW(LongPath(path), path); }

}  // namespace obagent::platform::win
