#include "obagent/engine/repository.h"

#include <algorithm>

#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"

namespace obagent::engine {

Repository::Repository(storage::BlobStore& store, keys::KeySet keys, std::string cache_dir,
                       platform::Env& env)
    : store_(store), keys_(std::move(keys)), cache_dir_(std::move(cache_dir)), env_(env) {}

Status Repository::LoadIndex() {
  OB_ASSIGN_OR_RETURN(auto names, store_.List("index/"));
  index::Index fresh;
  if (!cache_dir_.empty()) OB_RETURN_IF_ERROR(env_.CreateDirs(cache_dir_ + "/index", true));
  for (const std::string& key : names) {
    std::string name = key.substr(key.rfind('/') + 1);
    std::string cached = cache_dir_.empty() ? "" : cache_dir_ + "/index/" + name;
    Result<Bytes> sealed = cached.empty() ? Result<Bytes>(NotFound("")) : env_.ReadFile(cached);
    // A cached copy counts only if it still hashes to its name.
    if (sealed.ok() && ToHex(crypto::Sha256(*sealed)) != name) sealed = NotFound("");
    if (!sealed.ok()) {
      sealed = store_.Get(key);
      if (!sealed.ok()) return sealed.status().WithContext("reading index file " + name);
      if (ToHex(crypto::Sha256(*sealed)) != name) {
        return Corrupt("index file " + name + " does not match its name");
      }
      if (!cached.empty()) OB_RETURN_IF_ERROR(env_.WriteFileAtomic(cached, *sealed, true));
    }
    auto packs = index::OpenIndexFile(keys_.data_key, *sealed);
    if (!packs.ok()) return packs.status().WithContext("index file " + name);
    for (const auto& pack : *packs) fresh.Add(pack);
  }
  index_ = std::move(fresh);
  return Status::Ok();
}

Result<Bytes> Repository::ReadPackBytes(const std::string& pack, pack::BlobType type,
                                        uint64_t offset, uint64_t length) {
  if (type != pack::BlobType::kTree) return store_.GetRange(RepoLayout::Pack(pack), offset, length);
  // Tree packs are small and read again and again (browsing, change
  // detection): keep them whole in memory and in the scratch cache.
  std::shared_ptr<const Bytes> whole;
  {
    std::lock_guard lock(tree_cache_mu_);
    auto it = tree_packs_.find(pack);
    if (it != tree_packs_.end()) whole = it->second;
  }
  if (!whole) {
    std::string cached = cache_dir_.empty() ? "" : cache_dir_ + "/packs/" + pack;
    Result<Bytes> bytes = cached.empty() ? Result<Bytes>(NotFound("")) : env_.ReadFile(cached);
    if (bytes.ok() && ToHex(crypto::Sha256(*bytes)) != pack) bytes = NotFound("");
    if (!bytes.ok()) {
      bytes = store_.Get(RepoLayout::Pack(pack));
      if (!bytes.ok()) return bytes.status();
      if (!cached.empty()) {
        OB_RETURN_IF_ERROR(env_.CreateDirs(cache_dir_ + "/packs", true));
        OB_RETURN_IF_ERROR(env_.WriteFileAtomic(cached, *bytes, true));
      }
    }
    whole = std::make_shared<const Bytes>(std::move(bytes).value());
    std::lock_guard lock(tree_cache_mu_);
    tree_packs_.emplace(pack, whole);
  }
  if (offset > whole->size() || length > whole->size() - offset) {
    return Corrupt("pack " + pack + " is short");
  }
  return Bytes(whole->begin() + static_cast<ptrdiff_t>(offset),
               whole->begin() + static_cast<ptrdiff_t>(offset + length));
}

Result<Bytes> Repository::DecodeBlob(const ObjectId& id, const index::Location& loc,
                                     ByteView sealed) const {
  auto context = [&] { return "blob " + id.Hex() + " in pack " + index_.pack_names()[loc.pack]; };
  Result<Bytes> payload = pack::OpenBlob(keys_.data_key, loc.type, id, sealed);
  if (!payload.ok()) return payload.status().WithContext(context());
  Result<Bytes> plain = compress::DecodePayload(*payload, loc.raw_length);
  if (!plain.ok()) return plain.status().WithContext(context());
  auto mac = crypto::HmacSha256(keys_.id_key, *plain);
  if (!std::equal(mac.begin(), mac.end(), id.bytes.begin())) {
    return Corrupt(context() + ": content does not match its id");
  }
  return plain;
}

Result<Bytes> Repository::ReadBlob(const ObjectId& id) {
  const index::Location* loc = index_.Find(id);
  if (loc == nullptr) return NotFound("blob " + id.Hex() + " is not in the index");
  const std::string& pack = index_.pack_names()[loc->pack];
  Result<Bytes> sealed = ReadPackBytes(pack, loc->type, loc->offset, loc->length);
  if (!sealed.ok()) return sealed.status().WithContext("blob " + id.Hex() + " in pack " + pack);
  return DecodeBlob(id, *loc, *sealed);
}

Result<tree::Tree> Repository::ReadTree(const ObjectId& id) {
  OB_ASSIGN_OR_RETURN(Bytes data, ReadBlob(id));
  Result<tree::Tree> tree = tree::ParseTree(data);
  if (!tree.ok()) return tree.status().WithContext("tree " + id.Hex());
  return tree;
}

Status Repository::UploadPack(const pack::PackWriter::Finished& pack,
                              const std::string& staging_dir) {
  std::string staged;
  if (!staging_dir.empty()) {
    // Staging in scratch mirrors what a remote upload needs (a file to resume
    // from) and surfaces a full scratch volume before the vault is touched.
    staged = staging_dir + "/" + pack.name;
    // Not owner_only: the staging folder is private already, and a local
    // vault may take the file over as the object (LocalDirStore::PutStaged),
    // which must be as readable as the vault's other objects.
    Status st = env_.WriteFileAtomic(staged, pack.bytes, false);
    if (!st.ok()) {
      (void)env_.RemoveFile(staged);
      if (st.code() == ErrorCode::kNoSpace) {
        return Status(ErrorCode::kLowDiskSpace,
                      "the scratch volume is full while staging a pack (" + st.detail() +
                          "); free space or move the scratch folder");
      }
      return st.WithContext("staging pack in scratch");
    }
  }
  Status st = staged.empty() ? store_.Put(RepoLayout::Pack(pack.name), pack.bytes)
                             : store_.PutStaged(RepoLayout::Pack(pack.name), staged, pack.bytes);
  if (!staged.empty()) (void)env_.RemoveFile(staged);
  if (!st.ok()) return st.WithContext("uploading pack " + pack.name);
  if (!cache_dir_.empty() && !pack.entries.empty() &&
      pack.entries.front().type == pack::BlobType::kTree) {
    (void)env_.CreateDirs(cache_dir_ + "/packs", true);
    (void)env_.WriteFileAtomic(cache_dir_ + "/packs/" + pack.name, pack.bytes, true);
  }
  return Status::Ok();
}

Status Repository::SaveIndexFile(const std::vector<index::PackEntries>& packs) {
  if (packs.empty()) return Status::Ok();
  Bytes sealed = index::SealIndexFile(keys_.data_key, packs);
  std::string name = ToHex(crypto::Sha256(sealed));
  OB_RETURN_IF_ERROR(store_.Put(RepoLayout::IndexFile(name), sealed));
  for (const auto& pack : packs) index_.Add(pack);
  return Status::Ok();
}

Result<std::string> Repository::SaveRecoveryPoint(const recovery_point::RecoveryPoint& point) {
  Bytes sealed = recovery_point::Seal(keys_.data_key, point);
  std::string id = ToHex(crypto::Sha256(sealed));
  OB_RETURN_IF_ERROR(store_.Put(RepoLayout::RecoveryPoint(id), sealed));
  return id;
}

Result<std::vector<NamedRecoveryPoint>> Repository::ListRecoveryPoints() {
  OB_ASSIGN_OR_RETURN(auto keys, store_.List("snapshots/"));
  std::vector<NamedRecoveryPoint> points;
  for (const std::string& key : keys) {
    std::string id = key.substr(key.rfind('/') + 1);
    OB_ASSIGN_OR_RETURN(Bytes sealed, store_.Get(key));
    if (ToHex(crypto::Sha256(sealed)) != id) {
      return Corrupt("recovery point " + id + " does not match its name");
    }
    auto point = recovery_point::Open(keys_.data_key, sealed);
    if (!point.ok()) return point.status().WithContext("recovery point " + id);
    points.push_back({id, std::move(point).value()});
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) {
    return std::tie(a.point.time_ns, a.id) < std::tie(b.point.time_ns, b.id);
  });
  return points;
}

Result<NamedRecoveryPoint> Repository::FindRecoveryPoint(std::string_view id_or_prefix) {
  OB_ASSIGN_OR_RETURN(auto points, ListRecoveryPoints());
  if (points.empty()) return NotFound("this machine has no recovery points yet");
  if (id_or_prefix == "latest") return points.back();
  if (id_or_prefix.size() < 4) {
    return InvalidArgument("a recovery point id needs at least 4 characters (or 'latest')");
  }
  const NamedRecoveryPoint* found = nullptr;
  for (const auto& p : points) {
    if (p.id.starts_with(id_or_prefix)) {
      if (found != nullptr) {
        return InvalidArgument("recovery point id '" + std::string(id_or_prefix) +
                               "' is ambiguous");
      }
      found = &p;
    }
  }
  if (found == nullptr) {
    return NotFound("no recovery point '" + std::string(id_or_prefix) + "'");
  }
  return *found;
}

Result<std::vector<std::string>> Repository::ListPacks() {
  OB_ASSIGN_OR_RETURN(auto keys, store_.List("data/"));
  std::vector<std::string> names;
  names.reserve(keys.size());
  for (const std::string& key : keys) names.push_back(key.substr(key.rfind('/') + 1));
  return names;
}

}  // namespace obagent::engine
