#include "obagent/vault/credentials.h"

#include "obagent/bytes.h"
#include "obagent/core/text.h"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <sstream>
#include <string>

namespace obagent::vault {
namespace {

namespace pt = boost::property_tree;

constexpr size_t kMaxFileSize = 64 * 1024;
constexpr size_t kSecretSize = 32;
constexpr size_t kIdHexChars = 32;

// Element names in file order (Version is an attribute of the root).
constexpr std::array<std::string_view, 8> kFields = {"VaultId",      "VaultName", "ServiceUrl",
                                                     "CredentialId", "IssuedAt",  "ExpiresAt",
                                                     "Secret",       "Signature"};

Status Malformed(std::string detail) {
  return Status(ErrorCode::kInvalidVaultCredentials,
                "the vault-credential file is malformed: " + std::move(detail));
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

bool IsHexId(std::string_view s) { return IsLowerHex(s, kIdHexChars); }

bool ParseDigits(std::string_view s, int* out) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return !s.empty();
}

}  // namespace

std::string FormatUtcTime(int64_t unix_seconds) { return text::FormatIsoUtc(unix_seconds); }

Result<int64_t> ParseUtcTime(std::string_view text) {
  using namespace std::chrono;
  // YYYY-MM-DDTHH:MM:SSZ, exactly.
  auto bad = [&] {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + std::string(text) + "' is not a UTC time like 2026-11-23T17:00:00Z");
  };
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return bad();
  }
  int y, mo, d, h, mi, s;
  if (!ParseDigits(text.substr(0, 4), &y) || !ParseDigits(text.substr(5, 2), &mo) ||
      !ParseDigits(text.substr(8, 2), &d) || !ParseDigits(text.substr(11, 2), &h) ||
      !ParseDigits(text.substr(14, 2), &mi) || !ParseDigits(text.substr(17, 2), &s)) {
    return bad();
  }
  year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return bad();
  sys_seconds tp = sys_days(ymd) + hours(h) + minutes(mi) + seconds(s);
  return static_cast<int64_t>(tp.time_since_epoch().count());
}

std::string VaultCredentials::CanonicalString() const {
  std::string out = std::to_string(version);
  for (const std::string& field :
       {vault_id, vault_name, service_url, credential_id, FormatUtcTime(issued_at),
        FormatUtcTime(expires_at), Base64Encode(secret)}) {
    out += '\n';
    out += field;
  }
  return out;
}

void VaultCredentials::Sign(const crypto::Key& signing_key) {
  crypto::Digest mac = crypto::HmacSha256(signing_key, AsBytes(CanonicalString()));
  signature.assign(mac.begin(), mac.end());
}

bool VaultCredentials::VerifySignature(const crypto::Key& signing_key) const {
  crypto::Digest mac = crypto::HmacSha256(signing_key, AsBytes(CanonicalString()));
  if (signature.size() != mac.size()) return false;
  return crypto::EqualConstantTime(mac, signature);
}

std::string VaultCredentials::Serialize() const {
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
  out += "<VaultCredentials Version=\"" + std::to_string(version) + "\">\n";
  const std::string values[] = {vault_id,
                                vault_name,
                                service_url,
                                credential_id,
                                FormatUtcTime(issued_at),
                                FormatUtcTime(expires_at),
                                Base64Encode(secret),
                                Base64Encode(signature)};
  for (size_t i = 0; i < kFields.size(); ++i) {
    std::string name(kFields[i]);
    out += "  <" + name + ">" + text::XmlEscape(values[i]) + "</" + name + ">\n";
  }
  out += "</VaultCredentials>\n";
  return out;
}

Result<VaultCredentials> VaultCredentials::Parse(std::string_view xml) {
  if (xml.size() > kMaxFileSize) {
    return Malformed("it is " + std::to_string(xml.size()) + " bytes long (at most " +
                     std::to_string(kMaxFileSize) + " expected)");
  }
  pt::ptree doc;
  try {
    std::istringstream in{std::string(xml)};
    pt::read_xml(in, doc, pt::xml_parser::no_comments);
  } catch (const pt::xml_parser_error& e) {
    return Malformed("not XML (" + e.message() + " at line " + std::to_string(e.line()) + ")");
  } catch (const std::exception& e) {
    return Malformed(std::string("not XML (") + e.what() + ")");
  }
  if (doc.size() != 1 || doc.front().first != "VaultCredentials") {
    return Malformed("the root element must be <VaultCredentials>");
  }
  const pt::ptree& root = doc.front().second;

  VaultCredentials c;
  std::map<std::string, std::string> values;
  bool have_version = false;
  for (const auto& [name, child] : root) {
    if (name == "<xmlattr>") {
      for (const auto& [attr, value] : child) {
        if (attr != "Version") return Malformed("unknown attribute '" + attr + "'");
        std::string v(Trim(value.data()));
        if (v.size() > 6 || !ParseDigits(v, &c.version)) {
          return Malformed("Version '" + v + "' is not a number");
        }
        have_version = true;
      }
      continue;
    }
    bool known = false;
    for (std::string_view f : kFields) known = known || f == name;
    if (!known) return Malformed("unexpected element <" + name + ">");
    if (!child.empty()) return Malformed("<" + name + "> must hold text only");
    if (!values.emplace(name, std::string(Trim(child.data()))).second) {
      return Malformed("<" + name + "> appears twice");
    }
  }
  if (!have_version) return Malformed("the Version attribute is missing");
  if (c.version != kCredentialsVersion) {
    return Status(ErrorCode::kInvalidVaultCredentials,
                  "the vault-credential file has version " + std::to_string(c.version) +
                      ", which this build does not know (it reads version " +
                      std::to_string(kCredentialsVersion) + ")");
  }
  for (std::string_view f : kFields) {
    if (!values.contains(std::string(f))) return Malformed("<" + std::string(f) + "> is missing");
  }

  c.vault_id = values["VaultId"];
  if (!IsHexId(c.vault_id)) return Malformed("VaultId must be 32 lowercase hex characters");
  c.vault_name = values["VaultName"];
  if (c.vault_name.empty()) return Malformed("VaultName is empty");
  c.service_url = values["ServiceUrl"];
  if (!c.service_url.starts_with("http://") && !c.service_url.starts_with("https://")) {
    return Malformed("ServiceUrl '" + c.service_url + "' is not an http(s) URL");
  }
  c.credential_id = values["CredentialId"];
  if (!IsHexId(c.credential_id)) {
    return Malformed("CredentialId must be 32 lowercase hex characters");
  }
  for (auto [field, out] : {std::pair{"IssuedAt", &c.issued_at}, {"ExpiresAt", &c.expires_at}}) {
    Result<int64_t> t = ParseUtcTime(values[field]);
    if (!t.ok()) return Malformed(std::string(field) + ": " + t.status().detail());
    *out = *t;
  }
  if (c.expires_at <= c.issued_at) return Malformed("ExpiresAt is not after IssuedAt");
  Result<Bytes> secret = Base64Decode(values["Secret"]);
  // Only the canonical encoding is accepted: base64 ignores the low bits of
  // a last character before '=', so two texts could carry one secret.
  if (!secret.ok() || secret->size() != kSecretSize || Base64Encode(*secret) != values["Secret"]) {
    return Malformed("Secret must be the base64 of 32 bytes");
  }
  c.secret = std::move(secret).value();
  Result<Bytes> signature = Base64Decode(values["Signature"]);
  if (!signature.ok() || signature->size() != 32 ||
      Base64Encode(*signature) != values["Signature"]) {
    return Malformed("Signature must be the base64 of a 32-byte HMAC-SHA256");
  }
  c.signature = std::move(signature).value();
  return c;
}

}  // namespace obagent::vault
