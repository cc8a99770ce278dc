// The backup job: walk, read and chunk (this thread), then hash, compress,
// seal and pack on the workers (docs/architecture.md, "Backup data path").
#include "obagent/engine/backup.h"
#include "obagent/engine/progress.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/executor.h"
#include "engine/glob.h"
#include "engine/paths.h"
#include "obagent/core/blob_id.h"
#include "obagent/core/compress.h"
#include "obagent/core/crypto.h"
#include "obagent/core/pack.h"
#include "obagent/core/security_descriptor.h"
#include "obagent/core/tree.h"

namespace obagent::engine {

namespace {

// The included paths as a trie of absolute path components: inner nodes are
// the folders above an included root (only their metadata is kept), marked
// nodes are included roots (walked completely).
struct IncludeTrie {
  bool included = false;
  std::map<std::string, IncludeTrie> children;
};

// A file whose chunks are still being processed by the workers.
struct PendingChunks {
  std::vector<std::future<ObjectId>> ids;
  std::vector<uint32_t> sizes;
};

// A named stream being read: its chunks, as a file's.
struct PendingStream {
  std::string name;
  PendingChunks chunks;
};

using OpenedFile = Result<std::unique_ptr<platform::ReadableFile>>;

struct PendingNode {
  tree::Node node;
  std::optional<PendingChunks> chunks;
  // A regular file's named streams to read (FillMetadata lists them when
  // it reads the metadata), then those being read.
  std::vector<platform::StreamInfo> streams_to_read;
  std::vector<PendingStream> streams;
  // A regular file opened by FillMetadata with its metadata (or why it
  // could not be: it is not tried again), for BackupEntry to read the
  // content from; it never outlives BackupEntry.
  std::optional<OpenedFile> opened;
};

// The buffers files are read into. A chunk handed to the workers is a view
// into its block and keeps the block alive; the block returns to the pool
// when its last chunk is processed. Reading therefore allocates nothing per
// chunk, and the only copy is the uncut tail of a full block, moved to the
// next one. At most `count` blocks exist (created on first use), so memory
// stays bounded; Acquire waits for a free one. Thread-safe.
class BlockPool {
 public:
  struct Block {
    explicit Block(size_t size) : data(new uint8_t[size]) {}  // not zeroed
    std::unique_ptr<uint8_t[]> data;
  };

  // on_wait: called about every 100 ms while Acquire waits (the job's
  // progress keeps moving while the reader waits for the workers).
  BlockPool(size_t block_size, size_t count, std::function<void()> on_wait = {})
      : block_size_(block_size), count_(count), on_wait_(std::move(on_wait)) {}
  ~BlockPool() {
    for (Block* b : free_) delete b;
  }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  size_t block_size() const { return block_size_; }

  std::shared_ptr<Block> Acquire() {
    Block* block = nullptr;
    {
      std::unique_lock lock(mu_);
      auto ready = [&] { return !free_.empty() || created_ < count_; };
      while (on_wait_ && !available_.wait_for(lock, std::chrono::milliseconds(100), ready)) {
        lock.unlock();
        on_wait_();
        lock.lock();
      }
      available_.wait(lock, ready);
      if (!free_.empty()) {
        block = free_.back();
        free_.pop_back();
      } else {
        ++created_;
      }
    }
    if (block == nullptr) block = new Block(block_size_);
    return std::shared_ptr<Block>(block, [this](Block* b) { Return(b); });
  }

 private:
  void Return(Block* block) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(block);
    }
    available_.notify_one();
  }

  const size_t block_size_;
  const size_t count_;
  const std::function<void()> on_wait_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<Block*> free_;
  size_t created_ = 0;
};

// Whether the folder `info` is another folder than the one the parent
// point recorded as `previous` under the same name: deleted and recreated
// in between. Another inode says so (NTFS file ids carry a sequence number
// and are not reused at once); ext4 does reuse a freed inode number at once,
// so a folder born after the change time recorded for the name says so too
// (a folder's change time is never before its birth). The device is not
// compared: each btrfs snapshot the backup reads has its own.
bool RecreatedSince(const tree::Node& previous, const platform::FileInfo& info) {
  if (previous.type != tree::NodeType::kDirectory || info.kind != platform::FileKind::kDirectory) {
    return false;
  }
  if (previous.inode != 0 && info.inode != 0 && previous.inode != info.inode) return true;
  return info.birth_ns != 0 && previous.ctime_ns != 0 && info.birth_ns > previous.ctime_ns;
}

class BackupRun {
 public:
  BackupRun(Repository& repo, const BackupOptions& options)
      : repo_(repo),
        env_(repo.env()),
        options_(options),
        chunker_(options.chunker, repo.keys().chunker_seed),
        threads_(options.threads ? options.threads
                                 : std::max(1u, std::thread::hardware_concurrency())),
        reporter_(options.progress, [this] { return SampleProgress(); }),
        // Two maximal chunks per block keep the copied tails small; the
        // reader holds at most two blocks, the queued and running chunks
        // (2 x workers + 2 + workers, mostly far below max_size) rarely span
        // more than the rest.
        blocks_(2 * options.chunker.max_size, threads_ + 2, [this] { reporter_.Report(); }),
        // One pack uploading and one waiting: the workers hand full packs
        // over and go on compressing while a pack is written and fsynced
        // (or sent to vaultd).
        uploads_(1, 1, [this] { reporter_.Report(); }),
        // A thread waiting for the workers (the queue is full, a file's
        // chunks or the last uploads are pending) keeps the progress moving.
        executor_(threads_, 2 * threads_ + 2, [this] { reporter_.Report(); }),
        // Room for a full pack, one more maximal chunk and the header.
        data_pack_(repo.keys().data_key, options.pack_size + options.chunker.max_size + (1u << 20)),
        tree_pack_(repo.keys().data_key) {}
  // A job that failed or was stopped can leave chunks and packs queued:
  // they finish (and see failed()) while every member they use still
  // exists, before the members are destroyed.
  ~BackupRun() {
    executor_.Drain();
    uploads_.Drain();
  }
  BackupRun(const BackupRun&) = delete;
  BackupRun& operator=(const BackupRun&) = delete;

  Result<BackupReport> Run();
  // The job's last progress report, on every path (ProgressReporter::Finish).
  void FinishProgress() { reporter_.Finish(); }

 private:
  Result<ObjectId> BackupDirectory(const std::string& path, const std::string& rel,
                                   const IncludeTrie* trie, const tree::Tree* previous);
  // Fills `pending` for one entry; returns false when the entry is skipped.
  bool BackupEntry(const std::string& path, const std::string& rel, const std::string& name,
                   const platform::FileInfo& info, const IncludeTrie* trie,
                   const tree::Node* previous, PendingNode& pending);
  // Fills the node's typed metadata (xattrs, flags, sparse, the Windows
  // security descriptor and attributes): taken over from the previous point
  // when the entry's ctime and inode are the same (every metadata change
  // moves ctime, NTFS's ChangeTime on Windows, so an unchanged backup stays
  // metadata-only), else read. A read error is a warning: the entry is
  // still backed up. A regular file's metadata is read with the file opened
  // for its content (pending.opened).
  void FillMetadata(const std::string& path, const platform::FileInfo& info,
                    const tree::Node* previous, bool previous_has_metadata, PendingNode& pending);
  // The Windows descriptor and attributes of a fresh read (a descriptor
  // only when it is well-formed).
  void FillWindowsSecurity(const std::string& path, platform::FileMetadata& md, tree::Node& node);
  // `opened`: the outcome of FillMetadata's open, if it opened the file.
  bool ReadFile(const std::string& path, const platform::FileInfo& info, PendingChunks& out,
                std::optional<OpenedFile> opened);
  // `stream`: a named stream of the file, or empty for its content. It is
  // opened here unless `opened` holds the outcome of an earlier open.
  Status ReadFileOnce(const std::string& path, uint64_t size, PendingChunks& out,
                      platform::FileInfo& after, const std::string& stream = "",
                      std::optional<OpenedFile> opened = std::nullopt);
  // A regular file's named streams: those of the previous point when they
  // are unchanged and held in the vault, else read (pending.streams). A
  // stream that cannot be read is a warning; the file is backed up.
  void BackupStreams(const std::string& path, const tree::Node* reusable, PendingNode& pending);
  // Queues a chunk for the workers. Chunks are handed over in batches of
  // up to kBatchChunks or kBatchBytes (a small file's chunk alone costs a
  // thread hand-off of its own: on the peers dataset 110,000 futex calls
  // for 22,000 chunks); a batch is sent when full, before a new block is
  // taken, and before any chunk id is awaited (AwaitChunk).
  void SubmitChunk(const std::shared_ptr<BlockPool::Block>& block, size_t offset, size_t length,
                   PendingChunks& out);
  void SubmitBatch();
  ObjectId AwaitChunk(std::future<ObjectId>& id) {
    SubmitBatch();
    return executor_.Await(id);
  }
  ObjectId ProcessChunk(ByteView data, pack::BlobType type);
  void AddToPack(pack::PackWriter& writer, pack::BlobType type, const ObjectId& id,
                 ByteView payload, uint32_t raw_length);
  Status UploadFinished(pack::PackWriter::Finished& finished);
  // Queues a finished pack for the upload thread; a failed upload fails the job.
  void SubmitUpload(pack::PackWriter::Finished finished);
  // Payload buffers of the workers, reused from chunk to chunk.
  Bytes TakeScratch();
  void ReturnScratch(Bytes scratch);
  Status FlushPacks();
  void Fail(Status status);
  // A stop request counts as the job's first error: no recovery point is
  // written and uploads stop.
  bool failed() {
    if (options_.cancel != nullptr && !failed_.load(std::memory_order_relaxed) &&
        options_.cancel->load(std::memory_order_relaxed)) {
      Fail(Status(ErrorCode::kCancelled, "the job was stopped (obctl job stop)"));
    }
    return failed_.load(std::memory_order_relaxed);
  }
  void Skip(const std::string& path, const Status& why);
  Progress SampleProgress() const;
  const tree::Tree* LoadPrevious(const std::optional<ObjectId>& id, std::vector<tree::Tree>& keep);
  // Files (regular and symbolic links) of the parent point under `node`:
  // 1 for a file, the files of its trees for a folder (read from the vault;
  // a tree that cannot be read counts nothing: the figure is informational).
  uint64_t CountPreviousFiles(const tree::Node& node);
  // files_new / files_changed for one file entry against the parent's node.
  void CountFile(const tree::Node* previous, bool changed);
  // Where to read a source path from: inside the snapshot, if there is one.
  // The recovery point records `path` itself.
  std::string ReadPath(const std::string& path) const {
    return snapshot_ ? snapshot_->ReadPath(path) : path;
  }
  // `job` with the failure to remove the snapshot added, if any.
  static Status WithRelease(Status job, const Status& released);

  Repository& repo_;
  platform::Env& env_;
  const BackupOptions& options_;
  chunker::Chunker chunker_;
  size_t threads_;
  // Progress figures, updated by the reader and the workers; reported by
  // reporter_ from whichever thread moved them or waits.
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> bytes_uploaded_{0};
  // The total: none on a machine's first backup; else the previous point's
  // size, grown to the sizes scanned so far, and once the scan has ended
  // (every file visited) exactly what it scanned.
  std::atomic<bool> has_previous_{false};
  std::atomic<uint64_t> bytes_total_estimate_{0};
  std::atomic<uint64_t> bytes_scanned_{0};
  std::atomic<bool> scan_done_{false};
  ProgressReporter reporter_;  // before the pools, whose tasks report
  BlockPool blocks_;           // before executor_: the workers' chunks point into blocks
  struct ChunkJob {
    std::shared_ptr<BlockPool::Block> block;
    size_t offset;
    size_t length;
    std::shared_ptr<std::promise<ObjectId>> promise;
  };
  static constexpr size_t kBatchChunks = 32;
  static constexpr size_t kBatchBytes = 1u << 20;
  std::vector<ChunkJob> batch_;  // the walking thread's, not yet submitted
  size_t batch_bytes_ = 0;
  BoundedExecutor uploads_;   // before executor_: the workers submit uploads
  BoundedExecutor executor_;  // after reporter_, which its wait hook calls
  // The block being read into and where its data ends (the reader's only).
  std::shared_ptr<BlockPool::Block> block_;
  size_t block_end_ = 0;

  std::mutex scratch_mu_;
  std::vector<Bytes> scratch_;

  std::mutex known_mu_;
  std::unordered_set<ObjectId, ObjectIdHash> added_;  // blobs new in this run

  std::mutex pack_mu_;
  pack::PackWriter data_pack_;
  pack::PackWriter tree_pack_;
  std::vector<index::PackEntries> uploaded_;

  std::mutex error_mu_;
  Status first_error_;
  std::atomic<bool> failed_{false};

  std::vector<FailedFile> skipped_;
  std::vector<std::string> excluded_nodump_;
  std::vector<std::string> recreated_roots_;                        // BackupReport::recreated_roots
  std::map<std::pair<uint64_t, uint64_t>, std::string> hardlinks_;  // (dev, ino) -> first path
  recovery_point::Stats stats_;
  std::atomic<uint64_t> bytes_new_{0};
  std::atomic<uint64_t> healed_{0};
  // BackupFigures: the file counts by the reader thread, the bytes by the workers.
  uint64_t files_new_ = 0;
  uint64_t files_changed_ = 0;
  uint64_t files_deleted_ = 0;
  std::atomic<uint64_t> data_new_{0};
  std::atomic<uint64_t> data_new_incompressible_{0};
  std::unique_ptr<platform::Snapshot> snapshot_;  // released by its destructor on every path
};

Status BackupRun::WithRelease(Status job, const Status& released) {
  if (released.ok()) return job;
  return Status(job.code(), job.detail() + "; the snapshot could not be removed either: " +
                                released.ToString());
}

void BackupRun::Fail(Status status) {
  std::lock_guard lock(error_mu_);
  if (first_error_.ok()) first_error_ = std::move(status);
  failed_ = true;
}

void BackupRun::Skip(const std::string& path, const Status& why) {
  skipped_.push_back({path, why.ToString(), why.os_error()});
  ++stats_.files_skipped;
}

Progress BackupRun::SampleProgress() const {
  Progress p;
  p.files_done = files_done_;
  p.bytes_done = bytes_done_;
  if (has_previous_) {
    const uint64_t scanned = bytes_scanned_;
    p.bytes_total = scan_done_ ? scanned : std::max<uint64_t>(bytes_total_estimate_, scanned);
  }
  p.bytes_read = bytes_read_;
  p.bytes_uploaded = bytes_uploaded_;
  return p;
}

Bytes BackupRun::TakeScratch() {
  std::lock_guard lock(scratch_mu_);
  if (scratch_.empty()) return {};
  Bytes b = std::move(scratch_.back());
  scratch_.pop_back();
  return b;
}

void BackupRun::ReturnScratch(Bytes scratch) {
  std::lock_guard lock(scratch_mu_);
  scratch_.push_back(std::move(scratch));
}

ObjectId BackupRun::ProcessChunk(ByteView data, pack::BlobType type) {
  const ObjectId id = BlobId::Of(repo_.keys().id_key, data);
  // Data the vault holds already (or that is on its way in this run's
  // packs) is done; new data is done when its pack is accepted.
  const uint64_t done = type == pack::BlobType::kData ? data.size() : 0;
  // A blob counts as held only with a copy present and not found damaged.
  if (repo_.index().Contains(id) && !repo_.FoundDamaged(id)) {
    bytes_done_ += done;
    return id;
  }
  {
    std::lock_guard lock(known_mu_);
    if (!added_.insert(id).second) {
      bytes_done_ += done;
      return id;
    }
  }
  // Uploaded again: the vault had lost it, or held it damaged.
  if (repo_.lost_blobs().contains(id) || repo_.FoundDamaged(id)) ++healed_;
  Bytes scratch = TakeScratch();
  ByteView payload = compress::EncodePayloadInto(data, scratch);
  bytes_new_ += data.size();
  if (type == pack::BlobType::kData) {
    data_new_ += data.size();
    // The codec kept it raw: it did not compress (compress.h).
    if (!payload.empty() && payload[0] == static_cast<uint8_t>(compress::Codec::kNone)) {
      data_new_incompressible_ += data.size();
    }
  }
  AddToPack(type == pack::BlobType::kTree ? tree_pack_ : data_pack_, type, id, payload,
            static_cast<uint32_t>(data.size()));
  ReturnScratch(std::move(scratch));
  return id;
}

void BackupRun::AddToPack(pack::PackWriter& writer, pack::BlobType type, const ObjectId& id,
                          ByteView payload, uint32_t raw_length) {
  std::optional<pack::PackWriter::Finished> finished;
  {
    // Sealing under the lock writes the blob straight into the pack; AES-GCM
    // runs at GB/s, compression (outside the lock) at a tenth of that.
    std::lock_guard lock(pack_mu_);
    writer.AddPayload(type, id, payload, raw_length);
    if (writer.size() >= options_.pack_size) finished = writer.FinishUnnamed();
  }
  // Naming (SHA-256) and uploading happen on the upload thread.
  if (finished) SubmitUpload(std::move(*finished));
}

void BackupRun::SubmitUpload(pack::PackWriter::Finished finished) {
  auto pack = std::make_shared<pack::PackWriter::Finished>(std::move(finished));
  uploads_.Submit([this, pack] {
    Status st = UploadFinished(*pack);
    if (!st.ok()) Fail(st);
  });
}

Status BackupRun::UploadFinished(pack::PackWriter::Finished& finished) {
  if (failed()) return Status::Ok();  // the job is failing: upload nothing more
  if (finished.name.empty()) finished.name = pack::PackName(finished.bytes);
  OB_RETURN_IF_ERROR(repo_.UploadPack(finished, options_.staging_dir));
  uint64_t data_bytes = 0;
  for (const auto& e : finished.entries) {
    if (e.type == pack::BlobType::kData) data_bytes += e.raw_length;
  }
  // Done first: a report sampled in between (another thread's) never shows
  // an accepted pack whose data is not yet counted in the vault.
  bytes_done_ += data_bytes;
  bytes_uploaded_ += finished.bytes.size();
  reporter_.Report();
  const bool trees =
      !finished.entries.empty() && finished.entries.front().type == pack::BlobType::kTree;
  std::lock_guard lock(pack_mu_);
  uploaded_.push_back({finished.name, std::move(finished.entries)});
  // The next pack is written into this one's buffer.
  (trees ? tree_pack_ : data_pack_).Recycle(std::move(finished.bytes));
  return Status::Ok();
}

Status BackupRun::FlushPacks() {
  for (pack::PackWriter* writer : {&data_pack_, &tree_pack_}) {
    std::optional<pack::PackWriter::Finished> finished;
    {
      std::lock_guard lock(pack_mu_);
      if (!writer->empty()) finished = writer->FinishUnnamed();
    }
    if (finished) SubmitUpload(std::move(*finished));
  }
  uploads_.Drain();
  return Status::Ok();  // a failed upload failed the job (Fail)
}

void BackupRun::SubmitChunk(const std::shared_ptr<BlockPool::Block>& block, size_t offset,
                            size_t length, PendingChunks& out) {
  auto promise = std::make_shared<std::promise<ObjectId>>();
  out.ids.push_back(promise->get_future());
  out.sizes.push_back(static_cast<uint32_t>(length));
  batch_.push_back({block, offset, length, std::move(promise)});
  batch_bytes_ += length;
  if (batch_.size() >= kBatchChunks || batch_bytes_ >= kBatchBytes) SubmitBatch();
}

void BackupRun::SubmitBatch() {
  if (batch_.empty()) return;
  executor_.Submit([this, jobs = std::move(batch_)] {
    for (const ChunkJob& job : jobs) {
      job.promise->set_value(ProcessChunk(ByteView(job.block->data.get() + job.offset, job.length),
                                          pack::BlobType::kData));
    }
  });
  batch_.clear();
  batch_bytes_ = 0;
}

Status BackupRun::ReadFileOnce(const std::string& path, uint64_t size, PendingChunks& out,
                               platform::FileInfo& after, const std::string& stream,
                               std::optional<OpenedFile> opened) {
  if (!opened) {
    opened.emplace(stream.empty() ? env_.OpenForRead(ReadPath(path))
                                  : env_.OpenStreamForRead(ReadPath(path), stream));
  }
  OB_ASSIGN_OR_RETURN(std::unique_ptr<platform::ReadableFile> file, std::move(*opened));
  const size_t max = options_.chunker.max_size;
  const size_t block_size = blocks_.block_size();
  // The file goes behind the previous one when its first chunk (and the
  // end of file, for a small one) fits there; else into a fresh block.
  const size_t first = static_cast<size_t>(std::min<uint64_t>(size + 1, max));
  if (!block_ || block_size - block_end_ < first) {
    SubmitBatch();  // its chunks may hold the blocks Acquire waits for
    block_ = blocks_.Acquire();
    block_end_ = 0;
  }
  size_t start = block_end_, end = block_end_;
  // On every return the next file goes behind what this one read: chunks
  // already submitted point into the block.
  struct SetEnd {
    size_t& to;
    const size_t& end;
    ~SetEnd() { to = end; }
  } set_end{block_end_, end};
  bool eof = false;
  for (;;) {
    // Fill the block (or read to the end of the file).
    while (!eof && end < block_size) {
      OB_ASSIGN_OR_RETURN(size_t n, file->Read(block_->data.get() + end, block_size - end));
      if (n == 0) eof = true;
      end += n;
      stats_.bytes_read += n;
      bytes_read_ += n;
      reporter_.Report();  // a large file moves the figures while it is read
    }
    // Cut every chunk the data in hand decides. With less than max_size
    // bytes left and more to come, a cut found before the end is final (a
    // cut depends only on the bytes before it), but no cut means "read on".
    while (start < end) {
      const size_t avail = end - start;
      size_t cut = chunker_.NextChunkLength(ByteView(block_->data.get() + start, avail));
      if (!eof && cut == avail && avail < max) break;
      SubmitChunk(block_, start, cut, out);
      start += cut;
      if (failed()) return Status::Ok();
    }
    if (eof) break;
    // The block is full: the uncut tail (less than max_size) moves to a
    // fresh block, where the file goes on.
    SubmitBatch();
    auto next = blocks_.Acquire();
    std::memcpy(next->data.get(), block_->data.get() + start, end - start);
    end -= start;
    start = 0;
    block_ = std::move(next);
  }
  if (stream.empty()) {
    OB_ASSIGN_OR_RETURN(after, file->Stat());
  }
  return Status::Ok();
}

void BackupRun::BackupStreams(const std::string& path, const tree::Node* reusable,
                              PendingNode& pending) {
  tree::Node& node = pending.node;
  if (reusable != nullptr) {
    bool held = true;
    for (const tree::NamedStream& s : reusable->streams) {
      for (const tree::ChunkRef& c : s.content) {
        if (!repo_.index().Contains(c.id) || repo_.FoundDamaged(c.id)) held = false;
      }
    }
    if (held) {
      node.streams = reusable->streams;
      for (const tree::NamedStream& s : node.streams) {
        stats_.bytes_scanned += s.size;
        bytes_scanned_ += s.size;
        bytes_done_ += s.size;
      }
      return;
    }
    for (const tree::NamedStream& s : reusable->streams) {
      pending.streams_to_read.push_back({s.name, s.size});
    }
  }
  std::vector<platform::StreamInfo>& list = pending.streams_to_read;
  std::sort(
      list.begin(), list.end(),
      [](const platform::StreamInfo& a, const platform::StreamInfo& b) { return a.name < b.name; });
  for (size_t i = 0; i < list.size(); ++i) {
    const platform::StreamInfo& s = list[i];
    const std::string shown = path + ":" + s.name;
    // A name the tree cannot store, or one too many: the file is kept
    // without it, and the job says so.
    if (!tree::IsSafeStreamName(s.name) || (i > 0 && list[i - 1].name == s.name)) {
      skipped_.push_back({shown,
                          "this alternate data stream's name cannot be stored in a "
                          "recovery point; the file is backed up without it"});
      continue;
    }
    if (pending.streams.size() >= tree::kMaxStreams) {
      skipped_.push_back({path, "the file has more than " + std::to_string(tree::kMaxStreams) +
                                    " alternate data streams; the others are not backed up"});
      break;
    }
    stats_.bytes_scanned += s.size;
    bytes_scanned_ += s.size;
    PendingStream read{s.name, {}};
    platform::FileInfo unused;
    Status st = ReadFileOnce(path, s.size, read.chunks, unused, s.name);
    if (!st.ok()) {
      for (auto& f : read.chunks.ids) (void)AwaitChunk(f);
      skipped_.push_back({shown,
                          "this alternate data stream could not be read (the file is backed up "
                          "without it): " +
                              st.ToString(),
                          st.os_error()});
      continue;
    }
    pending.streams.push_back(std::move(read));
  }
  list.clear();
}

bool BackupRun::ReadFile(const std::string& path, const platform::FileInfo& info,
                         PendingChunks& out, std::optional<OpenedFile> opened) {
  // Without a snapshot a file can change while it is read: read it again
  // once (opened again), then keep what was read and warn.
  for (int attempt = 0; attempt < 2; ++attempt) {
    PendingChunks chunks;
    platform::FileInfo after;
    Status st = ReadFileOnce(path, info.size, chunks, after, "", std::move(opened));
    opened.reset();
    if (!st.ok()) {
      Skip(path, st);
      for (auto& f : chunks.ids) (void)AwaitChunk(f);
      return false;
    }
    out = std::move(chunks);
    if (after.size == info.size && after.mtime_ns == info.mtime_ns) return true;
  }
  skipped_.push_back({path,
                      "the file changed while it was being read; the copy may be "
                      "inconsistent"});
  return true;
}

void BackupRun::FillMetadata(const std::string& path, const platform::FileInfo& info,
                             const tree::Node* previous, bool previous_has_metadata,
                             PendingNode& pending) {
  tree::Node& node = pending.node;
  if (previous && previous_has_metadata && previous->ctime_ns == info.ctime_ns &&
      previous->inode == info.inode) {
    node.xattrs = previous->xattrs;
    node.linux_flags = previous->linux_flags;
    node.sparse = previous->sparse && info.kind == platform::FileKind::kRegular;
    node.win_security = previous->win_security;
    node.win_attributes = previous->win_attributes;
    // Named streams: BackupEntry takes them over with the content.
    if (info.kind == platform::FileKind::kSymlink) node.win_reparse = previous->win_reparse;
    return;
  }
  Result<platform::FileMetadata> md = platform::FileMetadata{};
  if (info.kind == platform::FileKind::kRegular) {
    platform::Env::OpenedWithMetadata both = env_.OpenWithMetadata(ReadPath(path), info);
    md = std::move(both.metadata);
    pending.opened.emplace(std::move(both.file));
  } else {
    md = env_.ReadMetadata(ReadPath(path), info);
  }
  if (!md.ok()) {
    skipped_.push_back(
        {path,
         "its metadata (extended attributes, ACLs, flags) could not be read (the file is "
         "backed up without them): " +
             md.status().ToString()});
    return;
  }
  node.xattrs.reserve(md->xattrs.size());
  for (platform::ExtendedAttribute& x : md->xattrs) {
    node.xattrs.push_back({std::move(x.name), std::move(x.value)});
  }
  node.linux_flags = md->linux_flags;
  node.sparse = md->sparse && info.kind == platform::FileKind::kRegular;
  if (info.kind == platform::FileKind::kRegular) pending.streams_to_read = std::move(md->streams);
  if (info.kind == platform::FileKind::kSymlink && md->reparse) {
    node.win_reparse = tree::WinReparse{static_cast<tree::WinReparseKind>(md->reparse->kind),
                                        md->reparse->relative};
  }
  FillWindowsSecurity(path, *md, node);
}

void BackupRun::FillWindowsSecurity(const std::string& path, platform::FileMetadata& md,
                                    tree::Node& node) {
  node.win_attributes = md.win_attributes;
  if (md.win_security.empty()) return;
  // Only what a tree may hold: a descriptor the restore's parser would
  // refuse would make the whole folder's tree unreadable.
  Result<win_security::SecurityDescriptorParts> parts =
      win_security::CheckSecurityDescriptor(md.win_security);
  if (!parts.ok()) {
    skipped_.push_back({path,
                        "its security descriptor is not recorded (the file is backed up "
                        "without it): " +
                            parts.status().ToString()});
    return;
  }
  node.win_security = std::move(md.win_security);
}

bool BackupRun::BackupEntry(const std::string& path, const std::string& rel,
                            const std::string& name, const platform::FileInfo& info,
                            const IncludeTrie* trie, const tree::Node* previous,
                            PendingNode& pending) {
  tree::Node& node = pending.node;
  node.name = name;
  node.mode = info.mode;
  node.mtime_ns = info.mtime_ns;
  node.ctime_ns = info.ctime_ns;
  node.uid = info.uid;
  node.gid = info.gid;
  node.inode = info.inode;
  node.device = info.device;
  node.link_count = static_cast<uint32_t>(info.link_count);
  switch (info.kind) {
    case platform::FileKind::kDirectory: {
      node.type = tree::NodeType::kDirectory;
      std::vector<tree::Tree> keep;
      const tree::Tree* prev_tree = nullptr;
      if (previous && previous->type == tree::NodeType::kDirectory) {
        prev_tree = LoadPrevious(previous->subtree, keep);
      }
      Result<ObjectId> sub = BackupDirectory(path, rel, trie, prev_tree);
      if (!sub.ok()) {
        if (failed()) return false;
        Skip(path, sub.status());
        return false;
      }
      node.subtree = *sub;
      ++stats_.directories;
      return true;
    }
    case platform::FileKind::kSymlink: {
      node.type = tree::NodeType::kSymlink;
      Result<std::string> target = env_.ReadLink(ReadPath(path));
      if (!target.ok()) {
        Skip(path, target.status());
        return false;
      }
      node.symlink_target = std::move(target).value();
      CountFile(previous, previous != nullptr && (previous->type != tree::NodeType::kSymlink ||
                                                  previous->symlink_target != node.symlink_target));
      ++files_done_;
      ++stats_.files;
      return true;
    }
    case platform::FileKind::kRegular: {
      // Closed on every return: pending nodes wait for their whole folder.
      std::optional<OpenedFile> opened = std::move(pending.opened);
      pending.opened.reset();
      node.type = tree::NodeType::kFile;
      node.size = info.size;
      if (info.link_count > 1) {
        auto [it, first] = hardlinks_.try_emplace({info.device, info.inode}, rel);
        if (!first) node.hardlink_to = it->second;
      }
      ++files_done_;
      ++stats_.files;
      stats_.bytes_scanned += info.size;
      bytes_scanned_ += info.size;
      // Unchanged since the previous recovery point: reuse its chunk list.
      // A moved ctime (an ACL, xattr, flag, mode or owner change, or a
      // content change whose writer put the mtime back) reads the file
      // again: a metadata change cannot prove that the data is the same.
      const bool unchanged = previous && previous->type == tree::NodeType::kFile &&
                             previous->size == info.size && previous->mtime_ns == info.mtime_ns &&
                             previous->ctime_ns == info.ctime_ns && previous->inode == info.inode;
      CountFile(previous, !unchanged);
      // The previous point's named streams stand when the file is unchanged
      // and its metadata was taken over (FillMetadata listed none to read).
      const bool streams_unchanged = unchanged && pending.streams_to_read.empty();
      if (unchanged) {
        bool all_known = true;
        for (const auto& c : previous->content) {
          if (!repo_.index().Contains(c.id) || repo_.FoundDamaged(c.id)) all_known = false;
        }
        if (all_known) {
          node.content = previous->content;
          bytes_done_ += info.size;
          BackupStreams(path, streams_unchanged ? previous : nullptr, pending);
          return true;
        }
      }
      pending.chunks.emplace();
      if (!ReadFile(path, info, *pending.chunks, std::move(opened))) return false;
      BackupStreams(path, streams_unchanged ? previous : nullptr, pending);
      return true;
    }
    case platform::FileKind::kOther:
      Skip(path, Status(ErrorCode::kInvalidArgument,
                        "unsupported file type (device, socket or pipe)", os_error::kNotSupported));
      return false;
  }
  return false;
}

const tree::Tree* BackupRun::LoadPrevious(const std::optional<ObjectId>& id,
                                          std::vector<tree::Tree>& keep) {
  if (!id) return nullptr;
  Result<tree::Tree> t = repo_.ReadTree(*id);
  if (!t.ok()) return nullptr;  // change detection is an optimisation only
  keep.push_back(std::move(t).value());
  return &keep.back();
}

void BackupRun::CountFile(const tree::Node* previous, bool changed) {
  if (previous == nullptr || previous->type == tree::NodeType::kDirectory) {
    ++files_new_;
    // A folder of the parent replaced by this file: its files are gone.
    if (previous != nullptr) files_deleted_ += CountPreviousFiles(*previous);
  } else if (changed) {
    ++files_changed_;
  }
}

uint64_t BackupRun::CountPreviousFiles(const tree::Node& node) {
  if (node.type != tree::NodeType::kDirectory) return 1;
  std::vector<tree::Tree> keep;
  const tree::Tree* t = LoadPrevious(node.subtree, keep);
  if (t == nullptr) return 0;
  uint64_t n = 0;
  for (const tree::Node& child : t->nodes) n += CountPreviousFiles(child);
  return n;
}

Result<ObjectId> BackupRun::BackupDirectory(const std::string& path, const std::string& rel,
                                            const IncludeTrie* trie, const tree::Tree* previous) {
  // Names to visit: everything for an included folder, else only the trie's
  // children (the folders above an included root).
  std::vector<std::string> names;
  if (trie == nullptr || trie->included) {
    OB_ASSIGN_OR_RETURN(auto entries, env_.ListDir(ReadPath(path)));
    for (auto& e : entries) names.push_back(std::move(e.name));
  } else {
    for (const auto& [name, _] : trie->children) names.push_back(name);
  }
  std::vector<PendingNode> pending;
  pending.reserve(names.size());
  // The parent's entries met again (files_deleted counts the others).
  std::vector<bool> met(previous ? previous->nodes.size() : 0, false);
  for (const std::string& name : names) {
    if (failed()) return first_error_;
    std::string child_path = JoinPath(path, name);
    if (!tree::IsSafeName(name)) {
      // A name the tree cannot store (empty, ".", "..", a '/' or NUL: no
      // file system lists one, but a broken one or a hostile FUSE server
      // could). Writing it would make a tree the restore refuses, so the
      // entry is skipped and listed instead.
      Skip(child_path, Status(ErrorCode::kInvalidArgument,
                              "the name cannot be stored in a recovery point (empty, '.', '..', "
                              "or containing '/' or a NUL byte); not backed up"));
      continue;
    }
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    const IncludeTrie* child_trie = nullptr;
    if (trie != nullptr && !trie->included) child_trie = &trie->children.at(name);
    bool inside_included = child_trie == nullptr;
    if (inside_included) {
      bool excluded = false;
      for (const auto& pattern : options_.excludes) {
        if (ExcludedBy(pattern, child_path, name)) excluded = true;
      }
      if (excluded) continue;
    }
    Result<platform::FileInfo> info = env_.Lstat(ReadPath(child_path));
    if (!info.ok()) {
      if (!inside_included) return info.status();
      Skip(child_path, info.status());
      continue;
    }
    const tree::Node* prev_node = nullptr;
    if (previous) {
      auto it =
          std::lower_bound(previous->nodes.begin(), previous->nodes.end(), name,
                           [](const tree::Node& n, const std::string& s) { return n.name < s; });
      if (it != previous->nodes.end() && it->name == name) {
        prev_node = &*it;
        met[static_cast<size_t>(it - previous->nodes.begin())] = true;
        // A file of the parent replaced by a folder is gone (the folder's
        // files are new); a folder replaced by a file: CountFile.
        if (info->kind == platform::FileKind::kDirectory &&
            prev_node->type != tree::NodeType::kDirectory) {
          ++files_deleted_;
        }
      }
    }
    if (prev_node && child_trie != nullptr && child_trie->included &&
        RecreatedSince(*prev_node, *info)) {
      // MARS's "critical inconsistency": the included folder is another
      // one now. Nothing of the parent's folder is taken over; its files
      // count as deleted, the new folder's as new.
      recreated_roots_.push_back(child_path);
      files_deleted_ += CountPreviousFiles(*prev_node);
      prev_node = nullptr;
    }
    PendingNode node;
    const bool previous_has_metadata = previous && previous->version >= 2;
    if (info->kind != platform::FileKind::kOther) {
      FillMetadata(child_path, *info, prev_node, previous_has_metadata, node);
      // The nodump flag (chattr +d) excludes an entry below an included
      // path, as dump(8) does; a path included by name is backed up.
      if (child_trie == nullptr && node.node.linux_flags &&
          (*node.node.linux_flags & tree::kLinuxFlagNoDump)) {
        excluded_nodump_.push_back(child_path);
        continue;
      }
    }
    if (BackupEntry(child_path, child_rel, name, *info, child_trie, prev_node, node)) {
      pending.push_back(std::move(node));
    }
    reporter_.Report();
  }
  for (size_t i = 0; i < met.size(); ++i) {
    if (!met[i]) files_deleted_ += CountPreviousFiles(previous->nodes[i]);
  }
  tree::Tree tree;
  tree.nodes.reserve(pending.size());
  for (auto& p : pending) {
    if (p.chunks) {
      for (size_t i = 0; i < p.chunks->ids.size(); ++i) {
        p.node.content.push_back({AwaitChunk(p.chunks->ids[i]), p.chunks->sizes[i]});
      }
    }
    for (PendingStream& s : p.streams) {
      tree::NamedStream stream{s.name, 0, {}};
      for (size_t i = 0; i < s.chunks.ids.size(); ++i) {
        stream.content.push_back({AwaitChunk(s.chunks.ids[i]), s.chunks.sizes[i]});
        stream.size += s.chunks.sizes[i];
      }
      p.node.streams.push_back(std::move(stream));
    }
    tree.nodes.push_back(std::move(p.node));
  }
  if (failed()) return first_error_;
  Bytes data = tree::SerializeTree(tree);
  return ProcessChunk(data, pack::BlobType::kTree);
}

Result<BackupReport> BackupRun::Run() {
  if (options_.includes.empty()) return InvalidArgument("nothing to back up: no --include path");
  OB_RETURN_IF_ERROR(options_.chunker.Validate());
  IncludeTrie root;
  std::vector<std::string> roots;
  for (const auto& include : options_.includes) {
    OB_ASSIGN_OR_RETURN(std::string abs, env_.AbsolutePath(include));
    Result<platform::FileInfo> info = env_.Lstat(abs);
    if (!info.ok()) return info.status().WithContext("included path " + abs);
    IncludeTrie* node = &root;
    for (const std::string& part : SplitPath(abs)) node = &node->children[part];
    node->included = true;
    node->children.clear();
    roots.push_back(abs);
  }
  if (root.included)
    return InvalidArgument("backing up the whole file system root is not supported");

  // The latest recovery point is the parent for change detection.
  std::optional<ObjectId> parent_tree;
  std::string parent_id;
  // Damaged points and index files are skipped with a warning; the
  // backup goes on (what they named is uploaded again if needed).
  std::vector<DamagedObject> damaged;
  auto points = repo_.ListRecoveryPoints(&damaged);
  if (!points.ok()) return points.status();
  for (const DamagedObject& d : repo_.damaged_index_files()) damaged.push_back(d);
  for (const DamagedObject& d : damaged) skipped_.push_back({"vault", d.ToString()});
  if (!points->empty()) {
    parent_tree = points->back().point.tree;
    parent_id = points->back().id;
    bytes_total_estimate_ = points->back().point.stats.bytes_scanned;
    has_previous_ = true;
  }
  reporter_.Report();  // the total is known from the first report on
  auto start_wall = std::chrono::system_clock::now();
  std::vector<tree::Tree> keep;
  const tree::Tree* previous = LoadPrevious(parent_tree, keep);
  if (options_.snapshots != nullptr) {
    // One snapshot of all sources, before the scan; an error here (VSS:
    // insufficient shadow storage, a failed writer) fails the job before
    // anything is read.
    OB_ASSIGN_OR_RETURN(snapshot_, options_.snapshots->Create(roots, options_.snapshot_dir));
  }
  Result<ObjectId> tree_id = BackupDirectory("/", "", &root, previous);
  scan_done_ = true;  // every file is visited: the total is exact now
  reporter_.Report();
  SubmitBatch();
  executor_.Drain();
  // Everything is read: uploading and committing need no snapshot.
  Status released = snapshot_ ? snapshot_->Release() : Status::Ok();
  if (failed()) return WithRelease(first_error_, released);
  if (!tree_id.ok()) return WithRelease(tree_id.status(), released);
  Status st = FlushPacks();
  if (!st.ok()) return WithRelease(st, released);
  if (failed()) return WithRelease(first_error_, released);
  st = repo_.SaveIndexFile(uploaded_).WithContext("saving the index");
  if (!st.ok()) return WithRelease(st, released);
  // Copies this backup found damaged (a tree of the previous point) are
  // recorded: it has uploaded them again where the source had them.
  if (repo_.HasDamageChanges()) {
    Result<size_t> recorded = repo_.SaveDamageRecord();
    if (!recorded.ok()) skipped_.push_back({"vault", recorded.status().ToString()});
  }

  BackupReport report;
  report.point.time_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start_wall.time_since_epoch()).count();
  report.point.hostname = options_.hostname;
  report.point.machine_id = options_.machine_id;
  report.point.paths = roots;
  report.point.tree = *tree_id;
  report.point.parent = parent_id;
  stats_.bytes_new = bytes_new_;
  stats_.bytes_uploaded = bytes_uploaded_;
  report.point.stats = stats_;
  Result<std::string> point_id = repo_.SaveRecoveryPoint(report.point);
  if (!point_id.ok()) return WithRelease(point_id.status(), released);
  report.point_id = std::move(point_id).value();
  if (snapshot_) {
    report.snapshot = snapshot_->KindSummary();
    report.snapshot_volumes = snapshot_->volumes();
  }
  if (!released.ok()) {
    // The data was read from the snapshot and is safe; the snapshot is left
    // behind and takes space until removed by hand.
    std::string where = options_.snapshot_dir;
    for (const auto& v : report.snapshot_volumes) {
      if (!v.snapshot_root.empty()) where = v.snapshot_root;
    }
    skipped_.push_back({where, released.ToString()});
  }
  report.healed_blobs = healed_;
  report.figures.files_new = files_new_;
  report.figures.files_changed = files_changed_;
  report.figures.files_deleted = files_deleted_;
  report.figures.bytes_new = data_new_;
  report.figures.bytes_new_incompressible = data_new_incompressible_;
  report.excluded_nodump = std::move(excluded_nodump_);
  report.recreated_roots = std::move(recreated_roots_);
  report.failed_files = std::move(skipped_);
  report.state =
      report.failed_files.empty() ? JobState::kCompleted : JobState::kCompletedWithWarnings;
  return report;
}

}  // namespace

Result<BackupReport> RunBackup(Repository& repo, const BackupOptions& options) {
  BackupRun run(repo, options);
  Result<BackupReport> report = run.Run();
  run.FinishProgress();
  return report;
}

std::string NoDumpSummary(const BackupReport& report) {
  const size_t n = report.excluded_nodump.size();
  if (n == 0) return "";
  return std::to_string(n) + (n == 1 ? " item" : " items") +
         " excluded by the nodump flag (chattr +d)";
}

std::string RecreatedSummary(const BackupReport& report) {
  std::string out;
  for (const std::string& path : report.recreated_roots) {
    out += (out.empty() ? "" : "; ") + path +
           " was deleted and recreated since the last backup; it was backed up in full";
  }
  return out;
}

std::string BackupSummary(const BackupReport& report) {
  std::string out;
  for (const std::string& line :
       {HealedSummary(report), RecreatedSummary(report), NoDumpSummary(report)}) {
    if (!line.empty()) out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

std::string HealedSummary(const BackupReport& report) {
  if (report.healed_blobs == 0) return "";
  return "re-uploaded " + std::to_string(report.healed_blobs) +
         (report.healed_blobs == 1 ? " blob that was" : " blobs that were") +
         " missing or damaged in the vault";
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kInProgress:
      return "InProgress";
    case JobState::kCompleted:
      return "Completed";
    case JobState::kCompletedWithWarnings:
      return "CompletedWithWarnings";
    case JobState::kFailed:
      return "Failed";
    case JobState::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

}  // namespace obagent::engine
