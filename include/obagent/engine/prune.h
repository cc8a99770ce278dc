// The prune job: forget recovery points and free the vault space that only
// they used. Prune needs the machine to itself (in service mode the vault's
// lease; in embedded mode no backup may run at the same time): it deletes
// packs that are not in any index file, and a concurrent backup's packs are
// not, until that backup writes its index.
//
// Crash-safe order — the process may die between any two steps, or inside
// one, and every kept recovery point stays restorable:
//  1. Read every index file and every kept point's trees; collect the blobs
//     the kept points reference. A tree that cannot be read aborts the job
//     before anything is changed.
//  2. Delete the recovery points (snapshots/<id>) that are not kept. From
//     here on nothing references the blobs only they used.
//  3. Plan each pack (first in name order providing a blob wins): every
//     referenced blob present → keep; none → delete; some, with more than
//     30 % of the pack's bytes unreferenced → repack: the referenced sealed
//     blobs are copied as they are (authenticated, not re-encrypted) into new
//     packs, which are uploaded; otherwise keep. New packs are in no index
//     yet, so a crash leaves them as unreferenced packs the next prune
//     deletes.
//  4. Write ONE new index file naming every kept and every new pack.
//  5. Delete all old index files. Until the new index exists they all stay;
//     from then on old and new index files name only packs still present.
//  6. Delete the packs no longer named by the new index: dropped, repacked,
//     and packs that were in no index file at all (left by killed backups or
//     prunes). No index file names them any more, so no index ever names a
//     missing pack.
// Held points: vaultd refuses in step 2 to delete a point younger than its
// retention floor; prune then keeps that point, plans again with it kept
// and reports it held (PruneReport::held_points) instead of failing.
// Damage: prune refuses (kCorrupt, nothing changed) while an index file or
// a recovery point is damaged, since what it names cannot be known and
// deleting could take data it needs; a copy a damage record names provides
// nothing (another copy, or none, is planned instead).
// When no pack needs to go, steps 4–6 are skipped (apart from deleting
// unindexed packs), so a prune that frees nothing does not rewrite the index.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/engine/repository.h"
#include "obagent/engine/retention.h"
#include "obagent/status.h"

namespace obagent::engine {

struct PruneOptions {
  bool dry_run = false;  // plan and report; change nothing
  // Repack a partly used pack when more than this share of its bytes is unused.
  double repack_threshold = 0.30;
  size_t pack_size = 16u << 20;  // target size of repacked packs
};

struct PruneReport {
  bool dry_run = false;
  std::vector<std::string> kept_points;     // ids, oldest first
  std::vector<std::string> removed_points;  // ids, oldest first
  // Points the policy dropped but vaultd refused to delete, being younger
  // than its retention floor (kProtectedByRetentionFloor): kept (they are in
  // kept_points too) until a later prune.
  std::vector<std::string> held_points;
  uint64_t packs_kept = 0;
  uint64_t packs_deleted = 0;   // nothing referenced (unindexed ones included)
  uint64_t packs_repacked = 0;  // old packs rewritten
  uint64_t packs_written = 0;   // new packs holding what was repacked
  uint64_t index_files_deleted = 0;
  uint64_t bytes_deleted = 0;  // of the deleted and repacked packs
  uint64_t bytes_written = 0;  // of the new packs
  // bytes_deleted - bytes_written (what the vault shrinks by; 0 if negative).
  uint64_t bytes_freed() const {
    return bytes_deleted > bytes_written ? bytes_deleted - bytes_written : 0;
  }
};

// Keeps exactly the recovery points in keep_ids (full ids) and prunes the
// rest. kInvalidArgument for an unknown id, or for an empty keep_ids while
// the machine has recovery points (removing every point is refused). The
// repository's index is reloaded at the end.
Result<PruneReport> RunPrune(Repository& repo, const std::vector<std::string>& keep_ids,
                             const PruneOptions& options = {});

// Validates the policy, selects with PointsToKeep at now_ns and prunes.
Result<PruneReport> PruneWithPolicy(Repository& repo, const RetentionPolicy& policy, int64_t now_ns,
                                    const PruneOptions& options = {});

}  // namespace obagent::engine
