// The verify job: reads every pack of the machine, checks its name (SHA-256),
// its header, every blob's AEAD tag, decompression and id, and that every
// recovery point's trees and chunks are present in the index. Damaged index
// files and recovery points (skipped by the repository) are problems too.
// The copies it finds damaged are noted in the repository
// (Repository::NoteDamage); the caller records them (RecordFoundDamage) so
// the next backup uploads them again. Every file a lost chunk belongs to is
// named with its recovery point and full path.
#pragma once

#include <string>
#include <vector>

#include "obagent/engine/job.h"
#include "obagent/engine/repository.h"
#include "obagent/status.h"

namespace obagent::engine {

struct VerifyReport {
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t bytes = 0;
  uint64_t recovery_points = 0;
  // Files and folders of recovery points that cannot be restored whole
  // (one problem line each: point id, full path, what is lost).
  uint64_t lost_items = 0;
  // Copies a damage record named in packs found whole again (put back from
  // a copy): no longer counted as damaged once the caller saves the records.
  uint64_t damage_cleared = 0;
  // One line per damaged or missing object, naming it.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

Result<VerifyReport> RunVerify(Repository& repo, size_t threads = 0);

}  // namespace obagent::engine
