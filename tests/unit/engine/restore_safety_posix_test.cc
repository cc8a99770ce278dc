// A recovery point whose trees name "..", "a/b" or "/abs" (only possible with
// the key, e.g. a compromised machine writing into the vault) must not make
// restore write outside its target.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <sys/stat.h>

#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/blob_store.h"
#include "obagent/storage/memory_store.h"

namespace obagent::engine {
namespace {

namespace fs = std::filesystem;

class RestoreSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obagent-restore-safety.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<storage::MemoryStore>();
    repo_ = std::make_unique<Repository>(*store_, keys::DeriveKeySet(crypto::RandomKey()),
                                         dir_ + "/cache", platform::Env::Default());
    writer_ = std::make_unique<pack::PackWriter>(repo_->keys().data_key);
  }
  void TearDown() override { fs::remove_all(dir_); }

  ObjectId AddBlob(pack::BlobType type, ByteView data) {
    const ObjectId id = BlobId::Of(repo_->keys().id_key, data);
    writer_->Add(type, id,
                 pack::SealBlob(repo_->keys().data_key, type, id, compress::EncodePayload(data)),
                 static_cast<uint32_t>(data.size()));
    return id;
  }

  // Stores a recovery point "/x" whose folder holds one file named `name`.
  void StorePointWithName(const std::string& name, uint32_t file_mode = 0644,
                          uint32_t dir_mode = 0755) {
    ObjectId chunk = AddBlob(pack::BlobType::kData, AsBytes("escaped!"));
    tree::Node evil;
    evil.name = name;
    evil.type = tree::NodeType::kFile;
    evil.mode = file_mode;
    evil.size = 8;
    evil.content.push_back({chunk, 8});
    tree::Tree inner;
    inner.nodes.push_back(evil);
    ObjectId inner_id = AddBlob(pack::BlobType::kTree, tree::SerializeTree(inner));
    tree::Node x;
    x.name = "x";
    x.type = tree::NodeType::kDirectory;
    x.mode = dir_mode;
    x.subtree = inner_id;
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

  void ExpectRefused(const std::string& name) {
    StorePointWithName(name);
    RestoreOptions options;
    options.point = "latest";
    options.target = dir_ + "/target/inner";
    auto report = RunRestore(*repo_, options);
    // Either the whole job fails or the entry is listed as failed; nothing
    // may appear outside the target folder.
    if (report.ok()) {
      EXPECT_EQ(report->state, JobState::kFailed);
    }
    for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
      std::string path = entry.path().string();
      bool inside = path.starts_with(dir_ + "/target/inner") || path.starts_with(dir_ + "/cache") ||
                    path == dir_ + "/target";
      EXPECT_TRUE(inside) << "restore wrote outside its target: " << path;
      if (entry.is_regular_file() && !path.starts_with(dir_ + "/cache")) {
        EXPECT_EQ(fs::file_size(entry.path()), 0u)
            << "restored content of an unsafe name: " << path;
      }
    }
  }

  std::string dir_;
  std::unique_ptr<storage::BlobStore> store_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<pack::PackWriter> writer_;
};

TEST_F(RestoreSafetyTest, DotDotNameIsRefused) { ExpectRefused(".."); }
TEST_F(RestoreSafetyTest, NameWithSlashIsRefused) { ExpectRefused("../../escaped"); }
TEST_F(RestoreSafetyTest, AbsoluteNameIsRefused) { ExpectRefused("/tmp/escaped-by-obagent"); }

TEST_F(RestoreSafetyTest, SafeTreeRestores) {
  StorePointWithName("fine.txt");
  RestoreOptions options;
  options.point = "latest";
  options.target = dir_ + "/target";
  auto report = RunRestore(*repo_, options);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->state, JobState::kCompleted);
  EXPECT_EQ(fs::file_size(dir_ + "/target/x/fine.txt"), 8u);
}

// restore_permissions = false (obctl recover --no-permissions, the console's
// "restore permissions" box): what is restored gets the permissions of a
// new file or folder under the process's umask, not the backed-up modes.
TEST_F(RestoreSafetyTest, WithoutPermissionsRestoredItemsGetTheDefaultMode) {
  StorePointWithName("odd.txt", 0604, 0711);
  mode_t old_mask = ::umask(027);
  auto mode_of = [](const std::string& path) {
    struct stat st;
    EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  };
  RestoreOptions options;
  options.point = "latest";
  options.target = dir_ + "/kept";
  auto kept = RunRestore(*repo_, options);
  options.target = dir_ + "/default";
  options.restore_permissions = false;
  auto defaulted = RunRestore(*repo_, options);
  ::umask(old_mask);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_TRUE(defaulted.ok()) << defaulted.status().ToString();
  EXPECT_EQ(defaulted->state, JobState::kCompleted);
  EXPECT_EQ(mode_of(dir_ + "/kept/x/odd.txt"), 0604u);
  EXPECT_EQ(mode_of(dir_ + "/kept/x"), 0711u);
  EXPECT_EQ(mode_of(dir_ + "/default/x/odd.txt"), 0640u);
  EXPECT_EQ(mode_of(dir_ + "/default/x"), 0750u);
  EXPECT_EQ(fs::file_size(dir_ + "/default/x/odd.txt"), 8u);
}

}  // namespace
}  // namespace obagent::engine
