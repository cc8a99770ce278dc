// Named (alternate) data streams and reparse point kinds on Windows: what
// the Windows Env and RestoreDir call for tree kinds 18 (kWinStream) and 19
// (kWinReparse). Internal to src/platform/win.
#pragma once

#include <windows.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"
#include "win_util.h"

namespace obagent::platform::win {

// The named data streams of the regular file `path` (its "::$DATA" left
// out), sorted by name, with their sizes (FindFirstStreamW /
// FindNextStreamW, FindStreamInfoStandard). None when the file system has
// no named streams (FAT, a file system that does not list them).
Result<std::vector<StreamInfo>> ListNamedStreams(const std::string& path);

// Opens "path:stream" for reading, never following a link.
Result<std::unique_ptr<ReadableFile>> OpenNamedStream(const std::string& path,
                                                      const std::string& stream);

// Opens (creating or emptying when `create`) the named stream `stream` of
// the file `file` already opened and verified by the caller, `file_path`
// being the path it was opened by (no following of links). The stream's
// handle must name the same file as `file` (volume serial and file index),
// so a name swapped between the two opens is refused (kPathEscape).
Result<UniqueHandle> OpenStreamOfFile(HANDLE file, const std::wstring& file_path,
                                      std::string_view stream, bool create,
                                      const std::string& display);

// What ReadMetadata records of tree kinds 3, 18 and 19 for the entry `info`
// describes: a regular file's named streams and FILE_ATTRIBUTE_SPARSE_FILE,
// a link's reparse point kind.
Status ReadStreamMetadata(const std::string& path, const FileInfo& info, FileMetadata& md);

// Marks the open file sparse (FSCTL_SET_SPARSE), before its content is
// written: the zero runs a restore skips then stay unallocated.
Status MarkSparse(HANDLE file, const std::string& display);

// The kind of the name-surrogate reparse point `path` is: a symlink (file
// or directory, by FILE_ATTRIBUTE_DIRECTORY; relative by its flag), a
// junction, or a volume mount point (IO_REPARSE_TAG_MOUNT_POINT whose
// target is a \??\Volume{GUID}\ path). None for other tags.
Result<std::optional<ReparseInfo>> ReadReparseKind(const std::string& path);

// Whether the volume a mount point's target ("Volume{GUID}/", as ReadLink
// gives it) names is on this machine.
bool VolumePresent(std::string_view target);

// Makes the open, empty folder `folder` a junction (or mount point) to
// `target`, an absolute path "C:/x" or "Volume{GUID}/" (FSCTL_SET_REPARSE_POINT,
// IO_REPARSE_TAG_MOUNT_POINT).
Status SetMountPoint(HANDLE folder, std::string_view target, const std::string& display);

}  // namespace obagent::platform::win
