// Which token privileges a backup agent enables at process start, and what
// it says when they are missing. SeBackupPrivilege makes
// FILE_FLAG_BACKUP_SEMANTICS read past a DACL that leaves the service
// account out (folders migrated from other file servers); SeRestorePrivilege
// lets restore write there and set owners; SeSecurityPrivilege (optional)
// reads and writes SACLs. The privileges are held by SYSTEM and by Backup
// Operators/Administrators but disabled until AdjustTokenPrivileges.
// Portable: the Windows Env supplies the token, tests a fake. Internal to
// src/platform.
#pragma once

#include <string>
#include <string_view>

#include "obagent/platform_process.h"
#include "obagent/status.h"

namespace obagent::platform::privileges {

inline constexpr std::string_view kBackup = "SeBackupPrivilege";
inline constexpr std::string_view kRestore = "SeRestorePrivilege";
inline constexpr std::string_view kSecurity = "SeSecurityPrivilege";

// The process token (OpenProcessToken, GetTokenInformation(TokenPrivileges),
// AdjustTokenPrivileges on Windows).
class Token {
 public:
  virtual ~Token() = default;
  // Whether the token holds the privilege at all (enabled or not).
  virtual bool Holds(std::string_view name) = 0;
  // Enables a held privilege.
  virtual Status Enable(std::string_view name) = 0;
};

// Enables SeBackupPrivilege and SeRestorePrivilege, and SeSecurityPrivilege
// when held. A required privilege not held, or failing to enable, is listed
// in `missing` (the agent runs on, with what the DACLs allow); an optional
// one only when held but failing.
BackupPrivileges EnableForBackup(Token& token);

}  // namespace obagent::platform::privileges
