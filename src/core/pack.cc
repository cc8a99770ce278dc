#include "obagent/core/pack.h"

#include "core/format_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string_view>

namespace obagent::pack {
namespace {

constexpr std::string_view kMagic = "OBPACK01";
constexpr std::string_view kMagicPrefix = "OBPACK";
constexpr std::string_view kTrailer = "OBPKEND1";
constexpr std::string_view kHeaderAad = "obagent-pack-header-v1";
constexpr std::string_view kBlobAadPrefix = "obagent-blob-v1";
constexpr size_t kIdSize = 32;
constexpr size_t kEntrySize = 1 + kIdSize + 4 + 4 + 4;
// The sealed header is followed by its u32 length and the trailer.
constexpr size_t kTailSize = 4 + 8;

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint32_t GetU32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

bool IsDigit(uint8_t c) { return c >= '0' && c <= '9'; }

// The entry of a sealed blob of `sealed_size` bytes that starts at `offset`
// of its pack. Offsets are u32: packs stay far below 4 GiB (16-64 MiB).
// Exceeding that is a bug in the caller, and writing a wrong offset would
// lose data.
BlobEntry EntryAt(size_t offset, BlobType type, const ObjectId& id, size_t sealed_size,
                  uint32_t raw_length) {
  if (offset + sealed_size > std::numeric_limits<uint32_t>::max()) {
    std::fprintf(stderr, "obagent: pack would exceed 4 GiB\n");
    std::abort();
  }
  BlobEntry entry;
  entry.type = type;
  entry.id = id;
  entry.offset = static_cast<uint32_t>(offset);
  entry.length = static_cast<uint32_t>(sealed_size);
  entry.raw_length = raw_length;
  return entry;
}

}  // namespace

Bytes BlobAad(BlobType type, const ObjectId& id) {
  Bytes aad(kBlobAadPrefix.begin(), kBlobAadPrefix.end());
  aad.push_back(static_cast<uint8_t>(type));
  aad.insert(aad.end(), id.bytes.begin(), id.bytes.end());
  return aad;
}

Bytes SealBlob(const crypto::Key& data_key, BlobType type, const ObjectId& id, ByteView payload) {
  return crypto::Seal(data_key, BlobAad(type, id), payload);
}

Result<ByteView> OpenBlobInto(const crypto::Key& data_key, BlobType type, const ObjectId& id,
                              ByteView sealed, Bytes& buffer) {
  auto opened = crypto::OpenInto(data_key, BlobAad(type, id), sealed, buffer);
  if (!opened.ok()) {
    return Corrupt("blob " + id.Hex() + " failed authentication: " + opened.status().detail());
  }
  return opened;
}

Result<Bytes> OpenBlob(const crypto::Key& data_key, BlobType type, const ObjectId& id,
                       ByteView sealed) {
  Bytes payload;
  OB_RETURN_IF_ERROR(OpenBlobInto(data_key, type, id, sealed, payload).status());
  return payload;
}

PackWriter::PackWriter(const crypto::Key& data_key, size_t size_hint)
    : data_key_(data_key), size_hint_(size_hint) {
  Reset();
}

void PackWriter::Reset() {
  if (bytes_.capacity() < size_hint_ && !spares_.empty()) {
    bytes_ = std::move(spares_.back());
    spares_.pop_back();
  }
  bytes_.reserve(size_hint_);
  bytes_.assign(kMagic.begin(), kMagic.end());
  entries_.clear();
}

void PackWriter::Add(BlobType type, const ObjectId& id, ByteView sealed, uint32_t raw_length) {
  entries_.push_back(EntryAt(bytes_.size(), type, id, sealed.size(), raw_length));
  bytes_.insert(bytes_.end(), sealed.begin(), sealed.end());
}

void PackWriter::AddPayload(BlobType type, const ObjectId& id, ByteView payload,
                            uint32_t raw_length) {
  BlobEntry entry =
      EntryAt(bytes_.size(), type, id, payload.size() + crypto::kSealOverhead, raw_length);
  crypto::SealAppend(data_key_, BlobAad(type, id), payload, bytes_);
  entries_.push_back(entry);
}

void PackWriter::Recycle(Bytes buffer) {
  if (buffer.capacity() >= size_hint_ && spares_.size() < kMaxSpares) {
    spares_.push_back(std::move(buffer));
  }
}

PackWriter::Finished PackWriter::Finish() {
  Finished done = FinishUnnamed();
  done.name = PackName(done.bytes);
  return done;
}

std::string PackName(ByteView bytes) { return ToHex(crypto::Sha256(bytes)); }

PackWriter::Finished PackWriter::FinishUnnamed() {
  const Bytes plain = format_internal::PackHeaderPlaintext(entries_);
  const size_t before = bytes_.size();
  crypto::SealAppend(data_key_, AsBytes(kHeaderAad), plain, bytes_);
  PutU32(bytes_, static_cast<uint32_t>(bytes_.size() - before));
  bytes_.insert(bytes_.end(), kTrailer.begin(), kTrailer.end());

  Finished done;
  done.bytes = std::move(bytes_);
  done.entries = std::move(entries_);
  Reset();
  return done;
}

Result<std::vector<BlobEntry>> ReadPackHeader(const crypto::Key& data_key, ByteView pack) {
  if (pack.size() >= kMagic.size() && AsString(pack.first(kMagicPrefix.size())) == kMagicPrefix &&
      IsDigit(pack[6]) && IsDigit(pack[7]) && AsString(pack.first(kMagic.size())) != kMagic) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "pack: unsupported format version " + std::string(AsString(pack.subspan(6, 2))));
  }
  const size_t min_size = kMagic.size() + crypto::kSealOverhead + 4 + kTailSize;
  if (pack.size() < min_size) return Corrupt("pack: too short");
  if (AsString(pack.first(kMagic.size())) != kMagic) return Corrupt("pack: bad magic");
  if (AsString(pack.last(kTrailer.size())) != kTrailer) return Corrupt("pack: bad trailer");

  const uint32_t header_len = GetU32(pack.data() + pack.size() - kTailSize);
  if (header_len < crypto::kSealOverhead + 4 ||
      header_len > pack.size() - kMagic.size() - kTailSize) {
    return Corrupt("pack: header length out of bounds");
  }
  const size_t header_start = pack.size() - kTailSize - header_len;
  return OpenSealedHeader(data_key, pack.subspan(header_start, header_len), header_start);
}

Result<uint32_t> PackHeaderLength(ByteView tail, uint64_t pack_size) {
  const uint64_t min_size = kMagic.size() + crypto::kSealOverhead + 4 + kTailSize;
  if (pack_size < min_size) return Corrupt("pack: too short");
  if (tail.size() != kTailSize) return Corrupt("pack: tail has the wrong size");
  if (AsString(tail.last(kTrailer.size())) != kTrailer) return Corrupt("pack: bad trailer");
  const uint32_t header_len = GetU32(tail.data());
  if (header_len < crypto::kSealOverhead + 4 ||
      header_len > pack_size - kMagic.size() - kTailSize) {
    return Corrupt("pack: header length out of bounds");
  }
  return header_len;
}

Result<std::vector<BlobEntry>> OpenSealedHeader(const crypto::Key& data_key, ByteView sealed_header,
                                                uint64_t header_start) {
  auto plain = crypto::Open(data_key, AsBytes(kHeaderAad), sealed_header);
  if (!plain.ok()) return Corrupt("pack: header failed authentication");
  return format_internal::ParsePackHeaderPlaintext(plain.value(), header_start);
}

}  // namespace obagent::pack

namespace obagent::format_internal {

void PutBlobEntries(Bytes& out, const std::vector<pack::BlobEntry>& entries) {
  using namespace pack;  // NOLINT: the format's constants
  PutU32(out, static_cast<uint32_t>(entries.size()));
  for (const BlobEntry& e : entries) {
    out.push_back(static_cast<uint8_t>(e.type));
    out.insert(out.end(), e.id.bytes.begin(), e.id.bytes.end());
    PutU32(out, e.offset);
    PutU32(out, e.length);
    PutU32(out, e.raw_length);
  }
}

Bytes PackHeaderPlaintext(const std::vector<pack::BlobEntry>& entries) {
  using namespace pack;  // NOLINT: the format's constants
  Bytes plain;
  plain.reserve(4 + entries.size() * kEntrySize);
  PutBlobEntries(plain, entries);
  return plain;
}

Result<std::vector<pack::BlobEntry>> ParsePackHeaderPlaintext(ByteView h, size_t header_start) {
  using namespace pack;  // NOLINT: the format's constants
  if (h.size() < 4) return Corrupt("pack: header too short");
  const uint32_t count = GetU32(h.data());
  if ((h.size() - 4) % kEntrySize != 0 || (h.size() - 4) / kEntrySize != count) {
    return Corrupt("pack: header entry count does not match its length");
  }
  std::vector<BlobEntry> entries(count);
  const uint8_t* p = h.data() + 4;
  for (BlobEntry& e : entries) {
    const uint8_t type = p[0];
    if (type != static_cast<uint8_t>(BlobType::kData) &&
        type != static_cast<uint8_t>(BlobType::kTree)) {
      return Corrupt("pack: unknown blob type " + std::to_string(type));
    }
    e.type = static_cast<BlobType>(type);
    std::copy_n(p + 1, kIdSize, e.id.bytes.begin());
    e.offset = GetU32(p + 1 + kIdSize);
    e.length = GetU32(p + 1 + kIdSize + 4);
    e.raw_length = GetU32(p + 1 + kIdSize + 8);
    p += kEntrySize;
    if (e.offset < kMagic.size() || e.length < crypto::kSealOverhead ||
        uint64_t{e.offset} + e.length > header_start) {
      return Corrupt("pack: blob " + e.id.Hex() + " lies outside the blob area");
    }
  }
  std::vector<const BlobEntry*> by_offset;
  by_offset.reserve(entries.size());
  for (const BlobEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const BlobEntry* a, const BlobEntry* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (uint64_t{by_offset[i - 1]->offset} + by_offset[i - 1]->length > by_offset[i]->offset) {
      return Corrupt("pack: blobs overlap");
    }
  }
  return entries;
}

}  // namespace obagent::format_internal
