// How vaultd's alerts leave it (docs/operations.md, "Alerts"): e-mail over
// SMTP (EHLO, STARTTLS with the server's certificate verified, AUTH PLAIN
// or LOGIN only over TLS, dot-stuffed DATA, a deadline on every step) and
// a webhook (a JSON POST signed with HMAC-SHA256 over the timestamp and the
// body). Both are AlertChannels for AlertCenter; SendSmtpMail is usable on
// its own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "obagent/status.h"
#include "obagent/vault/alerts.h"

namespace obagent::vault {

struct SmtpSettings {
  std::string server;  // host name or address
  int port = 587;
  // "required": STARTTLS must be offered and succeed, and the server's
  // certificate must verify (against ca_file, else the system's store) and
  // name `server`; "off": plain text, and then no credentials are sent.
  std::string starttls = "required";
  std::string ca_file;
  std::string user;      // empty: no AUTH
  std::string password;  // read from a file by vaultd, never a flag
  std::string from;
  std::vector<std::string> to;
  std::string helo_name = "vaultd";  // the name EHLO gives
  int timeout_seconds = 30;          // per connect, read, write, handshake
};

// Checks the settings (server, from, at least one to, starttls value,
// credentials only with STARTTLS); kInvalidArgument naming what is wrong.
Status ValidateSmtpSettings(const SmtpSettings& settings);

struct MailMessage {
  std::string subject;  // one line
  std::string body;     // text; any line endings
};

// Sends one message: kIo when the server cannot be reached, a step times
// out or the TLS handshake fails (an unverified certificate), with the
// reason; kInvalidArgument when the server refuses a step (the detail names
// the step and the server's reply).
Status SendSmtpMail(const SmtpSettings& settings, const MailMessage& message);

// The message's DATA as sent before the final ".": CRLF line endings and
// every line starting with '.' doubled (RFC 5321 4.5.2).
std::string DotStuff(std::string_view text);

struct WebhookSettings {
  std::string url;  // http(s)://host[:port]/path
  std::string secret;
  int timeout_seconds = 30;
};

// The signature header's value: "sha256=" + hex HMAC-SHA256(secret,
// timestamp + "." + body).
std::string WebhookSignature(std::string_view secret, std::string_view timestamp,
                             std::string_view body);

std::unique_ptr<AlertChannel> NewEmailChannel(SmtpSettings settings);
std::unique_ptr<AlertChannel> NewWebhookChannel(WebhookSettings settings);

// The mail an alert becomes (subject "[obagent] <severity>: <summary>").
MailMessage AlertMail(const AlertRecord& alert);

}  // namespace obagent::vault
