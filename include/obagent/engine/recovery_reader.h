// Random access to the files of a recovery point without restoring them
// (Instant Restore: platform_mount.h serves it as a read-only folder). A
// read of a byte range fetches, authenticates and decompresses only the
// chunks that cover it — found through the cumulative chunk sizes of the
// file's tree node — and keeps recently used decrypted chunks in a small
// bounded cache, so reading a few bytes of a large file never reads the file
// whole. Folder trees are parsed once and cached (bounded) as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"
#include "obagent/engine/repository.h"
#include "obagent/platform.h"
#include "obagent/platform_mount.h"
#include "obagent/status.h"

namespace obagent::engine {

struct RecoveryReaderOptions {
  // Decrypted chunks kept for following reads (chunks are 256 KiB–4 MiB;
  // the kernel reads a file in 128 KiB requests, so a chunk is read by
  // several requests in a row).
  size_t chunk_cache_bytes = 32u << 20;
  // Parsed folder trees kept (an estimate of their size in memory).
  size_t tree_cache_bytes = 16u << 20;
  // Files whose chunk offsets are kept.
  size_t file_cache_entries = 256;
};

// Thread safety: every call may come from any number of threads at once
// (a mount serves reads from several threads); each cache has its own lock,
// held only to look up or insert, never while the vault is read. The
// repository is only read (see Repository's thread safety).
class RecoveryPointReader : public platform::ReadOnlyFileSystem {
 public:
  // The repository's index must be loaded. `point` gives the root tree and
  // the time shown for the root folder.
  RecoveryPointReader(Repository& repo, const recovery_point::RecoveryPoint& point,
                      RecoveryReaderOptions options = {});
  ~RecoveryPointReader() override;
  RecoveryPointReader(const RecoveryPointReader&) = delete;
  RecoveryPointReader& operator=(const RecoveryPointReader&) = delete;

  // The tree node at an absolute path ("/" is the root folder).
  Result<tree::Node> Lookup(const std::string& path);

  Result<platform::FileInfo> Stat(const std::string& path) override;
  Result<std::vector<platform::MountEntry>> ListDir(const std::string& path) override;
  Result<std::string> ReadLink(const std::string& path) override;
  // kCorrupt when a chunk fails authentication or the chunks do not add up
  // to the file's size: damaged data is never returned.
  Result<size_t> Read(const std::string& path, uint64_t offset, uint8_t* buffer,
                      size_t size) override;

 private:
  struct FileLayout;
  struct Caches;

  platform::FileInfo InfoOf(const tree::Node& node, const std::string& path) const;
  Result<std::shared_ptr<const tree::Tree>> LoadTree(const ObjectId& id);
  Result<std::shared_ptr<const Bytes>> LoadChunk(const tree::ChunkRef& chunk);
  Result<std::shared_ptr<const FileLayout>> LoadFile(const std::string& path);

  Repository& repo_;
  ObjectId root_tree_;
  int64_t root_mtime_ns_;
  std::unique_ptr<Caches> caches_;
};

}  // namespace obagent::engine
