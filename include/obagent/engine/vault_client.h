// The agent's side of vaultd's HTTP API (docs/vault-api.md): JSON calls for
// administration, registration, leases and job reports, and a BlobStore over
// the machine-scoped object endpoints. Requests go through the HTTP layer's
// RetryingHttpClient (obagent/http_client.h: connection failures, timeouts,
// 408, 429 and 5xx retried with capped, jittered back-off or the server's
// Retry-After), each request that is safe to repeat: every GET, HEAD, PUT
// and DELETE, and the POSTs but creating a vault, taking the lease and a job
// report. When retries run out — or a proxy refuses us (407) — the error is
// 100050 (kServiceUnreachable).
//
// Thread safety: a VaultClient, and the stores ObjectStore() returns, may be
// used by any number of threads at once (the HTTP client is thread-safe, the
// lease id is behind a mutex). A store must not outlive its client.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "obagent/status.h"
#include "obagent/storage/blob_store.h"

namespace obagent::engine {

struct ServiceConnection {
  std::string url;    // "http://127.0.0.1:8470"
  std::string token;  // bearer: admin, machine or recovery-session token
  std::string proxy;  // "http://proxy:3128", optional
  std::string proxy_user;
  std::string proxy_password;
  int max_attempts = 4;     // per request, the first included
  int base_delay_ms = 250;  // back-off: base * 2^(retry-1), +/- 50 % jitter, at most 30 s
  int timeout_seconds = 120;
};

class VaultClient {
 public:
  explicit VaultClient(ServiceConnection connection);
  ~VaultClient();

  // A JSON request; a non-2xx answer becomes a Status carrying the answer's
  // catalogue error_id (34513, 403, 34506, …) or one derived from the code.
  Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                              const nlohmann::json& body = nullptr);

  // Objects of the machine the token belongs to; writes carry the lease.
  std::unique_ptr<storage::BlobStore> ObjectStore();
  void SetLease(std::string lease_id);
  // The vault's Security PIN, sent with every request from now on
  // (X-Obagent-Security-Pin); vaultd reads it only where an operation is
  // critical and uses it up there. "" sends none.
  void SetSecurityPin(std::string pin);

  const ServiceConnection& connection() const { return connection_; }

 private:
  friend class VaultObjectStore;
  struct Impl;
  ServiceConnection connection_;
  std::unique_ptr<Impl> impl_;
  std::mutex lease_mu_;
  std::string lease_id_;
};

// Holds the machine's lease for the length of a job, renewing it in the
// background; the lease lapses by itself if the process dies.
class LeaseHolder {
 public:
  static Result<std::unique_ptr<LeaseHolder>> Acquire(VaultClient& client, std::string holder,
                                                      int ttl_seconds = 60);
  ~LeaseHolder();
  LeaseHolder(const LeaseHolder&) = delete;
  LeaseHolder& operator=(const LeaseHolder&) = delete;

 private:
  struct State;
  explicit LeaseHolder(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace obagent::engine
