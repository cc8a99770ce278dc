// Percent-decoding and query strings (obagent/net/query.h).
#include "obagent/net/query.h"

#include "obagent/bytes.h"

namespace obagent::net {

Result<std::string> PercentDecode(std::string_view text, DecodeRules rules) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && rules.plus_is_space) {
      out += ' ';
      continue;
    }
    if (c != '%') {
      out += c;
      continue;
    }
    const int hi = i + 2 < text.size() ? HexDigitValue(text[i + 1]) : -1;
    const int lo = i + 2 < text.size() ? HexDigitValue(text[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      if (rules.strict) {
        return InvalidArgument("broken percent-encoding in '" + std::string(text) + "'");
      }
      out += c;
      continue;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<QueryParams> ParseQuery(std::string_view query, const QueryRules& rules) {
  QueryParams out;
  size_t pairs = 0;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    if (++pairs > rules.max_params) {
      return InvalidArgument("the query has more than " + std::to_string(rules.max_params) +
                             " parameters");
    }
    const size_t eq = piece.find('=');
    Result<std::string> name = PercentDecode(piece.substr(0, eq), rules.decode);
    Result<std::string> value = eq == std::string_view::npos
                                    ? Result<std::string>(std::string())
                                    : PercentDecode(piece.substr(eq + 1), rules.decode);
    if (!name.ok() || !value.ok()) {
      if (rules.skip_undecodable) continue;
      return (name.ok() ? value.status() : name.status()).WithContext("query parameter");
    }
    out[*std::move(name)] = *std::move(value);
  }
  return out;
}

}  // namespace obagent::net
