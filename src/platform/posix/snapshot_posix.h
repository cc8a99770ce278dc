// Snapshots on Linux: a source inside a btrfs subvolume is read from a
// read-only snapshot of that subvolume (`btrfs subvolume snapshot -r`); a
// source on an LVM logical volume from a snapshot LV (`lvcreate --snapshot`)
// mounted read-only; anything else is read live (kNone), and the backup
// re-checks each file after reading it. A snapshot that cannot be taken
// (not root, no free extents, tools missing) falls back to kNone with the
// reason: the documented behaviour, never a failed job.
//
// Everything the provider asks of the OS goes through SnapshotSystem, so
// the unit tests drive detection, the command lines, path mapping and
// cleanup with a FakeSnapshotSystem. Internal to src/platform/posix.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::platform::posix {

inline constexpr uint64_t kBtrfsSuperMagic = 0x9123683E;  // BTRFS_SUPER_MAGIC, linux/magic.h

struct CommandResult {
  int exit_code = 0;
  std::string output;  // stdout and stderr
};

class SnapshotSystem {
 public:
  virtual ~SnapshotSystem() = default;
  struct PathInfo {
    uint64_t fs_type = 0;  // statfs f_type
    uint64_t device = 0;   // st_dev (each btrfs subvolume has its own)
  };
  // Of the path itself (a final symlink is not followed).
  virtual Result<PathInfo> Probe(const std::string& path) = 0;
  // /proc/self/mountinfo.
  virtual Result<std::string> ReadMountInfo() = 0;
  // Runs a system program (no shell) and collects its output.
  virtual Result<CommandResult> Run(const std::string& program,
                                    const std::vector<std::string>& args) = 0;
  // Creates a folder and its parents (owner only).
  virtual Status MakeDirs(const std::string& path) = 0;
  // Removes an empty folder.
  virtual Status RemoveDir(const std::string& path) = 0;
};

// The real one: statfs/lstat, /proc/self/mountinfo, posix_spawn of programs
// found in /usr/sbin, /usr/bin, /sbin or /bin only (never $PATH: the agent
// runs as root), with LC_ALL=C so their output parses the same everywhere.
std::unique_ptr<SnapshotSystem> NewSnapshotSystem();

// One line of /proc/self/mountinfo.
struct MountEntry {
  uint64_t major = 0;
  uint64_t minor = 0;
  std::string root;         // the folder of the file system mounted here ("/" usually)
  std::string mount_point;  // where
  std::string fs_type;      // "ext4", "btrfs"
  std::string source;       // "/dev/mapper/vg0-root"
};

// Parses mountinfo (octal escapes such as "\040" decoded); bad lines are
// skipped.
std::vector<MountEntry> ParseMountInfo(std::string_view text);

// The mount `path` is under: the last (topmost) mount whose mount point
// contains `path`, preferring one whose device is `device` (major:minor as
// in st_dev). nullptr if none.
const MountEntry* FindMount(const std::vector<MountEntry>& mounts, const std::string& path,
                            uint64_t device);

// `lvs` output for one logical volume.
struct LvInfo {
  std::string vg;
  std::string lv;
  uint64_t lv_bytes = 0;
  uint64_t vg_free_bytes = 0;
  bool thin = false;      // thin volume: its snapshot needs no size
  bool snapshot = false;  // already a snapshot: not snapshotted again
};

// The arguments of the `lvs` call that ParseLvs understands.
std::vector<std::string> LvsArgs(const std::string& device);
Result<LvInfo> ParseLvs(std::string_view output);

// How large a snapshot LV for `lv` is made: a tenth of the origin, at least
// kMinLvmSnapshotBytes, at most what the volume group has free; 0 when even
// the minimum does not fit (then no snapshot).
inline constexpr uint64_t kMinLvmSnapshotBytes = 64ull << 20;
uint64_t LvmSnapshotBytes(const LvInfo& lv);

struct PosixSnapshotOptions {
  // Names the snapshots of one job ("obagent-<token>"); random by default.
  std::function<std::string()> make_token;
};

std::unique_ptr<SnapshotProvider> NewPosixSnapshotProvider(SnapshotSystem& system,
                                                           PosixSnapshotOptions options = {});

}  // namespace obagent::platform::posix
