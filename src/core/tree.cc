// Tree serialization, version 1:
//   u8 version (1)
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
// Varints are unsigned LEB128 in their shortest form (longer encodings are
// rejected, so every tree has exactly one encoding). Every field is written
// for every node type, so a Node round-trips exactly.
#include "obagent/core/tree.h"

#include <algorithm>
#include <limits>
#include <string>

namespace obagent::tree {
namespace {

constexpr uint8_t kVersion = 1;
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

Status ReadNode(Reader& r, Node& node) {
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
  return Status::Ok();
}

}  // namespace

bool IsSafeName(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
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
  out.push_back(kVersion);
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
  if (version != kVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "tree: unsupported format version " + std::to_string(version));
  }
  uint64_t count;
  if (!r.Varint(count)) return Truncated();
  // A node takes at least 16 bytes (a one-byte name and every other field at
  // its shortest); never trust the count beyond that.
  constexpr size_t kMinNodeSize = 16;
  if (count > r.remaining() / kMinNodeSize) return Truncated();
  Tree tree;
  tree.nodes.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < tree.nodes.size(); ++i) {
    OB_RETURN_IF_ERROR(ReadNode(r, tree.nodes[i]));
    if (i > 0 && !(tree.nodes[i - 1].name < tree.nodes[i].name)) {
      return Corrupt("tree: entry names are not sorted and unique");
    }
  }
  if (r.remaining() != 0) return Corrupt("tree: trailing data");
  return tree;
}

}  // namespace obagent::tree
