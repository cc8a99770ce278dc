// The one place untrusted JSON is parsed (vaultd's routes, the console's API,
// the engine's local API): a size and a nesting-depth bound checked by a
// flat scan BEFORE nlohmann builds anything. nlohmann's parser and its
// dump/destruction recurse per nesting level, so a body of 100,000 '['
// would otherwise exhaust the stack (SIGSEGV) long before any size limit
// matters. Pure; thread-safe (no state).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "obagent/status.h"

namespace obagent::bounded_json {

struct Limits {
  size_t max_bytes = 1 << 20;
  // Containers inside containers: {"a":[1]} is 2 deep. Every document of
  // ours is under 10; 64 leaves room.
  size_t max_depth = 64;
};

enum class Violation { kNone, kTooLarge, kTooDeep };

// The flat pre-scan alone: which limit `text` breaks, if any. Counts '[' and
// '{' outside strings (escapes understood); never recurses, never allocates.
Violation Check(std::string_view text, const Limits& limits);

// The limits checked, then parsed. kInvalidArgument naming the broken limit
// ("the JSON is nested deeper than 64 levels", "the JSON is larger than
// 65536 bytes") or the syntax error. `what` names the text for the message
// ("the request body", "the job report").
Result<nlohmann::json> Parse(std::string_view text, const Limits& limits,
                             std::string_view what = "the JSON");

// The message Parse gives for a violation (for callers that answer 413 or
// 400 themselves after Check).
std::string Describe(Violation v, const Limits& limits, std::string_view what = "the JSON");

}  // namespace obagent::bounded_json
