// Reading what a URL carries, for both HTTP servers (the console in
// cbengine, vaultd): percent-decoding of a path or a query component, and
// the query string ("a=1&b=x%20y") as a map of decoded names to decoded
// values. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "obagent/status.h"

namespace obagent::net {

struct DecodeRules {
  // '+' stands for a space (in a query, as HTML forms and URLSearchParams
  // write it); false keeps it as '+' (paths, and vaultd's queries).
  bool plus_is_space = false;
  // A '%' not followed by two hex digits: kInvalidArgument when strict,
  // else kept as it is (as browsers do).
  bool strict = true;
};

// "%41b" -> "Ab" (any byte may come out, NUL included: callers validate
// what they decoded).
Result<std::string> PercentDecode(std::string_view text, DecodeRules rules = {});

using QueryParams = std::map<std::string, std::string>;

struct QueryRules {
  DecodeRules decode;
  // A pair whose name or value does not decode (strict rules): true leaves
  // it out, false fails the whole query with kInvalidArgument.
  bool skip_undecodable = false;
  // Pairs allowed; more fail the query with kInvalidArgument.
  size_t max_params = 64;
};

// Splits at '&', then each piece at its first '=' (none: the value is
// ""), and decodes both halves. Empty pieces ("a=1&&b=2", a trailing '&')
// are no pairs. A name given twice keeps its last value.
Result<QueryParams> ParseQuery(std::string_view query, const QueryRules& rules = {});

}  // namespace obagent::net
