#include "obagent/vault/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <exception>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "obagent/http_client.h"
#include "obagent/net/connection_server.h"

namespace obagent::vault {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
// An unread request body (a refused request) up to this size is read and
// dropped so the connection can serve the next request; a larger one ends
// the connection after the answer.
constexpr uint64_t kDrainLimit = 64 * 1024;
// What one socket read of a request body may take. Beast reads into the
// connection's buffer only as much as its capacity holds (at least 512
// bytes), and the header leaves it about that small: without room made
// here the 44 packs of one full backup arrived in 1.36 million reads of
// ~500 bytes, each with its timer armed and cancelled (docs/performance.md).
constexpr size_t kBodyReadSize = 256 * 1024;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// One HTTP exchange after another on a plain or TLS stream.
template <typename Stream>
class Exchanges {
 public:
  Exchanges(net::Connection& c, Stream& stream, VaultService& service,
            std::chrono::milliseconds timeout)
      : c_(c), stream_(stream), service_(service), timeout_(timeout) {}

  void Serve() {
    for (;;) {
      if (c_.closing()) return;
      if (!ServeOne()) return;
    }
  }

 private:
  using Parser = http::request_parser<http::buffer_body>;

  // The request body, pulled from the socket as the service reads it.
  class Body final : public storage::ByteSource {
   public:
    Body(Exchanges& x, Parser& parser, bool expect_continue)
        : x_(x), parser_(parser), expect_continue_(expect_continue) {}

    Result<size_t> Read(uint8_t* buffer, size_t n) override {
      if (failed_) return IoError("the request body broke off");
      if (parser_.is_done() || n == 0) return size_t{0};
      if (expect_continue_) {
        // The client waits for this before sending the body.
        expect_continue_ = false;
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        beast::error_code ec = x_.c_.Run(x_.timeout_, [&](auto handler) {
          asio::async_write(x_.stream_, asio::buffer(kContinue, sizeof(kContinue) - 1), handler);
        });
        if (ec) return Fail(ec);
      }
      if (x_.buffer_.capacity() < kBodyReadSize) x_.buffer_.reserve(kBodyReadSize);
      for (;;) {
        auto& body = parser_.get().body();
        body.data = buffer;
        body.size = n;
        body.more = true;
        beast::error_code ec = x_.c_.Run(x_.timeout_, [&](auto handler) {
          http::async_read(x_.stream_, x_.buffer_, parser_, handler);
        });
        if (ec == http::error::need_buffer) ec = {};
        if (ec) return Fail(ec);
        size_t got = n - parser_.get().body().size;
        read_ += got;
        if (got > 0 || parser_.is_done()) return got;
      }
    }

    bool failed() const { return failed_; }
    // The client waits for "100 Continue" before it sends the body.
    bool awaiting_continue() const { return expect_continue_; }
    uint64_t read() const { return read_; }

   private:
    Result<size_t> Fail(const beast::error_code& ec) {
      failed_ = true;
      return IoError("the request body broke off: " + ec.message());
    }

    Exchanges& x_;
    Parser& parser_;
    bool expect_continue_;
    bool failed_ = false;
    uint64_t read_ = 0;
  };

  // The response body, written to the socket piece by piece.
  class Sink final : public storage::ByteSink {
   public:
    explicit Sink(Exchanges& x) : x_(x) {}
    Status Write(ByteView data) override {
      beast::error_code ec = x_.c_.Run(x_.timeout_, [&](auto handler) {
        asio::async_write(x_.stream_, asio::buffer(data.data(), data.size()), handler);
      });
      if (ec) return IoError("sending the response failed: " + ec.message());
      return Status::Ok();
    }

   private:
    Exchanges& x_;
  };

  // Serves one request; false when the connection must end.
  bool ServeOne() {
    Parser parser;
    parser.header_limit(kHeaderLimit);
    // The service enforces each route's own limit.
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    auto read_header = [&](auto handler) {
      http::async_read_header(stream_, buffer_, parser, handler);
    };
    // The idle and header deadlines (net/connection_server.h); under TLS the
    // socket does not show whether the layer holds a request's bytes.
    beast::error_code ec = std::is_same_v<Stream, beast::tcp_stream>
                               ? c_.WaitForRequest(buffer_.size() > 0, read_header)
                               : c_.WaitForRequestOpaque(read_header);
    if (ec) return false;  // closed, timed out, displaced or not HTTP
    const auto& head = parser.get();

    ServiceRequest req;
    req.method = std::string(head.method_string());
    std::string_view target(head.target().data(), head.target().size());
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    for (const auto& field : head) {
      std::string name =
          Lower(std::string_view(field.name_string().data(), field.name_string().size()));
      std::string value(field.value().data(), field.value().size());
      auto [it, added] = req.headers.emplace(name, value);
      if (!added) it->second += ", " + value;
    }
    auto expect = req.headers.find("expect");
    bool expect_continue = expect != req.headers.end() && Lower(expect->second) == "100-continue";
    Body body(*this, parser, expect_continue);
    if (!parser.is_done()) req.body_source = &body;
    if (auto length = parser.content_length()) req.content_length = *length;

    ServiceResponse resp = service_.Handle(req);
    spdlog::debug("{} {} -> {}", req.method, req.path, resp.status);

    bool keep_alive = head.keep_alive() && !body.failed();
    if (keep_alive && !parser.is_done()) {
      // The service did not read the body (a refused request).
      auto length = parser.content_length();
      // A client still waiting for "100 Continue" may or may not send the
      // body now: only closing leaves no doubt.
      if (length && *length - body.read() <= kDrainLimit && !body.awaiting_continue()) {
        Bytes scratch(16 * 1024);
        for (;;) {
          Result<size_t> got = body.Read(scratch.data(), scratch.size());
          if (!got.ok() || *got == 0) break;
        }
        keep_alive = parser.is_done();
      } else {
        keep_alive = false;
      }
    }

    const bool is_head = head.method() == http::verb::head;
    if (resp.stream_body && !is_head) {
      // The headers, then the body as the blob store yields it.
      http::response<http::empty_body> out{static_cast<http::status>(resp.status), head.version()};
      SetHeaders(resp, keep_alive, &out);
      out.content_length(resp.content_length.value_or(0));
      http::response_serializer<http::empty_body> serializer{out};
      ec = c_.Run(timeout_,
                  [&](auto handler) { http::async_write_header(stream_, serializer, handler); });
      if (ec) return false;
      Sink sink(*this);
      Status st = resp.stream_body(sink);
      if (!st.ok()) {
        // Fewer bytes than announced went out: only ending the connection
        // tells the client.
        spdlog::warn("{} {}: {}", req.method, req.path, st.ToString());
        return false;
      }
    } else {
      // Headers and a body in memory in one write.
      http::response<http::vector_body<uint8_t>> out{static_cast<http::status>(resp.status),
                                                     head.version()};
      SetHeaders(resp, keep_alive, &out);
      if (is_head) {
        // The length a GET would send; no body.
        out.content_length(resp.content_length.value_or(resp.body.size()));
      } else {
        out.content_length(resp.body.size());
        out.body() = std::move(resp.body);
      }
      ec = c_.Run(timeout_, [&](auto handler) { http::async_write(stream_, out, handler); });
      if (ec) return false;
    }
    // Answered without reading the body: the answer must reach the client.
    if (!keep_alive && !parser.is_done()) c_.LingerAfterEarlyAnswer();
    // An idle connection does not keep a body's read room (kBodyReadSize).
    if (buffer_.capacity() > kHeaderLimit) buffer_.shrink_to_fit();
    return keep_alive;
  }

  template <typename Message>
  static void SetHeaders(const ServiceResponse& resp, bool keep_alive, Message* out) {
    for (const auto& [name, value] : resp.headers) out->insert(name, value);
    if (!resp.content_type.empty()) out->set(http::field::content_type, resp.content_type);
    out->keep_alive(keep_alive);
  }

  net::Connection& c_;
  Stream& stream_;
  VaultService& service_;
  const std::chrono::milliseconds timeout_;
  beast::flat_buffer buffer_;
};

}  // namespace

struct HttpServer::Impl {
  VaultService* service = nullptr;
  std::chrono::milliseconds timeout{0};
  std::optional<ssl::context> tls;
  std::unique_ptr<net::ConnectionServer> server;

  void Serve(net::Connection& c) {
    try {
      if (!tls) {
        Exchanges<beast::tcp_stream>(c, c.stream(), *service, timeout).Serve();
        return;
      }
      ssl::stream<beast::tcp_stream&> stream(c.stream(), *tls);
      // The handshake is the first request's header as far as deadlines go.
      beast::error_code ec = c.WaitForRequest(false, [&](auto handler) {
        stream.async_handshake(ssl::stream_base::server,
                               [handler](beast::error_code e) mutable { handler(e, 0); });
      });
      if (ec) {
        spdlog::debug("TLS handshake failed: {}", ec.message());
        return;
      }
      Exchanges<ssl::stream<beast::tcp_stream&>>(c, stream, *service, timeout).Serve();
      (void)c.Run(std::chrono::seconds(2), [&](auto handler) {
        stream.async_shutdown([handler](beast::error_code e) mutable { handler(e, 0); });
      });
    } catch (const std::exception& e) {
      spdlog::warn("connection ended: {}", e.what());
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (impl_ && impl_->server) impl_->server->Close();
}

uint16_t HttpServer::port() const { return impl_->server->port(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(VaultService& service,
                                                      const HttpServerOptions& options) {
  auto url = platform::ParseHttpUrl(options.listen_url);
  if (!url.ok()) {
    return InvalidArgument("invalid listen URL '" + options.listen_url +
                           "': " + url.status().detail());
  }
  if (!url->path.empty() && url->path != "/") {
    return InvalidArgument("the listen URL '" + options.listen_url +
                           "' must not have a path: the API lives at /v1/");
  }
  bool https = url->https;
  if (https != (!options.tls_cert_file.empty() && !options.tls_key_file.empty())) {
    return InvalidArgument(https ? "an https:// listen URL needs --tls-cert and --tls-key"
                                 : "--tls-cert/--tls-key need an https:// listen URL");
  }
  auto impl = std::make_unique<Impl>();
  impl->service = &service;
  impl->timeout = std::chrono::milliseconds(std::max<int64_t>(options.timeout_ms, 1));
  if (https) {
    const std::string& cert = options.tls_cert_file;
    const std::string& key = options.tls_key_file;
    try {
      impl->tls.emplace(ssl::context::tls_server);
      impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                             ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
      impl->tls->use_certificate_chain_file(cert);
      impl->tls->use_private_key_file(key, ssl::context::pem);
    } catch (const std::exception& e) {
      return InvalidArgument("TLS setup with certificate " + cert + " and key " + key +
                             " failed: " + e.what());
    }
  }
  net::ConnectionServerOptions server_options;
  server_options.host = url->host;
  server_options.port = static_cast<uint16_t>(url->port);
  server_options.max_connections = options.max_connections;
  server_options.max_connections_per_client = options.max_connections_per_client;
  server_options.idle_timeout =
      std::chrono::milliseconds(std::max<int64_t>(options.idle_timeout_ms, 1));
  server_options.header_timeout =
      std::chrono::milliseconds(std::max<int64_t>(options.header_timeout_ms, 1));
  server_options.io_timeout = impl->timeout;
  server_options.exclusive_port = false;
  server_options.name = "vaultd";
  Impl* raw = impl.get();
  auto server =
      net::ConnectionServer::Start(server_options, [raw](net::Connection& c) { raw->Serve(c); });
  if (!server.ok()) {
    if (server.status().code() == ErrorCode::kInvalidArgument) return server.status();
    return IoError("cannot listen on " + options.listen_url + ": " + server.status().detail());
  }
  impl->server = std::move(server).value();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace obagent::vault
