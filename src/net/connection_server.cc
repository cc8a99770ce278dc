// ConnectionServer: the accept loop on a thread of its own, a thread per
// connection, the caps and the displacing of waiting connections.
#include "obagent/net/connection_server.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "obagent/platform.h"

namespace obagent::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct ConnectionServer::Impl {
  struct Slot {
    Connection connection;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  Impl(ConnectionServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)) {}

  void Accept() {
    // The new socket lives on the connection's own io_context.
    auto slot = std::make_shared<Slot>();
    slot->connection.closing_ = &closing;
    acceptor.async_accept(slot->connection.ioc_,
                          [this, slot](beast::error_code ec, tcp::socket socket) {
                            if (ec == asio::error::operation_aborted || closing) return;
                            if (!ec) Launch(slot, std::move(socket));
                            Accept();
                          });
  }

  void Launch(const std::shared_ptr<Slot>& slot, tcp::socket socket) {
    beast::error_code ignored;
    tcp::endpoint peer = socket.remote_endpoint(ignored);
    std::string remote = peer.address().to_string();
    std::lock_guard lock(mu);
    std::erase_if(slots, [](const std::shared_ptr<Slot>& old) {
      if (!old->done) return false;
      old->thread.join();
      return true;
    });
    // Connections already displaced are on their way out: not counted.
    std::map<std::string, size_t> per_client;
    size_t live = 0;
    for (const auto& s : slots) {
      if (s->connection.state_.load() == Connection::kDisplaced) continue;
      ++live;
      ++per_client[s->connection.remote_];
    }
    bool room = true;
    if (per_client[remote] >= options.max_connections_per_client) {
      room = Displace(remote);
    } else if (live >= options.max_connections) {
      // The address holding the most connections gives one up (the next
      // one when all of its are busy).
      std::vector<std::pair<size_t, std::string>> by_count;
      for (const auto& [address, count] : per_client) by_count.emplace_back(count, address);
      std::sort(by_count.rbegin(), by_count.rend());
      room = false;
      for (const auto& entry : by_count) {
        if (entry.first == 0) continue;
        if ((room = Displace(entry.second))) break;
      }
    }
    if (!room) {
      ++refused;
      socket.close(ignored);
      return;
    }
    // Request/response exchanges: a short last segment must not wait for
    // the peer's delayed acknowledgement (Nagle).
    socket.set_option(tcp::no_delay(true), ignored);
    Connection& c = slot->connection;
    c.stream_ = std::make_unique<beast::tcp_stream>(std::move(socket));
    c.remote_ = std::move(remote);
    c.idle_timeout_ = options.idle_timeout;
    c.header_timeout_ = options.header_timeout;
    c.io_timeout_ = options.io_timeout;
    slots.push_back(slot);
    // The thread holds a plain pointer: `slots` keeps the slot alive until
    // the thread is joined.
    Slot* raw = slot.get();
    slot->thread = std::thread([this, raw] {
      handler(raw->connection);
      beast::error_code ignored;
      raw->connection.stream().socket().shutdown(tcp::socket::shutdown_both, ignored);
      raw->connection.stream().close();
      raw->done = true;
    });
  }

  // Under mu: displaces the connection of `remote` that has waited longest
  // without a request in progress. False when there is none.
  bool Displace(const std::string& remote) {
    std::vector<Connection*> waiting;
    for (const auto& s : slots) {
      Connection& c = s->connection;
      int state = c.state_.load();
      if (c.remote_ == remote && !s->done &&
          (state == Connection::kIdle || state == Connection::kHeader)) {
        waiting.push_back(&c);
      }
    }
    std::sort(waiting.begin(), waiting.end(),
              [](const Connection* a, const Connection* b) { return a->since_ < b->since_; });
    for (Connection* c : waiting) {
      // The connection's own thread claims it for a request with the same
      // compare-exchange: exactly one of the two wins.
      int expected = c->state_.load();
      if ((expected != Connection::kIdle && expected != Connection::kHeader) ||
          !c->state_.compare_exchange_strong(expected, Connection::kDisplaced)) {
        continue;
      }
      ++displaced;
      // The socket is closed on the connection's own io_context, which is
      // running its wait; a plain pointer, as in Close().
      asio::post(c->ioc_, [c] {
        beast::error_code ignored;
        c->stream().socket().close(ignored);
      });
      return true;
    }
    return false;
  }

  void Close() {
    if (closing.exchange(true)) return;
    asio::post(accept_ioc, [this] {
      beast::error_code ignored;
      acceptor.close(ignored);
    });
    if (acceptor_thread.joinable()) acceptor_thread.join();
    std::vector<std::shared_ptr<Slot>> open;
    {
      std::lock_guard lock(mu);
      open = slots;
    }
    // The close runs inside the connection's next (or current) io_context
    // run; the posted handler holds a plain pointer, not the slot, so one
    // left queued after the thread ended frees nothing twice.
    for (auto& s : open) {
      Connection* c = &s->connection;
      asio::post(c->ioc_, [c] {
        beast::error_code ignored;
        c->stream().socket().close(ignored);
      });
    }
    for (auto& s : open) {
      if (s->thread.joinable()) s->thread.join();
    }
    std::lock_guard lock(mu);
    slots.clear();
  }

  ConnectionServerOptions options;
  Handler handler;
  asio::io_context accept_ioc;
  tcp::acceptor acceptor{accept_ioc};
  std::thread acceptor_thread;
  uint16_t port = 0;
  std::atomic<bool> closing{false};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> displaced{0};
  mutable std::mutex mu;
  std::vector<std::shared_ptr<Slot>> slots;
};

ConnectionServer::ConnectionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectionServer::~ConnectionServer() { Close(); }

Result<std::unique_ptr<ConnectionServer>> ConnectionServer::Start(
    const ConnectionServerOptions& options, Handler handler) {
  auto impl = std::make_unique<Impl>(options, std::move(handler));
  std::string where = options.host + ":" + std::to_string(options.port);
  beast::error_code ec;
  tcp::endpoint endpoint;
  asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(impl->accept_ioc);
    auto results =
        resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return InvalidArgument(options.name + " cannot listen on " + where + ": the host name '" +
                             options.host + "' does not resolve" +
                             (ec ? " (" + ec.message() + ")" : std::string()));
    }
    endpoint = results.begin()->endpoint();
  }
  auto& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec && options.exclusive_port) {
    Status st = platform::PrepareListeningSocket(static_cast<uint64_t>(acceptor.native_handle()));
    if (!st.ok()) return st.WithContext(options.name + "'s socket");
  } else if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    ErrorCode code = ec == asio::error::address_in_use ? ErrorCode::kAlreadyExists : ErrorCode::kIo;
    return Status(code, options.name + " cannot listen on " + where + ": " + ec.message());
  }
  impl->port = acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->acceptor_thread = std::thread([raw] { raw->accept_ioc.run(); });
  return std::unique_ptr<ConnectionServer>(new ConnectionServer(std::move(impl)));
}

uint16_t ConnectionServer::port() const { return impl_->port; }

uint64_t ConnectionServer::refused() const { return impl_->refused; }

uint64_t ConnectionServer::displaced() const { return impl_->displaced; }

size_t ConnectionServer::waiting() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& s : impl_->slots) {
    int state = s->connection.state_.load();
    if (!s->done && (state == Connection::kIdle || state == Connection::kHeader)) ++n;
  }
  return n;
}

void Connection::LingerAfterEarlyAnswer() {
  beast::error_code ignored;
  stream_->socket().shutdown(tcp::socket::shutdown_send, ignored);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<char> scratch(64 * 1024);
  uint64_t dropped = 0;
  while (dropped < (uint64_t{16} << 20) && std::chrono::steady_clock::now() < until) {
    size_t got = 0;
    beast::error_code ec = Run(std::chrono::seconds(2), [&](auto handler) {
      stream_->async_read_some(asio::buffer(scratch),
                               [&got, handler](beast::error_code e, size_t n) {
                                 got = n;
                                 handler(e, n);
                               });
    });
    if (ec) break;
    dropped += got;
  }
}

void ConnectionServer::Close() {
  if (impl_) impl_->Close();
}

}  // namespace obagent::net
