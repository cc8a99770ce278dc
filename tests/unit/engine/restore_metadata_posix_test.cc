// The restore engine and tree format version 2's metadata: a version 2
// point's xattrs come back and ACLs the target folder's default ACL would
// add are removed; a sparse file comes back with holes; a metadata kind
// this version does not know is one warning for all its items; a version 1 point (written by
// the encoder before version 2, reproduced here) restores exactly as
// before: nothing is applied, the inherited ACL stays. Every file gets its
// attributes and metadata once, whether through its last handle or by name.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "core/security_descriptor_test_util.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/engine/restore.h"
#include "obagent/storage/memory_store.h"
#include "platform/env_test_util.h"

namespace obagent::engine {
namespace {

void PutVarint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void PutString(Bytes& out, const std::string& s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// The version 1 encoder as it was (tree.cc before version 2).
Bytes SerializeV1(const tree::Tree& t) {
  Bytes out = {1};
  PutVarint(out, t.nodes.size());
  for (const tree::Node& n : t.nodes) {
    PutString(out, n.name);
    out.push_back(static_cast<uint8_t>(n.type));
    PutVarint(out, n.mode);
    PutVarint(out, static_cast<uint64_t>(n.mtime_ns) << 1);  // zigzag of a positive time
    PutVarint(out, static_cast<uint64_t>(n.ctime_ns) << 1);
    for (uint64_t v :
         {uint64_t{n.uid}, uint64_t{n.gid}, n.size, n.inode, n.device, uint64_t{n.link_count}}) {
      PutVarint(out, v);
    }
    PutVarint(out, n.content.size());
    for (const tree::ChunkRef& c : n.content) {
      out.insert(out.end(), c.id.bytes.begin(), c.id.bytes.end());
      PutVarint(out, c.size);
    }
    out.push_back(n.subtree ? 1 : 0);
    if (n.subtree) out.insert(out.end(), n.subtree->bytes.begin(), n.subtree->bytes.end());
    PutString(out, n.symlink_target);
    PutString(out, n.hardlink_to);
  }
  return out;
}

// user::rw- user:65534:r-- group::r-- mask::r-- other::r-- (kernel xattr form).
const uint8_t kAcl[] = {2,    0,    0,    0,    1,    0,    6,    0,    0xff, 0xff, 0xff,
                        0xff, 2,    0,    4,    0,    0xfe, 0xff, 0,    0,    4,    0,
                        4,    0,    0xff, 0xff, 0xff, 0xff, 0x10, 0,    4,    0,    0xff,
                        0xff, 0xff, 0xff, 0x20, 0,    4,    0,    0xff, 0xff, 0xff, 0xff};

class RestoreMetadataTest : public platform::test_util::TempDirTest {
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
  tree::Node File(const std::string& name, const Bytes& content) {
    return Chunked(name, {content});
  }
  // A file of several chunks, in this order.
  tree::Node Chunked(const std::string& name, const std::vector<Bytes>& chunks) {
    tree::Node n;
    n.name = name;
    n.mode = 0644;
    n.mtime_ns = 1'700'000'000'000'000'000;
    for (const Bytes& chunk : chunks) {
      n.size += chunk.size();
      n.content.push_back(
          {AddBlob(pack::BlobType::kData, chunk), static_cast<uint32_t>(chunk.size())});
    }
    return n;
  }
  // Stores the point "/x" holding `files`, its trees in version 1 or 2.
  void StorePoint(std::vector<tree::Node> files, bool v1) {
    auto encode = [&](const tree::Tree& t) { return v1 ? SerializeV1(t) : tree::SerializeTree(t); };
    tree::Tree inner;
    inner.nodes = std::move(files);
    std::sort(inner.nodes.begin(), inner.nodes.end(),
              [](const tree::Node& a, const tree::Node& b) { return a.name < b.name; });
    tree::Node x;
    x.name = "x";
    x.type = tree::NodeType::kDirectory;
    x.mode = 0755;
    x.mtime_ns = 1'600'000'000'000'000'000;
    x.subtree = AddBlob(pack::BlobType::kTree, encode(inner));
    tree::Tree root;
    root.nodes = {x};
    ObjectId root_id = AddBlob(pack::BlobType::kTree, encode(root));
    auto finished = writer_->Finish();
    ASSERT_TRUE(repo_->UploadPack(finished, "").ok());
    ASSERT_TRUE(repo_->SaveIndexFile({{finished.name, finished.entries}}).ok());
    recovery_point::RecoveryPoint point;
    point.time_ns = 1;
    point.paths = {"/x"};
    point.tree = root_id;
    ASSERT_TRUE(repo_->SaveRecoveryPoint(point).ok());
  }
  // The target's "x" exists with a default ACL, so new entries inherit an
  // access ACL; false where the file system has no ACLs.
  bool TargetWithDefaultAcl() {
    std::filesystem::create_directories(Path("target/x"));
    return ::setxattr(Path("target/x").c_str(), "system.posix_acl_default", kAcl, sizeof kAcl, 0) ==
           0;
  }
  bool HasAccessAcl(const std::string& path) {
    return ::getxattr(path.c_str(), "system.posix_acl_access", nullptr, 0) >= 0;
  }
  // The restored file `rel` holds user.note = `note` (where the file system
  // has user xattrs) and, when the target had a default ACL (`acl`), no
  // access ACL it would have inherited.
  void ExpectNoteAndNoInheritedAcl(const std::string& rel, const std::string& note, bool acl) {
    char value[8] = {};
    ssize_t got = ::getxattr(Path(rel).c_str(), "user.note", value, sizeof value);
    if (got >= 0 || errno != ENOTSUP) {
      EXPECT_EQ(std::string(value, got > 0 ? got : 0), note) << rel;
    }
    if (acl) {
      EXPECT_FALSE(HasAccessAcl(Path(rel))) << rel;
    }
  }
  Result<RestoreReport> Restore(bool permissions = true) {
    RestoreOptions options;
    options.point = "latest";
    options.target = Path("target");
    options.restore_permissions = permissions;
    return RunRestore(*repo_, options);
  }
  // The warnings that name `kind`.
  static std::vector<std::string> WarningsOf(const RestoreReport& report, const std::string& kind) {
    std::vector<std::string> out;
    for (const FailedFile& w : report.warnings) {
      if (w.error.find(kind) != std::string::npos) out.push_back(w.error);
    }
    return out;
  }

  std::unique_ptr<storage::MemoryStore> store_;
  std::unique_ptr<Repository> repo_;
  std::unique_ptr<pack::PackWriter> writer_;
};

TEST_F(RestoreMetadataTest, VersionTwoAppliesMetadataAndRestoresSparse) {
  tree::Node tagged = File("tagged", Bytes{'h', 'i'});
  tagged.xattrs = {{"user.note", Bytes{'k', 'e', 'p', 't'}}};
  tagged.other_metadata = {{31, "", Bytes{1, 2, 3}}};  // a kind from a newer version
  Bytes sparse_content(8u << 20, 0);
  sparse_content.back() = 'x';
  tree::Node sparse = File("sparse", sparse_content);
  sparse.sparse = true;
  tree::Node tagged2 = tagged;
  tagged2.name = "tagged2";
  StorePoint({tagged, tagged2, sparse}, false);
  const bool acl = TargetWithDefaultAcl();
  auto report = Restore();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->failed_files.empty());
  // The unknown kind is one warning; user xattrs where supported.
  size_t unknown = 0;
  for (const FailedFile& w : report->warnings) {
    if (w.error.find("metadata of kind 31") == std::string::npos) continue;
    ++unknown;
    EXPECT_NE(w.error.find("not restored on 2 items"), std::string::npos) << w.error;
  }
  EXPECT_EQ(unknown, 1u);
  ExpectNoteAndNoInheritedAcl("target/x/tagged", "kept", acl);
  struct stat st;
  ASSERT_EQ(::stat(Path("target/x/sparse").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), sparse_content.size());
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20) << "not restored sparse";
}

// A Windows point restored on Linux: the content comes back, and each of
// the two Windows kinds is one warning for all its items.
TEST_F(RestoreMetadataTest, WindowsDescriptorsAndAttributesAreOneWarningPerKind) {
  std::vector<tree::Node> nodes;
  for (const char* name : {"a.txt", "b.txt", "c.txt"}) {
    tree::Node n = File(name, Bytes{'w', 'i', 'n'});
    n.win_security = win_security::test_util::SampleDescriptor();
    n.win_attributes = tree::kWinAttributeHidden | tree::kWinAttributeArchive;
    nodes.push_back(std::move(n));
  }
  nodes[2].win_attributes = 0;  // nothing set: nothing lost
  StorePoint(nodes, false);
  auto report = Restore();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->failed_files.empty());
  EXPECT_EQ(report->state, JobState::kCompletedWithWarnings);
  EXPECT_EQ(platform::test_util::ReadText(Path("target/x/b.txt")), "win");
  std::vector<std::string> sd = WarningsOf(*report, "Windows security descriptors");
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_NE(sd[0].find("not restored on 3 items"), std::string::npos) << sd[0];
  std::vector<std::string> attributes = WarningsOf(*report, "Windows attributes");
  ASSERT_EQ(attributes.size(), 1u);
  EXPECT_NE(attributes[0].find("not restored on 2 items"), std::string::npos) << attributes[0];
  EXPECT_EQ(report->warnings.size(), 2u);
}

// Without permissions the descriptors are the user's choice to leave out:
// only the attributes are reported.
TEST_F(RestoreMetadataTest, WindowsDescriptorsWithoutPermissionsAreNotReported) {
  tree::Node n = File("a.txt", Bytes{'w'});
  n.win_security = win_security::test_util::SampleDescriptor();
  n.win_attributes = tree::kWinAttributeReadOnly;
  StorePoint({n}, false);
  auto report = Restore(false);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(WarningsOf(*report, "Windows security descriptors").empty());
  EXPECT_EQ(WarningsOf(*report, "Windows attributes").size(), 1u);
}

// Each file gets its mode, mtime and metadata once it is complete: a large
// one that several fetch runs write (through the last handle to it), a file
// that must be immutable (by name after the rename, which the flag would
// stop), and one whose chunks are shorter than its recorded size (created
// at its size before any chunk is written). No temporary file is left.
TEST_F(RestoreMetadataTest, EveryFileIsFinishedOnceWhateverWritesIt) {
  std::vector<Bytes> pieces;
  for (int i = 0; i < 3; ++i) pieces.push_back(crypto::RandomBytes(4u << 20));  // over one run
  tree::Node large = Chunked("large", pieces);
  large.mode = 0640;
  large.mtime_ns = 1'650'000'000'123'456'789;
  large.xattrs = {{"user.note", Bytes{'b', 'i', 'g'}}};
  tree::Node fixed = File("fixed", Bytes{'f'});
  fixed.mode = 0600;
  fixed.linux_flags = tree::kLinuxFlagImmutable;
  tree::Node longer = File("longer", Bytes{'s', 'h', 'o', 'r', 't'});
  longer.size = 4096;
  StorePoint({large, fixed, longer}, false);
  const bool acl = TargetWithDefaultAcl();
  auto report = Restore();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->failed_files.empty()) << report->failed_files[0].error;
  EXPECT_EQ(report->files, 3u);

  Bytes whole;
  for (const Bytes& p : pieces) whole.insert(whole.end(), p.begin(), p.end());
  EXPECT_EQ(platform::test_util::ReadText(Path("target/x/large")),
            std::string(whole.begin(), whole.end()));
  struct stat st;
  ASSERT_EQ(::stat(Path("target/x/large").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'650'000'000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 123'456'789);
  ExpectNoteAndNoInheritedAcl("target/x/large", "big", acl);

  ASSERT_EQ(::stat(Path("target/x/longer").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4096);
  EXPECT_EQ(platform::test_util::ReadText(Path("target/x/longer")).substr(0, 5), "short");

  ASSERT_EQ(::stat(Path("target/x/fixed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(platform::test_util::ReadText(Path("target/x/fixed")), "f");
  int fd = ::open(Path("target/x/fixed").c_str(), O_RDONLY | O_NOFOLLOW);
  ASSERT_GE(fd, 0);
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL) != 0) {
    flags &= ~FS_IMMUTABLE_FL;  // so the folder can be removed
    EXPECT_EQ(::ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
  } else {
    // Not root, or no flags here: one warning says so.
    EXPECT_EQ(WarningsOf(*report, "Linux file flags").size(), 1u);
  }
  ::close(fd);

  for (const auto& e : std::filesystem::directory_iterator(Path("target/x"))) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".obrestore-")) << e.path();
  }
}

TEST_F(RestoreMetadataTest, VersionOnePointRestoresAsBefore) {
  StorePoint({File("old", Bytes{'o', 'l', 'd'})}, true);
  ASSERT_EQ(repo_->ReadTree(repo_->FindRecoveryPoint("latest")->point.tree)->version, 1);
  const bool acl = TargetWithDefaultAcl();
  auto report = Restore();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->failed_files.empty());
  EXPECT_TRUE(report->warnings.empty());
  EXPECT_EQ(report->state, JobState::kCompleted);
  // Nothing was applied: the ACL inherited from the target stays, as it
  // did before version 2.
  if (acl) {
    EXPECT_TRUE(HasAccessAcl(Path("target/x/old")));
  }
}

}  // namespace
}  // namespace obagent::engine
