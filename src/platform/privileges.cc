// Enabling the backup privileges through a token interface (privileges.h).
#include "platform/privileges.h"

namespace obagent::platform {

std::string BackupPrivileges::Summary() const {
  if (missing.empty()) return {};
  std::string out = "not enabled: ";
  for (size_t i = 0; i < missing.size(); ++i) {
    if (i > 0) out += ", ";
    out += missing[i];
  }
  out +=
      "; files and folders whose permissions leave out the service account are skipped "
      "(backup) or cannot be written (restore). Run the service as LocalSystem or a member of "
      "Backup Operators.";
  return out;
}

namespace privileges {

BackupPrivileges EnableForBackup(Token& token) {
  BackupPrivileges out;
  struct Wanted {
    std::string_view name;
    bool required;
  };
  for (const Wanted& wanted :
       {Wanted{kBackup, true}, Wanted{kRestore, true}, Wanted{kSecurity, false}}) {
    std::string name(wanted.name);
    if (!token.Holds(wanted.name)) {
      if (wanted.required) out.missing.push_back(name + " (not held by the account)");
      continue;
    }
    Status enabled = token.Enable(wanted.name);
    if (enabled.ok()) {
      out.enabled.push_back(name);
    } else {
      out.missing.push_back(name + " (" + enabled.detail() + ")");
    }
  }
  return out;
}

}  // namespace privileges
}  // namespace obagent::platform
