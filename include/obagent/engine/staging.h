// Staged packs left by jobs that died: a backup stages each pack in
// <scratch>/staging before uploading it and removes it afterwards, so a
// backup killed while uploading leaves files there for good. At the start of
// the next job — under the writer lock, so no other job of the machine is
// staging — each staged file is either uploaded and indexed (an intact pack:
// its bytes hash to its name and its header opens with this machine's key,
// which the vault does not hold yet) or removed (the vault has it already,
// or it is not an intact pack of this machine).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/engine/repository.h"
#include "obagent/platform.h"
#include "obagent/status.h"

namespace obagent::engine {

struct StagingReclaim {
  std::vector<std::string> uploaded;  // pack names, now in the vault and indexed
  std::vector<std::string> removed;   // file names, with why: "<name> (reason)"
  uint64_t bytes_uploaded = 0;
  uint64_t bytes_removed = 0;
  bool empty() const { return uploaded.empty() && removed.empty(); }
};

// The caller holds the writer lock. The repository's index must be loaded;
// uploaded packs are added to it (one new index file). A file that cannot be
// read or removed is left for the next job and does not fail this one
// unless the vault refuses the upload.
Result<StagingReclaim> ReclaimStagedPacks(Repository& repo, const std::string& staging_dir);

// One line for the job log: "Reclaimed staged packs: 2 uploaded (…), 1 removed (…)".
std::string DescribeStagingReclaim(const StagingReclaim& r);

}  // namespace obagent::engine
