#include "obagent/engine/repository.h"

#include <algorithm>

#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"

namespace obagent::engine {

Repository::Repository(storage::BlobStore& store, keys::KeySet keys, std::string cache_dir,
                       platform::Env& env)
    : store_(store), keys_(std::move(keys)), cache_dir_(std::move(cache_dir)), env_(env) {}

namespace {

// A damaged object (it will not come right by reading it again) as opposed
// to a store that cannot be read now.
bool IsDamage(const Status& st) {
  return st.code() == ErrorCode::kCorrupt || st.code() == ErrorCode::kUnsupportedVersion;
}

std::string NameOf(const std::string& key) { return key.substr(key.rfind('/') + 1); }

}  // namespace

Result<Bytes> Repository::ReadNamedObject(const std::string& key, const std::string& cache_sub) {
  const std::string name = NameOf(key);
  std::string cached =
      cache_dir_.empty() || cache_sub.empty() ? "" : cache_dir_ + "/" + cache_sub + "/" + name;
  Result<Bytes> sealed = cached.empty() ? Result<Bytes>(NotFound("")) : env_.ReadFile(cached);
  // A cached copy counts only if it still hashes to its name.
  if (sealed.ok() && ToHex(crypto::Sha256(*sealed)) == name) return sealed;
  sealed = store_.Get(key);
  if (!sealed.ok()) return sealed.status();
  if (ToHex(crypto::Sha256(*sealed)) != name) {
    return Corrupt("does not match its name (damaged or replaced)");
  }
  if (!cached.empty()) {
    OB_RETURN_IF_ERROR(env_.CreateDirs(cache_dir_ + "/" + cache_sub, true));
    OB_RETURN_IF_ERROR(env_.WriteFileAtomic(cached, *sealed, true));
  }
  return sealed;
}

Status Repository::LoadIndex() {
  // Index files first, then the packs: a backup uploads its packs before it
  // writes the index file naming them, so every pack an index file read
  // here names is in the list taken after it, unless it is really gone.
  OB_ASSIGN_OR_RETURN(auto names, store_.List("index/"));
  std::vector<DamagedObject> damaged;
  std::vector<index::PackEntries> entries;
  for (const std::string& key : names) {
    const std::string name = NameOf(key);
    Result<Bytes> sealed = ReadNamedObject(key, "index");
    Result<std::vector<index::PackEntries>> packs =
        sealed.ok() ? index::OpenIndexFile(keys_.data_key, *sealed)
                    : Result<std::vector<index::PackEntries>>(sealed.status());
    if (!packs.ok()) {
      if (packs.status().code() == ErrorCode::kNotFound) continue;  // removed meanwhile (prune)
      if (!IsDamage(packs.status())) {
        return packs.status().WithContext("reading index file " + name);
      }
      damaged.push_back({"index file", name, packs.status().detail() + "; skipped"});
      continue;
    }
    for (auto& p : *packs) entries.push_back(std::move(p));
  }
  OB_ASSIGN_OR_RETURN(std::vector<std::string> stored, ListPacks());
  std::unordered_set<std::string> present(stored.begin(), stored.end());

  // Copies earlier readers found damaged.
  std::vector<index::DamagedCopy> recorded;
  OB_ASSIGN_OR_RETURN(auto records, store_.List("damage/"));
  for (const std::string& key : records) {
    Result<Bytes> sealed = ReadNamedObject(key, "");
    Result<std::vector<index::DamagedCopy>> copies =
        sealed.ok() ? index::OpenDamageRecord(keys_.data_key, *sealed)
                    : Result<std::vector<index::DamagedCopy>>(sealed.status());
    if (!copies.ok()) {
      if (copies.status().code() == ErrorCode::kNotFound) continue;
      if (!IsDamage(copies.status())) {
        return copies.status().WithContext("reading damage record " + NameOf(key));
      }
      damaged.push_back({"damage record", NameOf(key), copies.status().detail() + "; skipped"});
      continue;
    }
    recorded.insert(recorded.end(), copies->begin(), copies->end());
  }

  index::Index fresh;
  std::set<std::string> missing;
  std::vector<ObjectId> candidates;  // blobs that lost a copy
  for (const index::PackEntries& pack : entries) {
    if (present.contains(pack.pack_name)) {
      fresh.Add(pack);
      continue;
    }
    missing.insert(pack.pack_name);
    for (const auto& e : pack.blobs) candidates.push_back(e.id);
  }
  std::map<index::DamagedCopy, pack::BlobEntry> recorded_copies;
  for (const index::DamagedCopy& c : recorded) {
    std::optional<index::Location> loc = fresh.FindIn(c.id, c.pack_name);
    if (!loc) continue;  // the pack is gone, or no index file names the copy
    recorded_copies.emplace(
        c, pack::BlobEntry{loc->type, c.id, loc->offset, loc->length, loc->raw_length});
    fresh.RemoveCopy(c.id, c.pack_name);
    candidates.push_back(c.id);
  }
  std::unordered_set<ObjectId, ObjectIdHash> lost;
  for (const ObjectId& id : candidates) {
    if (!fresh.Contains(id)) lost.insert(id);
  }
  index_ = std::move(fresh);
  damaged_index_files_ = std::move(damaged);
  missing_packs_.assign(missing.begin(), missing.end());
  lost_blobs_ = std::move(lost);
  recorded_ = std::move(recorded_copies);
  record_keys_ = std::move(records);
  records_dirty_ = false;
  {
    std::lock_guard lock(damage_mu_);
    noted_.clear();
    noted_ids_.clear();
    any_noted_ = false;
  }
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

Result<ByteView> Repository::ReadPackBytesInto(const std::string& pack, pack::BlobType type,
                                               uint64_t offset, uint64_t length, Bytes& buffer) {
  if (type != pack::BlobType::kTree) {
    return store_.GetRangeInto(RepoLayout::Pack(pack), offset, length, buffer);
  }
  OB_ASSIGN_OR_RETURN(buffer, ReadPackBytes(pack, type, offset, length));
  return ByteView(buffer);
}

Result<ByteView> Repository::DecodeBlobInto(const ObjectId& id, const index::Location& loc,
                                            ByteView sealed, BlobBuffers& buffers) const {
  auto context = [&] { return "blob " + id.Hex() + " in pack " + index_.pack_names()[loc.pack]; };
  Result<ByteView> payload =
      pack::OpenBlobInto(keys_.data_key, loc.type, id, sealed, buffers.payload);
  if (!payload.ok()) return payload.status().WithContext(context());
  Result<ByteView> plain = compress::DecodePayloadInto(*payload, loc.raw_length, buffers.plain);
  if (!plain.ok()) return plain.status().WithContext(context());
  if (!BlobId::Matches(keys_.id_key, *plain, id)) {
    return Corrupt(context() + ": content does not match its id");
  }
  return plain;
}

Result<Bytes> Repository::DecodeBlob(const ObjectId& id, const index::Location& loc,
                                     ByteView sealed) const {
  BlobBuffers buffers;
  OB_ASSIGN_OR_RETURN(ByteView plain, DecodeBlobInto(id, loc, sealed, buffers));
  // Decompressed into fresh buffers.plain (exactly its size): no copy.
  if (!plain.empty() && plain.data() == buffers.plain.data()) return std::move(buffers.plain);
  return Bytes(plain.begin(), plain.end());
}

Result<Bytes> Repository::ReadBlob(const ObjectId& id) {
  std::vector<index::Location> copies = index_.FindAll(id);
  if (copies.empty()) return NotFound(WhyMissing(id));
  Status last;
  for (const index::Location& loc : copies) {
    const std::string& pack = index_.pack_names()[loc.pack];
    if (IsNoted(id, pack)) {
      if (last.ok()) last = Corrupt("blob " + id.Hex() + " in pack " + pack + " is damaged");
      continue;
    }
    Result<Bytes> sealed = ReadPackBytes(pack, loc.type, loc.offset, loc.length);
    Result<Bytes> plain =
        sealed.ok()
            ? DecodeBlob(id, loc, *sealed)
            : Result<Bytes>(sealed.status().WithContext("blob " + id.Hex() + " in pack " + pack));
    if (plain.ok()) return plain;
    // A vault that cannot be read now is no damage; another copy would
    // fail the same way.
    if (!IsDamage(plain.status()) && plain.status().code() != ErrorCode::kNotFound) {
      return plain.status();
    }
    NoteDamage(id, pack);
    last = plain.status();
  }
  return last;
}

void Repository::NoteDamage(const ObjectId& id, const std::string& pack) {
  std::lock_guard lock(damage_mu_);
  noted_.insert({id, pack});
  noted_ids_.insert(id);
  any_noted_ = true;
}

bool Repository::IsNoted(const ObjectId& id, const std::string& pack) const {
  if (!any_noted_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(damage_mu_);
  return noted_.contains({id, pack});
}

bool Repository::FoundDamaged(const ObjectId& id) const {
  if (!any_noted_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(damage_mu_);
  return noted_ids_.contains(id);
}

bool Repository::HasUsableCopy(const ObjectId& id) const {
  for (const index::Location& loc : index_.FindAll(id)) {
    if (!IsNoted(id, index_.pack_names()[loc.pack])) return true;
  }
  return false;
}

std::string Repository::WhyMissing(const ObjectId& id) const {
  std::string packs;
  for (auto it = recorded_.lower_bound({id, ""}); it != recorded_.end() && it->first.id == id;
       ++it) {
    packs += (packs.empty() ? "" : ", ") + it->first.pack_name;
  }
  if (!packs.empty()) {
    return "blob " + id.Hex() + " in pack " + packs +
           " is damaged (recorded by verify, a restore or a backup); a backup of the unchanged "
           "file uploads it again";
  }
  if (lost_blobs_.contains(id)) {
    return "blob " + id.Hex() + " is in no pack present in the vault (its pack is missing)";
  }
  return "blob " + id.Hex() + " is not in the index";
}

size_t Repository::ClearRecordedDamage(const std::string& pack) {
  size_t cleared = 0;
  for (auto it = recorded_.begin(); it != recorded_.end();) {
    if (it->first.pack_name != pack) {
      ++it;
      continue;
    }
    index_.Add({pack, {it->second}});
    lost_blobs_.erase(it->first.id);
    it = recorded_.erase(it);
    records_dirty_ = true;
    ++cleared;
  }
  return cleared;
}

bool Repository::HasDamageChanges() const { return records_dirty_ || HasNotedDamage(); }

Result<size_t> Repository::SaveDamageRecord() {
  std::vector<index::DamagedCopy> noted;
  {
    std::lock_guard lock(damage_mu_);
    noted.assign(noted_.begin(), noted_.end());
  }
  if (noted.empty() && !records_dirty_) return size_t{0};
  // Where each newly noted copy is, before it leaves the index.
  std::map<index::DamagedCopy, pack::BlobEntry> all = recorded_;
  for (const index::DamagedCopy& c : noted) {
    std::optional<index::Location> loc = index_.FindIn(c.id, c.pack_name);
    if (!loc) continue;
    all.emplace(c, pack::BlobEntry{loc->type, c.id, loc->offset, loc->length, loc->raw_length});
  }
  std::string written;
  if (!all.empty()) {
    std::vector<index::DamagedCopy> copies;
    copies.reserve(all.size());
    for (const auto& [copy, entry] : all) copies.push_back(copy);
    Bytes sealed = index::SealDamageRecord(keys_.data_key, copies);
    written = RepoLayout::DamageRecord(ToHex(crypto::Sha256(sealed)));
    OB_RETURN_IF_ERROR(store_.Put(written, sealed).WithContext("saving a damage record"));
  }
  // The new record holds everything still known: the old ones go. A crash
  // before this leaves both, which only repeats what the new one says.
  for (const std::string& key : record_keys_) {
    if (key == written) continue;
    Status st = store_.Delete(key);
    if (!st.ok() && st.code() != ErrorCode::kNotFound) {
      return st.WithContext("replacing a damage record");
    }
  }
  record_keys_.clear();
  if (!written.empty()) record_keys_.push_back(written);
  for (const index::DamagedCopy& c : noted) {
    index_.RemoveCopy(c.id, c.pack_name);
    if (!index_.Contains(c.id)) lost_blobs_.insert(c.id);
  }
  recorded_ = std::move(all);
  records_dirty_ = false;
  std::lock_guard lock(damage_mu_);
  for (const auto& c : noted) noted_.erase(c);
  noted_ids_.clear();
  for (const auto& c : noted_) noted_ids_.insert(c.id);
  any_noted_ = !noted_.empty();
  return noted.size();
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
    // Not read again from there (uploaded from memory, or moved into a
    // local vault): it need not pass the page cache.
    Status st = env_.WriteFileAtomicUncached(staged, pack.bytes, false);
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

Result<std::vector<NamedRecoveryPoint>> Repository::ListRecoveryPoints(
    std::vector<DamagedObject>* damaged) {
  OB_ASSIGN_OR_RETURN(auto keys, store_.List("snapshots/"));
  std::vector<NamedRecoveryPoint> points;
  for (const std::string& key : keys) {
    const std::string id = NameOf(key);
    Result<Bytes> sealed = ReadNamedObject(key, "");
    Result<recovery_point::RecoveryPoint> point =
        sealed.ok() ? recovery_point::Open(keys_.data_key, *sealed)
                    : Result<recovery_point::RecoveryPoint>(sealed.status());
    if (!point.ok()) {
      if (point.status().code() == ErrorCode::kNotFound) continue;  // removed meanwhile (prune)
      if (!IsDamage(point.status())) {
        return point.status().WithContext("reading recovery point " + id);
      }
      if (damaged != nullptr) {
        damaged->push_back({"recovery point", id, point.status().detail() + "; skipped"});
      }
      continue;
    }
    points.push_back({id, std::move(point).value()});
  }
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) {
    return std::tie(a.point.time_ns, a.id) < std::tie(b.point.time_ns, b.id);
  });
  return points;
}

Result<NamedRecoveryPoint> Repository::FindRecoveryPoint(std::string_view id_or_prefix) {
  std::vector<DamagedObject> damaged;
  OB_ASSIGN_OR_RETURN(auto points, ListRecoveryPoints(&damaged));
  if (points.empty() && damaged.empty()) return NotFound("this machine has no recovery points yet");
  if (id_or_prefix == "latest") {
    if (points.empty()) return Corrupt("every recovery point of this machine is damaged");
    return points.back();
  }
  if (id_or_prefix.size() < 4) {
    return InvalidArgument("a recovery point id needs at least 4 characters (or 'latest')");
  }
  const NamedRecoveryPoint* found = nullptr;
  const DamagedObject* found_damaged = nullptr;
  size_t matches = 0;
  for (const auto& p : points) {
    if (p.id.starts_with(id_or_prefix)) {
      found = &p;
      ++matches;
    }
  }
  for (const auto& d : damaged) {
    if (d.name.starts_with(id_or_prefix)) {
      found_damaged = &d;
      ++matches;
    }
  }
  if (matches > 1) {
    return InvalidArgument("recovery point id '" + std::string(id_or_prefix) + "' is ambiguous");
  }
  if (found_damaged != nullptr) return Corrupt(found_damaged->ToString());
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
