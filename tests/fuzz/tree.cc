// Fuzz target: tree blobs (tree::ParseTree), the directory listings of a
// recovery point as read back from the vault after decryption. A tree that
// parses must hold only safe names and metadata within the format's bounds
// (version 2: xattr names and sizes, file flag bits, sparse only on files,
// well-formed Windows security descriptors, known Windows attribute bits,
// named streams' names, counts and sizes, reparse kinds only on symlinks),
// and serialize back to a tree that parses to the same nodes.
#include <cstdint>
#include <cstdlib>

#include "obagent/core/security_descriptor.h"
#include "obagent/core/tree.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  auto parsed = tree::ParseTree(ByteView(data, size));
  if (!parsed.ok()) return 0;
  for (const tree::Node& node : parsed->nodes) {
    if (!tree::IsSafeName(node.name)) std::abort();
    if (node.xattrs.size() + node.other_metadata.size() > tree::kMaxMetadataRecords) std::abort();
    for (const tree::Xattr& x : node.xattrs) {
      if (x.name.empty() || x.name.size() > tree::kMaxXattrNameSize ||
          x.value.size() > tree::kMaxXattrValueSize) {
        std::abort();
      }
    }
    if (node.linux_flags && (*node.linux_flags & ~tree::kLinuxFlagsKept)) std::abort();
    if (node.sparse && node.type != tree::NodeType::kFile) std::abort();
    if (!node.win_security.empty() &&
        !win_security::CheckSecurityDescriptor(node.win_security).ok()) {
      std::abort();
    }
    if (node.win_attributes && (*node.win_attributes & ~tree::kWinAttributesKept)) std::abort();
    for (const tree::MetadataRecord& r : node.other_metadata) {
      if (r.kind <= static_cast<uint32_t>(tree::MetadataKind::kSparse) ||
          r.kind == static_cast<uint32_t>(tree::MetadataKind::kWinSecurity) ||
          r.kind == static_cast<uint32_t>(tree::MetadataKind::kWinAttributes) ||
          r.kind == static_cast<uint32_t>(tree::MetadataKind::kWinStream) ||
          r.kind == static_cast<uint32_t>(tree::MetadataKind::kWinReparse)) {
        std::abort();
      }
    }
    // Named streams: only on files, safe names, within the cap, each one's
    // chunks adding up to its size; a reparse kind only on a symlink.
    if (!node.streams.empty() && node.type != tree::NodeType::kFile) std::abort();
    if (node.streams.size() > tree::kMaxStreams) std::abort();
    for (const tree::NamedStream& s : node.streams) {
      if (!tree::IsSafeStreamName(s.name)) std::abort();
      uint64_t total = 0;
      for (const tree::ChunkRef& c : s.content) total += c.size;
      if (total != s.size) std::abort();
    }
    if (node.win_reparse && node.type != tree::NodeType::kSymlink) std::abort();
  }
  auto again = tree::ParseTree(tree::SerializeTree(*parsed));
  if (!again.ok() || again->nodes != parsed->nodes) std::abort();
  return 0;
}
