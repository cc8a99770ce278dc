// Restoring a recorded Windows security descriptor: which parts to set
// with which SECURITY_INFORMATION flags and access rights, decided from
// the descriptor's parts and the privileges the process has enabled, and
// what becomes a MetadataIssue. Portable (no Windows calls): the Windows
// RestoreDir (src/platform/win/security_win.cc) supplies a handle opener,
// tests a fake that behaves as Microsoft documents SetSecurityInfo.
// Internal to src/platform. Thread-safe (pure functions; the opener is the
// caller's).
//
// The contract followed (SetSecurityInfo, SECURITY_INFORMATION):
//   - OWNER_ and GROUP_SECURITY_INFORMATION need a handle with WRITE_OWNER;
//     an owner other than the caller (or a group it may own) needs
//     SeRestorePrivilege, else ERROR_INVALID_OWNER. Without the privilege the
//     owner is not attempted: the entry stays owned by the restoring account.
//   - DACL_SECURITY_INFORMATION needs WRITE_DAC; PROTECTED_DACL_ keeps the
//     parent's inheritable entries out (SE_DACL_PROTECTED), UNPROTECTED_DACL_
//     lets them flow in again: chosen by the recorded SE_DACL_PROTECTED bit,
//     so inheritance comes back as it was (the new parent's inheritable
//     entries flow in, as automatic propagation does for any copy).
//   - SACL_SECURITY_INFORMATION needs ACCESS_SYSTEM_SECURITY, which only a
//     process with SeSecurityPrivilege enabled gets; without it the SACL is
//     not attempted. PROTECTED_/UNPROTECTED_SACL_ by SE_SACL_PROTECTED.
//   - A descriptor whose DACL is absent (no SE_DACL_PRESENT) leaves the
//     entry's DACL as created (inherited).
//   - The handle also gets READ_CONTROL: SetSecurityInfo reads the current
//     descriptor to merge into it (Wine refuses the DACL without it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/security_descriptor.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform::security {

// winnt.h values.
inline constexpr uint32_t kOwnerInformation = 0x00000001;
inline constexpr uint32_t kGroupInformation = 0x00000002;
inline constexpr uint32_t kDaclInformation = 0x00000004;
inline constexpr uint32_t kSaclInformation = 0x00000008;
inline constexpr uint32_t kUnprotectedSaclInformation = 0x10000000;
inline constexpr uint32_t kUnprotectedDaclInformation = 0x20000000;
inline constexpr uint32_t kProtectedSaclInformation = 0x40000000;
inline constexpr uint32_t kProtectedDaclInformation = 0x80000000;

inline constexpr uint32_t kReadControl = 0x00020000;
inline constexpr uint32_t kWriteDac = 0x00040000;
inline constexpr uint32_t kWriteOwner = 0x00080000;
inline constexpr uint32_t kAccessSystemSecurity = 0x01000000;

// The warning kind of everything here (metadata.cc names it the same).
inline constexpr const char* kIssueKind = "Windows security descriptors";

// Privileges enabled in the process token.
struct EnabledPrivileges {
  bool restore = false;   // SeRestorePrivilege
  bool security = false;  // SeSecurityPrivilege
};

// What a backup reads: owner, group and DACL always, the SACL only with
// SeSecurityPrivilege enabled (ACCESS_SYSTEM_SECURITY is refused without).
struct ReadPlan {
  uint32_t information = 0;
  uint32_t access = 0;
};
ReadPlan PlanRead(bool security_privilege);

// One SetSecurityInfo call.
struct Step {
  uint32_t information = 0;
  std::string part;  // "owner and group", "DACL", "SACL": for the issue
};

struct WritePlan {
  std::vector<Step> steps;
  uint32_t access = 0;  // to open the entry with (READ_CONTROL and what the steps need)
  std::vector<MetadataIssue> issues;  // parts not attempted, and why
};
WritePlan PlanWrite(const win_security::SecurityDescriptorParts& parts, EnabledPrivileges enabled);

// An entry opened for setting its security (Windows: a handle opened
// without following a reparse point). Set applies the given parts of the
// recorded descriptor.
class SecurityTarget {
 public:
  virtual ~SecurityTarget() = default;
  virtual Status Set(uint32_t information) = 0;
};

class SecurityOpener {
 public:
  virtual ~SecurityOpener() = default;
  virtual Result<std::unique_ptr<SecurityTarget>> Open(uint32_t access) = 0;
};

// Restores `descriptor` (as a tree records it) onto the entry `opener`
// opens: checks it, plans, opens once with the plan's access and sets each
// part. When the open is denied, it is tried again with WRITE_DAC alone (and READ_CONTROL)
// (the DACL is what matters most) and the other parts are reported. Every
// part that cannot be set is an issue, never an error.
std::vector<MetadataIssue> RestoreSecurity(ByteView descriptor, EnabledPrivileges enabled,
                                           SecurityOpener& opener);

}  // namespace obagent::platform::security
