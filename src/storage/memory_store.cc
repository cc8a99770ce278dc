// MemoryStore: the BlobStore contract on a map of shared, immutable bodies.
#include "obagent/storage/memory_store.h"

#include <algorithm>
#include <utility>

#include "storage/read_all.h"

namespace obagent::storage {

namespace {

Status InvalidKey(std::string_view key) {
  return InvalidArgument("invalid object key '" + std::string(key) + "'");
}

Status Missing(std::string_view key) {
  return NotFound("object " + std::string(key) + " not found in memory");
}

// Whether [offset, offset+length) lies within an object of `size` bytes.
bool InRange(uint64_t size, uint64_t offset, uint64_t length) {
  return offset <= size && length <= size - offset;
}

Status OutOfRange(std::string_view key, uint64_t size, uint64_t offset, uint64_t length) {
  return Corrupt("reading " + std::string(key) + ": range " + std::to_string(offset) + "+" +
                 std::to_string(length) + " is beyond the object's " + std::to_string(size) +
                 " bytes");
}

}  // namespace

Result<MemoryStore::Body> MemoryStore::Find(std::string_view key) const {
  if (!IsValidKey(key)) return InvalidKey(key);
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return Missing(key);
  return it->second;
}

Status MemoryStore::Put(std::string_view key, ByteView data) {
  if (!IsValidKey(key)) return InvalidKey(key);
  // The copy is made before the lock: a Put holds the map only to swap.
  Body body = std::make_shared<const Bytes>(data.begin(), data.end());
  std::lock_guard lock(mu_);
  objects_.insert_or_assign(std::string(key), std::move(body));
  return Status::Ok();
}

Result<Bytes> MemoryStore::Get(std::string_view key) {
  OB_ASSIGN_OR_RETURN(Body body, Find(key));
  return *body;
}

Result<Bytes> MemoryStore::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  OB_ASSIGN_OR_RETURN(Body body, Find(key));
  if (!InRange(body->size(), offset, length)) {
    return OutOfRange(key, body->size(), offset, length);
  }
  auto first = body->begin() + static_cast<ptrdiff_t>(offset);
  return Bytes(first, first + static_cast<ptrdiff_t>(length));
}

Result<ObjectInfo> MemoryStore::Stat(std::string_view key) {
  OB_ASSIGN_OR_RETURN(Body body, Find(key));
  return ObjectInfo{body->size()};
}

Status MemoryStore::PutFrom(std::string_view key, ByteSource& source) {
  if (!IsValidKey(key)) return InvalidKey(key);
  OB_ASSIGN_OR_RETURN(Bytes data, ReadAll(source));
  Body body = std::make_shared<const Bytes>(std::move(data));
  std::lock_guard lock(mu_);
  objects_.insert_or_assign(std::string(key), std::move(body));
  return Status::Ok();
}

Status MemoryStore::PutNewFrom(std::string_view key, ByteSource& source) {
  if (!IsValidKey(key)) return InvalidKey(key);
  OB_ASSIGN_OR_RETURN(Bytes data, ReadAll(source));
  Body body = std::make_shared<const Bytes>(std::move(data));
  std::lock_guard lock(mu_);
  if (!objects_.try_emplace(std::string(key), std::move(body)).second) {
    return Status(ErrorCode::kAlreadyExists, "storing " + std::string(key) + ": it exists");
  }
  return Status::Ok();
}

Status MemoryStore::GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) {
  OB_ASSIGN_OR_RETURN(Body body, Find(key));
  const uint64_t size = body->size();
  if (length == kToEnd) {
    if (offset > size) return OutOfRange(key, size, offset, 0);
    length = size - offset;
  } else if (!InRange(size, offset, length)) {
    return OutOfRange(key, size, offset, length);
  }
  ByteView part = ByteView(*body).subspan(static_cast<size_t>(offset), static_cast<size_t>(length));
  while (!part.empty()) {
    size_t n = std::min(part.size(), kStreamPieceBytes);
    OB_RETURN_IF_ERROR(sink.Write(part.first(n)));
    part = part.subspan(n);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> MemoryStore::List(std::string_view prefix) {
  std::vector<std::string> keys;
  std::lock_guard lock(mu_);
  for (auto it = objects_.lower_bound(prefix); it != objects_.end(); ++it) {
    if (!it->first.starts_with(prefix)) break;
    keys.push_back(it->first);
  }
  return keys;
}

Status MemoryStore::Delete(std::string_view key) {
  if (!IsValidKey(key)) return InvalidKey(key);
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it != objects_.end()) objects_.erase(it);
  return Status::Ok();
}

Result<bool> MemoryStore::Exists(std::string_view key) {
  if (!IsValidKey(key)) return InvalidKey(key);
  std::lock_guard lock(mu_);
  return objects_.find(key) != objects_.end();
}

size_t MemoryStore::ObjectCount() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

uint64_t MemoryStore::TotalBytes() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (const auto& [key, body] : objects_) total += body->size();
  return total;
}

}  // namespace obagent::storage
