#include "win_util.h"

#include <cctype>

// After windows.h (win_util.h):
#include <aclapi.h>
#include <sddl.h>

#include <string>
#include <vector>

#include "platform/lexical_path.h"

namespace obagent::platform::win {

std::string CurrentDirectory() {
  DWORD n = GetCurrentDirectoryW(0, nullptr);
  std::wstring cwd(n, L'\0');
  n = GetCurrentDirectoryW(n, cwd.data());
  cwd.resize(n);
  std::string out = FromWidePath(cwd);
  for (char& c : out) c = c == '\\' ? '/' : c;
  return out;
}

std::wstring LongPath(const std::string& path) {
  std::string slashes = path;
  for (char& c : slashes) c = c == '\\' ? '/' : c;
  // Already in the prefixed or device form (a shadow copy device, a pipe).
  if (slashes.rfind("//?/", 0) == 0 || slashes.rfind("//./", 0) == 0) {
    return Widen(Win32LongForm(slashes));
  }
  // The prefix turns off Win32's path parsing, so the path must already be
  // absolute and free of "." and "..". That is done lexically here, never
  // with GetFullPathNameW: it strips trailing dots and spaces ("foo " ->
  // "foo") and maps device names ("CON", "NUL.txt" -> "\\.\CON"), so a
  // listed "foo " would be read, or on restore replaced, as "foo".
  return Widen(Win32LongForm(AbsoluteWindowsPath(slashes, CurrentDirectory())));
}

std::string FromWidePath(std::wstring_view wide) {
  if (wide.rfind(LR"(\\?\UNC\)", 0) == 0) {
    wide.remove_prefix(8);
    std::string out = "//" + Narrow(wide);
    for (char& c : out) c = c == '\\' ? '/' : c;
    return out;
  }
  if (wide.rfind(LR"(\\?\)", 0) == 0) wide.remove_prefix(4);
  std::string out = Narrow(wide);
  for (char& c : out) c = c == '\\' ? '/' : c;
  return out;
}

Status VolumeFlushStatus(std::string_view path, DWORD err) {
  if (err == ERROR_INVALID_FUNCTION || err == ERROR_NOT_SUPPORTED) {
    return Status(ErrorCode::kUnsupported, "the file system of '" + std::string(path) +
                                               "' cannot be flushed (error " + std::to_string(err) +
                                               ")");
  }
  return WinErrorStatus("write to disk the volume of", path, err);
}

Status WinErrorStatus(std::string_view op, std::string_view path, DWORD err) {
  wchar_t* text = nullptr;
  DWORD len = FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, err, 0, reinterpret_cast<wchar_t*>(&text), 0, nullptr);
  std::string message = len > 0 ? Narrow(std::wstring_view(text, len)) : "Windows error";
  if (text != nullptr) LocalFree(text);
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r' ||
                              message.back() == ' ' || message.back() == '.')) {
    message.pop_back();
  }
  std::string detail = std::string(op) + " '" + std::string(path) + "': " + message + " (error " +
                       std::to_string(err) + ")";
  const uint32_t os = err == 0 ? os_error::kNone : (0x80070000u | (err & 0xFFFFu));
  switch (err) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_BAD_NETPATH:
    case ERROR_DIRECTORY:
      return {ErrorCode::kNotFound, detail, os};
    case ERROR_ALREADY_EXISTS:
    case ERROR_FILE_EXISTS:
      return {ErrorCode::kAlreadyExists, detail, os};
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
      return {ErrorCode::kNoSpace, detail, os};
    default:
      return {ErrorCode::kIo, detail, os};
  }
}

namespace {
// 1601-01-01 to 1970-01-01 in 100 ns ticks.
constexpr int64_t kEpochDelta = 116444736000000000LL;
}  // namespace

int64_t NsFromFileTime(const FILETIME& ft) {
  int64_t ticks =
      static_cast<int64_t>((static_cast<uint64_t>(ft.dwHighDateTime) << 32) | ft.dwLowDateTime);
  return (ticks - kEpochDelta) * 100;
}

FILETIME FileTimeFromNs(int64_t ns) {
  // Floor division: times before 1970 round down, as on POSIX.
  int64_t ticks = ns / 100;
  if (ns % 100 < 0) --ticks;
  uint64_t value = static_cast<uint64_t>(ticks + kEpochDelta);
  FILETIME ft;
  ft.dwLowDateTime = static_cast<DWORD>(value & 0xFFFFFFFFu);
  ft.dwHighDateTime = static_cast<DWORD>(value >> 32);
  return ft;
}

namespace {

std::string SidString(PSID sid) {
  wchar_t* text = nullptr;
  if (!ConvertSidToStringSidW(sid, &text)) return {};
  std::string out = Narrow(text);
  LocalFree(text);
  return out;
}

}  // namespace

// A stand-in for a POSIX uid: FNV-1a of the owner's SID string. Two SIDs
// collide with probability 2^-32; it is only compared with the current
// user's (OwnedByCurrentUser) and stored in recovery points as a number.
uint32_t SidHash(const std::string& sid) {
  uint32_t h = 2166136261u;
  for (unsigned char c : sid) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

Result<FileInfo> InfoFromHandle(HANDLE h, const std::string& display) {
  BY_HANDLE_FILE_INFORMATION bhfi;
  if (!GetFileInformationByHandle(h, &bhfi)) return LastErrorStatus("stat", display);
  FileInfo info;
  const DWORD attrs = bhfi.dwFileAttributes;
  const bool is_dir = (attrs & FILE_ATTRIBUTE_DIRECTORY) != 0;
  if (attrs & FILE_ATTRIBUTE_REPARSE_POINT) {
    FILE_ATTRIBUTE_TAG_INFO tag{};
    if (GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof tag) &&
        IsReparseTagNameSurrogate(tag.ReparseTag)) {
      info.kind = FileKind::kSymlink;  // symlinks, junctions, mount points
    } else {
      // Data-bearing reparse points (deduplicated, cloud files) are read
      // through their filter as what they are.
      info.kind = is_dir ? FileKind::kDirectory : FileKind::kRegular;
    }
  } else if (attrs & FILE_ATTRIBUTE_DEVICE) {
    info.kind = FileKind::kOther;
  } else {
    info.kind = is_dir ? FileKind::kDirectory : FileKind::kRegular;
  }
  info.size = info.kind == FileKind::kRegular
                  ? (static_cast<uint64_t>(bhfi.nFileSizeHigh) << 32) | bhfi.nFileSizeLow
                  : 0;
  info.mtime_ns = NsFromFileTime(bhfi.ftLastWriteTime);
  info.birth_ns = NsFromFileTime(bhfi.ftCreationTime);
  FILE_BASIC_INFO basic{};
  if (GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
    FILETIME change;
    change.dwLowDateTime = static_cast<DWORD>(basic.ChangeTime.QuadPart & 0xFFFFFFFF);
    change.dwHighDateTime = static_cast<DWORD>(basic.ChangeTime.QuadPart >> 32);
    info.ctime_ns = basic.ChangeTime.QuadPart != 0 ? NsFromFileTime(change) : info.mtime_ns;
  } else {
    info.ctime_ns = info.mtime_ns;
  }
  // Permission bits are emulated: Windows has ACLs, not modes. Folders are
  // 0755, files 0644, symlinks 0777; the read-only attribute clears the
  // write bits. SetAttributes maps them back (write bits -> read-only).
  if (info.kind == FileKind::kSymlink) {
    info.mode = 0777;
  } else {
    info.mode = is_dir ? 0755 : 0644;
    if (attrs & FILE_ATTRIBUTE_READONLY) info.mode &= ~0222u;
  }
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION, &owner, nullptr, nullptr,
                      nullptr, &sd) == ERROR_SUCCESS) {
    info.uid = SidHash(SidString(owner));
    LocalFree(sd);
  }
  info.device = bhfi.dwVolumeSerialNumber;
  info.inode = (static_cast<uint64_t>(bhfi.nFileIndexHigh) << 32) | bhfi.nFileIndexLow;
  info.link_count = bhfi.nNumberOfLinks;
  return info;
}

std::string CurrentUserSid() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return {};
  UniqueHandle guard(token);
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  std::vector<uint8_t> buf(size);
  if (size == 0 || !GetTokenInformation(token, TokenUser, buf.data(), size, &size)) return {};
  return SidString(reinterpret_cast<TOKEN_USER*>(buf.data())->User.Sid);
}

std::string HandleOwnerSid(HANDLE h, SE_OBJECT_TYPE type) {
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (GetSecurityInfo(h, type, OWNER_SECURITY_INFORMATION, &owner, nullptr, nullptr, nullptr,
                      &sd) != ERROR_SUCCESS) {
    return {};
  }
  std::string out = owner != nullptr ? SidString(owner) : std::string();
  LocalFree(sd);
  return out;
}

namespace {
constexpr char kSystemSid[] = "S-1-5-18";
constexpr char kAdministratorsSid[] = "S-1-5-32-544";
}  // namespace

bool PipeServerTrusted(const std::string& owner_sid, const std::string& client_sid,
                       const std::string& client_owner_sid) {
  if (owner_sid.empty()) return false;
  return owner_sid == kSystemSid || owner_sid == kAdministratorsSid || owner_sid == client_sid ||
         owner_sid == client_owner_sid;
}

std::string CurrentTokenOwnerSid() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return {};
  UniqueHandle guard(token);
  DWORD size = 0;
  GetTokenInformation(token, TokenOwner, nullptr, 0, &size);
  std::vector<uint8_t> buf(size);
  if (size == 0 || !GetTokenInformation(token, TokenOwner, buf.data(), size, &size)) return {};
  return SidString(reinterpret_cast<TOKEN_OWNER*>(buf.data())->Owner);
}

bool OnlyTrustedCanChange(PSECURITY_DESCRIPTOR descriptor,
                          const std::vector<std::string>& trusted) {
  auto is_trusted = [&](PSID sid) {
    std::string text = SidString(sid);
    if (text.empty()) return false;
    for (const std::string& t : trusted) {
      if (t == text) return true;
    }
    return false;
  };
  PSID owner = nullptr;
  BOOL defaulted = FALSE;
  if (!GetSecurityDescriptorOwner(descriptor, &owner, &defaulted) || owner == nullptr ||
      !is_trusted(owner)) {
    return false;
  }
  BOOL present = FALSE;
  PACL dacl = nullptr;
  if (!GetSecurityDescriptorDacl(descriptor, &present, &dacl, &defaulted) || !present ||
      dacl == nullptr) {
    return false;  // no DACL: everyone has full access
  }
  constexpr ACCESS_MASK kChanges = FILE_WRITE_DATA | FILE_APPEND_DATA | DELETE | WRITE_DAC |
                                   WRITE_OWNER | GENERIC_WRITE | GENERIC_ALL | MAXIMUM_ALLOWED;
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    void* raw = nullptr;
    if (!GetAce(dacl, i, &raw)) return false;
    auto* header = static_cast<ACE_HEADER*>(raw);
    if (header->AceFlags & INHERIT_ONLY_ACE) continue;  // for children only
    switch (header->AceType) {
      case ACCESS_DENIED_ACE_TYPE:
      case ACCESS_DENIED_CALLBACK_ACE_TYPE:
      case ACCESS_DENIED_OBJECT_ACE_TYPE:
      case SYSTEM_AUDIT_ACE_TYPE:
      case SYSTEM_ALARM_ACE_TYPE:
      case SYSTEM_MANDATORY_LABEL_ACE_TYPE:
        continue;  // take rights away or only log
      case ACCESS_ALLOWED_ACE_TYPE:
      case ACCESS_ALLOWED_CALLBACK_ACE_TYPE: {
        // Both start with ACE_HEADER, Mask, SidStart.
        auto* ace = static_cast<ACCESS_ALLOWED_ACE*>(raw);
        if ((ace->Mask & kChanges) != 0 && !is_trusted(&ace->SidStart)) return false;
        continue;
      }
      default:
        return false;  // an allow entry this check cannot read
    }
  }
  return true;
}

bool OnlyTrustedCanChangeFile(const std::string& path) {
  HANDLE h =
      CreateFileW(LongPath(path).c_str(), READ_CONTROL | FILE_READ_ATTRIBUTES,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                  FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return false;
  UniqueHandle handle(h);
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h, &info) ||
      (info.dwFileAttributes & (FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT)) != 0) {
    return false;
  }
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (GetSecurityInfo(h, SE_FILE_OBJECT, OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
                      nullptr, nullptr, nullptr, nullptr, &descriptor) != ERROR_SUCCESS) {
    return false;
  }
  std::vector<std::string> trusted = {kSystemSid, kAdministratorsSid, CurrentUserSid()};
  bool ok = OnlyTrustedCanChange(descriptor, trusted);
  LocalFree(descriptor);
  return ok;
}

std::string OwnerOnlyOwnerSid() { return IsElevated() ? kAdministratorsSid : CurrentUserSid(); }

bool IsElevated() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return false;
  UniqueHandle guard(token);
  TOKEN_ELEVATION elevation{};
  DWORD size = 0;
  return GetTokenInformation(token, TokenElevation, &elevation, sizeof elevation, &size) &&
         elevation.TokenIsElevated != 0;
}

Status MakeRestrictedSecurity(bool include_current_user, OwnerOnlySecurity* out) {
  // P: protected (inherits nothing from the parent); OICI: what is created
  // inside a folder inherits the same entries; FA: full access.
  std::wstring sddl = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";
  if (include_current_user) {
    std::string user = CurrentUserSid();
    if (user.empty()) return LastErrorStatus("read the process token", "current user");
    sddl += L"(A;OICI;FA;;;" + Widen(user) + L")";
  }
  if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.c_str(), SDDL_REVISION_1,
                                                            &out->descriptor, nullptr)) {
    return LastErrorStatus("build security descriptor", Narrow(sddl));
  }
  out->attributes.nLength = sizeof out->attributes;
  out->attributes.lpSecurityDescriptor = out->descriptor;
  out->attributes.bInheritHandle = FALSE;
  return Status::Ok();
}

Status ApplyOwnerOnly(const std::string& path) {
  OwnerOnlySecurity security;
  OB_RETURN_IF_ERROR(MakeRestrictedSecurity(true, &security));
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  if (!GetSecurityDescriptorDacl(security.descriptor, &present, &dacl, &defaulted)) {
    return LastErrorStatus("read security descriptor", path);
  }
  // The owner too: a non-admin who pre-created the folder would stay its
  // owner, and an owner may always rewrite the DACL. Administrators (for
  // SYSTEM and elevated admins, who hold it as an owner group) or the
  // process's own user.
  PSID owner = nullptr;
  std::string owner_text = OwnerOnlyOwnerSid();
  if (owner_text.empty() || !ConvertStringSidToSidW(Widen(owner_text).c_str(), &owner)) {
    return LastErrorStatus("read the owner SID for", path);
  }
  struct FreeSid {
    PSID sid;
    ~FreeSid() { LocalFree(sid); }
  } free_owner{owner};
  // Through a handle of the entry itself: a link in its place is changed,
  // never what it points to.
  HANDLE h =
      CreateFileW(LongPath(path).c_str(), READ_CONTROL | WRITE_DAC | WRITE_OWNER,
                  FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr, OPEN_EXISTING,
                  FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS, nullptr);
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open", path);
  UniqueHandle handle(h);
  DWORD rc = SetSecurityInfo(
      h, SE_FILE_OBJECT,
      OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
      owner, nullptr, dacl, nullptr);
  if (rc != ERROR_SUCCESS) return WinErrorStatus("set owner and owner-only ACL on", path, rc);
  return Status::Ok();
}

}  // namespace obagent::platform::win
