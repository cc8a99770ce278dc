// Named streams, sparse files and junctions through the Windows Env and
// RestoreDir. What Wine 8 supports is asserted; what it lacks is skipped
// with the reason (docs/architecture.md, "What is proven where"). On every
// system: a plain file lists no named streams and nothing breaks, and a
// stream the file system cannot hold never becomes a file of its own.
#include <windows.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/env_test_util.h"
#include "platform/win/win_util.h"

namespace obagent::platform {
namespace {

using test_util::WriteText;
using StreamsWinTest = test_util::TempDirTest;

bool UnderWine() {
  return GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

Result<FileMetadata> MetadataOf(Env& env, const std::string& path) {
  OB_ASSIGN_OR_RETURN(FileInfo info, env.Lstat(path));
  return env.ReadMetadata(path, info);
}

TEST_F(StreamsWinTest, PlainFileHasNoNamedStreams) {
  WriteText(Path("plain.txt"), "data");
  auto md = MetadataOf(env_, Path("plain.txt"));
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  EXPECT_TRUE(md->streams.empty());
  EXPECT_FALSE(md->sparse);
  EXPECT_FALSE(md->reparse.has_value());
  auto missing = env_.OpenStreamForRead(Path("plain.txt"), "nothing");
  EXPECT_FALSE(missing.ok());
  auto bad = env_.OpenStreamForRead(Path("plain.txt"), "a:b");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  // A folder lists none either.
  auto dir = MetadataOf(env_, dir_);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_TRUE(dir->streams.empty());
}

// Through RestoreDir: the stream is written into the restored file and read
// back through the Env, or (Wine) refused without leaving a "f:s" file.
TEST_F(StreamsWinTest, StreamRoundTripOrCleanRefusal) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto file = (*root)->CreateFile("f.txt", false);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_TRUE((*file)->WriteAt(0, ByteView(reinterpret_cast<const uint8_t*>("main"), 4)).ok());
  ASSERT_TRUE((*file)->Close().ok());
  auto bad = (*root)->CreateStream("f.txt", "..\\x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  auto stream = (*root)->CreateStream("f.txt", "Zone.Identifier");
  if (!stream.ok()) {
    // Nothing but the file itself is in the folder.
    auto entries = (*root)->List();
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(entries->size(), 1u) << (*entries)[entries->size() - 1].name;
    EXPECT_EQ((*entries)[0].name, "f.txt");
    if (UnderWine()) {
      GTEST_SKIP() << "Wine 8 has no alternate data streams: CreateStream says "
                   << stream.status().ToString();
    }
    FAIL() << stream.status().ToString();
  }
  const std::string zone = "[ZoneTransfer]\r\nZoneId=3\r\n";
  ASSERT_TRUE((*stream)->Truncate(zone.size()).ok());
  ASSERT_TRUE((*stream)
                  ->WriteAt(0, ByteView(reinterpret_cast<const uint8_t*>(zone.data()), zone.size()))
                  .ok());
  ASSERT_TRUE((*stream)->Close().ok());
  auto md = MetadataOf(env_, Path("f.txt"));
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  ASSERT_EQ(md->streams.size(), 1u);
  EXPECT_EQ(md->streams[0], (StreamInfo{"Zone.Identifier", zone.size()}));
  auto read = env_.OpenStreamForRead(Path("f.txt"), "Zone.Identifier");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  std::string back(zone.size() + 4, '\0');
  auto got = (*read)->ReadAt(0, reinterpret_cast<uint8_t*>(back.data()), back.size());
  ASSERT_TRUE(got.ok());
  back.resize(*got);
  EXPECT_EQ(back, zone);
  EXPECT_EQ(test_util::ReadText(Path("f.txt")), "main");
}

TEST_F(StreamsWinTest, SparseFileIsMarkedAndRead) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto file = (*root)->CreateFile("sparse.bin", false);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  Status st = (*file)->SetSparse();
  if (!st.ok()) {
    (void)(*file)->Close();
    if (UnderWine()) GTEST_SKIP() << "Wine 8 refuses FSCTL_SET_SPARSE: " << st.ToString();
    FAIL() << st.ToString();
  }
  ASSERT_TRUE((*file)->Truncate(8u << 20).ok());
  ASSERT_TRUE(
      (*file)->WriteAt((8u << 20) - 1, ByteView(reinterpret_cast<const uint8_t*>("x"), 1)).ok());
  ASSERT_TRUE((*file)->Close().ok());
  const DWORD attrs = GetFileAttributesW(win::LongPath(Path("sparse.bin")).c_str());
  auto md = MetadataOf(env_, Path("sparse.bin"));
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  if (!(attrs & FILE_ATTRIBUTE_SPARSE_FILE) && UnderWine()) {
    GTEST_SKIP() << "Wine 8 accepts FSCTL_SET_SPARSE but keeps no sparse attribute";
  }
  EXPECT_TRUE(attrs & FILE_ATTRIBUTE_SPARSE_FILE);
  EXPECT_TRUE(md->sparse);
}

TEST_F(StreamsWinTest, JunctionIsRestoredAsAJunction) {
  ASSERT_TRUE(env_.CreateDirs(Path("target"), false).ok());
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto made = (*root)->CreateReparsePoint("j", Path("target"),
                                          ReparseInfo{ReparseKind::kJunction, false}, false);
  if (!made.ok()) {
    if (UnderWine()) GTEST_SKIP() << "Wine 8 cannot make a junction: " << made.status().ToString();
    FAIL() << made.status().ToString();
  }
  EXPECT_EQ(made->make, MakeLink::kJunction);
  auto info = env_.Lstat(Path("j"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  if (info->kind != FileKind::kSymlink && UnderWine()) {
    GTEST_SKIP() << "Wine 8 accepts FSCTL_SET_REPARSE_POINT but the folder is no link";
  }
  EXPECT_EQ(info->kind, FileKind::kSymlink);
  auto target = env_.ReadLink(Path("j"));
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  EXPECT_EQ(*target, Path("target"));
  auto md = env_.ReadMetadata(Path("j"), *info);
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  ASSERT_TRUE(md->reparse.has_value());
  EXPECT_EQ(md->reparse->kind, ReparseKind::kJunction);
}

TEST_F(StreamsWinTest, MountPointOfAMissingVolumeIsNotCreated) {
  auto root = env_.OpenRestoreRoot(dir_, false);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  auto made = (*root)->CreateReparsePoint("m", "Volume{00000000-1111-2222-3333-444444444444}/",
                                          ReparseInfo{ReparseKind::kMountPoint, false}, false);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->make, MakeLink::kNothing);
  ASSERT_TRUE(made->issue.has_value());
  EXPECT_EQ(made->issue->kind, "Windows reparse points");
  EXPECT_FALSE(env_.Exists(Path("m")));
}

}  // namespace
}  // namespace obagent::platform
