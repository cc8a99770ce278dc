#include "obagent/core/recovery_point.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace obagent::recovery_point {
namespace {

constexpr std::string_view kAad = "obagent-recovery-point-v1";

RecoveryPoint Sample() {
  RecoveryPoint p;
  p.time_ns = 1'717'171'717'000'000'123;
  p.hostname = "build-host.example";
  p.machine_id = "6f1c2d3e-0000-4000-8000-123456789abc";
  p.paths = {"/home/user", "/srv/data with spaces", "/tmp/r\xC3\xA9sum\xC3\xA9/\xE6\x97\xA5",
             "/odd/new\nline\ttab\"quote\\"};
  p.tree.bytes.fill(0x42);
  p.tree.bytes[31] = 0x01;
  p.parent = "ab12";
  p.stats = {1, 2, 3, 4, 5, 6, std::numeric_limits<uint64_t>::max()};
  return p;
}

void ExpectSame(const RecoveryPoint& a, const RecoveryPoint& b) {
  EXPECT_EQ(a.time_ns, b.time_ns);
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.machine_id, b.machine_id);
  EXPECT_EQ(a.paths, b.paths);
  EXPECT_EQ(a.tree, b.tree);
  EXPECT_EQ(a.parent, b.parent);
  EXPECT_EQ(a.stats.files, b.stats.files);
  EXPECT_EQ(a.stats.directories, b.stats.directories);
  EXPECT_EQ(a.stats.bytes_scanned, b.stats.bytes_scanned);
  EXPECT_EQ(a.stats.bytes_read, b.stats.bytes_read);
  EXPECT_EQ(a.stats.bytes_new, b.stats.bytes_new);
  EXPECT_EQ(a.stats.bytes_uploaded, b.stats.bytes_uploaded);
  EXPECT_EQ(a.stats.files_skipped, b.stats.files_skipped);
}

Bytes SealJson(const crypto::Key& key, const nlohmann::json& j) {
  return crypto::Seal(key, AsBytes(kAad), AsBytes(j.dump()));
}

nlohmann::json PlainJson(const crypto::Key& key, const RecoveryPoint& p) {
  auto plain = crypto::Open(key, AsBytes(kAad), Seal(key, p));
  EXPECT_TRUE(plain.ok());
  return nlohmann::json::parse(AsString(plain.value()));
}

TEST(RecoveryPoint, RoundTrip) {
  const crypto::Key key = crypto::RandomKey();
  const RecoveryPoint p = Sample();
  auto opened = Open(key, Seal(key, p));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExpectSame(*opened, p);
}

// repaired_from (obctl repair --rewrite-lost) is optional: written only when
// set, read back, and a point without it opens with it empty.
TEST(RecoveryPoint, RepairedFromIsOptional) {
  const crypto::Key key = crypto::RandomKey();
  RecoveryPoint p = Sample();
  EXPECT_FALSE(PlainJson(key, p).contains("repaired_from"));
  p.repaired_from = std::string(64, 'c');
  auto opened = Open(key, Seal(key, p));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(opened->repaired_from, p.repaired_from);
  nlohmann::json j = PlainJson(key, p);
  j["repaired_from"] = 5;
  EXPECT_EQ(Open(key, SealJson(key, j)).status().code(), ErrorCode::kCorrupt);
}

TEST(RecoveryPoint, DefaultRoundTrip) {
  const crypto::Key key = crypto::RandomKey();
  RecoveryPoint p;
  p.time_ns = -1;  // before the epoch
  auto opened = Open(key, Seal(key, p));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExpectSame(*opened, p);
}

TEST(RecoveryPoint, NonUtf8StringsRoundTripExactly) {
  const crypto::Key key = crypto::RandomKey();
  RecoveryPoint p = Sample();
  p.hostname = "host\xff\xfe";
  p.paths = {"/latin1/caf\xe9",        std::string("/with\0nul", 9), "/overlong\xC0\xAF",
             "/surrogate\xED\xA0\x80", "/truncated\xE6\x97",         "/ok/\xF0\x9F\x98\x80"};
  p.machine_id = std::string("\x80", 1);
  p.parent = "\xF4\x90\x80\x80";  // above U+10FFFF
  auto opened = Open(key, Seal(key, p));
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ExpectSame(*opened, p);
}

TEST(RecoveryPoint, JsonCarriesVersionAndHexTree) {
  const crypto::Key key = crypto::RandomKey();
  const RecoveryPoint p = Sample();
  const nlohmann::json j = PlainJson(key, p);
  EXPECT_EQ(j.at("version"), 1);
  EXPECT_EQ(j.at("tree"), p.tree.Hex());
  EXPECT_EQ(j.at("paths").at(0), "/home/user");
  EXPECT_EQ(j.at("stats").at("files"), 1);
}

TEST(RecoveryPoint, TamperDetected) {
  const crypto::Key key = crypto::RandomKey();
  const Bytes sealed = Seal(key, Sample());
  for (size_t i = 0; i < sealed.size(); i += 3) {
    Bytes tampered = sealed;
    tampered[i] ^= 0x01;
    auto opened = Open(key, tampered);
    ASSERT_FALSE(opened.ok()) << "flip at " << i;
    EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt);
  }
  EXPECT_FALSE(Open(key, ByteView(sealed).first(sealed.size() - 1)).ok());
  EXPECT_FALSE(Open(crypto::RandomKey(), sealed).ok());
  EXPECT_FALSE(Open(key, {}).ok());
}

TEST(RecoveryPoint, UnknownVersionRefused) {
  const crypto::Key key = crypto::RandomKey();
  nlohmann::json j = PlainJson(key, Sample());
  j["version"] = 2;
  auto opened = Open(key, SealJson(key, j));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kUnsupportedVersion);
  // A future version may change anything else too.
  opened = Open(key, SealJson(key, {{"version", 7}, {"something", "else"}}));
  EXPECT_EQ(opened.status().code(), ErrorCode::kUnsupportedVersion);
}

TEST(RecoveryPoint, MalformedRejected) {
  const crypto::Key key = crypto::RandomKey();
  const nlohmann::json good = PlainJson(key, Sample());
  ASSERT_TRUE(Open(key, SealJson(key, good)).ok());

  auto expect_corrupt = [&](const Bytes& sealed, const char* what) {
    auto opened = Open(key, sealed);
    ASSERT_FALSE(opened.ok()) << what;
    EXPECT_EQ(opened.status().code(), ErrorCode::kCorrupt) << what;
  };
  expect_corrupt(crypto::Seal(key, AsBytes(kAad), AsBytes("{not json")), "not json");
  expect_corrupt(crypto::Seal(key, AsBytes(kAad), AsBytes("")), "empty");
  expect_corrupt(SealJson(key, nlohmann::json::array({1, 2})), "array");
  for (const char* field :
       {"version", "time_ns", "hostname", "machine_id", "paths", "tree", "parent", "stats"}) {
    nlohmann::json j = good;
    j.erase(field);
    expect_corrupt(SealJson(key, j), field);
  }
  auto with = [&](const char* field, nlohmann::json value) {
    nlohmann::json j = good;
    j[field] = std::move(value);
    return SealJson(key, j);
  };
  expect_corrupt(with("version", "1"), "version as string");
  expect_corrupt(with("tree", "abc"), "short tree");
  expect_corrupt(with("tree", std::string(64, 'z')), "non-hex tree");
  expect_corrupt(with("time_ns", 1.5), "float time");
  expect_corrupt(with("time_ns", std::numeric_limits<uint64_t>::max()), "time overflow");
  expect_corrupt(with("paths", "/not/an/array"), "paths");
  expect_corrupt(with("paths", nlohmann::json::array({1})), "path not a string");
  expect_corrupt(with("hostname", {{"base64", "!!!!"}}), "bad base64");
  expect_corrupt(with("hostname", {{"hex", "00"}}), "unknown encoding");
  nlohmann::json negative = good;
  negative["stats"]["files"] = -1;
  expect_corrupt(SealJson(key, negative), "negative stat");
}

}  // namespace
}  // namespace obagent::recovery_point
