// What the engine's POSIX tests share: a private temporary folder, a vault
// (in memory, or a local folder for tests that reach into its files) with a
// repository on fresh random keys, the small-chunk backup most of them run,
// and file helpers. Header-only; each test owns its TestVault (no state is
// shared between tests).
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/engine/backup.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"

namespace obagent::testing {

namespace fs = std::filesystem;

// Writes `data` to `path`, creating its folders.
inline void WriteFile(const fs::path& path, std::string_view data) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Damages `file` in place at `offset` (default: its middle): the byte there
// is XORed, so it always changes. Writing a fixed value instead leaves the
// file as it was when the byte already had that value, as random bytes
// (ciphertext) do once in 256 runs.
inline void FlipByte(const fs::path& file, std::optional<uintmax_t> offset = std::nullopt) {
  const auto at = static_cast<std::streamoff>(offset.value_or(fs::file_size(file) / 2));
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  ASSERT_TRUE(f.seekg(at).get(c)) << file << " has no byte at " << at;
  ASSERT_TRUE(f.seekp(at).put(static_cast<char>(c ^ 0x5a)).flush()) << "writing " << file;
}

// Incompressible bytes, the same for the same seed.
inline std::string RandomData(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  return data;
}

// Writes `size` random bytes (RandomData) to `path`.
inline void WriteRandom(const fs::path& path, size_t size, uint32_t seed) {
  WriteFile(path, RandomData(size, seed));
}

// Relative path -> "f:<content>", "d", or "l:<target>", for everything
// below root: what a restore must bring back.
inline std::map<std::string, std::string> TreeSnapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    // lexically: fs::relative would follow a symlink to its target's name.
    std::string rel = it->path().lexically_relative(root).string();
    if (it->is_symlink()) {
      out[rel] = "l:" + fs::read_symlink(it->path()).string();
    } else if (it->is_directory()) {
      out[rel] = "d";
    } else {
      out[rel] = "f:" + ReadFile(it->path());
    }
  }
  return out;
}

// Every path below root, relative, sorted.
inline std::vector<std::string> ListTree(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out.push_back(e.path().lexically_relative(root).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A new private folder /tmp/<prefix>.XXXXXX.
inline fs::path MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl;
  return tmpl;
}

// Removes a tree, folders restored read-only included.
inline void RemoveTree(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_directory() && !it->is_symlink()) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
  }
  fs::remove_all(dir, ec);
}

// Small chunks (4/16/64 KiB) and 4 MiB packs, so a few hundred KiB of files
// make many chunks; two threads.
inline engine::BackupOptions SmallBackupOptions(std::vector<std::string> includes) {
  engine::BackupOptions options;
  options.includes = std::move(includes);
  options.chunker = {4096, 16384, 65536};
  options.threads = 2;
  options.pack_size = 4 << 20;
  options.hostname = "test";
  return options;
}

// Loads the index, backs up and loads the index again (with what the
// backup added); a failure fails the test. The new point's id, or "".
inline std::string BackupOrFail(engine::Repository& repo, const engine::BackupOptions& options) {
  EXPECT_TRUE(repo.LoadIndex().ok());
  auto report = engine::RunBackup(repo, options);
  EXPECT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(repo.LoadIndex().ok());
  return report.ok() ? report->point_id : "";
}

// A backup of the folder `src` with the default chunker and two threads;
// a failure fails the test and gives an empty report.
inline engine::BackupReport BackupFolderOrFail(engine::Repository& repo, const fs::path& src) {
  engine::BackupOptions options;
  options.includes = {src.string()};
  options.threads = 2;
  options.hostname = "test";
  Result<engine::BackupReport> r = engine::RunBackup(repo, options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : engine::BackupReport{};
}

// Where the first chunk of the file at `path` in recovery point `point` is
// stored, from the index (to damage that file's data: which chunks share a
// pack, and in what order, depends on the backup's threads). Null, with
// the test failed, when it cannot be found.
inline const index::Location* FirstChunkOf(engine::Repository& repo, const std::string& point,
                                           const std::string& path) {
  auto found = repo.FindRecoveryPoint(point);
  EXPECT_TRUE(found.ok()) << found.status().ToString();
  if (!found.ok()) return nullptr;
  auto node = engine::FindNode(repo, found->point.tree, path);
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  if (!node.ok() || node->content.empty()) return nullptr;
  const index::Location* loc = repo.index().Find(node->content.front().id);
  EXPECT_NE(loc, nullptr) << path;
  return loc;
}

// Where a TestVault keeps the vault's objects.
enum class VaultBacking {
  kMemory,       // a storage::MemoryStore: nothing of the vault on disk
  kLocalFolder,  // dir()/vault, for tests that damage or copy its files
};

// A vault and a private temporary folder (removed at the end) for the
// sources, restore targets and dir/cache, the repository's cache; with
// kLocalFolder dir/vault holds the store.
class TestVault {
 public:
  explicit TestVault(const std::string& prefix, VaultBacking backing = VaultBacking::kMemory)
      : dir_(MakeTempDir(prefix)) {
    if (backing == VaultBacking::kMemory) {
      store_ = std::make_unique<storage::MemoryStore>();
      return;
    }
    fs::create_directories(dir_ / "vault");
    auto store = storage::OpenLocalDirStore((dir_ / "vault").string());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    if (store.ok()) store_ = std::move(store).value();
  }
  ~TestVault() { RemoveTree(dir_); }
  TestVault(const TestVault&) = delete;
  TestVault& operator=(const TestVault&) = delete;

  const fs::path& dir() const { return dir_; }
  storage::BlobStore& store() { return *store_; }
  // A repository with fresh random keys on `store` (the vault's own store,
  // or one that wraps it).
  // `env` is the one the repository (and so a backup through it) reads the
  // sources with: a test's fake, or the real one.
  std::unique_ptr<engine::Repository> NewRepository(storage::BlobStore& store,
                                                    platform::Env& env = platform::Env::Default()) {
    return std::make_unique<engine::Repository>(store, keys::DeriveKeySet(crypto::RandomKey()),
                                                (dir_ / "cache").string(), env);
  }

 private:
  fs::path dir_;
  std::unique_ptr<storage::BlobStore> store_;
};

}  // namespace obagent::testing
