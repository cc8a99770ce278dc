// The HTTP(S) front end of vaultd: a cpprestsdk http_listener that hands
// every request to a VaultService.
#pragma once

#include <memory>
#include <string>

#include "obagent/status.h"
#include "obagent/vault/service.h"

namespace obagent::vault {

struct HttpServerOptions {
  std::string listen_url = "http://127.0.0.1:8470";  // https://… needs the two files below
  std::string tls_cert_file;                         // PEM certificate chain
  std::string tls_key_file;                          // PEM private key
  int timeout_seconds = 300;                         // per send/receive on a connection
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

  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obagent::vault
