// Process-level setup (obagent/platform_process.h) on POSIX: nothing to
// enable; root reads everything and there is no component model.
#include "obagent/platform_process.h"

namespace obagent::platform {

BackupPrivileges EnableBackupPrivileges() { return {}; }

Status InitializeProcessSecurity() { return Status::Ok(); }

}  // namespace obagent::platform
