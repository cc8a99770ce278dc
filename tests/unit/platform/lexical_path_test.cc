// ResolveDotsLexically (src/platform/lexical_path.h), the part of
// Env::AbsolutePath that both OSes share, and the Windows path forms built
// on it (AbsoluteWindowsPath, Win32LongForm), pure and tested on both.
#include "platform/lexical_path.h"

#include <gtest/gtest.h>

namespace obagent::platform {
namespace {

TEST(ResolveDotsLexicallyTest, DropsEmptyAndDotComponents) {
  EXPECT_EQ(ResolveDotsLexically("", "/a//./b/."), "/a/b");
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/"), "/a/b");
}

TEST(ResolveDotsLexicallyTest, DotDotRemovesTheComponentBefore) {
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/../c"), "/a/c");
  EXPECT_EQ(ResolveDotsLexically("", "/a/b/../../c/d/.."), "/c");
}

TEST(ResolveDotsLexicallyTest, DotDotAtTheRootStaysThere) {
  EXPECT_EQ(ResolveDotsLexically("", "/../../etc"), "/etc");
  EXPECT_EQ(ResolveDotsLexically("C:", "/x/../../.."), "C:/");
}

TEST(ResolveDotsLexicallyTest, NothingLeftIsTheRootItself) {
  EXPECT_EQ(ResolveDotsLexically("", ""), "/");
  EXPECT_EQ(ResolveDotsLexically("", "/a/.."), "/");
  EXPECT_EQ(ResolveDotsLexically("//server/share", ""), "//server/share/");
}

TEST(ResolveDotsLexicallyTest, KeepsTheRootAsGivenAndNamesThatOnlyStartWithDots) {
  EXPECT_EQ(ResolveDotsLexically("C:", "/Users/./x/..y/...z"), "C:/Users/x/..y/...z");
  EXPECT_EQ(ResolveDotsLexically("//server/share", "/d/../e"), "//server/share/e");
}

// What LongPath builds the "\\?\" path from on Windows: made absolute and
// resolved without GetFullPathNameW, which strips trailing dots and spaces
// and maps device names (a listed "foo " would be read as "foo").
TEST(AbsoluteWindowsPathTest, KeepsNamesWin32WouldRewrite) {
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/foo ", "C:/w"), "C:/d/foo ");
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/foo.", "C:/w"), "C:/d/foo.");
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/foo. .", "C:/w"), "C:/d/foo. .");
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/CON", "C:/w"), "C:/d/CON");
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/NUL.txt", "C:/w"), "C:/d/NUL.txt");
  EXPECT_EQ(AbsoluteWindowsPath("NUL.txt", "C:/w"), "C:/w/NUL.txt");
  EXPECT_EQ(AbsoluteWindowsPath("C:/d/.../x", "C:/w"), "C:/d/.../x");
  EXPECT_EQ(Win32LongForm(AbsoluteWindowsPath("C:\\d\\foo ", "C:/w")), "\\\\?\\C:\\d\\foo ");
}

TEST(AbsoluteWindowsPathTest, ResolvesRelativeFormsAndDots) {
  EXPECT_EQ(AbsoluteWindowsPath("C:/a/../b/./c/", "D:/w"), "C:/b/c");
  EXPECT_EQ(AbsoluteWindowsPath("c:", "D:/w"), "C:/");
  EXPECT_EQ(AbsoluteWindowsPath("x/../y", "D:/w"), "D:/w/y");
  EXPECT_EQ(AbsoluteWindowsPath("/x", "D:/w"), "D:/x");
  EXPECT_EQ(AbsoluteWindowsPath("d:x", "D:/w"), "D:/w/x");
  EXPECT_EQ(AbsoluteWindowsPath("C:x", "D:/w"), "C:/x");
  EXPECT_EQ(AbsoluteWindowsPath("x", "//srv/share/w"), "//srv/share/w/x");
  EXPECT_EQ(AbsoluteWindowsPath("/x", "//srv/share/w"), "//srv/share/x");
  EXPECT_EQ(AbsoluteWindowsPath("//srv/share/a/../b", "C:/"), "//srv/share/b");
  EXPECT_EQ(AbsoluteWindowsPath("//?/C:/x", "D:/"), "C:/x");
  EXPECT_EQ(AbsoluteWindowsPath("//?/UNC/srv/share", "D:/"), "//srv/share/");
  // The backup walker's form of a drive.
  EXPECT_EQ(AbsoluteWindowsPath("/C:/data/x", "D:/w"), "C:/data/x");
  EXPECT_EQ(AbsoluteWindowsPath("/C:", "D:/w"), "C:/");
}

TEST(AbsoluteWindowsPathTest, LongFormOfDrivesUncAndDevices) {
  EXPECT_EQ(Win32LongForm("C:/"), "\\\\?\\C:\\");
  EXPECT_EQ(Win32LongForm("C:/a/b"), "\\\\?\\C:\\a\\b");
  EXPECT_EQ(Win32LongForm("//srv/share/x"), "\\\\?\\UNC\\srv\\share\\x");
  EXPECT_EQ(Win32LongForm("//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/x"),
            "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy3\\x");
  EXPECT_EQ(Win32LongForm("//./pipe/obagent"), "\\\\.\\pipe\\obagent");
}

}  // namespace
}  // namespace obagent::platform
