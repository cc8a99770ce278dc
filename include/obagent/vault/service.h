// vaultd's request handling (docs/vault-api.md), independent of the HTTP
// library: VaultService::Handle maps one request to one response. The HTTP
// front end (http_server.h) only converts to and from these structs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/blob_store.h"
#include "obagent/vault/metadata.h"

namespace obagent::vault {

struct ServiceRequest {
  std::string method;                          // "GET", "PUT", ...
  std::string path;                            // percent-encoded, without the query
  std::string query;                           // percent-encoded, without '?'
  std::map<std::string, std::string> headers;  // names in lower case
  Bytes body;
};

struct ServiceResponse {
  int status = 200;
  std::string content_type;  // empty when there is no body
  Bytes body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ServiceOptions {
  std::string service_url = "http://127.0.0.1:8470";  // ServiceUrl of credential files
  std::string admin_token;
  double credential_validity_hours = 48;
  size_t max_machines_per_vault = 50;
  int min_lease_ttl_seconds = 10;
  int max_lease_ttl_seconds = 3600;
  int recovery_session_seconds = 3600;
  size_t list_page_size = 1000;
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

  const ServiceOptions& options() const { return options_; }

 private:
  class Impl;
  ServiceOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Reads the admin token (first line of the file), or creates the file with a
// fresh token (32 random bytes, hex), readable by the owner only.
Result<std::string> LoadOrCreateAdminToken(platform::Env& env, const std::string& path);

// "%41b" -> "Ab". kInvalidArgument for a broken escape.
Result<std::string> PercentDecode(std::string_view text);

}  // namespace obagent::vault
