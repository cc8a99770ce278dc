// Restore decisions for Windows security descriptors (security_apply.h).
#include "platform/security_apply.h"

namespace obagent::platform::security {
namespace {

constexpr uint32_t kPrivilegeNotHeld = 0x80070522;  // ERROR_PRIVILEGE_NOT_HELD

bool Refused(const Status& st) {
  return st.os_error() == os_error::kAccessDenied || st.os_error() == kPrivilegeNotHeld;
}

}  // namespace

ReadPlan PlanRead(bool security_privilege) {
  ReadPlan plan;
  plan.information = kOwnerInformation | kGroupInformation | kDaclInformation;
  plan.access = kReadControl;
  if (security_privilege) {
    plan.information |= kSaclInformation;
    plan.access |= kAccessSystemSecurity;
  }
  return plan;
}

WritePlan PlanWrite(const win_security::SecurityDescriptorParts& parts, EnabledPrivileges enabled) {
  WritePlan plan;
  // SetSecurityInfo reads the entry's descriptor to merge what is not set
  // (and, for an unprotected ACL, what the parent passes on): READ_CONTROL.
  plan.access = kReadControl;
  if (parts.dacl) {
    plan.steps.push_back({kDaclInformation | (parts.dacl_protected() ? kProtectedDaclInformation
                                                                     : kUnprotectedDaclInformation),
                          "DACL"});
    plan.access |= kWriteDac;
  }
  if (parts.owner || parts.group) {
    if (enabled.restore) {
      plan.steps.push_back(
          {(parts.owner ? kOwnerInformation : 0u) | (parts.group ? kGroupInformation : 0u),
           "owner and group"});
      plan.access |= kWriteOwner;
    } else {
      plan.issues.push_back(
          {kIssueKind,
           "owner and group not restored: SeRestorePrivilege is not enabled (the entries are "
           "owned by the account that restored them)"});
    }
  }
  if (parts.sacl) {
    if (enabled.security) {
      plan.steps.push_back(
          {kSaclInformation |
               (parts.sacl_protected() ? kProtectedSaclInformation : kUnprotectedSaclInformation),
           "SACL"});
      plan.access |= kAccessSystemSecurity;
    } else {
      plan.issues.push_back(
          {kIssueKind, "auditing entries (SACL) not restored: SeSecurityPrivilege is not enabled"});
    }
  }
  return plan;
}

std::vector<MetadataIssue> RestoreSecurity(ByteView descriptor, EnabledPrivileges enabled,
                                           SecurityOpener& opener) {
  Result<win_security::SecurityDescriptorParts> parts =
      win_security::CheckSecurityDescriptor(descriptor);
  if (!parts.ok()) return {{kIssueKind, parts.status().detail()}};
  WritePlan plan = PlanWrite(*parts, enabled);
  std::vector<MetadataIssue> issues = std::move(plan.issues);
  if (plan.steps.empty()) return issues;
  const uint32_t dacl_only = kReadControl | kWriteDac;
  Result<std::unique_ptr<SecurityTarget>> target = opener.Open(plan.access);
  if (!target.ok() && plan.access != dacl_only && (plan.access & kWriteDac) &&
      Refused(target.status())) {
    for (const Step& step : plan.steps) {
      if (step.part != "DACL") {
        issues.push_back({kIssueKind, step.part + " not restored: " + target.status().detail()});
      }
    }
    std::erase_if(plan.steps, [](const Step& step) { return step.part != "DACL"; });
    target = opener.Open(dacl_only);
  }
  if (!target.ok()) {
    issues.push_back({kIssueKind, "not restored: " + target.status().detail()});
    return issues;
  }
  for (const Step& step : plan.steps) {
    Status st = (*target)->Set(step.information);
    if (!st.ok()) issues.push_back({kIssueKind, step.part + " not restored: " + st.detail()});
  }
  return issues;
}

}  // namespace obagent::platform::security
