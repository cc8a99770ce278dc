// The verify job: reads every pack of the machine, checks its name (SHA-256),
// its header, every blob's AEAD tag, decompression and id, and that every
// recovery point's trees and chunks are present in the index.
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
  // One line per damaged or missing object, naming it.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

Result<VerifyReport> RunVerify(Repository& repo, size_t threads = 0);

}  // namespace obagent::engine
