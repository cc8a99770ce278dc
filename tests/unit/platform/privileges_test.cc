// Enabling the backup privileges (platform/privileges.h) against a fake
// token. Wine grants every privilege lookup and reports success from
// AdjustTokenPrivileges, so what a real Windows token does (a service
// account without Backup Operators, ERROR_NOT_ALL_ASSIGNED) is played here.
#include "platform/privileges.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace obagent::platform::privileges {
namespace {

class FakeToken final : public Token {
 public:
  std::set<std::string, std::less<>> held;
  std::set<std::string, std::less<>> refuse;  // held, but enabling fails
  std::vector<std::string> enabled;
  bool Holds(std::string_view name) override { return held.count(name) != 0; }
  Status Enable(std::string_view name) override {
    if (refuse.count(name) != 0) return IoError("AdjustTokenPrivileges: ERROR_NOT_ALL_ASSIGNED");
    enabled.emplace_back(name);
    return Status::Ok();
  }
};

TEST(PrivilegesTest, LocalSystemGetsAllThree) {
  FakeToken token;
  token.held = {"SeBackupPrivilege", "SeRestorePrivilege", "SeSecurityPrivilege",
                "SeShutdownPrivilege"};
  BackupPrivileges got = EnableForBackup(token);
  EXPECT_EQ(token.enabled, (std::vector<std::string>{"SeBackupPrivilege", "SeRestorePrivilege",
                                                     "SeSecurityPrivilege"}));
  EXPECT_EQ(got.enabled, token.enabled);
  EXPECT_TRUE(got.missing.empty());
  EXPECT_EQ(got.Summary(), "");
}

TEST(PrivilegesTest, BackupOperatorWithoutSecurityIsComplete) {
  FakeToken token;
  token.held = {"SeBackupPrivilege", "SeRestorePrivilege"};
  BackupPrivileges got = EnableForBackup(token);
  EXPECT_EQ(got.enabled, (std::vector<std::string>{"SeBackupPrivilege", "SeRestorePrivilege"}));
  EXPECT_TRUE(got.missing.empty());  // SeSecurityPrivilege is optional
}

TEST(PrivilegesTest, AnOrdinaryAccountIsReportedMissing) {
  FakeToken token;
  token.held = {"SeRestorePrivilege", "SeSecurityPrivilege"};
  token.refuse = {"SeSecurityPrivilege"};
  BackupPrivileges got = EnableForBackup(token);
  EXPECT_EQ(got.enabled, (std::vector<std::string>{"SeRestorePrivilege"}));
  ASSERT_EQ(got.missing.size(), 2u);
  EXPECT_EQ(got.missing[0], "SeBackupPrivilege (not held by the account)");
  EXPECT_NE(got.missing[1].find("SeSecurityPrivilege (AdjustTokenPrivileges"), std::string::npos);
  std::string summary = got.Summary();
  EXPECT_EQ(summary.rfind("not enabled: SeBackupPrivilege", 0), 0u) << summary;
  EXPECT_NE(summary.find("Backup Operators"), std::string::npos);
}

}  // namespace
}  // namespace obagent::platform::privileges
