// Small text helpers shared by the formats and the command line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace obagent::text {

// Escapes &, <, >, " and ' for XML text and attribute values.
std::string XmlEscape(std::string_view s);
// Every time obagent shows (obctl --json, the console's JSON API, vault
// credentials, the text output): ISO 8601 in UTC with "Z", the one format
// and the one function that writes it. "2026-11-23T17:00:00Z" for Unix
// seconds; a time with a fraction of a second (`nanoseconds` not 0) gets it
// with its trailing zeros dropped, as Go's RFC3339Nano does:
// "2026-11-23T17:00:00.25Z", "2026-11-23T17:00:00.123456789Z".
std::string FormatIsoUtc(int64_t unix_seconds, uint32_t nanoseconds = 0);
// A time in nanoseconds since the Unix epoch (recovery points, file times,
// job records), fraction included: FormatIsoUtc of its seconds and rest.
std::string FormatIsoUtcNs(int64_t unix_ns);

}  // namespace obagent::text
