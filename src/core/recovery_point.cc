// Recovery point root object: JSON, sealed with AES-256-GCM.
//
//   {"version": 1, "time_ns": ..., "hostname": S, "machine_id": S,
//    "paths": [S, ...], "tree": "<64 hex>", "parent": S,
//    "stats": {"files": ..., ...}, "repaired_from": S (optional)}
//
// S is a JSON string when the value is valid UTF-8 and {"base64": "..."}
// otherwise (paths and hostnames are raw bytes on POSIX), so every value
// round-trips exactly.
#include "obagent/core/recovery_point.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

namespace obagent::recovery_point {
namespace {

using nlohmann::json;

constexpr std::string_view kAad = "obagent-recovery-point-v1";

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
// The same rules nlohmann's parser applies.
bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const uint8_t c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    }
    i += len;
  }
  return true;
}

json EncodeString(const std::string& s) {
  if (IsValidUtf8(s)) return s;
  return json{{"base64", Base64Encode(AsBytes(s))}};
}

bool DecodeString(const json& j, std::string& out) {
  if (j.is_string()) {
    out = j.get<std::string>();
    return true;
  }
  if (!j.is_object() || j.size() != 1) return false;
  auto it = j.find("base64");
  if (it == j.end() || !it->is_string()) return false;
  auto raw = Base64Decode(it->get_ref<const std::string&>());
  if (!raw.ok()) return false;
  out.assign(AsString(raw.value()));
  return true;
}

bool GetString(const json& obj, const char* key, std::string& out) {
  auto it = obj.find(key);
  return it != obj.end() && DecodeString(*it, out);
}

bool GetU64(const json& obj, const char* key, uint64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) return false;
  out = it->get<uint64_t>();
  return true;
}

bool GetI64(const json& obj, const char* key, int64_t& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return false;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(v);
    return true;
  }
  if (!it->is_number_integer()) return false;
  out = it->get<int64_t>();
  return true;
}

Status Malformed(std::string_view what) {
  return Corrupt("recovery point: malformed field \"" + std::string(what) + "\"");
}

Result<RecoveryPoint> FromJson(const json& j) {
  if (!j.is_object()) return Corrupt("recovery point: not a JSON object");
  int64_t version;
  if (!GetI64(j, "version", version)) return Malformed("version");
  if (version != kVersion) {
    return Status(ErrorCode::kUnsupportedVersion,
                  "recovery point: unsupported format version " + std::to_string(version));
  }
  RecoveryPoint point;
  if (!GetI64(j, "time_ns", point.time_ns)) return Malformed("time_ns");
  if (!GetString(j, "hostname", point.hostname)) return Malformed("hostname");
  if (!GetString(j, "machine_id", point.machine_id)) return Malformed("machine_id");
  if (!GetString(j, "parent", point.parent)) return Malformed("parent");
  if (j.contains("repaired_from") && !GetString(j, "repaired_from", point.repaired_from)) {
    return Malformed("repaired_from");
  }
  auto paths = j.find("paths");
  if (paths == j.end() || !paths->is_array()) return Malformed("paths");
  point.paths.reserve(paths->size());
  for (const json& p : *paths) {
    std::string s;
    if (!DecodeString(p, s)) return Malformed("paths");
    point.paths.push_back(std::move(s));
  }
  auto tree = j.find("tree");
  if (tree == j.end() || !tree->is_string()) return Malformed("tree");
  auto id = ObjectId::FromHex(tree->get_ref<const std::string&>());
  if (!id.ok()) return Malformed("tree");
  point.tree = id.value();
  auto stats = j.find("stats");
  if (stats == j.end() || !stats->is_object()) return Malformed("stats");
  Stats& s = point.stats;
  if (!GetU64(*stats, "files", s.files) || !GetU64(*stats, "directories", s.directories) ||
      !GetU64(*stats, "bytes_scanned", s.bytes_scanned) ||
      !GetU64(*stats, "bytes_read", s.bytes_read) || !GetU64(*stats, "bytes_new", s.bytes_new) ||
      !GetU64(*stats, "bytes_uploaded", s.bytes_uploaded) ||
      !GetU64(*stats, "files_skipped", s.files_skipped)) {
    return Malformed("stats");
  }
  return point;
}

}  // namespace

Bytes Seal(const crypto::Key& data_key, const RecoveryPoint& point) {
  json paths = json::array();
  for (const std::string& p : point.paths) paths.push_back(EncodeString(p));
  const Stats& s = point.stats;
  json j = {
      {"version", kVersion},
      {"time_ns", point.time_ns},
      {"hostname", EncodeString(point.hostname)},
      {"machine_id", EncodeString(point.machine_id)},
      {"paths", std::move(paths)},
      {"tree", point.tree.Hex()},
      {"parent", EncodeString(point.parent)},
      {"stats",
       {{"files", s.files},
        {"directories", s.directories},
        {"bytes_scanned", s.bytes_scanned},
        {"bytes_read", s.bytes_read},
        {"bytes_new", s.bytes_new},
        {"bytes_uploaded", s.bytes_uploaded},
        {"files_skipped", s.files_skipped}}},
  };
  if (!point.repaired_from.empty()) j["repaired_from"] = EncodeString(point.repaired_from);
  // Every string is valid UTF-8 by construction; `replace` only guarantees
  // that dump() can never throw.
  const std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return crypto::Seal(data_key, AsBytes(kAad), AsBytes(text));
}

Result<RecoveryPoint> Open(const crypto::Key& data_key, ByteView sealed) {
  auto plain = crypto::Open(data_key, AsBytes(kAad), sealed);
  if (!plain.ok()) return Corrupt("recovery point failed authentication");
  try {
    const json j = json::parse(plain->begin(), plain->end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Corrupt("recovery point: not valid JSON");
    return FromJson(j);
  } catch (const json::exception& e) {
    return Corrupt(std::string("recovery point: ") + e.what());
  }
}

}  // namespace obagent::recovery_point
