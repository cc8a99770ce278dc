// Tree serialization, versions 1 and 2 (docs/formats.md, "Tree"):
//   u8 version (1 or 2; written: 2)
//   varint node count
//   per node, in name order:
//     varint name length, name bytes
//     u8 type
//     varint mode
//     zigzag varint mtime_ns, zigzag varint ctime_ns
//     varint uid, gid, size, inode, device, link_count
//     varint chunk count, per chunk: 32-byte id, varint size
//     u8 has_subtree (0 or 1), then the 32-byte id when 1
//     varint symlink target length, target bytes
//     varint hardlink_to length, hardlink_to bytes
//   version 2 only, per node after the above:
//     varint record count, per record in (kind, name) order, unique:
//       varint kind, varint name length, name, varint value length, value
//     (kinds: tree.h MetadataKind; unknown kinds are kept as they are;
//     kWinSecurity's value must pass win_security::CheckSecurityDescriptor)
// Varints are unsigned LEB128 in their shortest form (longer encodings are
// rejected, so every tree has exactly one encoding). Every field is written
// for every node type, so a Node round-trips exactly.
#include "obagent/core/tree.h"

#include <algorithm>
#include <limits>
#include <string>

#include "obagent/core/security_descriptor.h"

namespace obagent::tree {
namespace {

constexpr uint8_t kOldestVersion = 1;
constexpr size_t kIdSize = 32;

void PutVarint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

void PutString(Bytes& out, std::string_view s) {
  PutVarint(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void PutId(Bytes& out, const ObjectId& id) {
  out.insert(out.end(), id.bytes.begin(), id.bytes.end());
}

void PutBytes(Bytes& out, ByteView b) {
  PutVarint(out, b.size());
  out.insert(out.end(), b.begin(), b.end());
}

// The Windows records of a node (kWinSecurity, kWinAttributes).
void AddWindowsSecurityRecords(const Node& node, std::vector<MetadataRecord>& records) {
  if (!node.win_security.empty()) {
    records.push_back({static_cast<uint32_t>(MetadataKind::kWinSecurity), "", node.win_security});
  }
  if (node.win_attributes) {
    MetadataRecord r{static_cast<uint32_t>(MetadataKind::kWinAttributes), "", {}};
    PutVarint(r.value, *node.win_attributes);
    records.push_back(std::move(r));
  }
}

// Kinds 18 (named streams) and 19 (the reparse point's kind).
void AddWindowsStreamRecords(const Node& node, std::vector<MetadataRecord>& records) {
  for (const NamedStream& stream : node.streams) {
    MetadataRecord r{static_cast<uint32_t>(MetadataKind::kWinStream), stream.name, {}};
    PutVarint(r.value, stream.size);
    PutVarint(r.value, stream.content.size());
    for (const ChunkRef& chunk : stream.content) {
      PutId(r.value, chunk.id);
      PutVarint(r.value, chunk.size);
    }
    records.push_back(std::move(r));
  }
  if (node.win_reparse) {
    records.push_back(
        {static_cast<uint32_t>(MetadataKind::kWinReparse),
         "",
         {static_cast<uint8_t>(node.win_reparse->kind),
          static_cast<uint8_t>(node.win_reparse->relative ? kWinReparseRelative : 0)}});
  }
}

// A node's metadata as records in (kind, name) order: the typed fields and
// the kinds this version does not know, merged.
std::vector<MetadataRecord> RecordsOf(const Node& node) {
  std::vector<MetadataRecord> records;
  records.reserve(node.xattrs.size() + node.other_metadata.size() + 4);
  for (const Xattr& x : node.xattrs) {
    records.push_back({static_cast<uint32_t>(MetadataKind::kXattr), x.name, x.value});
  }
  if (node.linux_flags) {
    MetadataRecord r{static_cast<uint32_t>(MetadataKind::kLinuxFlags), "", {}};
    PutVarint(r.value, *node.linux_flags);
    records.push_back(std::move(r));
  }
  if (node.sparse) records.push_back({static_cast<uint32_t>(MetadataKind::kSparse), "", {}});
  AddWindowsSecurityRecords(node, records);
  for (const MetadataRecord& r : node.other_metadata) records.push_back(r);

  AddWindowsStreamRecords(node, records);
  auto order = [](const MetadataRecord& a, const MetadataRecord& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.name < b.name;
  };
  if (!std::is_sorted(records.begin(), records.end(), order)) {
    std::stable_sort(records.begin(), records.end(), order);
  }
  return records;
}

void PutNode(Bytes& out, const Node& node) {
  PutString(out, node.name);
  out.push_back(static_cast<uint8_t>(node.type));
  PutVarint(out, node.mode);
  PutVarint(out, ZigZag(node.mtime_ns));
  PutVarint(out, ZigZag(node.ctime_ns));
  PutVarint(out, node.uid);
  PutVarint(out, node.gid);
  PutVarint(out, node.size);
  PutVarint(out, node.inode);
  PutVarint(out, node.device);
  PutVarint(out, node.link_count);
  PutVarint(out, node.content.size());
  for (const ChunkRef& chunk : node.content) {
    PutId(out, chunk.id);
    PutVarint(out, chunk.size);
  }
  out.push_back(node.subtree.has_value() ? 1 : 0);
  if (node.subtree) PutId(out, *node.subtree);
  PutString(out, node.symlink_target);
  PutString(out, node.hardlink_to);
  std::vector<MetadataRecord> records = RecordsOf(node);
  PutVarint(out, records.size());
  for (const MetadataRecord& r : records) {
    PutVarint(out, r.kind);
    PutString(out, r.name);
    PutBytes(out, r.value);
  }
}

// Bounds-checked reader over the serialized bytes. Every method returns false
// when the input is exhausted or malformed.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }

  bool Byte(uint8_t& out) {
    if (pos_ >= data_.size()) return false;
    out = data_[pos_++];
    return true;
  }

  bool Varint(uint64_t& out) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(b)) return false;
      if (shift == 63 && b > 1) return false;  // more than 64 bits
      value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift != 0) return false;  // not the shortest encoding
        out = value;
        return true;
      }
    }
    return false;
  }

  template <typename T>
  bool VarintAs(T& out) {
    uint64_t v;
    if (!Varint(v) || v > std::numeric_limits<T>::max()) return false;
    out = static_cast<T>(v);
    return true;
  }

  bool ZigZagVarint(int64_t& out) {
    uint64_t v;
    if (!Varint(v)) return false;
    out = UnZigZag(v);
    return true;
  }

  bool String(std::string& out) {
    uint64_t len;
    if (!Varint(len) || len > remaining()) return false;
    out.assign(reinterpret_cast<const char*>(data_.data() + pos_), static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  bool Blob(Bytes& out) {
    uint64_t len;
    if (!Varint(len) || len > remaining()) return false;
    out.assign(data_.data() + pos_, data_.data() + pos_ + len);
    pos_ += static_cast<size_t>(len);
    return true;
  }

  bool Id(ObjectId& out) {
    if (remaining() < kIdSize) return false;
    std::copy_n(data_.data() + pos_, kIdSize, out.bytes.begin());
    pos_ += kIdSize;
    return true;
  }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

Status Truncated() { return Corrupt("tree: truncated or malformed data"); }

Status BadMetadata(const std::string& what) { return Corrupt("tree: metadata: " + what); }

// Decodes one value of a varint-valued record: exactly one shortest varint.
bool VarintValue(const Bytes& value, uint32_t& out) {
  Reader r(value);
  return r.VarintAs(out) && r.remaining() == 0;
}

// A kWinSecurity or kWinAttributes record into `node`; false when it is not
// one of those kinds.
bool ReadWindowsSecurityRecord(MetadataRecord& rec, Node& node, Status& status) {
  switch (rec.kind) {
    case static_cast<uint32_t>(MetadataKind::kWinSecurity): {
      if (!rec.name.empty() || rec.value.size() > kMaxWinSecuritySize) {
        status = BadMetadata("bad security descriptor record");
        return true;
      }
      Result<win_security::SecurityDescriptorParts> parts =
          win_security::CheckSecurityDescriptor(rec.value);
      if (!parts.ok()) {
        status = BadMetadata(parts.status().detail());
        return true;
      }
      node.win_security = std::move(rec.value);
      return true;
    }
    case static_cast<uint32_t>(MetadataKind::kWinAttributes): {
      uint32_t attributes;
      if (!rec.name.empty() || !VarintValue(rec.value, attributes) ||
          (attributes & ~kWinAttributesKept)) {
        status = BadMetadata("bad Windows attributes record");
        return true;
      }
      node.win_attributes = attributes;
      return true;
    }
    default:
      return false;
  }
}

// A kWinStream record: a safe name, a size and chunks adding up to it.
Status ReadStreamRecord(MetadataRecord& rec, Node& node) {
  if (node.type != NodeType::kFile) return BadMetadata("a named stream on a non-file");
  if (!IsSafeStreamName(rec.name)) return BadMetadata("bad named stream name");
  if (node.streams.size() >= kMaxStreams) return BadMetadata("too many named streams");
  NamedStream stream;
  stream.name = std::move(rec.name);
  Reader v(rec.value);
  uint64_t chunks;
  if (!v.Varint(stream.size) || !v.Varint(chunks)) return BadMetadata("bad named stream record");
  if (chunks > v.remaining() / (kIdSize + 1)) return BadMetadata("bad named stream record");
  stream.content.resize(static_cast<size_t>(chunks));
  uint64_t total = 0;
  for (ChunkRef& chunk : stream.content) {
    if (!v.Id(chunk.id) || !v.VarintAs(chunk.size)) return BadMetadata("bad named stream record");
    total += chunk.size;  // at most 2^32 chunks of < 2^32 bytes: no overflow
  }
  if (v.remaining() != 0 || total != stream.size) {
    return BadMetadata("named stream size does not match its chunks");
  }
  node.streams.push_back(std::move(stream));
  return Status::Ok();
}

// A kWinReparse record: a known kind and flags, on a kSymlink node.
Status ReadReparseRecord(const MetadataRecord& rec, Node& node) {
  if (node.type != NodeType::kSymlink || !rec.name.empty() || rec.value.size() != 2 ||
      rec.value[0] < static_cast<uint8_t>(WinReparseKind::kFileSymlink) ||
      rec.value[0] > static_cast<uint8_t>(WinReparseKind::kMountPoint) ||
      (rec.value[1] & ~kWinReparseRelative) != 0) {
    return BadMetadata("bad reparse point record");
  }
  node.win_reparse = WinReparse{static_cast<WinReparseKind>(rec.value[0]),
                                (rec.value[1] & kWinReparseRelative) != 0};
  return Status::Ok();
}

Status ReadMetadata(Reader& r, Node& node) {
  uint64_t count;
  if (!r.Varint(count)) return Truncated();
  // A record takes at least 3 bytes (kind, empty name, empty value).
  if (count > r.remaining() / 3) return Truncated();
  if (count > kMaxMetadataRecords) return BadMetadata("too many records");
  bool have_previous = false;
  uint32_t prev_kind = 0;
  std::string prev_name;
  for (uint64_t i = 0; i < count; ++i) {
    MetadataRecord rec;
    if (!r.VarintAs(rec.kind) || !r.String(rec.name) || !r.Blob(rec.value)) return Truncated();
    if (have_previous &&
        (rec.kind < prev_kind || (rec.kind == prev_kind && rec.name <= prev_name))) {
      return BadMetadata("records are not sorted and unique");
    }
    have_previous = true;
    prev_kind = rec.kind;
    prev_name = rec.name;
    switch (rec.kind) {
      case static_cast<uint32_t>(MetadataKind::kXattr):
        if (rec.name.empty() || rec.name.size() > kMaxXattrNameSize ||
            rec.name.find('\0') != std::string::npos) {
          return BadMetadata("bad extended attribute name");
        }
        if (rec.value.size() > kMaxXattrValueSize) {
          return BadMetadata("extended attribute value too large");
        }
        node.xattrs.push_back({std::move(rec.name), std::move(rec.value)});
        break;
      case static_cast<uint32_t>(MetadataKind::kLinuxFlags): {
        uint32_t flags;
        if (!rec.name.empty() || !VarintValue(rec.value, flags) || (flags & ~kLinuxFlagsKept)) {
          return BadMetadata("bad file flags record");
        }
        node.linux_flags = flags;
        break;
      }
      case static_cast<uint32_t>(MetadataKind::kSparse):
        if (!rec.name.empty() || !rec.value.empty() || node.type != NodeType::kFile) {
          return BadMetadata("bad sparse record");
        }
        node.sparse = true;
        break;
      case static_cast<uint32_t>(MetadataKind::kWinStream):
        OB_RETURN_IF_ERROR(ReadStreamRecord(rec, node));
        break;
      case static_cast<uint32_t>(MetadataKind::kWinReparse):
        OB_RETURN_IF_ERROR(ReadReparseRecord(rec, node));
        break;
      default: {
        Status windows;
        if (ReadWindowsSecurityRecord(rec, node, windows)) {
          OB_RETURN_IF_ERROR(windows);
          break;
        }
        if (rec.kind == 0) return BadMetadata("record kind 0");
        node.other_metadata.push_back(std::move(rec));
        break;
      }
    }
  }
  return Status::Ok();
}

Status ReadNode(Reader& r, Node& node, uint8_t version) {
  if (!r.String(node.name)) return Truncated();
  if (!IsSafeName(node.name)) return Corrupt("tree: unsafe entry name");
  uint8_t type;
  if (!r.Byte(type)) return Truncated();
  if (type < static_cast<uint8_t>(NodeType::kFile) ||
      type > static_cast<uint8_t>(NodeType::kSymlink)) {
    return Corrupt("tree: unknown node type " + std::to_string(type));
  }
  node.type = static_cast<NodeType>(type);
  if (!r.VarintAs(node.mode) || !r.ZigZagVarint(node.mtime_ns) || !r.ZigZagVarint(node.ctime_ns) ||
      !r.VarintAs(node.uid) || !r.VarintAs(node.gid) || !r.Varint(node.size) ||
      !r.Varint(node.inode) || !r.Varint(node.device) || !r.VarintAs(node.link_count)) {
    return Truncated();
  }
  uint64_t chunks;
  if (!r.Varint(chunks)) return Truncated();
  // Each chunk takes at least 33 bytes: cap the count by the input left.
  if (chunks > r.remaining() / (kIdSize + 1)) return Truncated();
  node.content.resize(static_cast<size_t>(chunks));
  for (ChunkRef& chunk : node.content) {
    if (!r.Id(chunk.id) || !r.VarintAs(chunk.size)) return Truncated();
  }
  uint8_t has_subtree;
  if (!r.Byte(has_subtree) || has_subtree > 1) return Truncated();
  if (has_subtree) {
    ObjectId id;
    if (!r.Id(id)) return Truncated();
    node.subtree = id;
  }
  if (!r.String(node.symlink_target) || !r.String(node.hardlink_to)) return Truncated();
  if (version >= 2) return ReadMetadata(r, node);
  return Status::Ok();
}

}  // namespace

bool IsSafeName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

bool IsSafeStreamName(std::string_view name) {
  if (name.empty()) return false;
  size_t units = 0;
  for (size_t i = 0; i < name.size();) {
    const auto b = static_cast<uint8_t>(name[i]);
    if (b == 0 || b == ':' || b == '/' || b == '\\') return false;
    // Valid UTF-8 only (a stream name is UTF-16 on disk): the sequence's
    // length, no overlong form, no surrogate, nothing above U+10FFFF.
    size_t len = b < 0x80           ? 1
                 : (b >> 5) == 0x6  ? 2
                 : (b >> 4) == 0xE  ? 3
                 : (b >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > name.size()) return false;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<uint8_t>(name[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    units += len == 4 ? 2 : 1;
    i += len;
  }
  return units <= kMaxStreamNameUnits;
}

uint64_t DataSize(const Node& node) {
  uint64_t size = node.size;
  for (const NamedStream& stream : node.streams) size += stream.size;
  return size;
}

const char* WinReparseKindName(WinReparseKind kind) {
  switch (kind) {
    case WinReparseKind::kFileSymlink:
      return "file symlink";
    case WinReparseKind::kDirSymlink:
      return "directory symlink";
    case WinReparseKind::kJunction:
      return "junction";
    case WinReparseKind::kMountPoint:
      return "volume mount point";
  }
  return "reparse point";
}

const char* NodeTypeName(NodeType type) {
  switch (type) {
    case NodeType::kDirectory:
      return "dir";
    case NodeType::kSymlink:
      return "symlink";
    case NodeType::kFile:
      break;
  }
  return "file";
}

Bytes SerializeTree(const Tree& tree) {
  Bytes out;
  out.push_back(kFormatVersion);
  PutVarint(out, tree.nodes.size());
  auto by_name = [](const Node* a, const Node* b) { return a->name < b->name; };
  std::vector<const Node*> order;
  order.reserve(tree.nodes.size());
  for (const Node& node : tree.nodes) order.push_back(&node);
  // Callers keep nodes sorted; sorting here keeps the encoding deterministic
  // even if one does not.
  if (!std::is_sorted(order.begin(), order.end(), by_name)) {
    std::stable_sort(order.begin(), order.end(), by_name);
  }
  for (const Node* node : order) PutNode(out, *node);
  return out;
}

Result<Tree> ParseTree(ByteView data) {
  Reader r(data);
  uint8_t version;
  if (!r.Byte(version)) return Corrupt("tree: empty data");
  if (version < kOldestVersion || version > kFormatVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "tree: unsupported format version " + std::to_string(version));
  }
  uint64_t count;
  if (!r.Varint(count)) return Truncated();
  // A node takes at least 16 bytes (a one-byte name and every other field at
  // its shortest; 17 with version 2's record count); never trust the count
  // beyond that.
  constexpr size_t kMinNodeSize = 16;
  if (count > r.remaining() / kMinNodeSize) return Truncated();
  Tree tree;
  tree.version = version;
  tree.nodes.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    OB_RETURN_IF_ERROR(ReadNode(r, tree.nodes[i], version));
    if (i > 0 && !(tree.nodes[i - 1].name < tree.nodes[i].name)) {
      return Corrupt("tree: entry names are not sorted and unique");
    }
  }
  if (r.remaining() != 0) return Corrupt("tree: trailing data");
  return tree;
}

}  // namespace obagent::tree
