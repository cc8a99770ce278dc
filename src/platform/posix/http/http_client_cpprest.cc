// HttpClient on cpprestsdk (Debian's libcpprest, Boost.Asio and OpenSSL
// underneath): the Linux half of include/obagent/http_client.h.
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

// Keeps cpprestsdk's U() macro out of the way.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>

#include "obagent/core/idle_pool.h"
#include "obagent/http_client.h"

namespace obagent::platform {
namespace {

namespace http = web::http;
namespace streams = concurrency::streams;

bool IsContentType(const std::string& name) {
  static constexpr std::string_view kName = "content-type";
  if (name.size() != kName.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != kName[i]) return false;
  }
  return true;
}

class CpprestHttpClient final : public HttpClient {
 public:
  CpprestHttpClient(std::string base_url, std::string base_path,
                    std::unique_ptr<http::client::http_client> client, size_t idle_body_copies)
      : base_url_(std::move(base_url)),
        base_path_(std::move(base_path)),
        client_(std::move(client)),
        body_copies_(idle_body_copies) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    std::string what = request.method + " " + base_url_ + request.target;
    if (request.target.empty() || request.target.front() != '/') {
      return InvalidArgument(what + ": the request target must start with '/'");
    }
    try {
      http::http_request message(request.method);
      message.set_request_uri(web::uri(base_path_ + request.target));
      std::string content_type = "application/octet-stream";
      for (const auto& [name, value] : request.headers) {
        if (IsContentType(name)) {
          content_type = value;
          if (!request.body.empty()) continue;
        }
        message.headers().add(name, value);
      }
      // The stream owns a copy of the body: after a timeout or a connection
      // error, cpprestsdk may still be reading from the stream when this
      // call has returned and the caller's buffer is gone. (A memcpy costs
      // far less than sending the bytes.) The copy's storage comes from the
      // last request that completed, so a pack-sized body is not a fresh
      // mapping faulted in page by page for every upload.
      std::optional<IdlePool<Bytes>::Lease> copy;
      std::optional<streams::container_buffer<Bytes>> source;
      if (!request.body.empty()) {
        copy.emplace(body_copies_.Acquire());
        Bytes body = std::move(**copy);
        if (body.capacity() < request.body.size()) {
          // The old storage goes before the new one is filled, so the two
          // are never resident at once; the room above the body costs no
          // memory until a larger body fills it, and spares a reallocation.
          Bytes().swap(body);
          body.reserve(request.body.size() + request.body.size() / 2);
        }
        body.assign(request.body.begin(), request.body.end());
        source.emplace(std::move(body), std::ios_base::in);
        message.set_body(streams::istream(*source), request.body.size(), content_type);
      } else if (request.method == "PUT" || request.method == "POST") {
        message.headers().add("Content-Length", "0");
      }

      Bytes initial;
      if (request.response_storage != nullptr) {
        initial = std::move(*request.response_storage);
        initial.clear();
      }
      ReserveResponse(initial, request.expected_response_bytes);
      streams::container_buffer<Bytes> sink(std::move(initial), std::ios_base::out);
      message.set_response_stream(streams::ostream(sink));

      http::http_response answer = client_->request(message).get();
      answer.content_ready().get();
      // The whole answer is in: cpprestsdk sent the whole body before it
      // read the answer, so the copy's storage is free again.
      if (source) **copy = std::move(source->collection());
      HttpResponse response;
      response.status = answer.status_code();
      for (const auto& [name, value] : answer.headers()) response.headers.emplace_back(name, value);
      response.body = std::move(sink.collection());
      if (request.method != "HEAD") {
        std::string length = response.Header("Content-Length");
        if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) != response.body.size()) {
          return Status(ErrorCode::kServiceUnreachable, what + ": connection closed after " +
                                                            std::to_string(response.body.size()) +
                                                            " of " + length + " bytes");
        }
      }
      return response;
    } catch (const std::exception& e) {
      return Status(ErrorCode::kServiceUnreachable, what + ": " + e.what());
    }
  }

  const std::string& base_url() const override { return base_url_; }

 private:
  const std::string base_url_;
  const std::string base_path_;  // the base URL's path, prepended to every target
  const std::unique_ptr<http::client::http_client> client_;
  // Storage for the copies of request bodies, kept for as many uploads as
  // the caller said it runs at once (HttpClientOptions::idle_body_copies).
  IdlePool<Bytes> body_copies_;
};

}  // namespace

Result<std::unique_ptr<HttpClient>> NewHttpClient(const HttpClientOptions& options) {
  OB_ASSIGN_OR_RETURN(ParsedUrl base, ParseHttpUrl(options.base_url));
  if (!options.proxy_url.empty()) {
    OB_RETURN_IF_ERROR(ParseHttpUrl(options.proxy_url).status().WithContext("proxy"));
  }
  try {
    web::uri uri(options.base_url);
    http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(std::max(options.timeout_seconds, 1)));
    config.set_chunksize(256u << 10);
    // Every answer goes to the caller (include/obagent/http_client.h): a
    // signed request must not be replayed elsewhere, and cpprestsdk loses
    // the body of a followed redirect when a response stream is set.
    config.set_max_redirects(0);
    if (!options.proxy_url.empty()) {
      web::web_proxy proxy{web::uri(options.proxy_url)};
      if (!options.proxy_user.empty()) {
        proxy.set_credentials(web::credentials(options.proxy_user, options.proxy_password));
      }
      config.set_proxy(proxy);
    }
    auto client = std::make_unique<http::client::http_client>(uri.authority(), config);
    std::string base_url = options.base_url;
    while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
    return std::unique_ptr<HttpClient>(std::make_unique<CpprestHttpClient>(
        std::move(base_url), base.path, std::move(client), options.idle_body_copies));
  } catch (const std::exception& e) {
    return InvalidArgument("invalid URL " + options.base_url + ": " + e.what());
  }
}

}  // namespace obagent::platform
