// Where a vault keeps its bytes. Keys are '/'-separated relative names
// ("data/ab/ab12…", "snapshots/…"); a key with an empty, "." or ".." component
// or a leading '/' is refused with kInvalidArgument. Every Put is atomic: a
// reader sees the whole object or none of it, never a partial one.
//
// Bodies move either whole (Put, Get, GetRange: for objects that fit in
// memory, such as one pack) or streamed (PutFrom, GetTo: a ByteSource or
// ByteSink is called piece by piece, so a store holds at most a few pieces
// of an object at once, whatever its size). vaultd streams; the engine's
// packs are at most 64 MiB and go whole.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::storage {

// Where a streamed upload's bytes come from (an HTTP request body, a file).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Copies up to n bytes (n > 0) into buffer; 0 only at the end. An error
  // aborts the upload: the object is left as it was.
  virtual Result<size_t> Read(uint8_t* buffer, size_t n) = 0;
};

// Where a streamed download's bytes go (an HTTP response, a file).
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // Takes the next piece (never empty). An error stops the download and is
  // returned by GetTo.
  virtual Status Write(ByteView data) = 0;
};

// A ByteSource over bytes in memory (the whole-object calls use it).
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(ByteView data) : data_(data) {}
  Result<size_t> Read(uint8_t* buffer, size_t n) override;

 private:
  ByteView data_;
  size_t offset_ = 0;
};

// A ByteSink that collects into memory.
class MemorySink final : public ByteSink {
 public:
  Status Write(ByteView data) override;
  Bytes& bytes() { return bytes_; }

 private:
  Bytes bytes_;
};

struct ObjectInfo {
  uint64_t size = 0;
};

// GetTo's length for "up to the object's end".
inline constexpr uint64_t kToEnd = std::numeric_limits<uint64_t>::max();

// The size of the pieces the stores stream in (reads from disk, ranged
// downloads, writes to a sink).
inline constexpr size_t kStreamPieceBytes = 1u << 20;

// Thread safety: every implementation (local folder, Azure, the prefixed and
// throttled views, vaultd's object store) may be called by any number of
// threads at once without outside locking: the engine's upload thread, the
// restore's workers and vaultd's connections share one store. Concurrent
// Puts of one key leave one of the bodies whole (the last rename or commit
// wins); a reader sees a whole object or none. A ByteSource or ByteSink is
// used only by the thread of the call it is passed to, and MemorySource and
// MemorySink are not thread-safe. A view (NewPrefixedStore, ThrottledStore)
// must not outlive the store under it.
class BlobStore {
 public:
  virtual ~BlobStore() = default;
  // Creates or replaces the object.
  virtual Status Put(std::string_view key, ByteView data) = 0;
  // Put for an object whose bytes (`data`) are also in a complete, durable
  // local file (a pack staged in scratch) that the caller no longer needs.
  // A store on the same volume may move the file into place instead of
  // writing the bytes again; afterwards the file may or may not exist.
  virtual Status PutStaged(std::string_view key, const std::string& staged_path, ByteView data) {
    (void)staged_path;
    return Put(key, data);
  }
  virtual Result<Bytes> Get(std::string_view key) = 0;
  // kNotFound if missing; kCorrupt if the object is shorter than offset+length.
  virtual Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) = 0;
  // GetRange into `buffer`, which a caller reuses for many reads: the range
  // is the returned view of its first `length` bytes. A store that can read
  // in place grows `buffer` when too small and never shrinks it; the
  // default moves GetRange's result into it.
  virtual Result<ByteView> GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                        Bytes& buffer);

  // The object's size without reading it; kNotFound if missing.
  // The defaults of Stat, PutFrom and GetTo go through Get/Put/GetRange
  // and so hold the whole object (enough for test doubles); every store of
  // this module overrides them to stream.
  virtual Result<ObjectInfo> Stat(std::string_view key);
  // Creates or replaces the object with everything `source` yields, as
  // atomically as Put: a failed or aborted upload leaves no partial object.
  virtual Status PutFrom(std::string_view key, ByteSource& source);
  // PutFrom for a key that must not exist yet (write-once objects): the
  // object is created only if no object has the key, checked and written as
  // one atomic step by the store (a local folder links its temporary file
  // into place, which fails if the name exists; Azure sends If-None-Match: *
  // with Put Blob / Put Block List), so of concurrent writers exactly one
  // creates it. kAlreadyExists, the existing object unchanged, otherwise;
  // `source` may then be read in part or whole. The default (for test
  // doubles) checks Exists first and is not atomic.
  virtual Status PutNewFrom(std::string_view key, ByteSource& source);
  // PutNewFrom of bytes in memory.
  Status PutNew(std::string_view key, ByteView data) {
    MemorySource source(data);
    return PutNewFrom(key, source);
  }
  // Writes bytes [offset, offset+length) of the object to `sink` in pieces
  // of at most kStreamPieceBytes; length kToEnd means up to the end.
  // kNotFound if missing; kCorrupt if the object is shorter than
  // offset+length (or than offset, for kToEnd), found before anything is
  // written when the store can tell.
  virtual Status GetTo(std::string_view key, uint64_t offset, uint64_t length, ByteSink& sink);
  // All keys that start with prefix, sorted.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;
  // Deleting a missing object is not an error.
  virtual Status Delete(std::string_view key) = 0;
  virtual Result<bool> Exists(std::string_view key) = 0;
  // A human-readable location for messages ("/srv/vault", "https://…").
  virtual std::string Describe() const = 0;
};

bool IsValidKey(std::string_view key);

// A folder on a local or mounted file system: writes go to a temporary file
// in the same folder, are fsynced, renamed into place, and the folder is
// fsynced. The root folder must exist; folders below it are created on demand.
Result<std::unique_ptr<BlobStore>> OpenLocalDirStore(const std::string& root);

// Azure Blob Storage through its REST API (tested against Azurite). Objects
// are block blobs named <prefix><key> in one container. Small objects go up
// with one Put Blob, larger ones as Put Block (several in flight at once) +
// Put Block List (so a failed upload never leaves a partial blob visible);
// a streamed upload decides by its first block.
// Streamed downloads are ranged Get Blob requests of block_size bytes; Stat
// is Get Blob Properties. Every request is retried by the HTTP layer's one
// policy (platform::SendWithRetry, obagent/http_client.h): 408, 429, 5xx,
// timeouts and connection errors, with exponential back-off and jitter (at
// most 30 s), or the answer's Retry-After (at most 30 s) when given; each
// attempt is signed anew. Once retries are exhausted the error is
// kServiceUnreachable (100050).
struct AzureBlobConfig {
  // Blob service endpoint including the account for path-style hosts:
  // "http://127.0.0.1:10000/devstoreaccount1" (Azurite) or
  // "https://<account>.blob.core.windows.net".
  std::string endpoint;
  std::string account;
  std::string account_key;  // base64; SharedKey auth when set
  std::string sas_token;    // SAS query string (without '?'); used when no key
  std::string container;
  std::string prefix;            // prepended to every key ("" or ending in '/')
  bool create_container = true;  // create it if missing (needs SharedKey)
  int max_attempts = 6;          // per request, first try included
  int base_delay_ms = 100;       // back-off: base * 2^(retry-1), +/- 50 % jitter
  int timeout_seconds = 60;      // per request
  size_t single_put_limit = 8u << 20;
  size_t block_size = 4u << 20;  // also the piece of streamed (ranged) downloads
  int parallel_blocks = 4;       // Put Block requests in flight per upload
  // Streamed uploads (PutFrom) of the whole store hold at most this much in
  // blocks read ahead of their upload; more concurrent uploads wait. The
  // blocks' buffers stay allocated for the next uploads (up to this much).
  size_t upload_buffer_bytes = 32u << 20;
};
Result<std::unique_ptr<BlobStore>> OpenAzureBlobStore(const AzureBlobConfig& config);

// A view of another store under a key prefix ("machines/<id>/"). Keys are
// validated, then prefixed; List strips the prefix again.
std::unique_ptr<BlobStore> NewPrefixedStore(BlobStore& base, std::string prefix);

}  // namespace obagent::storage
