// The restore job: recreate chosen items of a recovery point, at their
// original place or under another folder.
//
// Where things land: at the original place each item goes back to its own
// path; under a target folder each item keeps its whole path below the
// target (RestoredPath: /home/me/a.txt -> <target>/home/me/a.txt, C:/data ->
// <target>/C/data), so two items of one point can never meet at one path,
// an item lands where a whole-point restore would put it, and selecting a
// folder together with something inside it restores that once.
//
// Safety: every folder from the root (or the target) down is opened
// relative to its verified parent without following links (platform::
// RestoreDir); a symlink, junction or file found where the point has a
// folder above an item is refused with a clear message, and inside a
// restored folder it is replaced (overwrite) like any other entry, never
// followed. Each file is written to a temporary name beside its destination
// and renamed into place only once all of its chunks were authenticated, so
// a corrupt or missing object never replaces a good file.
//
// Speed: the files of a batch are planned first, their chunks grouped by
// pack and fetched with one ranged read per run of neighbouring blobs,
// several runs in flight, each written out as soon as it arrives.
//
// Names: every name a recovery point holds is created as it is where the
// system can hold it (POSIX: all of them). On Windows a name it cannot hold
// (a backslash, '<>:"|?*', a control character, a trailing dot or space, a
// reserved device name, bytes that are not UTF-8) is restored under an
// escaped name (platform::HostableName) and listed as a warning; it never
// fails the item or its folder. When an escaped name meets another entry of
// its folder, the escaped one gets a copy name ("name (restored)").
//
// Resuming: a file already at its destination with the backed-up size,
// mtime and content (every chunk re-hashed and compared with its id) is not
// written again, and temporary files of an interrupted restore are removed,
// so running an interrupted restore again finishes the job.
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
  std::optional<std::string> target;  // alternate folder; items land at RestoredPath(target, item)
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
  // true: what the restore writes goes to disk while it runs, and the job
  // ends only once all of it is on disk (the file systems restored into are
  // synced; where the platform cannot, Windows, the system writes it back in
  // its own time). A failed sync fails the job. A drill that deletes what it
  // restored sets false.
  bool durable = true;
};

struct RestoreReport {
  JobState state = JobState::kCompleted;
  std::string point_id;
  uint64_t files = 0;  // files, symlinks and hard links written
  uint64_t bytes = 0;  // file bytes written
  // Files found at their destination with the backed-up content (checked
  // chunk by chunk against the point): attributes re-applied, not written.
  uint64_t unchanged = 0;
  uint64_t skipped_existing = 0;
  // Hard links are recreated as links when both names are restored in the
  // same job; a link whose other name is not restored becomes a copy.
  uint64_t hardlinks = 0;
  std::vector<FailedFile> failed_files;  // each listed with the object that failed
  // Items restored, but not quite as backed up: a name this system cannot
  // hold (platform::HostableName) restored under its escaped name, which the
  // message gives. The path is the item's destination with its own name.
  std::vector<FailedFile> warnings;
};

// Restores what it can; the job is Failed (not an error Status) when some
// files could not be restored, so the caller can list them, and
// CompletedWithWarnings when everything was restored but there are warnings.
Result<RestoreReport> RunRestore(Repository& repo, const RestoreOptions& options);

// The items a restore works on, in path order: each once, and an item inside
// another selected item dropped (it comes back with its folder). An empty
// list stays empty (the whole point).
std::vector<std::string> EffectiveItems(const std::vector<std::string>& items);

// Where an item lands: its own path at the original place (no target), else
// RestoredPath(target, item).
std::string RestoreDestination(const std::optional<std::string>& target, const std::string& item);

// Where the point's path `point_path` ("/home/me/a.txt", "C:/data") lands
// under an alternate target: the target plus every component of the path,
// a drive component "C:" becoming the folder "C".
std::string RestoredPath(const std::string& target, const std::string& point_path);

// Finds the node at an absolute path of a recovery point ("/" = root).
// `tree_version`, if given, gets the format version of the tree holding it
// (version 1 recorded no metadata; the root counts as current).
Result<tree::Node> FindNode(Repository& repo, const ObjectId& root, const std::string& path,
                            uint8_t* tree_version = nullptr);

}  // namespace obagent::engine
