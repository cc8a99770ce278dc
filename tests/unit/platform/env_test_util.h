// A temporary folder per test and small file helpers, for the platform
// tests of both OSes (std::filesystem only; paths in Env's '/' form).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "obagent/platform.h"

namespace obagent::platform::test_util {

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(std::filesystem::u8path(path), std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(std::filesystem::u8path(path), std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("obagent-env-" + std::to_string(random()) + std::to_string(random()));
    ASSERT_TRUE(std::filesystem::create_directory(dir)) << dir.string();
    dir_ = dir.generic_string();
  }
  void TearDown() override {
    // Restored folders may lack owner permissions; make them removable.
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
      }
    }
    (void)env_.RemoveAll(dir_);
    fs::remove_all(dir_, ec);
  }
  std::string Path(const std::string& rel) const { return dir_ + "/" + rel; }

  Env& env_ = Env::Default();
  std::string dir_;
};

}  // namespace obagent::platform::test_util
