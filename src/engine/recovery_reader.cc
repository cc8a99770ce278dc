#include "obagent/engine/recovery_reader.h"

#include <algorithm>
#include <cstring>

#include "engine/lru_cache.h"
#include "engine/paths.h"

namespace obagent::engine {

// A file's chunks with the offset each starts at.
struct RecoveryPointReader::FileLayout {
  uint64_t size = 0;  // the node's size; the chunks must add up to it
  std::vector<tree::ChunkRef> chunks;
  std::vector<uint64_t> starts;  // starts[i] = sum of the sizes of chunks[0..i)
  uint64_t chunk_total = 0;
};

struct RecoveryPointReader::Caches {
  explicit Caches(const RecoveryReaderOptions& options)
      : trees(options.tree_cache_bytes),
        chunks(options.chunk_cache_bytes),
        files(options.file_cache_entries) {}
  std::mutex trees_mu;
  LruCache<ObjectId, tree::Tree, ObjectIdHash> trees;
  std::mutex chunks_mu;
  LruCache<ObjectId, Bytes, ObjectIdHash> chunks;
  std::mutex files_mu;
  LruCache<std::string, FileLayout> files;
};

namespace {

platform::FileKind KindOf(tree::NodeType type) {
  switch (type) {
    case tree::NodeType::kFile:
      return platform::FileKind::kRegular;
    case tree::NodeType::kDirectory:
      return platform::FileKind::kDirectory;
    case tree::NodeType::kSymlink:
      return platform::FileKind::kSymlink;
  }
  return platform::FileKind::kOther;
}

// What a parsed tree costs in memory, roughly.
size_t TreeCost(const tree::Tree& tree) {
  size_t cost = sizeof(tree::Tree);
  for (const auto& node : tree.nodes) {
    cost += sizeof(tree::Node) + node.name.size() + node.symlink_target.size() +
            node.hardlink_to.size() + node.content.size() * sizeof(tree::ChunkRef);
    for (const tree::NamedStream& s : node.streams) {
      cost += sizeof(tree::NamedStream) + s.name.size() + s.content.size() * sizeof(tree::ChunkRef);
    }
  }
  return cost;
}

uint64_t Mix64(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// A stable inode number: the names of one hard-link group share the source's
// (device, inode), so they show as one file again; entries without one get a
// number from their path.
uint64_t InodeNumber(const tree::Node& node, const std::string& path) {
  uint64_t h;
  if (node.inode != 0) {
    h = Mix64(Mix64(node.device) ^ node.inode);
  } else {
    h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (unsigned char c : path) h = (h ^ c) * 0x100000001b3ULL;
    h = Mix64(h);
  }
  return h < 2 ? h + 2 : h;  // 0 means "none", 1 is the root's by convention
}

}  // namespace

RecoveryPointReader::RecoveryPointReader(Repository& repo,
                                         const recovery_point::RecoveryPoint& point,
                                         RecoveryReaderOptions options)
    : repo_(repo),
      root_tree_(point.tree),
      root_mtime_ns_(point.time_ns),
      caches_(std::make_unique<Caches>(options)) {}

RecoveryPointReader::~RecoveryPointReader() = default;

Result<std::shared_ptr<const tree::Tree>> RecoveryPointReader::LoadTree(const ObjectId& id) {
  {
    std::lock_guard lock(caches_->trees_mu);
    if (auto hit = caches_->trees.Get(id)) return hit;
  }
  OB_ASSIGN_OR_RETURN(tree::Tree parsed, repo_.ReadTree(id));
  auto shared = std::make_shared<const tree::Tree>(std::move(parsed));
  std::lock_guard lock(caches_->trees_mu);
  caches_->trees.Put(id, shared, TreeCost(*shared));
  return shared;
}

Result<tree::Node> RecoveryPointReader::Lookup(const std::string& path) {
  tree::Node node;
  node.name = "/";
  node.type = tree::NodeType::kDirectory;
  node.mode = 0755;
  node.mtime_ns = root_mtime_ns_;
  node.ctime_ns = root_mtime_ns_;
  node.subtree = root_tree_;
  for (const std::string& part : SplitPath(path)) {
    if (node.type != tree::NodeType::kDirectory || !node.subtree) {
      return NotFound("'" + path + "' is not in the recovery point");
    }
    OB_ASSIGN_OR_RETURN(std::shared_ptr<const tree::Tree> tree, LoadTree(*node.subtree));
    // Nodes are sorted by name (bytewise, as std::string compares).
    auto it = std::lower_bound(
        tree->nodes.begin(), tree->nodes.end(), part,
        [](const tree::Node& n, const std::string& name) { return n.name < name; });
    if (it == tree->nodes.end() || it->name != part) {
      return NotFound("'" + path + "' is not in the recovery point");
    }
    node = *it;
  }
  return node;
}

Result<platform::FileInfo> RecoveryPointReader::Stat(const std::string& path) {
  OB_ASSIGN_OR_RETURN(tree::Node node, Lookup(path));
  return InfoOf(node, path);
}

platform::FileInfo RecoveryPointReader::InfoOf(const tree::Node& node,
                                               const std::string& path) const {
  platform::FileInfo info;
  info.kind = KindOf(node.type);
  info.mode = node.mode & 07777;
  info.mtime_ns = node.mtime_ns;
  info.ctime_ns = node.ctime_ns;
  info.uid = node.uid;
  info.gid = node.gid;
  info.device = node.device;
  switch (node.type) {
    case tree::NodeType::kFile:
      info.size = node.size;
      info.link_count = std::max<uint32_t>(node.link_count, 1);
      break;
    case tree::NodeType::kSymlink:
      info.size = node.symlink_target.size();
      break;
    case tree::NodeType::kDirectory:
      // 1: "unknown", so tools like find do not count subfolders by it.
      info.link_count = 1;
      break;
  }
  std::string normalized;  // "/a/b" however the path was written
  for (const std::string& part : SplitPath(path)) normalized += "/" + part;
  info.inode = normalized.empty() ? 1 : InodeNumber(node, normalized);
  return info;
}

Result<std::vector<platform::MountEntry>> RecoveryPointReader::ListDir(const std::string& path) {
  OB_ASSIGN_OR_RETURN(tree::Node node, Lookup(path));
  if (node.type != tree::NodeType::kDirectory || !node.subtree) {
    return InvalidArgument("'" + path + "' is not a folder");
  }
  OB_ASSIGN_OR_RETURN(std::shared_ptr<const tree::Tree> tree, LoadTree(*node.subtree));
  std::vector<platform::MountEntry> entries;
  entries.reserve(tree->nodes.size());
  for (const auto& child : tree->nodes) {
    entries.push_back({child.name, InfoOf(child, JoinPath(path, child.name))});
  }
  return entries;
}

Result<std::string> RecoveryPointReader::ReadLink(const std::string& path) {
  OB_ASSIGN_OR_RETURN(tree::Node node, Lookup(path));
  if (node.type != tree::NodeType::kSymlink) {
    return InvalidArgument("'" + path + "' is not a symbolic link");
  }
  return node.symlink_target;
}

Result<std::shared_ptr<const RecoveryPointReader::FileLayout>> RecoveryPointReader::LoadFile(
    const std::string& path) {
  {
    std::lock_guard lock(caches_->files_mu);
    if (auto hit = caches_->files.Get(path)) return hit;
  }
  OB_ASSIGN_OR_RETURN(tree::Node node, Lookup(path));
  if (node.type != tree::NodeType::kFile) {
    return InvalidArgument("'" + path + "' is not a file");
  }
  auto layout = std::make_shared<FileLayout>();
  layout->size = node.size;
  layout->starts.reserve(node.content.size());
  for (const auto& chunk : node.content) {
    layout->starts.push_back(layout->chunk_total);
    layout->chunk_total += chunk.size;
  }
  layout->chunks = std::move(node.content);
  std::shared_ptr<const FileLayout> shared = std::move(layout);
  std::lock_guard lock(caches_->files_mu);
  caches_->files.Put(path, shared, 1);
  return shared;
}

Result<std::shared_ptr<const Bytes>> RecoveryPointReader::LoadChunk(const tree::ChunkRef& chunk) {
  {
    std::lock_guard lock(caches_->chunks_mu);
    if (auto hit = caches_->chunks.Get(chunk.id)) return hit;
  }
  // Fetched without holding the lock: other reads go on meanwhile. Two
  // reads of the same missing chunk may both fetch it; both get the same
  // bytes.
  OB_ASSIGN_OR_RETURN(Bytes plain, repo_.ReadBlob(chunk.id));
  if (plain.size() != chunk.size) {
    return Corrupt("chunk " + chunk.id.Hex() + " holds " + std::to_string(plain.size()) +
                   " bytes, the file's tree says " + std::to_string(chunk.size));
  }
  auto shared = std::make_shared<const Bytes>(std::move(plain));
  std::lock_guard lock(caches_->chunks_mu);
  caches_->chunks.Put(chunk.id, shared, shared->size());
  return shared;
}

Result<size_t> RecoveryPointReader::Read(const std::string& path, uint64_t offset, uint8_t* buffer,
                                         size_t size) {
  OB_ASSIGN_OR_RETURN(std::shared_ptr<const FileLayout> file, LoadFile(path));
  if (file->chunk_total != file->size) {
    return Corrupt("the chunks of '" + path + "' add up to " + std::to_string(file->chunk_total) +
                   " bytes, its size is " + std::to_string(file->size));
  }
  if (offset >= file->size || size == 0) return size_t{0};
  const uint64_t end = offset + std::min<uint64_t>(size, file->size - offset);
  // The chunk holding `offset`: the last one starting at or before it.
  auto first = std::upper_bound(file->starts.begin(), file->starts.end(), offset);
  size_t index = static_cast<size_t>(first - file->starts.begin()) - 1;
  uint64_t pos = offset;
  while (pos < end) {
    const tree::ChunkRef& ref = file->chunks[index];
    Result<std::shared_ptr<const Bytes>> chunk = LoadChunk(ref);
    if (!chunk.ok()) return chunk.status().WithContext("reading '" + path + "'");
    const uint64_t in_chunk = pos - file->starts[index];
    const uint64_t n = std::min<uint64_t>(end - pos, ref.size - in_chunk);
    std::memcpy(buffer + (pos - offset), (*chunk)->data() + in_chunk, n);
    pos += n;
    ++index;
  }
  return static_cast<size_t>(end - offset);
}

}  // namespace obagent::engine
