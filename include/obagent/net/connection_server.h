// The TCP side both HTTP servers share (the console in cbengine, vaultd):
// an accept loop, one thread per connection with its own io_context (so a
// slow handler holds only its own connection), a deadline on every read and
// write, and caps on open connections. The HTTP itself (Boost.Beast) stays
// with each server: this class hands it a connected stream.
//
// Deadlines: a connection waiting for its next request is closed after
// idle_timeout; once the request's first byte arrived, its header must be
// complete within header_timeout (slow-header "slowloris" clients); every
// read and write of the exchange after that (bodies, the answer) gets
// io_timeout.
//
// Caps: at most max_connections in all and max_connections_per_client from
// one remote address. At a cap a new connection displaces the connection
// that has waited longest without a request in progress (idle, or its
// header still arriving) -- of the same address for the per-client cap, of
// the address holding the most connections for the total cap -- and is
// refused only when every such connection is in the middle of an exchange.
// So a process holding idle connections cannot lock anyone out: the console
// listens on 127.0.0.1, where every client shares one address, and an
// administrator's connection still gets in.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "obagent/status.h"

namespace obagent::net {

// One accepted connection. Used only by the thread serving it (the server
// displaces or closes it only through its io_context and an atomic state).
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

  // Run() for an exchange's reads and writes after its header: io_timeout.
  template <typename Start>
  boost::beast::error_code Run(Start&& start) {
    return Run(io_timeout_, std::forward<Start>(start));
  }

  // Waits for the next request and runs `start` (reading its header, or a
  // TLS handshake) like Run(). Unless `buffered` (bytes of it are buffered
  // already), the connection first waits up to idle_timeout for a byte;
  // then `start` has header_timeout. Meanwhile the server may displace the
  // connection for a newer one (the caps): it ends with
  // asio::error::operation_aborted. On success the connection is busy
  // (never displaced) until the next WaitForRequest.
  template <typename Start>
  boost::beast::error_code WaitForRequest(bool buffered, Start&& start) {
    if (!buffered) {
      Enter(kIdle);
      boost::beast::error_code ec = WaitReadable();
      if (ec) return ec;
      if (!Claim(kIdle, kHeader)) return boost::asio::error::operation_aborted;
    } else {
      Enter(kHeader);
    }
    boost::beast::error_code ec = Run(header_timeout_, std::forward<Start>(start));
    if (ec) return ec;
    if (!Claim(kHeader, kBusy)) return boost::asio::error::operation_aborted;
    return ec;
  }

  // WaitForRequest for a layer that may hold bytes the socket no longer
  // shows (TLS): `start` gets idle_timeout as a whole and the connection
  // counts as idle (displaceable) throughout.
  template <typename Start>
  boost::beast::error_code WaitForRequestOpaque(Start&& start) {
    Enter(kIdle);
    boost::beast::error_code ec = Run(idle_timeout_, std::forward<Start>(start));
    if (ec) return ec;
    if (!Claim(kIdle, kBusy)) return boost::asio::error::operation_aborted;
    return ec;
  }

  std::chrono::milliseconds io_timeout() const { return io_timeout_; }

  // After an answer sent without reading the request's whole body (refused
  // from its header): stops sending, then reads and drops what the client
  // still sends, for up to 2 s or 16 MiB. Closing with unread bytes would
  // make the system reset the connection, and a reset can discard the
  // answer before the client has read it. The connection is then closed.
  void LingerAfterEarlyAnswer();

  // The server is closing: serve no further request.
  bool closing() const { return closing_ != nullptr && closing_->load(); }

 private:
  friend class ConnectionServer;
  enum State : int { kBusy, kIdle, kHeader, kDisplaced };

  void Enter(State state) {
    since_ = std::chrono::steady_clock::now().time_since_epoch().count();
    state_.store(state);
  }
  // False when the server displaced the connection meanwhile.
  bool Claim(State from, State to) {
    int expected = from;
    return state_.compare_exchange_strong(expected, to);
  }

  // Until the socket has a byte (or its end) to read, at most idle_timeout.
  boost::beast::error_code WaitReadable() {
    auto& socket = stream_->socket();
    boost::asio::steady_timer timer(ioc_);
    timer.expires_after(idle_timeout_);
    boost::beast::error_code result;
    bool timed_out = false;
    socket.async_wait(boost::asio::ip::tcp::socket::wait_read, [&](boost::beast::error_code ec) {
      result = ec;
      timer.cancel();
    });
    timer.async_wait([&](boost::beast::error_code ec) {
      if (ec) return;
      timed_out = true;
      boost::beast::error_code ignored;
      socket.cancel(ignored);
    });
    ioc_.restart();
    ioc_.run();
    if (timed_out) return boost::beast::error::timeout;
    return result;
  }

  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
  const std::atomic<bool>* closing_ = nullptr;
  std::string remote_;  // the peer's address, the per-client cap's key
  std::atomic<int> state_{kBusy};
  std::atomic<int64_t> since_{0};  // steady_clock ticks of entering kIdle/kHeader
  std::chrono::milliseconds idle_timeout_{0}, header_timeout_{0}, io_timeout_{0};
};

struct ConnectionServerOptions {
  std::string host = "127.0.0.1";  // an address or a name to resolve
  uint16_t port = 0;               // 0: any free port
  // The caps (see the top of this file).
  size_t max_connections = 64;
  size_t max_connections_per_client = 64;
  // The deadlines (see the top of this file).
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds io_timeout{300000};
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
  // New connections closed at once at a cap (no connection could be
  // displaced), and connections displaced by newer ones.
  uint64_t refused() const;
  uint64_t displaced() const;
  // Connections waiting for a request (idle, or their header arriving): the
  // ones a newcomer at a cap may displace.
  size_t waiting() const;
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
