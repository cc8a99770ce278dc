// Reading and applying Windows security descriptors and attributes
// (security_win.h). The decisions (which parts, which access, what is an
// issue) are platform/security_apply.h's, tested on every OS with a fake;
// this file makes the calls: GetKernelObjectSecurity (self-relative, as a
// tree records it), SetSecurityInfo on the open handle, FileBasicInfo.
#include "security_win.h"

#include <aclapi.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "obagent/core/tree.h"

namespace obagent::platform::win {
namespace {

constexpr DWORD kShareAll = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr DWORD kNoFollow = FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS;
constexpr DWORD kAttributeAccess = FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES;

bool PrivilegeEnabled(const TOKEN_PRIVILEGES* list, const wchar_t* name) {
  LUID luid{};
  if (!LookupPrivilegeValueW(nullptr, name, &luid)) return false;
  for (DWORD i = 0; i < list->PrivilegeCount; ++i) {
    const LUID_AND_ATTRIBUTES& p = list->Privileges[i];
    if (p.Luid.LowPart == luid.LowPart && p.Luid.HighPart == luid.HighPart) {
      return (p.Attributes & SE_PRIVILEGE_ENABLED) != 0;
    }
  }
  return false;
}

// SetSecurityInfo on an open handle, the parts taken from the recorded
// self-relative descriptor.
class HandleTarget final : public security::SecurityTarget {
 public:
  HandleTarget(HANDLE h, const Bytes& descriptor) : h_(h), sd_(descriptor) {}

  Status Set(uint32_t information) override {
    auto* sd = reinterpret_cast<PSECURITY_DESCRIPTOR>(sd_.data());
    PSID owner = nullptr, group = nullptr;
    PACL dacl = nullptr, sacl = nullptr;
    BOOL present = FALSE, defaulted = FALSE;
    if (!GetSecurityDescriptorOwner(sd, &owner, &defaulted) ||
        !GetSecurityDescriptorGroup(sd, &group, &defaulted) ||
        !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
        !GetSecurityDescriptorSacl(sd, &present, &sacl, &defaulted)) {
      return LastErrorStatus("read the recorded security descriptor of", "the entry");
    }
    DWORD rc = SetSecurityInfo(h_, SE_FILE_OBJECT, information,
                               (information & OWNER_SECURITY_INFORMATION) ? owner : nullptr,
                               (information & GROUP_SECURITY_INFORMATION) ? group : nullptr,
                               (information & DACL_SECURITY_INFORMATION) ? dacl : nullptr,
                               (information & SACL_SECURITY_INFORMATION) ? sacl : nullptr);
    if (rc != ERROR_SUCCESS) return WinErrorStatus("SetSecurityInfo", "the entry", rc);
    return Status::Ok();
  }

 private:
  HANDLE h_;
  Bytes sd_;  // a heap copy: aligned, as the SID and ACL accessors expect
};

// Opens through the caller's MetadataOpener, adding the attribute rights,
// and keeps the last handle for the attributes that follow.
class HandleOpener final : public security::SecurityOpener {
 public:
  HandleOpener(const MetadataOpener& open, const Bytes& descriptor)
      : open_(open), descriptor_(descriptor) {}

  Result<std::unique_ptr<security::SecurityTarget>> Open(uint32_t access) override {
    handle_.reset();
    Result<UniqueHandle> h = open_(static_cast<DWORD>(access) | kAttributeAccess);
    if (!h.ok()) return h.status();
    handle_ = std::move(*h);
    return std::unique_ptr<security::SecurityTarget>(
        std::make_unique<HandleTarget>(handle_.get(), descriptor_));
  }

  UniqueHandle& handle() { return handle_; }

 private:
  const MetadataOpener& open_;
  const Bytes& descriptor_;
  UniqueHandle handle_;
};

void ApplyAttributes(HANDLE h, uint32_t recorded, std::vector<MetadataIssue>& issues) {
  constexpr const char* kKind = "Windows attributes";
  FILE_BASIC_INFO basic{};
  if (!GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
    issues.push_back({kKind, LastErrorStatus("read the attributes of", "the entry").detail()});
    return;
  }
  const uint32_t current = basic.FileAttributes;
  const uint32_t flags_only = tree::kWinAttributeCompressed | tree::kWinAttributeEncrypted;
  if ((recorded & flags_only) & ~current) {
    issues.push_back({kKind,
                      "compressed and encrypted are recorded, not restored (the entries are "
                      "restored uncompressed and unencrypted)"});
  }
  uint32_t wanted =
      (current & ~tree::kWinAttributesRestored) | (recorded & tree::kWinAttributesRestored);
  wanted &= ~static_cast<uint32_t>(FILE_ATTRIBUTE_NORMAL);
  if (wanted == current) return;
  FILE_BASIC_INFO update{};  // zero times: left unchanged
  update.FileAttributes = wanted == 0 ? FILE_ATTRIBUTE_NORMAL : wanted;
  if (!SetFileInformationByHandle(h, FileBasicInfo, &update, sizeof update)) {
    issues.push_back({kKind, LastErrorStatus("set the attributes of", "the entry").detail()});
  }
}

}  // namespace

security::EnabledPrivileges EnabledPrivilegesNow() {
  security::EnabledPrivileges enabled;
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) return enabled;
  UniqueHandle owned(token);
  DWORD size = 0;
  GetTokenInformation(token, TokenPrivileges, nullptr, 0, &size);
  if (size == 0) return enabled;
  std::vector<uint8_t> buffer(size);
  if (!GetTokenInformation(token, TokenPrivileges, buffer.data(), size, &size)) return enabled;
  const auto* list = reinterpret_cast<const TOKEN_PRIVILEGES*>(buffer.data());
  enabled.restore = PrivilegeEnabled(list, L"SeRestorePrivilege");
  enabled.security = PrivilegeEnabled(list, L"SeSecurityPrivilege");
  return enabled;
}

Status ReadSecurityMetadata(const std::string& path, FileMetadata& md) {
  security::ReadPlan plan = security::PlanRead(EnabledPrivilegesNow().security);
  const std::wstring wide = LongPath(path);
  HANDLE h = CreateFileW(wide.c_str(), plan.access | FILE_READ_ATTRIBUTES, kShareAll, nullptr,
                         OPEN_EXISTING, kNoFollow, nullptr);
  if (h == INVALID_HANDLE_VALUE && (plan.information & SACL_SECURITY_INFORMATION)) {
    // The privilege is enabled but the SACL is still refused: the rest.
    plan = security::PlanRead(false);
    h = CreateFileW(wide.c_str(), plan.access | FILE_READ_ATTRIBUTES, kShareAll, nullptr,
                    OPEN_EXISTING, kNoFollow, nullptr);
  }
  if (h == INVALID_HANDLE_VALUE) return LastErrorStatus("open for its security descriptor", path);
  UniqueHandle handle(h);
  FILE_BASIC_INFO basic{};
  if (!GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof basic)) {
    return LastErrorStatus("read the attributes of", path);
  }
  md.win_attributes = basic.FileAttributes & tree::kWinAttributesKept;
  DWORD needed = 0;
  GetKernelObjectSecurity(h, plan.information, nullptr, 0, &needed);
  if (needed == 0) return LastErrorStatus("read the security descriptor of", path);
  if (needed > tree::kMaxWinSecuritySize) {
    return WinErrorStatus("read the security descriptor of", path, ERROR_INSUFFICIENT_BUFFER);
  }
  Bytes sd(needed);
  if (!GetKernelObjectSecurity(h, plan.information, sd.data(), needed, &needed)) {
    return LastErrorStatus("read the security descriptor of", path);
  }
  sd.resize(std::min<size_t>(sd.size(), GetSecurityDescriptorLength(sd.data())));
  md.win_security = std::move(sd);
  return Status::Ok();
}

void ApplySecurityMetadata(const MetadataOpener& open, const FileMetadata& md, bool permissions,
                           std::vector<MetadataIssue>& issues) {
  HandleOpener opener(open, md.win_security);
  if (permissions && !md.win_security.empty()) {
    for (MetadataIssue& issue :
         security::RestoreSecurity(md.win_security, EnabledPrivilegesNow(), opener)) {
      issues.push_back(std::move(issue));
    }
  }
  if (!md.win_attributes) return;
  if (!opener.handle().valid()) {
    Result<UniqueHandle> h = open(kAttributeAccess);
    if (!h.ok()) {
      issues.push_back({"Windows attributes", h.status().detail()});
      return;
    }
    opener.handle() = std::move(*h);
  }
  ApplyAttributes(opener.handle().get(), *md.win_attributes, issues);
}

FileMetadata WithoutWindowsSecurity(FileMetadata md) {
  md.win_security.clear();
  md.win_attributes.reset();
  return md;
}

}  // namespace obagent::platform::win
