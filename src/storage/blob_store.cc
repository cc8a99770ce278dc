// The parts of the BlobStore interface every store shares: the in-memory
// source and sink, and the buffering defaults of the streaming calls.
#include "obagent/storage/blob_store.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "storage/read_all.h"

namespace obagent::storage {

Result<size_t> MemorySource::Read(uint8_t* buffer, size_t n) {
  size_t take = std::min(n, data_.size() - offset_);
  if (take > 0) std::memcpy(buffer, data_.data() + offset_, take);
  offset_ += take;
  return take;
}

Status MemorySink::Write(ByteView data) {
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  return Status::Ok();
}

Result<ObjectInfo> BlobStore::Stat(std::string_view key) {
  OB_ASSIGN_OR_RETURN(Bytes data, Get(key));
  return ObjectInfo{data.size()};
}

Result<Bytes> ReadAll(ByteSource& source) {
  Bytes data;
  Bytes piece(kStreamPieceBytes);
  for (;;) {
    OB_ASSIGN_OR_RETURN(size_t got, source.Read(piece.data(), piece.size()));
    if (got == 0) break;
    data.insert(data.end(), piece.begin(), piece.begin() + static_cast<ptrdiff_t>(got));
  }
  return data;
}

Status BlobStore::PutFrom(std::string_view key, ByteSource& source) {
  OB_ASSIGN_OR_RETURN(Bytes data, ReadAll(source));
  return Put(key, data);
}

Status BlobStore::PutNewFrom(std::string_view key, ByteSource& source) {
  OB_ASSIGN_OR_RETURN(bool exists, Exists(key));
  if (exists) return Status(ErrorCode::kAlreadyExists, std::string(key) + " exists already");
  return PutFrom(key, source);
}

Result<ByteView> BlobStore::GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                         Bytes& buffer) {
  OB_ASSIGN_OR_RETURN(buffer, GetRange(key, offset, length));
  return ByteView(buffer);
}

Status BlobStore::GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink) {
  Bytes data;
  ByteView part;
  if (length == kToEnd) {
    OB_ASSIGN_OR_RETURN(data, Get(key));
    if (offset > data.size()) {
      return Corrupt("reading " + std::string(key) + ": offset " + std::to_string(offset) +
                     " is beyond the object's " + std::to_string(data.size()) + " bytes");
    }
    part = ByteView(data).subspan(static_cast<size_t>(offset));
  } else {
    OB_ASSIGN_OR_RETURN(data, GetRange(key, offset, length));
    part = data;
  }
  while (!part.empty()) {
    size_t n = std::min(part.size(), kStreamPieceBytes);
    OB_RETURN_IF_ERROR(sink.Write(part.first(n)));
    part = part.subspan(n);
  }
  return Status::Ok();
}

}  // namespace obagent::storage
