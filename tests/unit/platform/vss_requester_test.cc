// The VSS requester sequence (platform/vss_requester.h) against
// FakeVssBackupComponents: a fake, not VSS. It keeps the contract
// Microsoft documents for IVssBackupComponents (calls out of sequence
// answer VSS_E_BAD_STATE; IsVolumeSupported answers S_OK with FALSE for a
// volume no provider supports, VSS_E_OBJECT_NOT_FOUND for a share it
// cannot reach; AddToSnapshotSet answers VSS_E_VOLUME_NOT_SUPPORTED; an
// asynchronous call cancelled by IVssAsync::Cancel ends in
// VSS_S_ASYNC_CANCELLED; AbortBackup is required after a failure between
// StartSnapshotSet and DoSnapshotSet) and records every call. Wine has no
// VSS (CreateVssBackupComponents fails), so this is the only place the
// sequence runs short of a real Windows Server.
#include "platform/vss_requester.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "platform/vss_util.h"

namespace obagent::platform::vss {
namespace {

class FakeVssBackupComponents final : public BackupComponents {
 public:
  // File system per volume root: "NTFS", "ReFS" are supported; "FAT32",
  // "exFAT" are not; "unreachable" is a share VSS cannot find.
  std::map<std::string, std::string> file_systems;
  uint32_t do_snapshot_status = kAsyncFinished;  // what QueryStatus says after Wait
  std::vector<WriterStatus> writers_after_prepare;
  std::vector<WriterStatus> writers_after_snapshot;
  std::vector<std::string> calls;

  uint32_t InitializeForBackup() override { return Step("InitializeForBackup", kNew, kInit); }
  uint32_t SetContextBackup() override { return Require("SetContext", kInit); }
  uint32_t SetBackupStateCopy() override { return Require("SetBackupState", kInit); }
  uint32_t GatherWriterMetadata() override { return Step("GatherWriterMetadata", kInit, kMeta); }
  uint32_t IsVolumeSupported(const std::string& volume, bool* supported) override {
    calls.push_back("IsVolumeSupported " + volume);
    if (state_ < kInit) return kBadState;
    auto it = file_systems.find(volume);
    if (it == file_systems.end() || it->second == "unreachable") return kObjectNotFound;
    *supported = it->second == "NTFS" || it->second == "ReFS";
    return kOk;
  }
  uint32_t StartSnapshotSet() override { return Step("StartSnapshotSet", kMeta, kSet); }
  uint32_t AddToSnapshotSet(const std::string& volume) override {
    calls.push_back("AddToSnapshotSet " + volume);
    if (state_ != kSet) return kBadState;
    auto it = file_systems.find(volume);
    if (it == file_systems.end()) return kObjectNotFound;
    if (it->second != "NTFS" && it->second != "ReFS") return kVolumeNotSupported;
    added_.push_back(volume);
    return kOk;
  }
  uint32_t prepare_failure = kOk;
  uint32_t PrepareForBackup() override {
    if (prepare_failure != kOk) {
      calls.push_back("PrepareForBackup");
      return prepare_failure;
    }
    if (added_.empty()) {
      calls.push_back("PrepareForBackup");
      return kBadState;
    }
    return Step("PrepareForBackup", kSet, kPrepared);
  }
  uint32_t DoSnapshotSet() override {
    calls.push_back("DoSnapshotSet");
    if (state_ != kPrepared) return kBadState;
    uint32_t outcome = AsyncOutcome(kOk, kOk, do_snapshot_status);
    state_ = outcome == kOk ? kSnapshotted : kFailed;
    return outcome;
  }
  uint32_t GatherWriterStatus(std::vector<WriterStatus>* writers) override {
    calls.push_back("GatherWriterStatus");
    if (state_ < kPrepared) return kBadState;
    *writers = state_ == kPrepared ? writers_after_prepare : writers_after_snapshot;
    return kOk;
  }
  uint32_t SnapshotDevice(const std::string& volume, std::string* device) override {
    calls.push_back("GetSnapshotProperties " + volume);
    if (state_ != kSnapshotted && state_ != kComplete) return kBadState;
    for (size_t i = 0; i < added_.size(); ++i) {
      if (added_[i] == volume) {
        *device = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy" + std::to_string(i + 1);
        return kOk;
      }
    }
    return kObjectNotFound;
  }
  uint32_t BackupComplete() override { return Step("BackupComplete", kSnapshotted, kComplete); }
  uint32_t DeleteSnapshotSet() override {
    calls.push_back("DeleteSnapshots");
    return state_ >= kSnapshotted ? kOk : kObjectNotFound;
  }
  uint32_t AbortBackup() override {
    calls.push_back("AbortBackup");
    aborted = true;
    return kOk;
  }
  bool aborted = false;

 private:
  enum State { kNew, kInit, kMeta, kSet, kPrepared, kSnapshotted, kComplete, kFailed };
  uint32_t Require(const char* call, State at_least) {
    calls.push_back(call);
    return state_ >= at_least ? kOk : kBadState;
  }
  uint32_t Step(const char* call, State from, State to) {
    calls.push_back(call);
    if (state_ != from) return kBadState;
    state_ = to;
    return kOk;
  }
  State state_ = kNew;
  std::vector<std::string> added_;
};

TEST(VssRequesterTest, AsyncOutcomeTreatsCancelledAndPendingAsFailures) {
  EXPECT_EQ(AsyncOutcome(kOk, kOk, kAsyncFinished), kOk);
  EXPECT_EQ(AsyncOutcome(kOk, kOk, kAsyncCancelled), kAsyncCancelled);
  EXPECT_EQ(AsyncOutcome(kOk, kOk, kAsyncPending), kAsyncPending);
  EXPECT_EQ(AsyncOutcome(kOk, kOk, 0x8004231F), 0x8004231Fu);
  EXPECT_EQ(AsyncOutcome(0x80042302, kOk, kAsyncFinished), 0x80042302u);  // Wait failed
  EXPECT_EQ(AsyncOutcome(kOk, 0x80070005, kAsyncFinished), 0x80070005u);  // QueryStatus failed
  EXPECT_EQ(HresultName(kAsyncCancelled), "VSS_S_ASYNC_CANCELLED");
}

TEST(VssRequesterTest, SnapshotsEveryVolumeInTheDocumentedOrder) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}, {"D:/", "ReFS"}};
  auto set = CreateSnapshotSet(fake, {"C:/", "D:/"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->created);
  ASSERT_EQ(set->volumes.size(), 2u);
  EXPECT_EQ(set->volumes[0].kind, SnapshotKind::kVss);
  EXPECT_EQ(set->volumes[0].snapshot_root, "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy1/");
  EXPECT_EQ(set->volumes[1].snapshot_root, "//?/GLOBALROOT/Device/HarddiskVolumeShadowCopy2/");
  EXPECT_TRUE(set->warnings.empty());
  EXPECT_EQ(fake.calls,
            (std::vector<std::string>{
                "InitializeForBackup", "SetContext", "SetBackupState", "GatherWriterMetadata",
                "IsVolumeSupported C:/", "IsVolumeSupported D:/", "StartSnapshotSet",
                "AddToSnapshotSet C:/", "AddToSnapshotSet D:/", "PrepareForBackup",
                "GatherWriterStatus", "DoSnapshotSet", "GatherWriterStatus",
                "GetSnapshotProperties C:/", "GetSnapshotProperties D:/"}));
  fake.calls.clear();
  EXPECT_TRUE(CompleteSnapshotSet(fake, {"C:/", "D:/"}).ok());
  EXPECT_EQ(fake.calls,
            (std::vector<std::string>{"BackupComplete", "GatherWriterStatus", "DeleteSnapshots"}));
}

TEST(VssRequesterTest, AnUnsupportedVolumeIsReadLiveAndTheOthersSnapshotted) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}, {"E:/", "exFAT"}, {"//nas/share/", "unreachable"}};
  auto set = CreateSnapshotSet(fake, {"C:/", "E:/", "//nas/share/"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_TRUE(set->created);
  ASSERT_EQ(set->volumes.size(), 3u);
  EXPECT_EQ(set->volumes[0].kind, SnapshotKind::kVss);
  EXPECT_EQ(set->volumes[1].kind, SnapshotKind::kNone);
  EXPECT_EQ(set->volumes[1].original_root, "E:/");
  EXPECT_NE(set->volumes[1].detail.find("read live"), std::string::npos) << set->volumes[1].detail;
  EXPECT_EQ(set->volumes[2].kind, SnapshotKind::kNone);
  EXPECT_NE(set->volumes[2].detail.find("VSS_E_OBJECT_NOT_FOUND"), std::string::npos);
  for (const std::string& call : fake.calls) {
    EXPECT_NE(call, "AddToSnapshotSet E:/");  // never offered to VSS
  }
  EXPECT_FALSE(fake.aborted);
}

TEST(VssRequesterTest, AddToSnapshotSetRefusingAVolumeReadsItLive) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}, {"F:/", "FAT32"}};
  // A provider that says "supported" for everything, as IsVolumeSupported
  // may (it answers what could be done, not what the configuration allows).
  class Optimist final : public BackupComponents {
   public:
    explicit Optimist(FakeVssBackupComponents& f) : f_(f) {}
    uint32_t InitializeForBackup() override { return f_.InitializeForBackup(); }
    uint32_t SetContextBackup() override { return f_.SetContextBackup(); }
    uint32_t SetBackupStateCopy() override { return f_.SetBackupStateCopy(); }
    uint32_t GatherWriterMetadata() override { return f_.GatherWriterMetadata(); }
    uint32_t IsVolumeSupported(const std::string&, bool* supported) override {
      *supported = true;
      return kOk;
    }
    uint32_t StartSnapshotSet() override { return f_.StartSnapshotSet(); }
    uint32_t AddToSnapshotSet(const std::string& v) override { return f_.AddToSnapshotSet(v); }
    uint32_t PrepareForBackup() override { return f_.PrepareForBackup(); }
    uint32_t DoSnapshotSet() override { return f_.DoSnapshotSet(); }
    uint32_t GatherWriterStatus(std::vector<WriterStatus>* w) override {
      return f_.GatherWriterStatus(w);
    }
    uint32_t SnapshotDevice(const std::string& v, std::string* d) override {
      return f_.SnapshotDevice(v, d);
    }
    uint32_t BackupComplete() override { return f_.BackupComplete(); }
    uint32_t DeleteSnapshotSet() override { return f_.DeleteSnapshotSet(); }
    uint32_t AbortBackup() override { return f_.AbortBackup(); }

   private:
    FakeVssBackupComponents& f_;
  } optimist(fake);
  auto set = CreateSnapshotSet(optimist, {"C:/", "F:/"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->volumes[0].kind, SnapshotKind::kVss);
  EXPECT_EQ(set->volumes[1].kind, SnapshotKind::kNone);
  EXPECT_NE(set->volumes[1].detail.find("VSS_E_VOLUME_NOT_SUPPORTED"), std::string::npos);
}

TEST(VssRequesterTest, NoSupportedVolumeMakesNoSnapshotSet) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"E:/", "exFAT"}};
  auto set = CreateSnapshotSet(fake, {"E:/"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_FALSE(set->created);
  ASSERT_EQ(set->volumes.size(), 1u);
  EXPECT_EQ(set->volumes[0].kind, SnapshotKind::kNone);
  for (const std::string& call : fake.calls) EXPECT_NE(call, "StartSnapshotSet");
}

TEST(VssRequesterTest, ACancelledSnapshotFailsAndAborts) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}};
  fake.do_snapshot_status = kAsyncCancelled;
  auto set = CreateSnapshotSet(fake, {"C:/"});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), ErrorCode::kSnapshotFailed);
  EXPECT_NE(set.status().detail().find("DoSnapshotSet"), std::string::npos);
  EXPECT_NE(set.status().detail().find("VSS_S_ASYNC_CANCELLED"), std::string::npos)
      << set.status().detail();
  EXPECT_TRUE(fake.aborted);
  EXPECT_EQ(fake.calls.back(), "AbortBackup");
}

TEST(VssRequesterTest, FailedWritersAreCheckedAndReported) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}};
  fake.writers_after_prepare = {{"System Writer", 1, kOk}};
  fake.writers_after_snapshot = {{"System Writer", 1, kOk},
                                 {"SqlServerWriter", 9 /* FAILED_AT_FREEZE */, 0x800423F4}};
  auto set = CreateSnapshotSet(fake, {"C:/"});
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_EQ(set->warnings.size(), 1u);
  EXPECT_NE(set->warnings[0].find("SqlServerWriter"), std::string::npos);
  EXPECT_NE(set->warnings[0].find("VSS_WS_FAILED_AT_FREEZE"), std::string::npos);
  EXPECT_NE(set->warnings[0].find("VSS_E_WRITERERROR_NONRETRYABLE"), std::string::npos);
  EXPECT_EQ(WriterStateName(1), "VSS_WS_STABLE");
  EXPECT_FALSE(WriterFailed(5));
  EXPECT_TRUE(WriterFailed(6));
  EXPECT_TRUE(WriterFailed(15));
}

TEST(VssRequesterTest, AFailureAfterStartSnapshotSetAborts) {
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}};
  fake.prepare_failure = 0x80042319;  // VSS_E_WRITER_NOT_RESPONDING
  auto set = CreateSnapshotSet(fake, {"C:/"});
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().detail().find("PrepareForBackup"), std::string::npos);
  EXPECT_NE(set.status().detail().find("VSS_E_WRITER_NOT_RESPONDING"), std::string::npos);
  EXPECT_EQ(fake.calls.back(), "AbortBackup");
}

TEST(VssRequesterTest, CallsOutOfSequenceAreRefusedByTheFake) {
  // The fake itself keeps the contract: a requester that skipped a step
  // would see VSS_E_BAD_STATE, named with the call.
  FakeVssBackupComponents fake;
  fake.file_systems = {{"C:/", "NTFS"}};
  ASSERT_EQ(fake.InitializeForBackup(), kOk);
  auto set = CreateSnapshotSet(fake, {"C:/"});  // initialises a second time
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().detail().find("InitializeForBackup"), std::string::npos);
  EXPECT_NE(set.status().detail().find("VSS_E_BAD_STATE"), std::string::npos);
}

}  // namespace
}  // namespace obagent::platform::vss
