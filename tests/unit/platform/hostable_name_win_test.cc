// platform::HostableName on Windows: the escaping of names Win32 cannot hold
// (U+F000 plus the byte, as Cygwin and WSL do), checked against literal
// expectations, for reversibility, and by creating every escaped name as a
// real file (under Wine).
#include <windows.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/env_test_util.h"
#include "platform/win/text/utf16.h"

namespace obagent::platform {
namespace {

// U+F000+b in UTF-8.
std::string E(uint8_t b) {
  uint32_t cp = 0xF000u + b;
  std::string out;
  out += static_cast<char>(0xE0 | (cp >> 12));
  out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out += static_cast<char>(0x80 | (cp & 0x3F));
  return out;
}

// The reverse mapping: every U+F000-U+F0FF back to its byte.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
    if (i + 2 < s.size() && b(i) == 0xEF && b(i + 1) >= 0x80 && b(i + 1) <= 0x83) {
      out += static_cast<char>(((b(i + 1) & 0x03) << 6) | (b(i + 2) & 0x3F));
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}

bool ValidUtf8(const std::string& s) {
  return s.empty() || MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s.data(),
                                          static_cast<int>(s.size()), nullptr, 0) > 0;
}

TEST(HostableName, EscapeIsThePrivateUseCharacter) {
  EXPECT_EQ(E('<'), "\xEF\x80\xBC");
  EXPECT_EQ(E('\\'), "\xEF\x81\x9C");
  EXPECT_EQ(E(0xFF), "\xEF\x83\xBF");
}

TEST(HostableName, NamesWindowsHoldsAreUnchanged) {
  for (const char* name : {"a",
                           "file.txt",
                           "with space",
                           ".hidden",
                           "a..b",
                           "x.y.z",
                           "-rf",
                           "\xC3\xA9t\xC3\xA9",
                           "\xE6\x97\xA5\xE6\x9C\xAC",
                           "\xF0\x9F\x98\x80 emoji",
                           "console",
                           "com10",
                           "auxiliary.txt",
                           "lpt",
                           "con_",
                           "nul-x",
                           "prn2",
                           "a.con",
                           "x.aux",
                           "\xEF\x80\xBC already escaped",
                           "#%&{}$!'@+`=[];,~^",
                           "\x7F"}) {
    EXPECT_EQ(HostableName(name), name);
  }
}

TEST(HostableName, ForbiddenCharactersAndControls) {
  for (char c : std::string("<>:\"\\|?*")) {
    EXPECT_EQ(HostableName(std::string("a") + c + "b"), "a" + E(static_cast<uint8_t>(c)) + "b");
  }
  for (int c = 1; c < 0x20; ++c) {
    std::string name = "x" + std::string(1, static_cast<char>(c)) + "y";
    EXPECT_EQ(HostableName(name), "x" + E(static_cast<uint8_t>(c)) + "y") << c;
  }
  EXPECT_EQ(HostableName("system-systemd\\x2dcryptsetup.slice"),
            "system-systemd" + E('\\') + "x2dcryptsetup.slice");
  EXPECT_EQ(HostableName("a:b:c"), "a" + E(':') + "b" + E(':') + "c");
}

TEST(HostableName, TrailingDotOrSpace) {
  EXPECT_EQ(HostableName("a."), "a" + E('.'));
  EXPECT_EQ(HostableName("a "), "a" + E(' '));
  EXPECT_EQ(HostableName("a.."), "a." + E('.'));
  EXPECT_EQ(HostableName("..."), ".." + E('.'));
  EXPECT_EQ(HostableName(" "), E(' '));
  EXPECT_EQ(HostableName("a. "), "a." + E(' '));
  EXPECT_EQ(HostableName(" a"), " a");
}

TEST(HostableName, ReservedDeviceNames) {
  std::vector<std::string> reserved = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"};
  for (int d = 0; d <= 9; ++d) {
    reserved.push_back("COM" + std::to_string(d));
    reserved.push_back("LPT" + std::to_string(d));
  }
  for (const char* sup : {"\xC2\xB9", "\xC2\xB2", "\xC2\xB3"}) {
    reserved.push_back(std::string("COM") + sup);
    reserved.push_back(std::string("LPT") + sup);
  }
  for (const std::string& upper : reserved) {
    std::string lower, mixed;
    for (size_t i = 0; i < upper.size(); ++i) {
      char c = upper[i];
      char l = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      lower += l;
      mixed += i % 2 ? l : c;
    }
    for (const std::string& stem : {upper, lower, mixed}) {
      auto escaped = [&](const std::string& rest) {
        return E(static_cast<uint8_t>(stem[0])) + stem.substr(1) + rest;
      };
      EXPECT_EQ(HostableName(stem), escaped("")) << stem;
      EXPECT_EQ(HostableName(stem + ".txt"), escaped(".txt")) << stem;
      EXPECT_EQ(HostableName(stem + ".tar.gz"), escaped(".tar.gz")) << stem;
      EXPECT_EQ(HostableName(stem + " .txt"), escaped(" .txt")) << stem;
    }
  }
  EXPECT_EQ(HostableName("aux.txt"), E('a') + "ux.txt");
  // A trailing space is escaped itself; what is left is not a device name.
  EXPECT_EQ(HostableName("CON "), "CON" + E(' '));
}

TEST(HostableName, BytesThatAreNotUtf8) {
  EXPECT_EQ(HostableName("\xFF"), E(0xFF));
  EXPECT_EQ(HostableName("a\xC3"), "a" + E(0xC3));         // truncated
  EXPECT_EQ(HostableName("\xC0\xAF"), E(0xC0) + E(0xAF));  // overlong '/'
  EXPECT_EQ(HostableName("\xE0\x80\xAF"), E(0xE0) + E(0x80) + E(0xAF));
  EXPECT_EQ(HostableName("\xED\xA0\x80"), E(0xED) + E(0xA0) + E(0x80));  // surrogate
  EXPECT_EQ(HostableName("\xF4\x90\x80\x80"), E(0xF4) + E(0x90) + E(0x80) + E(0x80));
  EXPECT_EQ(HostableName("\x80x"), E(0x80) + "x");  // a continuation byte alone
  EXPECT_EQ(HostableName("\xC3\xA9\xFF\xC3\xA9"), "\xC3\xA9" + E(0xFF) + "\xC3\xA9");
}

// Every name made of bytes 0x01-0xFF (but '/'), without a literal
// private-use character, escapes to valid UTF-8 that Windows holds (escaping
// again changes nothing) and unescapes to the original bytes.
TEST(HostableName, ReversibleAndHostable) {
  std::vector<std::string> names;
  for (int b = 1; b <= 0xFF; ++b) {
    if (b == '/') continue;
    std::string c(1, static_cast<char>(b));
    names.push_back(c);
    names.push_back("n" + c + "n");
    names.push_back(c + c + c);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 20000; ++round) {
    std::string name(1 + rng() % 12, 'a');
    for (char& c : name) {
      do c = static_cast<char>(1 + rng() % 0xFF);
      while (c == '/');
    }
    names.push_back(name);
  }
  for (const std::string& name : names) {
    if (name == "." || name == ".." || name.find("\xEF\x80") != std::string::npos ||
        name.find("\xEF\x81") != std::string::npos || name.find("\xEF\x82") != std::string::npos ||
        name.find("\xEF\x83") != std::string::npos) {
      continue;
    }
    std::string here = HostableName(name);
    EXPECT_TRUE(ValidUtf8(here)) << name;
    EXPECT_EQ(HostableName(here), here) << name;
    EXPECT_EQ(Unescape(here), name);
  }
}

using HostableNameFileTest = test_util::TempDirTest;

// Every escaped single-byte name and a mix of them is a real file: created,
// listed back under the same name, no two names meeting.
TEST_F(HostableNameFileTest, EveryEscapedNameIsAFile) {
  std::set<std::wstring> expected;
  for (int b = 1; b <= 0xFF; ++b) {
    if (b == '/' || b == '.' || (b >= 'A' && b <= 'Z')) continue;  // "." none; case pairs meet
    std::string name = HostableName(std::string(1, static_cast<char>(b)));
    std::wstring wide = win::Widen(dir_ + "/" + name);
    HANDLE h = CreateFileW(wide.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL, nullptr);
    ASSERT_NE(h, INVALID_HANDLE_VALUE) << b << " error " << GetLastError();
    CloseHandle(h);
    expected.insert(win::Widen(name));
  }
  std::set<std::wstring> listed;
  WIN32_FIND_DATAW found;
  HANDLE find = FindFirstFileW(win::Widen(dir_ + "/*").c_str(), &found);
  ASSERT_NE(find, INVALID_HANDLE_VALUE);
  do {
    std::wstring n = found.cFileName;
    if (n != L"." && n != L"..") listed.insert(n);
  } while (FindNextFileW(find, &found));
  FindClose(find);
  EXPECT_EQ(listed, expected);
}

}  // namespace
}  // namespace obagent::platform
