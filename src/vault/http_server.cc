#include "obagent/vault/http_server.h"

#include <spdlog/spdlog.h>

// cpprestsdk's U() macro breaks fmt's templates.
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <boost/asio/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>

namespace obagent::vault {

namespace http = web::http;
namespace listener = web::http::experimental::listener;

struct HttpServer::Impl {
  Impl(VaultService& s, listener::http_listener l) : service(s), http_listener(std::move(l)) {}

  // Converts, handles, answers. Runs on the listener's thread pool once the
  // body has arrived.
  void Serve(const http::http_request& request, std::vector<unsigned char> body) {
    ServiceRequest req;
    req.method = request.method();
    const web::uri& uri = request.request_uri();
    req.path = uri.path();
    req.query = uri.query();
    for (const auto& [name, value] : request.headers()) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      req.headers[lower] = value;
    }
    req.body = std::move(body);  // Bytes is std::vector<unsigned char>: no copy

    ServiceResponse resp = service.Handle(req);
    spdlog::debug("{} {} -> {}", req.method, req.path, resp.status);

    http::http_response out(static_cast<http::status_code>(resp.status));
    for (const auto& [name, value] : resp.headers) out.headers().add(name, value);
    if (!resp.body.empty()) {
      out.set_body(std::move(resp.body));
      if (!resp.content_type.empty()) out.headers().set_content_type(resp.content_type);
    }
    Reply(request, out);
  }

  static void Reply(const http::http_request& request, const http::http_response& response) {
    request.reply(response).then([](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        spdlog::debug("sending a response failed: {}", e.what());
      }
    });
  }

  void Accept(http::http_request request) {
    {
      std::lock_guard lock(mu);
      if (stopping) {
        Reply(request, http::http_response(http::status_codes::ServiceUnavailable));
        return;
      }
      ++in_flight;
    }
    request.extract_vector().then([this, request](pplx::task<std::vector<unsigned char>> body) {
      try {
        Serve(request, body.get());
      } catch (const std::exception& e) {
        spdlog::warn("{} {}: {}", request.method(), request.request_uri().path(), e.what());
        try {
          Reply(request, http::http_response(http::status_codes::BadRequest));
        } catch (const std::exception&) {
        }
      }
      std::lock_guard lock(mu);
      if (--in_flight == 0) idle.notify_all();
    });
  }

  void Stop() {
    {
      std::lock_guard lock(mu);
      if (stopped) return;
      stopped = true;
      stopping = true;
    }
    try {
      http_listener.close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("closing the listener: {}", e.what());
    }
    std::unique_lock lock(mu);
    idle.wait_for(lock, std::chrono::seconds(30), [&] { return in_flight == 0; });
  }

  VaultService& service;
  listener::http_listener http_listener;
  std::mutex mu;
  std::condition_variable idle;
  int in_flight = 0;
  bool stopping = false;
  bool stopped = false;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (impl_) impl_->Stop();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(VaultService& service,
                                                      const HttpServerOptions& options) {
  web::uri uri;
  try {
    uri = web::uri(options.listen_url);
  } catch (const std::exception& e) {
    return InvalidArgument("invalid listen URL '" + options.listen_url + "': " + e.what());
  }
  if (!uri.path().empty() && uri.path() != "/") {
    return InvalidArgument("the listen URL '" + options.listen_url +
                           "' must not have a path: the API lives at /v1/");
  }
  bool https = uri.scheme() == "https";
  if (!https && uri.scheme() != "http") {
    return InvalidArgument("the listen URL '" + options.listen_url +
                           "' must be http:// or https://");
  }
  if (https != (!options.tls_cert_file.empty() && !options.tls_key_file.empty())) {
    return InvalidArgument(https ? "an https:// listen URL needs --tls-cert and --tls-key"
                                 : "--tls-cert/--tls-key need an https:// listen URL");
  }

  listener::http_listener_config config;
  config.set_timeout(std::chrono::seconds(options.timeout_seconds));
  if (https) {
    std::string cert = options.tls_cert_file, key = options.tls_key_file;
    auto setup = [cert, key](boost::asio::ssl::context& ctx) {
      ctx.set_options(boost::asio::ssl::context::default_workarounds |
                      boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                      boost::asio::ssl::context::no_tlsv1 | boost::asio::ssl::context::no_tlsv1_1 |
                      boost::asio::ssl::context::single_dh_use);
      ctx.use_certificate_chain_file(cert);
      ctx.use_private_key_file(key, boost::asio::ssl::context::pem);
    };
    // Load once here so a bad file is reported at start, not per connection.
    try {
      boost::asio::ssl::context probe(boost::asio::ssl::context::tls_server);
      setup(probe);
    } catch (const std::exception& e) {
      return InvalidArgument("TLS setup with certificate " + cert + " and key " + key +
                             " failed: " + e.what());
    }
    config.set_ssl_context_callback(setup);
  }

  auto impl = std::make_unique<Impl>(service, listener::http_listener(uri, config));
  Impl* raw = impl.get();
  impl->http_listener.support(
      [raw](http::http_request request) { raw->Accept(std::move(request)); });
  try {
    impl->http_listener.open().wait();
  } catch (const std::exception& e) {
    return IoError("cannot listen on " + options.listen_url + ": " + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace obagent::vault
