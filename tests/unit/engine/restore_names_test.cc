// Every name a recovery point can hold comes back: a point whose folder
// holds every byte 0x01-0xFF but '/' in names (alone and inside a name),
// backslashes, Windows' forbidden characters, trailing dots and spaces,
// reserved device names and bytes that are not UTF-8 is restored, and each
// file is found under platform::HostableName of its name with its content.
// On Linux that is every name as it is (Completed); on Windows (run under
// Wine) the names it cannot hold come back escaped, each listed as a
// warning, and the job ends CompletedWithWarnings, never Failed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/platform.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"
#include "platform/env_test_util.h"

namespace obagent::engine {
namespace {

class RestoreNamesTest : public platform::test_util::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    store_ = std::make_unique<storage::MemoryStore>();
    repo_ = std::make_unique<Repository>(*store_, keys::DeriveKeySet(crypto::RandomKey()),
                                         Path("cache"), env_);
    writer_ = std::make_unique<pack::PackWriter>(repo_->keys().data_key);
  }
  void TearDown() override {
    repo_.reset();
    store_.reset();
    TempDirTest::TearDown();
  }

  ObjectId AddBlob(pack::BlobType type, ByteView data) {
    const ObjectId id = BlobId::Of(repo_->keys().id_key, data);
    writer_->Add(type, id,
                 pack::SealBlob(repo_->keys().data_key, type, id, compress::EncodePayload(data)),
                 static_cast<uint32_t>(data.size()));
    return id;
  }

  // A file whose content is its own name (so a mix-up shows).
  tree::Node File(const std::string& name) {
    std::string content = "content of " + name;
    tree::Node n;
    n.name = name;
    n.type = tree::NodeType::kFile;
    n.mode = 0644;
    n.mtime_ns = 1'700'000'000'000'000'000;
    n.size = content.size();
    n.content.push_back(
        {AddBlob(pack::BlobType::kData, AsBytes(content)), static_cast<uint32_t>(content.size())});
    return n;
  }

  tree::Node Dir(const std::string& name, std::vector<tree::Node> children) {
    tree::Tree t;
    t.nodes = std::move(children);
    std::sort(t.nodes.begin(), t.nodes.end(),
              [](const tree::Node& a, const tree::Node& b) { return a.name < b.name; });
    tree::Node n;
    n.name = name;
    n.type = tree::NodeType::kDirectory;
    n.mode = 0755;
    n.mtime_ns = 1'600'000'000'000'000'000;
    n.subtree = AddBlob(pack::BlobType::kTree, tree::SerializeTree(t));
    return n;
  }

  // Stores a point "/x" holding `files` and a folder "dir:with<odd>\\name"
  // holding "inner.txt".
  void StorePoint(const std::vector<std::string>& files) {
    std::vector<tree::Node> children;
    for (const std::string& name : files) children.push_back(File(name));
    children.push_back(Dir(kOddDir, {File("inner.txt")}));
    tree::Node x = Dir("x", std::move(children));
    tree::Tree root;
    root.nodes.push_back(x);
    ObjectId root_id = AddBlob(pack::BlobType::kTree, tree::SerializeTree(root));
    auto finished = writer_->Finish();
    ASSERT_TRUE(repo_->UploadPack(finished, "").ok());
    ASSERT_TRUE(repo_->SaveIndexFile({{finished.name, finished.entries}}).ok());
    recovery_point::RecoveryPoint point;
    point.time_ns = 1;
    point.paths = {"/x"};
    point.tree = root_id;
    ASSERT_TRUE(repo_->SaveRecoveryPoint(point).ok());
  }

  // Name -> content of every entry of a restored folder, read through the
  // platform layer (the exact names the OS reports).
  std::map<std::string, std::string> ReadFolder(const std::string& path) {
    std::map<std::string, std::string> out;
    auto dir = env_.OpenRestoreRoot(path, false);
    EXPECT_TRUE(dir.ok()) << path << ": " << dir.status().ToString();
    if (!dir.ok()) return out;
    auto entries = (*dir)->List();
    EXPECT_TRUE(entries.ok()) << entries.status().ToString();
    if (!entries.ok()) return out;
    for (const platform::DirEntry& e : *entries) {
      if (e.kind != platform::FileKind::kRegular) {
        out[e.name] = "<not a file>";
        continue;
      }
      auto file = (*dir)->OpenForRead(e.name);
      EXPECT_TRUE(file.ok()) << file.status().ToString();
      if (!file.ok()) continue;
      std::string content(4096, '\0');
      auto got = (*file)->ReadAt(0, reinterpret_cast<uint8_t*>(content.data()), content.size());
      EXPECT_TRUE(got.ok());
      content.resize(got.ok() ? *got : 0);
      out[e.name] = content;
    }
    return out;
  }

  static constexpr char kOddDir[] = "dir:with<odd>\\name";
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<pack::PackWriter> writer_;
};

// Names of every kind: each byte alone and inside a name, and the cases
// Windows treats specially.
std::vector<std::string> AllNames() {
  std::set<std::string> names;
  for (int b = 1; b <= 0xFF; ++b) {
    if (b == '/') continue;
    std::string c(1, static_cast<char>(b));
    // An upper-case letter has a name of its own: a Windows folder is
    // case-insensitive, so "A" and "a" would meet there (a different
    // question from escaping; see docs/operations.md).
    if (b >= 'A' && b <= 'Z') {
      names.insert("upper " + c);
      continue;
    }
    names.insert("n" + c + "n");
    if (b != '.') names.insert(c);  // alone; no tree holds "."
  }
  for (const char* name : {"a\\b",
                           "system-systemd\\x2dcryptsetup.slice",
                           "-rf",
                           "--",
                           "new\nline",
                           "tab\there",
                           "\xFF\xFE",
                           "bad\xC3",
                           "\xC0\xAF",
                           "\xED\xA0\x80 surrogate",
                           "\xF4\x90\x80\x80 big",
                           "\xC3\xA9t\xC3\xA9",
                           "\xE6\x97\xA5\xE6\x9C\xAC",
                           "trailing.",
                           "trailing ",
                           "dots...",
                           "..x",
                           "CON",
                           "aux.txt",
                           "Lpt1",
                           "com\xC2\xB9.log",
                           "nul .txt",
                           "conin$",
                           "prn.tar.gz",
                           "console",
                           "com10",
                           "auxiliary.txt",
                           "q?",
                           "star*",
                           "pipe|",
                           "quote\"",
                           "colon:",
                           "lt<",
                           "gt>"}) {
    names.insert(name);
  }
  return {names.begin(), names.end()};
}

TEST_F(RestoreNamesTest, EveryNameComesBackUnderItsHostableName) {
  std::vector<std::string> names = AllNames();
  StorePoint(names);
  RestoreOptions options;
  options.point = "latest";
  options.target = Path("target");
  auto report = RunRestore(*repo_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const FailedFile& f : report->failed_files) ADD_FAILURE() << f.path << ": " << f.error;

  std::map<std::string, std::string> restored = ReadFolder(Path("target/x"));
  size_t escaped = 0;
  for (const std::string& name : names) {
    std::string here = platform::HostableName(name);
    if (here != name) ++escaped;
    auto it = restored.find(here);
    ASSERT_NE(it, restored.end()) << "missing: '" << name << "' as '" << here << "'";
    EXPECT_EQ(it->second, "content of " + name) << here;
  }
  std::string dir_here = platform::HostableName(kOddDir);
  if (dir_here != kOddDir) ++escaped;
  EXPECT_EQ(restored.count(dir_here), 1u);
  EXPECT_EQ(ReadFolder(Path("target/x/" + dir_here))["inner.txt"], "content of inner.txt");
  EXPECT_EQ(restored.size(), names.size() + 1) << "entries the point does not have";

  // One warning per escaped name, naming the name it was restored under.
  EXPECT_EQ(report->warnings.size(), escaped);
  for (const FailedFile& w : report->warnings) {
    EXPECT_NE(w.error.find("restored as '"), std::string::npos) << w.error;
  }
  EXPECT_EQ(report->state, escaped ? JobState::kCompletedWithWarnings : JobState::kCompleted);
  EXPECT_EQ(report->files, names.size() + 1);
}

// An item below a folder whose name is escaped: the folders above it are
// created under their escaped names too, with a warning.
TEST_F(RestoreNamesTest, ItemBelowAnEscapedFolder) {
  StorePoint({"plain.txt"});
  RestoreOptions options;
  options.point = "latest";
  options.items = {std::string("/x/") + kOddDir + "/inner.txt"};
  options.target = Path("target");
  auto report = RunRestore(*repo_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->failed_files.empty());
  std::string dir_here = platform::HostableName(kOddDir);
  EXPECT_EQ(ReadFolder(Path("target/x/" + dir_here))["inner.txt"], "content of inner.txt");
  bool escaped = dir_here != kOddDir;
  EXPECT_EQ(report->warnings.size(), escaped ? 1u : 0u);
  EXPECT_EQ(report->state, escaped ? JobState::kCompletedWithWarnings : JobState::kCompleted);
}

// An escaped name that meets another entry of its folder (one already
// holding the private-use character) never replaces it: the escaped one
// gets a copy name, both contents survive, and the job does not fail.
TEST_F(RestoreNamesTest, EscapedNameNeverReplacesItsNeighbour) {
  const std::string odd = "a<b";
  const std::string literal = platform::HostableName(odd);  // "a\uF03Cb" on Windows
  std::vector<std::string> names = {odd, "x\xEF\x80\xBC"};
  if (literal != odd) names.push_back(literal);
  StorePoint(names);
  for (ConflictPolicy policy :
       {ConflictPolicy::kOverwrite, ConflictPolicy::kSkip, ConflictPolicy::kCreateCopy}) {
    RestoreOptions options;
    options.point = "latest";
    options.conflict = policy;
    options.target = Path("target" + std::to_string(static_cast<int>(policy)));
    auto report = RunRestore(*repo_, options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->failed_files.empty());
    auto restored = ReadFolder(*options.target + "/x");
    if (literal == odd) {  // this system holds "a<b": nothing meets
      EXPECT_EQ(restored[odd], "content of " + odd);
      EXPECT_EQ(report->state, JobState::kCompleted);
      continue;
    }
    EXPECT_EQ(restored[literal], "content of " + literal);
    EXPECT_EQ(restored[literal + " (restored)"], "content of " + odd);
    EXPECT_EQ(report->state, JobState::kCompletedWithWarnings);
  }
}

// Names that differ only in case: one folder on Windows holds one of them,
// so the second comes back beside the first as a copy, with a warning; on
// Linux both come back as they are.
TEST_F(RestoreNamesTest, NamesThatDifferOnlyInCaseBothComeBack) {
  StorePoint({"README", "readme"});
  bool folds = platform::NameKey("README") == platform::NameKey("readme");
  for (ConflictPolicy policy :
       {ConflictPolicy::kOverwrite, ConflictPolicy::kSkip, ConflictPolicy::kCreateCopy}) {
    RestoreOptions options;
    options.point = "latest";
    options.conflict = policy;
    options.target = Path("case" + std::to_string(static_cast<int>(policy)));
    auto report = RunRestore(*repo_, options);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->failed_files.empty());
    EXPECT_EQ(report->files, 3u);  // and the odd folder's inner.txt
    auto restored = ReadFolder(*options.target + "/x");
    ASSERT_EQ(restored.size(), 3u);
    if (!folds) {
      EXPECT_EQ(report->warnings.empty(), platform::HostableName(kOddDir) == kOddDir);
      EXPECT_EQ(restored["README"], "content of README");
      EXPECT_EQ(restored["readme"], "content of readme");
      continue;
    }
    EXPECT_EQ(report->state, JobState::kCompletedWithWarnings);
    // The odd folder's escaped name, and the second of the pair.
    ASSERT_EQ(report->warnings.size(), 2u);
    EXPECT_TRUE(std::any_of(report->warnings.begin(), report->warnings.end(), [](const auto& w) {
      return w.error.find("'readme (restored)'") != std::string::npos;
    }));
    EXPECT_EQ(restored["README"], "content of README");
    EXPECT_EQ(restored["readme (restored)"], "content of readme");
  }
}

}  // namespace
}  // namespace obagent::engine
