#include "obagent/vault/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>

#include "obagent/core/bounded_json.h"
#include "obagent/core/crypto.h"
#include "obagent/core/keys.h"
#include "obagent/core/vault_layout.h"
#include "obagent/net/query.h"
#include "obagent/vault/anomaly.h"
#include "obagent/vault/credentials.h"
#include "obagent/vault/metadata.h"
#include "vault/alert_api.h"
#include "vault/guard_routes.h"
#include "vault/responses.h"

namespace obagent::vault {
namespace {

using nlohmann::json;

constexpr size_t kMaxMachineName = 255;
constexpr size_t kMaxHolder = 256;
constexpr double kMaxValidityHours = 24.0 * 366;
constexpr std::string_view kSnapshotsPrefix = "snapshots/";
constexpr std::string_view kKeysPrefix = "keys/";
// The machine record stays replaceable (a passphrase change and a
// re-registration rewrite it; src/engine/agent.cc): the one exception to
// write-once objects.
constexpr std::string_view kMachineRecordKey = "machine.json";
constexpr int64_t kDayMs = int64_t{24} * 3600 * 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::string MsToUtc(int64_t ms) { return FormatUtcTime(ms / 1000); }

std::string RandomHex(size_t bytes) { return ToHex(crypto::RandomBytes(bytes)); }
std::string Sha256Hex(std::string_view text) { return ToHex(crypto::Sha256(AsBytes(text))); }

ServiceResponse BadRequest(const std::string& message) { return Error(400, "", message); }

ServiceResponse Empty(int status) {
  ServiceResponse r;
  r.status = status;
  return r;
}

// A Status from the blob store or the metadata as an HTTP answer. Its
// detail names server paths (the local backend's folders) or the storage
// account: it goes to vaultd's log only. The client learns what failed from
// `what`, which names the object by its key ("object 'data/ab/ab12…'") or
// the part of vaultd ("the vault metadata").
ServiceResponse FromStatus(const Status& st, const std::string& what) {
  switch (st.code()) {
    case ErrorCode::kNotFound:
      spdlog::debug("{}: {}", what, st.ToString());
      return Error(404, "", what + " does not exist");
    case ErrorCode::kInvalidArgument:
      spdlog::warn("{}: {}", what, st.ToString());
      return BadRequest(what + " was refused by the storage as invalid");
    case ErrorCode::kServiceUnreachable:
      spdlog::error("storage unreachable for {}: {}", what, st.ToString());
      return Error(503, CatalogueId(st.code()),
                   "the vault's storage is unreachable (" + what + "); try again later");
    case ErrorCode::kNoSpace:
      spdlog::error("storage full for {}: {}", what, st.ToString());
      return Error(507, CatalogueId(st.code()), "the vault's storage is full (" + what + ")");
    default:
      spdlog::error("storage error for {}: {}", what, st.ToString());
      return Error(500, CatalogueId(st.code()),
                   "the vault's storage failed on " + what + " (vaultd's log has the details)");
  }
}

std::string ObjectWhat(std::string_view key) { return "object '" + std::string(key) + "'"; }
constexpr char kMetadataWhat[] = "the vault metadata";

ServiceResponse InvalidCredentials(const std::string& message) {
  return Error(401, CatalogueId(ErrorCode::kInvalidVaultCredentials), message);
}

bool IsValidVaultName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Machine names are host names: printable, no control characters.
bool IsValidMachineName(std::string_view name) {
  if (name.empty() || name.size() > kMaxMachineName) return false;
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// A list prefix is fine when every complete component in it is valid.
bool IsValidPrefix(std::string_view prefix) {
  return prefix.empty() || storage::IsValidKey(std::string(prefix) + "x");
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// vaultd's queries: '+' is itself, a parameter that does not decode is
// left out.
constexpr net::QueryRules kQueryRules{.decode = {.plus_is_space = false, .strict = true},
                                      .skip_undecodable = true};

ServiceResponse TooLarge(uint64_t limit) {
  return Error(413, "",
               "the request body is larger than the " + std::to_string(limit) +
                   " bytes this endpoint accepts");
}

// The body of a JSON route, read whole; at most `limit` bytes, else nullopt
// and a 413 in *error (answered without reading on: an announced length is
// refused before any byte is read, an unannounced one after limit + 1).
std::optional<Bytes> SmallBody(const ServiceRequest& req, size_t limit, ServiceResponse* error) {
  if (req.body_source == nullptr) {
    if (req.body.size() > limit) {
      *error = TooLarge(limit);
      return std::nullopt;
    }
    return req.body;
  }
  if (req.content_length && *req.content_length > limit) {
    *error = TooLarge(limit);
    return std::nullopt;
  }
  Bytes body(limit + 1);
  size_t filled = 0;
  while (filled < body.size()) {
    Result<size_t> got = req.body_source->Read(body.data() + filled, body.size() - filled);
    if (!got.ok()) {
      *error = BadRequest("reading the request body: " + got.status().detail());
      return std::nullopt;
    }
    if (*got == 0) break;
    filled += *got;
  }
  if (filled > limit) {
    *error = TooLarge(limit);
    return std::nullopt;
  }
  body.resize(filled);
  return body;
}

// Parses a JSON object body of at most `limit` bytes and kMaxJsonDepth
// levels (core/bounded_json.h: the depth is checked before nlohmann
// recurses); nullopt (and *error set: 413 or 400) if it is not one.
std::optional<json> ParseBody(const ServiceRequest& req, bool allow_empty, ServiceResponse* error,
                              size_t limit = kMaxJsonBody) {
  std::optional<Bytes> body = SmallBody(req, limit, error);
  if (!body) return std::nullopt;
  if (body->empty() && allow_empty) return json::object();
  Result<json> j = bounded_json::Parse(AsString(*body), {limit, kMaxJsonDepth}, "the request body");
  if (!j.ok()) {
    *error = BadRequest(j.status().detail());
    return std::nullopt;
  }
  if (!j->is_object()) {
    *error = BadRequest("the request body must be a JSON object");
    return std::nullopt;
  }
  return std::move(j).value();
}

// A job report (POST /v1/jobs) as it is stored: the fields the engine sends
// (src/engine/job_runner.cc, with the fields of backup_job.cc, prune_job.cc
// and repair_job.cc) with their types,
// texts cut to kMaxJobReportString; other top-level fields are kept only
// when they are numbers, booleans or short strings with plain names (at most
// kMaxJobReportExtraFields), anything nested is dropped. A known field of the
// wrong type refuses the report (*error, 400).
std::optional<json> ValidJobReport(const json& in, ServiceResponse* error) {
  static const std::vector<std::string_view> kCounts = {
      "files", "bytes_scanned", "bytes_uploaded", "points_removed", "bytes_freed", "damaged_points",
      "points_written",
      // A backup's figures, judged for the anomaly hold (anomaly.h).
      "files_new", "files_changed", "files_deleted", "bytes_new", "bytes_new_incompressible"};
  auto is_name = [](std::string_view s, size_t max) {
    return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == ' ';
    });
  };
  json out = json::object();
  for (const char* name : {"type", "state"}) {
    auto it = in.find(name);
    if (it == in.end() || !it->is_string() || !is_name(it->get_ref<const std::string&>(), 64)) {
      *error = BadRequest(std::string("a job report needs \"") + name +
                          "\": 1 to 64 letters, digits, '_', '-' or spaces");
      return std::nullopt;
    }
    out[name] = *it;
  }
  if (auto it = in.find("recovery_point"); it != in.end()) {
    if (!it->is_string() ||
        (!it->get_ref<const std::string&>().empty() && !IsSafeRecordName(it->get<std::string>()))) {
      *error = BadRequest("a job report's \"recovery_point\" must be a recovery point id");
      return std::nullopt;
    }
    out["recovery_point"] = *it;
  }
  if (auto it = in.find("error"); it != in.end()) {
    if (!it->is_string()) {
      *error = BadRequest("a job report's \"error\" must be a string");
      return std::nullopt;
    }
    std::string text = it->get<std::string>();
    if (text.size() > kMaxJobReportString) {
      text.resize(kMaxJobReportString);
      text += "… (cut)";
    }
    out["error"] = text;
  }
  for (std::string_view name : kCounts) {
    auto it = in.find(name);
    if (it == in.end()) continue;
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
      *error =
          BadRequest("a job report's \"" + std::string(name) + "\" must be a non-negative integer");
      return std::nullopt;
    }
    out[std::string(name)] = *it;
  }
  size_t extra = 0, dropped = 0;
  for (const auto& [name, value] : in.items()) {
    if (out.contains(name)) continue;
    bool scalar = value.is_number() || value.is_boolean() ||
                  (value.is_string() && value.get_ref<const std::string&>().size() <= 256);
    if (!scalar || !is_name(name, 64) || name.find(' ') != std::string::npos ||
        extra == kMaxJobReportExtraFields) {
      ++dropped;
      continue;
    }
    out[name] = value;
    ++extra;
  }
  if (dropped > 0) spdlog::warn("job report: {} unknown or oversized field(s) dropped", dropped);
  return out;
}

// A required string field of a JSON body.
std::optional<std::string> StringField(const json& j, const char* name, ServiceResponse* error) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    *error = BadRequest(std::string("the field \"") + name + "\" (a string) is missing");
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::string> BearerToken(const ServiceRequest& req) {
  auto it = req.headers.find("authorization");
  if (it == req.headers.end()) return std::nullopt;
  std::string_view v = it->second;
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size()) return std::nullopt;
  std::string scheme(v.substr(0, kBearer.size()));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "bearer ") return std::nullopt;
  std::string_view token = v.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return std::string(token);
}

struct ByteRange {
  enum Kind { kFromTo, kFrom, kSuffix } kind = kFromTo;
  uint64_t first = 0;
  uint64_t last = 0;    // kFromTo
  uint64_t suffix = 0;  // kSuffix
};

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// "bytes=a-b", "bytes=a-" or "bytes=-n"; anything else (several ranges,
// other units, a-b with b < a) is ignored as HTTP allows.
std::optional<ByteRange> ParseRange(std::string_view header) {
  constexpr std::string_view kUnit = "bytes=";
  if (!header.starts_with(kUnit)) return std::nullopt;
  std::string_view spec = header.substr(kUnit.size());
  if (spec.find(',') != std::string_view::npos) return std::nullopt;
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::string_view a = spec.substr(0, dash), b = spec.substr(dash + 1);
  ByteRange r;
  if (a.empty()) {
    r.kind = ByteRange::kSuffix;
    if (!ParseUint(b, &r.suffix)) return std::nullopt;
    return r;
  }
  if (!ParseUint(a, &r.first)) return std::nullopt;
  if (b.empty()) {
    r.kind = ByteRange::kFrom;
    return r;
  }
  if (!ParseUint(b, &r.last) || r.last < r.first) return std::nullopt;
  return r;
}

}  // namespace

Result<std::string> LoadOrCreateAdminToken(platform::Env& env, const std::string& path) {
  if (env.Exists(path)) {
    OB_ASSIGN_OR_RETURN(Bytes data, env.ReadFile(path));
    std::string text(data.begin(), data.end());
    text = text.substr(0, text.find('\n'));
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.pop_back();
    if (text.size() < 16) {
      return InvalidArgument("the admin token in " + path +
                             " is shorter than 16 characters; delete the file to get a new one");
    }
    return text;
  }
  std::string token = RandomHex(32);
  std::string line = token + "\n";
  OB_RETURN_IF_ERROR(
      env.WriteFileAtomic(path, AsBytes(line), true).WithContext("creating the admin token file"));
  spdlog::info("created the admin token file {}", path);
  return token;
}

// ---------------------------------------------------------------------------

class VaultService::Impl {
 public:
  Impl(const ServiceOptions& options, std::unique_ptr<MetadataStore> metadata,
       storage::BlobStore& blobs)
      : options_(options),
        meta_(std::move(metadata)),
        blobs_(blobs),
        anomalies_(std::make_unique<AnomalyStore>(meta_->env(), meta_->dir())),
        guard_(
            *meta_, mu_, blobs_, [this] { return ClockMs(); }, options_.alerts, options_.audit) {}

  PurgeReport PurgeExpired(const std::string& actor = "collector") {
    PurgeReport report;
    std::vector<DeletedObjectRecord> due;
    {
      std::lock_guard lock(mu_);
      const int64_t now = ClockMs();
      for (const std::string& machine : meta_->MachinesWithDeleted()) {
        // An unacknowledged anomaly holds everything the machine deleted.
        if (anomalies_->HoldActive(machine)) {
          report.kept += meta_->DeletedObjects(machine).size();
          continue;
        }
        const int64_t keep_ms = guard_.KeepMs(machine);
        for (DeletedObjectRecord& d : meta_->DeletedObjects(machine)) {
          if (now - d.deleted_ms >= keep_ms) {
            due.push_back(std::move(d));
          } else {
            ++report.kept;
          }
        }
      }
    }
    // One object at a time under the lock: a PUT that revives it or an
    // undelete either comes first (the record is gone: kept) or after.
    for (const DeletedObjectRecord& d : due) {
      std::lock_guard lock(mu_);
      if (anomalies_->HoldActive(d.machine_id)) continue;  // flagged meanwhile
      auto current = meta_->FindDeleted(d.machine_id, d.key);
      if (!current || current->deleted_ms != d.deleted_ms) continue;
      Status st = blobs_.Delete(MachineKey(d.machine_id, d.key));
      if (st.ok()) st = meta_->RemoveDeleted(d.machine_id, d.key);
      if (!st.ok()) {
        spdlog::error("purging {} of machine {}: {}", d.key, d.machine_id, st.ToString());
        ++report.failed;
        continue;
      }
      if (auto id = RecoveryPointId(d.key)) (void)meta_->RemoveRecoveryPoint(d.machine_id, *id);
      ++report.purged;
    }
    if (report.purged > 0 || report.failed > 0) {
      spdlog::info("collector: purged {} soft-deleted object(s), {} kept, {} failed", report.purged,
                   report.kept, report.failed);
    }
    if (report.purged > 0 || actor != "collector") {
      Audit(options_.audit, actor, "deleted.purge", "", "",
            {{"purged", report.purged}, {"kept", report.kept}, {"failed", report.failed}});
    }
    return report;
  }

  ServiceResponse Handle(const ServiceRequest& req) {
    try {
      return Route(req);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", req.method, req.path, e.what());
      return Error(500, "", "internal error (vaultd's log has the details)");
    }
  }

 private:
  int64_t ClockMs() const { return options_.clock ? options_.clock() : NowMs(); }
  int64_t ClockSeconds() const { return ClockMs() / 1000; }

  bool IsDeleted(const std::string& machine_id, const std::string& key) {
    std::lock_guard lock(mu_);
    return meta_->FindDeleted(machine_id, key).has_value();
  }

  // Who a machine-token request acts for.
  struct Principal {
    MachineRecord machine;
    bool read_only = false;  // a recovery-session token
  };

  ServiceResponse Route(const ServiceRequest& req) {
    constexpr std::string_view kApi = "/v1/";
    std::string_view path = req.path;
    if (!path.starts_with(kApi)) return Error(404, "", "no such endpoint: " + req.path);
    std::string_view rest = path.substr(kApi.size());
    const std::string& m = req.method;

    // Objects first: their keys contain '/'.
    constexpr std::string_view kObjects = "objects/";
    if (rest.starts_with(kObjects)) {
      auto key = net::PercentDecode(rest.substr(kObjects.size()));
      if (!key.ok()) return BadRequest(key.status().detail());
      if (!storage::IsValidKey(*key)) return BadRequest("invalid object key '" + *key + "'");
      if (m == "GET")
        return WithMachine(req, false, [&](auto& p) { return GetObject(req, p, *key); });
      if (m == "HEAD") return WithMachine(req, false, [&](auto& p) { return HeadObject(p, *key); });
      if (m == "PUT")
        return WithMachine(req, true, [&](auto& p) { return PutObject(req, p, *key); });
      if (m == "DELETE") {
        return WithMachine(req, true, [&](auto& p) { return DeleteObject(req, p, *key); });
      }
      return MethodNotAllowed(req);
    }

    std::vector<std::string_view> parts = SplitPath(rest);
    auto is = [&](std::initializer_list<std::string_view> want) {
      if (parts.size() != want.size()) return false;
      size_t i = 0;
      for (std::string_view w : want) {
        if (!w.empty() && parts[i] != w) return false;
        if (w.empty() && parts[i].empty()) return false;
        ++i;
      }
      return true;
    };
    // An empty string in a pattern matches any non-empty segment.
    if (is({"vaults"})) {
      if (m == "POST") return WithAdmin(req, [&] { return CreateVault(req); });
      if (m == "GET") return WithAdmin(req, [&] { return ListVaults(); });
      return MethodNotAllowed(req);
    }
    if (is({"vaults", "", "credentials"})) {
      if (m != "POST") return MethodNotAllowed(req);
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      return WithAdmin(req, [&] { return DownloadCredentials(req, *name); });
    }
    if (is({"vaults", "", "settings"})) {
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      if (m == "GET") return WithAdmin(req, [&] { return guard_.VaultSettings(*name); });
      if (m == "PUT") {
        return WithAdmin(req, [&] {
          ServiceResponse err;
          auto body = ParseBody(req, false, &err);
          if (!body) return err;
          ServiceResponse r = guard_.SetVaultSettings(*name, *body, GuardRoutes::PinOf(req));
          if (r.status == 200) AuditSettings(*name, *body);
          return r;
        });
      }
      return MethodNotAllowed(req);
    }
    if (is({"vaults", "", "security-pin"})) {
      if (m != "POST") return MethodNotAllowed(req);
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      return WithAdmin(req, [&] { return guard_.IssuePin(*name); });
    }
    if (is({"vaults", "", "machines", ""}) || is({"vaults", "", "machines", "", "purge"})) {
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      auto machine = net::PercentDecode(parts[3]);
      if (!machine.ok()) return BadRequest(machine.status().detail());
      std::string pin = GuardRoutes::PinOf(req);
      if (parts.size() == 4) {
        if (m != "DELETE") return MethodNotAllowed(req);
        return WithAdmin(req, [&] { return guard_.RemoveMachine(*name, *machine, pin); });
      }
      if (m != "POST") return MethodNotAllowed(req);
      return WithAdmin(req, [&] { return guard_.PurgeMachine(*name, *machine, pin); });
    }
    if (is({"vaults", "", "machines", "", "deleted"}) ||
        is({"vaults", "", "machines", "", "undelete"})) {
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      auto machine = net::PercentDecode(parts[3]);
      if (!machine.ok()) return BadRequest(machine.status().detail());
      if (parts[4] == "deleted") {
        if (m != "GET") return MethodNotAllowed(req);
        return WithAdmin(req, [&] { return ListDeleted(*name, *machine); });
      }
      if (m != "POST") return MethodNotAllowed(req);
      return WithAdmin(req, [&] { return Undelete(req, *name, *machine); });
    }
    if (is({"vaults", "", "anomalies"}) || is({"vaults", "", "anomalies", "", "ack"})) {
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      if (parts.size() == 3) {
        if (m != "GET") return MethodNotAllowed(req);
        return WithAdmin(req, [&] { return ListAnomalies(req, *name); });
      }
      if (m != "POST") return MethodNotAllowed(req);
      return WithAdmin(req, [&] { return AcknowledgeAnomaly(*name, std::string(parts[3])); });
    }
    if (is({"deleted", "purge"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return WithAdmin(req, [&] {
        PurgeReport r = PurgeExpired("admin");
        return Json(200, {{"purged", r.purged}, {"kept", r.kept}, {"failed", r.failed}});
      });
    }
    if (is({"vaults", "", "alerts"}) || is({"vaults", "", "alerts", "", "ack"})) {
      auto name = net::PercentDecode(parts[1]);
      if (!name.ok()) return BadRequest(name.status().detail());
      if (parts.size() == 3 && m != "GET") return MethodNotAllowed(req);
      if (parts.size() == 5 && m != "POST") return MethodNotAllowed(req);
      return WithAdmin(req, [&] {
        return parts.size() == 3 ? ListAlerts(req, *name) : AckAlert(req, *name, parts[3]);
      });
    }
    if (is({"audit"})) {
      if (m != "GET") return MethodNotAllowed(req);
      return WithAdmin(req, [&] { return Answer(AuditAnswer(options_.audit, req.query)); });
    }
    if (is({"register", "prepare"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return Prepare(req);
    }
    if (is({"register"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return Register(req);
    }
    if (is({"machine"})) {
      if (m != "GET") return MethodNotAllowed(req);
      return WithMachine(req, false, [&](auto& p) { return GetMachine(p); });
    }
    if (is({"machine", "retention"})) {
      if (m == "GET") {
        return WithMachine(req, false,
                           [&](auto& p) { return guard_.Retention(p.machine.machine_id); });
      }
      if (m != "PUT") return MethodNotAllowed(req);
      return WithMachine(req, true, [&](auto& p) {
        ServiceResponse err;
        auto body = ParseBody(req, false, &err);
        if (!body) return err;
        return guard_.SetRetention(p.machine.machine_id, *body, GuardRoutes::PinOf(req));
      });
    }
    if (is({"machine", "stop-protection"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return WithMachine(req, true, [&](auto& p) {
        ServiceResponse err;
        auto body = ParseBody(req, false, &err);
        if (!body) return err;
        return guard_.StopProtection(p.machine.machine_id, *body, GuardRoutes::PinOf(req));
      });
    }
    if (is({"objects"})) {
      if (m != "GET") return MethodNotAllowed(req);
      return WithMachine(req, false, [&](auto& p) { return ListObjects(req, p); });
    }
    if (is({"lease"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return WithMachine(req, true, [&](auto& p) { return AcquireLease(req, p); });
    }
    if (is({"lease", "", "renew"})) {
      if (m != "POST") return MethodNotAllowed(req);
      std::string id(parts[1]);
      return WithMachine(req, true, [&](auto& p) { return RenewLease(req, p, id); });
    }
    if (is({"lease", ""})) {
      if (m != "DELETE") return MethodNotAllowed(req);
      std::string id(parts[1]);
      return WithMachine(req, true, [&](auto& p) { return ReleaseLease(p, id); });
    }
    if (is({"jobs"})) {
      if (m == "POST") return WithMachine(req, true, [&](auto& p) { return AddJob(req, p); });
      if (m == "GET") return WithMachine(req, false, [&](auto& p) { return ListJobs(p); });
      return MethodNotAllowed(req);
    }
    if (is({"recovery-points"})) {
      if (m != "GET") return MethodNotAllowed(req);
      return WithMachine(req, false, [&](auto& p) { return ListRecoveryPoints(p); });
    }
    if (is({"recovery-sessions"})) {
      if (m != "POST") return MethodNotAllowed(req);
      return WithMachine(req, true, [&](auto& p) { return CreateRecoverySession(req, p); });
    }
    return Error(404, "", "no such endpoint: " + req.path);
  }

  static ServiceResponse MethodNotAllowed(const ServiceRequest& req) {
    return Error(405, "", req.method + " is not allowed on " + req.path);
  }

  // ----- authentication

  template <typename F>
  ServiceResponse WithAdmin(const ServiceRequest& req, F&& handler) {
    std::optional<std::string> token = BearerToken(req);
    if (!token || !crypto::EqualConstantTime(AsBytes(*token), AsBytes(options_.admin_token))) {
      return Error(401, "",
                   token ? "the admin token is wrong"
                         : "this endpoint needs the admin token (Authorization: Bearer <token "
                           "from vaultd's admin token file>)");
    }
    return handler();
  }

  // `write`: the endpoint changes something, so a read-only recovery token
  // gets 403.
  template <typename F>
  ServiceResponse WithMachine(const ServiceRequest& req, bool write, F&& handler) {
    std::optional<std::string> token = BearerToken(req);
    if (!token) {
      return Error(401, "", "this endpoint needs a machine token (Authorization: Bearer <token>)");
    }
    std::string hash = Sha256Hex(*token);
    Principal p;
    {
      std::lock_guard lock(mu_);
      if (auto machine = meta_->FindMachineByToken(hash)) {
        p.machine = std::move(*machine);
      } else if (auto session = meta_->FindRecoverySession(hash)) {
        if (session->expires_ms <= ClockMs()) {
          (void)meta_->RemoveRecoverySession(hash);
          return Error(401, "",
                       "the recovery session expired at " + MsToUtc(session->expires_ms) +
                           "; start a new one");
        }
        auto machine = meta_->FindMachine(session->source_machine_id);
        if (!machine) return Error(401, "", "the recovery session's machine no longer exists");
        p.machine = std::move(*machine);
        p.read_only = true;
      } else {
        return Error(401, "", "unknown or replaced machine token: register this machine again");
      }
    }
    if (write && p.read_only) {
      return Error(
          403, "",
          "a recovery-session token is read-only: " + req.method + " " + req.path + " is refused");
    }
    return handler(p);
  }

  // Checks a credential file against the vault it names. On failure returns
  // the 401 (34513) answer in *error.
  std::optional<VaultRecord> CheckCredentials(const std::string& xml, ServiceResponse* error) {
    Result<VaultCredentials> c = VaultCredentials::Parse(xml);
    if (!c.ok()) {
      *error = InvalidCredentials(c.status().detail());
      return std::nullopt;
    }
    std::optional<VaultRecord> vault = meta_->FindVault(c->vault_id);
    if (!vault) {
      *error = InvalidCredentials("the vault-credential file names vault '" + c->vault_name +
                                  "' (" + c->vault_id + "), which this service does not know");
      return std::nullopt;
    }
    if (!c->VerifySignature(vault->signing_key)) {
      *error = InvalidCredentials(
          "the vault-credential file's signature does not match: the file was altered after "
          "download (tampered) or was not issued for this vault");
      return std::nullopt;
    }
    if (c->credential_id != vault->newest_credential_id) {
      *error = InvalidCredentials(
          "these vault credentials were superseded by a newer download for vault '" + vault->name +
          "'; use the newest file or download new credentials");
      return std::nullopt;
    }
    if (c->ExpiredAt(ClockSeconds())) {
      *error =
          InvalidCredentials("the vault credentials expired at " + FormatUtcTime(c->expires_at) +
                             "; download new credentials for vault '" + vault->name + "'");
      return std::nullopt;
    }
    return vault;
  }

  // ----- administration

  ServiceResponse CreateVault(const ServiceRequest& req) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto name = StringField(*body, "name", &err);
    if (!name) return err;
    if (!IsValidVaultName(*name)) {
      return BadRequest("a vault name is 1 to 64 characters of A-Z a-z 0-9 . _ -");
    }
    std::lock_guard lock(mu_);
    if (meta_->FindVaultByName(*name)) {
      return Error(409, "", "a vault named '" + *name + "' exists already");
    }
    VaultRecord v;
    v.vault_id = RandomHex(16);
    v.name = *name;
    v.created = ClockSeconds();
    v.signing_key = crypto::RandomKey();
    Status st = meta_->PutVault(v);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    spdlog::info("created vault '{}' ({})", v.name, v.vault_id);
    Audit(options_.audit, "admin", "vault.create", v.vault_id, "", {{"name", v.name}});
    return Json(201, {{"vault_id", v.vault_id}, {"name", v.name}});
  }

  ServiceResponse ListVaults() {
    std::lock_guard lock(mu_);
    json out = json::array();
    for (const VaultRecord& v : meta_->Vaults()) {
      out.push_back({{"vault_id", v.vault_id},
                     {"name", v.name},
                     {"machines", meta_->CountMachines(v.vault_id)},
                     {"soft_delete_days", v.soft_delete_days},
                     {"immutable", v.immutable},
                     {"created", FormatUtcTime(v.created)}});
    }
    return Json(200, out);
  }

  ServiceResponse DownloadCredentials(const ServiceRequest& req, const std::string& name) {
    ServiceResponse err;
    auto body = ParseBody(req, true, &err);
    if (!body) return err;
    double seconds = options_.credential_validity_hours * 3600;
    if (auto it = body->find("validity_seconds"); it != body->end()) {
      if (!it->is_number()) return BadRequest("validity_seconds must be a number");
      seconds = it->get<double>();
    } else if (auto h = body->find("validity_hours"); h != body->end()) {
      if (!h->is_number()) return BadRequest("validity_hours must be a number");
      seconds = h->get<double>() * 3600;
    }
    if (!(seconds > 0) || seconds > kMaxValidityHours * 3600) {
      return BadRequest("the validity must be more than 0 and at most 366 days");
    }
    std::lock_guard lock(mu_);
    std::optional<VaultRecord> vault = meta_->FindVaultByName(name);
    if (!vault) return Error(404, "", "no vault named '" + name + "'");
    VaultCredentials c;
    c.vault_id = vault->vault_id;
    c.vault_name = vault->name;
    c.service_url = options_.service_url;
    c.credential_id = RandomHex(16);
    c.issued_at = ClockSeconds();
    c.expires_at = c.issued_at + static_cast<int64_t>(std::ceil(seconds));
    c.secret = crypto::RandomBytes(32);
    c.Sign(vault->signing_key);
    vault->newest_credential_id = c.credential_id;
    Status st = meta_->PutVault(*vault);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    spdlog::info("issued credentials {} for vault '{}', valid until {}", c.credential_id,
                 vault->name, FormatUtcTime(c.expires_at));
    Audit(options_.audit, "admin", "vault.credentials", vault->vault_id, "",
          {{"credential_id", c.credential_id}, {"expires_at", FormatUtcTime(c.expires_at)}});
    return Json(200, {{"credentials", c.Serialize()}, {"expires_at", FormatUtcTime(c.expires_at)}});
  }

  // ----- soft delete: settings, listing, undelete

  // The audit entry of a settings change (guard_routes.cc made it).
  void AuditSettings(const std::string& vault_name, const json& body) {
    json details = json::object();
    for (const char* field : {"soft_delete_days", "immutable"}) {
      if (body.contains(field)) details[field] = body[field];
    }
    std::lock_guard lock(mu_);
    if (auto vault = meta_->FindVaultByName(vault_name)) {
      Audit(options_.audit, "admin", "vault.settings", vault->vault_id, "", details);
    }
  }

  // The machine of the vault by name or id; a 404 answer in *error if none.
  // Call with mu_ held.
  std::optional<MachineRecord> AdminMachine(const std::string& vault_name,
                                            const std::string& machine, ServiceResponse* error) {
    std::optional<VaultRecord> vault = meta_->FindVaultByName(vault_name);
    if (!vault) {
      *error = Error(404, "", "no vault named '" + vault_name + "'");
      return std::nullopt;
    }
    std::optional<MachineRecord> m = meta_->FindMachineByName(vault->vault_id, machine);
    if (!m) {
      m = meta_->FindMachine(machine);
      if (m && m->vault_id != vault->vault_id) m.reset();
    }
    if (!m) *error = Error(404, "", "no machine '" + machine + "' in vault '" + vault_name + "'");
    return m;
  }

  ServiceResponse ListDeleted(const std::string& vault_name, const std::string& machine_name) {
    std::lock_guard lock(mu_);
    ServiceResponse err;
    auto machine = AdminMachine(vault_name, machine_name, &err);
    if (!machine) return err;
    const int64_t keep_ms = guard_.KeepMs(machine->machine_id);
    json objects = json::array();
    json points = json::array();
    for (const DeletedObjectRecord& d : meta_->DeletedObjects(machine->machine_id)) {
      json item = {{"key", d.key},
                   {"deleted_at", MsToUtc(d.deleted_ms)},
                   {"purge_at", MsToUtc(d.deleted_ms + keep_ms)}};
      if (auto id = RecoveryPointId(d.key)) {
        json point = {{"id", *id}, {"deleted_at", item["deleted_at"]}};
        if (auto rec = meta_->FindRecoveryPoint(machine->machine_id, *id)) {
          point["uploaded_at"] = FormatUtcTime(rec->uploaded_at);
        }
        points.push_back(std::move(point));
      }
      objects.push_back(std::move(item));
    }
    return Json(200, {{"machine_id", machine->machine_id},
                      {"machine", machine->name},
                      {"soft_delete_days", guard_.SoftDeleteDays(machine->machine_id)},
                      {"purge_after_days", keep_ms / kDayMs},
                      {"recovery_points", points},
                      {"objects", objects}});
  }

  // {"since": "<UTC time>"}: every object deleted at or after it. {"points":
  // [ids]}: those recovery points and every soft-deleted object that is not
  // a recovery point (packs, index files, keys): a superset of what the
  // points need, which the machine's next prune deletes again (softly) if
  // no point uses it.
  ServiceResponse Undelete(const ServiceRequest& req, const std::string& vault_name,
                           const std::string& machine_name) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto since_it = body->find("since");
    auto points_it = body->find("points");
    if ((since_it == body->end()) == (points_it == body->end())) {
      return BadRequest("give either \"since\" (a UTC time) or \"points\" (recovery point ids)");
    }
    std::optional<int64_t> since_ms;
    std::set<std::string> wanted;
    if (since_it != body->end()) {
      if (!since_it->is_string()) return BadRequest("\"since\" must be a UTC time string");
      Result<int64_t> t = ParseUtcTime(since_it->get<std::string>());
      if (!t.ok()) return BadRequest("\"since\": " + t.status().detail());
      since_ms = *t * 1000;
    } else {
      if (!points_it->is_array() || points_it->empty()) {
        return BadRequest("\"points\" must be a non-empty list of recovery point ids");
      }
      for (const json& id : *points_it) {
        if (!id.is_string() || !IsSafeRecordName(id.get<std::string>())) {
          return BadRequest("\"points\" must be a non-empty list of recovery point ids");
        }
        wanted.insert(std::string(kSnapshotsPrefix) + id.get<std::string>());
      }
    }
    std::lock_guard lock(mu_);
    auto machine = AdminMachine(vault_name, machine_name, &err);
    if (!machine) return err;
    std::vector<DeletedObjectRecord> records = meta_->DeletedObjects(machine->machine_id);
    for (const std::string& key : wanted) {
      bool found = std::any_of(records.begin(), records.end(),
                               [&](const DeletedObjectRecord& d) { return d.key == key; });
      if (!found) {
        return Error(404, "",
                     "recovery point " + key.substr(kSnapshotsPrefix.size()) + " of machine '" +
                         machine->name +
                         "' is not soft-deleted (never existed, not deleted, or purged)");
      }
    }
    json undeleted = json::array();
    json points = json::array();
    for (const DeletedObjectRecord& d : records) {
      bool pick = since_ms ? d.deleted_ms >= *since_ms
                           : (wanted.contains(d.key) || !d.key.starts_with(kSnapshotsPrefix));
      if (!pick) continue;
      Status st = meta_->RemoveDeleted(d.machine_id, d.key);
      if (!st.ok()) return FromStatus(st, kMetadataWhat);
      undeleted.push_back(d.key);
      if (auto id = RecoveryPointId(d.key)) points.push_back(*id);
    }
    spdlog::warn("admin undeleted {} object(s) ({} recovery point(s)) of machine '{}' ({})",
                 undeleted.size(), points.size(), machine->name, machine->machine_id);
    Audit(options_.audit, "admin", "machine.undelete", machine->vault_id, machine->machine_id,
          {{"since_at", since_ms ? json(MsToUtc(*since_ms)) : json(nullptr)},
           {"undeleted", undeleted.size()},
           {"undeleted_points", points}});
    return Json(200, {{"machine_id", machine->machine_id},
                      {"undeleted", undeleted.size()},
                      {"recovery_points", points},
                      {"keys", undeleted}});
  }

  // ----- registration

  ServiceResponse Prepare(const ServiceRequest& req) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto xml = StringField(*body, "credentials", &err);
    if (!xml) return err;
    auto name = StringField(*body, "machine_name", &err);
    if (!name) return err;
    if (!IsValidMachineName(*name)) return BadRequest("invalid machine name");
    std::optional<MachineRecord> machine;
    std::string vault_id;
    {
      std::lock_guard lock(mu_);
      auto vault = CheckCredentials(*xml, &err);
      if (!vault) return LogRefusal(req, err);
      vault_id = vault->vault_id;
      machine = meta_->FindMachineByName(vault_id, *name);
    }
    json out = {{"vault_id", vault_id}, {"machine_exists", machine.has_value()}};
    if (machine) {
      Result<Bytes> wrapped =
          blobs_.Get(MachineKey(machine->machine_id, "keys/" + machine->key_id));
      if (!wrapped.ok()) return FromStatus(wrapped.status(), "the machine's wrapped key");
      out["wrapped_key"] = std::string(wrapped->begin(), wrapped->end());
    }
    return Json(200, out);
  }

  ServiceResponse Register(const ServiceRequest& req) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto xml = StringField(*body, "credentials", &err);
    if (!xml) return err;
    auto name = StringField(*body, "machine_name", &err);
    if (!name) return err;
    auto wrapped_key = StringField(*body, "wrapped_key", &err);
    if (!wrapped_key) return err;
    auto key_check = StringField(*body, "key_check", &err);
    if (!key_check) return err;
    if (!IsValidMachineName(*name)) return BadRequest("invalid machine name");
    if (!IsLowerHex(*key_check, 64)) return BadRequest("key_check must be 64 lowercase hex digits");

    std::lock_guard lock(mu_);
    auto vault = CheckCredentials(*xml, &err);
    if (!vault) return LogRefusal(req, err);
    std::string token = RandomHex(32);
    if (auto existing = meta_->FindMachineByName(vault->vault_id, *name)) {
      if (!crypto::EqualConstantTime(AsBytes(existing->key_check), AsBytes(*key_check))) {
        spdlog::warn("refused re-registration of machine '{}' in vault '{}': key check differs",
                     *name, vault->name);
        return Error(409, CatalogueId(ErrorCode::kPassphraseNotConfigured),
                     "machine '" + *name + "' is registered in vault '" + vault->name +
                         "' with another passphrase; use that passphrase (nothing was changed)");
      }
      existing->token_sha256 = Sha256Hex(token);
      existing->removed = 0;  // a removed machine registered again: its data stays soft-deleted
      Status st = meta_->PutMachine(*existing);
      if (!st.ok()) return FromStatus(st, kMetadataWhat);
      spdlog::info("machine '{}' ({}) registered again in vault '{}'", *name, existing->machine_id,
                   vault->name);
      Audit(options_.audit, "registration", "machine.register_again", vault->vault_id,
            existing->machine_id, {{"machine", *name}});
      return Json(200, {{"machine_id", existing->machine_id}, {"token", token}});
    }
    if (meta_->CountMachines(vault->vault_id) >= options_.max_machines_per_vault) {
      spdlog::warn("refused machine '{}': vault '{}' is full", *name, vault->name);
      return Error(403, CatalogueId(ErrorCode::kCredentialDownloadFailed),
                   "vault '" + vault->name + "' already has " +
                       std::to_string(options_.max_machines_per_vault) +
                       " machines registered, the most a vault can hold");
    }
    Result<keys::WrappedKey> parsed = keys::ParseWrappedKey(*wrapped_key);
    if (!parsed.ok()) return BadRequest("wrapped_key: " + parsed.status().detail());
    if (!IsSafeRecordName(parsed->key_id)) return BadRequest("wrapped_key has an invalid key_id");
    MachineRecord m;
    m.machine_id = RandomHex(16);
    m.vault_id = vault->vault_id;
    m.name = *name;
    m.token_sha256 = Sha256Hex(token);
    m.key_check = *key_check;
    m.key_id = parsed->key_id;
    m.registered = ClockSeconds();
    Status st = blobs_.Put(MachineKey(m.machine_id, "keys/" + m.key_id), AsBytes(*wrapped_key));
    if (st.ok()) st = meta_->PutMachine(m);
    if (!st.ok()) return FromStatus(st, "the machine's registration");
    spdlog::info("registered machine '{}' ({}) in vault '{}'", m.name, m.machine_id, vault->name);
    Audit(options_.audit, "registration", "machine.register", vault->vault_id, m.machine_id,
          {{"machine", m.name}});
    return Json(200, {{"machine_id", m.machine_id}, {"token", token}});
  }

  static ServiceResponse LogRefusal(const ServiceRequest& req, ServiceResponse err) {
    json j = json::parse(err.body.begin(), err.body.end(), nullptr, false);
    spdlog::warn("{} {}: refused: {}", req.method, req.path,
                 j.is_object() ? j.value("message", "") : "");
    return err;
  }

  // ----- a machine's data

  static std::string MachineKey(const std::string& machine_id, const std::string& key) {
    return vault_layout::MachinePrefix(machine_id) + key;
  }

  ServiceResponse GetMachine(const Principal& p) {
    std::lock_guard lock(mu_);
    auto vault = meta_->FindVault(p.machine.vault_id);
    json out = {{"machine_id", p.machine.machine_id},
                {"name", p.machine.name},
                {"vault_id", p.machine.vault_id},
                {"vault_name", vault ? vault->name : ""}};
    if (p.read_only) out["read_only"] = true;
    return Json(200, out);
  }

  // 409 unless the request carries the machine's live lease.
  std::optional<ServiceResponse> CheckLease(const ServiceRequest& req, const Principal& p) {
    auto it = req.headers.find("x-obagent-lease");
    std::string given = it == req.headers.end() ? "" : it->second;
    std::lock_guard lock(mu_);
    auto lease = meta_->FindLease(p.machine.machine_id);
    bool live = lease && lease->expires_ms > ClockMs();
    if (!live) {
      return Error(
          409, "",
          "writing needs a lease (POST /v1/lease) and this machine holds none" +
              std::string(lease ? " (the last one expired at " + MsToUtc(lease->expires_ms) + ")"
                                : ""));
    }
    if (given.empty()) {
      return Error(409, "",
                   "writing needs the X-Obagent-Lease header of the current lease (held "
                   "by '" +
                       lease->holder + "')");
    }
    if (given != lease->lease_id) {
      return Error(409, "",
                   "lease " + given + " is not the current one: the vault is leased to '" +
                       lease->holder + "' until " + MsToUtc(lease->expires_ms));
    }
    return std::nullopt;
  }

  static std::optional<std::string> RecoveryPointId(const std::string& key) {
    if (!key.starts_with(kSnapshotsPrefix)) return std::nullopt;
    std::string id = key.substr(kSnapshotsPrefix.size());
    if (!IsSafeRecordName(id)) return std::nullopt;
    return id;
  }

  // The request body on its way into the blob store: counted, hashed, cut
  // off past the limit, a failed read remembered (the client went away).
  class UploadSource final : public storage::ByteSource {
   public:
    UploadSource(storage::ByteSource& inner, uint64_t limit) : inner_(inner), limit_(limit) {}
    Result<size_t> Read(uint8_t* buffer, size_t n) override {
      Result<size_t> got = inner_.Read(buffer, n);
      if (!got.ok()) {
        read_failed_ = true;
        return got.status();
      }
      bytes_ += *got;
      if (bytes_ > limit_) {
        too_large_ = true;
        return InvalidArgument("the object is larger than " + std::to_string(limit_) + " bytes");
      }
      if (*got == 0) ended_ = true;
      hasher_.Update(ByteView(buffer, *got));
      return got;
    }
    // Reads what the store left unread (it may refuse a create before the
    // end), so that Finish hashes the whole body.
    Status Drain() {
      uint8_t piece[64 * 1024];
      while (!ended_) {
        Result<size_t> got = Read(piece, sizeof piece);
        if (!got.ok()) return got.status();
      }
      return Status::Ok();
    }
    crypto::Digest Finish() { return hasher_.Finish(); }
    uint64_t bytes() const { return bytes_; }
    bool too_large() const { return too_large_; }
    bool read_failed() const { return read_failed_; }

   private:
    storage::ByteSource& inner_;
    const uint64_t limit_;
    uint64_t bytes_ = 0;
    bool ended_ = false;
    bool too_large_ = false;
    bool read_failed_ = false;
    crypto::Sha256Hasher hasher_;
  };

  class HashingSink final : public storage::ByteSink {
   public:
    Status Write(ByteView data) override {
      hasher_.Update(data);
      return Status::Ok();
    }
    crypto::Digest Finish() { return hasher_.Finish(); }

   private:
    crypto::Sha256Hasher hasher_;
  };

  // Objects are write-once: a PUT creates the object only if the key is
  // free (BlobStore::PutNewFrom decides atomically). When it is taken, the
  // existing bytes are hashed and compared: the same bytes are a repeated
  // upload (accepted, and a soft-deleted object revived); other bytes are
  // refused with 409 and change nothing. machine.json alone is replaced
  // (kMachineRecordKey).
  ServiceResponse PutObject(const ServiceRequest& req, const Principal& p, const std::string& key) {
    if (auto refused = CheckLease(req, p)) return *refused;
    // Packs have a size of their own; index files and recovery points grow
    // with the repository.
    const uint64_t limit =
        key.starts_with("data/") ? options_.max_pack_bytes : options_.max_object_bytes;
    std::string full = MachineKey(p.machine.machine_id, key);
    // Refused from the headers when the client announces too much.
    if (req.content_length && *req.content_length > limit) return TooLarge(limit);
    // Storing a key other than the one in use is a passphrase change: the PIN.
    bool switches_key = false;
    if (key.starts_with(kKeysPrefix)) {
      auto refused =
          guard_.KeyPutRefused(p.machine.machine_id, key, GuardRoutes::PinOf(req), &switches_key);
      if (refused) return *refused;
    }
    // A wrapped key is small and kept whole: its conflict is judged by its
    // content (ReplacesDamagedKey).
    std::optional<Bytes> small;
    if (key.starts_with(kKeysPrefix) && req.body_source != nullptr) {
      ServiceResponse err;
      small = SmallBody(req, kMaxJsonBody, &err);
      if (!small) return err;
    }
    storage::MemorySource memory(small ? ByteView(*small) : ByteView(req.body));
    storage::ByteSource& body = (req.body_source != nullptr && !small) ? *req.body_source : memory;
    UploadSource source(body, limit);
    const bool replaceable = key == kMachineRecordKey;
    Status st = replaceable ? blobs_.PutFrom(full, source) : blobs_.PutNewFrom(full, source);
    bool exists = st.code() == ErrorCode::kAlreadyExists;
    if (exists) st = source.Drain();
    if (source.too_large()) return TooLarge(limit);
    if (source.read_failed()) {
      spdlog::debug("PUT {}: {}", full, st.ToString());
      return BadRequest("the request body broke off before its end");
    }
    if (!st.ok()) return FromStatus(st, ObjectWhat(key));
    const uint64_t size = source.bytes();
    int status = 201;
    if (exists) {
      HashingSink existing;
      Status read = blobs_.GetTo(full, 0, storage::kToEnd, existing);
      if (read.code() == ErrorCode::kNotFound) {
        // Purged by the collector between the two steps.
        return Error(503, "", ObjectWhat(key) + " was being purged; send it again");
      }
      if (!read.ok()) return FromStatus(read, ObjectWhat(key));
      if (existing.Finish() != source.Finish()) {
        if (small && ReplacesDamagedKey(key, full, *small)) {
          status = 201;
        } else {
          spdlog::warn("machine {}: refused PUT {}: it exists with other bytes",
                       p.machine.machine_id, key);
          return Error(409, "",
                       ObjectWhat(key) +
                           " exists with other bytes and vault objects are write-once: it was "
                           "not replaced (nothing was changed)");
        }
      } else {
        status = 200;
      }
    }
    if (switches_key) {
      if (Status kst = guard_.KeyStored(p.machine.machine_id, key); !kst.ok()) {
        return FromStatus(kst, kMetadataWhat);
      }
    }
    std::lock_guard lock(mu_);
    if (meta_->FindDeleted(p.machine.machine_id, key)) {
      // Sent again with its own bytes: the soft-deleted object is back.
      Status rst = meta_->RemoveDeleted(p.machine.machine_id, key);
      if (!rst.ok()) return FromStatus(rst, kMetadataWhat);
      spdlog::info("machine {}: {} uploaded again: no longer deleted", p.machine.machine_id, key);
    }
    if (auto id = RecoveryPointId(key);
        id && (status == 201 || !meta_->FindRecoveryPoint(p.machine.machine_id, *id))) {
      RecoveryPointRecord rp{p.machine.machine_id, *id, ClockSeconds(), size};
      Status rst = meta_->PutRecoveryPoint(rp);
      if (!rst.ok()) spdlog::warn("recording recovery point {}: {}", *id, rst.ToString());
    }
    return Empty(status);
  }

  // A wrapped key the storage damaged (keys/<id> that no longer parses as
  // the wrapped key <id>) is the one object a machine may replace, and only
  // with a valid wrapped key of that id (obctl repair stores it again from
  // the key file). A valid key is never replaced.
  bool ReplacesDamagedKey(const std::string& key, const std::string& full, const Bytes& body) {
    std::string id = key.substr(kKeysPrefix.size());
    Result<keys::WrappedKey> fresh = keys::ParseWrappedKey(AsString(body));
    if (!fresh.ok() || fresh->key_id != id) return false;
    Result<Bytes> current = blobs_.Get(full);
    if (!current.ok()) return false;
    Result<keys::WrappedKey> old = keys::ParseWrappedKey(AsString(*current));
    if (old.ok() && old->key_id == id) return false;
    Status st = blobs_.Put(full, body);
    if (!st.ok()) return false;
    spdlog::warn("{}: a damaged wrapped key was replaced by a valid one of the same id", full);
    return true;
  }

  // Soft: the object stays in the blob store, hidden from the machine,
  // until the collector purges it after the vault's soft_delete_days or the
  // administrator undeletes it.
  ServiceResponse DeleteObject(const ServiceRequest& req, const Principal& p,
                               const std::string& key) {
    if (auto held = anomalies_->HoldRefusal(p.machine.machine_id)) return Error(423, "", *held);
    if (auto refused = CheckLease(req, p)) return *refused;
    Result<storage::ObjectInfo> info = blobs_.Stat(MachineKey(p.machine.machine_id, key));
    if (!info.ok()) {
      if (info.status().code() == ErrorCode::kNotFound) return Empty(204);
      return FromStatus(info.status(), ObjectWhat(key));
    }
    std::lock_guard lock(mu_);
    auto note_attempt = [&] {
      NoteDeleteAttempt(options_.alerts, mass_deletion_, p.machine, ClockMs(),
                        [&] { return LiveObjects(p.machine.machine_id); });
    };
    if (auto refused = guard_.DeleteRefused(p.machine.machine_id, key)) {
      note_attempt();
      return *refused;
    }
    if (!meta_->FindDeleted(p.machine.machine_id, key)) {
      Status st = meta_->PutDeleted({p.machine.machine_id, key, ClockMs()});
      if (!st.ok()) return FromStatus(st, kMetadataWhat);
      spdlog::info("machine {}: {} soft-deleted", p.machine.machine_id, key);
      note_attempt();
    }
    return Empty(204);
  }

  // The object's size from the store's metadata; the object is not read.
  ServiceResponse HeadObject(const Principal& p, const std::string& key) {
    if (IsDeleted(p.machine.machine_id, key)) return Empty(404);
    Result<storage::ObjectInfo> info = blobs_.Stat(MachineKey(p.machine.machine_id, key));
    if (!info.ok()) {
      if (info.status().code() == ErrorCode::kNotFound) return Empty(404);
      return FromStatus(info.status(), ObjectWhat(key));
    }
    ServiceResponse r = Empty(200);
    r.content_type = "application/octet-stream";
    r.content_length = info->size;
    r.headers.emplace_back("X-Obagent-Size", std::to_string(info->size));
    return r;
  }

  static ServiceResponse NotSatisfiable(uint64_t size) {
    ServiceResponse r = Error(
        416, "", "the range is past the end of the object (" + std::to_string(size) + " bytes)");
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return r;
  }

  // The object (or bytes [first, first+length) of it) streamed from the
  // blob store in pieces as the response is sent.
  ServiceResponse Streamed(int status, const std::string& full, uint64_t first, uint64_t length) {
    ServiceResponse r;
    r.status = status;
    r.content_type = "application/octet-stream";
    r.content_length = length;
    r.stream_body = [this, full, first, length](storage::ByteSink& sink) {
      return blobs_.GetTo(full, first, length, sink);
    };
    return r;
  }

  ServiceResponse GetObject(const ServiceRequest& req, const Principal& p, const std::string& key) {
    std::string full = MachineKey(p.machine.machine_id, key);
    if (IsDeleted(p.machine.machine_id, key))
      return FromStatus(NotFound("soft-deleted"), ObjectWhat(key));
    Result<storage::ObjectInfo> info = blobs_.Stat(full);
    if (!info.ok()) return FromStatus(info.status(), ObjectWhat(key));
    const uint64_t size = info->size;
    std::optional<ByteRange> range;
    if (auto it = req.headers.find("range"); it != req.headers.end())
      range = ParseRange(it->second);
    if (!range) return Streamed(200, full, 0, size);
    uint64_t first = 0, last = 0;
    switch (range->kind) {
      case ByteRange::kFromTo:
        first = range->first;
        last = std::min(range->last, size == 0 ? 0 : size - 1);
        break;
      case ByteRange::kFrom:
        first = range->first;
        last = size == 0 ? 0 : size - 1;
        break;
      case ByteRange::kSuffix:
        if (range->suffix == 0) return NotSatisfiable(size);
        first = size - std::min(range->suffix, size);
        last = size == 0 ? 0 : size - 1;
        break;
    }
    if (first >= size) return NotSatisfiable(size);
    ServiceResponse r = Streamed(206, full, first, last - first + 1);
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                std::to_string(last) + "/" + std::to_string(size));
    return r;
  }

  std::set<std::string> DeletedKeys(const std::string& machine_id) {
    std::set<std::string> out;
    std::lock_guard lock(mu_);
    for (DeletedObjectRecord& d : meta_->DeletedObjects(machine_id)) out.insert(std::move(d.key));
    return out;
  }

  ServiceResponse ListObjects(const ServiceRequest& req, const Principal& p) {
    Result<net::QueryParams> parsed = net::ParseQuery(req.query, kQueryRules);
    if (!parsed.ok()) return BadRequest(parsed.status().detail());
    net::QueryParams& q = *parsed;
    const std::string& prefix = q["prefix"];
    const std::string& marker = q["marker"];
    if (!IsValidPrefix(prefix)) return BadRequest("invalid prefix '" + prefix + "'");
    std::string base = MachineKey(p.machine.machine_id, "");
    Result<std::vector<std::string>> keys = blobs_.List(base + prefix);
    if (!keys.ok()) return FromStatus(keys.status(), "the object list");
    std::set<std::string> deleted = DeletedKeys(p.machine.machine_id);
    std::vector<std::string> page;
    std::string next;
    for (const std::string& full : *keys) {
      if (!full.starts_with(base)) continue;
      std::string key = full.substr(base.size());
      if (!marker.empty() && key <= marker) continue;
      if (deleted.contains(key)) continue;
      if (page.size() == options_.list_page_size) {
        next = page.back();
        break;
      }
      page.push_back(std::move(key));
    }
    return Json(200, {{"keys", page}, {"next_marker", next}});
  }

  // ----- leases

  std::optional<int> TtlField(const json& body, ServiceResponse* err) {
    auto it = body.find("ttl_seconds");
    if (it == body.end() || !it->is_number_integer()) {
      *err = BadRequest("the field \"ttl_seconds\" (an integer) is missing");
      return std::nullopt;
    }
    int64_t ttl = it->get<int64_t>();
    if (ttl < options_.min_lease_ttl_seconds || ttl > options_.max_lease_ttl_seconds) {
      *err = BadRequest("ttl_seconds must be between " +
                        std::to_string(options_.min_lease_ttl_seconds) + " and " +
                        std::to_string(options_.max_lease_ttl_seconds));
      return std::nullopt;
    }
    return static_cast<int>(ttl);
  }

  ServiceResponse AcquireLease(const ServiceRequest& req, const Principal& p) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto holder = StringField(*body, "holder", &err);
    if (!holder) return err;
    if (holder->empty() || holder->size() > kMaxHolder) {
      return BadRequest("holder must be 1 to 256 characters");
    }
    auto ttl = TtlField(*body, &err);
    if (!ttl) return err;
    std::lock_guard lock(mu_);
    int64_t now = ClockMs();
    auto current = meta_->FindLease(p.machine.machine_id);
    if (current && current->expires_ms > now) {
      return Json(409, {{"error_id", ""},
                        {"message", "the vault is leased to '" + current->holder + "' until " +
                                        MsToUtc(current->expires_ms)},
                        {"holder", current->holder},
                        {"expires_at", MsToUtc(current->expires_ms)}});
    }
    LeaseRecord lease{p.machine.machine_id, RandomHex(16), *holder, now + int64_t{*ttl} * 1000};
    Status st = meta_->PutLease(lease);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    return Json(200, {{"lease_id", lease.lease_id}, {"expires_at", MsToUtc(lease.expires_ms)}});
  }

  ServiceResponse RenewLease(const ServiceRequest& req, const Principal& p, const std::string& id) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto ttl = TtlField(*body, &err);
    if (!ttl) return err;
    std::lock_guard lock(mu_);
    int64_t now = ClockMs();
    auto lease = meta_->FindLease(p.machine.machine_id);
    if (!lease || lease->lease_id != id || lease->expires_ms <= now) {
      return Error(409, "", "lease " + id + " expired or was taken over");
    }
    lease->expires_ms = now + int64_t{*ttl} * 1000;
    Status st = meta_->PutLease(*lease);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    return Json(200, {{"expires_at", MsToUtc(lease->expires_ms)}});
  }

  ServiceResponse ReleaseLease(const Principal& p, const std::string& id) {
    std::lock_guard lock(mu_);
    auto lease = meta_->FindLease(p.machine.machine_id);
    if (lease && lease->lease_id == id) {
      Status st = meta_->RemoveLease(p.machine.machine_id);
      if (!st.ok()) return FromStatus(st, kMetadataWhat);
    }
    return Empty(204);
  }

  // ----- job reports and recovery points

  ServiceResponse AddJob(const ServiceRequest& req, const Principal& p) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    std::optional<json> report = ValidJobReport(*body, &err);
    if (!report) return err;
    JobReportRecord r;
    r.machine_id = p.machine.machine_id;
    r.received_ms = ClockMs();
    r.report_json = report->dump(-1, ' ', false, json::error_handler_t::replace);
    std::lock_guard lock(mu_);
    Status st = meta_->AddJobReport(r);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    NoteJobReport(options_.alerts, p.machine, r.report_json);
    JudgeBackup(p.machine, *report, r.received_ms);
    return Empty(201);
  }

  // ----- anomalies (obagent/vault/anomaly.h: the judgement, records and hold)

  // A backup's figures against the machine's baseline; a flag holds its data.
  void JudgeBackup(const MachineRecord& machine, const json& report, int64_t received_ms) {
    auto flagged = anomalies_->Observe(machine.vault_id, machine.machine_id, report, received_ms);
    if (!flagged.ok()) {
      spdlog::error("machine {}: judging its backup: {}", machine.machine_id,
                    flagged.status().ToString());
    } else if (*flagged) {
      spdlog::warn("machine {} ({}): anomaly {} flagged; its data is held until acknowledged",
                   machine.machine_id, machine.name, (*flagged)->id);
      NoteAnomaly(machine, **flagged);
    }
  }

  // The flag's alert (critical: every earlier point is held until it is
  // acknowledged) and its audit entry.
  void NoteAnomaly(const MachineRecord& machine, const AnomalyRecord& anomaly) {
    std::string reasons;
    for (const AnomalyFinding& f : anomaly.findings) {
      reasons += (reasons.empty() ? "" : "; ") + f.reason;
    }
    AlertInput in;
    in.kind = alert_kind::kAnomaly;
    in.severity = "critical";
    in.vault_id = machine.vault_id;
    in.machine_id = machine.machine_id;
    // The id first: summaries are cut at their length limit.
    in.summary = "Anomaly " + anomaly.id + ": a backup of machine '" + machine.name +
                 "' is far outside its baseline; its earlier recovery points are held until an "
                 "administrator acknowledges it (obctl vault anomaly-ack). " +
                 reasons;
    in.detail_json = AnomalyToJson(anomaly).dump();
    RaiseAlert(options_.alerts, in);
    Audit(options_.audit, "vaultd", "anomaly.flag", machine.vault_id, machine.machine_id,
          {{"anomaly_id", anomaly.id}});
  }

  // GET /v1/vaults/{v}/anomalies[?all=1]: open ones, or all with all=1.
  ServiceResponse ListAnomalies(const ServiceRequest& req, const std::string& vault_name) {
    std::optional<VaultRecord> vault;
    {
      std::lock_guard lock(mu_);
      vault = meta_->FindVaultByName(vault_name);
      if (!vault) return Error(404, "", "no vault '" + vault_name + "'");
    }
    Result<net::QueryParams> query = net::ParseQuery(req.query, kQueryRules);
    if (!query.ok()) return BadRequest(query.status().detail());
    const bool all = (*query)["all"] == "1" || (*query)["all"] == "true";
    auto list = anomalies_->List(vault->vault_id, all);
    if (!list.ok()) return FromStatus(list.status(), "the anomaly records");
    json out = json::array();
    std::lock_guard lock(mu_);
    for (const AnomalyRecord& a : *list) {
      json item = AnomalyToJson(a);
      auto machine = meta_->FindMachine(a.machine_id);
      item["machine"] = machine ? machine->name : "";
      out.push_back(std::move(item));
    }
    return Json(200, {{"vault", vault->name}, {"anomalies", out}});
  }

  // POST /v1/vaults/{v}/anomalies/{id}/ack: releases the hold.
  ServiceResponse AcknowledgeAnomaly(const std::string& vault_name, const std::string& id) {
    std::optional<VaultRecord> vault;
    {
      std::lock_guard lock(mu_);
      vault = meta_->FindVaultByName(vault_name);
    }
    if (!vault) return Error(404, "", "no vault '" + vault_name + "'");
    auto acked = anomalies_->Acknowledge(vault->vault_id, id, ClockMs());
    if (!acked.ok()) {
      if (acked.status().code() == ErrorCode::kNotFound) {
        return Error(404, "", "no anomaly '" + id + "' in vault '" + vault_name + "'");
      }
      return FromStatus(acked.status(), "the anomaly records");
    }
    spdlog::info("vault {}: anomaly {} of machine {} acknowledged", vault->name, id,
                 acked->machine_id);
    Audit(options_.audit, "admin", "anomaly.ack", vault->vault_id, acked->machine_id,
          {{"anomaly_id", id}});
    json item = AnomalyToJson(*acked);
    item["held"] = anomalies_->HoldActive(acked->machine_id);  // another open one holds it still
    return Json(200, item);
  }

  ServiceResponse ListJobs(const Principal& p) {
    std::lock_guard lock(mu_);
    json out = json::array();
    for (const JobReportRecord& r : meta_->JobReports(p.machine.machine_id)) {
      Result<json> report = bounded_json::Parse(r.report_json, {kMaxJsonBody, kMaxJsonDepth});
      if (report.ok()) out.push_back(std::move(report).value());
    }
    return Json(200, out);
  }

  ServiceResponse ListRecoveryPoints(const Principal& p) {
    std::string base = MachineKey(p.machine.machine_id, std::string(kSnapshotsPrefix));
    Result<std::vector<std::string>> keys = blobs_.List(base);
    if (!keys.ok()) return FromStatus(keys.status(), "the recovery point list");
    std::set<std::string> deleted = DeletedKeys(p.machine.machine_id);
    json out = json::array();
    for (const std::string& full : *keys) {
      std::string id = full.substr(base.size());
      if (!IsSafeRecordName(id)) continue;
      if (deleted.contains(std::string(kSnapshotsPrefix) + id)) continue;
      std::optional<RecoveryPointRecord> rec;
      {
        std::lock_guard lock(mu_);
        rec = meta_->FindRecoveryPoint(p.machine.machine_id, id);
      }
      json item = {{"id", id}};
      if (rec) {
        item["uploaded_at"] = FormatUtcTime(rec->uploaded_at);
        item["size"] = rec->size;
      } else {
        // Stored without vaultd (copied into the blob store): no upload time.
        Result<storage::ObjectInfo> info = blobs_.Stat(full);
        if (!info.ok()) continue;
        item["uploaded_at"] = "";
        item["size"] = info->size;
      }
      out.push_back(std::move(item));
    }
    return Json(200, out);
  }

  // ----- alternate-machine recovery

  ServiceResponse CreateRecoverySession(const ServiceRequest& req, const Principal& p) {
    ServiceResponse err;
    auto body = ParseBody(req, false, &err);
    if (!body) return err;
    auto xml = StringField(*body, "credentials", &err);
    if (!xml) return err;
    auto source = StringField(*body, "source_machine", &err);
    if (!source) return err;
    std::lock_guard lock(mu_);
    auto vault = CheckCredentials(*xml, &err);
    if (!vault) return LogRefusal(req, err);
    std::optional<MachineRecord> machine = meta_->FindMachine(*source);
    if (!machine || machine->vault_id != vault->vault_id) {
      machine = meta_->FindMachineByName(vault->vault_id, *source);
    }
    if (!machine) {
      return Error(404, "", "no machine '" + *source + "' in vault '" + vault->name + "'");
    }
    (void)meta_->RemoveExpiredRecoverySessions(ClockMs());
    std::string token = RandomHex(32);
    RecoverySessionRecord s{Sha256Hex(token), machine->machine_id, p.machine.machine_id,
                            ClockMs() + int64_t{options_.recovery_session_seconds} * 1000};
    Status st = meta_->PutRecoverySession(s);
    if (!st.ok()) return FromStatus(st, kMetadataWhat);
    spdlog::info("machine {} opened a recovery session for machine '{}' ({}) until {}",
                 p.machine.machine_id, machine->name, machine->machine_id, MsToUtc(s.expires_ms));
    return Json(200, {{"token", token},
                      {"machine_id", machine->machine_id},
                      {"expires_at", MsToUtc(s.expires_ms)}});
  }

  // ----- alerts (vault/alert_api.h)

  static ServiceResponse Answer(const ApiAnswer& a) { return Json(a.status, a.body); }

  ServiceResponse ListAlerts(const ServiceRequest& req, const std::string& vault_name) {
    std::lock_guard lock(mu_);
    std::optional<VaultRecord> vault = meta_->FindVaultByName(vault_name);
    if (!vault) return Error(404, "", "no vault named '" + vault_name + "'");
    return Answer(ListAlertsAnswer(options_.alerts, *vault, req.query, [&](const std::string& id) {
      auto m = meta_->FindMachine(id);
      return m ? m->name : std::string();
    }));
  }

  ServiceResponse AckAlert(const ServiceRequest& req, const std::string& vault_name,
                           std::string_view id) {
    ServiceResponse err;
    auto body = ParseBody(req, true, &err);
    if (!body) return err;
    std::optional<VaultRecord> vault;
    {
      std::lock_guard lock(mu_);
      vault = meta_->FindVaultByName(vault_name);
    }
    if (!vault) return Error(404, "", "no vault named '" + vault_name + "'");
    return Answer(AckAlertAnswer(options_.alerts, options_.audit, *vault, std::string(id), *body));
  }

  // The machine's objects that are not soft-deleted. Call with mu_ held.
  size_t LiveObjects(const std::string& machine_id) {
    Result<std::vector<std::string>> keys = blobs_.List(MachineKey(machine_id, ""));
    if (!keys.ok()) return 0;
    size_t deleted = meta_->DeletedObjects(machine_id).size();
    return keys->size() > deleted ? keys->size() - deleted : 0;
  }

 public:
  void CheckMissedBackups() {
    std::vector<MissedBackupWatch::Machine> machines;
    {
      std::lock_guard lock(mu_);
      for (const MachineRecord& m : meta_->Machines()) {
        MissedBackupWatch::Machine item{m.vault_id, m.machine_id, m.name, m.registered * 1000, {}};
        for (const JobReportRecord& r : meta_->JobReports(m.machine_id)) {
          if (IsSuccessfulBackup(r.report_json)) item.successes_ms.push_back(r.received_ms);
        }
        machines.push_back(std::move(item));
      }
    }
    const int64_t now = ClockMs();
    for (const MissedBackupWatch::Machine& m : machines) {
      if (auto in = missed_.Check(m, now, options_.expected_backup_interval_ms)) {
        RaiseAlert(options_.alerts, *in);
      }
    }
  }

 private:
  const ServiceOptions& options_;
  std::mutex mu_;  // guards meta_
  std::unique_ptr<MetadataStore> meta_;
  storage::BlobStore& blobs_;
  MassDeletionWatch mass_deletion_{options_.mass_deletion};
  MissedBackupWatch missed_;
  std::unique_ptr<AnomalyStore> anomalies_;  // thread-safe itself
  GuardRoutes guard_;                        // the Security PIN, retention floors, immutable vaults
};

VaultService::VaultService(ServiceOptions options, std::unique_ptr<MetadataStore> metadata,
                           storage::BlobStore& blobs)
    : options_(std::move(options)),
      impl_(std::make_unique<Impl>(options_, std::move(metadata), blobs)) {}

VaultService::~VaultService() = default;

ServiceResponse VaultService::Handle(const ServiceRequest& request) {
  return impl_->Handle(request);
}

PurgeReport VaultService::PurgeExpired() { return impl_->PurgeExpired(); }

void VaultService::CheckMissedBackups() { impl_->CheckMissedBackups(); }

}  // namespace obagent::vault
