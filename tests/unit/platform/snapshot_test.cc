// The portable part of the snapshot interface and of the VSS requester:
// path mapping (Linux and Windows forms), HRESULT -> error, volume grouping.
#include <gtest/gtest.h>

#include "obagent/platform.h"
#include "platform/vss_util.h"

namespace obagent::platform {
namespace {

class StaticSnapshot : public Snapshot {
 public:
  explicit StaticSnapshot(std::vector<SnapshotVolume> v) : volumes_(std::move(v)) {}
  const std::vector<SnapshotVolume>& volumes() const override { return volumes_; }
  Status Release() override { return Status::Ok(); }

 private:
  std::vector<SnapshotVolume> volumes_;
};

TEST(SnapshotTest, MapsPathsIntoTheDeepestVolume) {
  StaticSnapshot snap({{SnapshotKind::kLvm, "/", "/s/root", ""},
                       {SnapshotKind::kBtrfs, "/home/", "/s/home/", ""},
                       {SnapshotKind::kNone, "/home/nfs", "", "read live"}});
  EXPECT_EQ(snap.ReadPath("/"), "/s/root");
  EXPECT_EQ(snap.ReadPath("/etc/hosts"), "/s/root/etc/hosts");
  EXPECT_EQ(snap.ReadPath("/home"), "/s/home/");
  EXPECT_EQ(snap.ReadPath("/home/u/a"), "/s/home/u/a");
  EXPECT_EQ(snap.ReadPath("/homer"), "/s/root/homer");
  EXPECT_EQ(snap.ReadPath("/home/nfs/x"), "/home/nfs/x");
  EXPECT_EQ(snap.KindSummary(), "btrfs+lvm+none");
  EXPECT_EQ(StaticSnapshot({}).KindSummary(), "none");
  EXPECT_EQ(StaticSnapshot({}).ReadPath("/a"), "/a");
}

TEST(SnapshotTest, MapsWindowsPathsToTheShadowCopyDevice) {
  std::string c = vss::ShadowDeviceRoot("\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy3");
  EXPECT_EQ(c, "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/");
  StaticSnapshot snap({{SnapshotKind::kVss, "C:/", c, ""},
                       {SnapshotKind::kVss, "C:/mnt/data/",
                        vss::ShadowDeviceRoot("\\\\?\\GLOBALROOT\\Device\\"
                                              "HarddiskVolumeShadowCopy4\\"),
                        ""}});
  EXPECT_EQ(snap.ReadPath("C:/data/x"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/data/x");
  EXPECT_EQ(snap.ReadPath("c:/Data/x"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/Data/x");
  EXPECT_EQ(snap.ReadPath("C:/"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/");
  EXPECT_EQ(snap.ReadPath("C:/mnt/data/y"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy4/y");
  EXPECT_EQ(snap.ReadPath("D:/z"), "D:/z");
  // The walker's form: BackupDirectory("/", ...) joins "/" and "C:", so
  // every path it reads starts "/C:/". It maps like the drive form.
  EXPECT_EQ(snap.ReadPath("/C:/data/x"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/data/x");
  EXPECT_EQ(snap.ReadPath("/c:/Data/x"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/Data/x");
  EXPECT_EQ(snap.ReadPath("/C:"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/");
  EXPECT_EQ(snap.ReadPath("/C:/"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy3/");
  EXPECT_EQ(snap.ReadPath("/C:/mnt/data/y"), "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy4/y");
  EXPECT_EQ(snap.VolumeOf("/C:/data/x"), &snap.volumes()[0]);
  EXPECT_EQ(snap.ReadPath("/D:/z"), "/D:/z");  // no snapshot of D: read as given
  EXPECT_EQ(snap.ReadPath("/Cx/z"), "/Cx/z");
  // What the Windows Env opens:
  EXPECT_EQ(vss::ToBackslashes(snap.ReadPath("C:/data/x")),
            "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy3\\data\\x");
}

TEST(VssTest, GroupsSourcesByVolume) {
  auto volume_of = [](const std::string& path) -> Result<std::string> {
    if (path.rfind("C:/mnt/data", 0) == 0) return std::string("C:/mnt/data/");
    if (path.rfind("Q:", 0) == 0) return NotFound("no such drive");
    return path.substr(0, 2) + "/";
  };
  auto volumes = vss::VolumesOfSources({"C:/Users/a", "D:/x", "c:/Windows", "C:/mnt/data/y", "D:/"},
                                       volume_of);
  ASSERT_TRUE(volumes.ok());
  EXPECT_EQ(*volumes, (std::vector<std::string>{"C:/", "D:/", "C:/mnt/data/"}));
  auto bad = vss::VolumesOfSources({"C:/a", "Q:/b"}, volume_of);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("Q:/b"), std::string::npos);
}

TEST(VssTest, InsufficientStorageSaysHowToResizeShadowStorage) {
  Status st = vss::StatusFromHresult(0x8004231F, "DoSnapshotSet", {"C:/", "D:/mnt/data/"});
  EXPECT_EQ(st.code(), ErrorCode::kShadowStorageInsufficient);
  std::string text = st.ToString();
  EXPECT_EQ(text.rfind("[0x8004231F] Backup failed: insufficient shadow copy storage", 0), 0u)
      << text;
  EXPECT_NE(text.find("VSS_E_INSUFFICIENT_STORAGE"), std::string::npos);
  EXPECT_NE(text.find("vssadmin Resize ShadowStorage /For=C: /On=C: /MaxSize=10%"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("/For=D:\\mnt\\data\\ /On=D:\\mnt\\data\\"), std::string::npos) << text;
}

TEST(VssTest, OtherErrorsNameTheHresultAndTheFix) {
  Status writer = vss::StatusFromHresult(0x800423F2, "DoSnapshotSet", {"C:/"});
  EXPECT_EQ(writer.code(), ErrorCode::kSnapshotFailed);
  EXPECT_NE(writer.ToString().find("VSS_E_WRITERERROR_TIMEOUT, 0x800423F2"), std::string::npos);
  EXPECT_NE(writer.ToString().find("vssadmin List Writers"), std::string::npos);
  Status unsupported = vss::StatusFromHresult(0x8004230C, "AddToSnapshotSet", {"E:/"});
  EXPECT_NE(unsupported.ToString().find("NTFS or ReFS"), std::string::npos);
  Status denied = vss::StatusFromHresult(0x80070005, "InitializeForBackup", {});
  EXPECT_NE(denied.ToString().find("administrator"), std::string::npos);
  Status unknown = vss::StatusFromHresult(0x80001234, "PrepareForBackup", {"C:/"});
  EXPECT_NE(unknown.ToString().find("0x80001234"), std::string::npos);
  EXPECT_NE(unknown.ToString().find("event log"), std::string::npos);
}

TEST(VssTest, VssadminVolumeNames) {
  EXPECT_EQ(vss::VssadminVolume("C:/"), "C:");
  EXPECT_EQ(vss::VssadminVolume("C:"), "C:");
  EXPECT_EQ(vss::VssadminVolume("D:/mnt/data/"), "D:\\mnt\\data\\");
  EXPECT_EQ(vss::VssadminVolume("D:/mnt/data"), "D:\\mnt\\data\\");
}

}  // namespace
}  // namespace obagent::platform
