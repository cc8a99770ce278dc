// VaultClient (obagent/engine/vault_client.h): vaultd's HTTP API over the
// platform's retrying HTTP client, and the object store and lease on top.
#include "obagent/engine/vault_client.h"

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "obagent/http_client.h"

namespace obagent::engine {

namespace {

using nlohmann::json;
using platform::HttpRequest;
using platform::HttpResponse;

// The catalogue code of vaultd's error_id (34513, 100130, …), else one
// derived from the HTTP status.
ErrorCode CodeFor(const std::string& error_id, int status) {
  if (!error_id.empty()) {
    for (ErrorCode code : CatalogueCodes()) {
      if (CatalogueId(code) == error_id) return code;
    }
  }
  if (status == 404) return ErrorCode::kNotFound;
  if (status == 400) return ErrorCode::kInvalidArgument;
  if (status == 409) return ErrorCode::kAlreadyExists;
  if (status == 416) return ErrorCode::kCorrupt;
  if (status == 423) return ErrorCode::kVaultHold;  // an anomaly hold: nothing may be deleted
  return ErrorCode::kIo;
}

// Whether a request may be sent again when an attempt fails: the methods
// HTTP defines as idempotent, and the POSTs whose repeat changes nothing a
// first success did not (renewing a lease, checking or repeating a
// registration, a recovery session or a credential: a spare one). Not
// repeated: creating a vault (a repeat after a lost answer reports the new
// vault as existing), taking the lease (a repeat finds our own lease and
// reports the machine busy) and a job report (a repeat is a second job).
platform::Repeat RepeatFor(const HttpRequest& request) {
  const std::string& m = request.method;
  if (m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE") return platform::Repeat::kSafe;
  std::string_view path(request.target);
  path = path.substr(0, path.find('?'));
  if (path == "/v1/vaults" || path == "/v1/lease" || path == "/v1/jobs" ||
      path == "/v1/machine/stop-protection") {
    return platform::Repeat::kNo;
  }
  return platform::Repeat::kSafe;
}

}  // namespace

struct VaultClient::Impl {
  explicit Impl(const ServiceConnection& c) : conn(c) {
    platform::HttpClientOptions options;
    options.base_url = c.url;
    options.timeout_seconds = c.timeout_seconds;
    options.proxy_url = c.proxy;
    options.proxy_user = c.proxy_user;
    options.proxy_password = c.proxy_password;
    auto made = platform::NewHttpClient(options);
    if (made.ok()) {
      platform::HttpRetryPolicy policy;
      policy.max_attempts = c.max_attempts;
      policy.base_delay_ms = c.base_delay_ms;
      client = std::make_unique<platform::RetryingHttpClient>(std::move(made).value(), policy);
    } else {
      // Reported by every call: the constructor has no way to fail.
      bad_url = made.status();
    }
  }

  using Answer = HttpResponse;

  // Sends through the retrying client (the HTTP layer's one policy),
  // repeating what RepeatFor allows.
  Result<Answer> Send(HttpRequest request, const std::string& what) {
    if (!client) return bad_url.WithContext(what);
    request.repeat = RepeatFor(request);
    Result<Answer> answer = client->Send(request);
    if (!answer.ok()) {
      if (answer.status().code() != ErrorCode::kServiceUnreachable) return answer.status();
      return Status(ErrorCode::kServiceUnreachable,
                    what + " at " + conn.url + " " + answer.status().detail());
    }
    if (answer->status == 407) {
      return Status(ErrorCode::kServiceUnreachable,
                    "the proxy " + conn.proxy +
                        " refused the request (407 Proxy "
                        "Authentication Required); check --proxy-user and the proxy password");
    }
    return answer;
  }

  static Status ErrorFrom(const Answer& a, const std::string& what) {
    std::string id, message;
    json j = json::parse(a.body.begin(), a.body.end(), nullptr, false);
    if (j.is_object()) {
      id = j.value("error_id", "");
      message = j.value("message", "");
    }
    if (message.empty()) message = "HTTP " + std::to_string(a.status);
    return Status(CodeFor(id, a.status), what + ": " + message);
  }

  HttpRequest NewRequest(const std::string& method, const std::string& path) const {
    HttpRequest req;
    req.method = method;
    req.target = path;
    if (!conn.token.empty()) req.headers.emplace_back("Authorization", "Bearer " + conn.token);
    std::lock_guard lock(pin_mu);
    if (!pin.empty()) req.headers.emplace_back("X-Obagent-Security-Pin", pin);
    return req;
  }

  mutable std::mutex pin_mu;
  std::string pin;  // the Security PIN, "" for none
  ServiceConnection conn;
  std::unique_ptr<platform::HttpClient> client;
  Status bad_url;
};

VaultClient::VaultClient(ServiceConnection connection)
    : connection_(std::move(connection)), impl_(std::make_unique<Impl>(connection_)) {}

VaultClient::~VaultClient() = default;

void VaultClient::SetLease(std::string lease_id) {
  std::lock_guard lock(lease_mu_);
  lease_id_ = std::move(lease_id);
}

void VaultClient::SetSecurityPin(std::string pin) {
  std::lock_guard lock(impl_->pin_mu);
  impl_->pin = std::move(pin);
}

Result<json> VaultClient::Call(const std::string& method, const std::string& path,
                               const json& body) {
  std::string text = body.is_null() ? "" : body.dump();
  HttpRequest req = impl_->NewRequest(method, path);
  if (!body.is_null()) {
    req.body = AsBytes(text);
    req.headers.emplace_back("Content-Type", "application/json");
  }
  std::string what = method + " " + path;
  OB_ASSIGN_OR_RETURN(Impl::Answer a, impl_->Send(req, what));
  if (a.status < 200 || a.status >= 300) return Impl::ErrorFrom(a, what);
  if (a.body.empty()) return json(nullptr);
  json j = json::parse(a.body.begin(), a.body.end(), nullptr, false);
  if (j.is_discarded()) return Corrupt(what + ": the vault service answered with invalid JSON");
  return j;
}

// BlobStore over /v1/objects: keys relative to the token's machine.
class VaultObjectStore final : public storage::BlobStore {
 public:
  explicit VaultObjectStore(VaultClient& client) : client_(client) {}

  Status Put(std::string_view key, ByteView data) override {
    OB_RETURN_IF_ERROR(Check(key));
    HttpRequest req = client_.impl_->NewRequest("PUT", Path(key));
    req.headers.emplace_back("X-Obagent-Lease", Lease());
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.body = data;
    OB_ASSIGN_OR_RETURN(auto a, client_.impl_->Send(req, "uploading " + std::string(key)));
    if (a.status != 201 && a.status != 200) {
      return VaultClient::Impl::ErrorFrom(a, "uploading " + std::string(key));
    }
    return Status::Ok();
  }

  Result<Bytes> Get(std::string_view key) override { return Fetch(key, std::nullopt); }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    if (length == 0) return Bytes();
    return Fetch(key, std::make_pair(offset, length));
  }

  // The body is received into `buffer`'s storage (HttpRequest::
  // response_storage): a restore's fetches reuse one buffer per worker.
  Result<ByteView> GetRangeInto(std::string_view key, uint64_t offset, uint64_t length,
                                Bytes& buffer) override {
    if (length == 0) return ByteView();
    OB_ASSIGN_OR_RETURN(buffer, Fetch(key, std::make_pair(offset, length), &buffer));
    return ByteView(buffer);
  }

  Result<std::vector<std::string>> List(std::string_view prefix) override {
    std::vector<std::string> keys;
    std::string marker;
    do {
      std::string path = "/v1/objects?prefix=" + platform::UrlEncode(prefix) +
                         "&marker=" + platform::UrlEncode(marker);
      OB_ASSIGN_OR_RETURN(json j, client_.Call("GET", path));
      for (const auto& k : j.value("keys", json::array())) keys.push_back(k.get<std::string>());
      marker = j.value("next_marker", "");
    } while (!marker.empty());
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  Status Delete(std::string_view key) override {
    OB_RETURN_IF_ERROR(Check(key));
    HttpRequest req = client_.impl_->NewRequest("DELETE", Path(key));
    req.headers.emplace_back("X-Obagent-Lease", Lease());
    OB_ASSIGN_OR_RETURN(auto a, client_.impl_->Send(req, "deleting " + std::string(key)));
    if (a.status >= 300 && a.status != 404) {
      return VaultClient::Impl::ErrorFrom(a, "deleting " + std::string(key));
    }
    return Status::Ok();
  }

  Result<bool> Exists(std::string_view key) override {
    OB_RETURN_IF_ERROR(Check(key));
    HttpRequest req = client_.impl_->NewRequest("HEAD", Path(key));
    OB_ASSIGN_OR_RETURN(auto a, client_.impl_->Send(req, "checking " + std::string(key)));
    if (a.status == 404) return false;
    if (a.status >= 300) return VaultClient::Impl::ErrorFrom(a, "checking " + std::string(key));
    return true;
  }

  // The size from HEAD (vaultd's X-Obagent-Size), without reading the
  // object: repair reads pack headers with ranged requests from it.
  Result<storage::ObjectInfo> Stat(std::string_view key) override {
    OB_RETURN_IF_ERROR(Check(key));
    HttpRequest req = client_.impl_->NewRequest("HEAD", Path(key));
    std::string what = "checking " + std::string(key);
    OB_ASSIGN_OR_RETURN(auto a, client_.impl_->Send(req, what));
    if (a.status == 404) return NotFound(what + ": no such object");
    if (a.status >= 300) return VaultClient::Impl::ErrorFrom(a, what);
    std::string size = a.Header("X-Obagent-Size");
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), value);
    if (size.empty() || ec != std::errc() || end != size.data() + size.size()) {
      return storage::BlobStore::Stat(key);  // an older vaultd: read it whole
    }
    return storage::ObjectInfo{value};
  }

  std::string Describe() const override { return client_.connection().url; }

 private:
  static Status Check(std::string_view key) {
    if (!storage::IsValidKey(key))
      return InvalidArgument("invalid object key '" + std::string(key) + "'");
    return Status::Ok();
  }
  static std::string Path(std::string_view key) { return "/v1/objects/" + std::string(key); }
  std::string Lease() {
    std::lock_guard lock(client_.lease_mu_);
    return client_.lease_id_;
  }

  // The object or its range; the body is built in `storage` when given.
  Result<Bytes> Fetch(std::string_view key, std::optional<std::pair<uint64_t, uint64_t>> range,
                      Bytes* storage = nullptr) {
    OB_RETURN_IF_ERROR(Check(key));
    HttpRequest req = client_.impl_->NewRequest("GET", Path(key));
    req.response_storage = storage;
    if (range) {
      req.headers.emplace_back("Range", "bytes=" + std::to_string(range->first) + "-" +
                                            std::to_string(range->first + range->second - 1));
      req.expected_response_bytes = static_cast<size_t>(range->second);
    }
    std::string what = "reading " + std::string(key);
    OB_ASSIGN_OR_RETURN(auto a, client_.impl_->Send(req, what));
    if (a.status != 200 && a.status != 206) return VaultClient::Impl::ErrorFrom(a, what);
    if (range && a.body.size() != range->second) {
      return Corrupt(what + ": short read (" + std::to_string(a.body.size()) + " of " +
                     std::to_string(range->second) + " bytes)");
    }
    return std::move(a.body);
  }

  VaultClient& client_;
};

std::unique_ptr<storage::BlobStore> VaultClient::ObjectStore() {
  return std::make_unique<VaultObjectStore>(*this);
}

struct LeaseHolder::State {
  VaultClient* client;
  std::string lease_id;
  int ttl;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread renewer;
};

LeaseHolder::LeaseHolder(std::shared_ptr<State> state) : state_(std::move(state)) {}

Result<std::unique_ptr<LeaseHolder>> LeaseHolder::Acquire(VaultClient& client, std::string holder,
                                                          int ttl_seconds) {
  Result<json> answer =
      client.Call("POST", "/v1/lease", {{"holder", holder}, {"ttl_seconds", ttl_seconds}});
  if (!answer.ok()) {
    if (answer.status().code() == ErrorCode::kAlreadyExists) {
      return Status(ErrorCode::kAlreadyExists,
                    "another job of this machine is writing to the vault (" +
                        answer.status().detail() + "); its lease lapses by itself if it died");
    }
    return answer.status();
  }
  auto state = std::make_shared<State>();
  state->client = &client;
  state->lease_id = answer->value("lease_id", "");
  state->ttl = ttl_seconds;
  client.SetLease(state->lease_id);
  state->renewer = std::thread([state] {
    std::unique_lock lock(state->mu);
    while (!state->cv.wait_for(lock, std::chrono::seconds(std::max(1, state->ttl / 3)),
                               [&] { return state->stop; })) {
      lock.unlock();
      (void)state->client->Call("POST", "/v1/lease/" + state->lease_id + "/renew",
                                {{"ttl_seconds", state->ttl}});
      lock.lock();
    }
  });
  return std::unique_ptr<LeaseHolder>(new LeaseHolder(state));
}

LeaseHolder::~LeaseHolder() {
  {
    std::lock_guard lock(state_->mu);
    state_->stop = true;
  }
  state_->cv.notify_all();
  state_->renewer.join();
  (void)state_->client->Call("DELETE", "/v1/lease/" + state_->lease_id);
  state_->client->SetLease("");
}

}  // namespace obagent::engine
