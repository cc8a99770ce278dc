#include "obagent/vault/credentials.h"

#include <string>

#include <gtest/gtest.h>

#include "obagent/core/crypto.h"

namespace obagent::vault {
namespace {

VaultCredentials Sample(const crypto::Key& key) {
  VaultCredentials c;
  c.vault_id = "0123456789abcdef0123456789abcdef";
  c.vault_name = "finance-vault";
  c.service_url = "https://vault.example:8470";
  c.credential_id = "fedcba9876543210fedcba9876543210";
  c.issued_at = 1795453200;  // 2026-11-23T17:00:00Z
  c.expires_at = c.issued_at + 48 * 3600;
  c.secret = crypto::RandomBytes(32);
  c.Sign(key);
  return c;
}

TEST(CredentialsTest, UtcTimesRoundTrip) {
  EXPECT_EQ(FormatUtcTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtcTime(1795453200), "2026-11-23T17:00:00Z");
  EXPECT_EQ(FormatUtcTime(951782400), "2000-02-29T00:00:00Z");
  for (int64_t t : {int64_t{0}, int64_t{951782399}, int64_t{1795453200}, int64_t{4102444800}}) {
    auto back = ParseUtcTime(FormatUtcTime(t));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(ParseUtcTime("2026-02-30T00:00:00Z").ok());
  EXPECT_FALSE(ParseUtcTime("2026-11-23 17:00:00Z").ok());
  EXPECT_FALSE(ParseUtcTime("2026-11-23T17:00:00").ok());
  EXPECT_FALSE(ParseUtcTime("2026-11-23T24:00:00Z").ok());
}

TEST(CredentialsTest, RoundTripKeepsEveryFieldAndSignature) {
  crypto::Key key = crypto::RandomKey();
  VaultCredentials c = Sample(key);
  std::string xml = c.Serialize();
  EXPECT_NE(xml.find("<VaultCredentials Version=\"1\">"), std::string::npos);
  EXPECT_NE(xml.find("<ExpiresAt>2026-11-25T17:00:00Z</ExpiresAt>"), std::string::npos);
  auto parsed = VaultCredentials::Parse(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->version, 1);
  EXPECT_EQ(parsed->vault_id, c.vault_id);
  EXPECT_EQ(parsed->vault_name, c.vault_name);
  EXPECT_EQ(parsed->service_url, c.service_url);
  EXPECT_EQ(parsed->credential_id, c.credential_id);
  EXPECT_EQ(parsed->issued_at, c.issued_at);
  EXPECT_EQ(parsed->expires_at, c.expires_at);
  EXPECT_EQ(parsed->secret, c.secret);
  EXPECT_EQ(parsed->signature, c.signature);
  EXPECT_TRUE(parsed->VerifySignature(key));
  EXPECT_FALSE(parsed->VerifySignature(crypto::RandomKey()));
  EXPECT_EQ(parsed->Serialize(), xml);
}

TEST(CredentialsTest, CanonicalStringIsTheFieldsInFileOrder) {
  crypto::Key key = crypto::RandomKey();
  VaultCredentials c = Sample(key);
  std::string expected = "1\n" + c.vault_id + "\n" + c.vault_name + "\n" + c.service_url + "\n" +
                         c.credential_id + "\n2026-11-23T17:00:00Z\n2026-11-25T17:00:00Z\n" +
                         Base64Encode(c.secret);
  EXPECT_EQ(c.CanonicalString(), expected);
  crypto::Digest mac = crypto::HmacSha256(key, AsBytes(expected));
  EXPECT_EQ(c.signature, Bytes(mac.begin(), mac.end()));
}

TEST(CredentialsTest, TamperingWithAnyFieldBreaksTheSignature) {
  crypto::Key key = crypto::RandomKey();
  const VaultCredentials good = Sample(key);
  auto check = [&](const char* what, auto mutate) {
    VaultCredentials c = good;
    mutate(c);
    auto parsed = VaultCredentials::Parse(c.Serialize());
    ASSERT_TRUE(parsed.ok()) << what << ": " << parsed.status().ToString();
    EXPECT_FALSE(parsed->VerifySignature(key)) << what;
  };
  check("vault id", [](VaultCredentials& c) { c.vault_id[0] = c.vault_id[0] == 'a' ? 'b' : 'a'; });
  check("vault name", [](VaultCredentials& c) { c.vault_name += "x"; });
  check("service url", [](VaultCredentials& c) { c.service_url = "http://evil.example"; });
  check("credential id", [](VaultCredentials& c) { c.credential_id[31] ^= 1; });
  check("issued at", [](VaultCredentials& c) { c.issued_at -= 1; });
  check("expires at", [](VaultCredentials& c) { c.expires_at += 3600; });
  check("secret", [](VaultCredentials& c) { c.secret[5] ^= 0x40; });
  check("signature", [](VaultCredentials& c) { c.signature[0] ^= 1; });
}

TEST(CredentialsTest, TamperedTextIsRefusedOrFailsTheSignature) {
  crypto::Key key = crypto::RandomKey();
  std::string xml = Sample(key).Serialize();
  // Flip one character at a time inside the element texts.
  size_t checked = 0;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '<' || xml[i] == '>' || (i > 0 && xml[i - 1] == '<')) continue;
    size_t open = xml.rfind('>', i), close = xml.find('<', i);
    if (open == std::string::npos || close == std::string::npos || xml.rfind('<', i) > open) {
      continue;
    }
    if (xml.substr(open + 1, close - open - 1).find('\n') != std::string::npos) continue;
    std::string t = xml;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    auto parsed = VaultCredentials::Parse(t);
    if (parsed.ok()) {
      EXPECT_FALSE(parsed->VerifySignature(key)) << "byte " << i << " of\n" << t;
    } else {
      EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidVaultCredentials);
    }
    ++checked;
  }
  EXPECT_GT(checked, 200u);
}

TEST(CredentialsTest, Expiry) {
  VaultCredentials c = Sample(crypto::RandomKey());
  EXPECT_FALSE(c.ExpiredAt(c.issued_at));
  EXPECT_FALSE(c.ExpiredAt(c.expires_at - 1));
  EXPECT_TRUE(c.ExpiredAt(c.expires_at));
  EXPECT_TRUE(c.ExpiredAt(c.expires_at + 1));
}

TEST(CredentialsTest, EscapesXmlInText) {
  crypto::Key key = crypto::RandomKey();
  VaultCredentials c = Sample(key);
  c.service_url = "http://host/?a=1&b=<2>";
  c.Sign(key);
  auto parsed = VaultCredentials::Parse(c.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->service_url, c.service_url);
  EXPECT_TRUE(parsed->VerifySignature(key));
}

TEST(CredentialsTest, GarbageIsInvalidCredentials) {
  crypto::Key key = crypto::RandomKey();
  std::string good = Sample(key).Serialize();
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string cases[] = {
      "",
      "hello",
      "\x01\x02\xff\xfe",
      "<VaultCredentials Version=\"1\">",
      "<?xml version=\"1.0\"?><Other Version=\"1\"/>",
      good.substr(0, good.size() / 2),
      replace("<VaultId>", "<VaultID>"),
      replace("</Secret>", "</Secret><Extra>1</Extra>"),
      replace(" Version=\"1\"", ""),
      replace("Version=\"1\"", "Version=\"one\""),
      replace("2026-11-25T17:00:00Z", "tomorrow"),
      replace("2026-11-25T17:00:00Z", "2026-11-22T17:00:00Z"),  // expires before issue
      replace("<VaultName>finance-vault</VaultName>", "<VaultName></VaultName>"),
      replace("https://vault.example:8470", "ftp://vault.example"),
      replace("0123456789abcdef0123456789abcdef", "0123456789abcdef"),
      replace("<Signature>", "<Signature>AAAA"),
      replace("<Secret>", "<Secret>!!"),
      std::string(70000, 'x'),
  };
  for (const std::string& text : cases) {
    auto parsed = VaultCredentials::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidVaultCredentials) << text;
    EXPECT_NE(parsed.status().ToString().find("34513"), std::string::npos);
  }
}

TEST(CredentialsTest, UnknownVersionSaysSo) {
  std::string xml = Sample(crypto::RandomKey()).Serialize();
  xml.replace(xml.find("Version=\"1\""), 11, "Version=\"2\"");
  auto parsed = VaultCredentials::Parse(xml);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidVaultCredentials);
  EXPECT_NE(parsed.status().detail().find("version 2"), std::string::npos)
      << parsed.status().detail();
}

TEST(CredentialsTest, ToleratesWhitespaceAndComments) {
  crypto::Key key = crypto::RandomKey();
  VaultCredentials c = Sample(key);
  std::string xml = c.Serialize();
  xml.replace(xml.find("<VaultId>"), 9, "<!-- edited by hand -->\r\n  <VaultId>  ");
  auto parsed = VaultCredentials::Parse(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->VerifySignature(key));
}

}  // namespace
}  // namespace obagent::vault
