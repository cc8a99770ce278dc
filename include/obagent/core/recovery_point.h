// A recovery point (snapshot) root object: stored sealed as
// "snapshots/<id>", id = hex SHA-256 of the sealed bytes. It is written last
// by a backup, so a recovery point exists only once all it references does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/crypto.h"
#include "obagent/status.h"

namespace obagent::recovery_point {

constexpr int kVersion = 1;

struct Stats {
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t bytes_scanned = 0;   // logical bytes of all files
  uint64_t bytes_read = 0;      // bytes actually read (changed files)
  uint64_t bytes_new = 0;       // plaintext of new blobs
  uint64_t bytes_uploaded = 0;  // pack bytes uploaded
  uint64_t files_skipped = 0;
};

struct RecoveryPoint {
  int64_t time_ns = 0;  // backup start, UTC
  std::string hostname;
  std::string machine_id;
  std::vector<std::string> paths;  // included roots, absolute
  ObjectId tree;                   // root tree: absolute paths from "/"
  std::string parent;              // id of the recovery point used for change detection
  // Written by 'obctl repair --rewrite-lost': the id of the damaged point
  // this one was made from, without the files whose data is lost. Optional
  // in the format (absent: empty), so older readers still open the point.
  std::string repaired_from;
  Stats stats;
};

Bytes Seal(const crypto::Key& data_key, const RecoveryPoint& point);
Result<RecoveryPoint> Open(const crypto::Key& data_key, ByteView sealed);

}  // namespace obagent::recovery_point
