// Windows security descriptors and attributes of an entry (tree kinds
// kWinSecurity and kWinAttributes): read for a backup, applied by a
// restore, always through a handle opened without following a reparse
// point. Internal to src/platform/win. Thread-safe (no shared state; the
// process token is queried at each call).
#pragma once

#include <windows.h>

#include <functional>
#include <string>
#include <vector>

#include "obagent/platform.h"
#include "platform/security_apply.h"
#include "win_util.h"

namespace obagent::platform::win {

// Which of SeRestorePrivilege and SeSecurityPrivilege the process token has
// enabled now (EnableBackupPrivileges enables them at start when held).
security::EnabledPrivileges EnabledPrivilegesNow();

// Fills md.win_security (owner, group, DACL; SACL when SeSecurityPrivilege
// is enabled) and md.win_attributes of `path`, the entry itself (a link is
// not followed). An error when the descriptor cannot be read.
Status ReadSecurityMetadata(const std::string& path, FileMetadata& md);

// Opens the entry being restored (never following a reparse point, checked
// to be the right one) with the given access.
using MetadataOpener = std::function<Result<UniqueHandle>(DWORD access)>;

// Applies md.win_security (only when `permissions`) and then md.win_attributes
// (read-only among them: after the content and the descriptor) through one
// handle `open` opens; what cannot be applied is appended to `issues`.
void ApplySecurityMetadata(const MetadataOpener& open, const FileMetadata& md, bool permissions,
                           std::vector<MetadataIssue>& issues);

// md without the Windows descriptor and attributes (what is left for the
// "this system cannot hold it" report).
FileMetadata WithoutWindowsSecurity(FileMetadata md);

}  // namespace obagent::platform::win
