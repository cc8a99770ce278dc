// The HTTP client layer: one small interface over the OS's HTTP stack, so
// the blob store and the vault client never see a library. On Linux it is
// cpprestsdk (src/platform/posix/http), on Windows WinHTTP
// (src/platform/win/http): what a Windows-native agent should use, with the
// system's TLS, certificate store and proxy handling.
//
// The client only moves bytes. Every answer the server (or a proxy) gives is
// a response, whatever its status — 404, 503, 407, a 302 (redirects are not
// followed) — for the caller to judge. Only a failed exchange (no
// connection, timeout, TLS failure, a connection closed before the announced
// Content-Length) is an error.
//
// Retries have one home, below: one policy (which answers are retried, the
// capped exponential back-off with jitter, Retry-After) in SendWithRetry,
// and RetryingHttpClient, a decorator that applies it to every request its
// caller marks safe to repeat. AzureBlobStore and VaultClient both use it;
// what an answer means (VaultClient's 407) stays with them.
//
// Thread safety: an HttpClient (RetryingHttpClient too) may be used by any
// number of threads at once; requests and responses belong to the thread
// that made them. RetryClock::Real() is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::platform {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Whether a request may be sent again after an attempt without a usable
// answer. Only the caller knows: a PUT of the same bytes may be repeated, a
// POST that creates something usually not.
enum class Repeat { kNo, kSafe };

struct HttpRequest {
  std::string method;  // "GET", "PUT", "HEAD", "DELETE", "POST"
  // Path and query below the client's base URL, already percent-encoded:
  // "/container/blob?comp=list". Must start with '/'.
  std::string target;
  // Sent as given. Content-Length comes from `body`; set Content-Type here
  // when there is a body ("application/octet-stream" otherwise).
  HttpHeaders headers;
  // Copied by Send when it needs to outlive the call (cpprestsdk may still
  // read it after a timeout); empty means none. PUT and POST always carry a
  // Content-Length, 0 for an empty body.
  ByteView body;
  size_t expected_response_bytes = 0;  // a hint to reserve the response body
  // Storage for the response body, for a caller that reads many bodies
  // (a restore's packs): Send moves it into HttpResponse::body, its bytes
  // replaced and its capacity kept, so no fresh buffer is allocated (and
  // faulted in) per exchange. Its capacity grows as a vector's does
  // (ReserveResponse), so bodies of growing sizes reallocate it only a
  // few times. Left empty; nullptr: a new buffer.
  Bytes* response_storage = nullptr;
  // For RetryingHttpClient: kSafe lets it send the request again. The
  // transports ignore it (they never repeat a request).
  Repeat repeat = Repeat::kNo;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  Bytes body;  // empty for HEAD

  // The value of a header, names compared case-insensitively; "" if absent.
  std::string Header(std::string_view name) const;
};

struct HttpClientOptions {
  // Scheme, host, optional port and optional base path: "https://acct.blob
  // .core.windows.net", "http://127.0.0.1:10000/devstoreaccount1". https
  // uses the system's TLS and trusted certificates.
  std::string base_url;
  int timeout_seconds = 120;  // per exchange: connect, send, each receive
  // "http://proxy:3128"; empty for a direct connection. A proxy that wants
  // other credentials answers 407, which Send returns as a response.
  std::string proxy_url;
  std::string proxy_user;
  std::string proxy_password;
  // Where a client copies request bodies (cpprestsdk's does: it may read a
  // body after a timed-out call returned), the storage of this many copies
  // is kept for the next requests: as many as the caller sends at once.
  size_t idle_body_copies = 1;
};

// Safe to use from several threads at once (every implementation).
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // One exchange. kServiceUnreachable when it fails without an answer (the
  // detail names the URL and why: refused, timed out, TLS, cut short).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
  // The base URL, for messages.
  virtual const std::string& base_url() const = 0;
};

// kInvalidArgument for a base or proxy URL that is not http(s)://host[:port].
Result<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientOptions& options);

// ----- Retries: the one policy.

struct HttpRetryPolicy {
  int max_attempts = 4;  // per request, the first included; below 1 counts as 1
  // The wait before retry n (1, 2, …) without a Retry-After:
  // base_delay_ms * 2^(n-1), times a jitter in [0.5, 1.5), at most
  // max_delay_ms.
  int base_delay_ms = 250;
  int max_delay_ms = 30000;
  // A Retry-After on a retried answer (seconds or an HTTP-date) replaces the
  // back-off, but is waited for at most this long.
  int max_retry_after_ms = 30000;
};

// Time and chance for the retries, injectable so tests neither sleep nor
// depend on the clock or on luck.
class RetryClock {
 public:
  virtual ~RetryClock() = default;
  virtual int64_t NowUnixMs() = 0;  // for Retry-After's HTTP-date
  virtual void SleepMs(int64_t ms) = 0;
  virtual double Jitter() = 0;  // uniform in [0.5, 1.5)
  // The system clock, std::this_thread::sleep_for and a per-thread PRNG.
  static RetryClock& Real();
};

// The answers worth another attempt: 408 Request Timeout, 429 Too Many
// Requests and every 5xx. Every exchange that failed without an answer
// (kServiceUnreachable) is retried too; nothing else is.
bool IsRetryableStatus(int status);

// The wait a Retry-After value asks for, in ms from now_unix_ms: delta-seconds
// ("120") or an HTTP-date in the IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37
// GMT"; a date in the past is 0). nullopt for an empty or unreadable value.
std::optional<int64_t> RetryAfterMs(std::string_view value, int64_t now_unix_ms);

// The wait before retry `retry` (1 for the first). `last` is the retried
// answer, or nullptr when the exchange failed without one: its Retry-After
// (capped) when it has a readable one, else the back-off.
int64_t RetryDelayMs(const HttpRetryPolicy& policy, int retry, const HttpResponse* last,
                     RetryClock& clock);

// One exchange; it may build (sign, date) the request anew each time.
using HttpAttempt = std::function<Result<HttpResponse>()>;
// An answer in an error message; "HTTP <status>" when not given.
using DescribeResponse = std::function<std::string(const HttpResponse&)>;

// The one retry loop. Calls `attempt` until it gives an answer that is not
// retryable, which is returned whatever its status, for the caller to judge.
// Retryable answers and failed exchanges are tried again, after
// RetryDelayMs, up to policy.max_attempts times in all — and only when
// `repeat` is kSafe (kNo: one attempt). An error other than
// kServiceUnreachable from `attempt` is returned at once. When the attempts
// are used up the result is kServiceUnreachable, "failed after N attempts:
// <the last error or answer>", for the caller to put its context before.
Result<HttpResponse> SendWithRetry(const HttpRetryPolicy& policy, Repeat repeat,
                                   const HttpAttempt& attempt,
                                   RetryClock& clock = RetryClock::Real(),
                                   const DescribeResponse& describe = nullptr);

// A decorator: Send() is SendWithRetry over the wrapped client, repeating
// the requests whose `repeat` is kSafe.
class RetryingHttpClient final : public HttpClient {
 public:
  RetryingHttpClient(std::unique_ptr<HttpClient> inner, HttpRetryPolicy policy,
                     RetryClock& clock = RetryClock::Real());
  Result<HttpResponse> Send(const HttpRequest& request) override;
  const std::string& base_url() const override { return inner_->base_url(); }

 private:
  const std::unique_ptr<HttpClient> inner_;
  const HttpRetryPolicy policy_;
  RetryClock& clock_;
};

// Makes room for a response body of `expected` bytes (0: unknown, nothing
// done). A buffer that already has a capacity (a caller's
// response_storage) grows at least twofold, as a vector does when it
// appends: reserving exactly each larger size would give a reader of
// growing ranges a fresh allocation, every page of it faulted in again,
// almost every time. A buffer without one gets exactly `expected`.
void ReserveResponse(Bytes& body, size_t expected);

// Percent-encodes everything but RFC 3986's unreserved characters (and '/'
// when keep_slash, for paths).
std::string UrlEncode(std::string_view s, bool keep_slash = false);

// The date in RFC 1123 form (HTTP's Date, Azure's x-ms-date):
// "Sun, 06 Nov 1994 08:49:37 GMT". Seconds since the Unix epoch.
std::string HttpDate(int64_t unix_seconds);
// HttpDate of the current time.
std::string HttpDateNow();

// The parts of an http(s) URL the implementations need.
struct ParsedUrl {
  bool https = false;
  std::string host;  // without brackets for IPv6 literals
  int port = 0;      // the scheme's default when absent
  std::string path;  // "" or "/base" without a trailing '/'
};
// kInvalidArgument unless the URL is http(s)://host[:port][/path], without
// query, fragment or user info.
Result<ParsedUrl> ParseHttpUrl(std::string_view url);

}  // namespace obagent::platform
