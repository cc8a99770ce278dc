// Reclaiming the staged packs of dead jobs (staging.h).
#include "obagent/engine/staging.h"

#include "obagent/core/blob_id.h"
#include "obagent/core/index.h"
#include "obagent/core/pack.h"

namespace obagent::engine {

namespace {

constexpr uint64_t kMaxStagedPackBytes = uint64_t{1} << 30;

bool IsPackName(const std::string& name) { return BlobId::IsCanonicalHex(name); }

}  // namespace

Result<StagingReclaim> ReclaimStagedPacks(Repository& repo, const std::string& staging_dir) {
  StagingReclaim out;
  if (staging_dir.empty()) return out;
  platform::Env& env = repo.env();
  Result<std::vector<platform::DirEntry>> entries = env.ListDir(staging_dir);
  if (!entries.ok()) {
    if (entries.status().code() == ErrorCode::kNotFound) return out;
    return entries.status().WithContext("listing the staging folder");
  }
  std::vector<index::PackEntries> indexed;
  for (const platform::DirEntry& entry : *entries) {
    std::string path = staging_dir + "/" + entry.name;
    auto remove = [&](const std::string& why, uint64_t size) {
      if (env.RemoveFile(path).ok()) {
        out.removed.push_back(entry.name + " (" + why + ")");
        out.bytes_removed += size;
      }
    };
    if (entry.kind != platform::FileKind::kRegular) continue;
    // No pack is near this size (packs are tens of MiB): not read into memory.
    if (Result<platform::FileInfo> info = env.Lstat(path);
        info.ok() && info->size > kMaxStagedPackBytes) {
      remove("too large to be a pack", info->size);
      continue;
    }
    Result<Bytes> bytes = env.ReadFile(path);
    if (!bytes.ok()) continue;  // left for the next job
    if (!IsPackName(entry.name) || pack::PackName(*bytes) != entry.name) {
      remove("not a complete pack", bytes->size());
      continue;
    }
    Result<std::vector<pack::BlobEntry>> header =
        pack::ReadPackHeader(repo.keys().data_key, *bytes);
    if (!header.ok()) {
      remove("not a pack of this machine: " + header.status().detail(), bytes->size());
      continue;
    }
    const std::string key = RepoLayout::Pack(entry.name);
    OB_ASSIGN_OR_RETURN(bool in_vault, repo.store().Exists(key));
    if (in_vault) {
      // Uploaded before the job died. If no index names it yet, the next
      // prune removes it (or 'obctl repair' indexes it).
      remove("already in the vault", bytes->size());
      continue;
    }
    OB_RETURN_IF_ERROR(repo.store()
                           .PutStaged(key, path, *bytes)
                           .WithContext("uploading staged pack " + entry.name));
    (void)env.RemoveFile(path);  // a local vault has taken the file over already
    out.uploaded.push_back(entry.name);
    out.bytes_uploaded += bytes->size();
    indexed.push_back({entry.name, std::move(header).value()});
  }
  // Indexed after the uploads: a crash in between leaves packs in the vault
  // that no index names, which the next prune removes.
  OB_RETURN_IF_ERROR(repo.SaveIndexFile(indexed).WithContext("indexing reclaimed staged packs"));
  return out;
}

std::string DescribeStagingReclaim(const StagingReclaim& r) {
  auto join = [](const std::vector<std::string>& items) {
    std::string s;
    for (const std::string& i : items) s += (s.empty() ? "" : ", ") + i;
    return s;
  };
  std::string text =
      "Reclaimed staged packs of an earlier job: " + std::to_string(r.uploaded.size()) +
      " uploaded (" + std::to_string(r.bytes_uploaded) + " bytes)";
  if (!r.uploaded.empty()) text += ": " + join(r.uploaded);
  text += "; " + std::to_string(r.removed.size()) + " removed (" + std::to_string(r.bytes_removed) +
          " bytes)";
  if (!r.removed.empty()) text += ": " + join(r.removed);
  return text;
}

}  // namespace obagent::engine
