// platform::Env and RestoreDir behaviour that is the same on every OS; the
// OS-specific parts are in env_posix_test.cc and env_win_test.cc.
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/env_test_util.h"

namespace obagent::platform {
namespace {

using test_util::ReadText;
using test_util::WriteText;
using EnvTest = test_util::TempDirTest;
using RestoreDirTest = test_util::TempDirTest;
using LocalTransportTest = test_util::TempDirTest;
namespace fs = std::filesystem;

TEST_F(EnvTest, LstatKindsSizesAndMissing) {
  WriteText(Path("f"), "hello");
  auto info = env_.Lstat(Path("f"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->kind, FileKind::kRegular);
  EXPECT_EQ(info->size, 5u);
  EXPECT_EQ(info->link_count, 1u);
  EXPECT_TRUE(env_.OnlyThisAccountCanChange(Path("f")));
  EXPECT_FALSE(env_.OnlyThisAccountCanChange(dir_));  // not a regular file
  EXPECT_FALSE(env_.OnlyThisAccountCanChange(Path("missing")));
  auto dir = env_.Lstat(dir_);
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->kind, FileKind::kDirectory);
  EXPECT_NE(dir->inode, info->inode);

  auto missing = env_.Lstat(Path("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.status().detail().find(Path("missing")), std::string::npos);
  EXPECT_EQ(missing.status().os_error(), os_error::kFileNotFound);
}

TEST_F(EnvTest, MoveFileReplacingRenamesOntoAnExistingFile) {
  WriteText(Path("staged"), "new content");
  WriteText(Path("object"), "old content");
  ASSERT_TRUE(env_.MoveFileReplacing(Path("staged"), Path("object")).ok());
  EXPECT_EQ(ReadText(Path("object")), "new content");
  EXPECT_FALSE(env_.Exists(Path("staged")));
  EXPECT_EQ(env_.MoveFileReplacing(Path("staged"), Path("object")).code(), ErrorCode::kNotFound);
  // A missing destination folder is kNotFound too (the caller creates it).
  WriteText(Path("staged"), "x");
  EXPECT_EQ(env_.MoveFileReplacing(Path("staged"), Path("no/such/object")).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(ReadText(Path("object")), "new content");
}

TEST_F(EnvTest, ListDirIsSortedBytewise) {
  for (const char* name : {"b", "a", "C", "\xc3\xa9"}) WriteText(Path(name), "");
  ASSERT_TRUE(env_.CreateDirs(Path("d"), false).ok());
  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::vector<std::string> names;
  for (const auto& e : *entries) names.push_back(e.name);
  // "é" (0xC3 0xA9) after ASCII; "C" before "a": bytes, not collation.
  EXPECT_EQ(names, (std::vector<std::string>{"C", "a", "b", "d", "\xc3\xa9"}));
  EXPECT_EQ((*entries)[0].kind, FileKind::kRegular);
  EXPECT_EQ((*entries)[3].kind, FileKind::kDirectory);
  EXPECT_EQ(env_.ListDir(Path("nope")).status().code(), ErrorCode::kNotFound);
}

TEST_F(EnvTest, OpenForReadReadsSequentiallyAndAtOffsets) {
  std::string content;
  for (int i = 0; i < 100000; ++i) content += static_cast<char>('a' + i % 26);
  WriteText(Path("f"), content);
  auto file = env_.OpenForRead(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status().ToString();

  std::string seen;
  std::vector<uint8_t> buf(4096);
  for (;;) {
    auto n = (*file)->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    seen.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  EXPECT_EQ(seen, content);

  auto n = (*file)->ReadAt(99990, buf.data(), 100);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buf.data()), 10), content.substr(99990));

  auto info = (*file)->Stat();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, content.size());
  EXPECT_EQ(info->kind, FileKind::kRegular);
  EXPECT_EQ(env_.OpenForRead(Path("missing")).status().code(), ErrorCode::kNotFound);
}

TEST_F(EnvTest, ReadFileAndMissing) {
  WriteText(Path("f"), std::string("a\0b", 3));
  auto data = env_.ReadFile(Path("f"));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, (Bytes{'a', 0, 'b'}));
  EXPECT_EQ(env_.ReadFile(Path("missing")).status().code(), ErrorCode::kNotFound);
}

TEST_F(EnvTest, WriteFileAtomicReplacesAndLeavesNoTemporaryFile) {
  std::string path = Path("state.json");
  ASSERT_TRUE(env_.WriteFileAtomic(path, AsBytes("first"), true).ok());
  EXPECT_EQ(ReadText(path), "first");
  ASSERT_TRUE(env_.WriteFileAtomic(path, AsBytes("second, longer"), true).ok());
  EXPECT_EQ(ReadText(path), "second, longer");
  ASSERT_TRUE(env_.WriteFileAtomic(Path("shared"), AsBytes(""), false).ok());
  EXPECT_EQ(ReadText(Path("shared")), "");

  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].name, "shared");
  EXPECT_EQ((*entries)[1].name, "state.json");
  EXPECT_EQ(env_.WriteFileAtomic(Path("no/such/file"), AsBytes("x"), false).code(),
            ErrorCode::kNotFound);
}

TEST_F(EnvTest, WriteFileAtomicUncachedKeepsEveryByteOfEverySize) {
  // Direct I/O writes whole aligned blocks and cuts the file afterwards:
  // every size around the block and bounce-buffer edges comes back exact,
  // and a shorter file replaces a longer one without its tail.
  std::string path = Path("pack");
  for (size_t n : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097},
                   (size_t{1} << 20) + 3, (size_t{3} << 20) - 1, size_t{100}}) {
    SCOPED_TRACE(n);
    Bytes data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<uint8_t>(i * 131 + n);
    ASSERT_TRUE(env_.WriteFileAtomicUncached(path, data, false).ok());
    Result<Bytes> back = env_.ReadFile(path);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data);
  }
  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(env_.WriteFileAtomicUncached(Path("no/such/file"), AsBytes("x"), false).code(),
            ErrorCode::kNotFound);
}

TEST_F(EnvTest, ConcurrentWriteFileAtomicLeavesOneWholeVersion) {
  std::string path = Path("shared");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string content(1000 + t, static_cast<char>('a' + t));
      for (int i = 0; i < 25; ++i) {
        Status st = env_.WriteFileAtomic(path, AsBytes(content), false);
        EXPECT_TRUE(st.ok()) << st.ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string final_content = ReadText(path);
  ASSERT_GE(final_content.size(), 1000u);
  ASSERT_LE(final_content.size(), 1003u);
  EXPECT_EQ(final_content, std::string(final_content.size(),
                                       static_cast<char>('a' + final_content.size() - 1000)));
  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), 1u);
}

TEST_F(EnvTest, CreateDirsLikeMkdirP) {
  ASSERT_TRUE(env_.CreateDirs(Path("a/b//c/"), true).ok());
  EXPECT_EQ(env_.Lstat(Path("a/b/c"))->kind, FileKind::kDirectory);
  ASSERT_TRUE(env_.CreateDirs(Path("a/b/c"), true).ok());  // existing is fine
  WriteText(Path("file"), "x");
  EXPECT_FALSE(env_.CreateDirs(Path("file/sub"), false).ok());
  EXPECT_EQ(env_.CreateDirs(Path("file"), false).code(), ErrorCode::kAlreadyExists);
}

TEST_F(EnvTest, RemoveFileRemoveAllAndExists) {
  WriteText(Path("f"), "x");
  EXPECT_TRUE(env_.Exists(Path("f")));
  ASSERT_TRUE(env_.RemoveFile(Path("f")).ok());
  EXPECT_FALSE(env_.Exists(Path("f")));
  EXPECT_EQ(env_.RemoveFile(Path("f")).code(), ErrorCode::kNotFound);

  ASSERT_TRUE(env_.CreateDirs(Path("tree/x/y"), false).ok());
  WriteText(Path("tree/x/y/f"), "f");
  WriteText(Path("tree/g"), "g");
  ASSERT_TRUE(env_.RemoveAll(Path("tree")).ok());
  EXPECT_FALSE(env_.Exists(Path("tree")));
  EXPECT_TRUE(env_.RemoveAll(Path("missing")).ok());
  EXPECT_TRUE(env_.RemoveAll(Path("missing/deeper")).ok());
}

TEST_F(EnvTest, AbsolutePathOfARelativePathIsUnderTheCurrentFolder) {
  std::string cwd = fs::current_path().generic_string();
  auto rel = env_.AbsolutePath("x/../y");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(*rel, (cwd.back() == '/' ? cwd : cwd + "/") + "y");
  EXPECT_FALSE(env_.AbsolutePath("").ok());
}

TEST_F(EnvTest, DiskSpaceHostnameProcess) {
  auto space = env_.GetDiskSpace(dir_);
  ASSERT_TRUE(space.ok()) << space.status().ToString();
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
  EXPECT_FALSE(env_.GetDiskSpace(Path("missing")).ok());
  EXPECT_FALSE(env_.Hostname().empty());
  EXPECT_FALSE(env_.IsTerminal(-1));
  EXPECT_TRUE(env_.ProcessAlive(env_.ProcessId()));
  EXPECT_FALSE(env_.ProcessAlive(0));
  std::string self = env_.ExecutablePath();
  EXPECT_NE(self.find("platform_tests"), std::string::npos) << self;
  EXPECT_TRUE(env_.Exists(self));
  auto scratch = env_.ScratchFolderProblems(dir_);
  ASSERT_TRUE(scratch.ok());
  EXPECT_FALSE(scratch->any());
  EXPECT_EQ(env_.ScratchFolderProblems(Path("missing")).status().code(), ErrorCode::kNotFound);
}

TEST_F(EnvTest, TryLockFileIsExclusiveUntilReleased) {
  std::string path = Path("job.lock");
  auto first = env_.TryLockFile(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = env_.TryLockFile(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kAlreadyExists);
  first->reset();
  EXPECT_TRUE(env_.TryLockFile(path).ok());
}

// ---------------------------------------------------------------------------
// RestoreDir

TEST_F(RestoreDirTest, OpenRestoreRootCreatesOnlyWhenAsked) {
  auto missing = env_.OpenRestoreRoot(Path("t/u"), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  auto created = env_.OpenRestoreRoot(Path("t/u"), true);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(env_.Lstat(Path("t/u"))->kind, FileKind::kDirectory);
}

TEST_F(RestoreDirTest, RefusesUnsafeNames) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  RestoreDir& d = **root;
  WriteText(Path("ok"), "x");
  const std::vector<std::string> bad = {"",     ".",    "..", "a/b",
                                        "../x", "/abs", "x/", std::string("a\0b", 3)};
  for (const std::string& name : bad) {
    SCOPED_TRACE("name: " + name);
    EXPECT_EQ(d.Probe(name).status().code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.OpenOrCreateSubdir(name).status().code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.CreateFile(name, true).status().code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.CreateSymlink(name, "t", true).code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.CreateHardLink(name, d, "ok", true).code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.CreateHardLink("fine", d, name, true).code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.Remove(name).code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.Rename(name, "fine").code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.Rename("ok", name).code(), ErrorCode::kPathEscape);
    EXPECT_EQ(d.SetAttributes(name, 0644, 0, 0, 0, false).code(), ErrorCode::kPathEscape);
  }
  auto entries = env_.ListDir(dir_);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "ok");
}

TEST_F(RestoreDirTest, SubdirsFilesAndProbe) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto sub = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  auto inner = (*sub)->OpenOrCreateSubdir("e");
  ASSERT_TRUE(inner.ok()) << inner.status().ToString();
  auto file = (*inner)->CreateFile("f", false);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("deep")).ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadText(Path("d/e/f")), "deep");
  auto again = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->Probe("e"), FileKind::kDirectory);
  EXPECT_EQ(*(*inner)->Probe("f"), FileKind::kRegular);
  EXPECT_EQ((*root)->Probe("none").status().code(), ErrorCode::kNotFound);
  // A file in the way of a folder, and a folder in the way of a file.
  EXPECT_EQ((*sub)->OpenOrCreateSubdir("e").ok(), true);
  EXPECT_EQ((*inner)->OpenOrCreateSubdir("f").status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->CreateFile("d", true).status().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*root)->CreateSymlink("d", "t", true).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadText(Path("d/e/f")), "deep");
}

TEST_F(RestoreDirTest, ParallelWriteAtTruncateAndReplaceExistingFile) {
  WriteText(Path("f"), std::string(100000, 'z'));
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ((*root)->CreateFile("f", false).status().code(), ErrorCode::kAlreadyExists);
  auto file = (*root)->CreateFile("f", true);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  constexpr int kChunks = 64;
  constexpr size_t kChunk = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int c = t; c < kChunks; c += 4) {
        std::string data(kChunk, static_cast<char>('A' + c % 26));
        EXPECT_TRUE((*file)->WriteAt(static_cast<uint64_t>(c) * kChunk, AsBytes(data)).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*file)->Truncate(kChunks * kChunk + 10).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_TRUE((*file)->Close().ok());  // idempotent
  EXPECT_FALSE((*file)->WriteAt(0, AsBytes("x")).ok());

  std::string expected;
  for (int c = 0; c < kChunks; ++c)
    expected += std::string(kChunk, static_cast<char>('A' + c % 26));
  expected += std::string(10, '\0');
  EXPECT_EQ(ReadText(Path("f")), expected);
}

TEST_F(RestoreDirTest, HardLinksRenameAndRemove) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("a", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->WriteAt(0, AsBytes("shared")).ok());
  ASSERT_TRUE((*file)->Close().ok());
  auto sub = (*root)->OpenOrCreateSubdir("sub");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->CreateHardLink("b", **root, "a", false).ok());
  EXPECT_EQ(env_.Lstat(Path("a"))->inode, env_.Lstat(Path("sub/b"))->inode);
  EXPECT_EQ(env_.Lstat(Path("a"))->link_count, 2u);
  EXPECT_EQ((*sub)->CreateHardLink("b", **root, "a", false).code(), ErrorCode::kAlreadyExists);
  WriteText(Path("sub/c"), "old");
  ASSERT_TRUE((*sub)->CreateHardLink("c", **root, "a", true).ok());
  EXPECT_EQ(ReadText(Path("sub/c")), "shared");
  EXPECT_FALSE((*root)->CreateHardLink("a", **root, "a", true).ok());
  EXPECT_EQ(ReadText(Path("a")), "shared");
  EXPECT_EQ((*root)->CreateHardLink("x", **root, "missing", false).code(), ErrorCode::kNotFound);

  ASSERT_TRUE((*sub)->Rename("b", "renamed").ok());
  EXPECT_EQ(ReadText(Path("sub/renamed")), "shared");
  WriteText(Path("sub/other"), "other");
  ASSERT_TRUE((*sub)->Rename("renamed", "other").ok());  // replaces a file
  EXPECT_FALSE(env_.Exists(Path("sub/renamed")));
  EXPECT_EQ(ReadText(Path("sub/other")), "shared");
  ASSERT_TRUE(env_.CreateDirs(Path("sub/dir"), false).ok());
  EXPECT_EQ((*sub)->Rename("other", "dir").code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ((*sub)->Rename("missing", "x").code(), ErrorCode::kNotFound);

  ASSERT_TRUE(env_.CreateDirs(Path("sub/tree/deep"), false).ok());
  WriteText(Path("sub/tree/deep/f"), "x");
  ASSERT_TRUE((*sub)->Remove("tree").ok());
  EXPECT_FALSE(env_.Exists(Path("sub/tree")));
  EXPECT_EQ((*sub)->Remove("tree").code(), ErrorCode::kNotFound);
}

TEST_F(RestoreDirTest, SetAttributesRoundTripsMtime) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok());
  auto file = (*root)->CreateFile("f", false);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Close().ok());
  auto own = env_.Lstat(Path("f"));
  ASSERT_TRUE(own.ok());
  // Windows keeps 100 ns ticks, POSIX file systems nanoseconds.
  const int64_t mtime = 1700000000123456700;
  ASSERT_TRUE((*root)->SetAttributes("f", 0644, mtime, own->uid, own->gid, false).ok());
  EXPECT_EQ(env_.Lstat(Path("f"))->mtime_ns, mtime);
  const int64_t old = -1234567800;  // before 1970
  ASSERT_TRUE((*root)->SetAttributes("f", 0644, old, own->uid, own->gid, false).ok());
  EXPECT_EQ(env_.Lstat(Path("f"))->mtime_ns, old);
  EXPECT_EQ((*root)->SetAttributes("missing", 0600, 0, 0, 0, false).code(), ErrorCode::kNotFound);

  auto sub = (*root)->OpenOrCreateSubdir("d");
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE((*sub)->SetOwnAttributes(0755, 1600000000987654300, own->uid, own->gid).ok());
  EXPECT_EQ(env_.Lstat(Path("d"))->mtime_ns, 1600000000987654300);
}

// ---------------------------------------------------------------------------
// The local API transport (Unix socket / named pipe)

TEST_F(LocalTransportTest, LinesRoundTripAndASecondListenerIsRefused) {
  std::string address = env_.LocalApiAddress(dir_);
  EXPECT_EQ(env_.ConnectLocal(address).status().code(), ErrorCode::kNotFound);
  auto listener = env_.ListenLocal(address);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  auto second = env_.ListenLocal(address);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kAlreadyExists);

  // Serves until closed: the POSIX probe of the second ListenLocal is a
  // connection of its own that ends at once.
  std::thread server([&] {
    for (;;) {
      auto connection = (*listener)->Accept();
      if (!connection.ok()) {
        EXPECT_EQ(connection.status().code(), ErrorCode::kCancelled);
        return;
      }
      for (;;) {
        auto line = (*connection)->ReadLine();
        if (!line.ok()) {
          EXPECT_EQ(line.status().code(), ErrorCode::kNotFound);
          break;
        }
        ASSERT_TRUE((*connection)->WriteLine("echo " + *line).ok());
      }
    }
  });
  for (int i = 0; i < 2; ++i) {
    auto client = env_.ConnectLocal(address);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    std::string big(100000, 'x');
    ASSERT_TRUE((*client)->WriteLine("{\"op\":\"status\"}").ok());
    ASSERT_TRUE((*client)->WriteLine(big).ok());
    EXPECT_EQ(*(*client)->ReadLine(), "echo {\"op\":\"status\"}");
    EXPECT_EQ(*(*client)->ReadLine(), "echo " + big);
  }  // the client closes: the server sees the end of the stream
  (*listener)->Close();
  server.join();
  EXPECT_EQ((*listener)->refused(), 0u);
}

TEST_F(LocalTransportTest, CloseWakesABlockedAcceptAndClientsThenFindNothing) {
  std::string address = env_.LocalApiAddress(dir_);
  auto listener = env_.ListenLocal(address);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  std::atomic<bool> returned{false};
  Status accept_status;
  std::thread server([&] {
    accept_status = (*listener)->Accept().status();
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(returned);
  (*listener)->Close();
  server.join();
  EXPECT_EQ(accept_status.code(), ErrorCode::kCancelled);
  EXPECT_EQ(env_.ConnectLocal(address).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ((*listener)->Accept().status().code(), ErrorCode::kCancelled);
}

TEST_F(LocalTransportTest, ShutdownWakesABlockedRead) {
  std::string address = env_.LocalApiAddress(dir_);
  auto listener = env_.ListenLocal(address);
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  std::unique_ptr<LocalConnection> accepted;
  std::thread server([&] {
    auto connection = (*listener)->Accept();
    ASSERT_TRUE(connection.ok());
    accepted = std::move(connection).value();
  });
  auto client = env_.ConnectLocal(address);
  ASSERT_TRUE(client.ok());
  server.join();
  ASSERT_NE(accepted, nullptr);
  std::thread reader([&] { EXPECT_FALSE(accepted->ReadLine().ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  accepted->Shutdown();
  reader.join();
}

}  // namespace
}  // namespace obagent::platform
