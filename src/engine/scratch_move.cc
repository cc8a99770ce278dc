// Moving the scratch folder (MARS's "cache location", which MARS moves by
// hand with the service stopped; here one command does it): see MoveScratch
// in machine_settings.h for the order of the steps and why a crash at any
// of them is safe.
#include <memory>
#include <string>
#include <vector>

#include "obagent/engine/agent.h"
#include "obagent/engine/machine_settings.h"
#include "obagent/engine/vault_connection.h"

namespace obagent::engine {

namespace {

// Whether `path` is `dir` or below it (both absolute and normalized).
bool IsInside(const std::string& path, const std::string& dir) {
  if (path == dir) return true;
  std::string prefix = dir.ends_with('/') ? dir : dir + "/";
  return path.starts_with(prefix);
}

// What the agent keeps in scratch besides the key file: the index and tree
// cache ("cache") and those of machines recovered from ("cache-<id>").
// Anything else in the folder is not ours and stays where it is. Packs in
// "staging" belong to a job that has ended (none runs: we hold the writer
// lock) and are never needed again, so they are dropped, not copied.
bool IsCacheFolder(const platform::DirEntry& e) {
  return e.kind == platform::FileKind::kDirectory &&
         (e.name == "cache" || e.name.starts_with("cache-"));
}

struct FileToCopy {
  std::string relative;
  uint64_t size = 0;
};

// Regular files below dir/relative, recursively. Temporary files of an
// interrupted atomic write (".tmp-…") are left out.
Status CollectFiles(platform::Env& env, const std::string& root, const std::string& relative,
                    std::vector<FileToCopy>& out) {
  OB_ASSIGN_OR_RETURN(auto entries, env.ListDir(root + "/" + relative));
  for (const platform::DirEntry& e : entries) {
    std::string rel = relative + "/" + e.name;
    if (e.kind == platform::FileKind::kDirectory) {
      OB_RETURN_IF_ERROR(CollectFiles(env, root, rel, out));
    } else if (e.kind == platform::FileKind::kRegular && !e.name.starts_with(".tmp-")) {
      OB_ASSIGN_OR_RETURN(platform::FileInfo info, env.Lstat(root + "/" + rel));
      out.push_back({rel, info.size});
    }
  }
  return Status::Ok();
}

std::string Parent(const std::string& path) { return path.substr(0, path.rfind('/')); }

// Errors writing to the new folder, in the catalogue's terms.
Status NewScratchError(const std::string& dir, const Status& st) {
  ErrorCode code =
      st.code() == ErrorCode::kNoSpace ? ErrorCode::kLowDiskSpace : ErrorCode::kScratchInaccessible;
  return Status(code, "cannot write to the new scratch folder " + dir + ": " + st.ToString(),
                st.os_error());
}

}  // namespace

Status MoveScratch(platform::Env& env, const std::string& state_dir,
                   const std::string& new_dir_in) {
  OB_ASSIGN_OR_RETURN(AgentConfig config, LoadAgentConfig(env, state_dir));
  if (new_dir_in.empty()) return InvalidArgument("give the new scratch folder");
  OB_ASSIGN_OR_RETURN(const std::string new_dir, env.AbsolutePath(new_dir_in));
  const std::string old_dir = config.scratch_dir;
  if (new_dir == old_dir) return Status::Ok();
  if (IsInside(new_dir, old_dir) || IsInside(old_dir, new_dir)) {
    return InvalidArgument("the new scratch folder " + new_dir + " and the current one " + old_dir +
                           " must not contain each other");
  }
  Result<platform::FileInfo> old_info = env.Lstat(old_dir);
  if (!old_info.ok() || old_info->kind != platform::FileKind::kDirectory) {
    return Status(ErrorCode::kActivationFailed,
                  "the current scratch folder " + old_dir +
                      " is missing, so there is nothing to move; register again with --scratch " +
                      new_dir + " and your passphrase");
  }
  Result<Bytes> kek = env.ReadFile(old_dir + "/" + kKekFileName);
  if (!kek.ok()) {
    return Status(ErrorCode::kPassphraseNotConfigured,
                  "the key file " + old_dir + "/" + kKekFileName +
                      " is missing or unreadable; register again with --scratch " + new_dir +
                      " and your passphrase");
  }

  // No backup, prune or passphrase change may write to scratch meanwhile.
  OB_ASSIGN_OR_RETURN(std::unique_ptr<VaultConnection> vault, ConnectVault(env, config));
  OB_ASSIGN_OR_RETURN(auto writer, vault->AcquireWriter("scratch move"));

  Status created = env.CreateDirs(new_dir, true);
  if (!created.ok()) return NewScratchError(new_dir, created);
  OB_RETURN_IF_ERROR(CheckScratch(env, new_dir));

  // A key file already there is either ours (a move that was interrupted)
  // or another registration's, which must never be overwritten.
  const std::string new_kek = new_dir + "/" + kKekFileName;
  if (Result<Bytes> existing = env.ReadFile(new_kek); existing.ok() && *existing != *kek) {
    return Status(ErrorCode::kAlreadyExists,
                  new_dir +
                      " already holds the key file of another registration; choose an "
                      "empty folder");
  }

  std::vector<FileToCopy> files;
  OB_ASSIGN_OR_RETURN(auto entries, env.ListDir(old_dir));
  std::vector<std::string> cache_folders;
  for (const platform::DirEntry& e : entries) {
    if (!IsCacheFolder(e)) continue;
    cache_folders.push_back(e.name);
    OB_RETURN_IF_ERROR(CollectFiles(env, old_dir, e.name, files));
  }
  uint64_t bytes = kek->size();
  for (const FileToCopy& f : files) bytes += f.size;
  OB_ASSIGN_OR_RETURN(platform::DiskSpace space, env.GetDiskSpace(new_dir));
  if (space.total_bytes > 0 &&
      static_cast<double>(space.free_bytes) - static_cast<double>(bytes) <
          kMinScratchFreeFraction * static_cast<double>(space.total_bytes)) {
    return Status(ErrorCode::kLowDiskSpace,
                  "the volume of " + new_dir + " has " + std::to_string(space.free_bytes >> 20) +
                      " MiB free; the scratch folder needs " + std::to_string(bytes >> 20) +
                      " MiB and at least 5 % of the volume must stay free");
  }

  // Copy: the caches first, the key last, each file written atomically and
  // fsynced; agent.json still names the old folder throughout.
  for (const FileToCopy& f : files) {
    OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(old_dir + "/" + f.relative));
    std::string target = new_dir + "/" + f.relative;
    Status st = env.CreateDirs(Parent(target), true);
    if (st.ok()) st = env.WriteFileAtomic(target, data, true);
    if (!st.ok()) return NewScratchError(new_dir, st);
  }
  Status st = env.WriteFileAtomic(new_kek, *kek, true);
  if (!st.ok()) return NewScratchError(new_dir, st);
  Result<Bytes> read_back = env.ReadFile(new_kek);
  if (!read_back.ok() || *read_back != *kek) {
    return Status(ErrorCode::kScratchInaccessible,
                  "the key file copied to " + new_dir + " does not read back as written");
  }

  // The switch: one atomic rename of agent.json.
  config.scratch_dir = new_dir;
  OB_RETURN_IF_ERROR(SaveAgentConfig(env, state_dir, config));

  // From here on the move has happened; what cannot be removed from the old
  // folder only costs space (and is reported).
  std::vector<std::string> left;
  for (const std::string& name : cache_folders) {
    if (!env.RemoveAll(old_dir + "/" + name).ok()) left.push_back(name);
  }
  if (env.Exists(old_dir + "/staging") && !env.RemoveAll(old_dir + "/staging").ok()) {
    left.push_back("staging");
  }
  if (!env.RemoveFile(old_dir + "/" + kKekFileName).ok()) left.push_back(kKekFileName);
  Result<std::vector<platform::DirEntry>> rest = env.ListDir(old_dir);
  if (rest.ok() && rest->empty()) (void)env.RemoveAll(old_dir);
  if (!left.empty()) {
    std::string names;
    for (const std::string& n : left) names += (names.empty() ? "" : ", ") + n;
    return Status(ErrorCode::kIo, "the scratch folder moved to " + new_dir +
                                      ", but these could not be removed from " + old_dir + ": " +
                                      names + "; delete them by hand");
  }
  return Status::Ok();
}

}  // namespace obagent::engine
