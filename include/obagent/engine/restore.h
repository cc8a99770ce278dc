// The restore job: recreate chosen items of a recovery point, at their
// original place or under another folder. Each file is written to a
// temporary name beside its destination and renamed into place only once
// all of its chunks were authenticated, so a corrupt or missing object never
// replaces a good file; every write goes through platform::RestoreDir, which
// refuses to follow symlinks, so nothing lands outside the target.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "obagent/engine/job.h"
#include "obagent/engine/repository.h"
#include "obagent/status.h"

namespace obagent::engine {

enum class ConflictPolicy {
  kOverwrite,   // replace what is there
  kCreateCopy,  // keep what is there, restore as "name (restored)", "name (restored 2)", …
  kSkip,        // keep what is there, restore nothing for that item
};

struct RestoreOptions {
  std::string point;                  // "latest", an id or an id prefix
  std::vector<std::string> items;     // absolute paths in the point; empty = everything backed up
  std::optional<std::string> target;  // alternate folder; items land as target/<item name>
  ConflictPolicy conflict = ConflictPolicy::kOverwrite;
  // false: restored files and folders get the permissions new ones get here
  // (umask, inherited ACL) and keep the restoring account as owner, instead
  // of the backed-up mode and owner (a copy for another user, say). Times
  // are restored either way.
  bool restore_permissions = true;
  size_t threads = 0;
  ProgressFn progress;
  // Set by another thread to stop the job: nothing more is started, files
  // being written are not put in place, and RunRestore returns kCancelled.
  // What was restored before stays.
  const std::atomic<bool>* cancel = nullptr;
};

struct RestoreReport {
  JobState state = JobState::kCompleted;
  std::string point_id;
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t skipped_existing = 0;
  // Hard links are recreated as links when both names are restored in the
  // same job; a link whose other name is not restored becomes a copy.
  uint64_t hardlinks = 0;
  std::vector<FailedFile> failed_files;  // each listed with the object that failed
};

// Restores what it can; the job is Failed (not an error Status) when some
// files could not be restored, so the caller can list them.
Result<RestoreReport> RunRestore(Repository& repo, const RestoreOptions& options);

// Finds the node at an absolute path of a recovery point ("/" = root).
Result<tree::Node> FindNode(Repository& repo, const ObjectId& root, const std::string& path);

}  // namespace obagent::engine
