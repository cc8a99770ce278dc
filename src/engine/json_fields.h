// Typed fields of the engine's wire codecs (engine/wire.h): a field that is
// absent or null reads as `fallback`; one of the wrong type is refused with
// kInvalidArgument naming it. One home for these rules, so every decoder
// refuses the same way.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "obagent/status.h"

namespace obagent::engine::json_fields {

inline const nlohmann::json* Find(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

inline Result<std::string> Text(const nlohmann::json& j, const char* key,
                                std::string fallback = "") {
  const nlohmann::json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) return InvalidArgument(std::string("\"") + key + "\" must be text");
  return v->get<std::string>();
}

// A count or size: a whole number of at least 0.
inline Result<uint64_t> Count(const nlohmann::json& j, const char* key, uint64_t fallback = 0) {
  const nlohmann::json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0)) {
    return InvalidArgument(std::string("\"") + key + "\" must be a whole number of at least 0");
  }
  return v->get<uint64_t>();
}

inline Result<int64_t> Integer(const nlohmann::json& j, const char* key, int64_t fallback = 0) {
  const nlohmann::json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer() ||
      (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX})) {
    return InvalidArgument(std::string("\"") + key + "\" must be a whole number");
  }
  return v->get<int64_t>();
}

inline Result<double> Number(const nlohmann::json& j, const char* key, double fallback = 0) {
  const nlohmann::json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) return InvalidArgument(std::string("\"") + key + "\" must be a number");
  return v->get<double>();
}

inline Result<bool> Bool(const nlohmann::json& j, const char* key, bool fallback = false) {
  const nlohmann::json* v = Find(j, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean())
    return InvalidArgument(std::string("\"") + key + "\" must be true or false");
  return v->get<bool>();
}

}  // namespace obagent::engine::json_fields
