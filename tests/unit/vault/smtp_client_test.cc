// vaultd's SMTP client against a tiny in-process server speaking plain
// text (the STARTTLS path runs against a real TLS server in
// tests/e2e/test_alerts.sh): multi-line replies, the envelope, dot-stuffed
// DATA, and the refusals: STARTTLS required but not offered, a reply that
// changes its code, a refused recipient, a server that stops answering.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "obagent/vault/alert_delivery.h"

namespace obagent::vault {
namespace {

// Accepts one connection and answers each line the client sends with
// reply(line) (nothing when it returns ""), writing `greeting` first. In
// DATA mode it collects until "\r\n.\r\n" and answers data_reply.
class FakeSmtp {
 public:
  using Reply = std::function<std::string(const std::string&)>;
  FakeSmtp(std::string greeting, Reply reply, std::string data_reply = "250 queued\r\n")
      : greeting_(std::move(greeting)),
        reply_(std::move(reply)),
        data_reply_(std::move(data_reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeSmtp() { Join(); }
  // Stops listening and waits for the conversation to end.
  void Join() {
    if (!thread_.joinable()) return;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  // What the client sent, in order (complete after Join).
  const std::vector<std::string>& lines() const { return lines_; }
  const std::string& data() const { return data_; }

 private:
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    auto send = [&](const std::string& s) { (void)!::write(c, s.data(), s.size()); };
    send(greeting_);
    std::string buffer;
    bool in_data = false;
    char piece[4096];
    for (;;) {
      ssize_t n = ::read(c, piece, sizeof piece);
      if (n <= 0) break;
      buffer.append(piece, static_cast<size_t>(n));
      for (;;) {
        if (in_data) {
          size_t end = buffer.find("\r\n.\r\n");
          if (end == std::string::npos) break;
          data_ = buffer.substr(0, end + 2);
          buffer.erase(0, end + 5);
          in_data = false;
          send(data_reply_);
          continue;
        }
        size_t end = buffer.find("\r\n");
        if (end == std::string::npos) break;
        std::string line = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        lines_.push_back(line);
        std::string answer = reply_(line);
        if (line == "DATA" && answer.starts_with("354")) in_data = true;
        if (!answer.empty()) send(answer);
        if (line == "QUIT") {
          ::close(c);
          return;
        }
      }
    }
    ::close(c);
  }

  std::string greeting_;
  Reply reply_;
  std::string data_reply_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::string> lines_;
  std::string data_;
};

SmtpSettings Plain(int port) {
  SmtpSettings s;
  s.server = "127.0.0.1";
  s.port = port;
  s.starttls = "off";
  s.from = "vaultd@example.test";
  s.to = {"a@example.test", "b@example.test"};
  s.timeout_seconds = 10;
  return s;
}

std::string Usual(const std::string& line) {
  if (line.starts_with("EHLO")) return "250-sink greets\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n";
  if (line == "DATA") return "354 go\r\n";
  if (line == "QUIT") return "221 bye\r\n";
  return "250 ok\r\n";
}

TEST(SmtpClient, Conversation) {
  auto server = std::make_unique<FakeSmtp>("220-sink.test ESMTP\r\n220 welcome\r\n", Usual);
  Status st = SendSmtpMail(Plain(server->port()), {"Job failed", "line\n.hidden dot\n..two\nend"});
  ASSERT_TRUE(st.ok()) << st.ToString();
  server->Join();
  const std::vector<std::string>& lines = server->lines();
  const std::string& data = server->data();
  ASSERT_GE(lines.size(), 6u);
  EXPECT_EQ(lines[0], "EHLO vaultd");
  EXPECT_EQ(lines[1], "MAIL FROM:<vaultd@example.test>");
  EXPECT_EQ(lines[2], "RCPT TO:<a@example.test>");
  EXPECT_EQ(lines[3], "RCPT TO:<b@example.test>");
  EXPECT_EQ(lines[4], "DATA");
  EXPECT_EQ(lines[5], "QUIT");
  EXPECT_NE(data.find("Subject: Job failed\r\n"), std::string::npos) << data;
  EXPECT_NE(data.find("\r\nline\r\n..hidden dot\r\n...two\r\nend\r\n"), std::string::npos) << data;
}

TEST(SmtpClient, StartTlsRequiredButNotOffered) {
  auto server = std::make_unique<FakeSmtp>("220 sink\r\n", Usual);
  SmtpSettings s = Plain(server->port());
  s.starttls = "required";
  Status st = SendSmtpMail(s, {"x", "y"});
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.detail().find("STARTTLS"), std::string::npos) << st.ToString();
  server.reset();
}

TEST(SmtpClient, AReplyThatChangesItsCode) {
  auto server = std::make_unique<FakeSmtp>("220-sink\r\n250 other\r\n", Usual);
  Status st = SendSmtpMail(Plain(server->port()), {"x", "y"});
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.detail().find("changes its code"), std::string::npos) << st.ToString();
  server.reset();
}

TEST(SmtpClient, ARefusedRecipient) {
  auto server = std::make_unique<FakeSmtp>("220 sink\r\n", [](const std::string& line) {
    if (line == "RCPT TO:<b@example.test>") return std::string("550 no such user\r\n");
    return Usual(line);
  });
  Status st = SendSmtpMail(Plain(server->port()), {"x", "y"});
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.detail().find("b@example.test"), std::string::npos) << st.ToString();
  EXPECT_NE(st.detail().find("550"), std::string::npos) << st.ToString();
  server.reset();
}

TEST(SmtpClient, AServerThatStopsAnswering) {
  auto server = std::make_unique<FakeSmtp>("220 sink\r\n", [](const std::string& line) {
    return line.starts_with("EHLO") ? std::string() : Usual(line);
  });
  SmtpSettings s = Plain(server->port());
  s.timeout_seconds = 1;
  Status st = SendSmtpMail(s, {"x", "y"});
  EXPECT_EQ(st.code(), ErrorCode::kIo);
  EXPECT_NE(st.detail().find("no answer within 1 s"), std::string::npos) << st.ToString();
  server.reset();
}

TEST(SmtpClient, NobodyListening) {
  int port = 0;
  {
    auto server = std::make_unique<FakeSmtp>("", Usual);
    port = server->port();
  }
  Status st = SendSmtpMail(Plain(port), {"x", "y"});
  EXPECT_EQ(st.code(), ErrorCode::kIo) << st.ToString();
}

}  // namespace
}  // namespace obagent::vault
