// Windows specifics of platform::Env: owner-only DACLs, drive-letter paths,
// reparse points (Wine makes symlinks as Unix symlinks and reports them as
// IO_REPARSE_TAG_SYMLINK), the named pipe's name, processes.
#include <windows.h>
// After windows.h:
#include <aclapi.h>
#include <sddl.h>
#include <shellapi.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/env_test_util.h"
#include "platform/win/win_util.h"

namespace obagent::platform {
namespace {

using test_util::ReadText;
using test_util::WriteText;
using EnvWinTest = test_util::TempDirTest;

// The SIDs of the DACL's entries, and whether the DACL is protected.
std::set<std::string> DaclSids(const std::string& path, bool* is_protected) {
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  std::wstring wide = win::LongPath(path);
  EXPECT_EQ(GetNamedSecurityInfoW(wide.c_str(), SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, nullptr,
                                  nullptr, &dacl, nullptr, &sd),
            static_cast<DWORD>(ERROR_SUCCESS));
  std::set<std::string> sids;
  SECURITY_DESCRIPTOR_CONTROL control = 0;
  DWORD revision = 0;
  GetSecurityDescriptorControl(sd, &control, &revision);
  *is_protected = (control & SE_DACL_PROTECTED) != 0;
  for (DWORD i = 0; dacl != nullptr && i < dacl->AceCount; ++i) {
    ACCESS_ALLOWED_ACE* ace = nullptr;
    if (!GetAce(dacl, i, reinterpret_cast<void**>(&ace))) continue;
    EXPECT_EQ(ace->Header.AceType, ACCESS_ALLOWED_ACE_TYPE);
    wchar_t* text = nullptr;
    ConvertSidToStringSidW(&ace->SidStart, &text);
    sids.insert(win::Narrow(text));
    LocalFree(text);
  }
  LocalFree(sd);
  return sids;
}

bool UnderWine() {
  return GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

// Windows keeps the DACL as written: user, SYSTEM, Administrators,
// protected. Wine maps a DACL onto the Unix mode bits of the file and reads
// back only what those express (owner -> user + SYSTEM; group/other ->
// Everyone), so there the check is that nobody else got access.
void ExpectOwnerOnly(const std::string& path) {
  SCOPED_TRACE(path);
  bool is_protected = false;
  std::set<std::string> sids = DaclSids(path, &is_protected);
  if (UnderWine()) {
    EXPECT_EQ(sids, (std::set<std::string>{win::CurrentUserSid(), "S-1-5-18"}));
  } else {
    EXPECT_EQ(sids, (std::set<std::string>{win::CurrentUserSid(), "S-1-5-18", "S-1-5-32-544"}));
    EXPECT_TRUE(is_protected);
  }
}

void ExpectNotOwnerOnly(const std::string& path) {
  SCOPED_TRACE(path);
  bool is_protected = false;
  std::set<std::string> sids = DaclSids(path, &is_protected);
  if (UnderWine()) {
    EXPECT_TRUE(sids.count("S-1-1-0")) << "Everyone";
  } else {
    EXPECT_FALSE(is_protected);
  }
}

TEST_F(EnvWinTest, OwnerOnlyFilesAndFoldersHaveAProtectedDaclOfUserSystemAdmins) {
  ASSERT_TRUE(env_.WriteFileAtomic(Path("key"), AsBytes("secret"), true).ok());
  ExpectOwnerOnly(Path("key"));
  ASSERT_TRUE(env_.WriteFileAtomic(Path("key"), AsBytes("replaced"), true).ok());
  ExpectOwnerOnly(Path("key"));

  ASSERT_TRUE(env_.CreateDirs(Path("state/private"), true).ok());
  ExpectOwnerOnly(Path("state/private"));
  // Only the last folder is owner-only; an existing one is tightened.
  ExpectNotOwnerOnly(Path("state"));
  ASSERT_TRUE(env_.CreateDirs(Path("state"), true).ok());
  // Wine 8 accepts the new DACL of an existing folder (SetSecurityInfo
  // succeeds) but keeps reporting the folder's old mode bits.
  if (!UnderWine()) ExpectOwnerOnly(Path("state"));

  ASSERT_TRUE(env_.TryLockFile(Path("job.lock")).ok());
  ExpectOwnerOnly(Path("job.lock"));
}

TEST_F(EnvWinTest, PathsUseSlashesAndDriveLetters) {
  EXPECT_EQ(*env_.AbsolutePath("c:/a/./b/../c//d/"), "C:/a/c/d");
  EXPECT_EQ(*env_.AbsolutePath("C:/../.."), "C:/");
  EXPECT_EQ(*env_.AbsolutePath("C:\\x\\y"), "C:/x/y");
  EXPECT_EQ(*env_.AbsolutePath("//server/share/a/../b"), "//server/share/b");
  std::string cwd = *env_.AbsolutePath(".");
  ASSERT_GE(cwd.size(), 3u);
  EXPECT_EQ(cwd[1], ':');
  EXPECT_EQ(*env_.AbsolutePath("/top"), cwd.substr(0, 2) + "/top");
  EXPECT_EQ(dir_.find('\\'), std::string::npos);
  std::string self = env_.ExecutablePath();
  EXPECT_EQ(self.find('\\'), std::string::npos) << self;
  EXPECT_EQ(self[1], ':') << self;
}

TEST_F(EnvWinTest, LongPathsBeyondMaxPath) {
  std::string deep = dir_;
  for (int i = 0; i < 12; ++i) deep += "/" + std::string(30, static_cast<char>('a' + i));
  ASSERT_GT(deep.size(), static_cast<size_t>(MAX_PATH));
  ASSERT_TRUE(env_.CreateDirs(deep, false).ok());
  ASSERT_TRUE(env_.WriteFileAtomic(deep + "/f", AsBytes("far"), false).ok());
  auto data = env_.ReadFile(deep + "/f");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(std::string(data->begin(), data->end()), "far");
  ASSERT_TRUE(env_.RemoveAll(Path(std::string(30, 'a'))).ok());
  EXPECT_FALSE(env_.Exists(deep));
}

// Names Win32 path parsing rewrites (trailing space or dot stripped,
// device names) are distinct files to the file system and reach it
// unchanged: LongPath never calls GetFullPathNameW.
TEST_F(EnvWinTest, NamesWin32WouldRewriteRoundTrip) {
  const std::vector<std::string> names = {"foo", "foo ", "foo.", "CON", "NUL.txt"};
  for (const std::string& name : names) {
    ASSERT_TRUE(env_.WriteFileAtomic(Path(name), AsBytes("<" + name + ">"), false).ok()) << name;
  }
  auto listed = env_.ListDir(dir_);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::set<std::string> seen;
  for (const auto& entry : *listed) seen.insert(entry.name);
  EXPECT_EQ(seen, std::set<std::string>(names.begin(), names.end()));
  for (const std::string& name : names) {
    auto data = env_.ReadFile(Path(name));
    ASSERT_TRUE(data.ok()) << name << ": " << data.status().ToString();
    EXPECT_EQ(std::string(data->begin(), data->end()), "<" + name + ">");
    auto info = env_.Lstat(Path(name));
    ASSERT_TRUE(info.ok()) << name;
    EXPECT_EQ(info->kind, FileKind::kRegular) << name;
    EXPECT_EQ(info->size, name.size() + 2) << name;
  }
  // Removing "foo " leaves "foo".
  ASSERT_TRUE(env_.RemoveAll(Path("foo ")).ok());
  EXPECT_FALSE(env_.Exists(Path("foo ")));
  EXPECT_TRUE(env_.Exists(Path("foo")));
  EXPECT_EQ(*env_.AbsolutePath(Path("a/../foo.")), Path("foo."));
}

TEST_F(EnvWinTest, ErrorsCarryTheWindowsCode) {
  auto missing = env_.ReadFile(Path("missing"));
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.status().os_error(), os_error::kFileNotFound);
  EXPECT_NE(missing.status().detail().find("(error 2)"), std::string::npos)
      << missing.status().detail();
  auto no_folder = env_.ReadFile(Path("none/f"));
  EXPECT_EQ(no_folder.status().os_error(), os_error::kPathNotFound);
}

// A restore's durability: the folder's volume is flushed where it can be
// opened (an administrator on Windows); where it cannot (Wine, say), the
// answer is kUnsupported, which the restore does not count as an error,
// never another error.
TEST_F(EnvWinTest, SyncFileSystemFlushesTheVolumeOrSaysItCannot) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  Status st = (*root)->SyncFileSystem();
  EXPECT_TRUE(st.ok() || st.code() == ErrorCode::kUnsupported) << st.ToString();
}

// A file system without a flush is not a failed restore; a failing disk is.
TEST_F(EnvWinTest, AVolumeWithoutAFlushIsUnsupportedNotFailed) {
  EXPECT_EQ(win::VolumeFlushStatus("D:/r", ERROR_INVALID_FUNCTION).code(), ErrorCode::kUnsupported);
  EXPECT_EQ(win::VolumeFlushStatus("D:/r", ERROR_NOT_SUPPORTED).code(), ErrorCode::kUnsupported);
  Status failed = win::VolumeFlushStatus("D:/r", ERROR_IO_DEVICE);
  EXPECT_EQ(failed.code(), ErrorCode::kIo);
  EXPECT_NE(failed.detail().find("D:/r"), std::string::npos) << failed.ToString();
}

TEST_F(EnvWinTest, ReadOnlyAttributeIsTheWriteBit) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(env_.Lstat(Path("f"))->mode, 0644u);
  ASSERT_TRUE((*root)->SetAttributes("f", 0444, 0, 0, 0, false).ok());
  EXPECT_EQ(env_.Lstat(Path("f"))->mode, 0444u);
  EXPECT_NE(GetFileAttributesW(win::LongPath(Path("f")).c_str()) & FILE_ATTRIBUTE_READONLY, 0u);
  // Removing and replacing ignore the file's own read-only bit, as unlink does.
  auto replaced = (*root)->CreateFile("f", true);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  ASSERT_TRUE((*replaced)->Close().ok());
  ASSERT_TRUE((*root)->SetAttributes("f", 0400, 0, 0, 0, false).ok());
  EXPECT_TRUE(env_.RemoveFile(Path("f")).ok());
  EXPECT_EQ(env_.Lstat(dir_)->mode, 0755u);
}

// Restore writes a temporary file and renames it over the target; an
// older copy of the target that is read-only must not stop it (Windows
// answers the replace with ERROR_ACCESS_DENIED).
TEST_F(EnvWinTest, RestoreReplacesAReadOnlyFile) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  WriteText(Path("target"), "old");
  ASSERT_TRUE((*root)->SetAttributes("target", 0444, 0, 0, 0, false).ok());
  ASSERT_NE(GetFileAttributesW(win::LongPath(Path("target")).c_str()) & FILE_ATTRIBUTE_READONLY,
            0u);
  WriteText(Path("restored.tmp"), "new");
  // Windows refuses a plain MoveFileExW(REPLACE_EXISTING) over a read-only
  // file with ERROR_ACCESS_DENIED; Wine replaces it, so under Wine this
  // test passes without the fix as well and only shows Rename still works.
  Status renamed = (*root)->Rename("restored.tmp", "target");
  ASSERT_TRUE(renamed.ok()) << renamed.ToString();
  EXPECT_EQ(ReadText(Path("target")), "new");
  EXPECT_FALSE(env_.Exists(Path("restored.tmp")));
  // The new file's own attributes: not read-only.
  EXPECT_EQ(GetFileAttributesW(win::LongPath(Path("target")).c_str()) & FILE_ATTRIBUTE_READONLY,
            0u);
  // A folder in the way is still refused, and keeps its attributes.
  ASSERT_TRUE(env_.CreateDirs(Path("folder"), false).ok());
  WriteText(Path("other.tmp"), "x");
  EXPECT_EQ((*root)->Rename("other.tmp", "folder").code(), ErrorCode::kAlreadyExists);
}

// A backup running at reboot: the engine asks for pre-shutdown
// notification (the SCM waits for it then) and stops the job cleanly on
// it, as on a stop. SHUTDOWN alone leaves a few seconds.
TEST(WinServiceTest, PreshutdownStopsTheEngine) {
  EXPECT_NE(win::AcceptedControls(SERVICE_RUNNING) & SERVICE_ACCEPT_PRESHUTDOWN, 0u);
  EXPECT_NE(win::AcceptedControls(SERVICE_RUNNING) & SERVICE_ACCEPT_STOP, 0u);
  EXPECT_EQ(win::AcceptedControls(SERVICE_STOP_PENDING), 0u);
  EXPECT_EQ(win::ServiceControlActionFor(SERVICE_CONTROL_PRESHUTDOWN),
            win::ServiceControlAction::kStop);
  EXPECT_EQ(win::ServiceControlActionFor(SERVICE_CONTROL_SHUTDOWN),
            win::ServiceControlAction::kStop);
  EXPECT_EQ(win::ServiceControlActionFor(SERVICE_CONTROL_STOP), win::ServiceControlAction::kStop);
  EXPECT_EQ(win::ServiceControlActionFor(SERVICE_CONTROL_INTERROGATE),
            win::ServiceControlAction::kNothing);
  EXPECT_EQ(win::ServiceControlActionFor(SERVICE_CONTROL_PAUSE),
            win::ServiceControlAction::kNotImplemented);
  EXPECT_GE(win::kPreshutdownTimeoutMs, 60000u);  // the engine waits up to 60 s for the job
}

// A state or scratch folder someone else created first gets the agent's
// owner as well as its DACL: an owner may always rewrite the DACL.
TEST_F(EnvWinTest, OwnerOnlyTakesOwnershipOfAnExistingFolder) {
  ASSERT_TRUE(std::filesystem::create_directory(std::filesystem::u8path(Path("state"))));
  ASSERT_TRUE(env_.CreateDirs(Path("state"), true).ok());
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_EQ(
      GetNamedSecurityInfoW(win::LongPath(Path("state")).c_str(), SE_FILE_OBJECT,
                            OWNER_SECURITY_INFORMATION, &owner, nullptr, nullptr, nullptr, &sd),
      static_cast<DWORD>(ERROR_SUCCESS));
  wchar_t* text = nullptr;
  ASSERT_TRUE(ConvertSidToStringSidW(owner, &text));
  std::string got = win::Narrow(text);
  LocalFree(text);
  LocalFree(sd);
  if (UnderWine()) {
    // Wine keeps a file's owner as its Unix owner (the Wine user) whatever
    // SetSecurityInfo was given; the call itself must still succeed.
    EXPECT_TRUE(got == win::OwnerOnlyOwnerSid() || got == win::CurrentUserSid()) << got;
  } else {
    EXPECT_EQ(got, win::OwnerOnlyOwnerSid());
  }
  EXPECT_TRUE(win::OwnerOnlyOwnerSid() == "S-1-5-32-544" ||
              win::OwnerOnlyOwnerSid() == win::CurrentUserSid());
}

// obctl talks only to a pipe the engine's accounts created.
TEST(WinPipeTest, OnlyTheEnginesAccountsMayServeThePipe) {
  const std::string me = "S-1-5-21-1-2-3-1001";
  EXPECT_TRUE(win::PipeServerTrusted("S-1-5-18", me));              // SYSTEM (the service)
  EXPECT_TRUE(win::PipeServerTrusted("S-1-5-32-544", me));          // an elevated administrator
  EXPECT_TRUE(win::PipeServerTrusted(me, me));                      // an engine in the foreground
  EXPECT_FALSE(win::PipeServerTrusted("S-1-5-21-1-2-3-1002", me));  // another user: a squatter
  EXPECT_FALSE(win::PipeServerTrusted("S-1-1-0", me));              // Everyone
  EXPECT_FALSE(win::PipeServerTrusted("", me));                     // owner unreadable
  EXPECT_FALSE(win::PipeServerTrusted("", me, ""));
  // The owner the client's own token gives its objects (an engine started
  // in the foreground by the same account): Administrators for an elevated
  // admin, a group under Wine.
  EXPECT_TRUE(win::PipeServerTrusted("S-1-5-21-1-2-3-513", me, "S-1-5-21-1-2-3-513"));
  EXPECT_FALSE(win::PipeServerTrusted("S-1-5-21-1-2-3-513", me, ""));
  EXPECT_FALSE(win::CurrentTokenOwnerSid().empty());
}

// The AfterBackup script's check reads the DACL (the emulated mode bits say
// nothing on Windows). Descriptors from SDDL, as a file server's would be.
TEST(WinSecurityTest, OnlyTrustedCanChangeReadsOwnerAndDacl) {
  const std::string me = "S-1-5-21-1-2-3-1001";
  const std::vector<std::string> trusted = {"S-1-5-18", "S-1-5-32-544", me};
  auto check = [&](const wchar_t* sddl) {
    PSECURITY_DESCRIPTOR sd = nullptr;
    EXPECT_TRUE(
        ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl, SDDL_REVISION_1, &sd, nullptr))
        << GetLastError();
    bool ok = win::OnlyTrustedCanChange(sd, trusted);
    LocalFree(sd);
    return ok;
  };
  // What ApplyOwnerOnly and the MSI write.
  EXPECT_TRUE(check(L"O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"));
  EXPECT_TRUE(check(L"O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;S-1-5-21-1-2-3-1001)(A;;FR;;;WD)"));
  // Users may read and run it, not change it.
  EXPECT_TRUE(check(L"O:BAD:P(A;;FA;;;BA)(A;;0x1200a9;;;BU)"));
  // Another owner (may rewrite the DACL at will).
  EXPECT_FALSE(check(L"O:S-1-5-21-1-2-3-1002D:P(A;;FA;;;SY)"));
  // A NULL DACL: everyone has full access. (Built by hand: Wine turns the
  // SDDL "D:NO_ACCESS_CONTROL" into an empty DACL, which denies everything.)
  {
    SECURITY_DESCRIPTOR sd;
    ASSERT_TRUE(InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION));
    PSID system = nullptr;
    ASSERT_TRUE(ConvertStringSidToSidW(L"S-1-5-18", &system));
    ASSERT_TRUE(SetSecurityDescriptorOwner(&sd, system, FALSE));
    ASSERT_TRUE(SetSecurityDescriptorDacl(&sd, TRUE, nullptr, FALSE));
    EXPECT_FALSE(win::OnlyTrustedCanChange(&sd, trusted));
    ASSERT_TRUE(SetSecurityDescriptorDacl(&sd, FALSE, nullptr, FALSE));  // none at all
    EXPECT_FALSE(win::OnlyTrustedCanChange(&sd, trusted));
    LocalFree(system);
  }
  EXPECT_TRUE(check(L"O:SYD:P"));  // an empty DACL: nobody may do anything
  // Each right that changes the file, granted to Users or Everyone.
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;FW;;;BU)"));
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;0x2;;;WD)"));      // FILE_WRITE_DATA
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;0x4;;;WD)"));      // FILE_APPEND_DATA
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;SD;;;AU)"));       // DELETE
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;WD;;;AU)"));       // WRITE_DAC
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;WO;;;AU)"));       // WRITE_OWNER
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;GA;;;BU)"));       // GENERIC_ALL
  EXPECT_FALSE(check(L"O:SYD:(A;;FA;;;SY)(A;;GW;;;S-1-1-0)"));  // GENERIC_WRITE
  // A deny entry takes away; an inherit-only entry is for children only.
  EXPECT_TRUE(check(L"O:SYD:(D;;FW;;;BU)(A;;FA;;;SY)"));
  EXPECT_TRUE(check(L"O:SYD:(A;;FA;;;SY)(A;OICIIO;FA;;;BU)"));
  // An inherited entry applies like any other.
  EXPECT_FALSE(check(L"O:SYD:AI(A;ID;FA;;;BU)(A;;FA;;;SY)"));
}

TEST_F(EnvWinTest, OnlyThisAccountCanChangeAFileWithTheOwnerOnlyDacl) {
  ASSERT_TRUE(env_.WriteFileAtomic(Path("AfterBackup"), AsBytes("@echo off"), true).ok());
  EXPECT_TRUE(env_.OnlyThisAccountCanChange(Path("AfterBackup")));
  // Everyone may write: refused.
  PSECURITY_DESCRIPTOR sd = nullptr;
  ASSERT_TRUE(ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P(A;;FA;;;WD)",
                                                                   SDDL_REVISION_1, &sd, nullptr));
  BOOL present = FALSE, defaulted = FALSE;
  PACL dacl = nullptr;
  ASSERT_TRUE(GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted));
  std::wstring wide = win::LongPath(Path("AfterBackup"));
  DWORD rc = SetNamedSecurityInfoW(wide.data(), SE_FILE_OBJECT,
                                   DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                                   nullptr, nullptr, dacl, nullptr);
  LocalFree(sd);
  ASSERT_EQ(rc, static_cast<DWORD>(ERROR_SUCCESS));
  EXPECT_FALSE(env_.OnlyThisAccountCanChange(Path("AfterBackup")));
  EXPECT_FALSE(env_.OnlyThisAccountCanChange(dir_));
}

TEST_F(EnvWinTest, DefaultStateDirAndPipeName) {
  SetEnvironmentVariableW(L"OBAGENT_STATE_DIR", L"D:\\custom\\state");
  EXPECT_EQ(env_.DefaultStateDir(), "D:/custom/state");
  SetEnvironmentVariableW(L"OBAGENT_STATE_DIR", nullptr);
  std::string state = env_.DefaultStateDir();
  EXPECT_EQ(state.substr(state.size() - 8), "/obagent");
  EXPECT_EQ(state[1], ':');

  std::string pipe = env_.LocalApiAddress("C:/ProgramData/obagent");
  EXPECT_EQ(pipe.rfind(R"(\\.\pipe\obagent-)", 0), 0u) << pipe;
  EXPECT_EQ(pipe.size(), std::string(R"(\\.\pipe\obagent-)").size() + 16);
  // One folder, one name: case and separators do not matter, the folder does.
  EXPECT_EQ(env_.LocalApiAddress("c:\\programdata\\OBAGENT"), pipe);
  EXPECT_NE(env_.LocalApiAddress("C:/ProgramData/obagent2"), pipe);
}

TEST(WinCommandLineTest, QuotedArgumentsComeBackUnchanged) {
  const std::vector<std::wstring> args = {L"plain",
                                          L"with space",
                                          L"",
                                          L"quote\"inside",
                                          L"trailing\\",
                                          L"back\\\\\"quote",
                                          L"C:\\Program Files\\x\\",
                                          L"tab\there",
                                          L"\\\\server\\share"};
  std::wstring line = L"prog.exe";
  for (const auto& arg : args) {
    line += L' ';
    win::AppendQuoted(&line, arg);
  }
  int argc = 0;
  wchar_t** argv = CommandLineToArgvW(line.c_str(), &argc);
  ASSERT_NE(argv, nullptr);
  ASSERT_EQ(argc, static_cast<int>(args.size()) + 1) << win::Narrow(line);
  for (size_t i = 0; i < args.size(); ++i) {
    EXPECT_EQ(std::wstring(argv[i + 1]), args[i]) << win::Narrow(line);
  }
  LocalFree(argv);
}

TEST_F(EnvWinTest, RunProgramPassesEnvironmentAndExitCode) {
  wchar_t system_dir[MAX_PATH];
  GetSystemDirectoryW(system_dir, MAX_PATH);
  std::string cmd = win::FromWidePath(system_dir) + "/cmd.exe";
  auto code = env_.RunProgram(cmd, {"/c", "exit 7"}, {});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 7);
  // The extra variable reaches the program (cmd.exe expands it), from a
  // program path with a space in it.
  ASSERT_TRUE(
      CopyFileW(win::LongPath(cmd).c_str(), win::LongPath(Path("with space.exe")).c_str(), FALSE));
  auto from_env = env_.RunProgram(Path("with space.exe"), {"/c", "exit %OBAGENT_TEST_CODE%"},
                                  {"OBAGENT_TEST_CODE=42"});
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(*from_env, 42);
  EXPECT_EQ(env_.RunProgram(dir_ + "/missing.exe", {}, {}).status().code(), ErrorCode::kNotFound);
}

// Symlinks (reparse points) made through RestoreDir: whether they can be
// made here decides whether the following checks run.
bool CanCreateSymlinks(Env& env, const std::string& dir) {
  auto root = env.OpenRestoreRoot(dir, false);
  if (!root.ok() || !(*root)->CreateSymlink("probe-link", "nowhere", false).ok()) return false;
  bool ok = env.Lstat(dir + "/probe-link").ok() &&
            env.Lstat(dir + "/probe-link")->kind == FileKind::kSymlink;
  (void)(*root)->Remove("probe-link");
  return ok;
}

TEST_F(EnvWinTest, ReparsePointsAreNeverFollowed) {
  if (!CanCreateSymlinks(env_, dir_)) GTEST_SKIP() << "this system cannot create symlinks";
  std::string outside = Path("outside");
  ASSERT_TRUE(env_.CreateDirs(outside, false).ok());
  WriteText(outside + "/keep", "keep");
  auto base = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(base.ok());
  auto target_dir = (*base)->OpenOrCreateSubdir("target");
  ASSERT_TRUE(target_dir.ok());
  ASSERT_TRUE((*target_dir)->CreateSymlink("evil", outside, false).ok());
  ASSERT_TRUE((*target_dir)->CreateSymlink("file-link", outside + "/keep", false).ok());

  EXPECT_EQ(env_.Lstat(Path("target/evil"))->kind, FileKind::kSymlink);
  EXPECT_EQ(*env_.ReadLink(Path("target/evil")), outside);
  EXPECT_FALSE(env_.OpenForRead(Path("target/file-link")).ok());
  auto listed = env_.ListDir(Path("target"));
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].kind, FileKind::kSymlink);
  EXPECT_EQ((*listed)[1].kind, FileKind::kSymlink);

  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*(*root)->Probe("evil"), FileKind::kSymlink);
  EXPECT_EQ((*root)->OpenOrCreateSubdir("evil").status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->CreateFile("file-link", false).status().code(), ErrorCode::kAlreadyExists);
  auto replaced = (*root)->CreateFile("file-link", true);
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  ASSERT_TRUE((*replaced)->WriteAt(0, AsBytes("new")).ok());
  ASSERT_TRUE((*replaced)->Close().ok());
  EXPECT_EQ(env_.Lstat(Path("target/file-link"))->kind, FileKind::kRegular);
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");

  ASSERT_TRUE((*root)->Remove("evil").ok());
  EXPECT_FALSE(env_.Exists(Path("target/evil")));
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");
  ASSERT_TRUE((*root)->CreateSymlink("evil", outside, false).ok());
  ASSERT_TRUE(env_.RemoveAll(Path("target")).ok());
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");
}

TEST_F(EnvWinTest, RunServiceOutsideTheScmRunsTheBodyInThisProcess) {
  // Not started by the SCM: StartServiceCtrlDispatcherW fails with
  // ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and the body runs here.
  DWORD thread = GetCurrentThreadId();
  int code = env_.RunService("obagent-test", false, [&](ServiceContext& context) {
    EXPECT_EQ(GetCurrentThreadId(), thread);
    context.ReportRunning();  // nobody to tell: no effect
    EXPECT_FALSE(context.StopRequested());
    DWORD start = GetTickCount();
    EXPECT_FALSE(context.WaitForStop(50));
    EXPECT_GE(GetTickCount() - start, 40u);
    return 7;
  });
  EXPECT_EQ(code, 7);
}

// The schedule as a Task Scheduler task. Wine's Task Scheduler keeps a task
// but drops its triggers: that must come back as kNotFound (the engine then
// fires the schedule itself), never as a registration that would not run.
TEST_F(EnvWinTest, BackupScheduleIsATaskOrKNotFoundWhereTheSchedulerCannotRunIt) {
  OsScheduleDefinition d;
  d.task_name = "\\obagent-test\\OnlineBackup";
  d.task_xml =
      "<?xml version=\"1.0\"?>\n"
      "<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">\n"
      "  <Triggers>\n"
      "    <CalendarTrigger>\n"
      "      <StartBoundary>2026-01-01T21:30:00</StartBoundary>\n"
      "      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>\n"
      "    </CalendarTrigger>\n"
      "  </Triggers>\n"
      "  <Principals><Principal id=\"LocalSystem\"><UserId>S-1-5-18</UserId>"
      "<RunLevel>HighestAvailable</RunLevel></Principal></Principals>\n"
      "  <Actions Context=\"LocalSystem\"><Exec><Command>C:\\obagent\\obctl.exe</Command>"
      "<Arguments>backup now</Arguments></Exec></Actions>\n"
      "</Task>\n";
  auto registered = env_.RegisterBackupSchedule(d);
  if (UnderWine()) {
    EXPECT_EQ(registered.status().code(), ErrorCode::kNotFound) << registered.status().ToString();
  } else if (registered.status().code() == ErrorCode::kNotFound) {
    GTEST_SKIP() << "no usable Task Scheduler: " << registered.status().ToString();
  } else {
    // Registering needs an administrator; the test runs as one on Windows.
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
    EXPECT_EQ(*registered, "Task Scheduler");
    EXPECT_TRUE(env_.RegisterBackupSchedule(d).ok()) << "replacing must work";
  }
  Status removed = env_.UnregisterBackupSchedule(d);
  EXPECT_TRUE(removed.ok() || removed.code() == ErrorCode::kNotFound) << removed.ToString();
}

TEST_F(EnvWinTest, SnapshotProviderIsVss) {
  // On Windows (as an administrator) the source's volume is snapshotted.
  // Wine has no VSS at all (E_NOTIMPL): nothing a user could fix, so the
  // volume is read live and the reason is given, not a failed job.
  auto snapshot = SnapshotProvider::Default().Create({dir_}, Path("work"));
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  ASSERT_FALSE((*snapshot)->volumes().empty());
  const SnapshotVolume& volume = (*snapshot)->volumes()[0];
  if (UnderWine()) {
    EXPECT_EQ(volume.kind, SnapshotKind::kNone);
    EXPECT_NE(volume.detail.find("no Volume Shadow Copy Service"), std::string::npos)
        << volume.detail;
    EXPECT_EQ((*snapshot)->ReadPath(dir_ + "/x"), dir_ + "/x");
  } else {
    EXPECT_EQ(volume.kind, SnapshotKind::kVss);
  }
  EXPECT_TRUE((*snapshot)->Release().ok());
}

}  // namespace
}  // namespace obagent::platform
