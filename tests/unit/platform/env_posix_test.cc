// POSIX specifics of platform::Env and RestoreDir (modes, owners, symlinks,
// FIFOs, XDG folders); what every OS shares is in env_test.cc.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform.h"

namespace obagent::platform {
namespace {

namespace fs = std::filesystem;

std::string MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "obagent-env-XXXXXX").string();
  char* made = ::mkdtemp(tmpl.data());
  EXPECT_NE(made, nullptr) << std::strerror(errno);
  return tmpl;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct stat LstatOrDie(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    // Restored folders may lack owner permissions; make them removable.
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
      }
    }
    fs::remove_all(dir_, ec);
  }
  std::string Path(const std::string& rel) const { return dir_ + "/" + rel; }

  Env& env_ = Env::Default();
  std::string dir_;
};

using EnvPosixTest = TempDirTest;
using RestoreDirPosixTest = TempDirTest;

// ---------------------------------------------------------------------------
// Env

TEST_F(EnvPosixTest, LstatDescribesFilesAndSymlinks) {
  WriteText(Path("f"), "hello");
  ASSERT_EQ(::chmod(Path("f").c_str(), 0640), 0);
  auto info = env_.Lstat(Path("f"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, FileKind::kRegular);
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(info->mode, 0640u);
  EXPECT_EQ(info->uid, ::geteuid());
  EXPECT_EQ(info->link_count, 1u);
  struct stat st = LstatOrDie(Path("f"));
  EXPECT_EQ(info->mtime_ns, MtimeNs(st));
  EXPECT_EQ(info->inode, st.st_ino);

  ASSERT_EQ(::symlink("f", Path("l").c_str()), 0);
  auto link = env_.Lstat(Path("l"));
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->kind, FileKind::kSymlink);
  EXPECT_NE(link->inode, info->inode);

  auto dir = env_.Lstat(dir_);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->kind, FileKind::kDirectory);

  auto missing = env_.Lstat(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().detail().find(Path("missing")), std::string::npos);
  EXPECT_NE(missing.status().detail().find("errno 2"), std::string::npos);
}

TEST_F(EnvPosixTest, ListDirIsSortedBytewiseWithKinds) {
  WriteText(Path("b"), "");
  WriteText(Path("a"), "");
  WriteText(Path("C"), "");
  WriteText(Path("\xc3\xa9"), "");  // "é": after ASCII bytewise
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("/nonexistent", Path("s").c_str()), 0);
  ASSERT_EQ(::mkfifo(Path("p").c_str(), 0600), 0);

  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"C", "a", "b", "d", "p", "s", "\xc3\xa9"}));
  EXPECT_EQ((*entries)[0].kind, FileKind::kRegular);
  EXPECT_EQ((*entries)[3].kind, FileKind::kDirectory);
  EXPECT_EQ((*entries)[4].kind, FileKind::kOther);
  EXPECT_EQ((*entries)[5].kind, FileKind::kSymlink);

  auto missing = env_.ListDir(Path("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

TEST_F(EnvPosixTest, OpenForReadDoesNotFollowAFinalSymlink) {
  WriteText(Path("f"), "secret");
  ASSERT_EQ(::symlink(Path("f").c_str(), Path("l").c_str()), 0);
  auto file = env_.OpenForRead(Path("l"));
  EXPECT_FALSE(file.ok());
  auto missing = env_.OpenForRead(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

// Env::RunProgram: no shell, the exit code, 128 + the signal, and extra
// variables that replace inherited ones of the same name (as on Windows):
// the program's environment as it was given (/proc/PID/environ) holds
// the name once.
TEST_F(EnvPosixTest, RunProgramPassesEnvironmentAndExitCode) {
  auto code = env_.RunProgram("/bin/sh", {"-c", "exit 7"}, {});
  ASSERT_TRUE(code.ok()) << code.status().ToString();
  EXPECT_EQ(*code, 7);
  auto killed = env_.RunProgram("/bin/sh", {"-c", "kill -TERM $$"}, {});
  ASSERT_TRUE(killed.ok()) << killed.status().ToString();
  EXPECT_EQ(*killed, 128 + SIGTERM);
  // Arguments reach the program as they are: no shell splits or expands them.
  auto args =
      env_.RunProgram("/bin/sh", {"-c", "test \"$1\" = 'a b $HOME'", "sh", "a b $HOME"}, {});
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, 0);
  ASSERT_EQ(::setenv("OBAGENT_TEST_INHERITED", "old", 1), 0);
  ASSERT_EQ(::setenv("OBAGENT_TEST_KEPT", "kept", 1), 0);
  auto from_env = env_.RunProgram(
      "/bin/sh",
      {"-c",
       "test \"$OBAGENT_TEST_INHERITED\" = new && test \"$OBAGENT_TEST_KEPT\" = kept && "
       "test \"$(tr '\\0' '\\n' < /proc/$$/environ | grep -c '^OBAGENT_TEST_INHERITED=')\" = 1 && "
       "exit \"$OBAGENT_TEST_CODE\""},
      {"OBAGENT_TEST_CODE=42", "OBAGENT_TEST_INHERITED=new"});
  ::unsetenv("OBAGENT_TEST_INHERITED");
  ::unsetenv("OBAGENT_TEST_KEPT");
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(*from_env, 42);
  EXPECT_EQ(env_.RunProgram(Path("missing"), {}, {}).status().code(), ErrorCode::kNotFound);
}

// A read larger than the file returns all of it at once; every later read
// answers the end (the backup's loop stops on the first 0).
TEST_F(EnvPosixTest, ReadReturnsAShortFileWholeThenTheEnd) {
  WriteText(Path("f"), "short file");
  auto file = env_.OpenForRead(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::vector<uint8_t> buf(64);
  auto n = (*file)->Read(buf.data(), buf.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "short file");
  for (int i = 0; i < 2; ++i) {
    n = (*file)->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 0u);
  }
  // Positional reads do not depend on where the sequential one stopped.
  n = (*file)->ReadAt(6, buf.data(), buf.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), *n), "file");
}

TEST_F(EnvPosixTest, ReadFileAndErrors) {
  WriteText(Path("f"), std::string("a\0b", 3));
  auto data = env_.ReadFile(Path("f"));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, (Bytes{'a', 0, 'b'}));

  auto missing = env_.ReadFile(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);

  if (::geteuid() != 0) {
    WriteText(Path("locked"), "x");
    ASSERT_EQ(::chmod(Path("locked").c_str(), 0), 0);
    auto denied = env_.ReadFile(Path("locked"));
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.status().code(), ErrorCode::kIo);
    EXPECT_NE(denied.status().detail().find("access denied"), std::string::npos);
    EXPECT_NE(denied.status().detail().find("errno 13"), std::string::npos);
  }
}

TEST_F(EnvPosixTest, WriteFileAtomicOwnerOnlyAndReplace) {
  std::string path = Path("state.json");
  ASSERT_TRUE(env_.WriteFileAtomic(path, AsBytes("first"), true).ok());
  EXPECT_EQ(ReadText(path), "first");
  EXPECT_EQ(LstatOrDie(path).st_mode & 07777, 0600u);

  ASSERT_TRUE(env_.WriteFileAtomic(path, AsBytes("second, longer"), true).ok());
  EXPECT_EQ(ReadText(path), "second, longer");

  mode_t old_umask = ::umask(022);
  ASSERT_TRUE(env_.WriteFileAtomic(Path("shared"), AsBytes(""), false).ok());
  ::umask(old_umask);
  EXPECT_EQ(LstatOrDie(Path("shared")).st_mode & 07777, 0644u);
  EXPECT_EQ(ReadText(Path("shared")), "");

  // No temporary file is left behind.
  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, "shared");
  EXPECT_EQ((*entries)[1].name, "state.json");
}

TEST_F(EnvPosixTest, WriteFileAtomicUncachedFallsBackWhereDirectIoIsRefused) {
  // tmpfs (/dev/shm) refuses O_DIRECT: the bytes are written through the
  // page cache instead, with the same result. Where /dev/shm is missing the
  // test folder's own file system is used (the direct path).
  std::string dir = fs::is_directory("/dev/shm") ? "/dev/shm" : dir_;
  std::string path = dir + "/obagent-uncached-" + std::to_string(::getpid());
  Bytes data(8193);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i % 251);
  ASSERT_TRUE(env_.WriteFileAtomicUncached(path, data, true).ok());
  Result<Bytes> back = env_.ReadFile(path);
  std::error_code ec;
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  fs::remove(path, ec);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(EnvPosixTest, WriteFileAtomicReplacesASymlinkNotItsTarget) {
  WriteText(Path("target"), "keep");
  ASSERT_EQ(::symlink(Path("target").c_str(), Path("link").c_str()), 0);
  ASSERT_TRUE(env_.WriteFileAtomic(Path("link"), AsBytes("new"), true).ok());
  EXPECT_EQ(ReadText(Path("target")), "keep");
  EXPECT_TRUE(S_ISREG(LstatOrDie(Path("link")).st_mode));
  EXPECT_EQ(ReadText(Path("link")), "new");
}

TEST_F(EnvPosixTest, MoveFileReplacingToAnotherFileSystemIsUnsupported) {
  // /dev/shm is a tmpfs on Linux; elsewhere (or on a tmpfs /tmp) there is
  // no second file system to try.
  struct stat here {
  }, shm{};
  if (::stat(dir_.c_str(), &here) != 0 || ::stat("/dev/shm", &shm) != 0 ||
      here.st_dev == shm.st_dev) {
    GTEST_SKIP() << "no second file system";
  }
  std::string other = "/dev/shm/obagent-move-" + std::to_string(::getpid());
  WriteText(other, "staged");
  Status st = env_.MoveFileReplacing(other, Path("object"));
  EXPECT_EQ(st.code(), ErrorCode::kUnsupported) << st.ToString();
  EXPECT_FALSE(env_.Exists(Path("object")));
  EXPECT_TRUE(env_.Exists(other));  // nothing lost: the caller copies
  ::unlink(other.c_str());
}

TEST_F(EnvPosixTest, CreateDirsLikeMkdirP) {
  std::string deep = Path("a/b//c/");
  ASSERT_TRUE(env_.CreateDirs(deep, true).ok());
  EXPECT_TRUE(S_ISDIR(LstatOrDie(Path("a/b/c")).st_mode));
  EXPECT_EQ(LstatOrDie(Path("a/b/c")).st_mode & 07777, 0700u);
  // Again: existing folders are fine; owner_only tightens an existing one.
  ASSERT_EQ(::chmod(Path("a/b/c").c_str(), 0755), 0);
  ASSERT_TRUE(env_.CreateDirs(Path("a/b/c"), true).ok());
  EXPECT_EQ(LstatOrDie(Path("a/b/c")).st_mode & 07777, 0700u);

  WriteText(Path("file"), "x");
  Status st = env_.CreateDirs(Path("file/sub"), false);
  EXPECT_FALSE(st.ok());
  st = env_.CreateDirs(Path("file"), false);
  EXPECT_EQ(st.code(), ErrorCode::kAlreadyExists);
}

TEST_F(EnvPosixTest, RemoveAllDoesNotFollowSymlinks) {
  std::string outside = Path("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  WriteText(outside + "/keep", "keep");

  ASSERT_TRUE(env_.CreateDirs(Path("tree/x/y"), false).ok());
  WriteText(Path("tree/x/y/f"), "f");
  WriteText(Path("tree/g"), "g");
  ASSERT_EQ(::symlink(outside.c_str(), Path("tree/x/link").c_str()), 0);
  ASSERT_EQ(::chmod(Path("tree/x/y").c_str(), 0500), 0);  // read-only folder

  ASSERT_TRUE(env_.RemoveAll(Path("tree")).ok());
  EXPECT_FALSE(env_.Exists(Path("tree")));
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");

  // A symlink given directly is removed itself.
  ASSERT_EQ(::symlink(outside.c_str(), Path("top-link").c_str()), 0);
  ASSERT_TRUE(env_.RemoveAll(Path("top-link")).ok());
  EXPECT_FALSE(env_.Exists(Path("top-link")));
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");

  EXPECT_TRUE(env_.RemoveAll(Path("missing")).ok());
  EXPECT_TRUE(env_.RemoveAll(Path("missing/deeper")).ok());
}

TEST_F(EnvPosixTest, RemoveFileAndExists) {
  WriteText(Path("f"), "x");
  EXPECT_TRUE(env_.Exists(Path("f")));
  ASSERT_TRUE(env_.RemoveFile(Path("f")).ok());
  EXPECT_FALSE(env_.Exists(Path("f")));
  EXPECT_EQ(env_.RemoveFile(Path("f")).code(), ErrorCode::kNotFound);
  ASSERT_EQ(::symlink("/nonexistent", Path("dangling").c_str()), 0);
  EXPECT_TRUE(env_.Exists(Path("dangling")));
}

TEST_F(EnvPosixTest, ReadLink) {
  ASSERT_EQ(::symlink("../some/where", Path("l").c_str()), 0);
  auto target = env_.ReadLink(Path("l"));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "../some/where");
  std::string long_target(1000, 'x');
  ASSERT_EQ(::symlink(long_target.c_str(), Path("long").c_str()), 0);
  auto long_read = env_.ReadLink(Path("long"));
  ASSERT_TRUE(long_read.ok());
  EXPECT_EQ(*long_read, long_target);
  EXPECT_FALSE(env_.ReadLink(Path("missing")).ok());
}

TEST_F(EnvPosixTest, AbsolutePathNormalizesLexically) {
  auto a = env_.AbsolutePath("/a/./b/../c//d/");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "/a/c/d");
  EXPECT_EQ(*env_.AbsolutePath("/../.."), "/");
  EXPECT_EQ(*env_.AbsolutePath("/"), "/");

  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  auto rel = env_.AbsolutePath("x/../y");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(*rel, (std::string(cwd) == "/" ? "" : std::string(cwd)) + "/y");
  EXPECT_FALSE(env_.AbsolutePath("").ok());
}

TEST_F(EnvPosixTest, DiskSpaceHostnameAndTerminal) {
  auto space = env_.GetDiskSpace(dir_);
  ASSERT_TRUE(space.ok());
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
  EXPECT_FALSE(env_.GetDiskSpace(Path("missing")).ok());
  EXPECT_FALSE(env_.Hostname().empty());
  EXPECT_FALSE(env_.IsTerminal(-1));
  int fd = ::open(Path("f").c_str(), O_CREAT | O_WRONLY, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(env_.IsTerminal(fd));
  ::close(fd);
}

class ScopedEnvVar {
 public:
  ScopedEnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnvVar() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_F(EnvPosixTest, DefaultStateDir) {
  {
    ScopedEnvVar var("OBAGENT_STATE_DIR", "/custom/state");
    EXPECT_EQ(env_.DefaultStateDir(), "/custom/state");
  }
  ScopedEnvVar var("OBAGENT_STATE_DIR", nullptr);
  ScopedEnvVar xdg("XDG_DATA_HOME", "/xdg/data");
  ScopedEnvVar home("HOME", "/home/someone");
  if (::geteuid() == 0) {
    EXPECT_EQ(env_.DefaultStateDir(), "/var/lib/obagent");
  } else {
    EXPECT_EQ(env_.DefaultStateDir(), "/xdg/data/obagent");
    ScopedEnvVar no_xdg("XDG_DATA_HOME", nullptr);
    EXPECT_EQ(env_.DefaultStateDir(), "/home/someone/.local/share/obagent");
  }
}

// ---------------------------------------------------------------------------
// RestoreDir

TEST_F(RestoreDirPosixTest, OpenRestoreRoot) {
  auto missing = env_.OpenRestoreRoot(Path("t/u"), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);

  auto created = env_.OpenRestoreRoot(Path("t/u"), true);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(S_ISDIR(LstatOrDie(Path("t/u")).st_mode));

  // The target itself may be reached through a symlink.
  ASSERT_EQ(::symlink(Path("t").c_str(), Path("via").c_str()), 0);
  auto via = env_.OpenRestoreRoot(Path("via/u"), false);
  ASSERT_TRUE(via.ok()) << via.status().ToString();
  auto file = (*via)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE(env_.Exists(Path("t/u/f")));
}

// syncfs on the folder's file system: what was written is on disk when it
// returns (the restore's durability rests on it).
TEST_F(RestoreDirPosixTest, SyncFileSystemSyncsTheFolders) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes(std::string_view("written"))).ok());
  ASSERT_TRUE((*file)->Close().ok());
  Status st = (*root)->SyncFileSystem();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(RestoreDirPosixTest, ProbeReportsKinds) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  WriteText(Path("f"), "x");
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("d", Path("l").c_str()), 0);
  EXPECT_EQ(*(*root)->Probe("f"), FileKind::kRegular);
  EXPECT_EQ(*(*root)->Probe("d"), FileKind::kDirectory);
  EXPECT_EQ(*(*root)->Probe("l"), FileKind::kSymlink);
  EXPECT_EQ((*root)->Probe("none").status().code(), ErrorCode::kNotFound);
}

TEST_F(RestoreDirPosixTest, PlantedSymlinkToOutsideIsNeverFollowed) {
  std::string outside = Path("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(Path("target").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), Path("target/evil").c_str()), 0);
  ASSERT_EQ(::symlink((outside + "/made").c_str(), Path("target/dangling").c_str()), 0);

  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());
  auto sub = (*root)->OpenOrCreateSubdir("evil");
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().code(), ErrorCode::kAlreadyExists);
  auto sub2 = (*root)->OpenOrCreateSubdir("dangling");
  ASSERT_FALSE(sub2.ok());
  EXPECT_EQ(sub2.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->CreateFile("dangling", false).status().code(), ErrorCode::kAlreadyExists);

  // A file in the way of a folder is refused too.
  WriteText(Path("target/file"), "x");
  EXPECT_EQ((*root)->OpenOrCreateSubdir("file").status().code(), ErrorCode::kAlreadyExists);

  auto entries = env_.ListDir(outside);
  ASSERT_TRUE(entries.ok());
  EXPECT_TRUE(entries->empty()) << "something was created outside the target";
}

TEST_F(RestoreDirPosixTest, OpenOrCreateSubdirCreatesPrivateThenReopens) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto sub = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  EXPECT_EQ(LstatOrDie(Path("d")).st_mode & 07777, 0700u);
  auto inner = (*sub)->OpenOrCreateSubdir("e");
  ASSERT_TRUE(inner.ok());
  auto file = (*inner)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("deep")).ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadText(Path("d/e/f")), "deep");
  auto again = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Probe("e"), FileKind::kDirectory);
}

TEST_F(RestoreDirPosixTest, CreateFileReplaceOverSymlinkReplacesTheLinkItself) {
  std::string outside = Path("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  WriteText(outside + "/secret", "keep");
  ASSERT_EQ(::mkdir(Path("target").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((outside + "/secret").c_str(), Path("target/link").c_str()), 0);

  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());
  auto refused = (*root)->CreateFile("link", false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kAlreadyExists);

  auto file = (*root)->CreateFile("link", true);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("new")).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());

  EXPECT_EQ(ReadText(outside + "/secret"), "keep");
  struct stat st = LstatOrDie(Path("target/link"));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadText(Path("target/link")), "new");
}

TEST_F(RestoreDirPosixTest, CreateFileReplaceRefusesAFolderInTheWay) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  ASSERT_EQ(::mkdir(Path("d").c_str(), 0755), 0);
  WriteText(Path("d/inside"), "x");
  EXPECT_EQ((*root)->CreateFile("d", true).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->CreateSymlink("d", "t", true).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadText(Path("d/inside")), "x");
}

TEST_F(RestoreDirPosixTest, SymlinksAndHardLinks) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("a", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("shared")).ok());
  ASSERT_TRUE((*file)->Close().ok());

  auto sub = (*root)->OpenOrCreateSubdir("sub");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->CreateHardLink("b", **root, "a", false).ok());
  struct stat a = LstatOrDie(Path("a"));
  struct stat b = LstatOrDie(Path("sub/b"));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  EXPECT_EQ((*sub)->CreateHardLink("b", **root, "a", false).code(), ErrorCode::kAlreadyExists);

  // Replacing an existing entry with a link.
  WriteText(Path("sub/c"), "old");
  ASSERT_TRUE((*sub)->CreateHardLink("c", **root, "a", true).ok());
  EXPECT_EQ(ReadText(Path("sub/c")), "shared");
  EXPECT_EQ(LstatOrDie(Path("a")).st_nlink, 3u);
  EXPECT_FALSE((*root)->CreateHardLink("a", **root, "a", true).ok());
  EXPECT_EQ(ReadText(Path("a")), "shared");
  EXPECT_EQ((*root)->CreateHardLink("x", **root, "missing", false).code(), ErrorCode::kNotFound);

  // A symlink is linked itself, not its target.
  ASSERT_TRUE((*root)->CreateSymlink("s", "a", false).ok());
  ASSERT_TRUE((*root)->CreateHardLink("s2", **root, "s", false).ok());
  EXPECT_TRUE(S_ISLNK(LstatOrDie(Path("s2")).st_mode));

  // Symlinks: created verbatim, replaced only when asked.
  auto target = env_.ReadLink(Path("s"));
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "a");
  EXPECT_EQ((*root)->CreateSymlink("s", "b", false).code(), ErrorCode::kAlreadyExists);
  ASSERT_TRUE((*root)->CreateSymlink("s", "../../etc/passwd", true).ok());
  EXPECT_EQ(*env_.ReadLink(Path("s")), "../../etc/passwd");
  EXPECT_EQ(ReadText(Path("a")), "shared");
}

TEST_F(RestoreDirPosixTest, RenameReplacesASymlinkNotItsTarget) {
  std::string outside = Path("outside");
  WriteText(outside, "keep");
  ASSERT_EQ(::mkdir(Path("target").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(outside.c_str(), Path("target/final").c_str()), 0);
  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("temp", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("new")).ok());
  ASSERT_TRUE((*file)->Close().ok());

  ASSERT_TRUE((*root)->Rename("temp", "final").ok());
  EXPECT_EQ(ReadText(outside), "keep");
  EXPECT_TRUE(S_ISREG(LstatOrDie(Path("target/final")).st_mode));
  EXPECT_EQ(ReadText(Path("target/final")), "new");
  EXPECT_FALSE(env_.Exists(Path("target/temp")));

  ASSERT_EQ(::mkdir(Path("target/dir").c_str(), 0755), 0);
  EXPECT_EQ((*root)->Rename("final", "dir").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->Rename("missing", "x").code(), ErrorCode::kNotFound);
  EXPECT_EQ((*root)->Rename("final", "../escaped").code(), ErrorCode::kPathEscape);
  EXPECT_EQ((*root)->Rename("..", "x").code(), ErrorCode::kPathEscape);
  EXPECT_FALSE(env_.Exists(Path("escaped")));
  EXPECT_EQ(ReadText(Path("target/final")), "new");
}

TEST_F(RestoreDirPosixTest, RemoveNeverFollowsSymlinks) {
  std::string outside = Path("outside");
  ASSERT_EQ(::mkdir(outside.c_str(), 0755), 0);
  WriteText(outside + "/keep", "keep");
  ASSERT_EQ(::mkdir(Path("target").c_str(), 0755), 0);
  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());

  ASSERT_EQ(::symlink(outside.c_str(), Path("target/link").c_str()), 0);
  ASSERT_TRUE((*root)->Remove("link").ok());
  EXPECT_FALSE(env_.Exists(Path("target/link")));

  ASSERT_TRUE(env_.CreateDirs(Path("target/tree/deep"), false).ok());
  WriteText(Path("target/tree/deep/f"), "x");
  ASSERT_EQ(::symlink(outside.c_str(), Path("target/tree/deep/out").c_str()), 0);
  ASSERT_TRUE((*root)->Remove("tree").ok());
  EXPECT_FALSE(env_.Exists(Path("target/tree")));
  EXPECT_EQ(ReadText(outside + "/keep"), "keep");
  EXPECT_EQ((*root)->Remove("tree").code(), ErrorCode::kNotFound);
}

TEST_F(RestoreDirPosixTest, SetAttributesRoundTripsModeAndNanosecondMtime) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Close().ok());
  const int64_t mtime = 1700000000123456789;
  ASSERT_TRUE((*root)->SetAttributes("f", 0640, mtime, ::geteuid(), ::getegid(), false).ok());
  auto info = env_.Lstat(Path("f"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode, 0640u);
  EXPECT_EQ(info->mtime_ns, mtime);
  struct stat st = LstatOrDie(Path("f"));
  EXPECT_EQ(static_cast<int64_t>(st.st_atim.tv_sec) * 1000000000 + st.st_atim.tv_nsec, mtime);

  // Before 1970.
  const int64_t old = -1234567890;  // 1969-12-31T23:59:58.765432110Z
  ASSERT_TRUE((*root)->SetAttributes("f", 0600, old, ::geteuid(), ::getegid(), false).ok());
  EXPECT_EQ(env_.Lstat(Path("f"))->mtime_ns, old);

  EXPECT_EQ((*root)->SetAttributes("missing", 0600, 0, 0, 0, false).code(), ErrorCode::kNotFound);
}

TEST_F(RestoreDirPosixTest, SetAttributesOnASymlinkLeavesItsTargetAlone) {
  std::string outside = Path("outside");
  WriteText(outside, "keep");
  ASSERT_EQ(::chmod(outside.c_str(), 0644), 0);
  const int64_t target_mtime = MtimeNs(LstatOrDie(outside));
  ASSERT_EQ(::mkdir(Path("target").c_str(), 0755), 0);
  auto root = env_.OpenRestoreRoot(Path("target"), false);
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE((*root)->CreateSymlink("l", outside, false).ok());

  const int64_t mtime = 1500000000000000001;
  ASSERT_TRUE((*root)->SetAttributes("l", 0777, mtime, ::geteuid(), ::getegid(), true).ok());
  EXPECT_EQ(MtimeNs(LstatOrDie(Path("target/l"))), mtime);
  EXPECT_EQ(LstatOrDie(outside).st_mode & 07777, 0644u);
  EXPECT_EQ(MtimeNs(LstatOrDie(outside)), target_mtime);

  // Even when told it is not a symlink (an entry swapped after the check),
  // nothing goes through the link.
  ASSERT_TRUE((*root)->SetAttributes("l", 0600, mtime + 1, ::geteuid(), ::getegid(), false).ok());
  EXPECT_EQ(LstatOrDie(outside).st_mode & 07777, 0644u);
  EXPECT_EQ(MtimeNs(LstatOrDie(outside)), target_mtime);
  EXPECT_EQ(MtimeNs(LstatOrDie(Path("target/l"))), mtime + 1);
}

TEST_F(RestoreDirPosixTest, SetOwnAttributes) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto sub = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(sub.ok());
  const int64_t mtime = 1600000000987654321;
  ASSERT_TRUE((*sub)->SetOwnAttributes(0750, mtime, ::geteuid(), ::getegid()).ok());
  auto info = env_.Lstat(Path("d"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->mode, 0750u);
  EXPECT_EQ(info->mtime_ns, mtime);
  EXPECT_EQ(info->uid, ::geteuid());
}

// PreferReturningLargeBuffers on glibc: a buffer over 1 MiB goes back to
// the OS when freed, one below it leaves its room at the top of the heap
// for the next one. Checked in a fresh process (the heap of this one holds
// whatever earlier tests left).
TEST(EnvPosixMallocTest, LargeBuffersGoBackAndSmallOnesLeaveRoomAtTheTop) {
#if !defined(__GLIBC__) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "glibc's own allocator only";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Env::Default().PreferReturningLargeBuffers();
        const size_t mapped = ::mallinfo2().hblkhd;
        void* volatile large = ::malloc(4u << 20);
        std::memset(large, 1, 4u << 20);
        const bool large_mapped = ::mallinfo2().hblkhd >= mapped + (4u << 20);
        ::free(large);
        const bool large_returned = ::mallinfo2().hblkhd == mapped;
        // Below the threshold: from the heap, whose top keeps 1 MiB.
        void* volatile small = ::malloc(900u << 10);
        std::memset(small, 1, 900u << 10);
        ::free(small);
        const bool room_kept = ::mallinfo2().keepcost >= (1u << 20) - (64u << 10);
        std::fprintf(stderr, "mapped %d returned %d room %d (keepcost %zu)\n", large_mapped,
                     large_returned, room_kept, ::mallinfo2().keepcost);
        std::exit(large_mapped && large_returned && room_kept ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "mapped 1 returned 1 room 1");
#endif
}

}  // namespace
}  // namespace obagent::platform
