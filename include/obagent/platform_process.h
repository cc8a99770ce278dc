// Process-level setup a backup agent does once in main, before any thread
// starts: the privileges it needs and the process-wide security of the
// OS's component model. Implemented in src/platform/<os> (a no-op on
// POSIX). Kept apart from platform.h's Env: these act on the process, not
// on files, and no fake Env needs them.
#pragma once

#include <string>
#include <vector>

#include "obagent/status.h"

namespace obagent::platform {

// What EnableBackupPrivileges did: privilege names ("SeBackupPrivilege")
// enabled, and those missing with why.
struct BackupPrivileges {
  std::vector<std::string> enabled;
  std::vector<std::string> missing;
  // "" when nothing is missing, else "not enabled: SeBackupPrivilege (not
  // held by the account), ...; files and folders whose permissions leave out
  // the service account are skipped (backup) or cannot be written
  // (restore). ..." for the engine log.
  std::string Summary() const;
};

// Enables, for the whole process, the privileges a backup agent needs:
// Windows SeBackupPrivilege and SeRestorePrivilege (FILE_FLAG_BACKUP_SEMANTICS
// then reads and writes past DACLs), and SeSecurityPrivilege when held.
// Nothing to do on POSIX (root reads everything).
BackupPrivileges EnableBackupPrivileges();

// Process-wide security for the OS's component model, once, from main
// before any thread uses it (Windows: CoInitializeEx in the multithreaded
// apartment and CoInitializeSecurity, for VSS and the Task Scheduler; set
// lazily in a job thread it can come too late). Nothing to do on POSIX.
Status InitializeProcessSecurity();

}  // namespace obagent::platform
