// The reparse-point read policy of the Windows Env (platform/reparse_read.h):
// the decision table, and the open sequence against a fake filter driver.
// Wine has no deduplication, WOF or cloud-files filter and reports no such
// tags, so the fake plays the documented behaviour: opened with
// FILE_FLAG_OPEN_REPARSE_POINT a filter-backed file reads below the filter
// (zeros of the right size); opened without it, the data. A placeholder
// opened without the flag would be recalled (downloaded): counted here.
#include "platform/reparse_read.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace obagent::platform::reparse {
namespace {

TEST(ReparseReadTest, DecisionTable) {
  struct Row {
    uint32_t attributes;
    uint32_t tag;
    ReadAs expected;
  };
  const uint32_t rp = kAttributeReparsePoint;
  const Row rows[] = {
      {0x20 /* archive */, 0, ReadAs::kPlain},
      {0x80 /* normal */, 0, ReadAs::kPlain},
      {rp, kTagSymlink, ReadAs::kLink},
      {rp | 0x10 /* directory */, kTagMountPoint, ReadAs::kLink},
      {rp, 0xA000001D /* WSL symlink: a name surrogate */, ReadAs::kLink},
      {rp, kTagDedup, ReadAs::kThroughFilter},
      {rp | 0x200 /* sparse */, kTagDedup, ReadAs::kThroughFilter},
      {rp, kTagWof, ReadAs::kThroughFilter},
      {rp, kTagStorageSync, ReadAs::kThroughFilter},  // Azure File Sync, on disk
      {rp, kTagCloud, ReadAs::kThroughFilter},        // OneDrive, hydrated
      {rp, 0x9000601A /* CLOUD_6 */, ReadAs::kThroughFilter},
      {rp, 0x80000023 /* an unknown filter's tag */, ReadAs::kThroughFilter},
      {rp | kAttributeRecallOnDataAccess, kTagCloud, ReadAs::kSkipPlaceholder},
      {rp | kAttributeRecallOnOpen, kTagCloud, ReadAs::kSkipPlaceholder},
      {rp | kAttributeOffline | kAttributeRecallOnDataAccess, kTagStorageSync,
       ReadAs::kSkipPlaceholder},
      {kAttributeOffline, 0, ReadAs::kSkipPlaceholder},  // HSM without a tag
      {0, kTagSymlink, ReadAs::kPlain},                  // a stale tag without the attribute
  };
  for (const Row& row : rows) {
    EXPECT_EQ(Classify(row.attributes, row.tag), row.expected)
        << std::hex << "attributes 0x" << row.attributes << " tag 0x" << row.tag;
  }
}

class MemoryFile final : public ReadableFile {
 public:
  explicit MemoryFile(std::string data) : data_(std::move(data)) {}
  Result<size_t> Read(uint8_t* buffer, size_t n) override {
    OB_ASSIGN_OR_RETURN(size_t got, ReadAt(position_, buffer, n));
    position_ += got;
    return got;
  }
  Result<size_t> ReadAt(uint64_t offset, uint8_t* buffer, size_t n) override {
    if (offset >= data_.size()) return size_t{0};
    size_t got = std::min(n, data_.size() - static_cast<size_t>(offset));
    std::copy_n(data_.data() + offset, got, buffer);
    return got;
  }
  Result<FileInfo> Stat() override {
    FileInfo info;
    info.size = data_.size();
    return info;
  }

 private:
  std::string data_;
  uint64_t position_ = 0;
};

// A fake volume with a filter driver on it, as Microsoft documents it.
class FakeFilterVolume final : public ReparseOpener {
 public:
  struct Entry {
    std::string data;
    uint32_t attributes = 0;
    uint32_t tag = 0;
    uint64_t id = 0;
  };
  std::map<std::string, Entry> files;
  std::vector<std::string> opened_without_flag;  // through the filter (a recall, for a placeholder)

  Result<Opened> Open(const std::string& path, bool open_reparse_point) override {
    auto it = files.find(path);
    if (it == files.end()) return NotFound("no " + path);
    const Entry& e = it->second;
    if (!open_reparse_point) opened_without_flag.push_back(path);
    bool below_filter = open_reparse_point && (e.attributes & kAttributeReparsePoint) &&
                        Classify(e.attributes, e.tag) != ReadAs::kLink;
    Opened out;
    out.file =
        std::make_unique<MemoryFile>(below_filter ? std::string(e.data.size(), '\0') : e.data);
    out.attributes = e.attributes;
    out.reparse_tag = e.tag;
    out.volume = 7;
    out.file_id = e.id;
    if (!open_reparse_point && replace_on_reopen) out.file_id += 1000;
    return out;
  }
  bool replace_on_reopen = false;
};

std::string ReadAll(ReadableFile& file) {
  std::string out;
  uint8_t buf[7];
  for (;;) {
    auto got = file.Read(buf, sizeof buf);
    EXPECT_TRUE(got.ok());
    if (!got.ok() || *got == 0) return out;
    out.append(reinterpret_cast<const char*>(buf), *got);
  }
}

TEST(ReparseReadTest, FilterBackedFilesAreReadThroughTheFilterNotAsZeros) {
  FakeFilterVolume volume;
  const uint32_t rp = kAttributeReparsePoint;
  volume.files["C:/plain"] = {"plain data", 0x20, 0, 1};
  volume.files["C:/dedup"] = {"deduplicated data", rp, kTagDedup, 2};
  volume.files["C:/wof"] = {"compressed data", rp, kTagWof, 3};
  volume.files["C:/onedrive"] = {"hydrated cloud data", rp, kTagCloud, 4};
  volume.files["C:/afs"] = {"azure file sync data", rp, kTagStorageSync, 5};
  for (const auto& [path, entry] : volume.files) {
    auto file = OpenDataForRead(volume, path);
    ASSERT_TRUE(file.ok()) << path << ": " << file.status().ToString();
    EXPECT_EQ(ReadAll(**file), entry.data) << path;
  }
  // The plain file is opened once (as the entry itself); the others again
  // through the filter.
  EXPECT_EQ(volume.opened_without_flag,
            (std::vector<std::string>{"C:/afs", "C:/dedup", "C:/onedrive", "C:/wof"}));
}

TEST(ReparseReadTest, PlaceholdersAreSkippedWithoutRecallAndLinksRefused) {
  FakeFilterVolume volume;
  const uint32_t rp = kAttributeReparsePoint;
  volume.files["C:/online-only"] = {"in the cloud", rp | kAttributeRecallOnDataAccess, kTagCloud,
                                    1};
  volume.files["C:/tiered"] = {"in azure", rp | kAttributeOffline | kAttributeRecallOnDataAccess,
                               kTagStorageSync, 2};
  volume.files["C:/link"] = {"", rp, kTagSymlink, 3};
  volume.files["C:/junction"] = {"", rp | 0x10, kTagMountPoint, 4};
  for (const char* path : {"C:/online-only", "C:/tiered"}) {
    auto file = OpenDataForRead(volume, path);
    ASSERT_FALSE(file.ok()) << path;
    EXPECT_EQ(file.status().os_error(), kCloudFileAccessDenied) << path;
    EXPECT_NE(file.status().detail().find("not downloaded"), std::string::npos);
  }
  for (const char* path : {"C:/link", "C:/junction"}) {
    auto file = OpenDataForRead(volume, path);
    ASSERT_FALSE(file.ok()) << path;
    EXPECT_EQ(file.status().os_error(), kCantResolveFilename) << path;
  }
  EXPECT_TRUE(volume.opened_without_flag.empty());  // nothing recalled, nothing followed
  EXPECT_EQ(OpenDataForRead(volume, "C:/missing").status().code(), ErrorCode::kNotFound);
}

TEST(ReparseReadTest, AFileReplacedBetweenTheTwoOpensIsNotRead) {
  FakeFilterVolume volume;
  volume.files["C:/dedup"] = {"data", kAttributeReparsePoint, kTagDedup, 2};
  volume.replace_on_reopen = true;
  auto file = OpenDataForRead(volume, "C:/dedup");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace obagent::platform::reparse
