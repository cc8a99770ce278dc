// The backup job: walk the included paths, chunk changed files, dedup
// against the vault's index, compress, seal, pack, stage in scratch, upload,
// then write the index file and — last — the recovery point. A backup that
// is interrupted at any step leaves at most unreferenced packs behind; the
// recovery points already in the vault are never touched.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "obagent/core/chunker.h"
#include "obagent/core/recovery_point.h"
#include "obagent/engine/job.h"
#include "obagent/engine/repository.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct BackupOptions {
  std::vector<std::string> includes;  // files or folders
  std::vector<std::string> excludes;  // globs; see glob.h
  chunker::Params chunker;
  size_t threads = 0;  // workers for hashing/compression/encryption; 0 = one per core
  size_t pack_size = 16u << 20;
  std::string staging_dir;  // in scratch
  // Reads the sources from a snapshot taken when the job starts (VSS,
  // btrfs, LVM); null reads them live. A snapshot that cannot be taken
  // fails the job where the provider says so (VSS errors the user must fix).
  platform::SnapshotProvider* snapshots = nullptr;
  std::string snapshot_dir;  // in scratch: mount points, snapshots
  std::string hostname;
  std::string machine_id;
  ProgressFn progress;
  // Set by another thread to stop the job: it ends with kCancelled and
  // writes no recovery point (packs already uploaded stay unreferenced
  // until the next prune).
  const std::atomic<bool>* cancel = nullptr;
};

// What changed since the parent point, as vaultd judges it without seeing
// content (docs/operations.md, "Anomaly hold"). Files are regular files and
// symbolic links; a folder is not a file. With no parent point every file
// is new.
struct BackupFigures {
  uint64_t files_new = 0;      // no file of that path in the parent point
  uint64_t files_changed = 0;  // a file of that path whose size, times or inode differ
  // Files of the parent point absent now (removed, excluded, or under a
  // folder that was removed). Counted from the parent's trees of the
  // missing entries only: no second walk of what is still there.
  uint64_t files_deleted = 0;
  // File data new to the vault after dedup, before compression, and the part
  // of it that did not compress (the codec kept it raw: zstd's output was
  // at least 97 % of the input, or the chunk looked random).
  uint64_t bytes_new = 0;
  uint64_t bytes_new_incompressible = 0;
  // bytes_new_incompressible / bytes_new; 0 without new data.
  double IncompressibleShare() const {
    return bytes_new == 0
               ? 0.0
               : static_cast<double>(bytes_new_incompressible) / static_cast<double>(bytes_new);
  }
};

struct BackupReport {
  JobState state = JobState::kCompleted;
  std::string point_id;
  recovery_point::RecoveryPoint point;
  // Files that could not be read, and objects of the vault that were
  // skipped as damaged (path "vault": a recovery point, an index file).
  std::vector<FailedFile> failed_files;
  // Blobs uploaded again because the vault had lost them (their pack is
  // gone) or holds them damaged (a damage record, or found by this backup).
  uint64_t healed_blobs = 0;
  BackupFigures figures;
  // Entries below an included path that carry the nodump flag (chattr +d):
  // not backed up, by design (docs/operations.md), so not warnings.
  std::vector<std::string> excluded_nodump;
  // Included folders deleted and recreated under the same name since the
  // parent point (MARS's "critical inconsistency"): another inode, or born
  // after the change time the parent point recorded for the name. Each was
  // backed up in full, as new, without the parent point's entries below it.
  // Informational, not warnings.
  std::vector<std::string> recreated_roots;
  // What the sources were read from ("btrfs", "vss", "none", "btrfs+none")
  // and, per volume, what was snapshotted or why not.
  std::string snapshot = "none";
  std::vector<platform::SnapshotVolume> snapshot_volumes;
};

// The repository's index must be loaded. Never references a blob without a
// present copy that is not known damaged: such blobs are uploaded again
// from the source (healed_blobs). Fails (and writes no recovery
// point) on vault, scratch or key errors; unreadable files are skipped and
// listed in the report instead.
Result<BackupReport> RunBackup(Repository& repo, const BackupOptions& options);

// "re-uploaded N blobs that were missing or damaged in the vault", or ""
// when the backup healed nothing (the job record's summary, obctl's output).
std::string HealedSummary(const BackupReport& report);
// "N items excluded by the nodump flag (chattr +d)", or "" when none were.
std::string NoDumpSummary(const BackupReport& report);
// "PATH was deleted and recreated since the last backup; it was backed up
// in full", one per recreated included folder joined with "; ", or "".
std::string RecreatedSummary(const BackupReport& report);
// The informational lines of a backup (healed, recreated, nodump; the
// non-empty ones) joined with "; ": the job record's summary.
std::string BackupSummary(const BackupReport& report);

}  // namespace obagent::engine
