// The restore decisions for Windows security descriptors
// (platform/security_apply.h), on every OS, through FakeSecuredEntry: an
// entry and a process token that behave as Microsoft documents
// CreateFile's access checks and SetSecurityInfo (what Wine cannot show:
// it enforces no privileges and keeps no real ACLs):
//   - ACCESS_SYSTEM_SECURITY is granted only with SeSecurityPrivilege
//     enabled, else the open fails with ERROR_PRIVILEGE_NOT_HELD;
//   - WRITE_OWNER is granted with SeRestorePrivilege (backup semantics) or
//     when the DACL grants it; WRITE_DAC to the owner (the restoring
//     account created the entry) or with SeRestorePrivilege;
//   - SetSecurityInfo: OWNER_ needs WRITE_OWNER and, for an owner other
//     than the caller, SeRestorePrivilege (ERROR_INVALID_OWNER); DACL_
//     needs WRITE_DAC; SACL_ needs ACCESS_SYSTEM_SECURITY; PROTECTED_ and
//     UNPROTECTED_ of one ACL together are ERROR_INVALID_PARAMETER.
#include "platform/security_apply.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/security_descriptor_test_util.h"

namespace obagent::platform::security {
namespace {

namespace sd = win_security::test_util;

constexpr uint32_t kAccessDeniedCode = 5;         // ERROR_ACCESS_DENIED
constexpr uint32_t kInvalidParameterCode = 87;    // ERROR_INVALID_PARAMETER
constexpr uint32_t kInvalidOwnerCode = 1307;      // ERROR_INVALID_OWNER
constexpr uint32_t kPrivilegeNotHeldCode = 1314;  // ERROR_PRIVILEGE_NOT_HELD

Status WinError(uint32_t code, const std::string& what) {
  return Status(ErrorCode::kIo, what + " (error " + std::to_string(code) + ")", 0x80070000u | code);
}

class FakeSecuredEntry final : public SecurityOpener {
 public:
  // The token: which privileges are enabled. `recorded_owner_is_caller`:
  // the descriptor's owner is the restoring account itself.
  EnabledPrivileges token;
  bool recorded_owner_is_caller = false;
  bool dacl_grants_write_owner = false;
  bool write_dac_denied = false;  // e.g. the entry was made by someone else

  std::vector<uint32_t> opens;    // access asked at each open
  std::vector<uint32_t> applied;  // SECURITY_INFORMATION of each successful Set

  Result<std::unique_ptr<SecurityTarget>> Open(uint32_t access) override {
    opens.push_back(access);
    if ((access & kAccessSystemSecurity) && !token.security) {
      return WinError(kPrivilegeNotHeldCode, "open");
    }
    if ((access & kWriteOwner) && !token.restore && !dacl_grants_write_owner) {
      return WinError(kAccessDeniedCode, "open");
    }
    if ((access & kWriteDac) && write_dac_denied && !token.restore) {
      return WinError(kAccessDeniedCode, "open");
    }
    return std::unique_ptr<SecurityTarget>(std::make_unique<Handle>(*this, access));
  }

 private:
  class Handle final : public SecurityTarget {
   public:
    Handle(FakeSecuredEntry& entry, uint32_t granted) : entry_(entry), granted_(granted) {}
    Status Set(uint32_t info) override {
      if (((info & kProtectedDaclInformation) && (info & kUnprotectedDaclInformation)) ||
          ((info & kProtectedSaclInformation) && (info & kUnprotectedSaclInformation))) {
        return WinError(kInvalidParameterCode, "SetSecurityInfo");
      }
      if ((info & (kOwnerInformation | kGroupInformation)) && !(granted_ & kWriteOwner)) {
        return WinError(kAccessDeniedCode, "SetSecurityInfo");
      }
      if ((info & kOwnerInformation) && !entry_.recorded_owner_is_caller && !entry_.token.restore) {
        return WinError(kInvalidOwnerCode, "SetSecurityInfo");
      }
      if ((info & kDaclInformation) && !(granted_ & kWriteDac)) {
        return WinError(kAccessDeniedCode, "SetSecurityInfo");
      }
      if ((info & kSaclInformation) && !(granted_ & kAccessSystemSecurity)) {
        return WinError(kAccessDeniedCode, "SetSecurityInfo");
      }
      entry_.applied.push_back(info);
      return Status::Ok();
    }

   private:
    FakeSecuredEntry& entry_;
    uint32_t granted_;
  };
};

Bytes FullDescriptor(bool dacl_protected, bool sacl_protected) {
  sd::Parts p;
  p.dacl = sd::Acl({sd::Ace(0, 3, 0x1F01FF, sd::Administrators())});
  p.sacl = sd::Acl({sd::Ace(2, 0xC0, 0x10000, sd::Everyone())});
  p.extra_control = static_cast<uint16_t>((dacl_protected ? win_security::kDaclProtected : 0) |
                                          (sacl_protected ? win_security::kSaclProtected : 0));
  return sd::Descriptor(p);
}

uint32_t AllApplied(const FakeSecuredEntry& entry) {
  uint32_t all = 0;
  for (uint32_t info : entry.applied) all |= info;
  return all;
}

TEST(SecurityApply, ReadsTheSaclOnlyWithSeSecurityPrivilege) {
  ReadPlan without = PlanRead(false);
  EXPECT_EQ(without.information, kOwnerInformation | kGroupInformation | kDaclInformation);
  EXPECT_EQ(without.access, kReadControl);
  ReadPlan with = PlanRead(true);
  EXPECT_EQ(with.information,
            kOwnerInformation | kGroupInformation | kDaclInformation | kSaclInformation);
  EXPECT_EQ(with.access, kReadControl | kAccessSystemSecurity);
}

TEST(SecurityApply, WithBothPrivilegesEveryPartIsSetAsRecorded) {
  FakeSecuredEntry entry;
  entry.token = {true, true};
  auto issues = RestoreSecurity(FullDescriptor(true, false), entry.token, entry);
  EXPECT_TRUE(issues.empty()) << issues[0].reason;
  ASSERT_EQ(entry.opens.size(), 1u);
  EXPECT_EQ(entry.opens[0], kReadControl | kWriteDac | kWriteOwner | kAccessSystemSecurity);
  const uint32_t all = AllApplied(entry);
  EXPECT_EQ(all & (kOwnerInformation | kGroupInformation | kDaclInformation | kSaclInformation),
            kOwnerInformation | kGroupInformation | kDaclInformation | kSaclInformation);
  // SE_DACL_PROTECTED recorded: PROTECTED_DACL; the SACL was not protected.
  EXPECT_TRUE(all & kProtectedDaclInformation);
  EXPECT_FALSE(all & kUnprotectedDaclInformation);
  EXPECT_TRUE(all & kUnprotectedSaclInformation);
  EXPECT_FALSE(all & kProtectedSaclInformation);
}

TEST(SecurityApply, AnUnprotectedDaclInheritsAgain) {
  FakeSecuredEntry entry;
  entry.token = {true, false};
  sd::Parts p;
  p.dacl = sd::Acl({sd::Ace(0, 0x10, 0x1F01FF, sd::LocalSystem())});  // an inherited entry
  auto issues = RestoreSecurity(sd::Descriptor(p), entry.token, entry);
  EXPECT_TRUE(issues.empty());
  EXPECT_TRUE(AllApplied(entry) & kUnprotectedDaclInformation);
  EXPECT_FALSE(AllApplied(entry) & kProtectedDaclInformation);
}

TEST(SecurityApply, WithoutSeRestorePrivilegeTheOwnerIsNotAttempted) {
  FakeSecuredEntry entry;
  entry.token = {false, false};
  sd::Parts p;
  p.dacl = sd::Acl({sd::Ace(0, 0, 0x1F01FF, sd::Everyone())});
  auto issues = RestoreSecurity(sd::Descriptor(p), entry.token, entry);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].kind, "Windows security descriptors");
  EXPECT_NE(issues[0].reason.find("SeRestorePrivilege"), std::string::npos);
  ASSERT_EQ(entry.opens.size(), 1u);
  EXPECT_EQ(entry.opens[0], kReadControl | kWriteDac);  // never WRITE_OWNER: it would be refused
  EXPECT_EQ(AllApplied(entry) & (kOwnerInformation | kGroupInformation), 0u);
  EXPECT_TRUE(AllApplied(entry) & kDaclInformation);
}

TEST(SecurityApply, WithoutSeSecurityPrivilegeTheSaclIsNotAttempted) {
  FakeSecuredEntry entry;
  entry.token = {true, false};
  auto issues = RestoreSecurity(FullDescriptor(false, false), entry.token, entry);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].reason.find("SeSecurityPrivilege"), std::string::npos);
  for (uint32_t access : entry.opens) EXPECT_FALSE(access & kAccessSystemSecurity);
  EXPECT_EQ(AllApplied(entry) & kSaclInformation, 0u);
  EXPECT_TRUE(AllApplied(entry) & kOwnerInformation);
}

TEST(SecurityApply, ARefusedOpenFallsBackToTheDacl) {
  // The token says SeSecurityPrivilege is enabled but the open is refused
  // (ERROR_PRIVILEGE_NOT_HELD, as when it was dropped since): the DACL is
  // still restored, the owner and SACL are reported.
  FakeSecuredEntry entry;
  entry.token = {false, false};
  auto issues = RestoreSecurity(FullDescriptor(true, true), {true, true}, entry);
  ASSERT_EQ(entry.opens.size(), 2u);
  EXPECT_EQ(entry.opens[1], kReadControl | kWriteDac);
  EXPECT_TRUE(AllApplied(entry) & kProtectedDaclInformation);
  EXPECT_EQ(AllApplied(entry) & (kOwnerInformation | kSaclInformation), 0u);
  ASSERT_EQ(issues.size(), 2u);
  for (const MetadataIssue& issue : issues) {
    EXPECT_EQ(issue.kind, "Windows security descriptors");
    EXPECT_NE(issue.reason.find("error 1314"), std::string::npos) << issue.reason;
  }
}

TEST(SecurityApply, ADeniedDaclIsAnIssueNotAnError) {
  FakeSecuredEntry entry;
  entry.token = {false, false};
  entry.write_dac_denied = true;
  sd::Parts p;
  p.owner.reset();
  p.group.reset();
  p.dacl = sd::Acl({sd::Ace(0, 0, 0x1F01FF, sd::Everyone())});
  auto issues = RestoreSecurity(sd::Descriptor(p), entry.token, entry);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].reason.find("error 5"), std::string::npos) << issues[0].reason;
  EXPECT_TRUE(entry.applied.empty());
}

TEST(SecurityApply, AnOwnerRefusedBySetSecurityInfoIsReported) {
  // WRITE_OWNER granted by the DACL, SeRestorePrivilege claimed enabled but
  // not honoured by the system: ERROR_INVALID_OWNER from SetSecurityInfo.
  FakeSecuredEntry entry;
  entry.token = {false, false};
  entry.dacl_grants_write_owner = true;
  sd::Parts p;
  p.dacl = sd::Acl({});
  auto issues = RestoreSecurity(sd::Descriptor(p), {true, false}, entry);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].reason.find("owner and group"), std::string::npos);
  EXPECT_NE(issues[0].reason.find("error 1307"), std::string::npos) << issues[0].reason;
  EXPECT_TRUE(AllApplied(entry) & kDaclInformation);
}

TEST(SecurityApply, MalformedOrEmptyDescriptorsOpenNothing) {
  FakeSecuredEntry entry;
  entry.token = {true, true};
  Bytes bad = sd::SampleDescriptor();
  bad.resize(bad.size() - 1);
  auto issues = RestoreSecurity(bad, entry.token, entry);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_TRUE(entry.opens.empty());
  sd::Parts nothing;  // no owner, group, DACL or SACL: the entry keeps what it has
  nothing.owner.reset();
  nothing.group.reset();
  nothing.dacl_present = false;
  EXPECT_TRUE(RestoreSecurity(sd::Descriptor(nothing), entry.token, entry).empty());
  EXPECT_TRUE(entry.opens.empty());
}

}  // namespace
}  // namespace obagent::platform::security
