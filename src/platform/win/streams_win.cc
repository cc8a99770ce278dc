// Named (alternate) data streams and reparse point kinds on Windows
// (streams_win.h). A stream's data is read and written like a file's; the
// engine chunks and deduplicates it.
#include "streams_win.h"

#include <algorithm>
#include <cstring>
#include <cwctype>

#include "obagent/core/tree.h"

namespace obagent::platform::win {
namespace {

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr DWORD kNoFollow = FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS;

// ":name:$DATA" -> "name"; "" for the unnamed stream ("::$DATA") and for
// anything that is not a $DATA stream.
std::wstring StreamName(std::wstring_view found) {
  constexpr std::wstring_view kSuffix = L":$DATA";
  if (found.size() < 1 + kSuffix.size() || found.front() != L':' ||
      found.substr(found.size() - kSuffix.size()) != kSuffix) {
    return {};
  }
  return std::wstring(found.substr(1, found.size() - 1 - kSuffix.size()));
}

// "Volume{GUID}/..." and "C:/x" as the NT path a mount point stores
// ("\??\Volume{GUID}\", "\??\C:\x"); empty when the target is neither.
std::wstring NtTarget(std::string_view target) {
  std::wstring wide = Widen(target);
  for (wchar_t& c : wide) c = c == L'/' ? L'\\' : c;
  if (wide.rfind(L"\\\\?\\", 0) == 0 || wide.rfind(L"\\??\\", 0) == 0) wide.erase(0, 4);
  const bool volume = wide.rfind(L"Volume{", 0) == 0;
  const bool drive =
      wide.size() >= 3 && std::iswalpha(wide[0]) && wide[1] == L':' && wide[2] == L'\\';
  if (!volume && !drive) return {};
  if (volume && wide.back() != L'\\') wide += L'\\';
  return L"\\??\\" + wide;
}

}  // namespace

bool VolumePresent(std::string_view target) {
  std::wstring nt = NtTarget(target);
  if (nt.rfind(L"\\??\\Volume{", 0) != 0) return false;
  std::wstring name = L"\\\\?\\" + nt.substr(4);
  name = name.substr(0, name.find(L'\\', 4) + 1);  // "\\?\Volume{GUID}\"
  wchar_t paths[512];
  DWORD needed = 0;
  return GetVolumePathNamesForVolumeNameW(name.c_str(), paths, 512, &needed) ||
         GetLastError() == ERROR_MORE_DATA;
}

Status SetMountPoint(HANDLE folder, std::string_view target, const std::string& display) {
  const std::wstring substitute = NtTarget(target);
  if (substitute.empty()) {
    return Status(ErrorCode::kInvalidArgument, "junction '" + display + "': its target '" +
                                                   std::string(target) +
                                                   "' is not an absolute path or a volume");
  }
  std::wstring print = substitute.substr(4);
  const size_t sub_bytes = substitute.size() * sizeof(wchar_t);
  const size_t print_bytes = print.size() * sizeof(wchar_t);
  const size_t names = sub_bytes + sizeof(wchar_t) + print_bytes + sizeof(wchar_t);
  std::vector<uint8_t> buf(sizeof(ReparseHeader) + names, 0);
  if (buf.size() > MAXIMUM_REPARSE_DATA_BUFFER_SIZE) {
    return Status(ErrorCode::kInvalidArgument, "junction '" + display + "': target too long");
  }
  ReparseHeader header{};
  header.tag = IO_REPARSE_TAG_MOUNT_POINT;
  header.data_length = static_cast<WORD>(buf.size() - 8);  // after tag, length, reserved
  header.substitute_offset = 0;
  header.substitute_length = static_cast<WORD>(sub_bytes);
  header.print_offset = static_cast<WORD>(sub_bytes + sizeof(wchar_t));
  header.print_length = static_cast<WORD>(print_bytes);
  std::memcpy(buf.data(), &header, sizeof header);
  std::memcpy(buf.data() + sizeof header, substitute.data(), sub_bytes);
  std::memcpy(buf.data() + sizeof header + header.print_offset, print.data(), print_bytes);
  DWORD returned = 0;
  if (!DeviceIoControl(folder, FSCTL_SET_REPARSE_POINT, buf.data(), static_cast<DWORD>(buf.size()),
                       nullptr, 0, &returned, nullptr)) {
    return LastErrorStatus("make a junction of", display);
  }
  return Status::Ok();
}

Result<std::vector<StreamInfo>> ListNamedStreams(const std::string& path) {
  std::vector<StreamInfo> streams;
  WIN32_FIND_STREAM_DATA found;
  HANDLE find = FindFirstStreamW(LongPath(path).c_str(), FindStreamInfoStandard, &found, 0);
  if (find == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    // No streams at all (ERROR_HANDLE_EOF), or a file system that cannot
    // list them (FAT, network shares without them): nothing to back up.
    if (err == ERROR_HANDLE_EOF || err == ERROR_INVALID_PARAMETER || err == ERROR_NOT_SUPPORTED ||
        err == ERROR_INVALID_FUNCTION || err == ERROR_CALL_NOT_IMPLEMENTED) {
      return streams;
    }
    return WinErrorStatus("list the streams of", path, err);
  }
  DWORD err = ERROR_SUCCESS;
  do {
    std::wstring name = StreamName(found.cStreamName);
    if (name.empty()) continue;
    streams.push_back({Narrow(name), static_cast<uint64_t>(found.StreamSize.QuadPart)});
  } while (FindNextStreamW(find, &found));
  err = GetLastError();
  FindClose(find);
  if (err != ERROR_HANDLE_EOF) return WinErrorStatus("list the streams of", path, err);
  std::sort(streams.begin(), streams.end(),
            [](const StreamInfo& a, const StreamInfo& b) { return a.name < b.name; });
  return streams;
}

Result<std::unique_ptr<ReadableFile>> OpenNamedStream(const std::string& path,
                                                      const std::string& stream) {
  const std::string shown = path + ":" + stream;
  if (!tree::IsSafeStreamName(stream)) {
    return Status(ErrorCode::kInvalidArgument, "'" + shown + "': not a stream name");
  }
  std::wstring full = LongPath(path) + L":" + Widen(stream);
  HANDLE h = CreateFileW(full.c_str(), GENERIC_READ, kShareAll, nullptr, OPEN_EXISTING,
                         kNoFollow | FILE_FLAG_SEQUENTIAL_SCAN, nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", shown);
  return NewWinReadableFile(UniqueHandle(h), shown);
}

Result<UniqueHandle> OpenStreamOfFile(HANDLE file, const std::wstring& file_path,
                                      std::string_view stream, bool create,
                                      const std::string& display) {
  const std::string shown = display + ":" + std::string(stream);
  if (!tree::IsSafeStreamName(stream)) {
    return Status(ErrorCode::kInvalidArgument, "'" + shown + "': not a stream name");
  }
  // A volume without named streams (FAT; Wine, whose files are Unix files)
  // would take "name:stream" as a file name of its own.
  DWORD flags = 0;
  if (!GetVolumeInformationByHandleW(file, nullptr, 0, nullptr, nullptr, &flags, nullptr, 0)) {
    return LastErrorStatus("read the volume of", display);
  }
  if (!(flags & FILE_NAMED_STREAMS)) {
    return Status(ErrorCode::kUnsupported,
                  "the target's file system has no alternate data streams");
  }
  std::wstring full = file_path + L":" + Widen(stream);
  HANDLE h = CreateFileW(full.c_str(), GENERIC_READ | GENERIC_WRITE | DELETE, kShareAll, nullptr,
                         create ? CREATE_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL | kNoFollow,
                         nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus(create ? "create" : "open", shown);
  UniqueHandle handle(h);
  // The stream belongs to the file the caller verified: same volume, same
  // file index (a stream handle reports its file's).
  BY_HANDLE_FILE_INFORMATION a, b;
  if (!GetFileInformationByHandle(file, &a) || !GetFileInformationByHandle(h, &b)) {
    return LastErrorStatus("stat", shown);
  }
  if (a.dwVolumeSerialNumber != b.dwVolumeSerialNumber || a.nFileIndexHigh != b.nFileIndexHigh ||
      a.nFileIndexLow != b.nFileIndexLow) {
    if (create) {
      // What was made is not the file's stream: it goes again.
      FILE_DISPOSITION_INFO dispose{};
      dispose.DeleteFile = TRUE;
      SetFileInformationByHandle(h, FileDispositionInfo, &dispose, sizeof dispose);
    }
    return Status(ErrorCode::kPathEscape,
                  "'" + shown +
                      "' is not a stream of the file restored there (this file system "
                      "may have no alternate data streams)");
  }
  return handle;
}

Status ReadStreamMetadata(const std::string& path, const FileInfo& info, FileMetadata& md) {
  if (info.kind == FileKind::kRegular) {
    WIN32_FILE_ATTRIBUTE_DATA data;
    if (!GetFileAttributesExW(LongPath(path).c_str(), GetFileExInfoStandard, &data)) {
      return LastErrorStatus("read the attributes of", path);
    }
    md.sparse = (data.dwFileAttributes & FILE_ATTRIBUTE_SPARSE_FILE) != 0;
    OB_ASSIGN_OR_RETURN(md.streams, ListNamedStreams(path));
  } else if (info.kind == FileKind::kSymlink) {
    OB_ASSIGN_OR_RETURN(md.reparse, ReadReparseKind(path));
  }
  return Status::Ok();
}

Status MarkSparse(HANDLE file, const std::string& display) {
  DWORD returned = 0;
  if (!DeviceIoControl(file, FSCTL_SET_SPARSE, nullptr, 0, nullptr, 0, &returned, nullptr)) {
    return LastErrorStatus("mark sparse", display);
  }
  return Status::Ok();
}

Result<std::optional<ReparseInfo>> ReadReparseKind(const std::string& path) {
  HANDLE h = CreateFileW(LongPath(path).c_str(), FILE_READ_ATTRIBUTES, kShareAll, nullptr,
                         OPEN_EXISTING, kNoFollow, nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", path);
  UniqueHandle handle(h);
  FILE_BASIC_INFO basic{};
  if (!GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
    return LastErrorStatus("stat", path);
  }
  std::vector<uint8_t> buf(MAXIMUM_REPARSE_DATA_BUFFER_SIZE);
  DWORD got = 0;
  if (!DeviceIoControl(h, FSCTL_GET_REPARSE_POINT, nullptr, 0, buf.data(),
                       static_cast<DWORD>(buf.size()), &got, nullptr)) {
    return LastErrorStatus("read the reparse point of", path);
  }
  ReparseHeader header;
  if (got < sizeof header)
    return WinErrorStatus("read the reparse point of", path, ERROR_INVALID_DATA);
  std::memcpy(&header, buf.data(), sizeof header);
  ReparseInfo info;
  if (header.tag == IO_REPARSE_TAG_SYMLINK) {
    DWORD flags = 0;
    if (got < sizeof header + sizeof flags) {
      return WinErrorStatus("read the reparse point of", path, ERROR_INVALID_DATA);
    }
    std::memcpy(&flags, buf.data() + sizeof header, sizeof flags);
    info.kind = (basic.FileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? ReparseKind::kDirSymlink
                                                                  : ReparseKind::kFileSymlink;
    info.relative = (flags & kSymlinkFlagRelative) != 0;
    return std::optional<ReparseInfo>(info);
  }
  if (header.tag != IO_REPARSE_TAG_MOUNT_POINT) return std::optional<ReparseInfo>();
  // A mount point's substitute name is "\??\Volume{GUID}\"; a junction's a
  // folder path ("\??\C:\target").
  const size_t begin = sizeof header + header.substitute_offset;
  std::wstring substitute;
  if (begin + header.substitute_length <= got) {
    substitute.assign(reinterpret_cast<const wchar_t*>(buf.data() + begin),
                      header.substitute_length / sizeof(wchar_t));
  }
  info.kind = substitute.rfind(L"\\??\\Volume{", 0) == 0 ? ReparseKind::kMountPoint
                                                         : ReparseKind::kJunction;
  return std::optional<ReparseInfo>(info);
}

}  // namespace obagent::platform::win
