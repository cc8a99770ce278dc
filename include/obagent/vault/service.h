// vaultd's request handling (docs/vault-api.md), independent of the HTTP
// library: VaultService::Handle maps one request to one response. The HTTP
// front end (http_server.h) only converts to and from these structs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"
#include "obagent/vault/alerts.h"
#include "obagent/vault/audit.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {

// A request as the HTTP front end hands it over: the headers are read, the
// body is not. Handle authenticates and routes from the headers first and
// only then pulls the body from `body_source`: an object PUT streams it into
// the blob store, a JSON route reads at most kMaxJsonBody bytes of it
// (kMaxJsonBody and kMaxJsonDepth, through core/bounded_json.h). A
// request that is refused before (401, 403, 409, 413, ...) leaves the body
// unread.
struct ServiceRequest {
  std::string method;                          // "GET", "PUT", ...
  std::string path;                            // percent-encoded, without the query
  std::string query;                           // percent-encoded, without '?'
  std::map<std::string, std::string> headers;  // names in lower case
  // The body: read from body_source when it is set, else this one.
  Bytes body;
  storage::ByteSource* body_source = nullptr;
  // The announced Content-Length, when there is one.
  std::optional<uint64_t> content_length;
};

// A response. Its body is `body`, or, when `stream_body` is set, the
// `content_length` bytes stream_body writes to the sink it is given (an
// object GET: the front end sends the headers, then the pieces as the blob
// store yields them). A stream_body that fails has sent fewer bytes than
// announced: the front end must then drop the connection.
struct ServiceResponse {
  int status = 200;
  std::string content_type;  // empty when there is no body
  Bytes body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::function<Status(storage::ByteSink&)> stream_body;
  // The body's length when streamed, and for HEAD the length a GET would
  // send (no body follows).
  std::optional<uint64_t> content_length;
};

// JSON request bodies larger than this are refused with 413 (a lease
// request is a few dozen bytes, a registration with its credential file and
// wrapped key a few KiB); nested deeper than kMaxJsonDepth: 400.
inline constexpr size_t kMaxJsonBody = 64 * 1024;
inline constexpr size_t kMaxJsonDepth = 16;
// A job report (POST /v1/jobs) is validated against its schema and stored
// compact; its fields are bounded (docs/vault-api.md).
inline constexpr size_t kMaxJobReportString = 4096;  // "error" and other texts
inline constexpr size_t kMaxJobReportExtraFields = 32;

struct ServiceOptions {
  std::string service_url = "http://127.0.0.1:8470";  // ServiceUrl of credential files
  std::string admin_token;
  double credential_validity_hours = 48;
  size_t max_machines_per_vault = 50;
  int min_lease_ttl_seconds = 10;
  int max_lease_ttl_seconds = 3600;
  int recovery_session_seconds = 3600;
  size_t list_page_size = 1000;
  // Object PUTs announcing or sending more are refused with 413. A pack
  // (data/...) is the pack size (16 MiB) plus its last blob: a data chunk
  // is at most 4 MiB, but a folder's tree is one blob of ~80 bytes per
  // entry, so 1 GiB holds a folder of ~12 million entries. Index files and
  // recovery points grow with the repository (~70 bytes per blob) and get
  // max_object_bytes. Bodies stream to the blob store either way: memory
  // does not grow with them.
  uint64_t max_pack_bytes = uint64_t{1} << 30;
  uint64_t max_object_bytes = uint64_t{4} << 30;
  // The clock, unix milliseconds; empty: the system clock. Unit tests
  // inject one to see soft-deleted objects kept and purged.
  std::function<int64_t()> clock;
  // Alerts and the audit log (alerts.h, audit.h); not owned, and they must
  // outlive the service. Null: none (no alert is raised, nothing audited,
  // their endpoints answer 503).
  AlertCenter* alerts = nullptr;
  AuditLog* audit = nullptr;
  // When a machine's soft deletes become a mass_deletion alert.
  MassDeletionRules mass_deletion;
  // The interval a machine is expected to back up within; 0: learnt from
  // its successful backups (ExpectedBackupIntervalMs).
  int64_t expected_backup_interval_ms = 0;
};

// What one run of the collector did (VaultService::PurgeExpired).
struct PurgeReport {
  size_t purged = 0;  // soft-deleted objects whose time had passed, now gone
  size_t kept = 0;    // soft-deleted objects still within their days
  size_t failed = 0;  // the storage refused the delete; tried again next run
};

class VaultService {
 public:
  // `blobs` holds every machine's objects under "machines/<machine id>/".
  VaultService(ServiceOptions options, std::unique_ptr<MetadataStore> metadata,
               storage::BlobStore& blobs);
  ~VaultService();
  VaultService(const VaultService&) = delete;
  VaultService& operator=(const VaultService&) = delete;

  // Thread-safe.
  ServiceResponse Handle(const ServiceRequest& request);

  // The collector: deletes from the blob store every soft-deleted object
  // whose vault's soft_delete_days and machine's retention floor (guard.h:
  // SoftDeleteKeepMs) have passed since its deletion, and nothing younger. Thread-safe; vaultd runs
  // it periodically
  // (--purge-interval-seconds) and the admin endpoint POST
  // /v1/deleted/purge runs it at once.
  PurgeReport PurgeExpired();

  // Raises backup_missed for every machine whose successful backups are
  // overdue (MissedBackupWatch: once per miss). Thread-safe; vaultd runs it
  // every --missed-backup-check-seconds.
  void CheckMissedBackups();

  const ServiceOptions& options() const { return options_; }

 private:
  class Impl;
  ServiceOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Reads the admin token (first line of the file), or creates the file with a
// fresh token (32 random bytes, hex), readable by the owner only.
Result<std::string> LoadOrCreateAdminToken(platform::Env& env, const std::string& path);

}  // namespace obagent::vault
