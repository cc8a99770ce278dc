// How the Windows Env reads a file that carries a reparse point, and the
// open sequence that follows from it. Microsoft's Data Deduplication backup
// guidance: a normal read opens deduplicated, WOF-compressed and cloud files
// WITHOUT FILE_FLAG_OPEN_REPARSE_POINT, so the filter driver supplies the
// data (below the filter, reads "might return 0s"); only real links
// (symlinks, junctions, mount points) are opened as the entry itself. A
// cloud placeholder whose data is not on the disk is never recalled by a
// backup: it is skipped with ERROR_CLOUD_FILE_ACCESS_DENIED.
// Pure and portable (no Windows API): the Windows Env supplies the opener,
// the unit tests a fake filter. Internal to src/platform.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform::reparse {

// Values from winnt.h / winerror.h.
inline constexpr uint32_t kAttributeReparsePoint = 0x00000400;
inline constexpr uint32_t kAttributeOffline = 0x00001000;
inline constexpr uint32_t kAttributeRecallOnOpen = 0x00040000;
inline constexpr uint32_t kAttributeRecallOnDataAccess = 0x00400000;
inline constexpr uint32_t kTagMountPoint = 0xA0000003;  // junctions and mount points
inline constexpr uint32_t kTagSymlink = 0xA000000C;
inline constexpr uint32_t kTagDedup = 0x80000013;        // Data Deduplication
inline constexpr uint32_t kTagWof = 0x80000017;          // WOF (compact OS, compressed)
inline constexpr uint32_t kTagStorageSync = 0x8000001E;  // Azure File Sync
inline constexpr uint32_t kTagCloud = 0x9000001A;        // cloud files (OneDrive); CLOUD_1..F too
inline constexpr uint32_t kCloudFileAccessDenied = 0x8007018B;  // ERROR_CLOUD_FILE_ACCESS_DENIED
inline constexpr uint32_t kCantResolveFilename = 0x80070781;    // ERROR_CANT_RESOLVE_FILENAME

enum class ReadAs {
  kPlain,            // no reparse point: read as opened
  kLink,             // a name surrogate (symlink, junction, mount point): not read as data
  kThroughFilter,    // deduplicated, WOF, cloud file on disk, ...: reopen without the flag
  kSkipPlaceholder,  // its data is not on this disk (offline, recall on open/access): skip
};

// The decision from the attributes and the reparse tag, as
// FILE_ATTRIBUTE_TAG_INFO (GetFileInformationByHandleEx) or a find result
// (dwFileAttributes, dwReserved0) give them.
ReadAs Classify(uint32_t attributes, uint32_t reparse_tag);

// The calls the open sequence needs (the Windows Env: CreateFileW with
// FILE_FLAG_BACKUP_SEMANTICS, plus FILE_FLAG_OPEN_REPARSE_POINT when asked;
// tests: a fake).
class ReparseOpener {
 public:
  struct Opened {
    std::unique_ptr<ReadableFile> file;
    uint32_t attributes = 0;
    uint32_t reparse_tag = 0;
    uint64_t volume = 0;   // volume serial number
    uint64_t file_id = 0;  // file index on the volume
  };
  virtual ~ReparseOpener() = default;
  virtual Result<Opened> Open(const std::string& path, bool open_reparse_point) = 0;
};

// Opens `path` for reading its data: first the entry itself (the flag
// set: nothing is followed or recalled), then, for a filter-backed file,
// again without the flag, checking that the same file was opened. A link
// fails with kCantResolveFilename (as O_NOFOLLOW), a placeholder with
// kCloudFileAccessDenied; both are final (the caller skips the file, no
// retry would change it).
Result<std::unique_ptr<ReadableFile>> OpenDataForRead(ReparseOpener& opener,
                                                      const std::string& path);

}  // namespace obagent::platform::reparse
