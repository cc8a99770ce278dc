// The engine's local API transport (a Unix socket that only root and the
// service account may use) and the service host (systemd or a terminal).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "platform/line_buffer.h"
#include "posix_util.h"

namespace obagent::platform::posix {

namespace {

class SocketConnection final : public LocalConnection {
 public:
  explicit SocketConnection(int fd) : fd_(fd) {}
  ~SocketConnection() override { CloseFd(fd_); }

  Result<std::string> ReadLine() override {
    return lines_.ReadLine([this](std::span<char> into) -> Result<size_t> {
      for (;;) {
        ssize_t n = ::recv(fd_, into.data(), into.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return ErrnoStatus("recv", "local API socket", errno);
        if (n == 0) return NotFound("local API: the other side closed the connection");
        return static_cast<size_t>(n);
      }
    });
  }

  Status WriteLine(std::string_view line) override {
    std::string data(line);
    data += '\n';
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("send", "local API socket", errno);
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  void Shutdown() override { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  LineBuffer lines_;
};

class SocketListener final : public LocalListener {
 public:
  SocketListener(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    if (::pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
  }
  ~SocketListener() override {
    Close();
    CloseFd(fd_);
    if (wake_[0] >= 0) CloseFd(wake_[0]);
    if (wake_[1] >= 0) CloseFd(wake_[1]);
  }

  Result<std::unique_ptr<LocalConnection>> Accept() override {
    for (;;) {
      if (closed_) return Status(ErrorCode::kCancelled, "local API closed");
      struct pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      int n = ::poll(fds, wake_[0] >= 0 ? 2 : 1, 1000);
      if (n < 0 && errno != EINTR) return ErrnoStatus("poll", path_, errno);
      if (closed_) return Status(ErrorCode::kCancelled, "local API closed");
      if (n <= 0 || !(fds[0].revents & POLLIN)) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
        return ErrnoStatus("accept", path_, errno);
      }
      // The kernel's word on who connected, not the client's.
      struct ucred cred {};
      socklen_t len = sizeof cred;
      if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
          (cred.uid != 0 && cred.uid != ::geteuid())) {
        ++refused_;
        CloseFd(client);
        continue;
      }
      return std::unique_ptr<LocalConnection>(new SocketConnection(client));
    }
  }

  void Close() override {
    if (closed_.exchange(true)) return;
    // New clients find nothing (kNotFound) instead of waiting in the backlog
    // of a listener that no longer accepts.
    ::unlink(path_.c_str());
    ::shutdown(fd_, SHUT_RDWR);
    if (wake_[1] >= 0) {
      char byte = 1;
      (void)!::write(wake_[1], &byte, 1);
    }
  }

  uint64_t refused() const override { return refused_; }

 private:
  int fd_;
  std::string path_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> refused_{0};
};

Result<sockaddr_un> SocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return InvalidArgument("local API socket path too long (" + std::to_string(path.size()) +
                           " bytes, at most " + std::to_string(sizeof addr.sun_path - 1) +
                           "): " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// SIGTERM/SIGINT become a stop request. The handler only sets a flag; a
// watcher thread turns it into a condition-variable notification.
std::atomic<bool> g_stop_signal{false};
extern "C" void OnStopSignal(int) { g_stop_signal = true; }

class PosixServiceContext final : public ServiceContext {
 public:
  void ReportRunning() override {
    // systemd's Type=notify protocol: one datagram to $NOTIFY_SOCKET.
    const char* socket_path = std::getenv("NOTIFY_SOCKET");
    if (socket_path == nullptr || socket_path[0] == '\0') return;
    std::string path = socket_path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    const char msg[] = "READY=1";
    (void)::sendto(fd, msg, sizeof msg - 1, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size()));
    CloseFd(fd);
  }

  bool WaitForStop(int64_t timeout_ms) override {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!StopRequested()) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      auto step = std::min<std::chrono::steady_clock::duration>(deadline - now,
                                                                std::chrono::milliseconds(100));
      std::this_thread::sleep_for(step);
    }
    return true;
  }

  bool StopRequested() override { return g_stop_signal.load(); }
};

}  // namespace

Result<std::unique_ptr<LocalListener>> ListenUnixSocket(const std::string& path) {
  OB_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", path, errno);
  // A socket left by a killed engine: remove it only if nobody answers.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    CloseFd(fd);
    return Status(ErrorCode::kAlreadyExists,
                  "another engine is already running for this state folder (" + path + ")");
  }
  CloseFd(fd);
  ::unlink(path.c_str());
  fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", path, errno);
  // Owner-only from the start: no window in which others could connect.
  mode_t old_mask = ::umask(0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) {
    CloseFd(fd);
    return ErrnoStatus("bind", path, bind_errno);
  }
  if (::listen(fd, 16) != 0) {
    int err = errno;
    CloseFd(fd);
    ::unlink(path.c_str());
    return ErrnoStatus("listen", path, err);
  }
  return std::unique_ptr<LocalListener>(new SocketListener(fd, path));
}

Result<std::unique_ptr<LocalConnection>> ConnectUnixSocket(const std::string& path) {
  OB_ASSIGN_OR_RETURN(sockaddr_un addr, SocketAddress(path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", path, errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    CloseFd(fd);
    if (err == ENOENT || err == ECONNREFUSED) {
      return NotFound("nothing listens at " + path + ": " + std::strerror(err));
    }
    return ErrnoStatus("connect", path, err);
  }
  return std::unique_ptr<LocalConnection>(new SocketConnection(fd));
}

int RunPosixService(const std::function<int(ServiceContext&)>& body) {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  PosixServiceContext context;
  return body(context);
}

}  // namespace obagent::platform::posix

namespace obagent::platform::posix {

namespace {

constexpr char kSystemdUnitDir[] = "/etc/systemd/system";

bool SystemdUsable(Env& env) {
  // sd_booted()'s test: this directory exists only while systemd is PID 1.
  return ::geteuid() == 0 && env.Exists("/run/systemd/system");
}

Status Systemctl(Env& env, const std::vector<std::string>& args) {
  for (const char* path : {"/usr/bin/systemctl", "/bin/systemctl"}) {
    if (!env.Exists(path)) continue;
    OB_ASSIGN_OR_RETURN(int rc, env.RunProgram(path, args, {}));
    if (rc != 0) {
      std::string line = "systemctl";
      for (const auto& a : args) line += " " + a;
      return IoError(line + " failed with exit code " + std::to_string(rc));
    }
    return Status::Ok();
  }
  return NotFound("systemctl not found");
}

}  // namespace

Status RegisterSystemdSchedule(Env& env, const OsScheduleDefinition& d) {
  if (!SystemdUsable(env)) return NotFound("systemd is not running (or not root)");
  std::string dir = kSystemdUnitDir;
  OB_RETURN_IF_ERROR(
      env.WriteFileAtomic(dir + "/" + d.systemd_service_name, AsBytes(d.systemd_service), false));
  OB_RETURN_IF_ERROR(
      env.WriteFileAtomic(dir + "/" + d.systemd_timer_name, AsBytes(d.systemd_timer), false));
  OB_RETURN_IF_ERROR(Systemctl(env, {"daemon-reload"}));
  return Systemctl(env, {"enable", "--now", d.systemd_timer_name});
}

Status UnregisterSystemdSchedule(Env& env, const OsScheduleDefinition& d) {
  if (!SystemdUsable(env)) return NotFound("systemd is not running (or not root)");
  std::string dir = kSystemdUnitDir;
  if (!env.Exists(dir + "/" + d.systemd_timer_name)) return Status::Ok();
  (void)Systemctl(env, {"disable", "--now", d.systemd_timer_name});
  (void)env.RemoveFile(dir + "/" + d.systemd_timer_name);
  (void)env.RemoveFile(dir + "/" + d.systemd_service_name);
  return Systemctl(env, {"daemon-reload"});
}

}  // namespace obagent::platform::posix
