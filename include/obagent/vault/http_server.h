// The HTTP(S) front end of vaultd: Boost.Beast on net::ConnectionServer (a
// thread per connection; idle, header and transfer deadlines; connection
// caps in all and per client that displace waiting connections). It reads a request's headers,
// hands the request to VaultService with the body still on the socket (the service authenticates
// first, then pulls the body: an object PUT streams it into the blob store), and streams an object
// GET's body from the blob store to the socket piece by piece.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "obagent/status.h"
#include "obagent/vault/service.h"

namespace obagent::vault {

struct HttpServerOptions {
  std::string listen_url = "http://127.0.0.1:8470";  // https://… needs the two files below
  std::string tls_cert_file;                         // PEM certificate chain
  std::string tls_key_file;                          // PEM private key
  // net/connection_server.h: a request's body and answer get
  // timeout_ms per send/receive; a connection waiting for its next
  // request is closed after idle_timeout_ms; a header must be complete
  // header_timeout_ms after its first byte.
  int64_t timeout_ms = 300000;
  int64_t idle_timeout_ms = 30000;
  int64_t header_timeout_ms = 10000;
  // At a cap, a new connection displaces the longest-waiting idle one
  // (net/connection_server.h), else it is closed at once.
  size_t max_connections = 256;
  size_t max_connections_per_client = 64;
};

class HttpServer {
 public:
  // Listens until Stop() or destruction. kInvalidArgument for a bad URL or
  // TLS setup, kIo when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(VaultService& service,
                                                   const HttpServerOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting and ends every connection (an exchange in progress
  // fails; an unfinished PUT leaves no object).
  void Stop();
  uint16_t port() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obagent::vault
