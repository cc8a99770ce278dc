#include "platform/posix/snapshot_posix.h"

#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <random>
#include <sstream>

namespace obagent::platform::posix {

namespace {

std::string DecodeMountField(std::string_view field) {
  // mountinfo escapes space, tab, newline and backslash as \ooo.
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      int value = 0;
      bool octal = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = field[i + k];
        if (c < '0' || c > '7') octal = false;
        value = value * 8 + (c - '0');
      }
      if (octal) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

bool ParseUint(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Whether `path` is `dir` or below it.
bool IsUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Join(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == "/") return dir;
  if (!dir.empty() && dir.back() == '/') return dir + (rel[0] == '/' ? rel.substr(1) : rel);
  return dir + (rel[0] == '/' ? rel : "/" + rel);
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line.empty() ? text : line;
}

std::string RandomToken() {
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist;
  std::ostringstream out;
  out << std::hex << (dist(rd) & 0xFFFFFFFFFFull);
  return out.str();
}

std::string CommandError(const std::string& program, const std::vector<std::string>& args,
                         const Result<CommandResult>& result) {
  std::string line = program;
  for (const auto& a : args) line += " " + a;
  if (!result.ok()) return "'" + line + "' could not run: " + result.status().ToString();
  return "'" + line + "' exited with " + std::to_string(result->exit_code) + ": " +
         FirstLine(result->output);
}

// What one Create made, undone in reverse order by Release.
struct CleanupStep {
  std::string program;  // run this, or, when empty, remove the folder `args[0]`
  std::vector<std::string> args;
};

class PosixSnapshot final : public Snapshot {
 public:
  explicit PosixSnapshot(SnapshotSystem& system) : system_(system) {}
  ~PosixSnapshot() override { (void)Release(); }

  const std::vector<SnapshotVolume>& volumes() const override { return volumes_; }
  Status Release() override { return UndoTo(0); }

  // Undoes the steps after the first `mark` ones, newest first: an LV is
  // unmounted before it is removed. Returns the first error.
  Status UndoTo(size_t mark) {
    Status first;
    while (cleanup_.size() > mark) {
      CleanupStep step = std::move(cleanup_.back());
      cleanup_.pop_back();
      Status st;
      if (step.program.empty()) {
        st = system_.RemoveDir(step.args[0]);
      } else {
        Result<CommandResult> r = system_.Run(step.program, step.args);
        if (!r.ok() || r->exit_code != 0) {
          st = IoError("removing the snapshot: " + CommandError(step.program, step.args, r));
        }
      }
      if (!st.ok() && first.ok()) first = st;
    }
    return first;
  }

  void Add(SnapshotVolume volume, uint64_t device) {
    volumes_.push_back(std::move(volume));
    devices_.push_back(device);
  }
  // Whether `path` (on `device`) is already read from a snapshot: inside a
  // snapshotted volume and on its file system (not a mount or subvolume
  // nested in it).
  bool Covers(const std::string& path, uint64_t device) const {
    const SnapshotVolume* v = VolumeOf(path);
    return v != nullptr && v->kind != SnapshotKind::kNone &&
           devices_[static_cast<size_t>(v - volumes_.data())] == device;
  }

  std::vector<CleanupStep> cleanup_;

 private:
  SnapshotSystem& system_;
  std::vector<SnapshotVolume> volumes_;
  std::vector<uint64_t> devices_;  // st_dev of each volume's origin
};

class PosixSnapshotProvider final : public SnapshotProvider {
 public:
  PosixSnapshotProvider(SnapshotSystem& system, PosixSnapshotOptions options)
      : system_(system), options_(std::move(options)) {
    if (!options_.make_token) options_.make_token = RandomToken;
  }

  Result<std::unique_ptr<Snapshot>> Create(const std::vector<std::string>& sources,
                                           const std::string& work_dir) override {
    auto snapshot = std::make_unique<PosixSnapshot>(system_);
    Job job{*snapshot, work_dir, options_.make_token(), {}, 0, std::nullopt};
    Result<std::string> mountinfo = system_.ReadMountInfo();
    if (mountinfo.ok()) job.mounts = ParseMountInfo(*mountinfo);
    for (const std::string& source : sources) {
      Result<SnapshotSystem::PathInfo> info = system_.Probe(source);
      if (!info.ok()) {
        // The backup reports the missing source itself.
        snapshot->Add({SnapshotKind::kNone, source, "",
                       "cannot look at " + source + ": " + info.status().ToString()},
                      0);
        continue;
      }
      if (snapshot->Covers(source, info->device)) continue;
      if (info->fs_type == kBtrfsSuperMagic) {
        SnapshotBtrfs(job, SubvolumeRoot(source, info->device), info->device, source);
      } else {
        SnapshotLvm(job, source, info->device);
      }
    }
    // File systems mounted inside a snapshotted volume, on the way to or
    // below a source, are empty folders in its snapshot: read them live
    // (their own snapshot, if a source is on one, was taken above).
    for (const MountEntry& m : job.mounts) {
      bool related = std::any_of(sources.begin(), sources.end(), [&](const std::string& s) {
        return IsUnder(s, m.mount_point) || IsUnder(m.mount_point, s);
      });
      const SnapshotVolume* v = snapshot->VolumeOf(m.mount_point);
      if (!related || v == nullptr || v->kind == SnapshotKind::kNone ||
          TrimSlashes(v->original_root) == TrimSlashes(m.mount_point)) {
        continue;
      }
      snapshot->Add({SnapshotKind::kNone, m.mount_point, "",
                     m.mount_point + " is a separate file system (" + m.fs_type + ", " + m.source +
                         ") mounted inside " + v->original_root + "; read live"},
                    0);
    }
    return std::unique_ptr<Snapshot>(std::move(snapshot));
  }

 private:
  struct Job {
    PosixSnapshot& snapshot;
    std::string work_dir;
    std::string token;
    std::vector<MountEntry> mounts;
    int next = 0;
    std::optional<bool> work_dir_made;
    std::string NextName() { return "obagent-" + token + "-" + std::to_string(next++); }
    bool MakeWorkDir(SnapshotSystem& system) {
      if (!work_dir_made) work_dir_made = system.MakeDirs(work_dir).ok();
      return *work_dir_made;
    }
  };

  static std::string TrimSlashes(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    return path;
  }

  // The root of the subvolume holding `source`: the topmost folder above it
  // with the same st_dev (every btrfs subvolume has a device number of its own).
  std::string SubvolumeRoot(const std::string& source, uint64_t device) {
    std::string root = source;
    while (root != "/") {
      std::string parent = Parent(root);
      Result<SnapshotSystem::PathInfo> info = system_.Probe(parent);
      if (!info.ok() || info->device != device || info->fs_type != kBtrfsSuperMagic) break;
      root = parent;
    }
    return root;
  }

  // Snapshots `subvolume` and, as separate snapshots, the subvolumes nested
  // in it (a snapshot shows those as empty folders).
  void SnapshotBtrfs(Job& job, const std::string& subvolume, uint64_t device,
                     const std::string& source) {
    // A snapshot must be on the file system of its subvolume: in the work
    // folder when that is on the same btrfs (same device in mountinfo),
    // else hidden at the top of the subvolume itself. Either way it is in
    // no snapshot it was taken of (nested subvolumes are empty there).
    std::string name = job.NextName();
    std::string target = Join(subvolume, "." + name);
    const MountEntry* source_mount = FindMount(job.mounts, subvolume, 0);
    if (source_mount != nullptr && source_mount->fs_type == "btrfs" && job.MakeWorkDir(system_)) {
      const MountEntry* work_mount = FindMount(job.mounts, job.work_dir, 0);
      Result<SnapshotSystem::PathInfo> work_info = system_.Probe(job.work_dir);
      if (work_mount != nullptr && work_mount->fs_type == "btrfs" &&
          work_mount->source == source_mount->source && work_info.ok() &&
          work_info->fs_type == kBtrfsSuperMagic) {
        target = Join(job.work_dir, name);
      }
    }
    std::vector<std::string> args = {"subvolume", "snapshot", "-r", subvolume, target};
    Result<CommandResult> r = system_.Run("btrfs", args);
    if (!r.ok() || r->exit_code != 0) {
      job.snapshot.Add(
          {SnapshotKind::kNone, source, "",
           "no btrfs snapshot of " + subvolume + ": " + CommandError("btrfs", args, r)},
          device);
      return;
    }
    job.snapshot.cleanup_.push_back({"btrfs", {"subvolume", "delete", target}});
    job.snapshot.Add({SnapshotKind::kBtrfs, subvolume, target, "btrfs subvolume " + subvolume},
                     device);
    for (const std::string& nested : NestedSubvolumes(job, subvolume, source_mount)) {
      Result<SnapshotSystem::PathInfo> info = system_.Probe(nested);
      if (!info.ok() || job.snapshot.Covers(nested, info->device)) continue;
      SnapshotBtrfs(job, nested, info->device, nested);
    }
  }

  // The subvolumes directly below `subvolume`, as paths under its mount
  // (`btrfs subvolume list -o` names them from the top of the file system).
  std::vector<std::string> NestedSubvolumes(Job& job, const std::string& subvolume,
                                            const MountEntry* mount) {
    std::vector<std::string> out;
    if (mount == nullptr) return out;
    std::vector<std::string> args = {"subvolume", "list", "-o", subvolume};
    Result<CommandResult> r = system_.Run("btrfs", args);
    if (!r.ok() || r->exit_code != 0) return out;
    std::string mount_root = TrimSlashes(mount->root);  // "/" or "/@home"
    std::istringstream lines(r->output);
    std::string line;
    while (std::getline(lines, line)) {
      size_t at = line.find(" path ");
      if (at == std::string::npos) continue;
      std::string from_top = "/" + line.substr(at + 6);  // "/@home/user/.cache"
      if (!IsUnder(from_top, mount_root)) continue;      // not reachable through this mount
      std::string rel = mount_root == "/" ? from_top : from_top.substr(mount_root.size());
      std::string path = TrimSlashes(Join(mount->mount_point, rel));
      // Our own snapshots (of earlier or this job) are never backed up.
      bool ours = IsUnder(path, job.work_dir) ||
                  path.substr(path.rfind('/') + 1).rfind(".obagent-", 0) == 0;
      if (path != subvolume && IsUnder(path, subvolume) && !ours) out.push_back(path);
    }
    return out;
  }

  void SnapshotLvm(Job& job, const std::string& source, uint64_t device) {
    PosixSnapshot& snapshot = job.snapshot;
    auto none = [&](std::string why) {
      snapshot.Add({SnapshotKind::kNone, source, "", std::move(why)}, device);
    };
    const MountEntry* mount = FindMount(job.mounts, source, device);
    if (mount == nullptr) return none("no mount found for " + source);
    std::string where = source + " is on " + mount->fs_type + " (" + mount->source + ")";
    // Only a block device can be a logical volume; lvs would say so too,
    // but there is no need to ask for tmpfs, overlay or NFS.
    if (mount->source.rfind("/dev/", 0) != 0) return none(where + ", not on btrfs or LVM");
    std::vector<std::string> lvs_args = LvsArgs(mount->source);
    Result<CommandResult> lvs = system_.Run("lvs", lvs_args);
    if (!lvs.ok() || lvs->exit_code != 0) {
      return none(where + ", not on btrfs or an LVM logical volume");
    }
    Result<LvInfo> lv = ParseLvs(lvs->output);
    if (!lv.ok()) return none(where + ": unexpected lvs output: " + lv.status().ToString());
    if (lv->snapshot) return none(where + ", itself an LVM snapshot");
    std::string name = job.NextName();
    std::vector<std::string> create = {"--snapshot", "--name", name};
    if (lv->thin) {
      // Thin snapshots are created with the activation-skip flag set.
      create.insert(create.end(), {"--setactivationskip", "n"});
    } else {
      uint64_t bytes = LvmSnapshotBytes(*lv);
      if (bytes == 0) {
        return none(where + ": volume group " + lv->vg + " has " +
                    std::to_string(lv->vg_free_bytes >> 20) +
                    " MiB free, too little for an LVM snapshot (at least " +
                    std::to_string(kMinLvmSnapshotBytes >> 20) + " MiB)");
      }
      create.insert(create.end(), {"--size", std::to_string(bytes >> 20) + "m"});
    }
    create.push_back(lv->vg + "/" + lv->lv);
    size_t mark = snapshot.cleanup_.size();
    Result<CommandResult> created = system_.Run("lvcreate", create);
    if (!created.ok() || created->exit_code != 0) {
      return none(where + ": no LVM snapshot: " + CommandError("lvcreate", create, created));
    }
    snapshot.cleanup_.push_back({"lvremove", {"--force", lv->vg + "/" + name}});
    std::string mount_point = Join(job.work_dir, name);
    Status made = system_.MakeDirs(mount_point);
    if (!made.ok()) {
      Status undone = snapshot.UndoTo(mark);
      return none(where + ": no folder to mount the LVM snapshot in: " + made.ToString() +
                  (undone.ok() ? "" : "; " + undone.ToString()));
    }
    snapshot.cleanup_.push_back({"", {mount_point}});
    // The snapshot is writable so that mounting it replays the journal
    // (ext4, xfs) into the snapshot, never the origin; it is mounted
    // read-only. XFS refuses a second mount of the same UUID without nouuid.
    std::string options = mount->fs_type == "xfs" ? "ro,nouuid" : "ro";
    std::vector<std::string> mount_args = {
        "-t", mount->fs_type, "-o", options, "/dev/" + lv->vg + "/" + name, mount_point};
    Result<CommandResult> mounted = system_.Run("mount", mount_args);
    if (!mounted.ok() || mounted->exit_code != 0) {
      Status undone = snapshot.UndoTo(mark);
      return none(where + ": the LVM snapshot could not be mounted: " +
                  CommandError("mount", mount_args, mounted) +
                  (undone.ok() ? "" : "; " + undone.ToString()));
    }
    snapshot.cleanup_.push_back({"umount", {mount_point}});
    // A file system mounted from one of its folders (mount->root) shows
    // that folder at the mount point; the snapshot shows all of it.
    snapshot.Add({SnapshotKind::kLvm, mount->mount_point, Join(mount_point, mount->root),
                  "LVM snapshot " + lv->vg + "/" + name + " of " + lv->vg + "/" + lv->lv},
                 device);
  }

  SnapshotSystem& system_;
  PosixSnapshotOptions options_;
};

}  // namespace

std::vector<MountEntry> ParseMountInfo(std::string_view text) {
  std::vector<MountEntry> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    std::vector<std::string_view> f = SplitFields(line);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 6 || dash == f.end() || f.end() - dash < 3) continue;
    MountEntry e;
    std::string_view dev = f[2];
    size_t colon = dev.find(':');
    if (colon == std::string_view::npos || !ParseUint(dev.substr(0, colon), e.major) ||
        !ParseUint(dev.substr(colon + 1), e.minor)) {
      continue;
    }
    e.root = DecodeMountField(f[3]);
    e.mount_point = DecodeMountField(f[4]);
    e.fs_type = DecodeMountField(*(dash + 1));
    e.source = DecodeMountField(*(dash + 2));
    out.push_back(std::move(e));
  }
  return out;
}

const MountEntry* FindMount(const std::vector<MountEntry>& mounts, const std::string& path,
                            uint64_t device) {
  const MountEntry* best = nullptr;
  bool best_device = false;
  for (const MountEntry& m : mounts) {
    if (!IsUnder(path, m.mount_point)) continue;
    bool same_device = device != 0 && makedev(m.major, m.minor) == device;
    // A mount on the device itself beats one that is not; then the deeper
    // mount point; then the later (it hides the earlier one).
    if (best == nullptr || (same_device && !best_device) ||
        (same_device == best_device && m.mount_point.size() >= best->mount_point.size())) {
      best = &m;
      best_device = same_device;
    }
  }
  return best;
}

std::vector<std::string> LvsArgs(const std::string& device) {
  return {"--noheadings", "--nosuffix", "--units", "b",
          "--separator",  "|",          "-o",      "vg_name,lv_name,lv_size,vg_free,lv_attr",
          device};
}

Result<LvInfo> ParseLvs(std::string_view output) {
  // "  vg0|root|21474836480|1073741824|-wi-ao----"
  std::string_view line = output.substr(0, output.find('\n'));
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  std::vector<std::string_view> parts;
  size_t pos = 0;
  for (;;) {
    size_t bar = line.find('|', pos);
    parts.push_back(line.substr(pos, bar == std::string_view::npos ? line.npos : bar - pos));
    if (bar == std::string_view::npos) break;
    pos = bar + 1;
  }
  LvInfo lv;
  if (parts.size() != 5 || parts[0].empty() || parts[1].empty() ||
      !ParseUint(parts[2], lv.lv_bytes) || !ParseUint(parts[3], lv.vg_free_bytes) ||
      parts[4].empty()) {
    return InvalidArgument("'" + std::string(line) + "'");
  }
  lv.vg = parts[0];
  lv.lv = parts[1];
  // lv_attr's first letter is the volume type: 's' snapshot, 'S' invalid
  // snapshot, 'V' thin volume, '-' plain.
  char type = parts[4][0];
  lv.thin = type == 'V';
  lv.snapshot = type == 's' || type == 'S';
  return lv;
}

uint64_t LvmSnapshotBytes(const LvInfo& lv) {
  uint64_t want = std::max(lv.lv_bytes / 10, kMinLvmSnapshotBytes);
  uint64_t bytes = std::min(want, lv.vg_free_bytes);
  bytes &= ~((1ull << 20) - 1);  // whole MiB: lvcreate rounds up to extents
  return bytes < kMinLvmSnapshotBytes ? 0 : bytes;
}

std::unique_ptr<SnapshotProvider> NewPosixSnapshotProvider(SnapshotSystem& system,
                                                           PosixSnapshotOptions options) {
  return std::make_unique<PosixSnapshotProvider>(system, std::move(options));
}

}  // namespace obagent::platform::posix
