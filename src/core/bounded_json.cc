// bounded_json: the flat pre-scan for size and depth, then nlohmann.
#include "obagent/core/bounded_json.h"

#include <string>

namespace obagent::bounded_json {

Violation Check(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes) return Violation::kTooLarge;
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > limits.max_depth) return Violation::kTooDeep;
        break;
      case ']':
      case '}':
        // Unbalanced closers are the parser's to refuse.
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return Violation::kNone;
}

std::string Describe(Violation v, const Limits& limits, std::string_view what) {
  switch (v) {
    case Violation::kTooLarge:
      return std::string(what) + " is larger than " + std::to_string(limits.max_bytes) + " bytes";
    case Violation::kTooDeep:
      return std::string(what) + " is nested deeper than " + std::to_string(limits.max_depth) +
             " levels";
    case Violation::kNone:
      break;
  }
  return std::string(what) + " is within its limits";
}

Result<nlohmann::json> Parse(std::string_view text, const Limits& limits, std::string_view what) {
  Violation v = Check(text, limits);
  if (v != Violation::kNone) return InvalidArgument(Describe(v, limits, what));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(std::string(what) + " is not valid JSON");
  return j;
}

}  // namespace obagent::bounded_json
