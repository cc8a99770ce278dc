// The HTTP client layer: one small interface over the OS's HTTP stack, so
// the blob store and the vault client never see a library. On Linux it is
// cpprestsdk (src/platform/posix/http), on Windows WinHTTP
// (src/platform/win/http): what a Windows-native agent should use, with the
// system's TLS, certificate store and proxy handling.
//
// The client only moves bytes. Every answer the server (or a proxy) gives is
// a response, whatever its status — 404, 503, 407, a 302 (redirects are not
// followed) — for the caller to judge;
// retries and back-off stay with the callers, which know what is safe to
// repeat. Only a failed exchange (no connection, timeout, TLS failure, a
// connection closed before the announced Content-Length) is an error.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "obagent/bytes.h"
#include "obagent/status.h"

namespace obagent::platform {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

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
};

// Safe to use from several threads at once.
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
