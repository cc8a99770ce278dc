#include "obagent/core/index.h"

#include "core/format_internal.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace obagent::index {
namespace {

constexpr uint32_t kVersion = 1;
constexpr std::string_view kAad = "obagent-index-v1";
constexpr size_t kIdSize = 32;
constexpr size_t kEntrySize = 1 + kIdSize + 4 + 4 + 4;

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  size_t remaining() const { return data_.size() - pos_; }
  bool U32(uint32_t& out) {
    if (remaining() < 4) return false;
    const uint8_t* p = data_.data() + pos_;
    out = static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
          static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
    pos_ += 4;
    return true;
  }
  bool U8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }
  bool Id(std::array<uint8_t, kIdSize>& out) {
    if (remaining() < kIdSize) return false;
    std::copy_n(data_.data() + pos_, kIdSize, out.begin());
    pos_ += kIdSize;
    return true;
  }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

Status Malformed() { return Corrupt("index file: truncated or malformed"); }

}  // namespace

Bytes SealIndexFile(const crypto::Key& data_key, const std::vector<PackEntries>& packs) {
  return crypto::Seal(data_key, AsBytes(kAad), format_internal::IndexPlaintext(packs));
}

Result<std::vector<PackEntries>> OpenIndexFile(const crypto::Key& data_key, ByteView sealed) {
  auto opened = crypto::Open(data_key, AsBytes(kAad), sealed);
  if (!opened.ok()) return Corrupt("index file failed authentication");
  return format_internal::ParseIndexPlaintext(opened.value());
}

}  // namespace obagent::index

namespace obagent::format_internal {

Bytes IndexPlaintext(const std::vector<index::PackEntries>& packs) {
  using namespace index;  // NOLINT: the format's constants
  Bytes plain;
  size_t blobs = 0;
  for (const PackEntries& p : packs) blobs += p.blobs.size();
  plain.reserve(8 + packs.size() * (kIdSize + 4) + blobs * kEntrySize);
  PutU32(plain, kVersion);
  PutU32(plain, static_cast<uint32_t>(packs.size()));
  for (const PackEntries& p : packs) {
    auto name = ObjectId::FromHex(p.pack_name);
    if (!name.ok()) {
      // Pack names come from PackWriter::Finish; anything else is a bug, and
      // an index pointing at a wrong pack would lose data.
      std::fprintf(stderr, "obagent: invalid pack name in index: %s\n", p.pack_name.c_str());
      std::abort();
    }
    plain.insert(plain.end(), name->bytes.begin(), name->bytes.end());
    PutBlobEntries(plain, p.blobs);
  }
  return plain;
}

Result<std::vector<index::PackEntries>> ParseIndexPlaintext(ByteView plain) {
  using namespace index;  // NOLINT: the format's constants and Reader
  Reader r(plain);
  uint32_t version;
  if (!r.U32(version)) return Malformed();
  if (version != kVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "index file: unsupported format version " + std::to_string(version));
  }
  uint32_t pack_count;
  if (!r.U32(pack_count)) return Malformed();
  if (pack_count > r.remaining() / (kIdSize + 4)) return Malformed();
  std::vector<PackEntries> packs(pack_count);
  for (PackEntries& p : packs) {
    ObjectId name;
    uint32_t count;
    if (!r.Id(name.bytes) || !r.U32(count)) return Malformed();
    if (count > r.remaining() / kEntrySize) return Malformed();
    p.pack_name = name.Hex();
    p.blobs.resize(count);
    for (pack::BlobEntry& e : p.blobs) {
      uint8_t type;
      if (!r.U8(type) || !r.Id(e.id.bytes) || !r.U32(e.offset) || !r.U32(e.length) ||
          !r.U32(e.raw_length)) {
        return Malformed();
      }
      if (type != static_cast<uint8_t>(pack::BlobType::kData) &&
          type != static_cast<uint8_t>(pack::BlobType::kTree)) {
        return Corrupt("index file: unknown blob type " + std::to_string(type));
      }
      e.type = static_cast<pack::BlobType>(type);
    }
  }
  if (r.remaining() != 0) return Corrupt("index file: trailing data");
  return packs;
}

namespace {
constexpr uint32_t kDamageVersion = 1;
}  // namespace

Bytes DamageRecordPlaintext(const std::vector<index::DamagedCopy>& copies) {
  using namespace index;  // NOLINT: the format's helpers
  Bytes plain;
  plain.reserve(8 + copies.size() * 2 * kIdSize);
  PutU32(plain, kDamageVersion);
  PutU32(plain, static_cast<uint32_t>(copies.size()));
  for (const index::DamagedCopy& c : copies) {
    auto pack = ObjectId::FromHex(c.pack_name);
    if (!pack.ok()) {
      std::fprintf(stderr, "obagent: invalid pack name in damage record: %s\n",
                   c.pack_name.c_str());
      std::abort();
    }
    plain.insert(plain.end(), c.id.bytes.begin(), c.id.bytes.end());
    plain.insert(plain.end(), pack->bytes.begin(), pack->bytes.end());
  }
  return plain;
}

Result<std::vector<index::DamagedCopy>> ParseDamageRecordPlaintext(ByteView plain) {
  using namespace index;  // NOLINT: the format's helpers
  Reader r(plain);
  uint32_t version, count;
  if (!r.U32(version) || !r.U32(count)) return Corrupt("damage record: truncated");
  if (version != kDamageVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "damage record: unsupported format version " + std::to_string(version));
  }
  if (count != r.remaining() / (2 * kIdSize) || r.remaining() % (2 * kIdSize) != 0) {
    return Corrupt("damage record: truncated or malformed");
  }
  std::vector<index::DamagedCopy> copies(count);
  for (index::DamagedCopy& c : copies) {
    ObjectId pack;
    r.Id(c.id.bytes);
    r.Id(pack.bytes);
    c.pack_name = pack.Hex();
  }
  return copies;
}

}  // namespace obagent::format_internal

namespace obagent::index {
namespace {
constexpr std::string_view kDamageAad = "obagent-damage-v1";
}  // namespace

Bytes SealDamageRecord(const crypto::Key& data_key, const std::vector<DamagedCopy>& copies) {
  return crypto::Seal(data_key, AsBytes(kDamageAad),
                      format_internal::DamageRecordPlaintext(copies));
}

Result<std::vector<DamagedCopy>> OpenDamageRecord(const crypto::Key& data_key, ByteView sealed) {
  auto opened = crypto::Open(data_key, AsBytes(kDamageAad), sealed);
  if (!opened.ok()) return Corrupt("damage record failed authentication");
  return format_internal::ParseDamageRecordPlaintext(*opened);
}

void Index::Add(const PackEntries& pack) {
  auto [it, inserted] =
      pack_numbers_.try_emplace(pack.pack_name, static_cast<uint32_t>(pack_names_.size()));
  if (inserted) pack_names_.push_back(pack.pack_name);
  const uint32_t number = it->second;
  for (const pack::BlobEntry& e : pack.blobs) {
    Location loc{number, e.type, e.offset, e.length, e.raw_length};
    auto [found, added] = map_.try_emplace(e.id, loc);
    if (added || found->second.pack == number) continue;  // one copy per pack
    auto range = alternates_.equal_range(e.id);
    bool known = std::any_of(range.first, range.second,
                             [&](const auto& alt) { return alt.second.pack == number; });
    if (!known) alternates_.emplace(e.id, loc);
  }
}

const Location* Index::Find(const ObjectId& id) const {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second;
}

std::vector<Location> Index::FindAll(const ObjectId& id) const {
  std::vector<Location> out;
  auto it = map_.find(id);
  if (it == map_.end()) return out;
  out.push_back(it->second);
  auto range = alternates_.equal_range(id);
  for (auto alt = range.first; alt != range.second; ++alt) out.push_back(alt->second);
  return out;
}

std::optional<Location> Index::FindIn(const ObjectId& id, const std::string& pack) const {
  auto number = pack_numbers_.find(pack);
  if (number == pack_numbers_.end()) return std::nullopt;
  for (const Location& loc : FindAll(id)) {
    if (loc.pack == number->second) return loc;
  }
  return std::nullopt;
}

void Index::RemoveCopy(const ObjectId& id, const std::string& pack) {
  auto number = pack_numbers_.find(pack);
  if (number == pack_numbers_.end()) return;
  auto range = alternates_.equal_range(id);
  for (auto alt = range.first; alt != range.second; ++alt) {
    if (alt->second.pack == number->second) {
      alternates_.erase(alt);
      return;
    }
  }
  auto it = map_.find(id);
  if (it == map_.end() || it->second.pack != number->second) return;
  auto next = alternates_.find(id);
  if (next == alternates_.end()) {
    map_.erase(it);
  } else {
    it->second = next->second;
    alternates_.erase(next);
  }
}

}  // namespace obagent::index
