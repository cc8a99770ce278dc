// vaultd's alert channels (alert_delivery.h): an SMTP client on Boost.Asio
// and OpenSSL, and the signed webhook POST through the project's HTTP client.
#include "obagent/vault/alert_delivery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <cctype>
#include <chrono>
#include <ctime>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>

#include "obagent/core/crypto.h"
#include "obagent/http_client.h"
#include "obagent/vault/credentials.h"

namespace obagent::vault {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

constexpr size_t kMaxReplyLine = 4096;
constexpr size_t kMaxReplyLines = 100;

// A reply: its code and its text lines (without "250-").
struct Reply {
  int code = 0;
  std::vector<std::string> lines;
  std::string Text() const {
    std::string out;
    for (const std::string& l : lines) out += (out.empty() ? "" : " / ") + l;
    return std::to_string(code) + " " + out;
  }
};

bool HasBadChars(std::string_view s) {
  return s.find_first_of("\r\n") != std::string_view::npos ||
         std::any_of(s.begin(), s.end(), [](char c) { return c == '\0'; });
}

// One SMTP conversation. Every step runs the io_context until it completes
// or the tcp_stream's deadline ends it.
class SmtpSession {
 public:
  explicit SmtpSession(const SmtpSettings& s)
      : s_(s),
        timeout_(std::chrono::seconds(s.timeout_seconds)),
        tcp_(io_),
        ctx_(ssl::context::tls_client) {}

  Status Send(const MailMessage& m) {
    OB_RETURN_IF_ERROR(Connect());
    OB_RETURN_IF_ERROR(Expect("the greeting", 220));
    OB_RETURN_IF_ERROR(Ehlo());
    if (s_.starttls == "required") {
      if (!Offers("STARTTLS")) {
        return Refused("the server does not offer STARTTLS, which the settings require");
      }
      OB_RETURN_IF_ERROR(Command("STARTTLS", "STARTTLS", 220));
      // Anything the server sent after its 220 would be read as if it had
      // come over TLS (RFC 3207 5: a command injection): refuse it.
      if (!buffer_.empty()) return Refused("the server sent data after its STARTTLS reply");
      OB_RETURN_IF_ERROR(StartTls());
      OB_RETURN_IF_ERROR(Ehlo());
    }
    if (!s_.user.empty()) OB_RETURN_IF_ERROR(Auth());
    OB_RETURN_IF_ERROR(Command("MAIL FROM:<" + s_.from + ">", "MAIL FROM", 250));
    for (const std::string& to : s_.to) {
      Result<Reply> r = Exchange("RCPT TO:<" + to + ">", "RCPT TO <" + to + ">");
      if (!r.ok()) return r.status();
      if (r->code != 250 && r->code != 251) return Refused("RCPT TO <" + to + ">: " + r->Text());
    }
    OB_RETURN_IF_ERROR(Command("DATA", "DATA", 354));
    OB_RETURN_IF_ERROR(Write(DotStuff(Compose(m)) + ".\r\n", "the message"));
    OB_RETURN_IF_ERROR(Expect("the message", 250));
    (void)Command("QUIT", "QUIT", 221);
    return Status::Ok();
  }

 private:
  template <typename Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result = asio::error::would_block;
    tcp_.expires_after(timeout_);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  Status Unreachable(const std::string& what, const beast::error_code& ec) {
    std::string why = ec == beast::error::timeout
                          ? "no answer within " + std::to_string(s_.timeout_seconds) + " s"
                          : ec.message();
    return IoError("SMTP server " + s_.server + ":" + std::to_string(s_.port) + ": " + what + ": " +
                   why);
  }
  Status Refused(const std::string& what) {
    return InvalidArgument("SMTP server " + s_.server + ":" + std::to_string(s_.port) + ": " +
                           what);
  }

  Status Connect() {
    tcp::resolver resolver(io_);
    beast::error_code ec;
    auto endpoints = resolver.resolve(s_.server, std::to_string(s_.port), ec);
    if (ec) return Unreachable("resolving the name", ec);
    ec = Run([&](auto handler) { tcp_.async_connect(endpoints, handler); });
    if (ec) return Unreachable("connecting", ec);
    return Status::Ok();
  }

  Status StartTls() {
    ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx_.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (s_.ca_file.empty()) {
      ctx_.set_default_verify_paths(ec);
    } else {
      ctx_.load_verify_file(s_.ca_file, ec);
    }
    if (ec) return Refused("loading the CA certificates " + s_.ca_file + ": " + ec.message());
    tls_.emplace(tcp_, ctx_);
    // SNI, and the certificate must name the server (a host name or an
    // address, as configured).
    SSL_set_tlsext_host_name(tls_->native_handle(), s_.server.c_str());
    tls_->set_verify_callback(ssl::host_name_verification(s_.server));
    ec = Run([&](auto handler) { tls_->async_handshake(ssl::stream_base::client, handler); });
    if (ec) return Unreachable("the TLS handshake (the certificate must verify)", ec);
    return Status::Ok();
  }

  Status Ehlo() {
    Result<Reply> r = Exchange("EHLO " + s_.helo_name, "EHLO");
    if (!r.ok()) return r.status();
    if (r->code != 250) return Refused("EHLO: " + r->Text());
    extensions_.clear();
    for (size_t i = 1; i < r->lines.size(); ++i) {
      std::string line = r->lines[i];
      for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      extensions_.push_back(line);
    }
    return Status::Ok();
  }

  bool Offers(std::string_view keyword) const {
    for (const std::string& e : extensions_) {
      if (e == keyword || e.starts_with(std::string(keyword) + " ")) return true;
    }
    return false;
  }
  bool OffersAuth(std::string_view mechanism) const {
    for (const std::string& e : extensions_) {
      if (!e.starts_with("AUTH ") && !e.starts_with("AUTH=")) continue;
      std::string list = " " + e.substr(5) + " ";
      if (list.find(" " + std::string(mechanism) + " ") != std::string::npos) return true;
    }
    return false;
  }

  Status Auth() {
    if (!tls_) return Refused("credentials are only sent over TLS (starttls = required)");
    if (OffersAuth("PLAIN")) {
      std::string plain = std::string(1, '\0') + s_.user + std::string(1, '\0') + s_.password;
      std::string line = "AUTH PLAIN " + Base64Encode(AsBytes(plain));
      crypto::SecureZero(plain.data(), plain.size());
      Status st = Command(line, "AUTH PLAIN", 235);
      crypto::SecureZero(line.data(), line.size());
      return st;
    }
    if (OffersAuth("LOGIN")) {
      OB_RETURN_IF_ERROR(Command("AUTH LOGIN", "AUTH LOGIN", 334));
      OB_RETURN_IF_ERROR(Command(Base64Encode(AsBytes(s_.user)), "AUTH LOGIN (user)", 334));
      std::string line = Base64Encode(AsBytes(s_.password));
      Status st = Command(line, "AUTH LOGIN (password)", 235);
      crypto::SecureZero(line.data(), line.size());
      return st;
    }
    return Refused("the server offers neither AUTH PLAIN nor AUTH LOGIN");
  }

  // Sends a command (never logged: AUTH lines hold the password) and reads
  // the reply, which must have `want`.
  Status Command(const std::string& line, const std::string& what, int want) {
    Result<Reply> r = Exchange(line, what);
    if (!r.ok()) return r.status();
    if (r->code != want) return Refused(what + ": " + r->Text());
    return Status::Ok();
  }

  Result<Reply> Exchange(const std::string& line, const std::string& what) {
    OB_RETURN_IF_ERROR(Write(line + "\r\n", what));
    return ReadReply(what);
  }

  Status Expect(const std::string& what, int want) {
    Result<Reply> r = ReadReply(what);
    if (!r.ok()) return r.status();
    if (r->code != want) return Refused(what + ": " + r->Text());
    return Status::Ok();
  }

  Status Write(const std::string& data, const std::string& what) {
    beast::error_code ec = Run([&](auto handler) {
      if (tls_) {
        asio::async_write(*tls_, asio::buffer(data), handler);
      } else {
        asio::async_write(tcp_, asio::buffer(data), handler);
      }
    });
    if (ec) return Unreachable("sending " + what, ec);
    return Status::Ok();
  }

  Result<std::string> ReadLine(const std::string& what) {
    auto dyn = asio::dynamic_buffer(buffer_, kMaxReplyLine);
    beast::error_code ec = Run([&](auto handler) {
      if (tls_) {
        asio::async_read_until(*tls_, dyn, "\r\n", handler);
      } else {
        asio::async_read_until(tcp_, dyn, "\r\n", handler);
      }
    });
    if (ec == asio::error::not_found) {
      return Refused("the reply to " + what + " has a line longer than " +
                     std::to_string(kMaxReplyLine) + " bytes");
    }
    if (ec) return Unreachable("reading the reply to " + what, ec);
    size_t end = buffer_.find("\r\n");
    std::string line = buffer_.substr(0, end);
    buffer_.erase(0, end + 2);
    return line;
  }

  // A reply of one or more lines "250-text" … "250 text" (RFC 5321 4.2).
  Result<Reply> ReadReply(const std::string& what) {
    Reply reply;
    for (;;) {
      OB_ASSIGN_OR_RETURN(std::string line, ReadLine(what));
      bool well_formed = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                         std::isdigit(static_cast<unsigned char>(line[1])) &&
                         std::isdigit(static_cast<unsigned char>(line[2])) &&
                         (line.size() == 3 || line[3] == ' ' || line[3] == '-');
      if (!well_formed) return Refused("the reply to " + what + " is not SMTP: '" + line + "'");
      int code = std::stoi(line.substr(0, 3));
      if (reply.code != 0 && code != reply.code) {
        return Refused("the reply to " + what + " changes its code within its lines");
      }
      reply.code = code;
      reply.lines.push_back(line.size() > 4 ? line.substr(4) : "");
      if (line.size() == 3 || line[3] == ' ') return reply;
      if (reply.lines.size() >= kMaxReplyLines) {
        return Refused("the reply to " + what + " has more than " + std::to_string(kMaxReplyLines) +
                       " lines");
      }
    }
  }

  std::string Compose(const MailMessage& m) const {
    char date[64];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    std::string to;
    for (const std::string& t : s_.to) to += (to.empty() ? "" : ", ") + t;
    std::string subject;
    for (char c : m.subject) subject += (c == '\r' || c == '\n') ? ' ' : c;
    std::string domain = s_.from.substr(s_.from.find('@') + 1);
    return "From: " + s_.from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nDate: " + date +
           "\r\nMessage-ID: <" + ToHex(crypto::RandomBytes(12)) + "@" + domain +
           ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n" +
           m.body;
  }

  const SmtpSettings& s_;
  const std::chrono::seconds timeout_;
  asio::io_context io_;
  beast::tcp_stream tcp_;
  ssl::context ctx_;
  std::optional<ssl::stream<beast::tcp_stream&>> tls_;
  std::string buffer_;
  std::vector<std::string> extensions_;
};

class EmailChannel final : public AlertChannel {
 public:
  explicit EmailChannel(SmtpSettings s) : s_(std::move(s)) {}
  std::string name() const override { return "email"; }
  Status Deliver(const AlertRecord& alert) override { return SendSmtpMail(s_, AlertMail(alert)); }

 private:
  const SmtpSettings s_;
};

class WebhookChannel final : public AlertChannel {
 public:
  explicit WebhookChannel(WebhookSettings s) : s_(std::move(s)) {}
  std::string name() const override { return "webhook"; }
  Status Deliver(const AlertRecord& alert) override {
    Result<platform::ParsedUrl> url = platform::ParseHttpUrl(s_.url);
    if (!url.ok()) return url.status();
    std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
    platform::HttpClientOptions options;
    options.base_url =
        std::string(url->https ? "https://" : "http://") + host + ":" + std::to_string(url->port);
    options.timeout_seconds = s_.timeout_seconds;
    OB_ASSIGN_OR_RETURN(std::unique_ptr<platform::HttpClient> client,
                        platform::NewHttpClient(options));
    nlohmann::json body = {{"type", "obagent.alert"},
                           {"alert", nlohmann::json::parse(AlertToJson(alert))}};
    std::string text = body.dump();
    std::string timestamp = std::to_string(std::time(nullptr));
    platform::HttpRequest req;
    req.method = "POST";
    req.target = url->path.empty() ? "/" : url->path;
    req.headers = {{"Content-Type", "application/json"},
                   {"X-Obagent-Timestamp", timestamp},
                   {"X-Obagent-Signature", WebhookSignature(s_.secret, timestamp, text)},
                   {"X-Obagent-Alert-Id", alert.id}};
    req.body = AsBytes(text);
    OB_ASSIGN_OR_RETURN(platform::HttpResponse r, client->Send(req));
    if (r.status < 200 || r.status > 299) {
      return IoError("webhook " + s_.url + " answered HTTP " + std::to_string(r.status));
    }
    return Status::Ok();
  }

 private:
  const WebhookSettings s_;
};

}  // namespace

Status ValidateSmtpSettings(const SmtpSettings& s) {
  if (s.server.empty() || HasBadChars(s.server)) return InvalidArgument("no SMTP server is set");
  if (s.port <= 0 || s.port > 65535) return InvalidArgument("the SMTP port must be 1 to 65535");
  if (s.starttls != "required" && s.starttls != "off") {
    return InvalidArgument("the SMTP starttls setting must be required or off, not '" + s.starttls +
                           "'");
  }
  if (!s.user.empty() && s.starttls != "required") {
    return InvalidArgument(
        "SMTP credentials are only sent over TLS: set starttls = required or drop the user");
  }
  auto address_ok = [](const std::string& a) {
    return !a.empty() && a.find('@') != std::string::npos && !HasBadChars(a) &&
           a.find_first_of("<> ,") == std::string::npos;
  };
  if (!address_ok(s.from)) return InvalidArgument("the SMTP from address is missing or invalid");
  if (s.to.empty()) return InvalidArgument("no SMTP recipient (to) is set");
  for (const std::string& t : s.to) {
    if (!address_ok(t)) return InvalidArgument("the SMTP recipient '" + t + "' is invalid");
  }
  if (HasBadChars(s.user) || HasBadChars(s.password) || HasBadChars(s.helo_name)) {
    return InvalidArgument("the SMTP user, password and HELO name must be one line each");
  }
  if (s.timeout_seconds <= 0) return InvalidArgument("the SMTP timeout must be positive");
  return Status::Ok();
}

std::string DotStuff(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 4);
  bool line_start = true;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (c == '\n') {
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  return out;
}

Status SendSmtpMail(const SmtpSettings& settings, const MailMessage& message) {
  OB_RETURN_IF_ERROR(ValidateSmtpSettings(settings));
  try {
    SmtpSession session(settings);
    return session.Send(message);
  } catch (const std::exception& e) {
    return IoError("SMTP server " + settings.server + ": " + e.what());
  }
}

std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body) {
  std::string signed_text = std::string(timestamp) + "." + std::string(body);
  return "sha256=" + ToHex(crypto::HmacSha256AnyKey(AsBytes(secret), AsBytes(signed_text)));
}

std::unique_ptr<AlertChannel> NewEmailChannel(SmtpSettings settings) {
  return std::make_unique<EmailChannel>(std::move(settings));
}

std::unique_ptr<AlertChannel> NewWebhookChannel(WebhookSettings settings) {
  return std::make_unique<WebhookChannel>(std::move(settings));
}

MailMessage AlertMail(const AlertRecord& alert) {
  auto alert_json_time = [](const nlohmann::json& a) {
    return a["raised_at"].is_string() ? a["raised_at"].get<std::string>() : std::string();
  };
  MailMessage m;
  m.subject = "[obagent] " + alert.severity + ": " + alert.summary;
  nlohmann::json j = nlohmann::json::parse(AlertToJson(alert));
  m.body = alert.summary + "\n\nKind:     " + alert.kind + "\nSeverity: " + alert.severity +
           "\nVault:    " + alert.vault_id + "\nMachine:  " + alert.machine_id +
           "\nRaised:   " + alert_json_time(j) + "\nAlert id: " + alert.id + "\n\nDetail:\n" +
           j["details"].dump(2, ' ', false, nlohmann::json::error_handler_t::replace) +
           "\n\nAcknowledge it with: obctl vault alert-ack <vault> " + alert.id + "\n";
  return m;
}

}  // namespace obagent::vault
