// The portable part of the snapshot interface (platform.h): how a path is
// mapped into a snapshot. Compiled on every platform.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "obagent/platform.h"

namespace obagent::platform {

namespace {

std::string_view TrimTrailingSlashes(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool SameText(std::string_view a, std::string_view b, bool fold_case) {
  if (a.size() != b.size()) return false;
  if (!fold_case) return a == b;
  return std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// The walker names a Windows drive as a folder of "/" ("/C:/data/x": the
// engine's BackupDirectory starts at "/"), the sources and the VSS volume
// roots name it as the OS does ("C:/data/x"). For a VSS volume both forms
// are the same path: the drive form without the leading '/'.
std::string_view WithoutDriveSlash(std::string_view path) {
  bool drive_folder = path.size() >= 3 && path[0] == '/' &&
                      std::isalpha(static_cast<unsigned char>(path[1])) && path[2] == ':' &&
                      (path.size() == 3 || path[3] == '/');
  return drive_folder ? path.substr(1) : path;
}

// `path` as compared with `volume`'s root.
std::string_view PathForVolume(const SnapshotVolume& volume, std::string_view path) {
  return volume.kind == SnapshotKind::kVss ? WithoutDriveSlash(path) : path;
}

}  // namespace

std::string_view SnapshotKindName(SnapshotKind kind) {
  switch (kind) {
    case SnapshotKind::kNone:
      return "none";
    case SnapshotKind::kVss:
      return "vss";
    case SnapshotKind::kBtrfs:
      return "btrfs";
    case SnapshotKind::kLvm:
      return "lvm";
  }
  return "unknown";
}

// `full_path` as the user named it ("C:/data/x") or as the engine's walker
// names it ("/C:/data/x"): a VSS volume "C:/" contains both.
const SnapshotVolume* Snapshot::VolumeOf(const std::string& full_path) const {
  const SnapshotVolume* best = nullptr;
  size_t best_length = 0;
  for (const SnapshotVolume& volume : volumes()) {
    std::string_view path = PathForVolume(volume, full_path);
    // Windows paths ("C:/Data") compare without case, as the OS does.
    bool fold_case = volume.kind == SnapshotKind::kVss;
    std::string_view root = TrimTrailingSlashes(volume.original_root);
    if (volume.original_root.empty()) continue;
    // `path` is the root itself, or below it (a '/' follows the root).
    bool inside = SameText(path.substr(0, root.size()), root, fold_case) &&
                  (path.size() == root.size() || path[root.size()] == '/');
    if (!inside) continue;
    bool deeper = best == nullptr || root.size() > best_length;
    bool tie_won = best != nullptr && root.size() == best_length &&
                   best->kind == SnapshotKind::kNone && volume.kind != SnapshotKind::kNone;
    if (deeper || tie_won) {
      best = &volume;
      best_length = root.size();
    }
  }
  return best;
}

std::string Snapshot::ReadPath(const std::string& path) const {
  const SnapshotVolume* volume = VolumeOf(path);
  if (volume == nullptr || volume->kind == SnapshotKind::kNone || volume->snapshot_root.empty()) {
    return path;
  }
  std::string_view inside = PathForVolume(*volume, path);
  std::string rest(inside.substr(TrimTrailingSlashes(volume->original_root).size()));  // "" or "/…"
  // The root itself keeps the snapshot root as given: a shadow copy device
  // is only a folder with its trailing separator.
  if (rest.empty() || rest == "/") return volume->snapshot_root;
  return std::string(TrimTrailingSlashes(volume->snapshot_root)) + rest;
}

std::string Snapshot::KindSummary() const {
  std::vector<SnapshotKind> kinds;
  for (const SnapshotVolume& volume : volumes()) {
    if (std::find(kinds.begin(), kinds.end(), volume.kind) == kinds.end()) {
      kinds.push_back(volume.kind);
    }
  }
  if (kinds.empty()) return std::string(SnapshotKindName(SnapshotKind::kNone));
  std::sort(kinds.begin(), kinds.end(), [](SnapshotKind a, SnapshotKind b) {
    // The snapshot kinds first, "none" last: "btrfs+none".
    return (a == SnapshotKind::kNone) < (b == SnapshotKind::kNone) ||
           ((a == SnapshotKind::kNone) == (b == SnapshotKind::kNone) && a < b);
  });
  std::string out;
  for (SnapshotKind kind : kinds) {
    if (!out.empty()) out += "+";
    out += SnapshotKindName(kind);
  }
  return out;
}

}  // namespace obagent::platform
