// HttpClient on WinHTTP: the Windows half of include/obagent/http_client.h.
// WinHTTP brings the system's TLS (Schannel) and certificate store, so an
// https endpoint is trusted exactly when Windows trusts it.
//
// One session and one connection handle per client, shared by all threads
// (WinHTTP handles are thread-safe); one request handle per exchange, in
// synchronous mode.
#include <windows.h>
#include <winhttp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "obagent/http_client.h"
#include "platform/win/text/utf16.h"

namespace obagent::platform {
namespace {

struct HandleCloser {
  void operator()(HINTERNET handle) const { WinHttpCloseHandle(handle); }
};
using Handle = std::unique_ptr<void, HandleCloser>;
using win::Narrow;
using win::Widen;

// What a failed WinHTTP call means, in words a user can act on.
std::string DescribeError(DWORD error) {
  std::string code = " (WinHTTP error " + std::to_string(error) + ")";
  switch (error) {
    case ERROR_WINHTTP_CANNOT_CONNECT:
      return "connection refused or host unreachable" + code;
    case ERROR_WINHTTP_TIMEOUT:
      return "timed out" + code;
    case ERROR_WINHTTP_NAME_NOT_RESOLVED:
      return "host name not resolved" + code;
    case ERROR_WINHTTP_CONNECTION_ERROR:
      return "connection reset or closed by the server" + code;
    case ERROR_WINHTTP_SECURE_FAILURE:
      return "TLS handshake or certificate check failed" + code;
    case ERROR_WINHTTP_SECURE_CHANNEL_ERROR:
      return "TLS (secure channel) error" + code;
    case ERROR_WINHTTP_SECURE_INVALID_CA:
      return "TLS certificate from an untrusted authority" + code;
    case ERROR_WINHTTP_SECURE_CERT_CN_INVALID:
      return "TLS certificate for another host name" + code;
    case ERROR_WINHTTP_SECURE_CERT_DATE_INVALID:
      return "TLS certificate expired or not yet valid" + code;
    case ERROR_WINHTTP_SECURE_CERT_REVOKED:
      return "TLS certificate revoked" + code;
    case ERROR_WINHTTP_SECURE_INVALID_CERT:
      return "invalid TLS certificate" + code;
    case ERROR_WINHTTP_INVALID_SERVER_RESPONSE:
      return "invalid HTTP response" + code;
    case ERROR_WINHTTP_OPERATION_CANCELLED:
      return "cancelled" + code;
    default:
      return "failed" + code;
  }
}

// 0x8007xxxx, as Status carries OS errors.
uint32_t HresultFromWin32(DWORD error) { return 0x80070000u | (error & 0xFFFFu); }

// Picks the strongest scheme the proxy offers; Basic is what most proxies
// in front of backup agents ask for.
DWORD ChooseAuthScheme(DWORD supported) {
  for (DWORD scheme : {WINHTTP_AUTH_SCHEME_NEGOTIATE, WINHTTP_AUTH_SCHEME_NTLM,
                       WINHTTP_AUTH_SCHEME_DIGEST, WINHTTP_AUTH_SCHEME_BASIC}) {
    if (supported & scheme) return scheme;
  }
  return 0;
}

class WinHttpClient final : public HttpClient {
 public:
  WinHttpClient(std::string base_url, ParsedUrl base, HttpClientOptions options, Handle session,
                Handle connection)
      : base_url_(std::move(base_url)),
        base_(std::move(base)),
        options_(std::move(options)),
        session_(std::move(session)),
        connection_(std::move(connection)) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::string what = request.method + " " + base_url_ + request.target;
    auto failed = [&](std::string_view step) {
      DWORD error = GetLastError();
      return Status(ErrorCode::kServiceUnreachable,
                    what + ": " + std::string(step) + " " + DescribeError(error),
                    HresultFromWin32(error));
    };
    if (request.target.empty() || request.target.front() != '/') {
      return InvalidArgument(what + ": the request target must start with '/'");
    }
    if (request.body.size() > 0xFFFFFFFFu) {
      return InvalidArgument(what + ": a body over 4 GiB cannot be sent in one request");
    }
    std::wstring method = Widen(request.method);
    std::wstring target = Widen(base_.path + request.target);
    Handle handle(WinHttpOpenRequest(connection_.get(), method.c_str(), target.c_str(), nullptr,
                                     WINHTTP_NO_REFERER, WINHTTP_DEFAULT_ACCEPT_TYPES,
                                     base_.https ? WINHTTP_FLAG_SECURE : 0));
    if (!handle) return failed("opening the request");

    std::string headers;
    bool has_content_type = false;
    for (const auto& [name, value] : request.headers) {
      if (name.size() == 12 && _strnicmp(name.c_str(), "Content-Type", 12) == 0) {
        has_content_type = true;
      }
      headers += name + ": " + value + "\r\n";
    }
    if (!request.body.empty() && !has_content_type) {
      headers += "Content-Type: application/octet-stream\r\n";
    }
    std::wstring wide_headers = Widen(headers);
    auto length = static_cast<DWORD>(request.body.size());
    // WinHTTP only reads the body; the cast is what its C signature needs.
    void* body = length ? const_cast<uint8_t*>(request.body.data()) : WINHTTP_NO_REQUEST_DATA;

    DWORD status = 0;
    // A proxy asking for credentials gets them once (a second 407 means
    // they are wrong and is returned to the caller).
    for (bool credentials_sent = false;;) {
      if (!WinHttpSendRequest(
              handle.get(),
              wide_headers.empty() ? WINHTTP_NO_ADDITIONAL_HEADERS : wide_headers.c_str(),
              static_cast<DWORD>(wide_headers.size()), body, length, length, 0)) {
        return failed("sending");
      }
      if (!WinHttpReceiveResponse(handle.get(), nullptr)) return failed("receiving the answer");
      DWORD size = sizeof status;
      if (!WinHttpQueryHeaders(handle.get(), WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                               WINHTTP_HEADER_NAME_BY_INDEX, &status, &size,
                               WINHTTP_NO_HEADER_INDEX)) {
        return failed("reading the status");
      }
      if (status != 407 || credentials_sent) break;
      DWORD supported = 0, first = 0, target_kind = 0;
      if (!WinHttpQueryAuthSchemes(handle.get(), &supported, &first, &target_kind)) break;
      if (options_.proxy_user.empty()) {
        // No credentials configured: a corporate proxy asking for
        // Negotiate/NTLM gets the service's own logon (the machine account
        // for SYSTEM), as Windows' own services do. Never Basic or Digest.
        DWORD integrated = supported & WINHTTP_AUTH_SCHEME_NEGOTIATE
                               ? WINHTTP_AUTH_SCHEME_NEGOTIATE
                               : supported & WINHTTP_AUTH_SCHEME_NTLM;
        if (integrated == 0) break;
        DWORD low = WINHTTP_AUTOLOGON_SECURITY_LEVEL_LOW;
        if (!WinHttpSetOption(handle.get(), WINHTTP_OPTION_AUTOLOGON_POLICY, &low, sizeof low) ||
            !WinHttpSetCredentials(handle.get(), WINHTTP_AUTH_TARGET_PROXY, integrated, nullptr,
                                   nullptr, nullptr)) {
          return failed("setting the proxy's integrated authentication");
        }
        credentials_sent = true;
        continue;
      }
      DWORD scheme = ChooseAuthScheme(supported);
      if (scheme == 0) break;
      std::wstring user = Widen(options_.proxy_user);
      std::wstring password = Widen(options_.proxy_password);
      if (!WinHttpSetCredentials(handle.get(), WINHTTP_AUTH_TARGET_PROXY, scheme, user.c_str(),
                                 password.c_str(), nullptr)) {
        return failed("setting the proxy credentials");
      }
      credentials_sent = true;
    }

    HttpResponse response;
    response.status = static_cast<int>(status);
    DWORD size = 0;
    WinHttpQueryHeaders(handle.get(), WINHTTP_QUERY_RAW_HEADERS_CRLF, WINHTTP_HEADER_NAME_BY_INDEX,
                        WINHTTP_NO_OUTPUT_BUFFER, &size, WINHTTP_NO_HEADER_INDEX);
    if (GetLastError() == ERROR_INSUFFICIENT_BUFFER && size > 0) {
      std::wstring raw(size / sizeof(wchar_t), L'\0');
      if (!WinHttpQueryHeaders(handle.get(), WINHTTP_QUERY_RAW_HEADERS_CRLF,
                               WINHTTP_HEADER_NAME_BY_INDEX, raw.data(), &size,
                               WINHTTP_NO_HEADER_INDEX)) {
        return failed("reading the headers");
      }
      raw.resize(size / sizeof(wchar_t));
      ParseHeaders(Narrow(raw), &response.headers);
    }
    if (request.method == "HEAD") return response;

    if (request.response_storage != nullptr) {
      response.body = std::move(*request.response_storage);
      response.body.clear();
    }
    ReserveResponse(response.body, request.expected_response_bytes);
    if (!ReadBody(handle.get(), &response.body)) return failed("reading the body");
    std::string announced = response.Header("Content-Length");
    if (!announced.empty() &&
        std::strtoull(announced.c_str(), nullptr, 10) != response.body.size()) {
      return Status(ErrorCode::kServiceUnreachable, what + ": connection closed after " +
                                                        std::to_string(response.body.size()) +
                                                        " of " + announced + " bytes");
    }
    return response;
  }

  const std::string& base_url() const override { return base_url_; }

 private:
  static bool ReadBody(HINTERNET handle, Bytes* body) {
    for (;;) {
      DWORD available = 0;
      if (!WinHttpQueryDataAvailable(handle, &available)) return false;
      if (available == 0) return true;
      size_t at = body->size();
      body->resize(at + available);
      DWORD read = 0;
      if (!WinHttpReadData(handle, body->data() + at, available, &read)) return false;
      body->resize(at + read);
      if (read == 0) return true;
    }
  }

  // "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\n": the status line is
  // skipped (the status comes from WINHTTP_QUERY_STATUS_CODE).
  static void ParseHeaders(std::string_view raw, HttpHeaders* headers) {
    bool first = true;
    while (!raw.empty()) {
      size_t end = raw.find("\r\n");
      std::string_view line = raw.substr(0, end);
      raw = end == std::string_view::npos ? std::string_view() : raw.substr(end + 2);
      if (first) {
        first = false;
        continue;
      }
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      headers->emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
  }

  const std::string base_url_;
  const ParsedUrl base_;
  const HttpClientOptions options_;
  const Handle session_;
  const Handle connection_;
};

}  // namespace

Result<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientOptions& options) {
  OB_ASSIGN_OR_RETURN(ParsedUrl base, ParseHttpUrl(options.base_url));
  std::wstring proxy;
  if (!options.proxy_url.empty()) {
    auto parsed = ParseHttpUrl(options.proxy_url);
    if (!parsed.ok()) return parsed.status().WithContext("proxy");
    // WinHTTP talks plain HTTP to the proxy (CONNECT for https origins).
    proxy = Widen(parsed->host + ":" + std::to_string(parsed->port));
  }
  // No proxy configured: the system's (WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY,
  // Windows 8.1 / Server 2012 R2 and later: the machine's WinHTTP proxy,
  // WPAD and PAC scripts, as Windows' own services use them). Where that
  // access type is unknown, the machine-wide WinHTTP setting (netsh winhttp
  // set proxy), which is direct when none is set.
  Handle session;
  if (proxy.empty()) {
    session = Handle(WinHttpOpen(L"obagent", WINHTTP_ACCESS_TYPE_AUTOMATIC_PROXY,
                                 WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0));
    if (!session) {
      session = Handle(WinHttpOpen(L"obagent", WINHTTP_ACCESS_TYPE_DEFAULT_PROXY,
                                   WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0));
    }
  } else {
    session = Handle(WinHttpOpen(L"obagent", WINHTTP_ACCESS_TYPE_NAMED_PROXY, proxy.c_str(),
                                 WINHTTP_NO_PROXY_BYPASS, 0));
  }
  auto failed = [&](std::string_view step) {
    DWORD error = GetLastError();
    return Status(ErrorCode::kServiceUnreachable,
                  options.base_url + ": " + std::string(step) + " " + DescribeError(error),
                  HresultFromWin32(error));
  };
  if (!session) return failed("opening a WinHTTP session");
  int timeout_ms = std::max(options.timeout_seconds, 1) * 1000;
  // WinHttpSetTimeouts leaves the wait for the response headers at its
  // own default of 90 s: a server that accepts and never answers would
  // outlast the caller's timeout.
  DWORD response_timeout_ms = static_cast<DWORD>(timeout_ms);
  if (!WinHttpSetTimeouts(session.get(), timeout_ms, timeout_ms, timeout_ms, timeout_ms) ||
      !WinHttpSetOption(session.get(), WINHTTP_OPTION_RECEIVE_RESPONSE_TIMEOUT,
                        &response_timeout_ms, sizeof response_timeout_ms)) {
    return failed("setting timeouts");
  }
  // Every answer goes to the caller (include/obagent/http_client.h): a
  // signed request must not be replayed elsewhere.
  DWORD redirects = WINHTTP_OPTION_REDIRECT_POLICY_NEVER;
  if (!WinHttpSetOption(session.get(), WINHTTP_OPTION_REDIRECT_POLICY, &redirects,
                        sizeof redirects)) {
    return failed("turning off redirects");
  }
  std::wstring host = Widen(base.host);
  Handle connection(
      WinHttpConnect(session.get(), host.c_str(), static_cast<INTERNET_PORT>(base.port), 0));
  if (!connection) return failed("connecting");
  std::string base_url = options.base_url;
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  return std::unique_ptr<HttpClient>(std::make_unique<WinHttpClient>(
      std::move(base_url), std::move(base), options, std::move(session), std::move(connection)));
}

}  // namespace obagent::platform
