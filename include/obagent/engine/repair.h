// obctl repair: heals what can be healed in one machine's part of the vault,
// in the spirit of restic's `repair index` / `repair snapshots` and Kopia's
// maintenance. Needs the machine to itself (the caller holds the writer
// lock: vaultd's lease, or writer.lock of a local vault).
//
//  1. Rebuild the index from the packs present: every pack under data/ has
//     its header read (two ranged reads; with read_data the whole pack, its
//     name checked and every blob authenticated) and the new index covers
//     every intact blob of every present pack. A pack whose header cannot be
//     read is named; the blobs an old index file gave for it are kept (and,
//     with read_data, checked one by one). Index files that do not open are
//     named and never used.
//     Kill-safe order: the new index file(s) are written first; only then are
//     the old ones removed (damaged ones, ones naming absent packs, and ones
//     the new index now covers). At every instant the vault holds an index
//     covering every present pack. When the index already says exactly what
//     the packs hold, nothing is written.
//  2. Check every recovery point, one by one: a point that cannot be read is
//     named; in the others every file whose chunks are not all in the
//     rebuilt index, and every folder whose listing (tree) is lost, is named
//     by its full path.
//  3. With rewrite_lost, a damaged point is written again without what it
//     lost: its trees rewritten bottom-up (all other metadata kept), new
//     trees packed, uploaded and indexed before the new point, which names
//     the old one in "repaired_from". The damaged point stays unless
//     forget_damaged asks to remove it (after its rewrite is saved). A point
//     that already has a repaired copy is not rewritten again.
//  4. With forget_damaged, points that cannot be read at all (or whose root
//     listing is lost) are removed too: in service mode no other command
//     can remove a point that does not open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/engine/repository.h"
#include "obagent/status.h"

namespace obagent::engine {

struct RepairOptions {
  bool read_data = false;     // read whole packs, check every blob
  bool rewrite_lost = false;  // write damaged points again without their lost files
  // Remove each damaged point whose repaired copy is saved, and the points
  // that hold nothing readable (unreadable, or their root listing lost).
  bool forget_damaged = false;
  bool dry_run = false;          // report only; write and remove nothing
  size_t threads = 0;            // pack reads in parallel (0: one per core)
  size_t pack_size = 16u << 20;  // of the packs holding rewritten trees
};

struct DamagedPoint {
  std::string id;
  int64_t time_ns = 0;
  // Full paths of the lost files; a folder whose listing is lost ends in
  // "/" (everything below it is lost).
  std::vector<std::string> lost;
  std::string rewritten_as;  // the repaired point's id (new or found), or ""
  bool removed = false;      // the damaged point was removed (forget_damaged)
  std::string note;          // why it was not rewritten, if it was not
};

struct RepairReport {
  bool dry_run = false;
  uint64_t packs = 0;          // present
  uint64_t blobs_indexed = 0;  // in the rebuilt index
  // "<pack>: why" for packs that are damaged or cannot be read.
  std::vector<std::string> damaged_packs;
  uint64_t index_files = 0;                      // found
  std::vector<std::string> damaged_index_files;  // "<name>: why"
  std::vector<std::string> index_files_written;
  std::vector<std::string> index_files_removed;
  bool index_rewritten = false;  // false: the index already matched the packs
  // Packs named by the old index but absent from the vault.
  std::vector<std::string> missing_packs;
  uint64_t points = 0;                         // recovery points found
  std::vector<std::string> unreadable_points;  // "<id>: why"
  std::vector<DamagedPoint> damaged_points;
  std::vector<std::string> points_written;  // repaired points
  std::vector<std::string> points_removed;  // forget_damaged
  // Nothing damaged was found (the index may still have been rewritten).
  bool clean() const {
    return damaged_packs.empty() && damaged_index_files.empty() && missing_packs.empty() &&
           unreadable_points.empty() && damaged_points.empty();
  }
};

// The repository's index is the rebuilt one afterwards.
Result<RepairReport> RunRepair(Repository& repo, const RepairOptions& options = {});

}  // namespace obagent::engine
