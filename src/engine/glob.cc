#include "engine/glob.h"

namespace obagent::engine {

namespace {

// Matches a character class starting after '['; returns the position after
// ']' or npos if the class is malformed (then '[' is taken literally).
size_t MatchClass(std::string_view p, size_t i, char c, bool& matched) {
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool any = false;
  size_t start = i;
  while (i < p.size() && (p[i] != ']' || i == start)) {
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      if (p[i] <= c && c <= p[i + 2]) any = true;
      i += 3;
    } else {
      if (p[i] == c) any = true;
      ++i;
    }
  }
  if (i >= p.size()) return std::string_view::npos;
  matched = any != negate;
  return i + 1;
}

bool Match(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0;
  while (pi < p.size()) {
    char pc = p[pi];
    if (pc == '*') {
      bool cross = pi + 1 < p.size() && p[pi + 1] == '*';
      size_t rest = pi + (cross ? 2 : 1);
      if (cross && rest < p.size() && p[rest] == '/') {
        // "**/" also matches zero components.
        if (Match(p.substr(rest + 1), t.substr(ti))) return true;
      }
      for (size_t k = ti; k <= t.size(); ++k) {
        if (Match(p.substr(rest), t.substr(k))) return true;
        if (k < t.size() && t[k] == '/' && !cross) break;
      }
      return false;
    }
    if (ti >= t.size()) return false;
    if (pc == '?') {
      if (t[ti] == '/') return false;
      ++pi, ++ti;
    } else if (pc == '[') {
      bool matched = false;
      size_t next = MatchClass(p, pi + 1, t[ti], matched);
      if (next == std::string_view::npos) {
        if (t[ti] != '[') return false;
        ++pi, ++ti;
      } else {
        if (!matched || t[ti] == '/') return false;
        pi = next, ++ti;
      }
    } else {
      if (pc != t[ti]) return false;
      ++pi, ++ti;
    }
  }
  return ti == t.size();
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) { return Match(pattern, text); }

bool ExcludedBy(std::string_view pattern, std::string_view path, std::string_view name) {
  if (pattern.find('/') == std::string_view::npos) return GlobMatch(pattern, name);
  return GlobMatch(pattern, path);
}

}  // namespace obagent::engine
