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

// Typed metadata records (format version 2). Each record is (kind, name,
// value); a node holds its records sorted by (kind, name), unique. Kinds
// 1-15 are Linux/POSIX, 16-31 are Windows (security descriptor, attribute
// bits, named streams, reparse data), added as kinds without another
// format change. A reader keeps a
// kind it does not know as it is (Node::other_metadata) and says so when it
// restores.
enum class MetadataKind : uint32_t {
  kXattr = 1,       // name: the attribute's full name ("user.x", "security.capability",
                    // "system.posix_acl_access"); value: its bytes as the kernel gives them
  kLinuxFlags = 2,  // name empty; value: varint of the FS_IOC_GETFLAGS bits (kLinuxFlagsKept)
  kSparse = 3,      // name and value empty: the file had holes (they are its zero runs)

  kWinSecurity = 16,    // name empty; value: a self-relative SECURITY_DESCRIPTOR (owner,
                        // group, DACL; SACL when the backup held SeSecurityPrivilege),
                        // structurally checked (core/security_descriptor.h)
  kWinAttributes = 17,  // name empty; value: varint of the kWinAttributesKept bits
  kWinStream = 18,      // name: a named (alternate) data stream's name, without the ':' and
                        // ":$DATA"; value: varint size, varint chunk count, per chunk its
                        // 32-byte id and varint size (the stream's data, deduplicated as a
                        // file's content is)
  kWinReparse = 19,     // name empty; value: u8 WinReparseKind, u8 flags (kWinReparseRelative)
};

// The FS_IOC_GETFLAGS bits a tree records (the Linux ABI values, as chattr(1)
// shows them); others (extents, inline data, ...) describe the file
// system's layout, not the file, and are dropped.
inline constexpr uint32_t kLinuxFlagSecureRemove = 0x00000001;    // s
inline constexpr uint32_t kLinuxFlagUndelete = 0x00000002;        // u
inline constexpr uint32_t kLinuxFlagCompress = 0x00000004;        // c
inline constexpr uint32_t kLinuxFlagSync = 0x00000008;            // S
inline constexpr uint32_t kLinuxFlagImmutable = 0x00000010;       // i
inline constexpr uint32_t kLinuxFlagAppend = 0x00000020;          // a
inline constexpr uint32_t kLinuxFlagNoDump = 0x00000040;          // d
inline constexpr uint32_t kLinuxFlagNoAtime = 0x00000080;         // A
inline constexpr uint32_t kLinuxFlagJournalData = 0x00004000;     // j
inline constexpr uint32_t kLinuxFlagNoTail = 0x00008000;          // t
inline constexpr uint32_t kLinuxFlagDirSync = 0x00010000;         // D
inline constexpr uint32_t kLinuxFlagTopDir = 0x00020000;          // T
inline constexpr uint32_t kLinuxFlagNoCow = 0x00800000;           // C
inline constexpr uint32_t kLinuxFlagProjectInherit = 0x20000000;  // P
inline constexpr uint32_t kLinuxFlagsKept =
    kLinuxFlagSecureRemove | kLinuxFlagUndelete | kLinuxFlagCompress | kLinuxFlagSync |
    kLinuxFlagImmutable | kLinuxFlagAppend | kLinuxFlagNoDump | kLinuxFlagNoAtime |
    kLinuxFlagJournalData | kLinuxFlagNoTail | kLinuxFlagDirSync | kLinuxFlagTopDir |
    kLinuxFlagNoCow | kLinuxFlagProjectInherit;
// The flags that stop every change to an entry, its rename and removal
// included: a restore clears them to replace an entry and sets them last.
inline constexpr uint32_t kLinuxFlagsProtecting = kLinuxFlagImmutable | kLinuxFlagAppend;

// The FILE_ATTRIBUTE_* bits a tree records (the Win32 values). Read-only,
// hidden, system, archive and not-content-indexed are restored; compressed
// and encrypted are recorded as flags only (what the file was). The others
// (directory, sparse, reparse point, offline, ...) are the entry's kind or
// layout, recorded elsewhere or not at all.
inline constexpr uint32_t kWinAttributeReadOnly = 0x00000001;
inline constexpr uint32_t kWinAttributeHidden = 0x00000002;
inline constexpr uint32_t kWinAttributeSystem = 0x00000004;
inline constexpr uint32_t kWinAttributeArchive = 0x00000020;
inline constexpr uint32_t kWinAttributeCompressed = 0x00000800;
inline constexpr uint32_t kWinAttributeNotContentIndexed = 0x00002000;
inline constexpr uint32_t kWinAttributeEncrypted = 0x00004000;
inline constexpr uint32_t kWinAttributesRestored = kWinAttributeReadOnly | kWinAttributeHidden |
                                                   kWinAttributeSystem | kWinAttributeArchive |
                                                   kWinAttributeNotContentIndexed;
inline constexpr uint32_t kWinAttributesKept =
    kWinAttributesRestored | kWinAttributeCompressed | kWinAttributeEncrypted;

// Bounds the decoder enforces (trees are read from the vault: untrusted).
inline constexpr size_t kMaxXattrNameSize = 255;      // XATTR_NAME_MAX
inline constexpr size_t kMaxXattrValueSize = 65536;   // XATTR_SIZE_MAX
inline constexpr size_t kMaxMetadataRecords = 65536;  // per node
inline constexpr size_t kMaxWinSecuritySize = 65536;  // win_security::kMaxSecurityDescriptorSize
inline constexpr size_t kMaxStreamNameUnits = 255;    // UTF-16 units, as NTFS allows
inline constexpr size_t kMaxStreams = 4096;           // named streams per node

struct Xattr {
  std::string name;
  Bytes value;
  bool operator==(const Xattr&) const = default;
};

// A record of a kind this version does not know, kept byte for byte.
struct MetadataRecord {
  uint32_t kind = 0;
  std::string name;
  Bytes value;
  bool operator==(const MetadataRecord&) const = default;
};

// A named (alternate) data stream of a Windows file ("file.txt:Zone.Identifier"):
// its data is chunked, deduplicated, compressed and encrypted as file
// content is.
struct NamedStream {
  std::string name;  // UTF-8; IsSafeStreamName
  uint64_t size = 0;
  std::vector<ChunkRef> content;  // the chunk sizes add up to size
  bool operator==(const NamedStream&) const = default;
};

// What a Windows reparse point that a kSymlink node records was: a file or
// folder symbolic link, a junction or a volume mount point (both
// IO_REPARSE_TAG_MOUNT_POINT: a mount point's target is a volume GUID path).
enum class WinReparseKind : uint8_t {
  kFileSymlink = 1,
  kDirSymlink = 2,
  kJunction = 3,
  kMountPoint = 4,
};
inline constexpr uint8_t kWinReparseRelative = 0x01;  // a symlink with a relative target

struct WinReparse {
  WinReparseKind kind = WinReparseKind::kFileSymlink;
  bool relative = false;
  bool operator==(const WinReparse&) const = default;
};

// "file symlink", "directory symlink", "junction", "volume mount point".
const char* WinReparseKindName(WinReparseKind kind);

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
  // Version 2 metadata (empty in a version 1 tree).
  std::vector<Xattr> xattrs;                   // sorted by name, unique
  std::optional<uint32_t> linux_flags;         // kLinuxFlagsKept bits; none when not read
  bool sparse = false;                         // kFile: the file had holes
  std::vector<MetadataRecord> other_metadata;  // unknown kinds, sorted by (kind, name)

  // Windows security descriptor (kWinSecurity); empty when none was read.
  Bytes win_security;
  std::optional<uint32_t> win_attributes;  // kWinAttributesKept bits; none when not read

  std::vector<NamedStream> streams;       // kFile: named data streams, sorted by name, unique
  std::optional<WinReparse> win_reparse;  // kSymlink: the Windows reparse point it was
  bool operator==(const Node&) const = default;
};

// Every chunk of a node's data, in order: its content, then each named
// stream's. Whatever must reach all of a node's data (prune, verify, repair,
// recovery drills) walks this, so no stream is left out.
template <typename F>
void ForEachChunk(const Node& node, F&& f) {
  for (const ChunkRef& chunk : node.content) f(chunk);
  for (const NamedStream& stream : node.streams) {
    for (const ChunkRef& chunk : stream.content) f(chunk);
  }
}
// The bytes of a node's data: its size plus its named streams' sizes.
uint64_t DataSize(const Node& node);
// Whether a stream name can be recorded and created: not empty, at most
// kMaxStreamNameUnits UTF-16 units, valid UTF-8, without ':', '/', '\\' or
// NUL (so "name:stream" names exactly one stream of one file).
bool IsSafeStreamName(std::string_view name);

// Version 1: the fields up to hardlink_to. Version 2 (written now): the
// same, then each node's typed metadata records.
inline constexpr uint8_t kFormatVersion = 2;

struct Tree {
  std::vector<Node> nodes;  // sorted by name, names unique
  // The version the tree was read in (kFormatVersion for a new one): a
  // version 1 tree recorded no metadata, so its nodes say nothing about it
  // (a backup does not take "no xattrs" over from them).
  uint8_t version = kFormatVersion;
};

Bytes SerializeTree(const Tree& tree);
// Always writes kFormatVersion.
// ParseTree reads versions 1 and 2. kCorrupt for malformed data, for names
// IsSafeName refuses and for metadata out of bounds or order.
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
