// The Linux snapshot provider driven through a FakeSnapshotSystem: which
// volume a source is on, the exact btrfs/LVM command lines, how paths map
// into the snapshots, the fallbacks and the cleanup. (The real thing runs
// in tests/e2e/test_snapshot_btrfs.sh where the machine can mount btrfs.)
#include "platform/posix/snapshot_posix.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <functional>
#include <map>

namespace obagent::platform::posix {
namespace {

constexpr uint64_t kExt4 = 0xEF53;

class FakeSnapshotSystem : public SnapshotSystem {
 public:
  std::map<std::string, PathInfo> paths;
  std::string mountinfo;
  // Answers a command line ("lvs --noheadings …"); unset: exit 0, no output.
  std::function<CommandResult(const std::string& line)> respond;
  std::vector<std::string> log;  // every command and folder operation, in order

  Result<PathInfo> Probe(const std::string& path) override {
    auto it = paths.find(path);
    if (it == paths.end()) return NotFound("no " + path);
    return it->second;
  }
  Result<std::string> ReadMountInfo() override { return mountinfo; }
  Result<CommandResult> Run(const std::string& program,
                            const std::vector<std::string>& args) override {
    std::string line = program;
    for (const auto& a : args) line += " " + a;
    log.push_back(line);
    return respond ? respond(line) : CommandResult{};
  }
  Status MakeDirs(const std::string& path) override {
    log.push_back("mkdir " + path);
    return Status::Ok();
  }
  Status RemoveDir(const std::string& path) override {
    log.push_back("rmdir " + path);
    return Status::Ok();
  }
};

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

class PosixSnapshotTest : public ::testing::Test {
 protected:
  std::unique_ptr<Snapshot> Create(const std::vector<std::string>& sources) {
    provider_ = NewPosixSnapshotProvider(fake_, {[] { return std::string("T"); }});
    auto snap = provider_->Create(sources, kWork);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    return std::move(snap).value();
  }
  static constexpr const char* kWork = "/var/lib/obagent/scratch/snapshots";
  FakeSnapshotSystem fake_;
  std::unique_ptr<SnapshotProvider> provider_;
};

TEST(MountInfoTest, ParsesFieldsAndEscapes) {
  auto mounts = ParseMountInfo(
      "27 1 254:1 / / rw,relatime - ext4 /dev/mapper/vg0-root rw\n"
      "garbage line\n"
      "43 27 0:39 /@home /home rw shared:1 master:2 - btrfs /dev/sda2 rw,subvol=/@home\n"
      "44 27 8:3 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw\n");
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].major, 254u);
  EXPECT_EQ(mounts[0].minor, 1u);
  EXPECT_EQ(mounts[0].source, "/dev/mapper/vg0-root");
  EXPECT_EQ(mounts[1].root, "/@home");
  EXPECT_EQ(mounts[1].mount_point, "/home");
  EXPECT_EQ(mounts[1].fs_type, "btrfs");  // optional fields before "-" skipped
  EXPECT_EQ(mounts[2].mount_point, "/mnt/my disk");
}

TEST(MountInfoTest, FindsTheMountOfAPath) {
  auto mounts = ParseMountInfo(
      "1 0 254:1 / / rw - ext4 /dev/vda rw\n"
      "2 1 8:1 / /srv rw - ext4 /dev/sda1 rw\n"
      "3 1 8:2 / /srv rw - xfs /dev/sdb1 rw\n"  // mounted over the first /srv
      "4 1 8:3 / /srvdata rw - ext4 /dev/sdc1 rw\n");
  EXPECT_EQ(FindMount(mounts, "/srv/x", 0)->source, "/dev/sdb1");
  EXPECT_EQ(FindMount(mounts, "/srv/x", makedev(8, 1))->source, "/dev/sda1");
  EXPECT_EQ(FindMount(mounts, "/srvx", 0)->source, "/dev/vda");  // not under /srv
  EXPECT_EQ(FindMount(mounts, "/srvdata", 0)->source, "/dev/sdc1");
  EXPECT_EQ(FindMount({}, "/a", 0), nullptr);
}

TEST(LvsTest, ParsesAndSizesSnapshots) {
  auto lv = ParseLvs("  vg0|root|21474836480|4294967296|-wi-ao----  \n");
  ASSERT_TRUE(lv.ok()) << lv.status().ToString();
  EXPECT_EQ(lv->vg, "vg0");
  EXPECT_EQ(lv->lv, "root");
  EXPECT_FALSE(lv->thin);
  EXPECT_FALSE(lv->snapshot);
  EXPECT_EQ(LvmSnapshotBytes(*lv), 2147483648u);  // a tenth of 20 GiB
  EXPECT_TRUE(ParseLvs("  vg0|thin1|1073741824|0|Vwi-aotz--").value().thin);
  EXPECT_TRUE(ParseLvs("  vg0|s|1073741824|0|swi-a-s---").value().snapshot);
  EXPECT_FALSE(ParseLvs("  vg0|root|x|0|-wi-ao----").ok());
  EXPECT_FALSE(ParseLvs("").ok());

  LvInfo small{"vg", "lv", 100ull << 20, 1ull << 30, false, false};
  EXPECT_EQ(LvmSnapshotBytes(small), kMinLvmSnapshotBytes);  // at least 64 MiB
  LvInfo tight{"vg", "lv", 100ull << 30, (200ull << 20) + 12345, false, false};
  EXPECT_EQ(LvmSnapshotBytes(tight), 200ull << 20);  // capped by free space, whole MiB
  LvInfo full{"vg", "lv", 100ull << 30, 32ull << 20, false, false};
  EXPECT_EQ(LvmSnapshotBytes(full), 0u);
}

// /data is a btrfs mount (top level), /data/home a subvolume in it with a
// nested subvolume /data/home/cache; scratch is on ext4.
void SetUpBtrfs(FakeSnapshotSystem& fake) {
  fake.mountinfo =
      "1 0 254:1 / / rw - ext4 /dev/vda rw\n"
      "2 1 0:39 / /data rw - btrfs /dev/loop0 rw,subvol=/\n";
  fake.paths["/"] = {kExt4, makedev(254, 1)};
  fake.paths["/var/lib/obagent/scratch/snapshots"] = {kExt4, makedev(254, 1)};
  fake.paths["/data"] = {kBtrfsSuperMagic, 40};
  fake.paths["/data/home"] = {kBtrfsSuperMagic, 41};
  fake.paths["/data/home/docs"] = {kBtrfsSuperMagic, 41};
  fake.paths["/data/home/docs/a.txt"] = {kBtrfsSuperMagic, 41};
  fake.paths["/data/home/cache"] = {kBtrfsSuperMagic, 42};
  fake.respond = [](const std::string& line) {
    if (line == "btrfs subvolume list -o /data/home") {
      return CommandResult{0, "ID 258 gen 9 top level 257 path home/cache\n"};
    }
    return CommandResult{};
  };
}

TEST_F(PosixSnapshotTest, SnapshotsTheBtrfsSubvolumeAndTheOnesNestedInIt) {
  SetUpBtrfs(fake_);
  auto snap = Create({"/data/home/docs", "/data/home/docs/a.txt"});
  std::vector<std::string> expected = {
      "mkdir /var/lib/obagent/scratch/snapshots",
      "btrfs subvolume snapshot -r /data/home /data/home/.obagent-T-0",
      "btrfs subvolume list -o /data/home",
      "btrfs subvolume snapshot -r /data/home/cache /data/home/cache/.obagent-T-1",
      "btrfs subvolume list -o /data/home/cache",
  };
  // (scratch is on ext4: the snapshots stay on their own file system)
  EXPECT_EQ(fake_.log, expected);
  ASSERT_EQ(snap->volumes().size(), 2u);
  EXPECT_EQ(snap->volumes()[0].kind, SnapshotKind::kBtrfs);
  EXPECT_EQ(snap->volumes()[0].original_root, "/data/home");
  EXPECT_EQ(snap->KindSummary(), "btrfs");
  EXPECT_EQ(snap->ReadPath("/data/home/docs/a.txt"), "/data/home/.obagent-T-0/docs/a.txt");
  EXPECT_EQ(snap->ReadPath("/data/home"), "/data/home/.obagent-T-0");
  EXPECT_EQ(snap->ReadPath("/data/home/cache/x"), "/data/home/cache/.obagent-T-1/x");
  EXPECT_EQ(snap->ReadPath("/data/other"), "/data/other");
  EXPECT_EQ(snap->ReadPath("/data/homework"), "/data/homework");

  fake_.log.clear();
  ASSERT_TRUE(snap->Release().ok());
  expected = {"btrfs subvolume delete /data/home/cache/.obagent-T-1",
              "btrfs subvolume delete /data/home/.obagent-T-0"};
  EXPECT_EQ(fake_.log, expected);
  fake_.log.clear();
  ASSERT_TRUE(snap->Release().ok());  // again: nothing left to do
  snap.reset();                       // nor for the destructor
  EXPECT_TRUE(fake_.log.empty());
}

TEST_F(PosixSnapshotTest, PutsTheBtrfsSnapshotInScratchWhenOnTheSameFileSystem) {
  SetUpBtrfs(fake_);
  fake_.mountinfo += "3 1 0:39 /state /var/lib/obagent rw - btrfs /dev/loop0 rw,subvol=/state\n";
  fake_.paths["/var/lib/obagent/scratch/snapshots"] = {kBtrfsSuperMagic, 45};
  auto snap = Create({"/data/home/docs"});
  EXPECT_EQ(
      fake_.log[1],
      "btrfs subvolume snapshot -r /data/home /var/lib/obagent/scratch/snapshots/obagent-T-0");
  EXPECT_EQ(snap->ReadPath("/data/home/docs"),
            "/var/lib/obagent/scratch/snapshots/obagent-T-0/docs");
}

TEST_F(PosixSnapshotTest, ReadsLiveWhenBtrfsRefusesTheSnapshot) {
  SetUpBtrfs(fake_);
  fake_.respond = [](const std::string& line) {
    if (StartsWith(line, "btrfs subvolume snapshot")) {
      return CommandResult{1, "ERROR: cannot snapshot '/data/home': Permission denied\n"};
    }
    return CommandResult{};
  };
  auto snap = Create({"/data/home/docs"});
  ASSERT_EQ(snap->volumes().size(), 1u);
  EXPECT_EQ(snap->volumes()[0].kind, SnapshotKind::kNone);
  EXPECT_NE(snap->volumes()[0].detail.find("Permission denied"), std::string::npos)
      << snap->volumes()[0].detail;
  EXPECT_EQ(snap->KindSummary(), "none");
  EXPECT_EQ(snap->ReadPath("/data/home/docs/a.txt"), "/data/home/docs/a.txt");
  fake_.log.clear();
  ASSERT_TRUE(snap->Release().ok());
  EXPECT_TRUE(fake_.log.empty());
}

// / is ext4 on LV vg0/root; /srv/www/uploads is NFS mounted inside it.
void SetUpLvm(FakeSnapshotSystem& fake, const std::string& vg_free) {
  fake.mountinfo =
      "1 0 254:1 / / rw - ext4 /dev/mapper/vg0-root rw\n"
      "2 1 0:50 / /srv/www/uploads rw - nfs4 fs:/uploads rw\n"
      "3 1 0:22 / /proc rw - proc proc rw\n";
  fake.paths["/srv/www"] = {kExt4, makedev(254, 1)};
  fake.respond = [vg_free](const std::string& line) {
    if (StartsWith(line, "lvs ")) {
      return CommandResult{0, "  vg0|root|21474836480|" + vg_free + "|-wi-ao----\n"};
    }
    return CommandResult{};
  };
}

TEST_F(PosixSnapshotTest, SnapshotsAnLvmVolumeAndMountsItReadOnly) {
  SetUpLvm(fake_, "4294967296");
  auto snap = Create({"/srv/www"});
  const std::string mp = std::string(kWork) + "/obagent-T-0";
  std::vector<std::string> expected = {
      "lvs --noheadings --nosuffix --units b --separator | -o "
      "vg_name,lv_name,lv_size,vg_free,lv_attr /dev/mapper/vg0-root",
      "lvcreate --snapshot --name obagent-T-0 --size 2048m vg0/root",
      "mkdir " + mp,
      "mount -t ext4 -o ro /dev/vg0/obagent-T-0 " + mp,
  };
  EXPECT_EQ(fake_.log, expected);
  EXPECT_EQ(snap->KindSummary(), "lvm+none");  // the NFS mount inside is read live
  EXPECT_EQ(snap->ReadPath("/srv/www/index.html"), mp + "/srv/www/index.html");
  EXPECT_EQ(snap->ReadPath("/srv/www/uploads/a.jpg"), "/srv/www/uploads/a.jpg");
  EXPECT_EQ(snap->ReadPath("/proc/1"), mp + "/proc/1");  // unrelated to the sources: not listed
  fake_.log.clear();
  ASSERT_TRUE(snap->Release().ok());
  expected = {"umount " + mp, "rmdir " + mp, "lvremove --force vg0/obagent-T-0"};
  EXPECT_EQ(fake_.log, expected);
}

TEST_F(PosixSnapshotTest, XfsIsMountedWithNouuidAndThinVolumesNeedNoSize) {
  fake_.mountinfo = "1 0 254:2 / /srv rw - xfs /dev/mapper/vg0-thin rw\n";
  fake_.paths["/srv"] = {0x58465342, makedev(254, 2)};
  fake_.respond = [](const std::string& line) {
    if (StartsWith(line, "lvs ")) return CommandResult{0, "  vg0|thin|1073741824|0|Vwi-aotz--\n"};
    return CommandResult{};
  };
  auto snap = Create({"/srv"});
  ASSERT_EQ(fake_.log.size(), 4u);
  EXPECT_EQ(fake_.log[1], "lvcreate --snapshot --name obagent-T-0 --setactivationskip n vg0/thin");
  EXPECT_EQ(fake_.log[3], "mount -t xfs -o ro,nouuid /dev/vg0/obagent-T-0 " + std::string(kWork) +
                              "/obagent-T-0");
  EXPECT_EQ(snap->KindSummary(), "lvm");
}

TEST_F(PosixSnapshotTest, ReadsLiveWhenTheVolumeGroupIsFull) {
  SetUpLvm(fake_, "33554432");  // 32 MiB free
  auto snap = Create({"/srv/www"});
  ASSERT_EQ(fake_.log.size(), 1u);  // lvs only: no lvcreate
  EXPECT_EQ(snap->KindSummary(), "none");
  EXPECT_NE(snap->volumes()[0].detail.find("vg0 has 32 MiB free"), std::string::npos)
      << snap->volumes()[0].detail;
}

TEST_F(PosixSnapshotTest, UndoesTheLvWhenItCannotBeMountedAndKeepsTheOtherSnapshots) {
  SetUpBtrfs(fake_);
  fake_.mountinfo += "3 1 254:3 / /srv rw - ext4 /dev/mapper/vg0-srv rw\n";
  fake_.paths["/srv"] = {kExt4, makedev(254, 3)};
  auto btrfs = fake_.respond;
  fake_.respond = [btrfs](const std::string& line) {
    if (StartsWith(line, "lvs "))
      return CommandResult{0, "  vg0|srv|1073741824|1073741824|-wi-ao\n"};
    if (StartsWith(line, "mount ")) return CommandResult{32, "mount: wrong fs type\n"};
    return btrfs(line);
  };
  auto snap = Create({"/data/home/docs", "/srv"});
  const std::string mp = std::string(kWork) + "/obagent-T-2";
  std::vector<std::string> tail(fake_.log.end() - 3, fake_.log.end());
  std::vector<std::string> undo = {"rmdir " + mp, "lvremove --force vg0/obagent-T-2"};
  EXPECT_EQ(std::vector<std::string>(tail.begin() + 1, tail.end()), undo);
  EXPECT_EQ(snap->KindSummary(), "btrfs+none");
  EXPECT_EQ(snap->ReadPath("/srv/a"), "/srv/a");
  EXPECT_EQ(snap->ReadPath("/data/home/docs/a.txt"), "/data/home/.obagent-T-0/docs/a.txt");
  fake_.log.clear();
  ASSERT_TRUE(snap->Release().ok());
  EXPECT_EQ(fake_.log.size(), 2u);  // the two btrfs snapshots, not the LV again
}

TEST_F(PosixSnapshotTest, PlainFileSystemsAreReadLiveWithTheReason) {
  fake_.mountinfo =
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "2 1 0:30 / /run rw - tmpfs tmpfs rw\n";
  fake_.paths["/etc"] = {kExt4, makedev(8, 1)};
  fake_.paths["/run/x"] = {0x01021994, makedev(0, 30)};
  fake_.respond = [](const std::string& line) {
    if (StartsWith(line, "lvs ")) {
      return CommandResult{5, "  Failed to find logical volume \"/dev/sda1\"\n"};
    }
    return CommandResult{};
  };
  auto snap = Create({"/etc", "/run/x"});
  ASSERT_EQ(fake_.log.size(), 1u);  // lvs for /dev/sda1, never for tmpfs
  ASSERT_EQ(snap->volumes().size(), 2u);
  EXPECT_EQ(snap->volumes()[0].detail,
            "/etc is on ext4 (/dev/sda1), not on btrfs or an LVM "
            "logical volume");
  EXPECT_EQ(snap->volumes()[1].detail, "/run/x is on tmpfs (tmpfs), not on btrfs or LVM");
  EXPECT_EQ(snap->ReadPath("/etc/hosts"), "/etc/hosts");
}

TEST_F(PosixSnapshotTest, ReportsAFailedCleanup) {
  SetUpBtrfs(fake_);
  auto snap = Create({"/data/home/docs"});
  fake_.respond = [](const std::string& line) {
    if (line == "btrfs subvolume delete /data/home/.obagent-T-0") {
      return CommandResult{1, "ERROR: Could not destroy subvolume: Operation not permitted\n"};
    }
    return CommandResult{};
  };
  Status st = snap->Release();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("btrfs subvolume delete /data/home/.obagent-T-0' exited with 1: "
                               "ERROR: Could not destroy subvolume"),
            std::string::npos)
      << st.ToString();
  fake_.log.clear();
  EXPECT_TRUE(snap->Release().ok());  // reported once; not retried forever
}

}  // namespace
}  // namespace obagent::platform::posix
