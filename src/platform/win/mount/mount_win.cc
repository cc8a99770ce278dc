// Windows has no user-space file system API of its own that the agent could
// serve a recovery point through without a driver: WinFsp (a kernel driver
// with a FUSE-like API) or the Projected File System (ProjFS, an optional
// Windows feature) would be needed, and neither is part of the project yet.
// Until then a recovery point is browsed with `obctl recovery items` and
// restored with `obctl recover`.
#include "obagent/platform_mount.h"

namespace obagent::platform {
namespace {

Status MountingUnsupported() {
  return Status(ErrorCode::kUnsupported,
                "mounting a recovery point needs a file system driver on Windows (WinFsp or "
                "ProjFS), which this build does not include; browse it with 'obctl recovery "
                "items' and restore files with 'obctl recover --point ID --item PATH --target "
                "DIR'");
}

}  // namespace

Status ServeReadOnlyMount(ReadOnlyFileSystem&, const std::string&, const MountOptions&) {
  return MountingUnsupported();
}

Status UnmountReadOnly(const std::string&) { return MountingUnsupported(); }

}  // namespace obagent::platform
