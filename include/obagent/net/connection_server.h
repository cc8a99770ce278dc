// The TCP side both HTTP servers share (the console in cbengine, vaultd):
// an accept loop, one thread per connection with its own io_context (so a
// slow handler holds only its own connection), a deadline on every read and
// write, and a cap on open connections. The HTTP itself (Boost.Beast) stays
// with each server: this class hands it a connected stream.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "obagent/status.h"

namespace obagent::net {

// One accepted connection. Used only by the thread serving it.
class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The connection's stream; a TLS layer may wrap it (by reference).
  boost::beast::tcp_stream& stream() { return *stream_; }
  boost::asio::io_context& io_context() { return ioc_; }

  // Starts one asynchronous operation on stream() (or a layer over it) with
  // `start(handler)`, where handler is void(error_code, size_t), and runs it
  // to its end. After `timeout` the socket is closed and the operation ends
  // with beast::error::timeout. Returns the operation's error code.
  template <typename Start>
  boost::beast::error_code Run(std::chrono::milliseconds timeout, Start&& start) {
    boost::beast::error_code result;
    stream_->expires_after(timeout);
    start([&result](boost::beast::error_code ec, size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  // The server is closing: serve no further request.
  bool closing() const { return closing_ != nullptr && closing_->load(); }

 private:
  friend class ConnectionServer;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
  const std::atomic<bool>* closing_ = nullptr;
};

struct ConnectionServerOptions {
  std::string host = "127.0.0.1";  // an address or a name to resolve
  uint16_t port = 0;               // 0: any free port
  // Connections beyond this many are closed as soon as they are accepted.
  size_t max_connections = 64;
  // platform::PrepareListeningSocket: the port comes back at once after a
  // restart and no other program may share it.
  bool exclusive_port = true;
  std::string name = "server";  // for messages: "the console", "vaultd"
};

// Thread-safe. Destruction closes.
class ConnectionServer {
 public:
  // Runs on the connection's own thread and returns when done with it; the
  // server then shuts the socket down and closes it.
  using Handler = std::function<void(Connection&)>;

  // kAlreadyExists when the port is taken, kInvalidArgument for a host that
  // does not resolve, kIo for other failures to listen.
  static Result<std::unique_ptr<ConnectionServer>> Start(const ConnectionServerOptions& options,
                                                         Handler handler);
  ~ConnectionServer();
  ConnectionServer(const ConnectionServer&) = delete;
  ConnectionServer& operator=(const ConnectionServer&) = delete;

  uint16_t port() const;
  // Connections closed at once because max_connections were open.
  uint64_t refused() const;
  // Stops accepting and closes every connection's socket: one waiting for a
  // request ends at once, one in the middle of an exchange fails its next
  // read or write. Returns once every handler has returned.
  void Close();

 private:
  struct Impl;
  explicit ConnectionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace obagent::net
