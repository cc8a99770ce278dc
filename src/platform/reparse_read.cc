// The reparse-point read policy of the Windows Env (reparse_read.h).
#include "platform/reparse_read.h"

#include <utility>

namespace obagent::platform::reparse {

namespace {

bool IsNameSurrogate(uint32_t tag) { return (tag & 0x20000000u) != 0; }

}  // namespace

ReadAs Classify(uint32_t attributes, uint32_t reparse_tag) {
  bool reparse = (attributes & kAttributeReparsePoint) != 0;
  if (reparse && IsNameSurrogate(reparse_tag)) return ReadAs::kLink;
  // Reading would make the provider download it (OneDrive, Azure File Sync
  // tiered files, HSM): never recalled by a backup.
  if (attributes & (kAttributeOffline | kAttributeRecallOnOpen | kAttributeRecallOnDataAccess)) {
    return ReadAs::kSkipPlaceholder;
  }
  if (reparse) return ReadAs::kThroughFilter;
  return ReadAs::kPlain;
}

Result<std::unique_ptr<ReadableFile>> OpenDataForRead(ReparseOpener& opener,
                                                      const std::string& path) {
  OB_ASSIGN_OR_RETURN(ReparseOpener::Opened entry, opener.Open(path, true));
  switch (Classify(entry.attributes, entry.reparse_tag)) {
    case ReadAs::kPlain:
      return std::move(entry.file);
    case ReadAs::kLink:
      return Status(
          ErrorCode::kIo,
          "open '" + path + "': a symbolic link, junction or mount point is not read as a file",
          kCantResolveFilename);
    case ReadAs::kSkipPlaceholder:
      return Status(ErrorCode::kIo,
                    "open '" + path +
                        "': a cloud file whose data is not on this disk (OneDrive, Azure File "
                        "Sync or another provider); it is not downloaded for the backup",
                    kCloudFileAccessDenied);
    case ReadAs::kThroughFilter:
      break;
  }
  // Below the filter the data is the reparse point's (zeros, a stub):
  // the filter only answers an open without FILE_FLAG_OPEN_REPARSE_POINT.
  OB_ASSIGN_OR_RETURN(ReparseOpener::Opened data, opener.Open(path, false));
  if (data.volume != entry.volume || data.file_id != entry.file_id) {
    return Status(ErrorCode::kNotFound,
                  "open '" + path + "': the file was replaced while it was being opened");
  }
  if (Classify(data.attributes, data.reparse_tag) == ReadAs::kSkipPlaceholder) {
    return Status(ErrorCode::kIo, "open '" + path + "': the file became a cloud placeholder",
                  kCloudFileAccessDenied);
  }
  return std::move(data.file);
}

}  // namespace obagent::platform::reparse
