// Where a vault keeps its bytes. Keys are '/'-separated relative names
// ("data/ab/ab12…", "snapshots/…"); a key with an empty, "." or ".." component
// or a leading '/' is refused with kInvalidArgument. Every Put is atomic: a
// reader sees the whole object or none of it, never a partial one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::storage {

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
// with one Put Blob, larger ones as Put Block + Put Block List (so a failed
// upload never leaves a partial blob visible). 5xx answers, timeouts and
// connection errors are retried with exponential back-off and jitter; 429 and
// 503 wait for Retry-After when given. Once retries are exhausted the error
// is kServiceUnreachable (100050).
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
  int base_delay_ms = 100;       // back-off: base * 2^attempt, +/- 50 % jitter
  int timeout_seconds = 60;      // per request
  size_t single_put_limit = 8u << 20;
  size_t block_size = 4u << 20;
};
Result<std::unique_ptr<BlobStore>> OpenAzureBlobStore(const AzureBlobConfig& config);

// A view of another store under a key prefix ("machines/<id>/"). Keys are
// validated, then prefixed; List strips the prefix again.
std::unique_ptr<BlobStore> NewPrefixedStore(BlobStore& base, std::string prefix);

}  // namespace obagent::storage
