// fuzz_make_seeds: writes the seed corpus of the fuzz targets,
// tests/fuzz/corpus/<target>/<name>, from the real writers (SerializeTree,
// PackWriter, SealIndexFile, VaultCredentials::Serialize, …) so seeds stay
// valid inputs when a format changes. The sealed seeds use the fixed test
// key of fuzz_util.h; their nonces are random, so those files change on
// each run while the rest are byte for byte the same.
//   build-fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/format_internal.h"
#include "fuzz_util.h"
#include "obagent/core/index.h"
#include "obagent/core/keys.h"
#include "obagent/core/pack.h"
#include "obagent/core/recovery_point.h"
#include "obagent/core/tree.h"
#include "obagent/vault/credentials.h"

namespace {

using namespace obagent;
namespace fs = std::filesystem;

fs::path root;

void Write(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(root / target);
  std::ofstream out(root / target / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s/%s\n", target.c_str(), name.c_str());
    std::exit(1);
  }
}
void Write(const std::string& target, const std::string& name, ByteView bytes) {
  Write(target, name, AsString(bytes));
}

ObjectId Id(uint8_t fill) {
  ObjectId id;
  id.bytes.fill(fill);
  return id;
}

void Credentials() {
  vault::VaultCredentials c;
  c.vault_id = std::string(32, 'a');
  c.vault_name = "vault-1";
  c.service_url = "http://127.0.0.1:8470";
  c.credential_id = std::string(32, 'b');
  c.issued_at = 1795000000;
  c.expires_at = 1795172800;
  c.secret = Bytes(32, 0x5a);
  c.Sign(fuzz::TestKey());
  Write("credentials", "valid.xml", c.Serialize());
  c.vault_name = "a & <b> \"c\"";
  c.service_url = "https://vault.example.com:443/base";
  c.Sign(fuzz::TestKey());
  Write("credentials", "escaped.xml", c.Serialize());
}

tree::Tree SampleTree() {
  tree::Tree t;
  tree::Node dir;
  dir.name = "docs";
  dir.type = tree::NodeType::kDirectory;
  dir.mode = 0755;
  dir.subtree = Id(3);
  tree::Node file;
  file.name = "file.txt";
  file.mode = 0644;
  file.mtime_ns = 1795000000123456789;
  file.size = 70000;
  file.inode = 42;
  file.link_count = 2;
  file.content = {{Id(1), 65536}, {Id(2), 4464}};
  tree::Node link;
  link.name = "link";
  link.type = tree::NodeType::kSymlink;
  link.mode = 0777;
  link.symlink_target = "../target";
  tree::Node hard = file;
  hard.name = "z-hardlink";
  hard.hardlink_to = "docs/file.txt";
  t.nodes = {dir, file, link, hard};
  return t;
}

// Version 2's typed metadata: xattrs (an ACL, a capability), file flags,
// a sparse file and a kind this version does not know. (tree/sample-v1 is
// a version 1 tree, committed as that encoder wrote it.)
tree::Tree MetadataTree() {
  tree::Tree t = SampleTree();
  t.nodes[0].xattrs = {{"system.posix_acl_default", Bytes{2, 0, 0, 0, 1, 0, 7, 0}}};
  t.nodes[0].linux_flags = 0;
  t.nodes[1].xattrs = {{"security.capability", Bytes{1, 0, 0, 2, 0, 4, 0, 0}},
                       {"user.comment", Bytes{'h', 'i'}}};
  t.nodes[1].linux_flags = tree::kLinuxFlagImmutable | tree::kLinuxFlagAppend;
  t.nodes[1].sparse = true;
  t.nodes[3].other_metadata = {{31, "", Bytes{1, 2, 3}}};
  return t;
}

// Windows metadata: a protected DACL with owner and group (O:BA G:SY
// D:P(A;OICI;FA;;;BA)(A;;FR;;;WD)) and attribute bits.
tree::Tree WindowsTree() {
  tree::Tree t = SampleTree();
  Result<Bytes> sd = FromHex(
      "010004901400000024000000000000003000000001020000000000052000000020020000010100000000000512"
      "000000020034000200000000031800ff011f00010200000000000520000000200200000000140089001200010100"
      "000000000100000000");
  t.nodes[0].win_security = *sd;
  t.nodes[0].win_attributes = tree::kWinAttributeHidden;
  t.nodes[1].win_security = *sd;
  t.nodes[1].win_attributes = tree::kWinAttributeReadOnly | tree::kWinAttributeSystem |
                              tree::kWinAttributeArchive | tree::kWinAttributeCompressed;
  return t;
}

// Kinds 18 and 19: a file with named streams (one empty, one of two
// chunks) and a junction.
tree::Tree WindowsStreamsTree() {
  tree::Tree t = SampleTree();
  t.nodes[1].streams = {{"Zone.Identifier", 26, {{Id(4), 26}}},
                        {"empty", 0, {}},
                        {"two", 70000, {{Id(5), 65536}, {Id(6), 4464}}}};
  t.nodes[2].win_reparse = tree::WinReparse{tree::WinReparseKind::kJunction, false};
  t.nodes[3].hardlink_to.clear();
  return t;
}

void Trees() {
  Write("tree", "empty", tree::SerializeTree({}));
  Write("tree", "sample", tree::SerializeTree(SampleTree()));
  Write("tree", "metadata", tree::SerializeTree(MetadataTree()));
  Write("tree", "windows", tree::SerializeTree(WindowsTree()));
  Write("tree", "windows-streams", tree::SerializeTree(WindowsStreamsTree()));
}

std::vector<index::PackEntries> SamplePacks() {
  index::PackEntries a;
  a.pack_name = std::string(64, 'c');
  a.blobs = {{pack::BlobType::kData, Id(1), 8, 100, 72},
             {pack::BlobType::kTree, Id(2), 108, 60, 32}};
  index::PackEntries b;
  b.pack_name = std::string(64, 'd');
  b.blobs = {{pack::BlobType::kData, Id(3), 8, 30, 2}};
  return {a, b};
}

void Indexes() {
  Write("index", "empty", format_internal::IndexPlaintext({}));
  Write("index", "two-packs", format_internal::IndexPlaintext(SamplePacks()));
  Write("index_sealed", "two-packs", index::SealIndexFile(fuzz::TestKey(), SamplePacks()));
  std::vector<index::DamagedCopy> damaged;
  for (const index::PackEntries& pack : SamplePacks()) {
    for (const pack::BlobEntry& blob : pack.blobs) damaged.push_back({blob.id, pack.pack_name});
  }
  Write("damage_record", "empty", format_internal::DamageRecordPlaintext({}));
  Write("damage_record", "copies", format_internal::DamageRecordPlaintext(damaged));
}

void Packs() {
  pack::PackWriter writer(fuzz::TestKey());
  const std::string a = "hello", b = "a tree blob";
  writer.AddPayload(pack::BlobType::kData, Id(1), AsBytes(a), 5);
  writer.AddPayload(pack::BlobType::kTree, Id(2), AsBytes(b), 11);
  pack::PackWriter::Finished done = writer.Finish();
  Write("pack", "two-blobs", done.bytes);
  Write("pack", "empty", writer.Finish().bytes);
  // pack_header: u32 header_start (the end of the blob area), plaintext.
  uint32_t blob_end = 0;
  for (const auto& e : done.entries) blob_end = std::max(blob_end, e.offset + e.length);
  Bytes input = {static_cast<uint8_t>(blob_end), static_cast<uint8_t>(blob_end >> 8),
                 static_cast<uint8_t>(blob_end >> 16), static_cast<uint8_t>(blob_end >> 24)};
  Bytes plain = format_internal::PackHeaderPlaintext(done.entries);
  input.insert(input.end(), plain.begin(), plain.end());
  Write("pack_header", "two-blobs", input);
}

void RecoveryPoints() {
  recovery_point::RecoveryPoint p;
  p.time_ns = 1795000000123456789;
  p.hostname = "host-1";
  p.machine_id = std::string(32, 'e');
  p.paths = {"/home", "/srv/d\xff\xfe"};  // the second is not UTF-8: base64
  p.tree = Id(9);
  p.parent = std::string(64, 'f');
  p.stats = {10, 2, 70000, 70000, 4000, 4200, 1};
  Write("recovery_point", "sample.json", format_internal::RecoveryPointPlaintext(p));
}

std::string WrappedKeyText() {
  keys::KdfParams params;
  params.n = 1024;
  params.salt = Bytes(32, 7);
  return keys::SerializeWrappedKey(
      keys::WrapMasterKey(fuzz::TestKey(), fuzz::TestKey(), std::string(32, 'c'), params));
}

// The text requests of fuzz_util.h; $names are the fixture's live values
// (vault_fixture.h).
std::string Request(const std::string& method, const std::string& target,
                    const std::vector<std::string>& headers, const std::string& body = "") {
  std::string text = method + " " + target + "\n";
  for (const std::string& h : headers) text += h + "\n";
  return text + "\n" + body;
}

void VaultRoutes() {
  const std::string admin = "Authorization: Bearer $admin";
  const std::string machine = "Authorization: Bearer $machine";
  const std::string recovery = "Authorization: Bearer $recovery";
  const std::string lease = "X-Obagent-Lease: $lease";
  const std::string json = "Content-Type: application/json";
  const std::string t = "vault_routes";
  Write(t, "vaults-create", Request("POST", "/v1/vaults", {admin, json}, R"({"name":"v2"})"));
  Write(t, "vaults-list", Request("GET", "/v1/vaults", {admin}));
  Write(t, "credentials",
        Request("POST", "/v1/vaults/v/credentials", {admin, json}, R"({"validity_hours":2.5})"));
  Write(t, "prepare",
        Request("POST", "/v1/register/prepare", {json},
                R"({"credentials":"$creds","machine_name":"m"})"));
  Write(t, "register",
        Request("POST", "/v1/register", {json},
                R"({"credentials":"$creds","machine_name":"m2","wrapped_key":"$wrapped",)"
                R"("key_check":")" +
                    std::string(64, 'b') + R"("})"));
  Write(t, "machine", Request("GET", "/v1/machine", {machine}));
  Write(t, "objects-list", Request("GET", "/v1/objects?prefix=data%2F&marker=", {machine}));
  Write(t, "object-put",
        Request("PUT", "/v1/objects/data/new", {machine, lease, "Content-Length: 5"}, "hello"));
  Write(t, "object-get", Request("GET", "/v1/objects/data/seed", {machine, "Range: bytes=0-9"}));
  Write(t, "object-head", Request("HEAD", "/v1/objects/data/seed", {machine}));
  Write(t, "object-delete", Request("DELETE", "/v1/objects/data/seed", {machine, lease}));
  Write(t, "point-put",
        Request("PUT", "/v1/objects/snapshots/" + std::string(64, 'a'), {machine, lease},
                "sealed point"));
  Write(t, "lease",
        Request("POST", "/v1/lease", {machine, json}, R"({"holder":"other","ttl_seconds":60})"));
  Write(t, "lease-renew",
        Request("POST", "/v1/lease/$lease/renew", {machine, json}, R"({"ttl_seconds":60})"));
  Write(t, "lease-release", Request("DELETE", "/v1/lease/$lease", {machine}));
  nlohmann::json report = {{"type", "Backup"},    {"state", "Completed"}, {"recovery_point", ""},
                           {"error", ""},         {"files", 3},           {"bytes_scanned", 100},
                           {"bytes_uploaded", 40}};
  Write(t, "jobs-add", Request("POST", "/v1/jobs", {machine, lease, json}, report.dump()));
  Write(t, "jobs-list", Request("GET", "/v1/jobs", {machine}));
  Write(t, "points-list", Request("GET", "/v1/recovery-points", {recovery}));
  Write(t, "recovery-session",
        Request("POST", "/v1/recovery-sessions", {machine, json},
                R"({"credentials":"$creds","source_machine":"m"})"));
}

void VaultRange() {
  for (const char* range : {"bytes=0-99", "bytes=4000-", "bytes=-10", "bytes=5000-6000",
                            "bytes=0-1,3-4", "bytes=0-18446744073709551615"}) {
    std::string name = range;
    for (char& c : name) c = (c == '=' || c == ',') ? '_' : c;
    Write("vault_range", name, std::string_view(range));
  }
}

void LocalApi() {
  // Byte 0: the read size (1 + byte % 64); then the lines.
  Write("local_api", "status", std::string_view("\x07{\"op\":\"status\"}\n"));
  Write("local_api", "several",
        std::string_view("\x20{\"op\":\"console_url\"}\n{\"op\":\"job_stop\",\"id\":\"abcdef12\"}\n"
                         "{\"op\":\"wait_job\",\"id\":\"abcdef12\",\"timeout_ms\":0}\nnot json\n"
                         "{\"op\":\"backup_now\",\"trigger\":\"Scheduled\"}\n"));
}

void Console() {
  const std::string t = "console";
  Write(t, "status", Request("GET", "/api/status", {}));
  Write(t, "errors", Request("GET", "/api/errors", {}));
  Write(t, "policy-get", Request("GET", "/api/policy", {}));
  Write(t, "policy-put",
        Request("PUT", "/api/policy", {},
                R"({"specs":[{"path":"/home","exclude":false,"recursive":true},)"
                R"({"path":"/home/*.tmp","exclude":true}],"schedule":{"days":[1,5],)"
                R"("times":["21:30"]},"recovery_test":{"days":[0],"times":["03:00"],)"
                R"("sample_files":10,"sample_percent":1.5},"retention":{"daily_days":7,)"
                R"("weekly_weeks":4,"monthly_months":12,"yearly_years":2},"paused":false})"));
  Write(t, "jobs", Request("GET", "/api/jobs", {}));
  Write(t, "job", Request("GET", "/api/jobs/abcdef12", {}));
  Write(t, "job-stop", Request("POST", "/api/jobs/abcdef12/stop", {}));
  Write(t, "points", Request("GET", "/api/points?source=", {}));
  Write(t, "items",
        Request("GET", "/api/points/" + std::string(64, 'a') + "/items?path=/home", {}));
  Write(t, "search",
        Request("GET", "/api/points/" + std::string(64, 'a') + "/search?q=*.txt&path=/", {}));
  Write(t, "recover",
        Request("POST", "/api/recover", {},
                R"({"point":"latest","items":["/home/a"],"target":"/nonexistent/x",)"
                R"("conflict":"copy","restore_permissions":true,"source":""})"));
  Write(t, "recover-destinations",
        Request("POST", "/api/recover/destinations", {},
                R"({"items":["/home/a","/home/a/b"],"target":"/nonexistent/x"})"));
  Write(t, "vault", Request("GET", "/api/vault", {}));
  Write(t, "settings", Request("GET", "/api/settings", {}));
  Write(t, "backup", Request("POST", "/api/backup", {}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus folder (tests/fuzz/corpus)>\n", argv[0]);
    return 2;
  }
  root = argv[1];
  Credentials();
  Trees();
  Indexes();
  Packs();
  RecoveryPoints();
  Write("wrapped_key", "sample.json", WrappedKeyText());
  VaultRoutes();
  VaultRange();
  LocalApi();
  Console();
  return 0;
}
