// Small text helpers shared by the formats and the command line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace obagent::text {

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string XmlEscape(std::string_view s);
// "2026-11-23T17:00:00Z" for Unix seconds, UTC.
std::string FormatIsoUtc(int64_t unix_seconds);

}  // namespace obagent::text
