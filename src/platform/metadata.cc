// The portable part of FileMetadata (platform.h): how the job's warnings
// name each kind of metadata, and what a platform without it reports.
#include <set>

#include "obagent/platform.h"

namespace obagent::platform {

bool IsAclXattr(std::string_view name) {
  return name == "system.posix_acl_access" || name == "system.posix_acl_default";
}

std::string XattrKind(std::string_view name) {
  if (IsAclXattr(name)) return "POSIX ACLs";
  if (name == "security.capability") return "file capabilities";
  size_t dot = name.find('.');
  std::string ns(name.substr(0, dot == std::string_view::npos ? name.size() : dot));
  return ns + " extended attributes";
}

LinkPlan PlanReparsePoint(const ReparseInfo& recorded, bool windows_target, bool volume_present) {
  static constexpr char kKind[] = "Windows reparse points";
  if (!windows_target) {
    LinkPlan plan{MakeLink::kSymlink, std::nullopt};
    switch (recorded.kind) {
      case ReparseKind::kFileSymlink:
        break;  // a symlink is what it was
      case ReparseKind::kDirSymlink:
        plan.issue =
            MetadataIssue{kKind, "a directory symbolic link is restored as a symbolic link"};
        break;
      case ReparseKind::kJunction:
        plan.issue = MetadataIssue{kKind, "a junction is restored as a symbolic link"};
        break;
      case ReparseKind::kMountPoint:
        plan.issue = MetadataIssue{kKind,
                                   "a volume mount point is restored as a symbolic link to "
                                   "the volume's name"};
        break;
    }
    return plan;
  }
  switch (recorded.kind) {
    case ReparseKind::kFileSymlink:
      return {MakeLink::kFileSymlink, std::nullopt};
    case ReparseKind::kDirSymlink:
      return {MakeLink::kDirSymlink, std::nullopt};
    case ReparseKind::kJunction:
      return {MakeLink::kJunction, std::nullopt};
    case ReparseKind::kMountPoint:
      if (volume_present) return {MakeLink::kMountPoint, std::nullopt};
      return {MakeLink::kNothing,
              MetadataIssue{kKind,
                            "a volume mount point whose volume is not on this machine is "
                            "not recreated"}};
  }
  return {MakeLink::kSymlink, std::nullopt};
}

std::vector<MetadataIssue> MetadataIssuesFor(const FileMetadata& metadata,
                                             const std::string& reason) {
  std::vector<MetadataIssue> issues;
  std::set<std::string> kinds;
  for (const ExtendedAttribute& x : metadata.xattrs) {
    if (kinds.insert(XattrKind(x.name)).second) issues.push_back({XattrKind(x.name), reason});
  }
  if (metadata.linux_flags && *metadata.linux_flags != 0) {
    issues.push_back({"Linux file flags", reason});
  }
  if (metadata.sparse) issues.push_back({"sparse files", "restored fully allocated: " + reason});
  if (!metadata.win_security.empty()) issues.push_back({"Windows security descriptors", reason});
  if (metadata.win_attributes && *metadata.win_attributes != 0) {
    issues.push_back({"Windows attributes", reason});
  }

  if (!metadata.streams.empty()) issues.push_back({"alternate data streams", reason});
  if (metadata.reparse) issues.push_back({"Windows reparse points", reason});
  return issues;
}

}  // namespace obagent::platform
