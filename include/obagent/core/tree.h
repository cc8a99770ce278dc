// Directory trees: one Tree per directory, stored as a tree blob whose id is
// HMAC(idKey, serialized tree), so unchanged directories dedup as data does.
// Serialization is a deterministic binary format (version byte first);
// names are raw bytes, never interpreted: any byte but '/' and NUL, valid
// UTF-8 or not (a backslash, a newline, a leading dash are all names). The
// format is platform-neutral; a name a target OS cannot hold is escaped when
// restoring there (platform::HostableName), never refused here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::tree {

enum class NodeType : uint8_t { kFile = 1, kDirectory = 2, kSymlink = 3 };

// "file", "dir", "symlink": how obctl --json and the console name a type.
const char* NodeTypeName(NodeType type);

struct ChunkRef {
  ObjectId id;
  uint32_t size = 0;
  bool operator==(const ChunkRef&) const = default;
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits (07777)
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // change detection only; not restored
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t inode = 0;   // change detection only
  uint64_t device = 0;  // change detection and hard links
  uint32_t link_count = 1;
  std::vector<ChunkRef> content;    // kFile
  std::optional<ObjectId> subtree;  // kDirectory
  std::string symlink_target;       // kSymlink
  // For a file whose inode was already seen in this recovery point: the path
  // (relative to the recovery point root, '/'-separated) of the first one.
  // The content is kept too, so the file can be restored alone as a copy.
  std::string hardlink_to;
  bool operator==(const Node&) const = default;
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name, names unique
};

Bytes SerializeTree(const Tree& tree);
// kCorrupt for malformed data and for names IsSafeName refuses.
// kUnsupportedVersion for unknown versions.
Result<Tree> ParseTree(ByteView data);
// Whether a name is one path component that cannot leave its folder on any
// platform that reads it as one component: not empty, ".", "..", and
// without '/' or NUL. Every other byte is allowed (backslash included: no
// platform reads a name as a path). ParseTree refuses the others, the
// backup never writes them (it skips such an entry as a failed file) and
// the restore checks them again before creating anything.
bool IsSafeName(std::string_view name);

}  // namespace obagent::tree
