// Windows security descriptors and attributes through the real Win32 calls
// (src/platform/win/security_win.cc): read by Env::ReadMetadata, applied by
// RestoreDir::ApplyMetadata into another folder, read back. Under Wine 8
// this proves the calls, the self-relative bytes and their check, the
// attributes and the read-only-last order; what Wine keeps of a DACL is
// what it can map to the Unix mode bits (see KeptByThisSystem), and it
// enforces no privilege: those decisions are proven through
// security_apply_test.cc's fake.
#include <windows.h>
// After windows.h:
#include <aclapi.h>
#include <sddl.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "obagent/core/security_descriptor.h"
#include "obagent/core/tree.h"
#include "obagent/platform.h"
#include "platform/env_test_util.h"
#include "platform/win/win_util.h"

namespace obagent::platform {
namespace {

using test_util::ReadText;
using test_util::WriteText;
using SecurityWinTest = test_util::TempDirTest;

// Enables or disables a privilege of this process's token (the service
// enables SeRestorePrivilege and SeSecurityPrivilege at start; a test
// process has them held but disabled). Returns whether it took effect.
bool SetPrivilege(const wchar_t* name, bool enable) {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &token)) {
    return false;
  }
  win::UniqueHandle owned(token);
  TOKEN_PRIVILEGES tp{};
  tp.PrivilegeCount = 1;
  if (!LookupPrivilegeValueW(nullptr, name, &tp.Privileges[0].Luid)) return false;
  tp.Privileges[0].Attributes = enable ? SE_PRIVILEGE_ENABLED : 0;
  return AdjustTokenPrivileges(token, FALSE, &tp, 0, nullptr, nullptr) &&
         GetLastError() != ERROR_NOT_ALL_ASSIGNED;
}

// Enables both for one scope, disabled again after.
class RestorePrivileges {
 public:
  RestorePrivileges() {
    ok_ = SetPrivilege(L"SeRestorePrivilege", true) && SetPrivilege(L"SeSecurityPrivilege", true);
  }
  ~RestorePrivileges() {
    SetPrivilege(L"SeRestorePrivilege", false);
    SetPrivilege(L"SeSecurityPrivilege", false);
  }
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

// Sets a descriptor from SDDL on a path (the test's own setup, not the
// code under test).
void SetSddl(const std::string& path, const wchar_t* sddl, SECURITY_INFORMATION info) {
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_TRUE(
      ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, nullptr));
  BOOL ok = SetFileSecurityW(win::LongPath(path).c_str(), info, sd);
  LocalFree(sd);
  ASSERT_TRUE(ok) << GetLastError();
}

// The descriptor's owner, group and DACL as SDDL (for messages and
// comparisons).
std::string Sddl(const Bytes& sd, SECURITY_INFORMATION info) {
  wchar_t* text = nullptr;
  if (!ConvertSecurityDescriptorToStringSecurityDescriptorW(
          const_cast<uint8_t*>(sd.data()), SDDL_REVISION_1, info, &text, nullptr)) {
    return "<" + std::to_string(GetLastError()) + ">";
  }
  std::string out = win::Narrow(text);
  LocalFree(text);
  return out;
}

constexpr SECURITY_INFORMATION kOwnerGroupDacl =
    OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
constexpr uint32_t kShown =
    tree::kWinAttributeReadOnly | tree::kWinAttributeHidden | tree::kWinAttributeSystem;

FileMetadata Read(Env& env, const std::string& path) {
  Result<FileInfo> info = env.Lstat(path);
  EXPECT_TRUE(info.ok()) << info.status().ToString();
  Result<FileMetadata> md = env.ReadMetadata(path, info.ok() ? *info : FileInfo{});
  EXPECT_TRUE(md.ok()) << md.status().ToString();
  return md.ok() ? *md : FileMetadata{};
}

TEST_F(SecurityWinTest, ReadRecordRestoreAndReadBack) {
  ASSERT_TRUE(env_.CreateDirs(Path("src/dir"), false).ok());
  WriteText(Path("src/dir/f.txt"), "content");
  const wchar_t* kFileSddl = L"D:P(A;;FA;;;SY)(A;;FR;;;WD)";
  const wchar_t* kDirSddl = L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;WD)";
  SetSddl(Path("src/dir/f.txt"), kFileSddl, DACL_SECURITY_INFORMATION);
  SetSddl(Path("src/dir"), kDirSddl, DACL_SECURITY_INFORMATION);
  ASSERT_TRUE(SetFileAttributesW(win::LongPath(Path("src/dir/f.txt")).c_str(),
                                 FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM |
                                     FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_ARCHIVE));
  ASSERT_TRUE(SetFileAttributesW(win::LongPath(Path("src/dir")).c_str(),
                                 FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_HIDDEN));

  const FileMetadata file = Read(env_, Path("src/dir/f.txt"));
  const FileMetadata dir = Read(env_, Path("src/dir"));
  // Recorded: a descriptor the tree's check accepts, with owner, group and
  // DACL; the attributes set above.
  for (const FileMetadata* md : {&file, &dir}) {
    ASSERT_FALSE(md->win_security.empty());
    Result<win_security::SecurityDescriptorParts> parts =
        win_security::CheckSecurityDescriptor(md->win_security);
    ASSERT_TRUE(parts.ok()) << parts.status().ToString();
    EXPECT_TRUE(parts->owner);
    EXPECT_TRUE(parts->group);
    EXPECT_TRUE(parts->dacl);
    EXPECT_FALSE(parts->sacl) << "no SeSecurityPrivilege in this test";
  }
  ASSERT_TRUE(file.win_attributes.has_value());
  EXPECT_EQ(*file.win_attributes & kShown, kShown);
  ASSERT_TRUE(dir.win_attributes.has_value());
  EXPECT_EQ(*dir.win_attributes & kShown, tree::kWinAttributeHidden);
  std::printf("recorded file: %s attributes 0x%x\n",
              Sddl(file.win_security, kOwnerGroupDacl).c_str(), *file.win_attributes);
  std::printf("recorded dir: %s attributes 0x%x\n", Sddl(dir.win_security, kOwnerGroupDacl).c_str(),
              *dir.win_attributes);

  // Restored into another folder as the engine does: folder, content,
  // SetAttributes, then the metadata (the folder's own after its entries).
  auto restore = [&](const std::string& target, std::vector<MetadataIssue>& issues) {
    auto root = env_.OpenRestoreRoot(Path(target), true);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    auto sub = (*root)->OpenOrCreateSubdir("dir");
    ASSERT_TRUE(sub.ok()) << sub.status().ToString();
    auto f = (*sub)->CreateFile("f.txt", false);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes("content")).ok());
    ASSERT_TRUE((*f)->Close().ok());
    ASSERT_TRUE((*sub)->SetAttributes("f.txt", 0444, 1'700'000'000'000'000'000, 0, 0, false).ok());
    issues = (*sub)->ApplyMetadata("f.txt", file, false, true);
    for (MetadataIssue& i : (*sub)->ApplyOwnMetadata(dir, true)) issues.push_back(std::move(i));
    for (const MetadataIssue& i : issues) {
      std::printf("%s issue: %s: %s\n", target.c_str(), i.kind.c_str(), i.reason.c_str());
    }
    const FileMetadata back_file = Read(env_, Path(target + "/dir/f.txt"));
    const FileMetadata back_dir = Read(env_, Path(target + "/dir"));
    std::printf("%s file: %s attributes 0x%x\n", target.c_str(),
                Sddl(back_file.win_security, kOwnerGroupDacl).c_str(),
                back_file.win_attributes.value_or(0));
    EXPECT_EQ(ReadText(Path(target + "/dir/f.txt")), "content");
    EXPECT_EQ(back_file.win_attributes.value_or(0) & kShown, kShown);
    EXPECT_EQ(back_dir.win_attributes.value_or(0) & kShown, tree::kWinAttributeHidden);
    EXPECT_EQ(Sddl(back_file.win_security, kOwnerGroupDacl),
              Sddl(file.win_security, kOwnerGroupDacl));
    EXPECT_EQ(Sddl(back_dir.win_security, kOwnerGroupDacl),
              Sddl(dir.win_security, kOwnerGroupDacl));
  };

  // Without SeRestorePrivilege enabled (a process that did not enable it):
  // the DACL is set, the owner is not attempted, which is one issue per
  // entry naming the privilege.
  std::vector<MetadataIssue> issues;
  restore("plain", issues);
  ASSERT_EQ(issues.size(), 2u);
  for (const MetadataIssue& issue : issues) {
    EXPECT_EQ(issue.kind, "Windows security descriptors");
    EXPECT_NE(issue.reason.find("SeRestorePrivilege"), std::string::npos) << issue.reason;
  }

  // With the privileges the service enables: every part is set, nothing
  // to report.
  RestorePrivileges privileges;
  ASSERT_TRUE(privileges.ok());
  restore("privileged", issues);
  EXPECT_TRUE(issues.empty());
  // With SeSecurityPrivilege enabled the read asks for the SACL too
  // (ACCESS_SYSTEM_SECURITY) and still succeeds; Wine has no SACL to give.
  const FileMetadata audited = Read(env_, Path("src/dir/f.txt"));
  Result<win_security::SecurityDescriptorParts> parts =
      win_security::CheckSecurityDescriptor(audited.win_security);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  std::printf("read with SeSecurityPrivilege: SACL %s\n", parts->sacl ? "present" : "absent");
}

// Restore without permissions: the descriptor is not applied, the entry
// keeps what it inherits from the target folder (the same as a sibling the
// restore made without metadata); the attributes still come back.
TEST_F(SecurityWinTest, WithoutPermissionsTheInheritedDescriptorStays) {
  WriteText(Path("src.txt"), "x");
  SetSddl(Path("src.txt"), L"D:P(A;;FR;;;WD)", DACL_SECURITY_INFORMATION);
  ASSERT_TRUE(SetFileAttributesW(win::LongPath(Path("src.txt")).c_str(),
                                 FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_READONLY));
  const FileMetadata recorded = Read(env_, Path("src.txt"));
  ASSERT_FALSE(recorded.win_security.empty());

  auto root = env_.OpenRestoreRoot(Path("dst"), true);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  for (const char* name : {"plain.txt", "restored.txt"}) {
    auto f = (*root)->CreateFile(name, false);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes("x")).ok());
    ASSERT_TRUE((*f)->Close().ok());
    ASSERT_TRUE(
        (*root)
            ->SetAttributes(name, kDefaultPermissions, 1'700'000'000'000'000'000, 0, 0, false)
            .ok());
  }
  // The sibling gets the same attributes (Wine folds read-only into the
  // DACL it reports), no descriptor.
  FileMetadata attributes_only;
  attributes_only.win_attributes = recorded.win_attributes;
  EXPECT_TRUE((*root)->ApplyMetadata("plain.txt", attributes_only, false, true).empty());
  const FileMetadata inherited = Read(env_, Path("dst/plain.txt"));
  std::vector<MetadataIssue> issues =
      (*root)->ApplyMetadata("restored.txt", recorded, false, /*permissions=*/false);
  EXPECT_TRUE(issues.empty()) << issues[0].kind << ": " << issues[0].reason;
  const FileMetadata back = Read(env_, Path("dst/restored.txt"));
  std::printf("recorded %s, inherited %s, restored without permissions %s\n",
              Sddl(recorded.win_security, kOwnerGroupDacl).c_str(),
              Sddl(inherited.win_security, kOwnerGroupDacl).c_str(),
              Sddl(back.win_security, kOwnerGroupDacl).c_str());
  EXPECT_EQ(Sddl(back.win_security, kOwnerGroupDacl),
            Sddl(inherited.win_security, kOwnerGroupDacl));
  EXPECT_EQ(back.win_attributes.value_or(0) & kShown,
            tree::kWinAttributeHidden | tree::kWinAttributeReadOnly);
}

// A restore replaces an existing file that is read-only, hidden and
// system: by creating over it and by renaming onto it.
TEST_F(SecurityWinTest, ReplacesReadOnlyHiddenSystemFiles) {
  auto root = env_.OpenRestoreRoot(Path("dst"), true);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  constexpr DWORD kProtected =
      FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM;
  for (const char* name : {"created.txt", "renamed.txt"}) {
    WriteText(Path("dst/") + name, "old");
    ASSERT_TRUE(SetFileAttributesW(win::LongPath(Path("dst/") + name).c_str(), kProtected));
  }
  {
    auto f = (*root)->CreateFile("created.txt", true);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes("new")).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  EXPECT_EQ(ReadText(Path("dst/created.txt")), "new");
  {
    auto f = (*root)->CreateFile("staged", false);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes("new")).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  Status renamed = (*root)->Rename("staged", "renamed.txt");
  ASSERT_TRUE(renamed.ok()) << renamed.ToString();
  EXPECT_EQ(ReadText(Path("dst/renamed.txt")), "new");
  // And the recorded attributes then apply to the new file.
  FileMetadata md;
  md.win_attributes = tree::kWinAttributeHidden;
  EXPECT_TRUE((*root)->ApplyMetadata("renamed.txt", md, false, true).empty());
  DWORD attrs = GetFileAttributesW(win::LongPath(Path("dst/renamed.txt")).c_str());
  EXPECT_TRUE(attrs & FILE_ATTRIBUTE_HIDDEN);
  EXPECT_FALSE(attrs & FILE_ATTRIBUTE_READONLY);
  EXPECT_FALSE(attrs & FILE_ATTRIBUTE_SYSTEM);
}

}  // namespace
}  // namespace obagent::platform
